"""The drift check flags what changed and only that."""

import cv2
import numpy as np
import pytest

from inspector.calibrate.drift import check_drift, check_parts
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


def write_log(path, figures):
    """An inspection log whose parts carry (brightness, focus), as the station writes it."""
    import dataclasses

    from inspector.store.db import open_store
    from inspector.store.inspections import InspectionWriter
    from inspector.types import ImageHealth
    from tests.sinks.records import make_inspection

    with open_store(path) as store:
        writer = InspectionWriter(store.connect(), ("crack", "pit", "scratch"))
        for seq, (brightness, focus) in enumerate(figures, 1):
            health = ImageHealth(brightness, focus)
            writer.commit(dataclasses.replace(make_inspection(seq), image_health=health))
        writer.connection.close()
    return path


@pytest.mark.parametrize(
    ("parts", "failing"),
    [
        ([(100.0, 50.0)] * 5, []),
        ([(100.0, 30.0)] * 5, ["part_focus"]),  # a soft lens
        ([(70.0, 50.0 * 0.49)] * 5, ["part_brightness"]),  # a dim lamp, focus as expected
        ([(100.0, 50.0)] * 3 + [(100.0, 5.0)] * 2, []),  # the median: two odd parts
    ],
)
def test_logged_parts_against_the_baseline(tmp_path, parts, failing):
    from inspector.calibrate.workflow import read_part_figures

    baseline = baseline_of(measure_quality(GOLDEN), None, GOLDEN).model_copy(
        update={"health_brightness": 100.0, "health_focus": 50.0}
    )
    brightness, focus = read_part_figures(write_log(tmp_path / "log.db", parts), 500)
    items = check_parts(baseline, brightness, focus)
    assert [i.name for i in items if not i.ok] == failing


def test_a_log_without_figures_says_how_to_get_them(tmp_path):
    from inspector.calibrate.workflow import read_part_figures
    from inspector.errors import DataError

    with pytest.raises(DataError, match="SPC image monitor"):
        read_part_figures(write_log(tmp_path / "log.db", []), 500)
