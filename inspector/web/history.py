"""The history page's queries: the inspection log searched by time, verdict and class,
and one part with what it was judged with. Each call opens the log read-only (a
reader never blocks the station's writer in WAL mode) and closes it again."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.errors import ConfigError, DataError
from inspector.store.db import open_readonly
from inspector.types import Verdict

__all__ = ["LogReader", "Search"]

_LIST_COLUMNS = (
    "id, seq, run_id, wall_time, iso_time, verdict, reason, defect_count, max_score, "
    "classes, latency_ms, image_path"
)
MAX_ROWS = 500


@dataclass(frozen=True)
class Search:
    """A search of the log; None: any."""

    since: float | None = None
    until: float | None = None
    verdict: Verdict | None = None
    cls: str | None = None
    limit: int = 100

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_ROWS:
            raise ConfigError(f"limit: 1 to {MAX_ROWS}, got {self.limit}")

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = ["1"], []
        for clause, value in (
            ("wall_time >= ?", self.since),
            ("wall_time < ?", self.until),
            ("verdict = ?", self.verdict.value if self.verdict else None),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        if self.cls is not None:  # `classes` is a JSON list of distinct class names
            clauses.append("EXISTS (SELECT 1 FROM json_each(classes) WHERE value = ?)")
            params.append(self.cls)
        return " AND ".join(clauses), params


class LogReader:
    """Reads the station's log and its image archive."""

    def __init__(self, database: Path, images_dir: Path) -> None:
        self.database = database
        self.images_dir = images_dir

    def search(self, search: Search) -> list[dict[str, Any]]:
        where, params = search.where()
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT {_LIST_COLUMNS} FROM inspections WHERE {where} ORDER BY id DESC LIMIT ?",
                [*params, search.limit],
            ).fetchall()
        return [_decoded(row) for row in rows]

    def part(self, row_id: int) -> dict[str, Any] | None:
        """One part's whole row, detections decoded; None when no row has that id."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM inspections WHERE id = ?", (row_id,)).fetchone()
        return _decoded(row) if row is not None else None

    def image(self, row_id: int) -> Path | None:
        """The archived picture of a part, when the log kept one and it is still there."""
        part = self.part(row_id)
        relative = part.get("image_path") if part else None
        if not relative:
            return None
        path = (self.images_dir / relative).resolve()
        if not path.is_relative_to(self.images_dir.resolve()) or not path.is_file():
            return None
        return path

    def _connect(self) -> _Closing:
        return _Closing(open_readonly(self.database))


class _Closing:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, *exc_info: object) -> None:
        self.conn.close()


def _decoded(row: sqlite3.Row) -> dict[str, Any]:
    doc = dict(row)
    for column in ("classes", "detections", "defect_classes"):
        if isinstance(doc.get(column), str):
            try:
                doc[column] = json.loads(doc[column])
            except json.JSONDecodeError:
                raise DataError(f"inspection {doc.get('id')}: {column} is not JSON") from None
    return doc
