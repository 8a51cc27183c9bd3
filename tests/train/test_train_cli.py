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
    assert inspector("export", "--weights", str(weights), "--format", "openvino").returncode == 0
    folder = weights.with_name("best_openvino_model")
    assert load_card(folder).format == "openvino"
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


def test_engine_export_says_tensorrt_is_missing(tiny_run: Path):
    result = inspector(
        "export", "--weights", str(tiny_run / "runs/tiny/weights/best.pt"), "--format", "engine"
    )
    assert result.returncode != 0
    assert "needs TensorRT and an NVIDIA GPU" in result.stderr
    assert "Traceback" not in result.stderr
