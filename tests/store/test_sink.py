"""The store sink: which part images are archived and linked to their rows, group
commit with per-record retry, station events."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from inspector.errors import ConfigError, DataError
from inspector.sinks.base import SinkRunner
from inspector.store.archive import ImageArchive
from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.sink import StoreSink
from inspector.types import (
    EventKind,
    Inspection,
    Severity,
    StationEvent,
    StationState,
    Verdict,
)
from tests.sinks.records import CLASS_NAMES, make_inspection, part_image
from tests.store.helpers import read_table

PASS, FAIL, NO_DECISION = Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION


@pytest.fixture
def store(tmp_path: Path):
    with open_store(tmp_path / "inspections.db") as opened:
        yield opened


def store_sink(store, fraction: float = 0.0, save_failed: bool = True, archive: bool = True):
    conn = store.connect()
    images = ImageArchive.open(conn, store.path.parent / "images", 10**9) if archive else None
    return StoreSink(conn, images, fraction, save_failed)


def committed(store, records: list[Inspection]) -> list[Inspection]:
    """Commit each record's row as the inspection worker does, before any sink sees it."""
    writer = InspectionWriter(store.connect(), CLASS_NAMES)
    for record in records:
        writer.commit(record)
    return records


def png_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def every_file(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("verdict", "save_failed", "fraction", "seqs", "kept"),
    [
        (FAIL, True, 0.0, range(1, 6), [1, 2, 3, 4, 5]),
        (NO_DECISION, True, 0.0, range(1, 4), [1, 2, 3]),
        (FAIL, False, 1.0, range(1, 4), []),
        (NO_DECISION, False, 0.5, range(1, 4), []),
        (PASS, True, 0.01, range(1, 301), [100, 200, 300]),
        (PASS, True, 0.25, range(1, 13), [4, 8, 12]),
        (PASS, True, 0.3, range(1, 11), [4, 7, 10]),  # 3 of 10, evenly spread
        (PASS, True, 0.0, range(1, 50), []),
        (PASS, False, 1.0, range(1, 4), [1, 2, 3]),
    ],
)
def test_which_images_are_archived(store, verdict, save_failed, fraction, seqs, kept):
    sink = store_sink(store, fraction, save_failed)
    records = committed(store, [make_inspection(s, verdict, image=part_image(s)) for s in seqs])
    assert sink.handle_batch(records) == []
    sink.close()

    rows = read_table(store.path, "inspections")
    assert len(rows) == len(seqs)
    with_image = [row for row in rows if row["image_path"] is not None]
    assert [row["seq"] for row in with_image] == kept
    assert png_files(store.path.parent / "images") == sorted(r["image_path"] for r in with_image)
    assert [(r["path"], r["seq"]) for r in read_table(store.path, "images")] == [
        (r["image_path"], r["seq"]) for r in with_image
    ]
    for row in with_image:
        assert row["image_path"].endswith(f"-{row['seq']:09d}-{verdict.value.lower()}.png")


@pytest.mark.parametrize(
    ("verdict", "seq", "archive", "save_failed", "expected"),
    [
        (FAIL, 1, True, True, True),
        (FAIL, 1, True, False, False),
        (FAIL, 1, False, True, False),  # no archive: the station need not copy the image
        (NO_DECISION, 3, True, True, True),
        (PASS, 10, True, True, True),
        (PASS, 11, True, True, False),
        (PASS, 10, False, True, False),
    ],
)
def test_wants_image(store, verdict, seq: int, archive: bool, save_failed, expected):
    sink = store_sink(store, 0.1, save_failed, archive)
    assert sink.wants_image(make_inspection(seq, verdict)) is expected
    sink.close()


def test_records_without_an_image_archive_nothing(store):
    sink = store_sink(store, 1.0, True)
    records = committed(store, [make_inspection(1, FAIL), make_inspection(2, PASS)])
    assert sink.handle_batch(records) == []
    sink.close()
    assert [r["image_path"] for r in read_table(store.path, "inspections")] == [None, None]
    assert every_file(store.path.parent / "images") == []


