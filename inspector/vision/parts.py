"""Finding parts on a belt by column occupancy: shared by the presence trigger and the
part locator.

Each column of the band (the ROI) is occupied when at least `min_occupancy` of its
pixels are brighter (or darker) than `threshold`; runs of occupied columns are parts.
Positions are in travel coordinates: columns counted along the belt's direction.
"""

from __future__ import annotations

import cv2
import numpy as np

from inspector.types import Region
from inspector.vision.config import LocateConfig, PartDetection

__all__ = ["GLITCH_FRACTION", "PartFinder", "PartLocator", "Run"]

GLITCH_FRACTION = 0.95  # a run this wide is the lighting, not a part

Run = tuple[int, int]  # start, end (exclusive) in travel coordinates


class PartFinder:
    """Per-frame measurement on buffers allocated once per band size."""

    def __init__(self, config: PartDetection, reverse: bool = False) -> None:
        self.config = config
        self.reverse = reverse  # parts travel right to left
        self._grey: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._counts: np.ndarray | None = None
        self._origin = (0, 0)
        self.width = 0

    def runs(self, image: np.ndarray) -> list[Run] | None:
        """The parts in this frame, or None for a lighting glitch (skip the frame)."""
        band = self._band(image)
        counts = self._column_counts(band)
        occupied = counts >= self.config.min_occupancy * band.shape[0]
        edges = np.flatnonzero(np.diff(occupied, prepend=False, append=False))
        starts, ends = edges[0::2], edges[1::2]
        if ((ends - starts) >= GLITCH_FRACTION * len(counts)).any():
            return None
        keep = (ends - starts) >= self.config.min_length_px
        return list(zip(starts[keep].tolist(), ends[keep].tolist(), strict=True))

    def region(self, run: Run, frame_shape: tuple[int, ...]) -> Region:
        """The frame region of a run found in the last frame: its columns, the rows its
        pixels occupy, plus the margin."""
        start, end = run
        if self.reverse:
            start, end = self.width - end, self.width - start
        mask = self._mask
        assert mask is not None  # a run comes from runs(), which fills the mask
        rows = np.flatnonzero(mask[:, start:end].any(axis=1))
        top, bottom = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, mask.shape[0])
        m = self.config.margin_px
        x0, y0 = self._origin
        return Region(
            max(x0 + start - m, 0),
            max(y0 + top - m, 0),
            min(x0 + end + m, frame_shape[1]),
            min(y0 + bottom + m, frame_shape[0]),
        )

    def _band(self, image: np.ndarray) -> np.ndarray:
        roi = self.config.roi
        x0, y0 = (roi.x, roi.y) if roi else (0, 0)
        x1 = min(x0 + roi.width, image.shape[1]) if roi else image.shape[1]
        y1 = min(y0 + roi.height, image.shape[0]) if roi else image.shape[0]
        self._origin = (x0, y0)
        view = image[y0:y1, x0:x1]
        self.width = view.shape[1]
        if view.ndim == 2:
            return view
        if self._grey is None or self._grey.shape != view.shape[:2]:
            self._grey = np.empty(view.shape[:2], np.uint8)
        cv2.cvtColor(view, cv2.COLOR_BGR2GRAY, dst=self._grey)
        return self._grey

    def _column_counts(self, band: np.ndarray) -> np.ndarray:
        mask, sums = self._mask, self._counts
        if mask is None or sums is None or mask.shape != band.shape:
            mask = self._mask = np.empty(band.shape, np.uint8)
            sums = self._counts = np.empty((1, band.shape[1]), np.int32)
        mode = cv2.THRESH_BINARY if self.config.polarity == "brighter" else cv2.THRESH_BINARY_INV
        cv2.threshold(band, self.config.threshold, 1, mode, dst=mask)
        cv2.reduce(mask, 0, cv2.REDUCE_SUM, dst=sums, dtype=cv2.CV_32S)
        counts = sums[0]
        return counts[::-1] if self.reverse else counts


class PartLocator:
    """The part nearest the expected position in one frame, for triggers without a region
    (a PLC trigger on a conveyor: the PLC says when, the image says where)."""

    def __init__(self, config: LocateConfig) -> None:
        self.config = config
        self.finder = PartFinder(config)

    def __call__(self, image: np.ndarray) -> Region | None:
        runs = self.finder.runs(image)
        if not runs:
            return None
        target = self.config.position * self.finder.width
        nearest = min(runs, key=lambda run: abs((run[0] + run[1]) / 2 - target))
        return self.finder.region(nearest, image.shape)
