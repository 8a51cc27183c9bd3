"""The capture thread: reads a source into pooled buffers, reconnects lost live sources.

Frames are written into buffers a `FramePool` allocated once. When consumers hold every
buffer the newest frame is read into a scratch buffer and dropped (counted): capture
never allocates and never waits for a consumer, so a slow consumer cannot stall the
camera or grow memory.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Callable
from functools import partial

import numpy as np

from inspector.camera.base import (
    FrameShape,
    FrameSource,
    NoteListener,
    SourceLost,
    SourceReport,
    deliver,
)
from inspector.configbase import Backoff
from inspector.errors import DataError, InspectorError
from inspector.types import Frame

__all__ = ["Capture", "CaptureState", "FramePool", "StateCallback"]

log = logging.getLogger(__name__)


class FramePool:
    """`count` frame buffers of one shape, allocated here and only here; thread-safe."""

    def __init__(self, shape: FrameShape, count: int) -> None:
        if count < 1:
            raise InspectorError(f"a frame pool needs at least one buffer, got {count}")
        self.shape = shape
        self._buffers = tuple(np.zeros(shape, np.uint8) for _ in range(count))
        self._index_of = {id(buffer): i for i, buffer in enumerate(self._buffers)}
        # built once so handing a frame its release callback allocates nothing
        self._releasers = tuple(partial(self._release_index, i) for i in range(count))
        self._free = list(range(count))
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return len(self._buffers)

    @property
    def available(self) -> int:
        with self._lock:
            return len(self._free)

    def acquire(self) -> np.ndarray | None:
        """A free buffer, or None when consumers hold every one."""
        with self._lock:
            return self._buffers[self._free.pop()] if self._free else None

    def release(self, buffer: np.ndarray) -> None:
        """Give `buffer` back; it must be one this pool handed out and not yet released."""
        self._release_index(self._index(buffer))

    def releaser(self, buffer: np.ndarray) -> Callable[[], None]:
        """A callable that releases `buffer`, for `Frame.release`."""
        return self._releasers[self._index(buffer)]

    def _index(self, buffer: np.ndarray) -> int:
        index = self._index_of.get(id(buffer))
        if index is None or self._buffers[index] is not buffer:
            raise InspectorError("released an array that is not a buffer of this frame pool")
        return index

    def _release_index(self, index: int) -> None:
        with self._lock:
            if index in self._free:
                raise InspectorError(f"frame pool buffer {index} released twice")
            self._free.append(index)


class CaptureState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    FAILED = "failed"


StateCallback = Callable[[CaptureState, str], None]


class Capture:
    """Runs one source on its own thread and hands every frame to `on_frame`.

    `on_frame` runs on the capture thread; it calls `frame.done()` when it no longer
    needs the buffer (at once, or later from any thread). A live source that raises
    SourceLost is closed and replaced by `reopen()`, retried with backoff. The Capture
    owns the source from construction and closes it when the thread ends.
    """

    def __init__(
        self,
        source: FrameSource,
        pool: FramePool,
        on_frame: Callable[[Frame], None],
        *,
        reopen: Callable[[], FrameSource] | None = None,
        backoff: Backoff | None = None,
        on_state: StateCallback | None = None,
    ) -> None:
        if source.frame_shape != pool.shape:
            raise InspectorError(
                f"{source.name}: frames are {source.frame_shape}, the pool holds {pool.shape}"
            )
        self._source: FrameSource | None = source
        self._name = source.name
        # the closed source's last report; the lock keeps `report` from seeing neither
        self._report_lock = threading.Lock()
        self._last_report = source.report()
        self._pool = pool
        self._on_frame = on_frame
        self._reopen = reopen
        self._backoff = backoff or Backoff()
        self._on_state = on_state
        self._on_note: NoteListener | None = None
        self._scratch = np.zeros(pool.shape, np.uint8)  # takes frames that will be dropped
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture {self._name}", daemon=True)
        self._state = CaptureState.STARTING
        self.frames_read = 0  # every frame the source delivered, dropped ones included
        self.dropped_frames = 0

    @property
    def state(self) -> CaptureState:
        return self._state

    def listen(self, on_note: NoteListener) -> None:
        """Who hears the source's notes (missed frames, a restarted stream), this source's
        and every reopened one's; call before `start`."""
        self._on_note = on_note
        if self._source is not None:
            self._source.listen(on_note)

    def start(self) -> Capture:
        if self._thread.ident is not None:
            raise InspectorError(f"capture of {self._name} was already started")
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop capturing, even mid-backoff or mid-pacing; True once the thread ended."""
        self._stopping.set()
        source = self._source
        if self._thread.ident is None:
            self._close_source()
            return True
        if source is not None:
            source.interrupt()
        stopped = self.join(timeout)
        if not stopped:
            log.warning("capture of %s did not stop within %.1f s", self._name, timeout)
        return stopped

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True if it has."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def report(self) -> SourceReport:
        """The source's report: so far while capturing, final once the thread ended (the
        source is closed by then; its last report was kept). Safe from any thread. After
        a reconnect it is the reopened source's."""
        with self._report_lock:
            source, last = self._source, self._last_report
        return last if source is None else source.report()

    # ------------------------------------------------------------ capture thread

    def _run(self) -> None:
        try:
            self._set_state(CaptureState.RUNNING, self._name)
            self._capture_until_end()
        except InspectorError as exc:
            log.error("capture of %s failed: %s", self._name, exc)
            self._set_state(CaptureState.FAILED, _one_line(exc))
        except Exception as exc:
            log.exception("capture of %s failed unexpectedly", self._name)
            self._set_state(CaptureState.FAILED, _one_line(exc))
        finally:
            self._close_source()

    def _capture_until_end(self) -> None:
        while not self._stopping.is_set():
            try:
                if not self._capture_one():
                    self._set_state(CaptureState.ENDED, f"{self._name}: end of the source")
                    return
            except SourceLost as lost:
                if not self._reconnect(lost):
                    break
        self._set_state(CaptureState.ENDED, f"{self._name}: stopped")

    def _capture_one(self) -> bool:
        """Read and hand over (or drop) one frame; False at the end of the source."""
        buffer = self._pool.acquire()
        try:
            image = self._read_into(self._scratch if buffer is None else buffer)
        except BaseException:
            if buffer is not None:
                self._pool.release(buffer)
            raise
        if image is None:
            if buffer is not None:
                self._pool.release(buffer)
            return False
        seq = self.frames_read
        self.frames_read += 1
        if buffer is None:
            self.dropped_frames += 1
            return True
        origin = self._source.origin if self._source is not None else None
        frame = Frame(
            buffer, seq, time.monotonic(), self._name, self._pool.releaser(buffer), origin
        )
        self._hand_over(frame)
        return True

    def _read_into(self, target: np.ndarray) -> np.ndarray | None:
        if self._source is None:
            raise InspectorError(f"capture of {self._name} has no open source")
        image = self._source.read(target)
        # a source that ignored `target` still has its frame land in the pool buffer
        return None if image is None else deliver(image, target, target.shape, self._name)

    def _hand_over(self, frame: Frame) -> None:
        try:
            self._on_frame(frame)
        except BaseException:
            frame.done()  # a no-op if the consumer already gave the buffer back
            raise

    def _reconnect(self, lost: SourceLost) -> bool:
        """Replace a lost live source; False if stopped before one came back."""
        if self._reopen is None or self._source is None or not self._source.live:
            raise lost
        log.warning("%s; reconnecting", lost)
        self._set_state(CaptureState.RECONNECTING, str(lost))
        self._close_source()
        reopened = self._reopen_with_backoff()
        if reopened is None:
            return False
        source, attempts = reopened
        if source.frame_shape != self._pool.shape:
            source.close()
            raise DataError(
                f"{source.name}: came back with frames {source.frame_shape}, "
                f"not {self._pool.shape} as before"
            )
        source.listen(self._on_note)
        self._source = source
        log.info("%s: reconnected after %d attempt(s)", self._name, attempts)
        self._set_state(CaptureState.RUNNING, f"{self._name}: reconnected")
        return True

    def _reopen_with_backoff(self) -> tuple[FrameSource, int] | None:
        reopen = self._reopen
        attempts = 0
        delays = self._backoff.delays()  # each outage starts from initial_s again
        # Event.wait, not sleep: stop() must cut a long backoff short
        while reopen is not None and not self._stopping.wait(next(delays)):
            attempts += 1
            try:
                return reopen(), attempts
            except (InspectorError, OSError) as exc:
                log.debug("%s: reconnect attempt %d failed: %s", self._name, attempts, exc)
        return None

    def _close_source(self) -> None:
        with self._report_lock:
            source, self._source = self._source, None
            if source is not None:
                self._last_report = source.report()
        if source is not None:
            source.close()

    def _set_state(self, state: CaptureState, message: str) -> None:
        self._state = state
        if self._on_state is None:
            return
        try:
            self._on_state(state, message)
        except Exception:
            log.exception("capture state callback failed on %s", state.name)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
