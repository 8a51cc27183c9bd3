"""Migration 5: each part's row keeps the inspected frame's origin."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from inspector.store.db import open_readonly, open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.read import tail
from inspector.types import FrameOrigin, Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (None, (None, None, None, None)),
        (
            FrameOrigin("Aravis-Fake-GV01", 7, 2**62 + 5, "Mono8"),
            ("Aravis-Fake-GV01", 7, 2**62 + 5, "Mono8"),
        ),
        (FrameOrigin("camera 0"), ("camera 0", None, None, "BGR8")),
    ],
)
def test_a_row_keeps_the_frame_origin(
    tmp_path: Path, origin: FrameOrigin | None, expected: tuple[object, ...]
) -> None:
    with open_store(tmp_path / "inspections.db") as store:
        writer = InspectionWriter(store.connect(), CLASS_NAMES)
        writer.commit(dataclasses.replace(make_inspection(1, Verdict.PASS), camera=origin))
        writer.close()
        conn = open_readonly(store.path)
        try:
            [row] = tail(conn, 10)
        finally:
            conn.close()
    columns = ("camera_id", "camera_frame_id", "camera_timestamp_ns", "pixel_format")
    assert tuple(row[c] for c in columns) == expected
