"""Boards: parsing, their corner layout, and targets at true scale."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from inspector.calibrate.boards import (
    BoardKind,
    BoardSpec,
    parse_squares,
    render_board,
    write_target,
)
from inspector.calibrate.corners import CornerFinder
from inspector.errors import ConfigError, OutputExistsError

from .conftest import CHARUCO, CHECKER


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("9x6", (9, 6), None),
        (" 12X8 ", (12, 8), None),
        ("9*6", None, "is not COLSxROWS"),
        ("2x6", None, "at least 3x3"),
    ],
)
def test_parse_squares(text, expected, error):
    if error:
        with pytest.raises(ConfigError, match=error):
            parse_squares(text)
    else:
        assert parse_squares(text) == expected


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"square_mm": 0.0, "marker_mm": 0.0}, "--square-mm"),
        ({"square_mm": 25.0, "marker_mm": 25.0}, "--marker-mm"),
        ({"square_mm": 25.0, "marker_mm": 18.0, "dictionary": "DICT_9X9_1"}, "--dictionary"),
        (
            {
                "square_mm": 25.0,
                "marker_mm": 18.0,
                "dictionary": "DICT_4X4_50",
                "cols": 12,
                "rows": 10,
            },
            "has 50 markers",
        ),
    ],
)
def test_bad_charuco_spec(kwargs, error):
    args = {"cols": 9, "rows": 6, **kwargs}
    with pytest.raises(ConfigError, match=error):
        BoardSpec(BoardKind.CHARUCO, **args)


@pytest.mark.parametrize("spec", [CHARUCO, CHECKER], ids=str)
def test_flat_render_is_found_where_the_layout_says(spec):
    px_per_mm = 4.0
    image = render_board(spec, px_per_mm, margin_squares=1.0)
    corners = CornerFinder(spec).find(image)
    assert corners is not None and len(corners) == 40
    expected = (corners.object_points[:, :2] + spec.square_mm) * px_per_mm - 0.5
    error = np.abs(corners.image_points - expected)
    flipped = np.abs(corners.image_points[::-1] - expected)  # a checkerboard has no "up"
    assert min(error.max(), flipped.max()) < 0.1


@pytest.mark.parametrize(
    ("name", "size_mm"),
    [("board.pdf", (275.0, 200.0)), ("board.png", (275.0, 200.0))],
)
def test_target_is_true_scale(tmp_path: Path, name, size_mm):
    out = write_target(CHARUCO, tmp_path / name, dpi=300)
    if out.suffix == ".pdf":
        box = out.read_bytes().split(b"/MediaBox [")[1].split(b"]")[0].split()
        measured = (float(box[2]) / 72 * 25.4, float(box[3]) / 72 * 25.4)
    else:
        image = Image.open(out)
        dpi = image.info["dpi"][0]
        measured = (image.size[0] / dpi * 25.4, image.size[1] / dpi * 25.4)
        found = CornerFinder(CHARUCO).find(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE))
        assert found is not None and len(found) == 40
    assert measured == pytest.approx(size_mm, abs=0.2)


@pytest.mark.parametrize(
    ("name", "force", "error"),
    [("board.svg", True, ConfigError), ("exists.png", False, OutputExistsError)],
)
def test_target_refuses(tmp_path: Path, name, force, error):
    (tmp_path / "exists.png").write_bytes(b"")
    with pytest.raises(error):
        write_target(CHECKER, tmp_path / name, force=force)
