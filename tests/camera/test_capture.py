"""The frame pool and the capture thread: delivery, drops, end of file, reconnects, stop."""

from __future__ import annotations

import logging
import threading
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.camera import (
    Capture,
    CaptureState,
    FramePool,
    FrameSource,
    SourceLost,
    SourceReport,
    open_source,
)
from inspector.config import Backoff, FolderCamera, VideoCamera
from inspector.errors import DataError, InspectorError
from inspector.types import Frame
from tests.camera.media import frame_index, wait_until, write_folder, write_video

SHAPE = (48, 64, 3)
RUNNING, RECONNECTING = CaptureState.RUNNING, CaptureState.RECONNECTING
ENDED, FAILED = CaptureState.ENDED, CaptureState.FAILED


class FakeLiveCamera(FrameSource):
    """Test double for a live camera, which cannot exist here: frame n is filled with
    n % 256; after `frames_before_loss` frames it raises SourceLost like an unplugged one."""

    kind = "fake-live"
    live = True

    def __init__(
        self, frames_before_loss: int | None, period_s: float = 0.002, shape=SHAPE
    ) -> None:
        super().__init__("fake camera", shape, 1.0 / period_s)
        self.frames_before_loss = frames_before_loss
        self.period_s = period_s
        self.frames_sent = 0
        self.lost_at: float | None = None
        self.closed = False
        self._wake = threading.Event()

    @classmethod
    def open(cls, config: object) -> FakeLiveCamera:
        return cls(None)

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        if self.frames_before_loss is not None and self.frames_sent >= self.frames_before_loss:
            self.lost_at = time.monotonic()
            raise SourceLost("fake camera: unplugged")
        self._wake.wait(self.period_s)  # a camera delivers at its frame rate
        target = np.empty(self.frame_shape, np.uint8) if out is None else out
        target.fill(self.frames_sent % 256)
        self.frames_sent += 1
        return target

    def interrupt(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self.closed = True

    def report(self) -> SourceReport:
        return SourceReport(self.frames_sent)


class ScriptedReopen:
    """A `reopen` factory: each call takes the next step, "fail" or a camera to return."""

    def __init__(self, steps: list[str | FakeLiveCamera]) -> None:
        self.steps = list(steps)
        self.calls: list[float] = []

    def __call__(self) -> FrameSource:
        self.calls.append(time.monotonic())
        step = self.steps.pop(0)
        if step == "fail":
            raise DataError("fake camera: cannot be opened")
        return step


class Recorder:
    """on_frame and on_state callbacks that remember what they saw."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.kept: list[Frame] = []
        self.seen: list[tuple[int, int]] = []  # (seq, index in the pixels)
        self.states: list[CaptureState] = []
        self.messages: list[str] = []

    def on_frame(self, frame: Frame) -> None:
        self.seen.append((frame.seq, frame_index(frame.image)))
        if self.keep:
            self.kept.append(frame)
        else:
            frame.done()

    def on_state(self, state: CaptureState, message: str) -> None:
        self.states.append(state)
        self.messages.append(message)


def video_source(tmp_path: Path, fourcc: str = "MJPG", size=(64, 48)) -> FrameSource:
    path = write_video(tmp_path / "clip.avi", fourcc, size=size)
    return open_source(VideoCamera(kind="video", path=path, pace="fast"))


# ---------------------------------------------------------------- frame pool


def test_pool_hands_out_each_buffer_once_until_released():
    pool = FramePool(SHAPE, 3)
    held = [pool.acquire() for _ in range(3)]
    assert all(b is not None and b.shape == SHAPE and b.dtype == np.uint8 for b in held)
    assert len({id(b) for b in held}) == 3
    assert (pool.acquire(), pool.available) == (None, 0)
    pool.release(held[1])
    assert pool.available == 1
    assert pool.acquire() is held[1]
    pool.releaser(held[0])()
    assert pool.available == 1


def release_foreign(pool: FramePool) -> None:
    pool.release(np.zeros(SHAPE, np.uint8))


def release_twice(pool: FramePool) -> None:
    buffer = pool.acquire()
    pool.release(buffer)
    pool.release(buffer)


def release_a_view(pool: FramePool) -> None:
    pool.release(pool.acquire()[:])


@pytest.mark.parametrize(
    ("misuse", "error"),
    [
        (release_foreign, "not a buffer of this frame pool"),
        (release_twice, "released twice"),
        (release_a_view, "not a buffer of this frame pool"),
        (lambda pool: FramePool(SHAPE, 0), "at least one buffer"),
    ],
)
def test_pool_misuse_is_an_error(misuse, error: str):
    with pytest.raises(InspectorError, match=error):
        misuse(FramePool(SHAPE, 2))


def test_pool_is_thread_safe():
    pool = FramePool(SHAPE, 3)
    addresses = []

    def churn() -> None:
        for _ in range(2000):
            buffer = pool.acquire()
            if buffer is not None:
                addresses.append(buffer.__array_interface__["data"][0])
                pool.release(buffer)

    threads = [threading.Thread(target=churn) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert pool.available == 3
    assert len(set(addresses)) <= 3


# ---------------------------------------------------------------- reconnect delays


@pytest.mark.parametrize(
    ("initial_s", "max_s", "expected"),
    [
        (0.5, 10.0, [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]),
        (1.0, 1.0, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
        (0.3, 1.0, [0.3, 0.6, 1.0, 1.0, 1.0, 1.0, 1.0]),  # never longer than max_s
    ],
)
def test_backoff_delays_double_up_to_max_and_start_again(initial_s, max_s, expected):
    backoff = Backoff(initial_s=initial_s, max_s=max_s)
    delays = backoff.delays()
    assert [next(delays) for _ in expected] == expected
    assert next(backoff.delays()) == expected[0]


# ---------------------------------------------------------------- capture of files


def test_capture_delivers_every_frame_then_ends(tmp_path: Path):
    pool = FramePool(SHAPE, 3)
    recorder = Recorder()
    capture = Capture(video_source(tmp_path), pool, recorder.on_frame, on_state=recorder.on_state)
    assert capture.state is CaptureState.STARTING
    capture.start()
    assert capture.join(10.0)
    assert recorder.seen == [(i, i) for i in range(30)]
    assert recorder.states == [RUNNING, ENDED]
    assert (capture.frames_read, capture.dropped_frames, pool.available) == (30, 0, 3)


def test_capture_drops_frames_without_allocating_while_consumers_hold_every_buffer(
    tmp_path: Path,
):
    source = video_source(tmp_path, size=(320, 240))
    pool = FramePool(source.frame_shape, 2)
    pool_buffers = [pool.acquire(), pool.acquire()]
    for buffer in pool_buffers:
        pool.release(buffer)
    recorder = Recorder(keep=True)  # never gives a buffer back
    capture = Capture(source, pool, recorder.on_frame)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        capture.start()
        assert capture.join(10.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (capture.frames_read, capture.dropped_frames) == (30, 28)
    assert [seq for seq, _ in recorder.seen] == [0, 1]
    assert {id(f.image) for f in recorder.kept} == {id(b) for b in pool_buffers}
    frame_bytes = 320 * 240 * 3
    assert peak - before < frame_bytes // 2, "capture allocated frame-sized memory"
    for frame in recorder.kept:
        frame.done()
    assert pool.available == 2


@pytest.mark.timeout(60)
def test_capture_reports_a_truncated_video_after_its_thread_ended(tmp_path: Path):
    path = write_video(tmp_path / "clip.avi", "MJPG", 60, textured=True)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    source = open_source(VideoCamera(kind="video", path=path, pace="fast"))
    pool = FramePool(source.frame_shape, 2)
    capture = Capture(source, pool, Recorder().on_frame).start()
    assert capture.join(10.0)
    assert capture.state is ENDED and pool.available == 2
    report = capture.report()  # the source is closed by now: its last report was kept
    read = capture.frames_read
    assert 0 < read < 60
    assert report == SourceReport(read, 0, 60, (f"{path}: ended after {read} of 60 frames",))
    assert capture.report() == report  # and stays


def test_capture_skips_a_corrupt_image_and_reports_it(tmp_path: Path):
    images = write_folder(tmp_path / "imgs", 4)
    (images / "img_002.png").write_bytes(b"not a png")
    source = open_source(FolderCamera(kind="folder", path=images, pace="fast"))
    recorder = Recorder()
    capture = Capture(source, FramePool(SHAPE, 2), recorder.on_frame, on_state=recorder.on_state)
    assert capture.report() == SourceReport(0, 0, 4, ())  # before the thread started
    capture.start()
    assert capture.join(10.0)
    assert [index for _, index in recorder.seen] == [0, 1, 3]
    assert recorder.states == [RUNNING, ENDED]
    why = f"{images / 'img_002.png'}: cannot be read as an image"
    problem = f"{images}: 1 image could not be read (first: {why})"
    assert capture.report() == SourceReport(3, 1, 4, (problem,))


def test_capture_of_a_folder_fails_on_an_image_of_another_size(tmp_path: Path):
    images = write_folder(tmp_path / "imgs", 3)
    cv2.imwrite(str(images / "img_002.png"), np.zeros((48, 80, 3), np.uint8))
    source = open_source(FolderCamera(kind="folder", path=images, pace="fast"))
    recorder = Recorder()
    capture = Capture(source, FramePool(SHAPE, 2), recorder.on_frame, on_state=recorder.on_state)
    capture.start()
    assert capture.join(10.0)
    assert recorder.states == [RUNNING, FAILED]
    assert recorder.messages[-1].startswith(f"{images / 'img_002.png'}: frame is 80x48")
    assert capture.report().frames_read == 3  # it decoded; it did not fit


def test_capture_report_is_the_live_sources_until_it_is_closed():
    camera = FakeLiveCamera(None)
    capture = Capture(camera, FramePool(SHAPE, 2), Recorder().on_frame).start()
    assert wait_until(lambda: capture.frames_read >= 5)
    assert capture.report().frames_read >= 5  # asked of the open source, while it reads
    assert capture.stop(5.0) and camera.closed
    assert capture.report() == SourceReport(camera.frames_sent)


def test_stop_interrupts_realtime_pacing(tmp_path: Path):
    images = write_folder(tmp_path / "imgs", 3)
    source = open_source(FolderCamera(kind="folder", path=images, fps=0.2, pace="realtime"))
    recorder = Recorder()
    capture = Capture(source, FramePool(SHAPE, 2), recorder.on_frame).start()
    assert wait_until(lambda: len(recorder.seen) == 1)
    start = time.monotonic()
    assert capture.stop(5.0)
    assert time.monotonic() - start < 1.0
    assert capture.state is ENDED


def test_consumer_that_raises_fails_the_capture_and_frees_its_buffer(tmp_path: Path):
    def broken(frame: Frame) -> None:
        raise RuntimeError("consumer bug")

    pool = FramePool(SHAPE, 2)
    recorder = Recorder()
    capture = Capture(video_source(tmp_path), pool, broken, on_state=recorder.on_state)
    capture.start()
    assert capture.join(10.0)
    assert (recorder.states, recorder.messages[-1]) == ([RUNNING, FAILED], "consumer bug")
    assert pool.available == 2


@pytest.mark.parametrize(
    ("pool_shape", "error"),
    [((48, 64, 1), "frames are"), ((64, 48, 3), "frames are")],
)
def test_capture_needs_a_pool_of_the_source_shape(pool_shape, error: str):
    camera = FakeLiveCamera(None)
    with pytest.raises(InspectorError, match=error):
        Capture(camera, FramePool(pool_shape, 1), Recorder().on_frame)


def test_stop_before_start_closes_the_source():
    camera = FakeLiveCamera(None)
    assert Capture(camera, FramePool(SHAPE, 1), Recorder().on_frame).stop()
    assert camera.closed


# ---------------------------------------------------------------- live sources


@pytest.mark.timeout(60)
def test_lost_camera_is_reopened_with_growing_backoff(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="inspector.camera.capture")
    first, second, third = FakeLiveCamera(5), FakeLiveCamera(5), FakeLiveCamera(None)
    reopen = ScriptedReopen(["fail", "fail", second, third])
    recorder = Recorder()
    capture = Capture(
        first,
        FramePool(SHAPE, 3),
        recorder.on_frame,
        reopen=reopen,
        backoff=Backoff(initial_s=0.1, max_s=1.0),
        on_state=recorder.on_state,
    )
    capture.start()
    try:
        assert wait_until(lambda: third.frames_sent >= 5, timeout=20.0)
    finally:
        assert capture.stop(5.0)

    assert recorder.states == [RUNNING, RECONNECTING, RUNNING, RECONNECTING, RUNNING, ENDED]
    assert first.closed and second.closed and third.closed
    fail1, fail2, back1, back2 = reopen.calls
    waits = [fail1 - first.lost_at, fail2 - fail1, back1 - fail2]  # about 0.1, 0.2, 0.4
    assert waits[0] >= 0.1 and waits[0] < waits[1] < waits[2]
    assert back2 - second.lost_at < waits[2]  # the backoff restarted after the recovery
    assert capture.frames_read == 10 + third.frames_sent
    assert [seq for seq, _ in recorder.seen] == list(range(capture.frames_read))
    levels = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelno >= logging.INFO]
    assert [level for level, _ in levels] == ["WARNING", "INFO", "WARNING", "INFO"]
    assert "fake camera: unplugged" in levels[0][1]


@pytest.mark.timeout(60)
def test_stop_interrupts_a_long_backoff():
    recorder = Recorder()
    reopen = ScriptedReopen(["fail"] * 3)
    capture = Capture(
        FakeLiveCamera(1),
        FramePool(SHAPE, 2),
        recorder.on_frame,
        reopen=reopen,
        backoff=Backoff(initial_s=30.0, max_s=60.0),
        on_state=recorder.on_state,
    ).start()
    assert wait_until(lambda: capture.state is RECONNECTING)
    start = time.monotonic()
    assert capture.stop(5.0)
    assert time.monotonic() - start < 1.0
    assert (recorder.states, reopen.calls) == ([RUNNING, RECONNECTING, ENDED], [])


@pytest.mark.parametrize(
    ("make_reopen", "states", "message"),
    [
        (lambda: None, [RUNNING, FAILED], "fake camera: unplugged"),
        (
            lambda: ScriptedReopen([FakeLiveCamera(None)]),
            [RUNNING, RECONNECTING, RUNNING],  # ...and keeps running: stopped below
            "fake camera: reconnected",
        ),
    ],
)
def test_lost_camera_fails_without_reopen_and_recovers_with_it(make_reopen, states, message):
    camera = FakeLiveCamera(2)
    recorder = Recorder()
    capture = Capture(
        camera,
        FramePool(SHAPE, 2),
        recorder.on_frame,
        reopen=make_reopen(),
        backoff=Backoff(initial_s=0.01, max_s=0.01),
        on_state=recorder.on_state,
    ).start()
    assert wait_until(lambda: recorder.states[: len(states)] == states)
    assert recorder.messages[len(states) - 1] == message
    assert capture.stop(5.0)
    assert camera.closed


def test_camera_back_at_another_resolution_fails_the_capture():
    recorder = Recorder()
    capture = Capture(
        FakeLiveCamera(1),
        FramePool(SHAPE, 2),
        recorder.on_frame,
        reopen=ScriptedReopen([FakeLiveCamera(None, shape=(96, 128, 3))]),
        backoff=Backoff(initial_s=0.01, max_s=0.01),
        on_state=recorder.on_state,
    ).start()
    assert capture.join(10.0)
    assert recorder.states == [RUNNING, RECONNECTING, FAILED]
    assert "came back with frames (96, 128, 3)" in recorder.messages[-1]
