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

__all__ = ["DriftCheck", "DriftItem", "Tolerances", "check_drift"]


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

    @property
    def go(self) -> bool:
        return all(item.ok for item in self.items)

    def to_json(self) -> dict[str, object]:
        return {
            "verdict": "go" if self.go else "no-go",
            "frames": self.frames,
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
    # The Laplacian's variance grows with contrast squared: compare focus at the
    # baseline's brightness, or a dimmer lamp would read as a soft lens.
    gain = baseline.brightness / max(brightness, 1.0)
    focus = _median(frames, "focus_laplacian") * gain * gain
    glare = _median(frames, "glare")
    xy = np.median(np.array([q.content_xy for q in frames]), axis=0)
    shift = float(np.hypot(*(xy - np.array(baseline.content_xy))))
    items = [
        DriftItem(
            "focus",
            baseline.focus_laplacian,
            focus,
            f">= {t.min_focus_ratio:.0%} of baseline (at its brightness)",
            focus >= t.min_focus_ratio * baseline.focus_laplacian,
        ),
        DriftItem(
            "brightness",
            baseline.brightness,
            brightness,
            f"within {t.max_brightness_change:.0%}",
            abs(brightness - baseline.brightness)
            <= t.max_brightness_change * max(baseline.brightness, 1.0),
        ),
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
