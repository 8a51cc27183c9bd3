"""One row per inspected part, committed by the inspection worker before anyone acts
on the verdict: a part the PLC has rejected or passed is in the log, even after kill -9.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from inspector.errors import DataError
from inspector.store.db import transaction
from inspector.types import Detections, Inspection

__all__ = [
    "INSPECTION_COLUMNS",
    "ROW_COLUMNS",
    "CommitHook",
    "InspectionWriter",
    "class_counts",
    "database_file",
    "inspection_row",
]

# Every column but `id`, in table order (version 6).
INSPECTION_COLUMNS: tuple[str, ...] = (
    "seq",
    "trigger_id",
    "origin",
    "part_serial",
    "wall_time",
    "iso_time",
    "verdict",
    "result_code",
    "reason",
    "defect_count",
    "max_score",
    "classes",
    "detections",
    "latency_ms",
    "capture_ms",
    "detect_ms",
    "judge_ms",
    "model_id",
    "model_sha256",
    "config_hash",
    "calibration_id",
    "frame_seq",
    "image_path",
    "run_id",
    "queue_ms",
    "defect_classes",
    "brightness",
    "focus",
    "camera_id",
    "camera_frame_id",
    "camera_timestamp_ns",
    "pixel_format",
    "recipe",
    "recipe_name",
)

# What the worker writes: everything but the image, which the store sink attaches later.
ROW_COLUMNS: tuple[str, ...] = tuple(c for c in INSPECTION_COLUMNS if c != "image_path")

_INSERT = (
    f"INSERT INTO inspections ({', '.join(ROW_COLUMNS)}) "
    f"VALUES ({', '.join(':' + c for c in ROW_COLUMNS)})"
)

# A statement a later feature adds to the part's transaction (the MQTT outbox row):
# (connection, record, the new row's id). Raising rolls the part's row back too.
CommitHook = Callable[[sqlite3.Connection, Inspection, int], None]


class InspectionWriter:
    """Commits one record as one row in its own short transaction, on the caller's thread."""

    def __init__(self, conn: sqlite3.Connection, class_names: Sequence[str]) -> None:
        self.connection = conn
        self._class_names = tuple(class_names)
        self._hooks: list[CommitHook] = []
        self.database = database_file(conn)

    def add_hook(self, hook: CommitHook) -> None:
        """Run `hook` inside every later commit's transaction, after the row's insert."""
        self._hooks.append(hook)

    def commit(self, record: Inspection) -> int:
        """Write `record`'s row (and whatever the hooks add) and commit; the row's id.
        When this returns, the row is durable against a crash of the process and visible
        to every other connection. Raises `DataError` naming the database on failure,
        with nothing of this record written."""
        row = inspection_row(record, record.names(self._class_names))
        conn = self.connection
        try:
            with transaction(conn):
                row_id = conn.execute(_INSERT, row).lastrowid
                assert row_id is not None  # an INSERT always sets it
                for hook in self._hooks:
                    hook(conn, record, row_id)
        except Exception as exc:  # a hook's failure too: the station makes it a LOG fault
            raise DataError(f"{self.database}: cannot log part {record.seq} ({exc})") from exc
        return row_id

    def close(self) -> None:
        self.connection.close()


def database_file(conn: sqlite3.Connection) -> str:
    """The file of the connection's main database, for error messages."""
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return file or ":memory:"
    return "?"


def inspection_row(record: Inspection, class_names: Sequence[str]) -> dict[str, Any]:
    """The table row of one record, keyed by column name (`ROW_COLUMNS`, in order)."""
    defects = record.judgement.defects
    times = record.times
    health = record.image_health
    camera = record.camera
    counts = class_counts(defects, class_names)
    return {
        "seq": record.seq,
        "trigger_id": record.trigger_id,
        "origin": record.origin,
        "part_serial": record.part_serial,
        "wall_time": record.wall_time,
        "iso_time": _iso_time(record.wall_time),
        "verdict": record.verdict.value,
        "result_code": record.result_code,
        "reason": record.judgement.reason,
        "defect_count": len(defects),
        # Of every detection, not only defects: how close a passed part came to failing.
        "max_score": record.detections.max_score(),
        "classes": json.dumps(sorted(counts)),  # distinct defect class names
        "detections": json.dumps(_detection_list(record.detections)),
        "latency_ms": _finite(record.latency_ms),
        # Trigger to frame: 0 for triggers that carry their frame (presence, line).
        "capture_ms": _finite(times.ms("trigger", "capture")),
        "detect_ms": _finite(times.ms("detect_start", "detect_end")),
        "judge_ms": _finite(times.ms("detect_end", "judged")),
        "model_id": record.model_id,
        "model_sha256": record.model_sha256,
        "config_hash": record.config_hash,
        "calibration_id": record.calibration_id,
        "frame_seq": record.frame_seq,
        "run_id": record.run_id,
        # Frame to detection start: how long the part waited for the worker.
        "queue_ms": _finite(times.ms("capture", "detect_start")),
        # What SPC counts per class and watches per image, so that it can rebuild any
        # subgroup from the log after a crash.
        "defect_classes": json.dumps(counts) if counts else "{}",
        "brightness": health.brightness if health else None,
        "focus": health.focus if health else None,
        "camera_id": camera.camera_id if camera else None,
        "camera_frame_id": camera.frame_id if camera else None,
        # SQLite integers are signed 64-bit: a camera's ns timestamp fits until 2262
        "camera_timestamp_ns": camera.timestamp_ns if camera else None,
        "pixel_format": camera.pixel_format if camera else None,
        "recipe": record.recipe,
        "recipe_name": record.recipe_name,
    }


def _iso_time(wall_time: float) -> str:
    """Local time with its UTC offset: readable on the shop floor, unambiguous anywhere."""
    return datetime.fromtimestamp(wall_time).astimezone().isoformat(timespec="milliseconds")


def _class_name(class_id: int, class_names: Sequence[str]) -> str:
    """An id the names lack still shows, as '#id'."""
    return class_names[class_id] if 0 <= class_id < len(class_names) else f"#{class_id}"


def class_counts(defects: Detections, class_names: Sequence[str]) -> dict[str, int]:
    """Defects per class name, sorted by name; only classes present. (A dict over a
    list: for the few defects of a part, far cheaper than numpy's unique.)"""
    if not len(defects):
        return {}
    counts: dict[str, int] = {}
    for class_id in defects.class_id.tolist():
        name = _class_name(class_id, class_names)
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items())) if len(counts) > 1 else counts


def _detection_list(detections: Detections) -> list[dict[str, Any]]:
    # Rounded: hundredths of a pixel and 1e-5 of score are below any decision we make,
    # and keep a row with many detections short.
    return [
        {
            "xyxy": [round(float(v), 2) for v in box],
            "score": round(float(score), 5),
            "class_id": int(class_id),
        }
        for box, score, class_id in zip(
            detections.xyxy, detections.score, detections.class_id, strict=True
        )
    ]


def _finite(value: float) -> float | None:
    """A stage that never happened (NaN timestamp) is NULL, not NaN, in the log."""
    return value if math.isfinite(value) else None