def test_through_a_runner_each_image_goes_to_its_own_part(store):
    """Two runs with the same seqs: an image is linked to its run's part only."""
    earlier = committed(store, [make_inspection(1, FAIL, run_id="run-0")])
    records = committed(store, [make_inspection(s, FAIL, image=part_image(s)) for s in (1, 2, 3)])
    runner = SinkRunner(store_sink(store)).start()
    try:
        for record in records:
            assert runner.submit(record)
    finally:
        runner.stop()
    assert (runner.handled, runner.failures) == (3, 0)
    rows = read_table(store.path, "inspections")
    assert rows[0]["run_id"] == earlier[0].run_id and rows[0]["image_path"] is None
    assert all(row["image_path"] for row in rows[1:])


def _write_fails(monkeypatch) -> None:
    def disk_full(self, mode="r", *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "open", disk_full)


def _rename_fails(monkeypatch) -> None:
    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)


@pytest.mark.parametrize("break_disk", [_write_fails, _rename_fails])
def test_a_failed_image_write_leaves_no_file_and_the_row_is_kept(store, monkeypatch, break_disk):
    sink = store_sink(store)
    [record] = committed(store, [make_inspection(1, FAIL, image=part_image())])
    break_disk(monkeypatch)
    with pytest.raises(DataError, match="No space left on device"):
        sink.handle(record)
    monkeypatch.undo()
    sink.close()

    [row] = read_table(store.path, "inspections")
    assert (row["seq"], row["verdict"], row["image_path"]) == (1, "FAIL", None)
    assert every_file(store.path.parent / "images") == []
    assert read_table(store.path, "images") == []


def test_a_bad_record_in_a_batch_costs_only_itself(store):
    """Part 3 has no row to link its image to: the batch's transaction fails, each is
    retried in its own, and only part 3 fails (its image is not kept)."""
    records = [make_inspection(seq, FAIL, image=part_image(seq)) for seq in range(1, 6)]
    committed(store, records[:2] + records[3:])
    sink = store_sink(store)
    errors = sink.handle_batch(records)
    sink.close()
    assert [type(e) for e in errors] == [DataError]
    assert "no row of part 3 (run 'run-1') to attach its image to" in str(errors[0])
    rows = read_table(store.path, "inspections")
    assert [(r["seq"], r["image_path"] is not None) for r in rows] == [
        (1, True),
        (2, True),
        (4, True),
        (5, True),
    ]
    assert len(png_files(store.path.parent / "images")) == len(read_table(store.path, "images"))
    assert every_file(store.path.parent / "images") == png_files(store.path.parent / "images")


@pytest.mark.parametrize(
    ("event", "row"),
    [
        (
            StationEvent(EventKind.STATE, Severity.INFO, "ready", 1.5, StationState.READY),
            {"kind": "state", "severity": "info", "state": "ready", "detail": {}},
        ),
        (
            StationEvent(
                EventKind.CAMERA_LOST,
                Severity.ERROR,
                "camera lost: timeout",
                2.5,
                StationState.FAULT,
                {"source": "rtsp://cam", "retries": 3, "backoff_s": 0.5, "live": True},
            ),
            {
                "kind": "camera_lost",
                "severity": "error",
                "state": "fault",
                "detail": {"source": "rtsp://cam", "retries": 3, "backoff_s": 0.5, "live": True},
            },
        ),
    ],
)
def test_station_events_are_written(store, event: StationEvent, row):
    sink = store_sink(store)
    assert sink.wants_events
    sink.handle_event(event)
    sink.close()
    [stored] = read_table(store.path, "events")
    assert {**{k: stored[k] for k in row}, "detail": json.loads(stored["detail"])} == row
    assert (stored["wall_time"], stored["message"]) == (event.wall_time, event.message)


def test_events_through_a_runner_keep_their_order_with_records(store):
    [record] = committed(store, [make_inspection(1, FAIL, image=part_image())])
    runner = SinkRunner(store_sink(store)).start()
    try:
        runner.submit_event(
            StationEvent(EventKind.STATE, Severity.INFO, "busy", 1.0, StationState.BUSY)
        )
        runner.submit(dataclasses.replace(record))
    finally:
        runner.stop()
    assert (runner.handled, runner.failures) == (2, 0)
    assert [e["message"] for e in read_table(store.path, "events")] == ["busy"]


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_pass_fraction_out_of_range(store, fraction: float):
    conn = store.connect()
    with pytest.raises(ConfigError, match="save_pass_fraction"):
        StoreSink(conn, None, fraction)
