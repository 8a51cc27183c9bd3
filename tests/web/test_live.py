"""The dashboard's listener: which records it asks pictures for, what it counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from inspector.types import Verdict
from inspector.web.live import Dashboard
from inspector.web.metrics import StationMetrics, stage_seconds
from tests.sinks.records import CLASS_NAMES, make_inspection


def _at(seq: int, verdict: Verdict, t: float, image: bool = False):
    record = make_inspection(seq, verdict, image=np.zeros((8, 8), np.uint8) if image else None)
    return dataclasses.replace(record, times=dataclasses.replace(record.times, trigger=t))


@pytest.mark.parametrize(
    ("shown_at", "verdict", "trigger", "wanted"),
    [
        (None, Verdict.PASS, 0.0, True),  # no picture yet
        (10.0, Verdict.PASS, 10.1, False),  # within 1/live_fps of the last picture
        (10.0, Verdict.PASS, 10.25, True),
        (10.0, Verdict.NO_DECISION, 10.05, False),
        (10.0, Verdict.FAIL, 10.05, True),  # failed parts always: their thumbnails
    ],
)
def test_wants_image(shown_at, verdict, trigger, wanted):
    dashboard = Dashboard(StationMetrics(CLASS_NAMES), live_fps=5.0)
    if shown_at is not None:
        dashboard.handle(_at(1, Verdict.PASS, shown_at, image=True))
    assert dashboard.wants_image(_at(2, verdict, trigger)) is wanted


def test_counts_and_pictures():
    dashboard = Dashboard(StationMetrics(CLASS_NAMES), live_fps=5.0, recent_fails=2)
    verdicts = [Verdict.PASS, Verdict.FAIL, Verdict.FAIL, Verdict.NO_DECISION, Verdict.FAIL]
    for seq, verdict in enumerate(verdicts, 1):
        dashboard.handle(_at(seq, verdict, float(seq), image=verdict is Verdict.FAIL))
    snap = dashboard.snapshot()
    assert (snap.parts, snap.fails, snap.no_decision) == (5, 3, 1)
    assert [r.seq for r in snap.fails_recent] == [3, 5]
    assert snap.picture_seq == 5
    assert dashboard.picture_jpeg(2) is None  # no longer among the recent
    seq, jpeg = dashboard.picture_jpeg(3, thumb=True)
    assert seq == 3 and jpeg.startswith(b"\xff\xd8")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, {"capture": 0.002, "queue": 0.001, "detect": 0.010, "judge": 0.001, "total": 0.014}),
        ({"capture": 999.0}, {"capture": 0.0, "detect": 0.010, "total": 0.014}),  # frame first
        ({"capture": float("nan")}, {"detect": 0.010, "judge": 0.001, "total": 0.014}),
    ],
)
def test_stage_seconds(changes, expected):
    times = dataclasses.replace(make_inspection(1).times, **changes)
    got = dict(stage_seconds(times))
    for stage, seconds in expected.items():
        assert got[stage] == pytest.approx(seconds, abs=1e-9), stage
    assert "plc_write" not in got
