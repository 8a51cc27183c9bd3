"""Part rows: what a record becomes, and the worker's one-transaction commit."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from inspector.errors import DataError
from inspector.store.db import open_readonly, open_store
from inspector.store.inspections import ROW_COLUMNS, InspectionWriter, inspection_row
from inspector.store.read import tail
from inspector.types import Detections, Inspection, Judgement, StageTimes, Verdict
from tests.sinks.records import CLASS_NAMES, RUN_ID, make_inspection
from tests.store.helpers import read_table

FAIL_DETECTIONS = [
    {"xyxy": [10.0, 20.0, 30.0, 40.0], "score": 0.9, "class_id": 0},
    {"xyxy": [50.0, 60.0, 70.0, 80.5], "score": 0.6, "class_id": 2},
]


@pytest.fixture
def store(tmp_path: Path):
    with open_store(tmp_path / "log" / "inspections.db") as opened:
        yield opened


def read_back(store) -> list[dict]:
    conn = open_readonly(store.path)
    try:
        return tail(conn, 1000)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        (
            Verdict.PASS,
            {
                "verdict": "PASS",
                "result_code": 0,
                "reason": "pass",
                "defect_count": 0,
                "max_score": pytest.approx(0.2),
                "classes": [],
                "detections": [{"xyxy": [1.0, 2.0, 3.0, 4.0], "score": 0.2, "class_id": 1}],
            },
        ),
        (
            Verdict.FAIL,
            {
                "verdict": "FAIL",
                "result_code": 1,
                "reason": "fail",
                "defect_count": 2,
                "max_score": pytest.approx(0.9),
                "classes": ["crack", "pit"],
                "detections": FAIL_DETECTIONS,
            },
        ),
        (
            Verdict.NO_DECISION,
            {
                "verdict": "NO_DECISION",
                "result_code": 0xFFFF,
                "reason": "no_decision",
                "defect_count": 0,
                "max_score": 0.0,
                "classes": [],
                "detections": [],
            },
        ),
    ],
)
def test_a_committed_row_reads_back(store, verdict: Verdict, expected):
    writer = InspectionWriter(store.connect(), CLASS_NAMES)
    row_id = writer.commit(make_inspection(7, verdict, wall_time=1_700_000_000.25))
    [row] = read_back(store)
    assert {key: row[key] for key in expected} == expected
    assert row["id"] == row_id == 1
    assert (row["seq"], row["trigger_id"], row["part_serial"]) == (7, 1007, "SN00007")
    assert row["wall_time"] == 1_700_000_000.25
    assert row["iso_time"].startswith("2023-11-1")  # local date of that instant
    assert row["latency_ms"] == pytest.approx(14.0)
    assert (row["capture_ms"], row["queue_ms"], row["detect_ms"], row["judge_ms"]) == (
        pytest.approx(2.0),
        pytest.approx(1.0),
        pytest.approx(10.0),
        pytest.approx(1.0),
    )
    assert (row["model_id"], row["config_hash"], row["frame_seq"]) == (
        "neu-det@test",
        "0123456789abcdef",
        21,
    )
    assert (row["run_id"], row["calibration_id"], row["image_path"]) == (RUN_ID, None, None)


def test_rows_keep_their_order_and_ids(store):
    writer = InspectionWriter(store.connect(), CLASS_NAMES)
    verdicts = [Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION] * 10
    ids = [writer.commit(make_inspection(s, v)) for s, v in enumerate(verdicts, start=1)]
    rows = read_back(store)
    assert ids == [r["id"] for r in rows] == list(range(1, 31))
    assert [r["seq"] for r in rows] == list(range(1, 31))
    assert [r["verdict"] for r in rows] == [v.value for v in verdicts]


def test_a_row_is_visible_to_another_connection_when_commit_returns(store):
    writer = InspectionWriter(store.connect(), CLASS_NAMES)
    other = store.connect()
    for seq in (1, 2, 3):
        row_id = writer.commit(make_inspection(seq))
        assert other.execute("SELECT seq FROM inspections WHERE id = ?", (row_id,)).fetchone() == (
            seq,
        )
        assert not writer.connection.in_transaction


def _add_event(conn: sqlite3.Connection, record: Inspection, row_id: int) -> None:
    conn.execute(
        "INSERT INTO events (wall_time, kind, severity, message, state) VALUES (?, ?, ?, ?, ?)",
        (record.wall_time, "outbox", "info", f"row {row_id}", "ready"),
    )


def _fail_in_hook(conn: sqlite3.Connection, record: Inspection, row_id: int) -> None:
    _add_event(conn, record, row_id)
    raise RuntimeError("outbox full")


def _broken_record() -> Inspection:
    return dataclasses.replace(make_inspection(2, Verdict.FAIL), model_id=None)  # NOT NULL


@pytest.mark.parametrize(
    ("hooks", "record", "rows", "events", "error"),
    [
        ((_add_event,), make_inspection(1), 1, ["row 1"], None),
        ((_add_event, _add_event), make_inspection(1), 1, ["row 1", "row 1"], None),
        ((_add_event, _fail_in_hook), make_inspection(1), 0, [], "outbox full"),
        ((), _broken_record(), 0, [], "NOT NULL constraint failed: inspections.model_id"),
        ((_add_event,), _broken_record(), 0, [], "NOT NULL constraint failed"),
    ],
)
def test_hooks_run_in_the_rows_transaction(store, hooks, record, rows, events, error):
    writer = InspectionWriter(store.connect(), CLASS_NAMES)
    for hook in hooks:
        writer.add_hook(hook)
    if error:
        with pytest.raises(DataError) as caught:
            writer.commit(record)
        text = str(caught.value)
        assert text.startswith(f"{store.path}: cannot log part {record.seq} (")
        assert error in text
        assert "\n" not in text
    else:
        writer.commit(record)
    assert len(read_table(store.path, "inspections")) == rows
    assert [e["message"] for e in read_table(store.path, "events")] == events
    assert not writer.connection.in_transaction
    # the connection carries on after a failure
    InspectionWriter(writer.connection, CLASS_NAMES).commit(make_inspection(9))
    assert read_table(store.path, "inspections")[-1]["seq"] == 9


def test_a_commit_that_cannot_get_the_lock_is_a_data_error(store):
    writer = InspectionWriter(store.connect(), CLASS_NAMES)
    writer.connection.execute("PRAGMA busy_timeout=50")
    blocker = store.connect()
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(DataError, match=r"cannot log part 1 \(database is locked\)"):
            writer.commit(make_inspection(1))
    finally:
        blocker.execute("ROLLBACK")
    assert writer.commit(make_inspection(1)) == 1


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (
            StageTimes(trigger=1.0, capture=1.5, detect_start=2.0, detect_end=2.25, judged=3.0),
            {
                "latency_ms": 2000.0,
                "capture_ms": 500.0,
                "queue_ms": 500.0,
                "detect_ms": 250.0,
                "judge_ms": 750.0,
            },
        ),
        # A trigger that carries its frame: captured at the trigger, by definition.
        (
            StageTimes(trigger=1.0, capture=1.0, detect_start=1.25, detect_end=1.5, judged=1.5),
            {"capture_ms": 0.0, "queue_ms": 250.0, "detect_ms": 250.0, "judge_ms": 0.0},
        ),
        # A deadline miss before detection: the stages that never ran are NULL, not NaN.
        (
            StageTimes(trigger=1.0, capture=1.5, judged=1.75),
            {"latency_ms": 750.0, "capture_ms": 500.0, "queue_ms": None, "detect_ms": None},
        ),
        (
            StageTimes(trigger=1.0),
            {"latency_ms": None, "capture_ms": None, "queue_ms": None, "judge_ms": None},
        ),
    ],
)
def test_stage_timings(times: StageTimes, expected):
    record = dataclasses.replace(make_inspection(1, Verdict.NO_DECISION), times=times)
    row = inspection_row(record, CLASS_NAMES)
    assert {key: row[key] for key in expected} == expected
    assert tuple(row) == ROW_COLUMNS


def test_a_class_id_the_names_lack_is_still_logged():
    judgement = Judgement(Verdict.FAIL, 8, Detections.from_arrays([[0, 0, 1, 1]], [0.7], [7]))
    record = dataclasses.replace(make_inspection(1, Verdict.FAIL), judgement=judgement)
    row = inspection_row(record, CLASS_NAMES)
    assert json.loads(row["classes"]) == ["#7"]
