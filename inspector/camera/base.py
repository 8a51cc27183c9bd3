"""The `FrameSource` ABC, the source registry, and the `Pacer` that replays at frame rate."""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np

from inspector.camera.config import SourceConfig
from inspector.camera.registry import SOURCES
from inspector.errors import DataError, InspectorError
from inspector.types import FrameOrigin

__all__ = [
    "SOURCES",
    "FrameShape",
    "FrameSource",
    "NoteListener",
    "Pacer",
    "SourceConfig",
    "SourceLost",
    "SourceNote",
    "SourceReport",
    "deliver",
    "open_source",
    "source_class",
]

FrameShape = tuple[int, int, int]

# The config a source's `open` takes: the kind's own model (the registry dispatches on kind).
ConfigT = TypeVar("ConfigT", bound=SourceConfig)


class SourceLost(InspectorError):
    """A live source stopped delivering frames; opening it again may bring it back."""


@dataclass(frozen=True)
class SourceNote:
    """Something a live source noticed that the station announces as an event: frames
    the camera's ids say were missed or that came incomplete (`frames_missed`, with
    their `count`), a stalled stream it restarted (`stream_restarted`). `parts`: each
    frame was a part (a triggered camera), so a missed frame is a missed part."""

    kind: str
    message: str
    count: int = 0
    parts: bool = False


NoteListener = Callable[[SourceNote], None]


class FrameSource(ABC, Generic[ConfigT]):
    """Delivers BGR uint8 frames of one shape, into the caller's buffer.

    Subclasses implement `open` (the I/O: opening the file or device, decoding a first
    frame) and `read`; the constructor takes what `open` made ready.
    """

    kind: ClassVar[str]
    live: ClassVar[bool]  # True: can be lost (SourceLost) and reopened; False: a file

    def __init__(self, name: str, frame_shape: FrameShape, fps: float | None) -> None:
        self._name = name
        self._frame_shape = frame_shape
        self._fps = fps
        self._listener: NoteListener | None = None
        self._origin = FrameOrigin(name)

    @classmethod
    @abstractmethod
    def open(cls, config: ConfigT) -> FrameSource[ConfigT]:
        """Open what `config` names; DataError, naming it, when it cannot be read."""

    @abstractmethod
    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        """The next frame, written into `out` when `out` has `frame_shape`; None at the
        end of a file. A live source raises SourceLost when the stream fails."""

    @property
    def name(self) -> str:
        """What the source reads, for logs and `Frame.source` (URL credentials hidden)."""
        return self._name

    @property
    def frame_shape(self) -> FrameShape:
        return self._frame_shape

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def origin(self) -> FrameOrigin:
        """The origin of the frame `read` returned last (the camera's frame id and
        timestamp where the source has them)."""
        return self._origin

    def listen(self, listener: NoteListener | None) -> None:
        """Who hears this source's notes (the capture, which tells the station)."""
        self._listener = listener

    def _note(self, kind: str, message: str, count: int = 0, parts: bool = False) -> None:
        if self._listener is not None:
            self._listener(SourceNote(kind, message, count, parts))

    def fits(self, out: np.ndarray | None) -> bool:
        """Whether `out` can take a frame as it is."""
        return out is not None and out.shape == self._frame_shape and out.dtype == np.uint8

    def interrupt(self) -> None:  # only paced sources wait on their own
        """Make a waiting `read` return soon; safe to call from another thread."""

    def close(self) -> None:  # some sources hold nothing to release
        """Release the file or device."""

    def __enter__(self) -> FrameSource[ConfigT]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @abstractmethod
    def report(self) -> SourceReport:
        """What this source has read so far and what went wrong; works after `close`.
        Abstract on purpose: a source that reported nothing would let a broken
        recording pass silently, which is what the report exists to prevent."""


@dataclass(frozen=True)
class SourceReport:
    """A source's account of its frames, for the end-of-run summary.

    `frames_read` counts the frames that decoded (one of the wrong size among them, which
    fails the capture), `frames_undecodable` those that did not, found in the middle of
    the file or folder; `frames_declared` is what one pass through a file should give
    (the container's count, the folder's images), None when nothing says. `problems`
    holds one line per kind of trouble, each naming the source; empty: nothing wrong.
    """

    frames_read: int
    frames_undecodable: int = 0
    frames_declared: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


def deliver(image: np.ndarray, out: np.ndarray | None, shape: FrameShape, where: str) -> np.ndarray:
    """`image` as the frame to return: copied into `out` if a decoder could not write
    there itself. A frame of another shape than the source's first is a DataError."""
    if image.shape != shape:
        raise DataError(
            f"{where}: frame is {image.shape[1]}x{image.shape[0]}, "
            f"the source's first frame was {shape[1]}x{shape[0]}"
        )
    if out is None or image is out or out.shape != shape:
        return image
    np.copyto(out, image)
    return out


def source_class(kind: str) -> type[FrameSource[Any]]:
    cls: type[FrameSource[Any]] = SOURCES.plugin_class(kind)
    return cls


def open_source(config: SourceConfig) -> FrameSource[Any]:
    """Open the frame source a `camera:` config section describes."""
    return source_class(config.kind).open(config)


class Pacer:
    """Releases frame n at t0 + n / fps, so sleep overshoot never adds up over a file.

    `fps` None (pace: fast) never waits. A stall longer than `max_lag_s` restarts the
    schedule from now: a replay should resume at frame rate, not burst to catch up.
    """

    def __init__(
        self,
        fps: float | None,
        max_lag_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if fps is not None and fps <= 0:
            raise InspectorError(f"pacing needs a positive frame rate, got {fps}")
        self._period = 1.0 / fps if fps else 0.0
        self._max_lag_s = max_lag_s
        self._clock = clock
        self._t0: float | None = None
        self._count = 0
        self._interrupted = threading.Event()

    @property
    def paced(self) -> bool:
        return self._period > 0

    def next_delay(self, now: float) -> float:
        """Seconds from `now` until the next frame is due; counts that frame as sent."""
        if self._t0 is None or now - self._due() > self._max_lag_s:
            self._t0, self._count = now, 0
        due = self._due()
        self._count += 1
        return max(0.0, due - now)

    def wait(self) -> None:
        """Block until the next frame is due (never once interrupted)."""
        if not self.paced:
            return
        delay = self.next_delay(self._clock())
        if delay > 0:
            self._interrupted.wait(delay)

    def interrupt(self) -> None:
        """Stop waiting, now and from now on; safe to call from another thread."""
        self._interrupted.set()

    def _due(self) -> float:
        return (self._t0 or 0.0) + self._count * self._period
