"""Reading the log: tail, follow, CSV export, time parsing; readers never write."""

from __future__ import annotations

import csv
import dataclasses
import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from inspector.errors import ConfigError, DataError, OutputExistsError
from inspector.store.db import open_readonly, open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.read import CSV_COLUMNS, export_csv, follow, last_id, parse_time, tail
from inspector.types import StageTimes, Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection
from tests.store.helpers import copy_v1_store, write_log

PASS, FAIL, NO_DECISION = Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION
T0 = 1_700_000_000.0  # wall time of seq 1; seq k is k - 1 seconds later


@pytest.fixture
def log_of_ten(tmp_path: Path) -> Path:
    db = tmp_path / "inspections.db"
    write_log(db, [PASS, FAIL, NO_DECISION, PASS, PASS] * 2, [T0 + k for k in range(10)])
    return db


@pytest.fixture
def reader(log_of_ten: Path):
    conn = open_readonly(log_of_ten)
    yield conn
    conn.close()


@pytest.mark.parametrize(
    ("n", "seqs", "error"),
    [
        (3, [8, 9, 10], None),
        (1, [10], None),
        (0, [], None),
        (50, list(range(1, 11)), None),
        (-1, None, ConfigError),
    ],
)
def test_tail(reader: sqlite3.Connection, n: int, seqs, error):
    if error:
        with pytest.raises(error, match="must be >= 0"):
            tail(reader, n)
        return
    assert [row["seq"] for row in tail(reader, n)] == seqs


def test_tail_decodes_json_columns(reader: sqlite3.Connection):
    row = tail(reader, 9)[0]  # seq 2, the FAIL
    assert row["verdict"] == "FAIL"
    assert row["classes"] == ["crack", "pit"]
    assert [d["class_id"] for d in row["detections"]] == [0, 2]
    json.dumps(row)  # a row is plain JSON all the way down


def test_follow_yields_rows_as_they_are_written(log_of_ten: Path, reader: sqlite3.Connection):
    store = open_store(log_of_ten)
    writer = InspectionWriter(store.connect(), CLASS_NAMES)
    polls = []

    def stop() -> bool:
        # Each poll, the station writes one more part; after five polls we have seen enough.
        polls.append(None)
        writer.commit(make_inspection(10 + len(polls), FAIL))
        return len(polls) > 5

    try:
        seen = [row["seq"] for row in follow(reader, last_id(reader), poll_s=0.001, stop=stop)]
    finally:
        store.close()
    assert seen == [11, 12, 13, 14, 15]


@pytest.mark.parametrize(("after_id", "seqs"), [(7, [8, 9, 10]), (10, []), (0, list(range(1, 11)))])
def test_follow_ends_after_max_idle(reader: sqlite3.Connection, after_id: int, seqs):
    rows = follow(reader, after_id, poll_s=0.01, max_idle_s=0.05)
    assert [row["seq"] for row in rows] == seqs


def test_readers_cannot_write(reader: sqlite3.Connection):
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        reader.execute("DELETE FROM inspections")


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize(
    ("since", "until", "seqs", "error"),
    [
        (None, None, list(range(1, 11)), None),
        (T0 + 7, None, [8, 9, 10], None),
        (None, T0 + 2, [1, 2], None),
        (T0 + 2, T0 + 5, [3, 4, 5], None),
        (T0 + 100, None, [], None),
        (T0 + 5, T0 + 5, None, ConfigError),
    ],
)
def test_export_csv_window(reader, tmp_path: Path, since, until, seqs, error):
    out = tmp_path / "out" / "parts.csv"
    if error:
        with pytest.raises(error, match="export window is empty"):
            export_csv(reader, out, since, until)
        assert not out.exists()
        return
    assert export_csv(reader, out, since, until) == len(seqs)
    assert [int(row["seq"]) for row in read_csv(out)] == seqs


