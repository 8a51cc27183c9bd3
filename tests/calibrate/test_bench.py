"""`bench --calibration`: the figures it reports, and the profiles it refuses."""

from pathlib import Path

import numpy as np
import pytest

from inspector.calibrate.bench import measure_calibration
from inspector.calibrate.profile import IntrinsicsSection, new_profile, save_profile
from inspector.errors import DataError

LENS = IntrinsicsSection(
    camera_matrix=((500.0, 0, 160), (0, 500.0, 120), (0, 0, 1)),
    dist_coeffs=(-0.1, 0.0, 0.0, 0.0, 0.0),
    rms_px=0.1,
    views=10,
    board="b",
)


@pytest.mark.parametrize(
    ("size", "intrinsics", "error"),
    [
        ((320, 240), LENS, None),
        ((640, 480), LENS, "is for 640x480 frames, the recording's are 320x240"),
        ((320, 240), None, "has no intrinsics to apply"),
    ],
)
def test_measure_calibration(tmp_path: Path, size, intrinsics, error):
    path = tmp_path / "p.yaml"
    save_profile(new_profile("p", size, "test").model_copy(update={"intrinsics": intrinsics}), path)
    frame = np.zeros((240, 320, 3), np.uint8)
    if error:
        with pytest.raises(DataError, match=error):
            measure_calibration(frame, path, (224, 224))
        return
    doc = measure_calibration(frame, path, (224, 224))
    assert doc["frame"] == [320, 240] and doc["flat_field"] is False
    for key in ("fixed_roi_us", "moving_part_us", "letterbox_us"):
        assert doc[key]["median"] > 0
