"""Presence trigger: software part detection for free-running conveyor video.

Parts cross a band (the ROI) of the frame. Each frame, every column of the band is
"occupied" when enough of its pixels differ from the belt; runs of occupied columns are
parts. Parts are tracked from frame to frame by overlap, and a part fires exactly once,
on the frame where its centre crosses the trigger position:

- a part that stops, or jitters around the line, never fires twice (a track fires once);
- two parts that touch are two runs as long as the seam between them shows as a column
  of belt (a chamfer or gap of one pixel is enough);
- flicker that hides a part for a few frames keeps its track (`max_missing_frames`);
  a frame where nearly the whole band turns "occupied" (a lighting glitch) is skipped;
- a part first seen already past the line (at start-up) does not fire.

The event carries the frame and the part's region, so the detector sees the part, not
the belt.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspector.config import PresenceTrigger as PresenceConfig
from inspector.trigger.base import Trigger
from inspector.types import Frame, Region, TriggerEvent

__all__ = ["PresenceTrigger"]

GLITCH_FRACTION = 0.95  # a run this wide is the lighting, not a part


@dataclass(slots=True)
class Track:
    """A part followed across frames, in travel coordinates (columns along the belt)."""

    start: int
    end: int
    fired: bool
    missing: int = 0

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


class PresenceTrigger(Trigger):
    kind = "presence"
    frame_driven = True

    def __init__(self, config: PresenceConfig) -> None:
        super().__init__(config.deadline_ms)
        self.config = config
        self.tracks: list[Track] = []
        self._grey: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._counts: np.ndarray | None = None

    @classmethod
    def from_config(cls, config: PresenceConfig) -> PresenceTrigger:
        return cls(config)

    def on_frame(self, frame: Frame) -> TriggerEvent | None:
        band, origin = self._band(frame.image)
        counts = self._column_counts(band)
        runs = self._runs(counts, band.shape[0])
        if runs is None:
            return None
        fired = self._track(runs, band.shape[1])
        if fired is None:
            return None
        region = self._region(fired, band, origin, frame.image.shape)
        return self.new_event(frame, t=frame.t_capture, region=region)

    # -- per-frame measurement, on buffers allocated once per band size

    def _band(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        roi = self.config.roi
        x0, y0 = (roi.x, roi.y) if roi else (0, 0)
        x1 = min(x0 + roi.width, image.shape[1]) if roi else image.shape[1]
        y1 = min(y0 + roi.height, image.shape[0]) if roi else image.shape[0]
        view = image[y0:y1, x0:x1]
        if view.ndim == 2:
            return view, (x0, y0)
        if self._grey is None or self._grey.shape != view.shape[:2]:
            self._grey = np.empty(view.shape[:2], np.uint8)
        cv2.cvtColor(view, cv2.COLOR_BGR2GRAY, dst=self._grey)
        return self._grey, (x0, y0)

    def _column_counts(self, band: np.ndarray) -> np.ndarray:
        if self._mask is None or self._mask.shape != band.shape:
            self._mask = np.empty(band.shape, np.uint8)
            self._counts = np.empty((1, band.shape[1]), np.int32)
        mode = cv2.THRESH_BINARY if self.config.polarity == "brighter" else cv2.THRESH_BINARY_INV
        cv2.threshold(band, self.config.threshold, 1, mode, dst=self._mask)
        cv2.reduce(self._mask, 0, cv2.REDUCE_SUM, dst=self._counts, dtype=cv2.CV_32S)
        counts = self._counts[0]
        return counts[::-1] if self.config.direction == "right_to_left" else counts

    def _runs(self, counts: np.ndarray, rows: int) -> list[tuple[int, int]] | None:
        occupied = counts >= self.config.min_occupancy * rows
        edges = np.flatnonzero(np.diff(occupied, prepend=False, append=False))
        starts, ends = edges[0::2], edges[1::2]
        if ((ends - starts) >= GLITCH_FRACTION * len(counts)).any():
            return None
        keep = (ends - starts) >= self.config.min_length_px
        return list(zip(starts[keep].tolist(), ends[keep].tolist(), strict=True))

    # -- tracking and firing

    def _track(self, runs: list[tuple[int, int]], width: int) -> Track | None:
        fire_at = self.config.fire_at * width
        matched_runs, matched_tracks, fired = set(), set(), None
        for r, t in _overlaps(runs, self.tracks):
            if r in matched_runs or t in matched_tracks:
                continue
            matched_runs.add(r)
            matched_tracks.add(t)
            track = self.tracks[t]
            before = track.centre
            track.start, track.end = runs[r]
            track.missing = 0
            if not track.fired and before < fire_at <= track.centre:
                track.fired = True
                fired = track
        survivors = [t for i, t in enumerate(self.tracks) if i in matched_tracks]
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.missing += 1
                if track.missing <= self.config.max_missing_frames:
                    survivors.append(track)
        for r, (start, end) in enumerate(runs):
            if r not in matched_runs:
                survivors.append(Track(start, end, fired=(start + end) / 2 >= fire_at))
        self.tracks = survivors
        return fired

    def _region(
        self,
        track: Track,
        band: np.ndarray,
        origin: tuple[int, int],
        shape: tuple[int, ...],
    ) -> Region:
        width = band.shape[1]
        start, end = track.start, track.end
        if self.config.direction == "right_to_left":
            start, end = width - end, width - start
        rows = np.flatnonzero(self._mask[:, start:end].any(axis=1))
        top, bottom = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, band.shape[0])
        m = self.config.margin_px
        x0, y0 = origin
        return Region(
            max(x0 + start - m, 0),
            max(y0 + top - m, 0),
            min(x0 + end + m, shape[1]),
            min(y0 + bottom + m, shape[0]),
        )


def _overlaps(runs: list[tuple[int, int]], tracks: list[Track]) -> list[tuple[int, int]]:
    """(run index, track index) pairs that overlap, largest overlap first."""
    pairs = []
    for r, (start, end) in enumerate(runs):
        for t, track in enumerate(tracks):
            overlap = min(end, track.end) - max(start, track.start)
            if overlap > 0:
                pairs.append((overlap, r, t))
    pairs.sort(reverse=True)
    return [(r, t) for _, r, t in pairs]
