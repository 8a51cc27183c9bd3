"""Reading the inspection log: tail, follow, CSV export.

Readers open the store read-only (`db.open_readonly`): they can never modify or migrate
the station's log, and in WAL mode they read while the station writes without blocking
it. A store of an older version is read with the columns it has.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from inspector.errors import ConfigError, DataError, OutputExistsError
from inspector.store.inspections import INSPECTION_COLUMNS

__all__ = [
    "CSV_COLUMNS",
    "MS_COLUMNS",
    "csv_columns",
    "export_csv",
    "follow",
    "last_id",
    "parse_time",
    "tail",
]

# The export of a current store; an older one exports the columns it has, in this order.
CSV_COLUMNS: tuple[str, ...] = ("id", *INSPECTION_COLUMNS)

# Durations in milliseconds, exported to 0.01 ms: finer is clock noise, not information.
MS_COLUMNS = frozenset(c for c in INSPECTION_COLUMNS if c.endswith("_ms"))

_JSON_COLUMNS = ("classes", "detections")


def tail(conn: sqlite3.Connection, n: int) -> list[dict[str, Any]]:
    """The newest `n` inspections, oldest first; `classes` and `detections` decoded."""
    if n < 0:
        raise ConfigError(f"number of rows must be >= 0, got {n}")
    rows = conn.execute("SELECT * FROM inspections ORDER BY id DESC LIMIT ?", (n,)).fetchall()
    return [_decoded(row) for row in reversed(rows)]


def last_id(conn: sqlite3.Connection) -> int:
    """Id of the newest inspection, 0 for an empty log: `follow` from here sees only new."""
    return conn.execute("SELECT coalesce(max(id), 0) FROM inspections").fetchone()[0]


def follow(
    conn: sqlite3.Connection,
    after_id: int,
    *,
    poll_s: float = 0.5,
    stop: Callable[[], bool] | None = None,
    max_idle_s: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield inspections with id > `after_id` as they are written, oldest first.

    Ends when `stop()` returns True (checked every poll) or when no new row has come for
    `max_idle_s` seconds; with neither, it runs until the caller stops iterating.
    """
    newest = after_id
    idle_since = time.monotonic()
    while stop is None or not stop():
        rows = _rows_after(conn, newest)
        for row in rows:
            newest = row["id"]
            yield row
        if rows:
            idle_since = time.monotonic()
            continue
        if max_idle_s is not None and time.monotonic() - idle_since >= max_idle_s:
            return
        time.sleep(poll_s)


def _rows_after(conn: sqlite3.Connection, after_id: int) -> list[dict[str, Any]]:
    # fetchall, not a live cursor: a cursor held across a yield would pin an old snapshot.
    rows = conn.execute(
        "SELECT * FROM inspections WHERE id > ? ORDER BY id LIMIT 1000", (after_id,)
    ).fetchall()
    return [_decoded(row) for row in rows]


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    for column in _JSON_COLUMNS:
        record[column] = json.loads(record[column])
    return record


def export_csv(
    conn: sqlite3.Connection,
    out_path: Path,
    since: float | None = None,
    until: float | None = None,
    *,
    force: bool = False,
) -> int:
    """Write inspections with since <= wall_time < until (unix seconds; None: open) as CSV.

    One row per inspection, flat columns (`csv_columns`), detections as their JSON text,
    durations rounded to 0.01 ms.
    Written to a temp file and renamed, so OUT is either the old file or the whole new one.
    Returns the number of rows written.
    """
    out_path = Path(out_path)
    if out_path.exists() and not force:
        raise OutputExistsError(f"{out_path}: already exists (use --force)")
    if since is not None and until is not None and until <= since:
        raise ConfigError(f"export window is empty: until {until} <= since {since}")
    columns = csv_columns(conn)
    where, params = _time_window(since, until)
    cursor = conn.execute(
        f"SELECT {', '.join(columns)} FROM inspections {where} ORDER BY id", params
    )
    rounded = [index for index, column in enumerate(columns) if column in MS_COLUMNS]
    rows = (_rounded(tuple(row), rounded) for row in cursor)
    return _write_csv_atomically(out_path, columns, rows)


def csv_columns(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The export's columns that this store has (an older one lacks the newer)."""
    present = {row[1] for row in conn.execute("PRAGMA table_info(inspections)")}
    return tuple(column for column in CSV_COLUMNS if column in present)


def _rounded(row: tuple[Any, ...], indexes: list[int]) -> tuple[Any, ...]:
    values = list(row)
    for index in indexes:
        if values[index] is not None:
            values[index] = round(values[index], 2)
    return tuple(values)


def _time_window(since: float | None, until: float | None) -> tuple[str, list[float]]:
    conditions, params = [], []
    if since is not None:
        conditions.append("wall_time >= ?")
        params.append(since)
    if until is not None:
        conditions.append("wall_time < ?")
        params.append(until)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return where, params


def _write_csv_atomically(
    out_path: Path, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]
) -> int:
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{out_path.name}.", dir=out_path.parent)
    except OSError as exc:
        raise DataError(f"{out_path}: cannot write ({exc.strerror})") from None
    try:
        count = _write_csv(fd, columns, rows)
        os.replace(temp, out_path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise DataError(f"{out_path}: cannot write ({exc.strerror})") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return count


def _write_csv(fd: int, columns: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> int:
    count = 0
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def parse_time(text: str, option: str = "time") -> float:
    """Unix seconds from unix seconds or ISO 8601; a time without offset is local time,
    as the log's `iso_time` column shows it."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = _parse_iso(text, option)
    if not math.isfinite(seconds):
        raise ConfigError(f"{option} {text!r}: expected an ISO 8601 time or unix seconds")
    return seconds


def _parse_iso(text: str, option: str) -> float:
    # a trailing Z (what a browser's toISOString() sends) is ISO 8601 for UTC, but
    # datetime.fromisoformat reads it only since Python 3.11; the station runs on 3.10 too
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected an ISO 8601 time or unix seconds") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()
