"""The audit trail: every change of config, model, threshold and calibration, with the
command that made it. `audit_start` compares what a starting station runs with what was
last audited for it and writes one row per thing that changed."""

from __future__ import annotations

import enum
import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from inspector.store.db import transaction

__all__ = ["AuditEntry", "AuditKind", "audit_start", "last_change", "record_change"]

JsonValue = str | int | float | bool | None


class AuditKind(enum.Enum):
    CONFIG = "config"
    MODEL = "model"
    THRESHOLD = "threshold"
    CALIBRATION = "calibration"
    SPC_LIMITS = "spc_limits"  # a monitor's control limits frozen again (`spc baseline`)
    RECIPE = "recipe"  # the active recipe switched; `command` says who asked


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audited change of `kind` for `subject` (the station, for `audit_start`);
    a hash is None where there was none (first start, no calibration)."""

    kind: AuditKind
    subject: str
    old_hash: str | None
    new_hash: str | None
    command: str
    wall_time: float
    detail: Mapping[str, JsonValue] = field(default_factory=lambda: MappingProxyType({}))


def record_change(
    conn: sqlite3.Connection,
    kind: AuditKind,
    subject: str,
    old_hash: str | None,
    new_hash: str | None,
    command: str,
    detail: Mapping[str, JsonValue] | None = None,
) -> AuditEntry:
    """Write one audit row in its own transaction (or the caller's, if one is open)."""
    entry = AuditEntry(
        kind,
        subject,
        old_hash,
        new_hash,
        command,
        time.time(),
        MappingProxyType(dict(detail or {})),
    )
    if conn.in_transaction:
        _insert(conn, entry)
    else:
        with transaction(conn):
            _insert(conn, entry)
    return entry


def last_change(conn: sqlite3.Connection, kind: AuditKind, subject: str) -> AuditEntry | None:
    """The newest audit row of `kind` for `subject`, None if there is none."""
    row = conn.execute(
        "SELECT old_hash, new_hash, command, wall_time, detail FROM audit "
        "WHERE kind = ? AND subject = ? ORDER BY id DESC LIMIT 1",
        (kind.value, subject),
    ).fetchone()
    if row is None:
        return None
    old_hash, new_hash, command, wall_time, detail = row
    return AuditEntry(
        kind, subject, old_hash, new_hash, command, wall_time, MappingProxyType(json.loads(detail))
    )


def audit_start(
    conn: sqlite3.Connection,
    station: str,
    config_hash: str,
    model_sha256: str,
    threshold: float | Mapping[str, float] | None,
    calibration_id: str | None,
    command: str,
) -> tuple[AuditEntry, ...]:
    """Audit what station `station` starts with: one row for each of config, model,
    threshold and calibration that differs from its last audited value (all four on a
    first start, old hash None). One transaction; the rows written, in that order."""
    current = {
        AuditKind.CONFIG: config_hash,
        AuditKind.MODEL: model_sha256,
        AuditKind.THRESHOLD: _threshold_text(threshold),
        AuditKind.CALIBRATION: calibration_id,
    }
    written = []
    with transaction(conn):
        for kind, new in current.items():
            last = last_change(conn, kind, station)
            if last is not None and last.new_hash == new:
                continue
            old = last.new_hash if last is not None else None
            written.append(record_change(conn, kind, station, old, new, command))
    return tuple(written)


def _threshold_text(threshold: float | Mapping[str, float] | None) -> str | None:
    """One canonical text per threshold setting, so equal settings compare equal."""
    if threshold is None:
        return None
    if isinstance(threshold, Mapping):
        return json.dumps({str(k): float(v) for k, v in threshold.items()}, sort_keys=True)
    return repr(float(threshold))


def _insert(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO audit (wall_time, kind, subject, old_hash, new_hash, command, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            entry.wall_time,
            entry.kind.value,
            entry.subject,
            entry.old_hash,
            entry.new_hash,
            entry.command,
            json.dumps(dict(entry.detail)),
        ),
    )
