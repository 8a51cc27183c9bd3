"""Config models of the optional sinks (`sinks:` in station.yaml); no runtime imported.

The inspection log is not among them: it is the station's own (`storage:`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from inspector.configbase import PluginConfig

__all__ = ["ConsoleSinkConfig", "DisplaySinkConfig", "SinkConfig"]


class SinkConfig(PluginConfig):
    """Base of every sink's config."""

    queue_size: int = Field(
        256, ge=1, le=100_000, description="Records the sink may hold while it is behind."
    )


class ConsoleSinkConfig(SinkConfig):
    kind: Literal["console"] = Field(description="One line per part on stdout.")
    json_lines: bool = Field(False, description="One JSON object per part instead of text.")


class DisplaySinkConfig(SinkConfig):
    kind: Literal["display"] = Field(
        description="A window of annotated parts, where a display exists (else ignored)."
    )
