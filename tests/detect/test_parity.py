"""Backend parity: the shipped models through ONNX Runtime and OpenVINO FP32 on the same
images give the same detections (boxes within 1 px, same classes, scores within 0.01)
and the same mAP (within 0.005) on the project's validation splits."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("openvino")

from inspector.data.yolo import DatasetSpec, load_dataset
from inspector.detect import DecodeParams, open_detector
from inspector.detect.config import OpenVinoConfig
from inspector.evaluate.runner import evaluate
from inspector.evaluate.workflow import EVAL_PARAMS
from inspector.types import Detections
from tests.conftest import shipped_model

FP32 = OpenVinoConfig(kind="openvino", precision="f32")
BOX_PX, SCORE, MAP = 1.0, 0.01, 0.005
IMAGES = 40  # per model, for the detection-by-detection comparison


def ordered(found: Detections) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes, scores and classes in an order that does not hang on near-equal scores."""
    order = np.lexsort((found.xyxy[:, 1], found.xyxy[:, 0], found.class_id))
    return found.xyxy[order], found.score[order], found.class_id[order]


@pytest.fixture(scope="module", params=["neu-det", "magnetic-tile"])
def case(request, neu_split: Path, tile_split: Path) -> tuple[Path, DatasetSpec]:
    data = neu_split if request.param == "neu-det" else tile_split
    return shipped_model(request.param), load_dataset(data)


def test_same_detections_on_the_same_images(case):
    model, spec = case
    params = DecodeParams(conf=0.25)
    compared = 0
    with (
        open_detector(model, "onnxruntime", params) as ort,
        open_detector(model, FP32, params) as ov,
    ):
        for path in spec.images("val")[:IMAGES]:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            want, have = ordered(ort.detect(frame)), ordered(ov.detect(frame))
            assert len(have[0]) == len(want[0]), path.name
            np.testing.assert_allclose(have[0], want[0], atol=BOX_PX, err_msg=path.name)
            np.testing.assert_allclose(have[1], want[1], atol=SCORE, err_msg=path.name)
            np.testing.assert_array_equal(have[2], want[2], err_msg=path.name)
            compared += len(want[0])
    assert compared > 0, "no detections: the comparison proves nothing"


def test_same_map_on_the_validation_split(case):
    model, spec = case
    with open_detector(model, "onnxruntime", EVAL_PARAMS) as ort:
        want = evaluate(ort, spec).metrics
    with open_detector(model, FP32, EVAL_PARAMS) as ov:
        have = evaluate(ov, spec).metrics
    assert abs(have["map50"] - want["map50"]) <= MAP, (have, want)
    assert abs(have["map50_95"] - want["map50_95"]) <= MAP, (have, want)
