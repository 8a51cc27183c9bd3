"""The `Decoder` ABC: one raw model output -> `Detections` in source-frame pixels.

The model's metadata `kind` chooses the decoder (`inspector.detect.base.make_decoder`):
`detect` for Ultralytics detectors, `defect-map` for per-cell defect maps. Every stage
after the detector sees the same `Detections` whichever it was.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from inspector.types import Detections
from inspector.vision.letterbox import Geometry

__all__ = ["Decoder"]


class Decoder(ABC):
    """Turns one raw output array into `Detections` on arrays made for this call."""

    @abstractmethod
    def __call__(
        self, output: np.ndarray, geometry: Geometry, origin: tuple[int, int] = (0, 0)
    ) -> Detections:
        """Boxes in the pixels of the image the letterbox was given, shifted by `origin`
        (where that image lies in the frame); raises ModelOutputError on output a model
        never should give (NaN, infinity)."""
