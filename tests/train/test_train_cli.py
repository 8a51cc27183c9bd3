"""`inspector train` and `export` for real: a tiny model trained for one epoch on real tiles."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.detect import open_detector
from inspector.modelcard import load_card

pytestmark = pytest.mark.train


def inspector(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def tiny_run(small_tiles: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("train")
    assert (
        inspector(
            "data", "convert-masks", str(small_tiles), str(work / "ds"), "--val-fraction", "0.5"
        ).returncode
        == 0
    )
    result = inspector(
        "train",
        "--data",
        str(work / "ds" / "data.yaml"),
        "--model",
        "yolo11n.yaml",
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--project",
        str(work / "runs"),
        "--name",
        "tiny",
        cwd=work,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return work


def test_run_folder_holds_weights_onnx_and_card(tiny_run: Path):
    weights = tiny_run / "runs" / "tiny" / "weights"
    assert (weights / "best.pt").is_file()
    card = load_card(weights / "best.onnx")
    assert card is not None
    assert card.classes == ["blowhole", "crack"]
    assert card.imgsz == [64, 64]
    assert card.source_weights_sha256 and card.model_sha256
    assert {"ultralytics", "torch", "onnxruntime"} <= set(card.runtime_versions)
    with open_detector(weights / "best.onnx") as detector:
        assert detector.info.names == ("blowhole", "crack")
        assert detector.info.input_hw == (64, 64)


def test_nothing_is_overwritten_without_force(tiny_run: Path):
    again = inspector(
        "train",
        "--data",
        str(tiny_run / "ds" / "data.yaml"),
        "--project",
        str(tiny_run / "runs"),
        "--name",
        "tiny",
        cwd=tiny_run,
    )
    assert again.returncode != 0
    assert "run folder exists (use --force or --resume)" in again.stderr
    export = inspector("export", "--weights", str(tiny_run / "runs/tiny/weights/best.pt"))
    assert export.returncode != 0
    assert "best.onnx: already exists (use --force)" in export.stderr


def test_export_openvino_and_eval_through_it(tiny_run: Path):
    weights = tiny_run / "runs/tiny/weights/best.pt"
    notes = ["continued from run A", "second line"]
    export = inspector(
        "export", "--weights", str(weights), "--format", "openvino", *_notes_args(notes)
    )
    assert export.returncode == 0, export.stderr[-2000:]
    folder = weights.with_name("best_openvino_model")
    card = load_card(folder)
    assert (card.format, card.notes) == ("openvino", notes)
    result = inspector(
        "eval",
        "--model",
        str(folder),
        "--backend",
        "openvino",
        "--data",
        str(tiny_run / "ds" / "data.yaml"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["backend"] == "openvino"
    assert doc["images"] == 9


def _notes_args(notes: list[str]) -> list[str]:
    return [arg for line in notes for arg in ("--note", line)]


def test_engine_export_says_tensorrt_is_missing(tiny_run: Path):
    result = inspector(
        "export", "--weights", str(tiny_run / "runs/tiny/weights/best.pt"), "--format", "engine"
    )
    assert result.returncode != 0
    assert "needs TensorRT and an NVIDIA GPU" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def end2end_model(tiny_run: Path) -> Path:
    """A YOLO26 model: its ONNX export has the end-to-end (1, N, 6) head, no NMS."""
    result = inspector(
        "train",
        "--data",
        str(tiny_run / "ds" / "data.yaml"),
        "--model",
        "yolo26n.yaml",
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--project",
        str(tiny_run / "runs"),
        "--name",
        "e2e",
        "--no-export",
        cwd=tiny_run,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    weights = tiny_run / "runs" / "e2e" / "weights" / "best.pt"
    export = inspector("export", "--weights", str(weights), "--end2end", "--force")
    assert export.returncode == 0, export.stderr[-2000:]
    return weights.with_suffix(".onnx")


def test_end2end_layout_decodes_like_ultralytics(end2end_model: Path, small_tiles: Path):
    import cv2
    import numpy as np

    from inspector.detect import DecodeParams
    from inspector.detect.yolo import Layout
    from inspector.train.offline import import_ultralytics

    reference = import_ultralytics().YOLO(str(end2end_model), task="detect")
    compared = 0
    with open_detector(end2end_model, params=DecodeParams(conf=0.001)) as detector:
        assert detector.layout is Layout.END2END
        for image in sorted(small_tiles.glob("*/*.jpg"))[:6]:
            frame = cv2.imread(str(image))
            ours = detector.detect(frame)
            theirs = reference.predict(frame, conf=0.001, verbose=False, device="cpu")[0].boxes
            assert len(ours) == len(theirs), image.name
            order = np.argsort(-ours.score, kind="stable")
            assert np.abs(ours.xyxy[order] - theirs.xyxy.numpy()).max(initial=0) <= 1.0
            assert ours.class_id[order].tolist() == theirs.cls.numpy().astype(int).tolist()
            compared += len(ours)
    assert compared > 0, "no detections to compare: the test would prove nothing"
