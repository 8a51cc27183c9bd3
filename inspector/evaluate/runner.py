"""Run a dataset split through a deployed `Detector` and score it."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from inspector.data.yolo import DatasetSpec, label_path_for, read_labels
from inspector.detect.base import Detector
from inspector.detect.defectmap import DEFECT_MAP_KIND
from inspector.errors import DataError
from inspector.evaluate.metrics import DetectionStats, ImageMatches, match_image
from inspector.evaluate.passfail import OperatingPoint, auroc

__all__ = ["EvalReport", "evaluate"]


@dataclass
class EvalReport:
    """Dataset-level metrics plus each part's max score, for pass/fail analysis.

    A defect map's boxes are its regions above the threshold, not boxes it was trained
    to place, so box metrics (`metrics`, `per_class`) are left empty for it; the part
    AUROC (how well the part score ranks defective above good parts, threshold-free)
    applies to every kind."""

    backend: str
    model: str
    kind: str
    split: str
    images: int
    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]]
    part_score: np.ndarray
    defective: np.ndarray
    matches: tuple[ImageMatches, ...] = ()  # each image's, in split order, for resampling

    @property
    def part_auroc(self) -> float:
        return auroc(self.part_score, self.defective)

    def summary(self) -> dict[str, Any]:
        """What the card records of this evaluation (and the JSON's head)."""
        doc: dict[str, Any] = {"split": self.split, "images": self.images}
        if not math.isnan(self.part_auroc):
            doc["part_auroc"] = round(self.part_auroc, 5)
        if self.kind != DEFECT_MAP_KIND:
            doc |= {k: round(v, 5) for k, v in self.metrics.items()}
            doc["per_class"] = self.per_class
        return doc

    def as_json(self, point: OperatingPoint | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "model": self.model,
            "backend": self.backend,
            "kind": self.kind,
            **self.summary(),
        }
        if point is not None:
            doc |= {
                "threshold": point.threshold,
                "escape_rate": round(point.escape_rate, 5),
                "false_reject_rate": round(point.false_reject_rate, 5),
                "escape_rate_ci95": [round(v, 4) for v in point.escape_ci95],
                "false_reject_rate_ci95": [round(v, 4) for v in point.false_reject_ci95],
                "defective_parts": point.defective,
                "good_parts": point.good,
                "escapes": point.escapes,
                "false_rejects": point.false_rejects,
            }
        return doc


def evaluate(
    detector: Detector,
    spec: DatasetSpec,
    split: str = "val",
    on_image: Callable[[], None] | None = None,
) -> EvalReport:
    """Detect on every image of `split` and compare with its labels."""
    if tuple(detector.info.names) != tuple(spec.names):
        raise DataError(
            f"{spec.yaml_path}: classes {list(spec.names)} differ from the model's "
            f"{list(detector.info.names)}"
        )
    images = spec.images(split)
    if not images:
        raise DataError(f"{spec.yaml_path}: split '{split}' has no images")
    stats = DetectionStats(len(spec.names))
    part_score = np.zeros(len(images), np.float32)
    defective = np.zeros(len(images), bool)
    matches: list[ImageMatches] = []
    for i, path in enumerate(images):
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(f"{path}: cannot be read as an image")
        labels = read_labels(label_path_for(path), len(spec.names))
        found = detector.detect(frame)
        true_xyxy = labels.xyxy_pixels(frame.shape[1], frame.shape[0])
        matches.append(
            match_image(found.xyxy, found.score, found.class_id, true_xyxy, labels.class_id)
        )
        stats.add_matches(matches[-1])
        part_score[i] = found.max_score()
        defective[i] = len(labels.class_id) > 0
        if on_image:
            on_image()
    summary, per_class = stats.summary()
    return EvalReport(
        backend=detector.backend,
        model=str(detector.info.path),
        kind=detector.info.kind,
        split=split,
        images=len(images),
        metrics=summary,
        per_class={
            spec.names[c]: {
                "ap50": round(a.ap50, 5),
                "ap50_95": round(a.ap50_95, 5),
                "instances": a.instances,
            }
            for c, a in per_class.items()
        },
        part_score=part_score,
        defective=defective,
        matches=tuple(matches),
    )
