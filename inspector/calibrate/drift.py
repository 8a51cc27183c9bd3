"""The drift check: figures of live or recorded frames against the profile's golden
baseline, each with a documented tolerance, and one go/no-go.

Several frames are summarised by their median, so one odd part does not decide; what
the check catches is a lens that lost focus, a lamp that dimmed or flares, and a
camera that moved (the content's centroid shifted).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inspector.calibrate.lighting import Quality
from inspector.calibrate.profile import Baseline
from inspector.errors import DataError

__all__ = ["DriftCheck", "DriftItem", "Tolerances", "check_drift", "check_parts"]


@dataclass(frozen=True, slots=True)
class Tolerances:
    """Defaults documented in docs/calibration.md."""

    min_focus_ratio: float = 0.7  # focus may fall to 70 % of the baseline
    max_brightness_change: float = 0.15  # relative, either way
    max_uniformity_drop: float = 0.1  # absolute, flat target only
    max_glare_rise: float = 0.01  # share of the image
    max_shift: float = 0.02  # of the image's width


@dataclass(frozen=True, slots=True)
class DriftItem:
    name: str
    baseline: float
    measured: float
    limit: str  # the tolerance in words
    ok: bool


@dataclass(frozen=True, slots=True)
class DriftCheck:
    items: tuple[DriftItem, ...]
    frames: int
    parts: int = 0  # parts of the station's log whose image figures were compared

    @property
    def go(self) -> bool:
        return all(item.ok for item in self.items)

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": "go" if self.go else "no-go",
            "frames": self.frames,
            "parts": self.parts,
            "checks": [
                {
                    "name": i.name,
                    "baseline": round(i.baseline, 4),
                    "measured": round(i.measured, 4),
                    "limit": i.limit,
                    "ok": i.ok,
                }
                for i in self.items
            ],
        }


def _focus_item(
    name: str,
    baseline_focus: float,
    baseline_brightness: float,
    focus: float,
    brightness: float,
    t: Tolerances,
) -> DriftItem:
    # The Laplacian's variance grows with contrast squared: compare focus at the
    # baseline's brightness, or a dimmer lamp would read as a soft lens.
    gain = baseline_brightness / max(brightness, 1.0)
    adjusted = focus * gain * gain
    return DriftItem(
        name,
        baseline_focus,
        adjusted,
        f">= {t.min_focus_ratio:.0%} of baseline (at its brightness)",
        adjusted >= t.min_focus_ratio * baseline_focus,
    )


def _brightness_item(name: str, baseline: float, measured: float, t: Tolerances) -> DriftItem:
    return DriftItem(
        name,
        baseline,
        measured,
        f"within {t.max_brightness_change:.0%}",
        abs(measured - baseline) <= t.max_brightness_change * max(baseline, 1.0),
    )


def check_parts(
    baseline: Baseline,
    brightness: list[float],
    focus: list[float],
    tolerances: Tolerances = Tolerances(),
) -> tuple[DriftItem, ...]:
    """The station's own per-part figures (`inspector.spc.health`, in its log) against
    the same figures of the golden image: medians, the same tolerances."""
    if baseline.health_brightness is None or baseline.health_focus is None:
        raise DataError(
            "the profile's baseline predates per-part figures; re-run `inspector calibrate "
            "lighting --profile ...`"
        )
    b, f = float(np.median(brightness)), float(np.median(focus))
    return (
        _focus_item(
            "part_focus", baseline.health_focus, baseline.health_brightness, f, b, tolerances
        ),
        _brightness_item("part_brightness", baseline.health_brightness, b, tolerances),
    )


def _median(qualities: list[Quality], name: str) -> float:
    return float(np.median([getattr(q, name) for q in qualities]))


def check_drift(
    baseline: Baseline,
    frames: list[Quality],
    width: int,
    flat: Quality | None = None,
    tolerances: Tolerances = Tolerances(),
) -> DriftCheck:
    t = tolerances
    brightness = _median(frames, "brightness")
    focus = _median(frames, "focus_laplacian")
    glare = _median(frames, "glare")
    xy = np.median(np.array([q.content_xy for q in frames]), axis=0)
    shift = float(np.hypot(*(xy - np.array(baseline.content_xy))))
    items = [
        _focus_item("focus", baseline.focus_laplacian, baseline.brightness, focus, brightness, t),
        _brightness_item("brightness", baseline.brightness, brightness, t),
        DriftItem(
            "glare",
            baseline.glare,
            glare,
            f"<= baseline + {t.max_glare_rise:.0%}",
            glare <= baseline.glare + t.max_glare_rise,
        ),
        DriftItem(
            "position",
            0.0,
            shift,
            f"content moved <= {t.max_shift * width:.1f} px",
            shift <= t.max_shift * width,
        ),
    ]
    if flat is not None:
        items.append(
            DriftItem(
                "uniformity",
                baseline.uniformity,
                flat.uniformity,
                f">= baseline - {t.max_uniformity_drop}",
                flat.uniformity >= baseline.uniformity - t.max_uniformity_drop,
            )
        )
    return DriftCheck(tuple(items), len(frames))
