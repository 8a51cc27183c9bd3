"""Config models of part finding: the presence trigger's and the locator's shared part."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from inspector.configbase import Section

__all__ = ["LocateConfig", "PartDetection", "Roi"]

MAX_PX = 65535


class Roi(Section):
    x: int = Field(ge=0, le=MAX_PX, description="Left edge, px.")
    y: int = Field(ge=0, le=MAX_PX, description="Top edge, px.")
    width: int = Field(gt=0, le=MAX_PX, description="Width, px.")
    height: int = Field(gt=0, le=MAX_PX, description="Height, px.")


class PartDetection(Section):
    """How a part stands out from the belt, for the presence trigger and the locator."""

    roi: Roi | None = Field(None, description="Band the parts cross; None: whole frame.")
    polarity: Literal["brighter", "darker"] = Field(
        "brighter", description="Parts are brighter (or darker) than the belt."
    )
    threshold: int = Field(60, ge=1, le=254, description="Grey level between belt and part.")
    min_occupancy: float = Field(
        0.15, gt=0, lt=1, description="Share of ROI rows a column needs to belong to a part."
    )
    min_length_px: int = Field(
        20, ge=1, le=MAX_PX, description="Shorter foreground runs are noise."
    )
    margin_px: int = Field(
        4, ge=0, le=MAX_PX, description="Padding around the part region sent to inspect."
    )


class LocateConfig(PartDetection):
    """For triggers that carry no region (PLC, interval, manual): find the part in the
    frame, the one whose centre is nearest `position`, and inspect only it."""

    position: float = Field(
        0.5, gt=0, lt=1, description="Expected part centre, as a fraction of the ROI width."
    )
