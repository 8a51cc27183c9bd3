"""The judge: per-class rules turn detections into PASS or FAIL and a result code.

Result codes: 0 pass; 1 + class id of the worst defect (the highest-scoring one that
counts); 0xFFFF no decision (set by the station, never by the judge).
"""

from __future__ import annotations

import numpy as np

from inspector.config import ClassRule, JudgeConfig, Zone
from inspector.errors import ConfigError
from inspector.types import RESULT_PASS, Detections, Judgement, Verdict

__all__ = ["Judge"]


def _zone_array(zones: list[Zone]) -> np.ndarray:
    return np.array([[z.x0, z.y0, z.x1, z.y1] for z in zones], np.float32).reshape(-1, 4)


def _min_size_px(
    name: str, rule: ClassRule, mm_per_px: tuple[float, float] | None
) -> tuple[float, float]:
    """A rule's least box size in pixels: the larger of its px and mm limits."""
    if mm_per_px is None:
        for field in ("min_width_mm", "min_height_mm"):
            if getattr(rule, field) > 0:
                raise ConfigError(
                    f"judge.classes.{name}.{field}: needs calibration with a scale "
                    "(`inspector calibrate scale`, then calibration.profile in station.yaml)"
                )
        return rule.min_width_px, rule.min_height_px
    return (
        max(rule.min_width_px, rule.min_width_mm / mm_per_px[0]),
        max(rule.min_height_px, rule.min_height_mm / mm_per_px[1]),
    )


class Judge:
    """Rules are compiled once into per-class arrays; judging is a few vector ops."""

    def __init__(
        self,
        names: tuple[str, ...],
        config: JudgeConfig,
        card_threshold: float | None,
        mm_per_px: tuple[float, float] | None = None,
    ):
        default = config.min_confidence if config.min_confidence is not None else card_threshold
        if default is None:
            raise ConfigError(
                "judge.min_confidence: not set, and the model card has no pass_fail threshold"
            )
        unknown = sorted(set(config.classes) - set(names))
        if unknown:
            raise ConfigError(
                f"judge.classes.{unknown[0]}: not a class of the model ({', '.join(names)})"
            )
        self.names = names
        self.default_confidence = float(default)
        n = len(names)
        self.min_conf = np.full(n, self.default_confidence, np.float32)
        self.min_wh = np.zeros((n, 2), np.float32)
        self.counts = np.ones(n, bool)
        for i, name in enumerate(names):
            rule = config.classes.get(name)
            if rule is None:
                continue
            if rule.min_confidence is not None:
                self.min_conf[i] = rule.min_confidence
            self.min_wh[i] = _min_size_px(name, rule, mm_per_px)
            self.counts[i] = not rule.ignore
        self.include = _zone_array(config.include_zones)
        self.exclude = _zone_array(config.exclude_zones)

    @property
    def lowest_confidence(self) -> float:
        return float(self.min_conf[self.counts].min()) if self.counts.any() else 1.0

    def defects(self, detections: Detections) -> Detections:
        """The detections that count against the part."""
        cls = detections.class_id
        keep = self.counts[cls] & (detections.score >= self.min_conf[cls])
        keep &= (detections.wh >= self.min_wh[cls]).all(axis=1)
        if len(self.include) or len(self.exclude):
            centre = (detections.xyxy[:, :2] + detections.xyxy[:, 2:]) / 2
            if len(self.include):
                keep &= _inside_any(centre, self.include)
            if len(self.exclude):
                keep &= ~_inside_any(centre, self.exclude)
        return detections[keep]

    def __call__(self, detections: Detections) -> Judgement:
        defects = self.defects(detections)
        if not len(defects):
            return Judgement(Verdict.PASS, RESULT_PASS, defects)
        worst = int(np.argmax(defects.score))
        cls = int(defects.class_id[worst])
        reason = f"{self.names[cls]} {defects.score[worst]:.2f}"
        return Judgement(Verdict.FAIL, 1 + cls, defects, reason)


def _inside_any(points: np.ndarray, zones: np.ndarray) -> np.ndarray:
    x, y = points[:, 0:1], points[:, 1:2]
    inside = (x >= zones[:, 0]) & (x <= zones[:, 2]) & (y >= zones[:, 1]) & (y <= zones[:, 3])
    # numpy's stubs type any(axis=...) as a bool or an array; on this 2-D array it is an array
    return inside.any(axis=1)  # type: ignore[return-value]
