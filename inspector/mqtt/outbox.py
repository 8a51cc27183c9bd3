"""The outbox: messages in the store until the broker has acknowledged them.

Rows are added inside someone else's transaction: a result in the part's own (the
inspection worker's `InspectionWriter` hook), an event in the event's (the log
thread's `StoreSink` hook). So a part is in the log if and only if its message is in
the outbox, whatever is killed when. The publisher reads the rows oldest first on its
own connection, deletes each on the broker's acknowledgement, and trims the oldest
beyond the configured bounds (counted, so they can be announced).

`msg_seq` is given out per stream (result, event) from `outbox_streams`, in the same
transaction as the row: it rises by one per message and never repeats, because the
counter row is never deleted (only a new store starts again, with a new `store_id`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass

from inspector.mqtt.payloads import PayloadBuilder
from inspector.mqtt.topics import Topics
from inspector.store.db import transaction
from inspector.types import Inspection, StationEvent

__all__ = ["Dropped", "Outbox", "OutboxRow", "OutboxWriter", "store_id"]

RESULT, EVENT = "result", "event"

_NEXT_SEQ = (
    "INSERT INTO outbox_streams (stream, last_seq) VALUES (?, 1) "
    "ON CONFLICT (stream) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq"
)
_INSERT = "INSERT INTO outbox (stream, msg_seq, topic, payload, created) VALUES (?, ?, ?, ?, ?)"
_AFTER = (
    "SELECT id, stream, msg_seq, topic, payload, created FROM outbox "
    "WHERE id > ? ORDER BY id LIMIT ?"
)
_BEYOND = "id <= ? OR created < ?"


def store_id(conn: sqlite3.Connection) -> str:
    """The id the store got when its outbox was made (migration 3)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
    if row is None:  # a store is never without one; a damaged one gets a fresh id
        raise sqlite3.DatabaseError("the store has no store_id (meta table damaged?)")
    return str(row[0])


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    stream: str
    msg_seq: int
    topic: str
    payload: bytes
    created: float


@dataclass(frozen=True, slots=True)
class Dropped:
    """Rows of one stream the bounds removed before they were delivered."""

    stream: str
    count: int
    first_msg_seq: int
    last_msg_seq: int


class OutboxWriter:
    """The hooks that add a message to the outbox in the caller's transaction."""

    def __init__(self, builder: PayloadBuilder, topics: Topics) -> None:
        self._builder = builder
        self._topics = topics

    def add_result(self, conn: sqlite3.Connection, record: Inspection, row_id: int) -> None:
        """`InspectionWriter` hook: the part's result, in the part's transaction."""
        msg_seq = conn.execute(_NEXT_SEQ, (RESULT,)).fetchone()[0]
        payload = self._builder.result(record, msg_seq)
        conn.execute(_INSERT, (RESULT, msg_seq, self._topics.result, payload, time.time()))

    def add_event(self, conn: sqlite3.Connection, event: StationEvent, row_id: int) -> None:
        """`StoreSink` hook: a station event, in the transaction of its `events` row."""
        msg_seq = conn.execute(_NEXT_SEQ, (EVENT,)).fetchone()[0]
        payload = self._builder.event(event, msg_seq)
        conn.execute(_INSERT, (EVENT, msg_seq, self._topics.event, payload, time.time()))


class Outbox:
    """The publisher's side, on its own connection (one thread)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def after(self, row_id: int, limit: int) -> list[OutboxRow]:
        """Up to `limit` rows with an id above `row_id`, oldest first."""
        rows = self._conn.execute(_AFTER, (row_id, limit)).fetchall()
        return [OutboxRow(*row) for row in rows]

    def delete(self, ids: Sequence[int]) -> None:
        """Remove delivered (or refused) rows, in one transaction."""
        if not ids:
            return
        with transaction(self._conn):
            self._conn.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    def pending(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def trim(self, max_rows: int, max_age_s: float, now: float | None = None) -> list[Dropped]:
        """Delete the rows beyond the bounds: all but the newest `max_rows` ids, and any
        older than `max_age_s`; what was deleted, per stream.

        The row bound counts ids, not rows: the newest `max_rows` ids hold at most
        `max_rows` rows (fewer where a refused message left a hole), and finding the
        cut is one index lookup, not a count of the table."""
        now = time.time() if now is None else now
        with transaction(self._conn):
            newest = self._conn.execute("SELECT max(id) FROM outbox").fetchone()[0]
            if newest is None:
                return []
            bounds = (newest - max_rows, now - max_age_s)
            groups = self._conn.execute(
                "SELECT stream, count(*), min(msg_seq), max(msg_seq) FROM outbox "
                f"WHERE {_BEYOND} GROUP BY stream ORDER BY stream",
                bounds,
            ).fetchall()
            if groups:
                self._conn.execute(f"DELETE FROM outbox WHERE {_BEYOND}", bounds)
        return [Dropped(*group) for group in groups]
