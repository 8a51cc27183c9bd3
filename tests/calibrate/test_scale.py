"""Scale within 0.5 % on a rendered plane of known mm/px; tilt from the board's pose."""

import cv2
import numpy as np
import pytest

from inspector.calibrate.corners import CornerFinder, Corners
from inspector.calibrate.profile import IntrinsicsSection
from inspector.calibrate.scale import measure_scale
from inspector.calibrate.synthetic import Pose, render_view
from inspector.errors import DataError

from .conftest import CHARUCO, CHECKER, TRUE_CAMERA

TRUTH = IntrinsicsSection(
    camera_matrix=tuple(tuple(r) for r in TRUE_CAMERA.matrix.tolist()),
    dist_coeffs=tuple(TRUE_CAMERA.dist.tolist()),
    rms_px=0.0,
    views=1,
    board="truth",
)
DISTANCE_MM = 600.0


def plane_view(spec, tilt_deg: float):
    """The board centred on the optical axis, DISTANCE_MM away, tilted about x."""
    rotation, _ = cv2.Rodrigues(np.array([np.radians(tilt_deg), 0.0, 0.0]))
    centre = np.array([*(s / 2 for s in spec.size_mm), 0.0])
    pose = Pose(
        cv2.Rodrigues(rotation)[0].ravel(), np.array([0.0, 0.0, DISTANCE_MM]) - rotation @ centre
    )
    image = render_view(spec, TRUE_CAMERA, pose, noise=1.5, blur=0.7)
    corners = CornerFinder(spec).find(image)
    assert corners is not None
    return corners


@pytest.mark.parametrize("spec", [CHARUCO, CHECKER], ids=str)
def test_scale_of_a_frontal_plane(spec):
    scale = measure_scale(plane_view(spec, 0.0), TRUTH)
    # Frontal at distance Z: mm/px is Z / f on each axis.
    assert scale.mm_per_px_x == pytest.approx(DISTANCE_MM / 800.0, rel=0.005)
    assert scale.mm_per_px_y == pytest.approx(DISTANCE_MM / 805.0, rel=0.005)
    assert scale.variation < 0.01
    assert scale.tilt_deg == pytest.approx(0.0, abs=0.5)


@pytest.mark.parametrize("tilt", [10.0, 25.0])
def test_tilt_and_the_variation_it_brings(tilt):
    scale = measure_scale(plane_view(CHARUCO, tilt), TRUTH)
    assert scale.tilt_deg == pytest.approx(tilt, abs=0.5)
    assert scale.variation > 0.05


def test_without_intrinsics_there_is_no_tilt():
    assert measure_scale(plane_view(CHARUCO, 0.0), None).tilt_deg is None


def test_too_few_corners():
    few = Corners(np.zeros((5, 2), np.float32), np.zeros((5, 3), np.float32))
    with pytest.raises(DataError, match="only 5 board corners"):
        measure_scale(few, None)
