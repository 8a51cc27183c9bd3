"""A station on the GigE camera simulator: every software-triggered frame is one part,
and each part's row carries the frame's origin (camera id, frame id, timestamp, format)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from inspector.config import parse_config
from inspector.errors import DataError
from inspector.factory import build_station
from tests.camera.simulator import ADDRESS, CAMERA_ID, fake_camera
from tests.conftest import shipped_model


@pytest.mark.parametrize(
    ("camera", "pixel_format"),
    [
        ({"pixel_format": "Mono8", "mono": True}, "Mono8"),  # single channel to the model
        ({"pixel_format": "BayerRG8"}, "BayerRG8"),
    ],
)
def test_parts_carry_the_frame_origin(
    tmp_path: Path, camera: dict[str, object], pixel_format: str
) -> None:
    doc = {
        "camera": {
            "kind": "aravis",
            "camera": ADDRESS,
            "roi": {"width": 320, "height": 240},
            "trigger": {"source": "Software"},
            "frame_rate": 20,
            **camera,
        },
        "trigger": {"kind": "line"},
        "model": {"path": str(shipped_model("magnetic-tile"))},
        "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "img")},
    }
    with fake_camera():
        station = build_station(parse_config(doc, "test")).station
        station.start()
        try:
            time.sleep(1.5)
        finally:
            station.stop()
    rows = (
        sqlite3.connect(tmp_path / "log.db")
        .execute(
            "SELECT camera_id, camera_frame_id, camera_timestamp_ns, pixel_format, verdict "
            "FROM inspections ORDER BY id"
        )
        .fetchall()
    )
    assert len(rows) >= 5
    assert {(r[0], r[3]) for r in rows} == {(CAMERA_ID, pixel_format)}
    frame_ids = [r[1] for r in rows]
    assert frame_ids == list(range(frame_ids[0], frame_ids[0] + len(rows)))  # none missed
    assert all(r[2] > 0 for r in rows)
    assert {r[4] for r in rows} <= {"PASS", "FAIL"}


def test_a_camera_that_is_not_there_fails_the_start(tmp_path: Path) -> None:
    doc = {
        "camera": {"kind": "aravis", "camera": "Nobody-Nothing-0000"},
        "trigger": {"kind": "line"},
        "model": {"path": str(shipped_model("magnetic-tile"))},
        "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "img")},
    }
    with pytest.raises(DataError, match=r"camera\.camera: no camera 'Nobody-Nothing-0000'"):
        build_station(parse_config(doc, "test"))


def test_lost_frames_become_station_events(tmp_path: Path) -> None:
    """The simulator drops 5% of its packets: the station logs frames_missed events,
    each saying the lost frames were parts (a software-triggered camera)."""
    doc = {
        "camera": {
            "kind": "aravis",
            "camera": ADDRESS,
            "roi": {"width": 64, "height": 48},
            "trigger": {"source": "Software"},
            "frame_rate": 100,
        },
        "trigger": {"kind": "line"},
        "model": {"path": str(shipped_model("magnetic-tile"))},
        "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "img")},
    }
    with fake_camera(lost_per_thousand=50):
        station = build_station(parse_config(doc, "test")).station
        station.start()
        try:
            time.sleep(2.5)
        finally:
            station.stop()
    events = (
        sqlite3.connect(tmp_path / "log.db")
        .execute("SELECT detail FROM events WHERE kind = 'frames_missed'")
        .fetchall()
    )
    assert events
    details = [json.loads(detail) for (detail,) in events]
    assert all(d["parts"] is True and d["count"] >= 1 for d in details)
