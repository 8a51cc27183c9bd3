import numpy as np
import pytest

from inspector.detect.yolo import DecodeParams, Layout, YoloDecoder, detect_layout, nms
from inspector.errors import ModelError
from inspector.vision.letterbox import Geometry

IDENTITY = Geometry.compute((100, 100), (100, 100))


@pytest.mark.parametrize(
    ("shape", "nc", "layout"),
    [
        ((1, 5, 2100), 1, Layout.RAW),
        ((1, 10, 8400), 6, Layout.RAW),
        ((1, 300, 6), 6, Layout.END2END),
        ((1, 300, 6), 80, Layout.END2END),
        ((1, 6, 2100), 2, Layout.RAW),  # 4 + 2 channels first wins over the e2e reading
    ],
)
def test_detect_layout(shape, nc, layout):
    assert detect_layout(shape, nc, "m.onnx") is layout


@pytest.mark.parametrize("shape", [(1, 7, 2100), (1, 2100, 7), (5, 2100), (1, 1, 5, 2100)])
def test_unknown_layout_names_the_model(shape):
    with pytest.raises(ModelError, match=r"m\.onnx: output shape .* matches no known layout"):
        detect_layout(shape, 1, "m.onnx")


def raw_output(rows, nc):
    """rows of (cx, cy, w, h, class, score) -> (1, 4 + nc, N)."""
    out = np.zeros((1, 4 + nc, len(rows)), np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(rows):
        out[0, :4, i] = cx, cy, w, h
        out[0, 4 + cls, i] = score
    return out


@pytest.mark.parametrize(
    ("rows", "params", "expected"),
    [
        # two overlapping boxes of one class: NMS keeps the better one
        ([(50, 50, 20, 20, 0, 0.9), (51, 50, 20, 20, 0, 0.8)], DecodeParams(), [(0, 0.9)]),
        # same boxes, different classes: class-aware NMS keeps both
        (
            [(50, 50, 20, 20, 0, 0.9), (51, 50, 20, 20, 1, 0.8)],
            DecodeParams(),
            [(0, 0.9), (1, 0.8)],
        ),
        # ... unless agnostic
        (
            [(50, 50, 20, 20, 0, 0.9), (51, 50, 20, 20, 1, 0.8)],
            DecodeParams(agnostic=True),
            [(0, 0.9)],
        ),
        # below the score threshold
        ([(50, 50, 20, 20, 0, 0.2)], DecodeParams(conf=0.25), []),
        # disjoint boxes all survive, capped by max_det
        (
            [(10, 10, 5, 5, 0, 0.5), (50, 50, 5, 5, 0, 0.6), (90, 90, 5, 5, 0, 0.7)],
            DecodeParams(max_det=2),
            [(0, 0.7), (0, 0.6)],
        ),
    ],
)
def test_raw_decoding(rows, params, expected):
    decoder = YoloDecoder(Layout.RAW, 2, params)
    found = decoder(raw_output(rows, 2), IDENTITY)
    pairs = zip(found.class_id, found.score, strict=True)
    assert [(int(c), round(float(s), 3)) for c, s in pairs] == expected


def test_raw_boxes_map_back_through_the_letterbox():
    geometry = Geometry.compute((100, 200), (320, 320))  # scale 1.6, 80 px pad top
    decoder = YoloDecoder(Layout.RAW, 1, DecodeParams())
    found = decoder(raw_output([(160, 160, 32, 16, 0, 0.9)], 1), geometry)
    assert np.allclose(found.xyxy, [[90, 45, 110, 55]], atol=1e-4)


def test_end2end_decoding():
    out = np.zeros((1, 300, 6), np.float32)
    out[0, 0] = (10, 20, 30, 40, 0.9, 2)
    out[0, 1] = (10, 20, 30, 40, 0.1, 1)
    found = YoloDecoder(Layout.END2END, 3, DecodeParams(conf=0.25))(out, IDENTITY)
    assert found.xyxy.tolist() == [[10, 20, 30, 40]]
    assert found.class_id.tolist() == [2]


def test_nms_matches_greedy_definition():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10]], float)
    scores = np.array([0.5, 0.9, 0.4, 0.1])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 0, 2]