def test_export_csv_contents(reader, tmp_path: Path):
    out = tmp_path / "parts.csv"
    export_csv(reader, out)
    with out.open(newline="") as handle:
        header = next(csv.reader(handle))
    assert tuple(header) == CSV_COLUMNS
    rows = read_csv(out)
    fail = rows[1]
    assert (fail["verdict"], fail["result_code"], fail["defect_count"]) == ("FAIL", "1", "2")
    assert json.loads(fail["classes"]) == ["crack", "pit"]
    assert json.loads(fail["detections"])[1] == {
        "xyxy": [50.0, 60.0, 70.0, 80.5],
        "score": 0.6,
        "class_id": 2,
    }
    assert float(fail["wall_time"]) == T0 + 1
    assert fail["calibration_id"] == fail["image_path"] == ""  # NULL
    assert rows[2]["result_code"] == str(0xFFFF)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (
            StageTimes(1.0, 1.0123456, 1.0133333, 1.0234567, 1.0240001),
            {
                "latency_ms": "24.0",
                "capture_ms": "12.35",
                "queue_ms": "0.99",
                "detect_ms": "10.12",
                "judge_ms": "0.54",
            },
        ),
        (StageTimes(1.0), {"latency_ms": "", "capture_ms": "", "queue_ms": ""}),
    ],
)
def test_export_rounds_durations_to_a_hundredth_of_a_ms(tmp_path: Path, times, expected):
    db, out = tmp_path / "inspections.db", tmp_path / "parts.csv"
    with open_store(db) as store:
        record = make_inspection(1, FAIL)
        InspectionWriter(store.connect(), CLASS_NAMES).commit(
            dataclasses.replace(record, times=times)
        )
    conn = open_readonly(db)
    try:
        export_csv(conn, out)
    finally:
        conn.close()
    [row] = read_csv(out)
    assert {key: row[key] for key in expected} == expected
    assert row["run_id"] == "run-1"


def test_an_old_store_exports_the_columns_it_has(tmp_path: Path):
    db = copy_v1_store(tmp_path)
    conn = open_readonly(db)
    try:
        assert export_csv(conn, tmp_path / "parts.csv") == 4
    finally:
        conn.close()
    rows = read_csv(tmp_path / "parts.csv")
    newer = ("run_id", "queue_ms", "defect_classes", "brightness", "focus")
    newer += ("camera_id", "camera_frame_id", "camera_timestamp_ns", "pixel_format")
    newer += ("recipe", "recipe_name")
    assert tuple(rows[0]) == tuple(c for c in CSV_COLUMNS if c not in newer)
    assert [row["seq"] for row in rows] == ["1", "2", "3", "4"]
    assert rows[1]["image_path"].endswith("-000000002-fail.png")


def test_export_refuses_to_overwrite_without_force(reader, tmp_path: Path):
    out = tmp_path / "parts.csv"
    out.write_text("precious\n")
    with pytest.raises(OutputExistsError, match=r"parts\.csv: already exists \(use --force\)"):
        export_csv(reader, out)
    assert out.read_text() == "precious\n"
    assert export_csv(reader, out, force=True) == 10
    assert len(read_csv(out)) == 10
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp


def test_failed_export_leaves_neither_file_nor_temp(reader, tmp_path: Path, monkeypatch):
    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    out = tmp_path / "exports" / "parts.csv"
    monkeypatch.setattr("inspector.store.read.os.replace", disk_full)
    with pytest.raises(DataError, match=r"parts\.csv: cannot write \(No space left on device\)"):
        export_csv(reader, out)
    assert list((tmp_path / "exports").iterdir()) == []


def local(text: str) -> float:
    return datetime.fromisoformat(text).astimezone().timestamp()


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("1700000000", 1_700_000_000.0, None),
        ("1700000000.5", 1_700_000_000.5, None),
        ("2023-11-14T22:13:20+00:00", 1_700_000_000.0, None),
        ("2023-11-14T22:13:20Z", 1_700_000_000.0, None),
        ("2023-11-14T22:13:20.000Z", 1_700_000_000.0, None),  # a browser's toISOString()
        ("2023-11-14T23:13:20+01:00", 1_700_000_000.0, None),
        ("2024-03-01T08:00:00", local("2024-03-01T08:00:00"), None),
        ("2024-03-01", local("2024-03-01T00:00:00"), None),
        ("yesterday", None, ConfigError),
        ("nan", None, ConfigError),
        ("inf", None, ConfigError),
        ("", None, ConfigError),
    ],
)
def test_parse_time(text: str, expected, error):
    if error:
        with pytest.raises(error, match=r"--since .*: expected an ISO 8601 time or unix seconds"):
            parse_time(text, "--since")
        return
    assert parse_time(text, "--since") == expected
