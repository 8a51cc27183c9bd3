"""`inspector eval` on the shipped models and the project's own held-out splits."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.modelcard import card_path_for, load_card
from tests.conftest import shipped_model

KEYS = {"map50", "map50_95", "per_class", "precision", "recall", "images", "backend"}
PASS_FAIL_KEYS = {"escape_rate", "false_reject_rate", "threshold"}


def run_eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "eval", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def neu_eval(neu_split: Path) -> dict:
    result = run_eval("--model", str(shipped_model("neu-det")), "--data", str(neu_split), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_eval_json(neu_eval: dict):
    assert set(neu_eval) >= KEYS
    assert neu_eval["images"] == 287
    assert neu_eval["backend"] == "onnxruntime"
    assert set(neu_eval["per_class"]) == {
        "crazing",
        "inclusion",
        "patches",
        "pitted_surface",
        "rolled-in_scale",
        "scratches",
    }


@pytest.mark.train
def test_map50_agrees_with_ultralytics_validator(neu_eval: dict, neu_split: Path):
    from inspector.train.offline import import_ultralytics

    model = import_ultralytics().YOLO(str(shipped_model("neu-det")), task="detect")
    metrics = model.val(
        data=str(neu_split), imgsz=224, batch=1, device="cpu", plots=False, verbose=False
    )
    assert abs(neu_eval["map50"] - metrics.box.map50) <= 0.02


@pytest.fixture
def tile_model(tmp_path: Path) -> Path:
    """A copy of the shipped demo model and its card, free to be rewritten."""
    source = shipped_model("magnetic-tile")
    target = tmp_path / source.name
    shutil.copy(source, target)
    shutil.copy(card_path_for(source), card_path_for(target))
    return target


def test_pass_fail_with_max_escape_updates_the_card(tile_model: Path, tile_split: Path):
    result = run_eval(
        "--model",
        str(tile_model),
        "--data",
        str(tile_split),
        "--json",
        "--pass-fail",
        "--max-escape",
        "0.5",
        "--save-card",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) >= PASS_FAIL_KEYS
    assert doc["escape_rate"] <= 0.5
    card = load_card(tile_model)
    assert card.pass_fail.threshold == pytest.approx(doc["threshold"], abs=1e-4)
    assert card.metrics["deployed_onnxruntime"]["images"] == doc["images"]
    # the card's threshold is now the default, and gives the same rates
    again = json.loads(
        run_eval(
            "--model", str(tile_model), "--data", str(tile_split), "--json", "--pass-fail"
        ).stdout
    )
    assert (again["escape_rate"], again["false_reject_rate"]) == (
        doc["escape_rate"],
        doc["false_reject_rate"],
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--threshold", "0.5"], "--threshold and --max-escape need --pass-fail"),
        (["--backend", "tflite"], "model.backend: unknown 'tflite'"),
        (["--split", "test"], "no split 'test'"),
    ],
)
def test_bad_eval_arguments(tile_model: Path, tile_split: Path, extra, message):
    result = run_eval("--model", str(tile_model), "--data", str(tile_split), *extra)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_no_threshold_anywhere(tile_model: Path, tile_split: Path):
    card_path_for(tile_model).unlink()
    result = run_eval("--model", str(tile_model), "--data", str(tile_split), "--pass-fail")
    assert result.returncode == 1
    assert "no pass/fail threshold in its model card" in result.stderr


def test_classes_must_match(tile_model: Path, neu_split: Path):
    result = run_eval("--model", str(tile_model), "--data", str(neu_split))
    assert result.returncode == 1
    assert "differ from the model's ['defect']" in result.stderr
