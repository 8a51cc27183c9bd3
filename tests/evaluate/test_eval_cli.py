"""`inspector eval` on the shipped models and the project's own held-out splits."""

import json
import re
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
    pytest.importorskip("ultralytics", reason="Ultralytics comes with the train extra")
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


def test_bootstrap_and_compare_with_itself(neu_split: Path):
    """The shipped model against itself: each interval holds its figure, and the paired
    difference is exactly 0 on every resample."""
    model = str(shipped_model("neu-det"))
    result = run_eval(
        "--model",
        model,
        "--compare",
        model,
        "--data",
        str(neu_split),
        "--json",
        "--bootstrap",
        "20",
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["bootstrap"] == {"resamples": 20, "seed": 0}
    for metric in ("map50", "map50_95"):
        lo, hi = doc["intervals"][metric]
        assert lo <= doc[metric] <= hi
        assert doc["compare"]["intervals"][metric] == doc["intervals"][metric]
        assert doc["difference"][metric] == 0.0
        assert doc["difference"]["intervals"][metric] == [0.0, 0.0]
        assert doc["difference"]["share_at_or_below_zero"][metric] == 1.0
    assert doc["compare"]["images"] == doc["images"] == 287


def test_bootstrap_printed_beside_the_figures(neu_split: Path):
    result = run_eval(
        "--model",
        str(shipped_model("neu-det")),
        "--data",
        str(neu_split),
        "--bootstrap",
        "5",
        "--seed",
        "3",
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"mAP50 0\.\d{3} \(95% CI 0\.\d{3}-0\.\d{3}\)", result.stdout)
    assert "5 resamples of the images, seed 3" in result.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bootstrap", "-1"], "--bootstrap: -1 resamples; give 1 or more"),
        (["--bootstrap", "5"], "--bootstrap and --compare score boxes; a defect map has none"),
        (
            ["--compare", str(shipped_model("neu-det"))],
            "classes ['crazing', 'inclusion', 'patches', 'pitted_surface', 'rolled-in_scale', "
            "'scratches'] differ from",
        ),
    ],
)
def test_bad_bootstrap_or_compare(tile_model: Path, tile_split: Path, extra, message):
    result = run_eval("--model", str(tile_model), "--data", str(tile_split), *extra)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
