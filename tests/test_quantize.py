"""INT8 with an accuracy gate: the gate as a table, bad input as one line each, and a
small quantization end to end (the shipped NEU-DET model, a few calibration images)."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.quantize import judge_gate
from tests.conftest import ROOT, shipped_model


@pytest.mark.parametrize(
    ("fp32", "int8", "escapes", "reasons"),
    [
        (0.70, 0.69, None, ()),
        (0.70, 0.68, (0.02, 0.02), ()),  # a drop of exactly max_drop passes
        (0.70, 0.67, None, ("map50 drops 0.7000 -> 0.6700 (more than 0.02)",)),
        (0.70, 0.71, (0.02, 0.03), ("escape rate rises 0.0200 -> 0.0300",)),
        (0.70, 0.71, (0.03, 0.02), ()),
        (
            0.70,
            0.60,
            (0.0, 0.05),
            ("map50 drops 0.7000 -> 0.6000 (more than 0.02)", "escape rate rises 0.0000 -> 0.0500"),
        ),
    ],
)
def test_judge_gate(fp32, int8, escapes, reasons):
    gate = judge_gate("map50", fp32, int8, escapes, max_drop=0.02)
    assert gate.reasons == reasons
    assert gate.passed is (not reasons)


def inspector(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )


def tiny_data(folder: Path, source: Path, train: int, val: int) -> Path:
    """A data.yaml listing `train` and `val` images of the NEU-DET split (by path: no
    image is copied)."""
    from inspector.data.yolo import load_dataset

    spec = load_dataset(source)
    (folder / "train.txt").write_text("".join(f"{p}\n" for p in spec.images("train")[:train]))
    (folder / "val.txt").write_text("".join(f"{p}\n" for p in spec.images("val")[:val]))
    doc = {"path": str(folder), "train": "train.txt", "val": "val.txt", "names": list(spec.names)}
    (folder / "data.yaml").write_text(json.dumps(doc))
    return folder / "data.yaml"


@pytest.fixture
def onnx_copy(tmp_path: Path) -> Path:
    model = shipped_model("neu-det")
    for path in (model, model.with_name(model.name + ".card.json")):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / model.name


@pytest.mark.parametrize(
    ("case", "line"),
    [
        ("no-calib", "--int8 needs --calib-data DATA.yaml for calibration images"),
        ("empty-calib", "calibration split 'train' has no images"),
        ("not-int8", "from an ONNX model, export makes an INT8 OpenVINO IR only"),
        ("engine", "the tensorrt backend needs an NVIDIA GPU with TensorRT and pycuda"),
    ],
)
def test_bad_int8_input_is_one_line(tmp_path: Path, onnx_copy: Path, neu_split: Path, case, line):
    args = ["export", "--weights", str(onnx_copy), "--format", "openvino"]
    if case == "engine":
        args[4] = "engine"
    if case == "no-calib":
        args.append("--int8")
    elif case == "empty-calib":
        args += ["--int8", "--calib-data", str(tiny_data(tmp_path, neu_split, 0, 4))]
    result = inspector(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and line in result.stderr, result.stderr


@pytest.mark.openvino
def test_int8_export_passes_the_gate_and_records_both(
    tmp_path: Path, onnx_copy: Path, neu_split: Path
):
    if importlib.util.find_spec("nncf") is None:  # not imported here: it starts a thread
        pytest.skip("needs the int8 extra (nncf)")
    data = tiny_data(tmp_path, neu_split, train=16, val=48)
    result = inspector(
        "export", "--weights", str(onnx_copy), "--format", "openvino", "--int8",
        "--calib-data", str(data), "--max-drop", "1.0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "neu-det_int8_openvino_model"
    card = json.loads((folder / "neu-det.xml.card.json").read_text())
    assert card["int8"] is True and card["format"] == "openvino"
    gate = card["metrics"]["int8_gate"]
    assert gate["metric"] == "map50" and gate["passed"] is True
    assert {"deployed_openvino_fp32", "deployed_openvino_int8"} <= set(card["metrics"])


@pytest.mark.openvino
def test_int8_export_refused_by_the_gate_leaves_nothing(
    tmp_path: Path, onnx_copy: Path, neu_split: Path
):
    if importlib.util.find_spec("nncf") is None:  # not imported here: it starts a thread
        pytest.skip("needs the int8 extra (nncf)")
    data = tiny_data(tmp_path, neu_split, train=4, val=24)
    result = inspector(
        "export", "--weights", str(onnx_copy), "--format", "openvino", "--int8",
        "--calib-data", str(data), "--max-drop", "-1",
    )  # fmt: skip
    assert result.returncode == 1
    assert "INT8 refused: map50 drops" in result.stderr and "(--force keeps it)" in result.stderr
    assert not (tmp_path / "neu-det_int8_openvino_model").exists()
