"""The store's sink, on the log thread: part images into the archive, station events
into the `events` table. The part's row itself is already committed by the inspection
worker (`InspectionWriter`) before any sink sees the record."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from fractions import Fraction

from inspector.errors import ConfigError, DataError
from inspector.sinks.base import Sink
from inspector.store.archive import ImageArchive, PendingImage
from inspector.store.audit import AuditKind, record_change
from inspector.store.db import transaction
from inspector.store.inspections import database_file
from inspector.types import EventKind, Inspection, Severity, StationEvent

__all__ = ["EventHook", "StoreSink"]

# A statement a later feature adds to an event's transaction (the MQTT outbox row):
# (connection, event, the new row's id). Raising rolls the event's row back too.
EventHook = Callable[[sqlite3.Connection, StationEvent, int], None]

# The newest row of the part: (run_id, seq) names one part for good once the station
# sets run ids; max(id) keeps it to this run's part where a run id was left empty.
_SET_IMAGE = (
    "UPDATE inspections SET image_path = ? WHERE id = "
    "(SELECT max(id) FROM inspections WHERE run_id = ? AND seq = ?)"
)
_INSERT_EVENT = (
    "INSERT INTO events (wall_time, kind, severity, message, state, detail) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)


class StoreSink(Sink):
    """Archives the images of chosen parts and links them to their rows; records that
    queued up together are linked in one transaction, and if it fails each is retried
    in its own, so one bad record never costs the others. Writes station events."""

    name = "log"
    # Group commit: on a busy line an image waits up to 20 ms for the parts behind it,
    # and their one transaction costs the station's cores a fraction of one per part.
    linger_s = 0.02
    wants_events = True

    def __init__(
        self,
        conn: sqlite3.Connection,
        archive: ImageArchive | None,
        save_pass_fraction: float,
        save_failed: bool = True,
    ) -> None:
        if not 0.0 <= save_pass_fraction <= 1.0:
            raise ConfigError(f"save_pass_fraction must be in [0, 1], got {save_pass_fraction}")
        self._conn = conn
        self._archive = archive
        # An exact fraction keeps "every 100th" exact, free of float rounding.
        self._pass_fraction = Fraction(save_pass_fraction).limit_denominator(1_000_000)
        self._save_failed = save_failed
        self._event_hooks: list[EventHook] = []
        self.database = database_file(conn)

    def handle(self, record: Inspection) -> None:
        errors = self.handle_batch([record])
        if errors:
            raise errors[0]

    def handle_batch(self, records: Sequence[Inspection]) -> list[Exception]:
        archive = self._archive
        if archive is None:
            return []
        errors: dict[int, Exception] = {}  # by record, so a record fails at most once
        staged: dict[int, PendingImage] = {}
        for index, record in enumerate(records):
            try:
                pending = self._stage(archive, record)
            except Exception as exc:
                errors[index] = exc
                continue
            if pending is not None:
                staged[index] = pending
        if staged:
            linked, failed = self._link(archive, records, staged)
            errors |= failed
            errors |= self._publish(archive, records, linked)
            archive.evict()
        return [errors[index] for index in sorted(errors)]

    def add_event_hook(self, hook: EventHook) -> None:
        """Run `hook` inside every later event's transaction, after its row's insert
        (the MQTT outbox row: an event is delivered if and only if it is logged)."""
        self._event_hooks.append(hook)

    def handle_event(self, event: StationEvent) -> None:
        detail = json.dumps(dict(event.detail))
        with transaction(self._conn):
            row_id = self._conn.execute(
                _INSERT_EVENT,
                (
                    event.wall_time,
                    event.kind.value,
                    event.severity.value,
                    event.message,
                    event.state.value,
                    detail,
                ),
            ).lastrowid
            if event.kind is EventKind.RECIPE_CHANGED and event.severity is Severity.INFO:
                _audit_recipe(self._conn, event)
            for hook in self._event_hooks:
                hook(self._conn, event, row_id or 0)

    def wants_image(self, record: Inspection) -> bool:
        """Whether to archive this part's image: rejected parts when save_failed, passes
        sampled evenly by `record.seq`, none without an archive. Pure, so the station may
        ask on its own thread before copying the image into the record."""
        if self._archive is None:
            return False
        if record.verdict.rejects:
            return self._save_failed
        return _sampled(record.seq, self._pass_fraction)

    def close(self) -> None:
        self._conn.close()

    def _stage(self, archive: ImageArchive, record: Inspection) -> PendingImage | None:
        if record.image is None or not self.wants_image(record):
            return None
        name = f"{record.seq:09d}-{record.verdict.value.lower()}"
        return archive.stage(record.image, name, record.run_id, record.seq)

    def _link(
        self,
        archive: ImageArchive,
        records: Sequence[Inspection],
        staged: dict[int, PendingImage],
    ) -> tuple[dict[int, PendingImage], dict[int, Exception]]:
        """Track each staged image and set its part's image_path: all in one
        transaction, or each in its own if that fails. (linked, errors)."""
        try:
            with transaction(self._conn):
                for index, pending in staged.items():
                    self._attach(archive, records[index], pending)
            return staged, {}
        except (sqlite3.Error, DataError):
            pass
        linked: dict[int, PendingImage] = {}
        errors: dict[int, Exception] = {}
        for index, pending in staged.items():
            try:
                with transaction(self._conn):
                    self._attach(archive, records[index], pending)
            except (sqlite3.Error, DataError) as exc:
                archive.discard(pending)
                errors[index] = exc
            else:
                linked[index] = pending
        return linked, errors

    def _attach(self, archive: ImageArchive, record: Inspection, pending: PendingImage) -> None:
        archive.track(pending)
        self._set_image(record, pending.relative)

    def _set_image(self, record: Inspection, relative: str | None) -> None:
        cursor = self._conn.execute(_SET_IMAGE, (relative, record.run_id, record.seq))
        if cursor.rowcount == 0:
            raise DataError(
                f"{self.database}: no row of part {record.seq} (run {record.run_id!r}) "
                "to attach its image to"
            )

    def _publish(
        self,
        archive: ImageArchive,
        records: Sequence[Inspection],
        linked: dict[int, PendingImage],
    ) -> dict[int, Exception]:
        """Rename each linked image into place; one that fails is unlinked again."""
        errors: dict[int, Exception] = {}
        for index, pending in linked.items():
            try:
                archive.publish(pending)
            except DataError as exc:
                errors[index] = exc
                with transaction(self._conn):
                    archive.untrack(pending)
                    self._set_image(records[index], None)
        return errors


def _sampled(seq: int, fraction: Fraction) -> bool:
    """True when `seq * fraction` crosses an integer: exactly `fraction` of any run of seqs,
    evenly spread (0.01 keeps seq 100, 200, ...)."""
    p, q = fraction.numerator, fraction.denominator  # integer floors: no Fraction per part
    return seq * p // q != (seq - 1) * p // q


def _audit_recipe(conn: sqlite3.Connection, event: StationEvent) -> None:
    """A switch (or the start recipe) as an audit row: old and new recipe number, and
    who asked (plc, operator, start-up) as its command; inside the event's transaction."""
    detail = event.detail
    previous = detail.get("previous")
    record_change(
        conn,
        AuditKind.RECIPE,
        "recipe",
        str(previous) if isinstance(previous, int) and previous >= 0 else None,
        str(detail.get("recipe")),
        str(detail.get("by", "")),
        {k: v for k, v in detail.items() if k in ("name", "model_sha256", "switch_ms")},
    )
