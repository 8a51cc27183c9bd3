"""`web:`, the dashboard's section of station.yaml; no runtime imported.

The write token (acknowledging SPC alarms) is read from a file or the environment,
never from station.yaml itself."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from inspector.configbase import ConfigPath, Section

__all__ = ["WebConfig"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


class WebConfig(Section):
    enabled: bool = Field(False, description="Serve the dashboard, /metrics and health.")
    host: str = Field(
        "127.0.0.1",
        min_length=1,
        max_length=253,
        description="Address to bind; 127.0.0.1 keeps it on this machine, 0.0.0.0 opens it "
        "to the network (set a token then).",
    )
    port: int = Field(
        8080, ge=0, le=65_535, description="TCP port; 0: any free one (the log says which)."
    )
    token_file: ConfigPath | None = Field(
        None, description="File whose first line is the token that writes need (mode 0600)."
    )
    token_env: Annotated[str, AfterValidator(_env_name)] | None = Field(
        None, description="Environment variable that holds the write token."
    )
    token: Any = Field(
        None, description="Refused: a token is never written in station.yaml; use token_file."
    )
    live_fps: float = Field(
        5.0, gt=0, le=30, description="Frames per second the live view shows, at most."
    )
    max_streams: int = Field(
        16, ge=1, le=256, description="Live streams served at once; more are refused (503)."
    )
    recent_fails: int = Field(12, ge=1, le=100, description="Failed parts kept as thumbnails.")
    queue_size: int = Field(
        64, ge=1, le=10_000, description="Records the dashboard may hold while it is behind."
    )

    @field_validator("token")
    @classmethod
    def _no_literal_token(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "a token is never written in station.yaml: use token_file or token_env"
            )

    @model_validator(mode="after")
    def _one_token_source(self) -> WebConfig:
        if self.token_file is not None and self.token_env is not None:
            raise ValueError("give token_file or token_env, not both")
        return self
