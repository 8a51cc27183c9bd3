"""Inference lanes on the shipped model: in line, and on an inference thread beside."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from inspector.detect import DecodeParams, open_detector
from inspector.detect.base import usable_cores
from inspector.detect.config import OpenVinoConfig
from inspector.detect.lane import AsyncLane, Lane, OverlappedLane, SerialLane, open_lane
from inspector.errors import InspectorError
from inspector.factory import overlap_inference
from tests.conftest import shipped_model

# OpenVINO with the letterbox's conversion folded into the model: uint8 NHWC slots
FOLDED = OpenVinoConfig(kind="openvino", preprocess="model")


@pytest.fixture(
    scope="module",
    params=["onnxruntime", "openvino", FOLDED],
    ids=["onnxruntime", "openvino", "openvino-preprocess-model"],
)
def detector(request):
    """The shipped model, one runtime thread, through each CPU backend (and OpenVINO's
    other preprocess path)."""
    with open_detector(
        shipped_model("magnetic-tile"), request.param, DecodeParams(conf=0.05), threads=1
    ) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Frames of the demo recording, tiles at several places on the belt."""
    capture = cv2.VideoCapture(str(shipped_model("magnetic-tile").parent / "demo/conveyor.mp4"))
    images = []
    for index in range(60):
        ok, image = capture.read()
        assert ok
        if index % 10 == 0:
            images.append(image)
    capture.release()
    return images


def collect_in_pairs(lane: Lane, images: list[np.ndarray]) -> list:
    """Submit each part before collecting the previous one, as the worker does."""
    results, pending = [], []
    for image in images:
        pending.append(lane.submit(image))
        if len(pending) == lane.depth:
            results.append(lane.result(pending.pop(0)))
    results += [lane.result(ticket) for ticket in pending]
    return results


def collect_one_at_a_time(lane: Lane, images: list[np.ndarray]) -> list:
    """Each part collected before the next comes, as on a line slower than the model:
    the same slot every time."""
    return [lane.result(lane.submit(image)) for image in images]


@pytest.mark.parametrize("collect", [collect_in_pairs, collect_one_at_a_time])
@pytest.mark.parametrize("lane_class", [SerialLane, OverlappedLane])
def test_a_lane_detects_what_detect_does(detector, frames, lane_class, collect):
    expected = [detector.detect(image) for image in frames]
    lane = lane_class(detector)
    lane.start()
    try:
        got = collect(lane, frames)
    finally:
        lane.close()
    assert sum(len(d) for d in expected) > 0, "no detections: the test proves nothing"
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have.xyxy, want.xyxy, atol=1e-3)
        np.testing.assert_allclose(have.score, want.score, atol=1e-5)
        np.testing.assert_array_equal(have.class_id, want.class_id)


def test_an_overlapped_lane_refuses_a_third_part_in_flight(detector, frames):
    lane = OverlappedLane(detector)
    lane.start()
    try:
        first = lane.submit(frames[0])
        lane.submit(frames[1])
        with pytest.raises(InspectorError, match="more than 2 parts in flight"):
            lane.submit(frames[2])
        lane.result(first)
        lane.submit(frames[2])  # a collected part's slot is free again
    finally:
        lane.close()


def test_an_image_the_letterbox_refuses_keeps_its_slot_free(detector, frames):
    lane = OverlappedLane(detector)
    lane.start()
    try:
        for _ in range(3):
            with pytest.raises(ZeroDivisionError):
                lane.submit(np.zeros((0, 8, 3), np.uint8))  # an empty crop
        tickets = [lane.submit(frames[0]), lane.submit(frames[1])]  # both slots still free
        got = [lane.result(t).score for t in tickets]
        want = [detector.detect(image).score for image in frames[:2]]
        for have, expected in zip(got, want, strict=True):
            np.testing.assert_allclose(have, expected, atol=1e-5)
    finally:
        lane.close()


class FailingInference:
    """Fake: the shipped detector, whose runtime fails on every call (a lost GPU)."""

    def __init__(self, real) -> None:
        self.real = real

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        raise RuntimeError("CUDA error: an illegal memory access")


def test_an_inference_error_reaches_the_worker_and_frees_the_slot(detector, frames):
    lane = OverlappedLane(FailingInference(detector))
    lane.start()
    try:
        for image in frames[:3]:  # more parts than slots: every failure gave its slot back
            ticket = lane.submit(image)
            with pytest.raises(RuntimeError, match="illegal memory access"):
                lane.result(ticket)
    finally:
        lane.close()


