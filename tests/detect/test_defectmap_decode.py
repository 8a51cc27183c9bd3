"""Decoding a defect map into `Detections`: hand-made maps, then hand-made ONNX graphs
that give a map, run through both CPU backends and the station (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from inspector.detect import DecodeParams, open_detector
from inspector.detect.defectmap import DefectMapDecoder, check_map_shape
from inspector.errors import ModelError, ModelOutputError
from inspector.vision.letterbox import Geometry

STRIDE = 16
GRID = (4, 4)  # a 64 x 64 input
IDENTITY = Geometry.compute((64, 64), (64, 64))


def grid(cells: dict[tuple[int, int], float], fill: float = 0.0) -> np.ndarray:
    """A (1, 1, 4, 4) map: `fill` everywhere but the given (row, column) cells."""
    out = np.full((1, 1, *GRID), fill, np.float32)
    for (row, col), value in cells.items():
        out[0, 0, row, col] = value
    return out


def decode(output: np.ndarray, conf: float = 0.25, geometry: Geometry = IDENTITY, **kw):
    return DefectMapDecoder(GRID, STRIDE, DecodeParams(conf=conf, **kw))(output, geometry)


@pytest.mark.parametrize(
    ("cells", "boxes", "scores"),
    [
        # one region of two cells: one box over both, scored by its peak
        ({(1, 1): 0.9, (1, 2): 0.6}, [[16, 16, 48, 32]], [0.9]),
        # two regions touching along an edge are one region (4-connected)
        ({(0, 0): 0.5, (0, 1): 0.8, (1, 1): 0.4}, [[0, 0, 32, 32]], [0.8]),
        # two regions touching only at a corner are two, highest first
        ({(0, 0): 0.5, (1, 1): 0.7}, [[16, 16, 32, 32], [0, 0, 16, 16]], [0.7, 0.5]),
        # two apart, the weaker first in the map
        ({(3, 0): 0.3, (0, 3): 0.95}, [[48, 0, 64, 16], [0, 48, 16, 64]], [0.95, 0.3]),
        # nothing above the floor: no detection, the part passes
        ({(2, 2): 0.2}, [], []),
        ({}, [], []),
    ],
)
def test_regions_become_boxes_with_their_peak(cells, boxes, scores):
    found = decode(grid(cells))
    assert found.xyxy.tolist() == boxes
    assert np.allclose(found.score, scores)
    assert found.class_id.tolist() == [0] * len(boxes)


def test_the_part_score_is_the_maps_maximum():
    rng = np.random.default_rng(0)
    output = rng.uniform(0, 1, (1, 1, *GRID)).astype(np.float32)
    found = decode(output, conf=0.001)  # what `eval` decodes at
    assert float(found.score.max()) == pytest.approx(float(output.max()))


def test_max_det_keeps_the_strongest_regions():
    found = decode(grid({(0, 0): 0.5, (2, 2): 0.9, (0, 3): 0.7}), max_det=2)
    assert np.allclose(found.score, [0.9, 0.7])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", [(0, 0), (3, 3)])
def test_non_finite_maps_raise(bad: float, where: tuple[int, int]):
    # even where nothing else is above the floor: NaN must never read as a pass
    with pytest.raises(ModelOutputError, match="NaN or infinite"):
        decode(grid({where: bad}))


def test_boxes_map_back_through_the_letterbox_and_ignore_the_padding():
    # a 32 x 64 (h x w) frame in a 64 x 64 input: gain 1, 16 px of padding above and below
    geometry = Geometry.compute((32, 64), (64, 64))
    assert (geometry.pad_x, geometry.pad_y) == (0, 16)
    # cells in the padding rows (0 and 3) say nothing about the part, even when high
    found = decode(grid({(0, 0): 0.99, (3, 3): 0.99, (1, 2): 0.6}), geometry=geometry)
    assert found.xyxy.tolist() == [[32, 0, 48, 16]]
    assert np.allclose(found.score, [0.6])


@pytest.mark.parametrize(
    ("shape", "ok"),
    [((1, 1, 4, 4), True), ((-1, 1, 4, 4), True), ((1, 2, 4, 4), False), ((1, 1, 8, 8), False)],
)
def test_map_shape_is_checked(shape, ok):
    if ok:
        assert check_map_shape(shape, (64, 64), STRIDE, "m.onnx") == GRID
    else:
        with pytest.raises(ModelError, match="not a defect map"):
            check_map_shape(shape, (64, 64), STRIDE, "m.onnx")


# ---------------------------------------------------------------- hand-made ONNX maps

NORMALIZATION = json.dumps({"in_graph": True, "mean": [0.5] * 3, "std": [0.5] * 3})
META = {
    "kind": "defect-map",
    "names": json.dumps({"0": "defect"}),
    "imgsz": "[64, 64]",
    "stride": "16",
    "normalization": NORMALIZATION,
}


def darkness_map(path: Path, metadata: dict[str, str], out_channels: int = 1) -> Path:
    """A real graph giving a defect map: each cell's score is how dark it is on average
    (1 - mean of its 16 x 16 pixels), so a dark blob on a light part is a defect."""
    nodes = [
        helper.make_node("ReduceMean", ["images", "axes"], ["grey"], keepdims=1),
        helper.make_node(
            "AveragePool", ["grey"], ["pooled"], kernel_shape=[16, 16], strides=[16, 16]
        ),
        helper.make_node("Sub", ["one", "pooled"], ["dark"]),
        helper.make_node("Tile", ["dark", "repeats"], ["defect_map"]),
    ]
    initializers = [
        helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
        helper.make_tensor("one", TensorProto.FLOAT, [], [1.0]),
        helper.make_tensor("repeats", TensorProto.INT64, [4], [1, out_channels, 1, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "darkness",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("defect_map", TensorProto.FLOAT, [1, out_channels, 4, 4])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    helper.set_model_props(model, metadata)
    onnx.save(model, str(path))
    return path


def light_part_with_dark_spot(spot_xy: tuple[int, int] | None) -> np.ndarray:
    """A 128 x 128 light-grey BGR frame, a black 32 x 32 spot at `spot_xy` if given."""
    frame = np.full((128, 128, 3), 230, np.uint8)
    if spot_xy is not None:
        x, y = spot_xy
        frame[y : y + 32, x : x + 32] = 0
    return frame


@pytest.fixture(
    scope="module", params=["onnxruntime", pytest.param("openvino", marks=pytest.mark.openvino)]
)
def map_detector(request, tmp_path_factory: pytest.TempPathFactory):
    """The darkness map through each CPU backend (module-wide: OpenVINO keeps a thread)."""
    path = darkness_map(tmp_path_factory.mktemp("dark") / "dark.onnx", META)
    with open_detector(path, request.param, DecodeParams(conf=0.5)) as loaded:
        yield loaded


@pytest.mark.parametrize(
    ("spot", "boxes"),
    [((32, 64), [[32, 64, 64, 96]]), ((96, 0), [[96, 0, 128, 32]]), (None, [])],
)
def test_backends_decode_a_defect_map_in_frame_pixels(map_detector, spot, boxes):
    assert map_detector.info.kind == "defect-map"
    assert map_detector.layout is None
    found = map_detector.detect(light_part_with_dark_spot(spot))
    assert found.xyxy.tolist() == boxes
    assert found.score.tolist() == ([pytest.approx(1.0)] if boxes else [])


@pytest.mark.parametrize(
    ("metadata", "out_channels", "error"),
    [
        ({**META, "kind": "segment"}, 1, "metadata kind 'segment' is unknown"),
        (
            {**META, "normalization": json.dumps({"in_graph": False})},
            1,
            "normalised outside the graph",
        ),
        ({**META, "normalization": "{oops"}, 1, "'normalization' is unreadable"),
        ({**META, "names": json.dumps({"0": "a", "1": "b"})}, 1, "a defect map has one class"),
        (META, 2, "is not a defect map"),
    ],
)
def test_bad_defect_map_models_are_refused(tmp_path: Path, metadata, out_channels, error):
    path = darkness_map(tmp_path / "m.onnx", metadata, out_channels)
    with pytest.raises(ModelError, match=error):
        open_detector(path)


def test_the_station_judges_parts_with_a_defect_map(tmp_path: Path):
    """The judge, log and verdicts work on a defect map unchanged: dark spots fail."""
    from inspector.config import parse_config
    from inspector.factory import build_station
    from inspector.types import Verdict
    from tests.test_station import Collect

    frames = tmp_path / "frames"
    frames.mkdir()
    spots = [(32, 64), None, (0, 0), None]
    for i, spot in enumerate(spots):
        cv2.imwrite(str(frames / f"{i:03d}.png"), light_part_with_dark_spot(spot))
    cfg = parse_config(
        {
            "camera": {"kind": "folder", "path": str(frames), "pace": "fast"},
            "trigger": {"kind": "line"},
            "model": {"path": str(darkness_map(tmp_path / "dark.onnx", META))},
            "judge": {"min_confidence": 0.5},
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
    verdicts = [r.verdict for r in collect.records]
    assert verdicts == [Verdict.FAIL, Verdict.PASS, Verdict.FAIL, Verdict.PASS]
    assert collect.records[0].detections.xyxy.tolist() == [[32, 64, 64, 96]]
