"""The inspection log's database: rows through a real SinkRunner, schema, bad files."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from pathlib import Path

import pytest

from inspector.errors import ConfigError, DataError
from inspector.sinks.base import SinkRunner
from inspector.sinks.logread import open_log_readonly, tail
from inspector.sinks.store import (
    COLUMNS,
    SCHEMA_VERSION,
    InspectionLog,
    inspection_row,
    open_log,
)
from inspector.types import Detections, Judgement, StageTimes, Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection

FAIL_DETECTIONS = [
    {"xyxy": [10.0, 20.0, 30.0, 40.0], "score": 0.9, "class_id": 0},
    {"xyxy": [50.0, 60.0, 70.0, 80.5], "score": 0.6, "class_id": 2},
]


def run_through_runner(db: Path, records: list) -> SinkRunner:
    runner = SinkRunner(InspectionLog(open_log(db), None, CLASS_NAMES, 0.0)).start()
    try:
        for record in records:
            assert runner.submit(record)
    finally:
        runner.stop()
    return runner


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
def test_rows_written_through_runner_read_back(tmp_path: Path, verdict: Verdict, expected):
    db = tmp_path / "log" / "inspections.db"
    record = make_inspection(7, verdict, wall_time=1_700_000_000.25)
    runner = run_through_runner(db, [record])
    assert (runner.handled, runner.failures, runner.dropped) == (1, 0, 0)

    conn = open_log_readonly(db)
    try:
        [row] = tail(conn, 10)
    finally:
        conn.close()
    assert {key: row[key] for key in expected} == expected
    assert row["id"] == 1
    assert row["seq"] == 7
    assert row["trigger_id"] == 1007
    assert row["part_serial"] == "SN00007"
    assert row["wall_time"] == 1_700_000_000.25
    assert row["iso_time"].startswith("2023-11-1")  # local date of that instant
    assert row["latency_ms"] == pytest.approx(14.0)
    assert (row["capture_ms"], row["detect_ms"], row["judge_ms"]) == (
        pytest.approx(2.0),
        pytest.approx(10.0),
        pytest.approx(1.0),
    )
    assert (row["model_id"], row["config_hash"], row["frame_seq"]) == (
        "neu-det@test",
        "0123456789abcdef",
        21,
    )
    assert row["calibration_id"] is None
    assert row["image_path"] is None


def test_many_rows_keep_their_order(tmp_path: Path):
    db = tmp_path / "inspections.db"
    verdicts = [Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION] * 10
    run_through_runner(db, [make_inspection(s, v) for s, v in enumerate(verdicts, start=1)])
    conn = open_log_readonly(db)
    try:
        rows = tail(conn, 100)
    finally:
        conn.close()
    assert [r["seq"] for r in rows] == list(range(1, 31))
    assert [r["id"] for r in rows] == list(range(1, 31))
    assert [r["verdict"] for r in rows] == [v.value for v in verdicts]


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (
            StageTimes(trigger=1.0, capture=1.5, detect_start=2.0, detect_end=2.25, judged=3.0),
            {"latency_ms": 2000.0, "capture_ms": 500.0, "detect_ms": 250.0, "judge_ms": 750.0},
        ),
        # A deadline miss before detection: the stages that never ran are NULL, not NaN.
        (
            StageTimes(trigger=1.0, capture=1.5, judged=1.75),
            {"latency_ms": 750.0, "capture_ms": 500.0, "detect_ms": None, "judge_ms": None},
        ),
        (
            StageTimes(trigger=1.0),
            {"latency_ms": None, "capture_ms": None, "detect_ms": None, "judge_ms": None},
        ),
    ],
)
def test_stage_timings(times: StageTimes, expected):
    record = dataclasses.replace(make_inspection(1, Verdict.NO_DECISION), times=times)
    row = inspection_row(record, CLASS_NAMES, None)
    assert {key: row[key] for key in expected} == expected
    assert list(row) == list(COLUMNS)


def test_a_class_id_the_names_lack_is_still_logged():
    judgement = Judgement(Verdict.FAIL, 8, Detections.from_arrays([[0, 0, 1, 1]], [0.7], [7]))
    record = dataclasses.replace(make_inspection(1, Verdict.FAIL), judgement=judgement)
    row = inspection_row(record, CLASS_NAMES, None)
    assert json.loads(row["classes"]) == ["#7"]


def test_database_is_wal_and_versioned(tmp_path: Path):
    conn = open_log(tmp_path / "inspections.db")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexed = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='index'")}
        assert {"inspections_wall_time", "inspections_verdict"} <= indexed
    finally:
        conn.close()


def test_reopening_keeps_the_rows(tmp_path: Path):
    db = tmp_path / "inspections.db"
    run_through_runner(db, [make_inspection(1), make_inspection(2)])
    run_through_runner(db, [make_inspection(3)])
    conn = open_log_readonly(db)
    try:
        assert [r["seq"] for r in tail(conn, 10)] == [1, 2, 3]
    finally:
        conn.close()


def test_a_failed_insert_leaves_no_row_and_is_counted(tmp_path: Path):
    db = tmp_path / "inspections.db"
    # model_id None violates NOT NULL
    broken = dataclasses.replace(make_inspection(2, Verdict.FAIL), model_id=None)
    runner = run_through_runner(db, [make_inspection(1), broken, make_inspection(3)])
    assert (runner.handled, runner.failures) == (2, 1)
    conn = open_log_readonly(db)
    try:
        assert [r["seq"] for r in tail(conn, 10)] == [1, 3]
    finally:
        conn.close()


def _write_text(path: Path) -> None:
    path.write_text("seq,verdict\n1,PASS\n" * 200)


def _write_random(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 16)


def _write_other_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE parts (serial TEXT)")
    conn.commit()
    conn.close()


def _write_future_log(path: Path) -> None:
    open_log(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (_write_text, "not an SQLite database"),
        (_write_random, "not an SQLite database"),
        (_write_other_sqlite, "an SQLite database, but not an inspection log"),
        (_write_future_log, f"schema version {SCHEMA_VERSION + 1}"),
    ],
)
@pytest.mark.parametrize("opener", [open_log, open_log_readonly])
def test_a_file_that_is_not_a_log_is_a_one_line_error(tmp_path: Path, write, message, opener):
    path = tmp_path / "station.db"
    write(path)
    before = path.read_bytes()
    with pytest.raises(DataError) as caught:
        opener(path)
    text = str(caught.value)
    assert text.startswith(str(path))
    assert message in text
    assert "\n" not in text
    assert path.read_bytes() == before  # never "repaired" into something else


def test_missing_log_is_an_error_for_readers_and_created_for_the_station(tmp_path: Path):
    path = tmp_path / "nowhere" / "inspections.db"
    with pytest.raises(DataError, match=r"inspections\.db: inspection log not found"):
        open_log_readonly(path)
    assert not path.exists()
    open_log(path).close()
    assert path.is_file()


def test_log_folder_that_cannot_exist_is_a_data_error(tmp_path: Path):
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match="cannot create log folder"):
        open_log(tmp_path / "file" / "inspections.db")


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_pass_fraction_out_of_range(tmp_path: Path, fraction: float):
    conn = open_log(tmp_path / "inspections.db")
    try:
        with pytest.raises(ConfigError, match="save_pass_fraction"):
            InspectionLog(conn, None, CLASS_NAMES, fraction)
    finally:
        conn.close()


def test_a_bad_row_in_a_batch_costs_only_itself(tmp_path: Path):
    """The batch's transaction fails on row 3; every other row is still written."""
    db = tmp_path / "inspections.db"
    records = [make_inspection(seq) for seq in range(1, 6)]
    records[2] = dataclasses.replace(records[2], model_id=None)  # violates NOT NULL
    log = InspectionLog(open_log(db), None, CLASS_NAMES, 0.0)
    try:
        errors = log.handle_batch(records)
    finally:
        log.close()
    assert [type(e) for e in errors] == [sqlite3.IntegrityError]
    conn = open_log_readonly(db)
    try:
        assert [r["seq"] for r in tail(conn, 10)] == [1, 2, 4, 5]
    finally:
        conn.close()
