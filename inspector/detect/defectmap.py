"""Decoding of a defect-map model's output into `Detections`.

The model gives one defect probability per cell of the input, (1, 1, H/stride,
W/stride). The part score is the map's maximum; each 4-connected region of cells above
the decode floor becomes one box (the cells' extent, mapped back through the letterbox)
scored by its peak, so the region holding the maximum carries the part score and the
judge, log, PLC and display work unchanged and show where the defect is.
"""

from __future__ import annotations

import cv2
import numpy as np

from inspector.detect.decoder import Decoder
from inspector.detect.yolo import DecodeParams
from inspector.errors import ModelError, ModelOutputError
from inspector.types import Detections
from inspector.vision.letterbox import Geometry

__all__ = ["DEFECT_MAP_KIND", "DefectMapDecoder", "check_map_shape"]

DEFECT_MAP_KIND = "defect-map"


def check_map_shape(
    shape: tuple[int, ...], input_hw: tuple[int, int], stride: int, where: str
) -> tuple[int, int]:
    """The map's (rows, columns), or a ModelError naming `where`."""
    expected = (input_hw[0] // stride, input_hw[1] // stride)
    if len(shape) != 4 or shape[:2] not in ((1, 1), (-1, 1)) or tuple(shape[2:]) != expected:
        raise ModelError(
            f"{where}: output shape {list(shape)} is not a defect map (1, 1, {expected[0]}, "
            f"{expected[1]}) for input {list(input_hw)} at stride {stride}"
        )
    return expected


class DefectMapDecoder(Decoder):
    """A (1, 1, h, w) probability map -> one box per connected region above the floor."""

    def __init__(self, grid_hw: tuple[int, int], stride: int, params: DecodeParams) -> None:
        self.grid_hw = grid_hw
        self.stride = stride
        self.params = params

    def __call__(
        self, output: np.ndarray, geometry: Geometry, origin: tuple[int, int] = (0, 0)
    ) -> Detections:
        cells = np.asarray(output, dtype=np.float32).reshape(self.grid_hw)
        # silence is never a pass: NaN compares false with every threshold
        if not np.isfinite(cells).all():
            raise ModelOutputError("model output holds NaN or infinite defect-map values")
        rows, cols = self._window(geometry)
        window = cells[rows, cols]
        if window.size == 0 or float(window.max()) <= self.params.conf:
            return Detections.empty()
        xyxy, score = self._regions(window)
        xyxy[:, 0::2] += cols.start * self.stride
        xyxy[:, 1::2] += rows.start * self.stride
        geometry.to_source(xyxy)
        if origin != (0, 0):
            xyxy[:, 0::2] += origin[0]
            xyxy[:, 1::2] += origin[1]
        return Detections.from_arrays(xyxy, score, np.zeros(len(score), np.int32))

    def _window(self, geometry: Geometry) -> tuple[slice, slice]:
        """The cells that see any of the image: those wholly in the letterbox's padding
        say nothing about the part."""
        w, h = geometry.resized_wh
        s = self.stride
        rows = slice(geometry.pad_y // s, min(-(-(geometry.pad_y + h) // s), self.grid_hw[0]))
        cols = slice(geometry.pad_x // s, min(-(-(geometry.pad_x + w) // s), self.grid_hw[1]))
        return rows, cols

    def _regions(self, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (model-input pixels, relative to `cells`' corner) and peak scores of the
        4-connected regions above the floor, highest first, at most max_det."""
        above = (cells > self.params.conf).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(above, connectivity=4)
        peaks = np.zeros(count, np.float32)
        np.maximum.at(
            peaks, labels.ravel().astype(np.intp), np.where(above.ravel() > 0, cells.ravel(), 0)
        )
        order = np.argsort(-peaks[1:], kind="stable")[: self.params.max_det] + 1
        x, y, w, h = (stats[order, i].astype(np.float32) for i in range(4))
        xyxy = np.stack([x, y, x + w, y + h], axis=1) * np.float32(self.stride)
        return xyxy, peaks[order]
