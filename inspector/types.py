"""The types every stage shares. Detections are the only form detections take."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Detections"]


@dataclass(frozen=True, slots=True)
class Detections:
    """Parallel arrays: `xyxy` (N, 4) float32 in original-frame pixels, `score` (N,)
    float32, `class_id` (N,) int32. Boolean or index arrays select a new `Detections`."""

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.score)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"Detections.xyxy must be ({n}, 4), got {self.xyxy.shape}")
        if self.score.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError(
                f"Detections arrays disagree: score {self.score.shape}, "
                f"class_id {self.class_id.shape}, xyxy {self.xyxy.shape}"
            )

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    @classmethod
    def from_arrays(cls, xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray) -> Detections:
        """Build from any numeric arrays, converting to the canonical dtypes."""
        return cls(
            np.ascontiguousarray(xyxy, dtype=np.float32).reshape(-1, 4),
            np.ascontiguousarray(score, dtype=np.float32).reshape(-1),
            np.ascontiguousarray(class_id, dtype=np.int32).reshape(-1),
        )

    def __len__(self) -> int:
        return len(self.score)

    def __getitem__(self, selector: np.ndarray | slice) -> Detections:
        return Detections(self.xyxy[selector], self.score[selector], self.class_id[selector])

    @property
    def wh(self) -> np.ndarray:
        """Box widths and heights (N, 2) in pixels."""
        return self.xyxy[:, 2:4] - self.xyxy[:, 0:2]

    def max_score(self) -> float:
        return float(self.score.max()) if len(self) else 0.0
