"""The ONNX Runtime detector on real models: shipped ones and hand-built graphs."""

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inspector.detect import DecodeParams, open_detector
from inspector.detect.base import ModelOverrides
from inspector.errors import ConfigError, ModelError
from tests.conftest import shipped_model


def reshape_model(path: Path, out_shape: list[int], metadata: dict[str, str] | None) -> Path:
    """A real ONNX graph: input (1, 3, 32, 32) reshaped to `out_shape`."""
    shape = helper.make_tensor("shape", TensorProto.INT64, [len(out_shape)], out_shape)
    node = helper.make_node("Reshape", ["images", "shape"], ["output0"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        initializer=[shape],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


META_1CLASS = {"names": "{0: 'defect'}", "imgsz": "[32, 32]", "stride": "32"}


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda p: p, "model file not found"),
        (lambda p: (p.write_text("not a model"), p)[1], "not a loadable ONNX model"),
        (lambda p: reshape_model(p, [1, 3, 1024], META_1CLASS), "matches no known layout"),
        (lambda p: reshape_model(p, [1, 6, 512], None), "no 'names' in the model metadata"),
        (
            lambda p: reshape_model(p, [1, 6, 512], {"names": "{0: 'a', 1: 'b'}"}),
            "no 'imgsz' in the model metadata",
        ),
        (
            lambda p: reshape_model(
                p, [1, 6, 512], {**META_1CLASS, "imgsz": "[64, 64]", "names": "{0: 'a', 1: 'b'}"}
            ),
            r"input is \(32, 32\) but metadata says \(64, 64\)",
        ),
    ],
)
def test_bad_models_name_the_file(tmp_path: Path, make, error):
    path = make(tmp_path / "m.onnx")
    with pytest.raises(ModelError, match=error) as info:
        open_detector(path)
    assert "m.onnx" in str(info.value)


@pytest.mark.parametrize(("multi_label", "classes"), [(False, [0]), (True, [0, 1])])
def test_missing_metadata_can_be_given(tmp_path: Path, multi_label, classes):
    path = reshape_model(tmp_path / "m.onnx", [1, 6, 512], None)
    overrides = ModelOverrides(names=("a", "b"), imgsz=32, stride=32)
    params = DecodeParams(multi_label=multi_label)
    with open_detector(path, params=params, overrides=overrides) as detector:
        assert detector.info.names == ("a", "b")
        # a white frame makes all 512 boxes (1, 1, 1, 1) scoring 1 in both classes:
        # NMS keeps one box, or one per class when a box may carry several labels
        found = detector.detect(np.full((32, 32, 3), 255, np.uint8))
    assert sorted(found.class_id.tolist()) == classes
    assert found.score.tolist() == [1.0] * len(classes)


def test_unknown_backend():
    with pytest.raises(ConfigError, match=r"model\.backend: unknown 'tflite'"):
        open_detector(Path(__file__), backend="tflite")


@pytest.mark.parametrize(
    ("name", "kind", "classes", "input_hw", "stride"),
    [
        ("neu-det", "detect", 6, (224, 224), 32),
        ("neu-det-fcos", "detect", 6, (320, 320), 32),
        ("magnetic-tile", "defect-map", 1, (224, 224), 16),
    ],
)
def test_shipped_model_metadata(name, kind, classes, input_hw, stride):
    with open_detector(shipped_model(name)) as detector:
        info = detector.info
        assert (info.kind, info.num_classes, info.input_hw, info.stride) == (
            kind,
            classes,
            input_hw,
            stride,
        )
        assert len(info.sha256) == 64


def test_detect_reuses_its_buffers(datasets: Path):
    image = cv2.imread(str(sorted((datasets / "neu-det/images/train").glob("*.jpg"))[0]))
    with open_detector(shipped_model("neu-det"), params=DecodeParams(conf=0.01)) as detector:
        first = detector.detect(image)
        tensor_before = detector.letterbox.tensor
        second = detector.detect(image.copy())
        assert detector.letterbox.tensor is tensor_before
    assert np.array_equal(first.xyxy, second.xyxy)


@pytest.mark.train
@pytest.mark.parametrize("name", ["neu-det"])  # the shipped Ultralytics models
def test_decoding_matches_ultralytics(name, datasets: Path):
    """Same images through Ultralytics' predictor and ours: same boxes within a pixel."""
    pytest.importorskip("ultralytics", reason="Ultralytics comes with the train extra")
    from inspector.train.offline import import_ultralytics

    ultralytics = import_ultralytics()
    model_path = shipped_model(name)
    reference = ultralytics.YOLO(str(model_path), task="detect")
    folder = datasets / ("neu-det/images/train" if name == "neu-det" else "magnetic-tile/MT_Crack")
    images = sorted(folder.glob("*.jpg"))[:8]
    compared = 0
    with open_detector(model_path, params=DecodeParams(conf=0.05)) as detector:
        for path in images:
            frame = cv2.imread(str(path))
            ours = detector.detect(frame)
            theirs = reference.predict(frame, conf=0.05, verbose=False, device="cpu")[0].boxes
            assert len(ours) == len(theirs), path.name
            order = np.argsort(-ours.score, kind="stable")
            assert np.abs(ours.xyxy[order] - theirs.xyxy.numpy()).max(initial=0) <= 1.0
            assert ours.class_id[order].tolist() == theirs.cls.numpy().astype(int).tolist()
            compared += len(ours)
    assert compared > 0, "no detections to compare: the test would prove nothing"


def test_detect_allocates_no_frame_sized_buffers(datasets: Path):
    import tracemalloc

    frame = cv2.imread(str(sorted((datasets / "neu-det/images/train").glob("*.jpg"))[0]))
    frame = cv2.resize(frame, (640, 480))
    with open_detector(shipped_model("neu-det"), params=DecodeParams(conf=0.25)) as detector:
        for _ in range(3):
            detector.detect(frame)  # warm-up: buffers for this frame size
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        for _ in range(20):
            detector.detect(frame)
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
    growth = sum(stat.size_diff for stat in after.compare_to(before, "lineno"))
    largest = max((stat.size for stat in after.statistics("traceback")), default=0)
    assert growth < 64 * 1024, f"detect() keeps allocating: {growth} bytes over 20 calls"
    assert largest < frame.nbytes // 4, f"a {largest}-byte block lives on after detect()"