class Spare:
    def __init__(self, spare_cpu: bool) -> None:
        self.spare_cpu = spare_cpu


@pytest.mark.parametrize(
    ("setting", "spare_cpu", "overlap"),
    [
        ("auto", True, True),
        ("auto", False, False),
        ("on", False, True),
        ("off", True, False),
    ],
)
def test_model_overlap_setting(setting, spare_cpu, overlap):
    assert overlap_inference(setting, Spare(spare_cpu)) is overlap


@pytest.mark.parametrize(("threads", "spare"), [(None, False), (1, True)])
def test_onnxruntime_spares_a_core_only_when_given_fewer_threads(threads, spare):
    with open_detector(shipped_model("magnetic-tile"), threads=threads) as loaded:
        assert loaded.spare_cpu is (spare and usable_cores() > 1)


@pytest.mark.parametrize("overlap", [False, True])
def test_open_lane_chooses_by_overlap(detector, overlap):
    lane = open_lane(detector, overlap)
    assert isinstance(lane, OverlappedLane if overlap else SerialLane)
    assert lane.depth == (2 if overlap else 1)


def test_an_overlapped_lane_allocates_no_frame_sized_buffers(detector, frames):
    import tracemalloc

    lane = OverlappedLane(detector)
    lane.start()
    try:
        collect_in_pairs(lane, frames)  # warm-up: slots' buffers for this frame size
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for _ in range(3):
            collect_in_pairs(lane, frames)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    finally:
        lane.close()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "lineno"))
    largest = max((stat.size for stat in after.statistics("traceback")), default=0)
    assert growth < 64 * 1024, f"the lane keeps allocating: {growth} bytes over 18 parts"
    assert largest < frames[0].nbytes // 4, f"a {largest}-byte block lives on after the parts"


@pytest.fixture(scope="module", params=["host", "model"])
def throughput(request):
    """The shipped model through OpenVINO in throughput mode: three infer requests (each
    slot's tensor float NCHW, or uint8 NHWC with the conversion in the model)."""
    options = OpenVinoConfig(
        kind="openvino", mode="throughput", requests=3, preprocess=request.param
    )
    with open_detector(shipped_model("magnetic-tile"), options, DecodeParams(conf=0.05)) as loaded:
        yield loaded


@pytest.mark.parametrize("collect", [collect_in_pairs, collect_one_at_a_time])
def test_an_async_lane_detects_what_detect_does(throughput, frames, collect):
    expected = [throughput.detect(image) for image in frames]
    lane = open_lane(throughput, overlap=True)
    assert isinstance(lane, AsyncLane) and lane.depth == 3
    got = collect(lane, frames)
    assert sum(len(d) for d in expected) > 0, "no detections: the test proves nothing"
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have.xyxy, want.xyxy, atol=1e-3)
        np.testing.assert_allclose(have.score, want.score, atol=1e-5)
        np.testing.assert_array_equal(have.class_id, want.class_id)


def test_an_async_lane_refuses_more_parts_than_requests(throughput, frames):
    lane = AsyncLane(throughput)
    tickets = [lane.submit(image) for image in frames[:3]]
    with pytest.raises(InspectorError, match="more than 3 parts in flight"):
        lane.submit(frames[3])
    lane.result(tickets[0])
    lane.result(lane.submit(frames[3]))  # a collected part's slot is free again
    for ticket in tickets[1:]:
        lane.result(ticket)


@pytest.mark.parametrize(
    ("mode", "overlap", "lane_class"),
    [
        ("throughput", True, AsyncLane),
        ("throughput", False, SerialLane),
        ("latency", True, OverlappedLane),
    ],
)
def test_open_lane_drives_openvino_requests(mode, overlap, lane_class, throughput, detector):
    chosen = throughput if mode == "throughput" else detector
    assert isinstance(open_lane(chosen, overlap), lane_class)


def test_a_backend_without_requests_refuses_start(detector):
    if detector.backend != "onnxruntime":
        pytest.skip("OpenVINO starts its one request too")
    with pytest.raises(InspectorError, match="one inference at a time"):
        detector.start(0, detector.letterbox.tensor)
