"""Intrinsics recovered from rendered views of a known camera; outliers; bad input."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.calibrate.corners import Corners
from inspector.calibrate.intrinsics import View, calibrate
from inspector.calibrate.workflow import find_views, run_intrinsics
from inspector.errors import DataError

from .conftest import CHARUCO, CHECKER, TRUE_CAMERA


def distortion_shift(matrix: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Where the lens moves a grid of points across the image, px."""
    w, h = TRUE_CAMERA.size
    grid = np.stack(np.meshgrid(np.linspace(0, w, 9), np.linspace(0, h, 7)), -1).reshape(-1, 1, 2)
    ideal = cv2.undistortPoints(grid.astype(np.float64), matrix, dist, P=matrix)
    return ideal.reshape(-1, 2) - grid.reshape(-1, 2)


@pytest.mark.parametrize(
    ("spec", "fixture"), [(CHARUCO, "charuco_views"), (CHECKER, "checker_views")]
)
def test_recovers_the_camera(request, spec, fixture):
    result, _ = run_intrinsics(spec, request.getfixturevalue(fixture), fit_k3=False)
    truth = TRUE_CAMERA.matrix
    got = result.camera_matrix
    for r, c in ((0, 0), (1, 1), (0, 2), (1, 2)):  # fx, fy, cx, cy within 1 %
        assert got[r, c] == pytest.approx(truth[r, c], rel=0.01)
    # Distortion close to the truth where it matters: the shift it predicts in the image.
    shift = distortion_shift(got, result.dist_coeffs) - distortion_shift(truth, TRUE_CAMERA.dist)
    assert np.abs(shift).max() < 1.0
    assert result.verdict == "pass" and result.rms < 0.2
    assert set(result.to_json()) == {
        "rms",
        "camera_matrix",
        "dist_coeffs",
        "image_size",
        "views_used",
        "views_rejected",
        "verdict",
    }


def test_rejects_an_outlier_view(charuco_views: Path):
    views, size = find_views(CHARUCO, charuco_views)
    bad = views[3].corners
    shuffled = Corners(
        bad.image_points
        + np.random.default_rng(1).normal(0, 4, bad.image_points.shape).astype(np.float32),
        bad.object_points,
    )
    views[3] = View("bad", shuffled)
    result = calibrate(views, size)
    assert list(result.rejected) == ["bad"]
    assert result.camera_matrix[0, 0] == pytest.approx(800, rel=0.01)


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ("few", "only 3 usable views"),
        ("wrong_size", "none of the 12 images"),
        ("wrong_charuco", "none of the 12 images in .* shows a charuco 10x7"),
        ("mixed", "mixed resolutions"),
        ("empty", "holds no images"),
        ("broken", "not a readable image"),
    ],
)
def test_bad_input(tmp_path: Path, charuco_views: Path, setup, error):
    folder = tmp_path / "in"
    folder.mkdir()
    spec = CHARUCO
    names = sorted(charuco_views.iterdir())
    if setup == "few":
        for p in names[:3]:
            (folder / p.name).write_bytes(p.read_bytes())
    elif setup == "wrong_size":
        for p in names:
            (folder / p.name).write_bytes(p.read_bytes())
        spec = CHECKER.__class__(CHECKER.kind, 8, 6, 25.0)
    elif setup == "wrong_charuco":
        for p in names:
            (folder / p.name).write_bytes(p.read_bytes())
        spec = CHARUCO.__class__(CHARUCO.kind, 10, 7, 25.0, 18.0, CHARUCO.dictionary)
    elif setup == "mixed":
        (folder / "a.png").write_bytes(names[0].read_bytes())
        cv2.imwrite(str(folder / "b.png"), np.zeros((600, 800), np.uint8))
    elif setup == "broken":
        (folder / "a.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=error):
        run_intrinsics(spec, folder, fit_k3=False)


def grid(rows: list[str]) -> np.ndarray:
    return np.array([[c == "x" for c in row] for row in rows])


@pytest.mark.parametrize(
    ("covered", "expected"),
    [
        (["xxxxxxxx"] * 6, "none"),
        (["........"] * 6, None),  # nothing seen: all nine areas
        (["xxxxxxxx"] * 4 + ["xxxxx..."] * 2, "bottom right"),
        (["...xxxxx"] * 2 + ["xxxxxxxx"] * 4, "top left"),
    ],
)
def test_missing_areas(covered, expected):
    from inspector.calibrate.intrinsics import missing_areas

    text = missing_areas(grid(covered))
    if expected is None:
        assert len(text.split(", ")) == 9
    else:
        assert text == expected
