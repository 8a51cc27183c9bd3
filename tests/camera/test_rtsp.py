"""The OpenCV source on a real RTSP stream (GStreamer's gst-rtsp-server on loopback):
frames arrive with their stream time, stale frames are decoded past so latency stays
bounded, and a capture recovers when the server is killed and started again."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from inspector.camera.capture import Capture, CaptureState, FramePool
from inspector.camera.config import OpenCVCamera
from inspector.camera.video import FrameAge, OpenCVSource
from inspector.configbase import Backoff
from inspector.types import Frame


class RtspServer:
    """`tests/camera/rtsp_server.py` in its own process: start, kill, start again."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"rtsp://127.0.0.1:{self.port}/test"
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> RtspServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.camera.rtsp_server", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if line.strip() != "ready":
            self.kill()
            pytest.fail(f"the RTSP server did not start: {line}")
        return self

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.communicate(timeout=5)
            self._process = None


@pytest.fixture
def server() -> Iterator[RtspServer]:
    rtsp = RtspServer().start()
    try:
        yield rtsp
    finally:
        rtsp.kill()


def stream(url: str, **fields: object) -> OpenCVCamera:
    return OpenCVCamera.model_validate({"kind": "opencv", "device": url, **fields})


@pytest.mark.parametrize(
    ("reads", "ages"),
    [
        ([(40, 10.0), (80, 10.04), (120, 10.08)], [0.0, 0.0, 0.0]),  # on time
        ([(40, 10.0), (80, 10.3), (120, 10.31)], [0.0, 0.26, 0.23]),  # fell behind
        ([(40, 10.2), (80, 10.2), (120, 10.2)], [0.0, 0.0, 0.0]),  # a backlog at the start
        ([(0, 10.0), (-1, 10.5)], [0.0, 0.0]),  # no timestamps
        ([(40, 10.0), (80, 10.04), (40, 10.08)], [0.0, 0.0, 0.0]),  # stream time restarted
    ],
)
def test_frame_age_from_stream_time(reads: list[tuple[float, float]], ages: list[float]) -> None:
    age = FrameAge()
    assert [age.of(pts, now) for pts, now in reads] == pytest.approx(ages)


def test_frames_arrive_with_their_stream_time(server: RtspServer) -> None:
    with OpenCVSource.open(stream(server.url)) as source:
        assert source.frame_shape == (240, 320, 3)
        stamps = []
        for _ in range(5):
            assert source.read() is not None
            stamps.append(source.origin.timestamp_ns)
        assert stamps == sorted(set(stamps))


@pytest.mark.parametrize(("max_age_ms", "dropped"), [(100.0, True), (None, False)])
def test_stale_frames_are_dropped(
    server: RtspServer, max_age_ms: float | None, dropped: bool
) -> None:
    with OpenCVSource.open(stream(server.url, max_age_ms=max_age_ms)) as source:
        for _ in range(3):
            source.read()
        time.sleep(1.0)  # the station was busy: 25 frames queue up
        source.read()
        assert (source.stale_dropped > 10) is dropped
        if dropped:
            assert source.last_age_s <= 0.1
        else:
            assert source.last_age_s > 0.5


def test_capture_recovers_after_the_server_restarts(server: RtspServer) -> None:
    config = stream(server.url, timeout_ms=1000)
    source = OpenCVSource.open(config)
    states: list[CaptureState] = []
    frames: list[int] = []

    def on_frame(frame: Frame) -> None:
        frames.append(frame.seq)
        frame.done()

    capture = Capture(
        source,
        FramePool(source.frame_shape, 4),
        on_frame,
        reopen=lambda: OpenCVSource.open(config),
        backoff=Backoff(initial_s=0.2, max_s=0.5),
        on_state=lambda state, _: states.append(state),
    )
    capture.start()
    try:
        wait_for(lambda: len(frames) >= 5)
        server.kill()
        wait_for(lambda: CaptureState.RECONNECTING in states)
        server.start()
        wait_for(lambda: states[-1] is CaptureState.RUNNING and len(states) >= 3, 30.0)
        count = len(frames)
        wait_for(lambda: len(frames) >= count + 5)
    finally:
        capture.stop()
    assert states[:3] == [CaptureState.RUNNING, CaptureState.RECONNECTING, CaptureState.RUNNING]


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
