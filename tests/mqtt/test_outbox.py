"""The outbox in the store: rows in the part's (and the event's) own transaction,
msg_seq per stream that never repeats, bounds that count what they drop."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from types import MappingProxyType

import pytest

from inspector.errors import DataError
from inspector.mqtt.outbox import Dropped, Outbox, OutboxWriter, store_id
from inspector.mqtt.payloads import PayloadBuilder
from inspector.mqtt.topics import Topics
from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.sink import StoreSink
from inspector.types import EventKind, Severity, StationEvent, StationState, Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection
from tests.store.helpers import copy_v1_store, read_table

TOPICS = Topics("inspector", "line-1", "station-1")


def writer_with_outbox(db: Path) -> tuple[InspectionWriter, sqlite3.Connection]:
    store = open_store(db)
    conn = store.connect()
    builder = PayloadBuilder("station-1", "line-1", store_id(conn), CLASS_NAMES, 65536)
    writer = InspectionWriter(store.connect(), CLASS_NAMES)
    writer.add_hook(OutboxWriter(builder, TOPICS).add_result)
    return writer, conn


def event(n: int) -> StationEvent:
    return StationEvent(
        EventKind.STATE,
        Severity.INFO,
        f"e{n}",
        time.time(),
        StationState.READY,
        MappingProxyType({}),
    )


def test_a_v1_log_gets_an_outbox_and_an_id(tmp_path: Path):
    db = copy_v1_store(tmp_path)
    with open_store(db) as store:
        first = store_id(store.connect())
    assert len(first) == 16
    with open_store(db) as store:
        assert store_id(store.connect()) == first  # the store keeps its id
    assert read_table(db, "outbox") == []


def test_each_part_and_its_outbox_row_commit_together(tmp_path: Path):
    db = tmp_path / "inspections.db"
    writer, reader = writer_with_outbox(db)
    for seq in (1, 2, 3):
        writer.commit(make_inspection(seq, Verdict.PASS))
    rows = read_table(db, "outbox")
    assert [(r["stream"], r["msg_seq"], r["topic"]) for r in rows] == [
        ("result", n, "inspector/line-1/station-1/result") for n in (1, 2, 3)
    ]

    def failing(conn, record, row_id):
        raise sqlite3.OperationalError("disk full")

    writer.add_hook(failing)  # a hook after the outbox's fails: both rows roll back
    with pytest.raises(DataError, match="cannot log part 4"):
        writer.commit(make_inspection(4, Verdict.FAIL))
    assert len(read_table(db, "inspections")) == len(read_table(db, "outbox")) == 3
    assert reader.execute("SELECT stream, last_seq FROM outbox_streams").fetchall() == [
        ("result", 3)
    ]


def test_msg_seq_never_repeats_after_deliveries_and_restarts(tmp_path: Path):
    db = tmp_path / "inspections.db"
    writer, conn = writer_with_outbox(db)
    outbox = Outbox(conn)
    for seq in (1, 2):
        writer.commit(make_inspection(seq))
    outbox.delete([row.id for row in outbox.after(0, 10)])  # all delivered
    writer.connection.close()
    writer, conn = writer_with_outbox(db)  # a restart on the same store
    writer.commit(make_inspection(1))
    [row] = Outbox(conn).after(0, 10)
    assert (row.msg_seq, row.id) == (3, 3)


def test_events_have_their_own_sequence_in_their_own_transaction(tmp_path: Path):
    db = tmp_path / "inspections.db"
    writer, conn = writer_with_outbox(db)
    builder = PayloadBuilder("station-1", "line-1", store_id(conn), CLASS_NAMES, 65536)
    log = StoreSink(conn, None, 0.0)
    log.add_event_hook(OutboxWriter(builder, TOPICS).add_event)
    writer.commit(make_inspection(1))
    log.handle_event(event(1))
    log.handle_event(event(2))
    writer.commit(make_inspection(2))
    rows = Outbox(conn).after(0, 10)
    assert [(r.stream, r.msg_seq) for r in rows] == [
        ("result", 1),
        ("event", 1),
        ("event", 2),
        ("result", 2),
    ]
    assert len(read_table(db, "events")) == 2


def test_the_bounds_drop_the_oldest_and_count_them(tmp_path: Path):
    db = tmp_path / "inspections.db"
    writer, conn = writer_with_outbox(db)
    for seq in range(1, 26):
        writer.commit(make_inspection(seq))
    outbox = Outbox(conn)
    assert outbox.trim(max_rows=10, max_age_s=3600) == [Dropped("result", 15, 1, 15)]
    assert [row.msg_seq for row in outbox.after(0, 100)] == list(range(16, 26))
    assert outbox.trim(max_rows=10, max_age_s=3600) == []
    # an hour later, the rest is too old
    assert outbox.trim(max_rows=10, max_age_s=3600, now=time.time() + 3601) == [
        Dropped("result", 10, 16, 25)
    ]
    assert outbox.pending() == 0
