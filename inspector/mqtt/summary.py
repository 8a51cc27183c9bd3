"""The retained `summary` payload: the station at a glance, for dashboards that show
state rather than history (Home Assistant's entities read it; schema summary.v1).

Counters cover the whole log: counted from the store once when the sink opens, then
from the records the sink is handed. Built on the MQTT sink's thread, at most once a
second (a line of 100 parts a second must not make 100 retained writes a second).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from inspector.mqtt.payloads import SCHEMA_VERSION, encode, iso_utc
from inspector.types import EventKind, Inspection, StationEvent, StationState, Verdict

__all__ = ["Summary", "SummaryBuilder", "SummaryTopic", "log_counts"]


def log_counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(parts, fails, no decisions) in the log; fails count FAIL and NO_DECISION, as the
    PLC's FAIL_COUNT does."""
    row = conn.execute(
        "SELECT count(*), coalesce(sum(verdict != 'PASS'), 0), "
        "coalesce(sum(verdict = 'NO_DECISION'), 0) FROM inspections"
    ).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


@dataclass
class Summary:
    """What the summary says; changed only on the MQTT sink's thread."""

    parts: int = 0
    fails: int = 0
    no_decision: int = 0
    state: StationState = StationState.STARTING
    spc_active_mask: int = 0
    last: Inspection | None = None

    def count(self, record: Inspection) -> None:
        self.parts += 1
        self.fails += record.verdict is not Verdict.PASS
        self.no_decision += record.verdict is Verdict.NO_DECISION
        self.last = record


@dataclass(frozen=True)
class SummaryBuilder:
    line: str
    station: str

    def __call__(self, summary: Summary) -> bytes:
        now = time.time()
        last = summary.last
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "line": self.line,
            "station": self.station,
            "time": iso_utc(now),
            "epoch_s": round(now, 6),
            "state": summary.state.value,
            "parts": summary.parts,
            "fails": summary.fails,
            "no_decision": summary.no_decision,
            "spc_active_mask": summary.spc_active_mask,
            "last_seq": last.seq if last else None,
            "last_verdict": last.verdict.value if last else None,
            "last_result_code": last.result_code if last else None,
            "last_part_serial": last.part_serial if last else None,
            "last_time": iso_utc(last.wall_time) if last else None,
        }
        return encode(doc)


class SummaryTopic:
    """Keeps the summary and hands it to `retain` when it changed: at once for a state
    change, otherwise at most every `interval_s` (the sink's tick sends what waits)."""

    def __init__(
        self,
        builder: SummaryBuilder,
        summary: Summary,
        topic: str,
        retain: Callable[[str, bytes], None],
        interval_s: float = 1.0,
    ) -> None:
        self.summary = summary
        self._builder = builder
        self._topic = topic
        self._retain = retain
        self._interval_s = interval_s
        self._due = True  # the first is sent at once: dashboards see the counts at start
        self._sent_at = -interval_s

    def count(self, records: Sequence[Inspection]) -> None:
        for record in records:
            self.summary.count(record)
        self._due = True
        self.flush()

    def note_event(self, event: StationEvent) -> None:
        if event.kind is EventKind.STATE:
            self.summary.state = event.state
            self.flush(now=True)
        elif "active_mask" in event.detail:
            mask = event.detail["active_mask"]
            self.summary.spc_active_mask = int(mask) if isinstance(mask, int | float) else 0
            self.flush(now=True)

    def flush(self, now: bool = False) -> None:
        """Send the summary if it changed and its interval is over (or `now`)."""
        if now:
            self._due = True
        elif not self._due or time.monotonic() - self._sent_at < self._interval_s:
            return
        self._due = False
        self._sent_at = time.monotonic()
        self._retain(self._topic, self._builder(self.summary))
