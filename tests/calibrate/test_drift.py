"""The drift check flags what changed and only that."""

import cv2
import numpy as np
import pytest

from inspector.calibrate.drift import check_drift
from inspector.calibrate.lighting import measure_quality
from inspector.calibrate.workflow import baseline_of

from .test_lighting import scene, vignette

GOLDEN = (scene() * 0.8 + 20).astype(np.uint8)  # no clipping: glare means a hot spot


def hot_spot(grey):
    out = grey.copy()
    cv2.circle(out, (320, 240), 40, 255, -1)
    return out


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        (lambda g: g, []),
        (lambda g: cv2.GaussianBlur(g, (0, 0), 2.0), ["focus"]),
        (lambda g: (g * 0.7).astype(np.uint8), ["brightness"]),
        (lambda g: np.roll(g, 25, axis=1), ["position"]),
        (hot_spot, ["glare"]),
    ],
)
def test_drift_items(change, failing):
    baseline = baseline_of(measure_quality(GOLDEN), None, GOLDEN)
    frames = [measure_quality(change(GOLDEN))] * 3
    result = check_drift(baseline, frames, GOLDEN.shape[1])
    assert [i.name for i in result.items if not i.ok] == failing
    assert result.go == (not failing)
    assert result.to_json()["verdict"] == ("go" if not failing else "no-go")


@pytest.mark.parametrize(("strength", "ok"), [(0.05, True), (0.4, False)])
def test_uniformity_against_the_flat_baseline(strength, ok):
    flat = np.full((480, 640), 200, np.uint8)
    baseline = baseline_of(measure_quality(GOLDEN), measure_quality(flat), GOLDEN)
    dimmed = (flat * vignette(flat.shape, strength)).astype(np.uint8)
    result = check_drift(baseline, [measure_quality(GOLDEN)], 640, measure_quality(dimmed))
    assert [i.ok for i in result.items if i.name == "uniformity"] == [ok]
