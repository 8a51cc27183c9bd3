"""The audit trail: a starting station writes one row per thing that changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.store.audit import AuditKind, audit_start, last_change, record_change
from inspector.store.db import open_store
from tests.store.helpers import read_table

CONFIG, MODEL, THRESHOLD, CALIBRATION = (
    AuditKind.CONFIG,
    AuditKind.MODEL,
    AuditKind.THRESHOLD,
    AuditKind.CALIBRATION,
)
FIRST = {"config_hash": "c1", "model_sha256": "m1", "threshold": 0.5, "calibration_id": None}


@pytest.fixture
def conn(tmp_path: Path):
    with open_store(tmp_path / "inspections.db") as store:
        yield store.connect()


@pytest.mark.parametrize(
    ("second", "written"),
    [
        ({}, []),
        ({"config_hash": "c2"}, [(CONFIG, "c1", "c2")]),
        (
            {"model_sha256": "m2", "threshold": 0.25},
            [(MODEL, "m1", "m2"), (THRESHOLD, "0.5", "0.25")],
        ),
        ({"threshold": 0.5000}, []),  # the same value, written differently
        (
            {"threshold": {"crack": 0.4, "pit": 0.6}},
            [(THRESHOLD, "0.5", '{"crack": 0.4, "pit": 0.6}')],
        ),
        ({"calibration_id": "cal-7"}, [(CALIBRATION, None, "cal-7")]),
    ],
)
def test_a_start_audits_what_changed_since_the_last(conn, second, written):
    first = audit_start(conn, "station-1", command="inspector run -c a.yaml", **FIRST)
    assert [(e.kind, e.old_hash, e.new_hash) for e in first] == [
        (CONFIG, None, "c1"),
        (MODEL, None, "m1"),
        (THRESHOLD, None, "0.5"),
        (CALIBRATION, None, None),
    ]
    entries = audit_start(
        conn, "station-1", command="inspector run -c b.yaml", **{**FIRST, **second}
    )
    assert [(e.kind, e.old_hash, e.new_hash) for e in entries] == written
    rows = read_table(Path(conn.execute("PRAGMA database_list").fetchone()[2]), "audit")
    assert len(rows) == 4 + len(written)
    assert all(row["command"] == "inspector run -c b.yaml" for row in rows[4:])
    assert all(row["subject"] == "station-1" for row in rows)


def test_stations_are_audited_apart(conn):
    audit_start(conn, "station-1", command="run", **FIRST)
    other = audit_start(conn, "station-2", command="run", **FIRST)
    assert len(other) == 4  # a first start for station-2
    assert last_change(conn, MODEL, "station-2").old_hash is None


def test_record_and_read_back_a_change(conn):
    assert last_change(conn, THRESHOLD, "station-1") is None
    record_change(
        conn, THRESHOLD, "station-1", "0.5", "0.4", "inspector eval --save-card", {"map50": 0.9}
    )
    record_change(conn, THRESHOLD, "station-1", "0.4", "0.3", "inspector eval --save-card")
    last = last_change(conn, THRESHOLD, "station-1")
    assert (last.old_hash, last.new_hash, last.command, dict(last.detail)) == (
        "0.4",
        "0.3",
        "inspector eval --save-card",
        {},
    )
    assert last.wall_time > 0
    assert not conn.in_transaction
