"""Config models of the triggers (`trigger:` in station.yaml); no runtime imported."""

from __future__ import annotations

from typing import Literal, TypedDict

from pydantic import Field

from inspector.configbase import PluginConfig
from inspector.vision.config import PartDetection

__all__ = [
    "DEADLINE_MS",
    "IntervalTrigger",
    "LineTrigger",
    "ManualTrigger",
    "PresenceTrigger",
    "TriggerConfig",
]


class _Bounds(TypedDict):
    """`Field` keywords for a number's range (a TypedDict, so `**` unpacking is checked)."""

    ge: float
    le: float


# A deadline shorter than any model's inference would reject every part; longer than a
# minute is no deadline a line has.
DEADLINE_MS: _Bounds = {"ge": 10.0, "le": 60_000.0}


class TriggerConfig(PluginConfig):
    """Base of every trigger's config: each part must be judged within `deadline_ms`."""

    deadline_ms: float = Field(
        500.0, **DEADLINE_MS, description="Trigger to verdict budget, ms (10 to 60000)."
    )


class PresenceTrigger(TriggerConfig, PartDetection):
    kind: Literal["presence"] = Field(description="Software part detection in a ROI.")
    direction: Literal["left_to_right", "right_to_left"] = Field(
        "left_to_right", description="Direction the belt moves parts through the ROI."
    )
    fire_at: float = Field(
        0.5, gt=0, lt=1, description="Fire when a part's centre crosses this fraction of the ROI."
    )
    max_missing_frames: int = Field(
        5, ge=0, le=1000, description="Frames a tracked part may vanish (flicker) and still be it."
    )


class IntervalTrigger(TriggerConfig):
    kind: Literal["interval"] = Field(description="Fire every period, on the newest frame.")
    period_s: float = Field(gt=0, le=86_400, description="Seconds between triggers.")


class ManualTrigger(TriggerConfig):
    kind: Literal["manual"] = Field(description="Fire on SIGUSR1 or an API call.")
    deadline_ms: float = Field(
        1000.0, **DEADLINE_MS, description="Trigger to verdict budget, ms (10 to 60000)."
    )


class LineTrigger(TriggerConfig):
    kind: Literal["line"] = Field(
        description="Every frame is a part (a camera on a hardware trigger line)."
    )
