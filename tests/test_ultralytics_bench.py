"""`inspector bench --versus-ultralytics`: the station against Ultralytics predict on its
own OpenVINO export. What the figures are, not how fast: that is the benchmark's business."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.errors import InspectorError, ModelError
from inspector.modelcard import card_path_for
from inspector.ultralytics_bench import (
    TARGET_RATIO,
    check_ultralytics,
    ultralytics_weights,
)
from tests.conftest import shipped_model


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_the_leg_races_both_sides_over_the_same_frames():
    # in a process of its own: Ultralytics leaves a thread pool of its own running
    pytest.importorskip("ultralytics")
    pytest.importorskip("openvino")
    small = ["--rounds", "1", "--raw-iterations", "4", "--pipeline-parts", "4"]
    small += ["--latency-parts", "2", "--blocks", "1", "--block-parts", "5"]
    model = str(shipped_model("neu-det"))
    leg = ["--versus-ultralytics", "--versus-frames", "10", "--model", model]
    result = subprocess.run(
        [sys.executable, "-m", "inspector", "bench", "--json", *small, *leg],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # Ultralytics' own lines kept off stdout
    assert 0.0 <= report["host_cpu_steal"]["versus_ultralytics"] <= 1.0
    doc = report["versus_ultralytics"]
    assert doc["frames"] == 10 and doc["block_frames"] == 5
    assert doc["target_ratio"] == TARGET_RATIO
    assert Path(doc["weights"]).name == "neu-det.pt"
    ultra, station = doc["ultralytics"], doc["station"]
    assert ultra["export"] == "openvino" and ultra["imgsz"] == [224, 224]
    assert ultra["precision"] in {"f32", "bf16", "f16"}
    assert station["backend"]["name"] == "openvino"  # what auto picks on this x86 CPU
    # the neu-det card records a passed bf16 check: auto runs bf16 where the CPU has it
    from inspector.detect.openvino import cpu_has_bf16

    assert station["backend"]["precision"] == ("bf16" if cpu_has_bf16() else "f32")
    for side in (ultra, station):
        assert _finite(side["fps"]) and _finite(side["median_fps"])
        latency = side["one_at_a_time_latency_ms"]
        assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    for key in ("ratio", "ratio_median"):
        assert _finite(doc[key])
    assert doc["ratio"] == pytest.approx(station["fps"] / ultra["fps"], abs=1e-3)
    assert doc["meets_target"] == (doc["ratio"] >= TARGET_RATIO)
    pairs = doc["ratio_block_pairs"]
    assert 0 < pairs["min"] <= pairs["p50"] <= pairs["max"]


def _copy_model(tmp_path: Path, card_edit: dict | None) -> Path:
    """neu-det.onnx in tmp_path, with its card edited by `card_edit` (None: no card)."""
    source = shipped_model("neu-det")
    model = tmp_path / source.name
    shutil.copyfile(source, model)
    if card_edit is not None:
        card = json.loads(card_path_for(source).read_text()) | card_edit
        card_path_for(model).write_text(json.dumps(card))
    return model


@pytest.mark.parametrize(
    ("card_edit", "fake_weights", "error"),
    [
        (None, None, "it has no model card (neu-det.onnx.card.json)"),
        (
            {"source_weights": "models/neu-det/missing.pt"},
            None,
            "its card's source_weights models/neu-det/missing.pt is no Ultralytics .pt",
        ),
        (
            {"source_weights": "weights.safetensors"},
            "weights.safetensors",
            "its card's source_weights weights.safetensors is no Ultralytics .pt",
        ),
        ({"source_weights": "other.pt"}, "other.pt", "is not the file its card names"),
        ({"task": "defect-map"}, None, "it is a defect-map model, not an Ultralytics YOLO"),
    ],
)
def test_a_model_without_ultralytics_weights_is_refused(
    tmp_path: Path, card_edit, fake_weights, error
):
    model = _copy_model(tmp_path, card_edit)
    if fake_weights:
        (tmp_path / fake_weights).write_bytes(b"not the weights")
    with pytest.raises(ModelError, match="cannot be compared with Ultralytics") as caught:
        ultralytics_weights(model)
    assert error in str(caught.value)


def test_the_shipped_yolo_model_names_its_weights():
    weights, imgsz = ultralytics_weights(shipped_model("neu-det"))
    assert weights.name == "neu-det.pt" and imgsz == (224, 224)


def test_without_ultralytics_the_leg_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(InspectorError, match=r"train extra: pip install 'inspector\[train\]'"):
        check_ultralytics(shipped_model("neu-det"))


def test_the_command_refuses_the_defect_map_model_in_one_line_before_measuring():
    result = subprocess.run(
        [sys.executable, "-m", "inspector", "bench", "--versus-ultralytics", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "magnetic-tile.onnx cannot be compared with Ultralytics" in result.stderr
    assert "defect-map model, not an Ultralytics YOLO model" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
