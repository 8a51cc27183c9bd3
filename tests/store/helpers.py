"""Stores written as the station writes them, for the store tests."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.types import Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection

__all__ = ["V1_FIXTURE", "copy_v1_store", "count_rows", "read_table", "write_log"]

# A v1 log and its archive, written by the release before inspector/store/ (see its README).
V1_FIXTURE = Path(__file__).parent / "data" / "v1"


def write_log(path: Path, verdicts: list[Verdict], wall_times: list[float] | None = None) -> None:
    """A store with one row per verdict, seq 1, 2, ..., committed as the worker does."""
    with open_store(path) as store:
        writer = InspectionWriter(store.connect(), CLASS_NAMES)
        for seq, verdict in enumerate(verdicts, start=1):
            wall_time = wall_times[seq - 1] if wall_times else None
            writer.commit(make_inspection(seq, verdict, wall_time=wall_time))


def copy_v1_store(folder: Path) -> Path:
    """A copy of the v1 fixture (database + images/) in `folder`; the database's path."""
    shutil.copytree(V1_FIXTURE, folder, dirs_exist_ok=True)
    return folder / "inspections.db"


def count_rows(path: Path) -> int:
    return len(read_table(path, "inspections"))


def read_table(path: Path, table: str) -> list[dict]:
    """Every row of `table`, by id, through a read-only connection of its own."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute(f"SELECT * FROM {table} ORDER BY id")]
    finally:
        conn.close()
