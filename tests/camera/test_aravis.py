"""The aravis source against Aravis's own GigE Vision camera simulator on loopback:
discovery, features, free run, software trigger, a line-triggered camera idle between
parts, and recovery after the simulator is killed and started again."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from inspector.camera.aravis import (
    _TO_BGR,
    AravisSource,
    _FrameIds,
    aravis_module,
    camera_features,
    discover,
    open_camera,
)
from inspector.camera.base import SourceLost, SourceNote
from inspector.camera.capture import Capture, CaptureState, FramePool
from inspector.camera.config import AravisCamera
from inspector.configbase import Backoff
from inspector.errors import DataError
from tests.camera.simulator import ADDRESS, CAMERA_ID, SERIAL, FakeCamera, fake_camera


@pytest.fixture(scope="module")
def simulator() -> Iterator[FakeCamera]:
    with fake_camera() as camera:
        yield camera


def config(**fields: object) -> AravisCamera:
    values: dict[str, object] = {
        "kind": "aravis",
        "camera": ADDRESS,
        "roi": {"width": 640, "height": 480},
        "exposure_us": 10000,
        "frame_rate": 100,
    }
    values.update(fields)
    return AravisCamera.model_validate(values)


# ---------------------------------------------------------------- without a camera


@pytest.mark.parametrize(
    ("ids", "missed"),
    [
        ((1, 2, 3), [0, 0, 0]),
        ((1, 3, 4), [0, 1, 0]),
        ((10, 15), [0, 4]),
        ((65534, 65535, 1, 2), [0, 0, 0, 0]),  # a 16-bit id wraps and skips 0
        ((65534, 2), [0, 2]),
        ((5, 0, 0), [0, 0, 0]),  # a camera without frame ids
        ((5, 0, 7), [0, 0, 0]),  # frame 6 came (incomplete) without its id
        ((5, 0, 9), [0, 0, 2]),
        ((55, 54, 56), [0, 0, 1]),  # a step back is a restarted count, not a wrap
        ((10, 65000), [0, 64989]),
    ],
)
def test_frame_id_gaps(ids: tuple[int, ...], missed: list[int]) -> None:
    counter = _FrameIds()
    assert [counter.gap(i) for i in ids] == missed


@pytest.mark.parametrize(
    ("pattern", "offsets"),
    [  # where the red pixel of each 2x2 cell sits, per PFNC name
        ("BayerRG8", (0, 0)),
        ("BayerGR8", (0, 1)),
        ("BayerGB8", (1, 0)),
        ("BayerBG8", (1, 1)),
    ],
)
def test_bayer_patterns_debayer_to_bgr(pattern: str, offsets: tuple[int, int]) -> None:
    mosaic = np.zeros((8, 8), np.uint8)
    mosaic[offsets[0] :: 2, offsets[1] :: 2] = 200  # only the red sites lit: a red scene
    code = _TO_BGR[pattern]
    assert code is not None
    bgr = cv2.cvtColor(mosaic, code)
    blue, green, red = bgr[2:6, 2:6].reshape(-1, 3).mean(axis=0)
    assert red > 150 and blue < 10 and green < 10


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"mono": True, "pixel_format": "BayerRG8"}, "mono: true needs pixel_format: Mono8"),
        ({"trigger": {"source": "Line"}}, "trigger.source"),
        ({"trigger": {"source": "Line1", "activation": "Sideways"}}, "trigger.activation"),
        ({"pixel_format": "Mono16"}, "pixel_format"),
        ({"packet_size": 100}, "packet_size"),
        ({"strobe": {"line": "Line1", "source": "Exposure Active"}}, "strobe.source"),
    ],
)
def test_config_errors_name_the_field(fields: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error.replace(".", r"\.")):
        config(**fields)


# ---------------------------------------------------------------- with the simulator


def test_discovery_lists_the_simulator(simulator: FakeCamera) -> None:
    found = {info.serial: info for info in discover()}
    assert found[SERIAL].id == CAMERA_ID
    assert found[SERIAL].address == ADDRESS
    assert found[SERIAL].protocol == "GigEVision"


@pytest.mark.parametrize("wanted", [CAMERA_ID, SERIAL, ADDRESS])
def test_opens_by_id_serial_or_address(simulator: FakeCamera, wanted: str) -> None:
    with AravisSource.open(config(camera=wanted)) as source:
        assert source.camera_id == CAMERA_ID
        assert source.read() is not None


def test_unknown_camera_is_named(simulator: FakeCamera) -> None:
    with pytest.raises(DataError, match=r"camera\.camera: no camera 'NOPE' found"):
        AravisSource.open(config(camera="NOPE"))


def test_a_refused_feature_names_the_field(simulator: FakeCamera) -> None:
    with pytest.raises(DataError, match=r"camera\.roi: 4096x480 at \(0, 0\) does not fit"):
        AravisSource.open(config(roi={"x": 0, "y": 0, "width": 4096, "height": 480}))


@pytest.mark.parametrize(
    ("pixel_format", "mono", "shape"),
    [
        ("Mono8", False, (480, 640, 3)),
        ("Mono8", True, (480, 640, 1)),
        ("BayerRG8", False, (480, 640, 3)),
        ("RGB8", False, (480, 640, 3)),
    ],
)
def test_free_run_frames_carry_their_origin(
    simulator: FakeCamera, pixel_format: str, mono: bool, shape: tuple[int, ...]
) -> None:
    with AravisSource.open(config(pixel_format=pixel_format, mono=mono)) as source:
        assert source.frame_shape == shape
        out = np.zeros(shape, np.uint8)
        ids = []
        for _ in range(5):
            assert source.read(out) is out  # written into the caller's buffer
            ids.append(source.origin.frame_id)
            assert source.origin.camera_id == CAMERA_ID
            assert source.origin.pixel_format == pixel_format
            assert source.origin.timestamp_ns
        assert out.mean() > 10  # the simulator's test pattern, not a black frame
        assert ids == sorted(ids) and len(set(ids)) == 5
        if pixel_format == "Mono8" and not mono:
            assert (out[..., 0] == out[..., 2]).all()


def test_features_are_set_and_listed(simulator: FakeCamera) -> None:
    with AravisSource.open(config(exposure_us=2500, roi={"width": 320, "height": 240})):
        pass
    values = {f.name: f.value for f in camera_features(open_camera(aravis_module(), ADDRESS))}
    assert values["Width"] == "320" and values["Height"] == "240"
    assert float(values["ExposureTimeAbs"]) == 2500
    assert values["PixelFormat"] == "Mono8"


def test_software_trigger_one_frame_per_read(simulator: FakeCamera) -> None:
    with AravisSource.open(config(trigger={"source": "Software"}, frame_rate=None)) as source:
        ids = []
        for _ in range(4):
            assert source.read() is not None
            ids.append(source.origin.frame_id)
        assert ids == list(range(ids[0], ids[0] + 4))  # nothing between the triggers
        assert source.report().ok


def test_line_trigger_idle_is_not_lost(simulator: FakeCamera) -> None:
    """Line0 never fires here: the source waits, asks the camera, and does not give up."""
    trigger = {"source": "Line0", "liveness_s": 0.2}
    with AravisSource.open(config(trigger=trigger, frame_rate=None)) as source:
        result: list[object] = []
        reader = threading.Thread(target=lambda: result.append(source.read()))
        reader.start()
        time.sleep(1.0)  # five liveness checks
        assert reader.is_alive()
        source.interrupt()
        reader.join(2.0)
        assert result == [None]


def test_recovers_after_the_simulator_restarts(simulator: FakeCamera) -> None:
    cfg = config(frame_timeout_s=0.5, reconnect={"initial_s": 0.2, "max_s": 0.5})
    source = AravisSource.open(cfg)
    pool = FramePool(source.frame_shape, 4)
    states: list[CaptureState] = []
    frames: list[int | None] = []
    notes: list[SourceNote] = []

    def on_frame(frame) -> None:  # type: ignore[no-untyped-def]
        frames.append(frame.origin.frame_id if frame.origin else None)
        frame.done()

    capture = Capture(
        source,
        pool,
        on_frame,
        reopen=lambda: AravisSource.open(cfg),
        backoff=Backoff(initial_s=0.2, max_s=0.5),
        on_state=lambda state, _: states.append(state),
    )
    capture.listen(notes.append)
    capture.start()
    try:
        wait_for(lambda: len(frames) >= 3)
        simulator.kill()
        wait_for(lambda: CaptureState.RECONNECTING in states)
        simulator.start()
        wait_for(lambda: states[-1] is CaptureState.RUNNING and len(states) >= 3, 20.0)
        count = len(frames)
        wait_for(lambda: len(frames) >= count + 3)
    finally:
        capture.stop()
    assert states[:3] == [CaptureState.RUNNING, CaptureState.RECONNECTING, CaptureState.RUNNING]


def test_lost_camera_raises_source_lost(simulator: FakeCamera) -> None:
    source = AravisSource.open(config(frame_timeout_s=0.3))
    try:
        assert source.read() is not None
        simulator.kill()
        with pytest.raises(SourceLost):
            for _ in range(1000):
                source.read()
    finally:
        source.close()
        simulator.start()


def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


@pytest.mark.parametrize(("trigger", "parts"), [(None, False), ({"source": "Software"}, True)])
def test_lost_packets_are_counted_and_announced_once_a_second(
    simulator: FakeCamera, trigger: dict[str, str] | None, parts: bool
) -> None:
    """The simulator restarted to drop 5% of its stream packets."""
    notes: list[SourceNote] = []
    simulator.restart(lost_per_thousand=50)
    try:
        fields = {"roi": {"width": 64, "height": 48}, "frame_rate": 200, "trigger": trigger}
        with AravisSource.open(config(**fields)) as source:
            source.listen(notes.append)
            started = time.monotonic()
            for _ in range(150):
                assert source.read() is not None
            elapsed = time.monotonic() - started
            report = source.report()
    finally:
        simulator.restart(lost_per_thousand=0)
    assert report.frames_read == 150 and report.frames_undecodable > 0
    assert not report.ok and "incomplete" in report.problems[0]
    assert 1 <= len(notes) <= elapsed + 1  # one note, then at most one a second
    assert {(n.kind, n.parts) for n in notes} == {("frames_missed", parts)}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"roi": {"width": 4096, "height": 8}}, r"camera\.roi"),
        ({"strobe": {"line": "Line1"}}, r"camera\.strobe: .*no LineSelector"),
        ({"trigger": {"source": "Line7"}}, r"camera\.trigger\.source"),
    ],
)
def test_a_failed_start_gives_the_camera_back(
    simulator: FakeCamera, fields: dict[str, object], error: str
) -> None:
    """A GigE camera takes one controller: a start that failed must not keep it."""
    with pytest.raises(DataError, match=error):
        AravisSource.open(config(**fields))
    with AravisSource.open(config()) as source:
        assert source.read() is not None


def test_a_stalled_stream_is_restarted(simulator: FakeCamera) -> None:
    """The camera answers but stops sending (AcquisitionStop from outside the source):
    after frame_timeout_s the stream is restarted once, noted, and frames come again."""
    notes: list[SourceNote] = []
    with AravisSource.open(config(frame_timeout_s=0.5)) as source:
        source.listen(notes.append)
        assert source.read() is not None
        source._opened.camera.stop_acquisition()  # the stall, on the real camera
        waits = []
        for _ in range(20):  # the frames already in the stream's buffers, then the stall
            started = time.monotonic()
            assert source.read() is not None
            waits.append(time.monotonic() - started)
    assert max(waits) >= 0.5
    assert [(n.kind, n.count) for n in notes] == [("stream_restarted", 1)]
