"""Backend parity: the shipped models through ONNX Runtime and OpenVINO FP32 on the same
images give the same detections (boxes within 1 px, same classes, scores within 0.01)
and the same mAP (within 0.005) on the project's validation splits; and so do OpenVINO's
two preprocess paths (the host's float letterbox, and uint8 pixels with the conversion
folded into the model), on the same images, direct and through a calibration remap."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("openvino")

from inspector.data.yolo import DatasetSpec, load_dataset
from inspector.detect import DecodeParams, open_detector
from inspector.detect.config import OpenVinoConfig
from inspector.detect.lane import SerialLane
from inspector.evaluate.runner import evaluate
from inspector.evaluate.workflow import EVAL_PARAMS
from inspector.types import Detections, Region
from inspector.vision.rectify import Rectifier
from tests.conftest import shipped_model

FP32 = OpenVinoConfig(kind="openvino", precision="f32", preprocess="host")
FOLDED = OpenVinoConfig(kind="openvino", precision="f32", preprocess="model")
# (reference, candidate): each pair must agree on every image
PAIRS = {
    "onnxruntime-vs-openvino": ("onnxruntime", FP32),
    "openvino-host-vs-model-preprocess": (FP32, FOLDED),
}
BOX_PX, SCORE, MAP = 1.0, 0.01, 0.005
IMAGES = 40  # per model, for the detection-by-detection comparison


def ordered(found: Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, scores and classes in an order that does not hang on near-equal scores."""
    order = np.lexsort((found.xyxy[:, 1], found.xyxy[:, 0], found.class_id))
    return found.xyxy[order], found.score[order], found.class_id[order]


@pytest.fixture(scope="module", params=["neu-det", "neu-det-fcos", "magnetic-tile"])
def case(request, neu_split: Path, tile_split: Path) -> tuple[Path, DatasetSpec]:
    data = tile_split if request.param == "magnetic-tile" else neu_split
    return shipped_model(request.param), load_dataset(data)


def assert_same(want: Detections, have: Detections, name: str) -> int:
    """The two agree detection by detection; how many there were."""
    w, h = ordered(want), ordered(have)
    assert len(h[0]) == len(w[0]), name
    np.testing.assert_allclose(h[0], w[0], atol=BOX_PX, err_msg=name)
    np.testing.assert_allclose(h[1], w[1], atol=SCORE, err_msg=name)
    np.testing.assert_array_equal(h[2], w[2], err_msg=name)
    return len(w[0])


@pytest.mark.parametrize("pair", PAIRS.values(), ids=PAIRS.keys())
def test_same_detections_on_the_same_images(case, pair):
    model, spec = case
    params = DecodeParams(conf=0.25)
    compared = 0
    with (
        open_detector(model, pair[0], params) as ref,
        open_detector(model, pair[1], params) as cand,
    ):
        for path in spec.images("val")[:IMAGES]:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            compared += assert_same(ref.detect(frame), cand.detect(frame), path.name)
            # a grey camera's frame takes the grey branches of both letterboxes
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            assert_same(ref.detect(grey), cand.detect(grey), f"{path.name} (grey)")
    assert compared > 0, "no detections: the comparison proves nothing"


def test_same_detections_through_the_calibration_remap(case):
    """The rectifier (undistortion, ROI and letterbox in one remap) writes each
    preprocess path's tensor, float NCHW or uint8 NHWC: same detections."""
    model, spec = case
    params = DecodeParams(conf=0.25)
    compared = 0
    with open_detector(model, FP32, params) as host, open_detector(model, FOLDED, params) as folded:
        lanes: dict[tuple[int, ...], list[SerialLane]] = {}
        for path in spec.images("val")[:IMAGES]:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            h, w = frame.shape[:2]
            if (h, w) not in lanes:  # the lens of a made-up camera of this image size
                matrix = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], np.float64)
                dist = np.array([-0.05, 0.01, 0, 0, 0], np.float64)
                # no flat-field gain: the uint8 path refuses one (rounded to grey
                # levels it moves the defect map's cells by up to 0.1)
                rect = Rectifier.build(matrix, dist, (w, h), None, host.info.input_hw)
                lanes[h, w] = [SerialLane(host, rect), SerialLane(folded, rect)]
            region = Region(4, 4, frame.shape[1] - 4, frame.shape[0] - 4)
            found = [lane.result(lane.submit(frame, frame, region)) for lane in lanes[h, w]]
            compared += assert_same(*found, path.name)
    assert compared > 0, "no detections: the comparison proves nothing"


@pytest.mark.parametrize("pair", PAIRS.values(), ids=PAIRS.keys())
def test_same_map_on_the_validation_split(case, pair):
    model, spec = case
    with open_detector(model, pair[0], EVAL_PARAMS) as ref:
        want = evaluate(ref, spec).metrics
    with open_detector(model, pair[1], EVAL_PARAMS) as cand:
        have = evaluate(cand, spec).metrics
    assert abs(have["map50"] - want["map50"]) <= MAP, (have, want)
    assert abs(have["map50_95"] - want["map50_95"]) <= MAP, (have, want)
