"""Frames held in memory: a stretch of a recording decoded once, replayed with no decoding.

A camera driver (GigE Vision, USB3 Vision, V4L2) hands the station frames already
decoded; a recording has to be decoded on the station's own cores first. `inspector
bench` feeds the station from this source too, so that the pipeline's own cost can be
told apart from the video decoder's. It is not a camera kind of `station.yaml`: it
exists for measurement, and is handed to `build_station` ready-made.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from inspector.camera.base import FrameSource, Pacer, SourceReport, deliver
from inspector.camera.config import VideoCamera
from inspector.camera.video import valid_fps
from inspector.errors import DataError

__all__ = ["GatedReplay", "MemorySource"]


class MemorySource(FrameSource[VideoCamera]):
    """Replays `frames` in a loop, at `fps` when `paced`, copying each into the caller's
    buffer."""

    kind = "memory"
    live = False

    def __init__(
        self, name: str, frames: Sequence[np.ndarray], fps: float | None, paced: bool
    ) -> None:
        if not frames:
            raise DataError(f"{name}: no frames to replay")
        super().__init__(name, frames[0].shape, fps)
        self._frames = frames
        self._pacer = Pacer(fps if paced else None)
        self._next = 0
        self._frames_read = 0

    @property
    def frames(self) -> Sequence[np.ndarray]:
        """The frames replayed, in order."""
        return self._frames

    def gated(self) -> GatedReplay:
        """A replay of the same frames, as fast as let through (`GatedReplay`)."""
        return GatedReplay(self.name, self._frames, self.fps)

    @classmethod
    def open(cls, config: VideoCamera, max_frames: int = 120) -> MemorySource:
        """Decode the first `max_frames` frames of the recording `config` names; replay
        them at its frame rate (pace: realtime) or as fast as they are asked for."""
        path = Path(config.path)
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        fps = valid_fps(capture.get(cv2.CAP_PROP_FPS))
        frames: list[np.ndarray] = []
        while len(frames) < max_frames:
            ok, image = capture.read()
            if not ok:
                break
            frames.append(image)
        capture.release()
        if not frames:
            raise DataError(f"{path}: no frame can be decoded")
        if config.pace == "realtime" and fps is None:
            raise DataError(f"{path}: the file gives no frame rate; replay it with pace: fast")
        return cls(str(path), frames, fps, paced=config.pace == "realtime")

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        image = self._frames[self._next]
        self._next = (self._next + 1) % len(self._frames)
        self._pacer.wait()
        self._frames_read += 1
        return deliver(image, out, self.frame_shape, self.name)

    def interrupt(self) -> None:
        self._pacer.interrupt()

    def report(self) -> SourceReport:
        # frames decoded before the run, each replayed whole: nothing can fail to decode
        return SourceReport(self._frames_read)


class GatedReplay(MemorySource):
    """A replay that hands over a frame only once it is let through (`let_through`):
    the benchmark runs the pipeline in blocks of parts this way, and the raw backend on
    the same loaded model between them, while the station waits."""

    def __init__(self, name: str, frames: Sequence[np.ndarray], fps: float | None) -> None:
        super().__init__(name, frames, fps, paced=False)
        self._permits = threading.Semaphore(0)
        self._interrupted = False

    def let_through(self, count: int) -> None:
        self._permits.release(count)

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        self._permits.acquire()
        if self._interrupted:
            return None
        return super().read(out)

    def interrupt(self) -> None:
        self._interrupted = True
        self._permits.release()  # wakes a waiting read, which then ends the replay
