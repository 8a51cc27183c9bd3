"""What every station.yaml section is built from: strict frozen sections, plug-in
sections discriminated by `kind`, paths resolved against the config file's folder, one
backoff model, and bounded numbers (no `inf`, no 1e308, no 2**40 threads).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

__all__ = [
    "Backoff",
    "ConfigPath",
    "Name",
    "PluginConfig",
    "Section",
    "finite",
]


class Section(BaseModel):
    """A station.yaml section: unknown keys are errors, values never change after load."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class PluginConfig(Section):
    """The config of one plug-in; `kind` names it and discriminates it in station.yaml."""

    kind: str


def _resolve(path: Path, info: ValidationInfo) -> Path:
    """Relative paths resolve against the config file's folder (the validation
    context's `base`), so a station.yaml means the same from any working directory."""
    base = (info.context or {}).get("base")
    if base is None or path.is_absolute():
        return path
    return Path(base) / path


# A file or folder named in station.yaml; `config check` checks that every one exists.
ConfigPath = Annotated[Path, AfterValidator(_resolve)]

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _identifier(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("control characters and newlines are not allowed (names go into logs)")
    if not _IDENTIFIER.fullmatch(value):
        raise ValueError(
            "use letters, digits, '_', '.', '-' and start with a letter or digit "
            "(names go into logs, file names and MQTT topics)"
        )
    return value


# An id that ends up in logs, file names and MQTT topics: one short, plain word.
Name = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_identifier)]


def finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class Backoff(Section):
    """Waits between reconnect attempts (camera, PLC, later MQTT): `initial_s`, doubling
    up to `max_s`. The one backoff type: config section and schedule alike."""

    initial_s: float = Field(0.5, gt=0, le=60, description="First wait before reconnecting.")
    max_s: float = Field(10.0, gt=0, le=3600, description="Longest wait between attempts.")

    @model_validator(mode="after")
    def _ordered(self) -> Backoff:
        if self.max_s < self.initial_s:
            raise ValueError("max_s must be >= initial_s")
        return self

    def delays(self) -> Iterator[float]:
        """initial_s, 2 x initial_s, ... up to max_s, forever; start a new one to reset."""
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * 2.0, self.max_s)
