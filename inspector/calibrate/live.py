"""Views of the board from the station's own camera (`intrinsics --source`): keep a
frame when it shows the board somewhere new, and say after each which parts of the
image still need views, until enough are kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspector.calibrate.boards import BoardSpec
from inspector.calibrate.corners import CornerFinder
from inspector.calibrate.intrinsics import View, coverage_grid, missing_areas
from inspector.camera.base import FrameSource
from inspector.errors import DataError

__all__ = ["FocusReading", "LiveCapture", "capture_views", "watch_focus"]

MIN_MOVE = 0.03  # of the image's width: a view the board has not moved from is a duplicate


@dataclass(frozen=True, slots=True)
class LiveCapture:
    views: int = 20  # stop when this many are kept
    min_gap_s: float = 0.5  # between kept views: time to move the board
    max_frames: int = 10_000  # give up after reading this many
    keep: Path | None = None  # write kept frames here, to re-run on them later


def _moved(view: View, kept: list[View], width: int) -> bool:
    centre = view.corners.image_points.mean(axis=0)
    return all(
        np.hypot(*(centre - k.corners.image_points.mean(axis=0))) > MIN_MOVE * width
        or len(k.corners) != len(view.corners)
        for k in kept
    )


def capture_views(
    spec: BoardSpec, source: FrameSource, plan: LiveCapture, say: Callable[[str], None]
) -> tuple[list[View], tuple[int, int]]:
    """Kept views and the frame size; `say` gets one line per kept view."""
    finder = CornerFinder(spec)
    height, width = source.frame_shape[:2]
    kept: list[View] = []
    last = -float("inf")
    for index in range(plan.max_frames):
        frame = source.read()
        if frame is None or len(kept) >= plan.views:
            break
        if time.monotonic() - last < plan.min_gap_s:
            continue
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        corners = finder.find(grey)
        if corners is None:
            continue
        view = View(f"frame{index:05d}", corners)
        if not _moved(view, kept, width):
            continue
        kept.append(view)
        last = time.monotonic()
        if plan.keep is not None:
            plan.keep.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(plan.keep / f"{view.name}.png"), frame)
        covered = coverage_grid(kept, (width, height))
        say(
            f"view {len(kept)}/{plan.views}: {len(corners)} corners, coverage "
            f"{covered.mean():.0%}; still needed: {missing_areas(covered)}"
        )
    if not kept:
        raise DataError(
            f"the camera showed no {spec.describe()}: check the board flags, focus and light"
        )
    return kept, (width, height)


@dataclass(frozen=True, slots=True)
class FocusReading:
    frame: int
    focus_laplacian: float
    tenengrad: float
    best_laplacian: float  # the sharpest seen so far: turn the lens back towards it

    @property
    def of_best(self) -> float:
        return self.focus_laplacian / self.best_laplacian if self.best_laplacian else 0.0

    def line(self) -> str:
        bar = "#" * round(20 * self.of_best)
        return (
            f"frame {self.frame}: focus {self.focus_laplacian:9.1f} (Tenengrad "
            f"{self.tenengrad:9.1f})  {self.of_best:4.0%} of best [{bar:<20}]"
        )


def watch_focus(
    source: FrameSource, frames: int, every: int, say: Callable[[str], None]
) -> FocusReading:
    """Focus of every `every`-th frame while the lens is turned, against the best seen;
    `frames` 0 reads until the source ends. Returns the last reading."""
    from inspector.calibrate.lighting import focus_laplacian, tenengrad

    best, reading = 0.0, None
    index = 0
    while frames == 0 or index < frames:
        frame = source.read()
        if frame is None:
            break
        if index % every == 0:
            grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            focus = focus_laplacian(grey)
            best = max(best, focus)
            reading = FocusReading(index, focus, tenengrad(grey), best)
            say(reading.line())
        index += 1
    if reading is None:
        raise DataError("the camera gave no frame")
    return reading
