import dataclasses

import numpy as np
import pytest

from inspector.sinks.display import COLOURS, annotate, display_available
from inspector.types import Region, Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection


@pytest.mark.parametrize(
    ("verdict", "region", "box_pixel"),
    [
        (Verdict.FAIL, None, (30, 10)),  # box [10, 20, 30, 40]: left edge at x=10, y=30
        (Verdict.FAIL, Region(5, 10, 100, 100), (20, 5)),  # shifted into the region
    ],
)
def test_annotate_draws_defects_in_region_coordinates(verdict, region, box_pixel):
    record = make_inspection(1, verdict, image=np.full((90, 120, 3), 128, np.uint8))
    record = dataclasses.replace(record, region=region)
    canvas = annotate(record, CLASS_NAMES)
    y, x = box_pixel
    assert tuple(canvas[y, x]) == COLOURS[Verdict.FAIL]
    assert tuple(canvas[5, 60]) == COLOURS[verdict]  # the banner
    assert record.image[y, x, 0] == 128  # the record's own image is untouched


def test_annotate_without_image():
    assert annotate(make_inspection(1, Verdict.PASS), CLASS_NAMES) is None


def test_no_display_here(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert display_available() is False
