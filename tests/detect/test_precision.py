"""`backend: auto`'s precision on OpenVINO: bf16 only where the model's card records a
passed `eval --check-bf16` for that very file, on a CPU with bf16; and the check itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from inspector.detect.base import file_sha256
from inspector.detect.precision import BF16_GATE, choose_precision
from inspector.modelcard import ModelCard, load_card, save_card
from tests.conftest import shipped_model
from tests.test_quantize import inspector, tiny_data

PASSED = {"metric": "map50", "f32": 0.688, "bf16": 0.686, "passed": True, "reasons": []}
FAILED = {**PASSED, "passed": False, "reasons": ["escape rate rises 0.0172 -> 0.0345"]}


def model_with_gate(folder: Path, gate: dict | None, same_file: bool = True) -> Path:
    model = folder / "m.onnx"
    model.write_bytes(b"not really a model, but a file with a sha256")
    metrics = {}
    if gate is not None:
        sha = file_sha256(model) if same_file else "0" * 64
        metrics[BF16_GATE] = {**gate, "model_sha256": sha}
    card = ModelCard(
        name="m",
        model_file="m.onnx",
        format="onnx",
        classes=["a"],
        imgsz=[32, 32],
        source_weights="m.pt",
        source_weights_sha256="0" * 64,
        created="2026-12-04",
        metrics=metrics,
    )
    save_card(card, model)
    return model


@pytest.mark.parametrize(
    ("gate", "same_file", "cpu_bf16", "precision", "reason"),
    [
        (PASSED, True, True, "bf16", "bf16 passed the card's check: map50 0.688 -> 0.686"),
        (PASSED, True, False, "f32", "bf16 passed the card's check, but this CPU has no bf16"),
        (PASSED, False, True, "f32", "the card's bf16 check was made on another model file"),
        (FAILED, True, True, "f32", "bf16 failed the card's check: escape rate rises"),
        (None, True, True, "f32", "no bf16 check on the model's card"),
    ],
)
def test_choose_precision(tmp_path: Path, gate, same_file, cpu_bf16, precision, reason):
    choice = choose_precision(model_with_gate(tmp_path, gate, same_file), cpu_bf16)
    assert choice.precision == precision
    assert choice.reason.startswith(reason)


def test_a_model_without_a_card_runs_at_f32(tmp_path: Path):
    model = tmp_path / "bare.onnx"
    model.write_bytes(b"x")
    assert choose_precision(model, cpu_has_bf16=True).precision == "f32"


@pytest.mark.parametrize(
    ("name", "passed"),
    [("neu-det", True), ("neu-det-fcos", True), ("magnetic-tile", False)],
)
def test_the_shipped_cards_record_the_check_for_their_own_file(name: str, passed: bool):
    model = shipped_model(name)
    card = load_card(model)
    assert card is not None
    gate = card.metrics[BF16_GATE]
    assert gate["model_sha256"] == file_sha256(model)
    assert gate["passed"] is passed


@pytest.mark.openvino
def test_check_bf16_records_the_gate_in_the_card(tmp_path: Path, neu_split: Path):
    pytest.importorskip("openvino")
    model = shipped_model("neu-det")
    for path in (model, model.with_name(model.name + ".card.json")):
        shutil.copy(path, tmp_path / path.name)
    copy = tmp_path / model.name
    data = tiny_data(tmp_path, neu_split, train=0, val=24)
    result = inspector(
        "eval", "--model", str(copy), "--data", str(data), "--check-bf16", "--max-drop", "1",
        "--save-card", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["passed"] is True and doc["metric"] == "map50"
    gate = json.loads(Path(doc["card"]).read_text())["metrics"][BF16_GATE]
    assert gate["model_sha256"] == file_sha256(copy) and gate["passed"] is True
    assert 0.0 <= gate["bf16"] <= 1.0 and 0.0 <= gate["f32"] <= 1.0


@pytest.mark.parametrize(
    ("model", "data", "line"),
    [
        ("models/neu-det/neu-det.onnx.card.json", "x.yaml", "--check-bf16 takes an ONNX model"),
        ("models/neu-det/neu-det.onnx", "missing.yaml", "missing.yaml"),
    ],
)
def test_check_bf16_refuses_in_one_line(model: str, data: str, line: str):
    result = inspector("eval", "--model", model, "--data", data, "--check-bf16")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and line in result.stderr, result.stderr
