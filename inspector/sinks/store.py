"""The inspection log: one SQLite row per part, plus an archive of part images.

The database runs in WAL mode with synchronous=NORMAL: a committed row survives a crash
or kill -9 of the station (not necessarily a power cut), readers never block the writer,
and a commit costs no fsync, so logging keeps up with the line.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.errors import ConfigError, DataError
from inspector.sinks.base import Sink
from inspector.types import Detections, Inspection

__all__ = [
    "COLUMNS",
    "SCHEMA_VERSION",
    "ImageArchive",
    "InspectionLog",
    "check_schema",
    "inspection_row",
    "open_log",
]

SCHEMA_VERSION = 1

# Statements, not a script: executescript() would commit in the middle of our transaction.
_SCHEMA: tuple[str, ...] = (
    """
CREATE TABLE inspections (
    id             INTEGER PRIMARY KEY,
    seq            INTEGER NOT NULL,
    trigger_id     INTEGER NOT NULL,
    origin         TEXT    NOT NULL,
    part_serial    TEXT,
    wall_time      REAL    NOT NULL,
    iso_time       TEXT    NOT NULL,
    verdict        TEXT    NOT NULL CHECK (verdict IN ('PASS', 'FAIL', 'NO_DECISION')),
    result_code    INTEGER NOT NULL,
    reason         TEXT    NOT NULL,
    defect_count   INTEGER NOT NULL,
    max_score      REAL    NOT NULL,
    classes        TEXT    NOT NULL,
    detections     TEXT    NOT NULL,
    latency_ms     REAL,
    capture_ms     REAL,
    detect_ms      REAL,
    judge_ms       REAL,
    model_id       TEXT    NOT NULL,
    model_sha256   TEXT    NOT NULL,
    config_hash    TEXT    NOT NULL,
    calibration_id TEXT,
    frame_seq      INTEGER,
    image_path     TEXT
)""",
    "CREATE INDEX inspections_wall_time ON inspections (wall_time)",
    "CREATE INDEX inspections_verdict ON inspections (verdict)",
)

# Every column but `id`, in table order: the insert and the CSV export both use it.
COLUMNS: tuple[str, ...] = (
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
)

_INSERT = (
    f"INSERT INTO inspections ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})"
)

_DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")  # only these are the archive's to evict
_TEMP_SUFFIX = ".tmp"
_IMAGE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


# ---------------------------------------------------------------- the database


def open_log(path: Path) -> sqlite3.Connection:
    """Open (creating if absent) the inspection log for writing, ready for `InspectionLog`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{path.parent}: cannot create log folder ({exc.strerror})") from None
    # The sink thread, not the opener, uses the connection; explicit BEGIN/COMMIT only.
    conn = _connect(path, check_same_thread=False, isolation_level=None)
    with closed_on_error(conn, path):
        # Schema first: someone else's database must be refused before WAL changes it.
        _ensure_schema(conn, path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextlib.contextmanager
def closed_on_error(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """Opening a log that fails closes the connection and names the file in one line."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        conn.close()
        raise DataError(f"{path}: cannot open inspection log ({exc})") from None
    except sqlite3.DatabaseError:
        conn.close()
        raise DataError(f"{path}: not an SQLite database") from None
    except DataError:
        conn.close()
        raise


def _connect(database: str | Path, **options: Any) -> sqlite3.Connection:
    try:
        return sqlite3.connect(database, **options)
    except sqlite3.Error as exc:
        raise DataError(f"{database}: cannot open inspection log ({exc})") from None


def check_schema(conn: sqlite3.Connection, path: Path) -> None:
    """Raise DataError unless `conn` holds an inspection log of this schema version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == SCHEMA_VERSION and _has_table(conn):
        return
    if version == 0:
        raise DataError(f"{path}: an SQLite database, but not an inspection log")
    raise DataError(
        f"{path}: inspection log schema version {version}, this inspector reads {SCHEMA_VERSION}"
    )


def _ensure_schema(conn: sqlite3.Connection, path: Path) -> None:
    if _is_blank(conn):
        # One transaction: a crash leaves either no schema or the whole, versioned one.
        with _transaction(conn):
            if _is_blank(conn):  # still, now that we hold the lock: a second opener waits
                _create_schema(conn)
    check_schema(conn, path)


def _create_schema(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _is_blank(conn: sqlite3.Connection) -> bool:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    return version == 0 and tables == 0


def _has_table(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'inspections'"
    ).fetchone()
    return row is not None


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# ---------------------------------------------------------------- the image archive


@dataclass(frozen=True, slots=True)
class _StoredImage:
    relative: str  # "YYYY-MM-DD/HHMMSS-ffffff-<name>.png"; sorts oldest first
    size: int


class ImageArchive:
    """PNG images in dated sub-folders under a disk quota; the oldest go first.

    File paths sort in the order they were saved (date folder, then time of day), so
    eviction is a walk in name order, and the running total avoids re-scanning the disk.
    """

    def __init__(self, folder: Path, quota_bytes: int) -> None:
        if quota_bytes <= 0:
            raise ConfigError(f"image archive quota must be > 0 bytes, got {quota_bytes}")
        self.folder = Path(folder)
        self.quota_bytes = quota_bytes
        _make_folder(self.folder)
        self._images: deque[_StoredImage] = deque(self._scan())
        self.used_bytes = sum(image.size for image in self._images)

    def save(self, image: np.ndarray, name: str) -> str:
        """Write `image` as PNG; return its path relative to the archive folder.

        `name` ([A-Za-z0-9_.-]) follows the time of day in the file name, so it only
        needs to tell apart images of the same microsecond (the caller uses the seq).
        """
        if not _IMAGE_NAME.fullmatch(name):
            raise DataError(f"image name {name!r}: only letters, digits, '_', '.', '-'")
        now = datetime.now().astimezone()
        day = self.folder / now.strftime("%Y-%m-%d")
        _make_folder(day)
        target = day / f"{now.strftime('%H%M%S-%f')}-{name}.png"
        size = _write_png_atomically(image, target)
        stored = _StoredImage(target.relative_to(self.folder).as_posix(), size)
        self._images.append(stored)
        self.used_bytes += size
        self._evict()
        return stored.relative

    def _scan(self) -> list[_StoredImage]:
        """Images already on disk, oldest first; temp files of a crashed write are removed."""
        images = []
        days = sorted(
            d for d in self.folder.iterdir() if _DAY_FOLDER.fullmatch(d.name) and d.is_dir()
        )
        for path in sorted(p for day in days for p in day.iterdir()):
            if _is_temp(path):
                path.unlink(missing_ok=True)
            elif path.suffix == ".png" and path.is_file():
                relative = path.relative_to(self.folder).as_posix()
                images.append(_StoredImage(relative, path.stat().st_size))
        return images

    def _evict(self) -> None:
        # The newest image always stays, so the path just returned is valid even if
        # one image alone exceeds the quota.
        while self.used_bytes > self.quota_bytes and len(self._images) > 1:
            oldest = self._images.popleft()
            path = self.folder / oldest.relative
            # One we cannot delete is out of our hands; counting it would evict forever.
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            self.used_bytes -= oldest.size
            _remove_if_empty(path.parent)


def _is_temp(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(_TEMP_SUFFIX)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create image folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{folder}: image folder is not writable")


def _write_png_atomically(image: np.ndarray, target: Path) -> int:
    """Temp file + rename: a reader or a crash never sees half a PNG."""
    encoded = _encode_png(image, target.name)
    try:
        fd, temp = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=_TEMP_SUFFIX, dir=target.parent
        )
    except OSError as exc:
        raise DataError(f"{target.parent}: cannot write images ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(encoded)
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise DataError(f"{target.parent}: cannot write images ({exc.strerror})") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return len(encoded)


def _encode_png(image: np.ndarray, name: str) -> bytes:
    try:
        ok, encoded = cv2.imencode(".png", image)
    except cv2.error:
        ok = False
    if not ok:
        raise DataError(f"{name}: image {image.dtype} {image.shape} cannot be PNG-encoded")
    return encoded.tobytes()


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: older images are still in it
        folder.rmdir()


# ---------------------------------------------------------------- the sink


class InspectionLog(Sink):
    """Writes each record as one row and archives chosen images. Records that queued up
    together are committed in one transaction; if it fails, each row is retried in its
    own, so one bad row never costs the others."""

    name = "log"
    # Group commit: on a busy line a row waits up to 20 ms for the parts behind it, and
    # their transaction costs the station's cores a fraction of one per part. The PLC
    # has long had the verdict; a kill -9 can cost only the rows of those 20 ms.
    linger_s = 0.02

    def __init__(
        self,
        conn: sqlite3.Connection,
        archive: ImageArchive | None,
        class_names: Sequence[str],
        save_pass_fraction: float,
        save_failed: bool = True,
    ) -> None:
        if not 0.0 <= save_pass_fraction <= 1.0:
            raise ConfigError(f"save_pass_fraction must be in [0, 1], got {save_pass_fraction}")
        self._conn = conn
        self._archive = archive
        self._class_names = tuple(class_names)
        # An exact fraction keeps "every 100th" exact, free of float rounding.
        self._pass_fraction = Fraction(save_pass_fraction).limit_denominator(1_000_000)
        self._save_failed = save_failed

    def handle(self, record: Inspection) -> None:
        errors = self.handle_batch([record])
        if errors:
            raise errors[0]

    def handle_batch(self, records: Sequence[Inspection]) -> list[Exception]:
        errors: dict[int, Exception] = {}  # by record, so a record fails at most once
        rows: dict[int, dict[str, Any]] = {}
        for index, record in enumerate(records):
            try:
                image_path = self._archive_image(record)
            except Exception as exc:  # the row matters more than the picture
                errors[index] = exc
                image_path = None
            try:
                rows[index] = inspection_row(record, self._class_names, image_path)
            except Exception as exc:
                errors[index] = exc
        try:
            with _transaction(self._conn):
                self._conn.executemany(_INSERT, rows.values())
        except sqlite3.Error:
            errors |= self._insert_each(rows)
        return list(errors.values())

    def _insert_each(self, rows: dict[int, dict[str, Any]]) -> dict[int, Exception]:
        errors: dict[int, Exception] = {}
        for index, row in rows.items():
            try:
                with _transaction(self._conn):
                    self._conn.execute(_INSERT, row)
            except sqlite3.Error as exc:
                errors[index] = exc
        return errors

    def close(self) -> None:
        self._conn.close()

    def wants_image(self, record: Inspection) -> bool:
        """Whether to archive this part's image: rejected parts when save_failed, passes
        sampled evenly by `record.seq`, none without an archive. Pure, so the station may
        ask on its own thread before copying the image into the record."""
        if self._archive is None:
            return False
        if record.verdict.rejects:
            return self._save_failed
        return _sampled(record.seq, self._pass_fraction)

    def _archive_image(self, record: Inspection) -> str | None:
        if self._archive is None or record.image is None or not self.wants_image(record):
            return None
        name = f"{record.seq:09d}-{record.verdict.value.lower()}"
        return self._archive.save(record.image, name)


def _sampled(seq: int, fraction: Fraction) -> bool:
    """True when `seq * fraction` crosses an integer: exactly `fraction` of any run of seqs,
    evenly spread (0.01 keeps seq 100, 200, ...)."""
    p, q = fraction.numerator, fraction.denominator  # integer floors: no Fraction per part
    return seq * p // q != (seq - 1) * p // q


def inspection_row(
    record: Inspection, class_names: Sequence[str], image_path: str | None
) -> dict[str, Any]:
    """The table row of one record, keyed by column name."""
    defects = record.judgement.defects
    times = record.times
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
        "classes": json.dumps(_class_list(defects, class_names)),
        "detections": json.dumps(_detection_list(record.detections)),
        "latency_ms": _finite(record.latency_ms),
        "capture_ms": _finite(times.ms("trigger", "capture")),
        "detect_ms": _finite(times.ms("detect_start", "detect_end")),
        "judge_ms": _finite(times.ms("detect_end", "judged")),
        "model_id": record.model_id,
        "model_sha256": record.model_sha256,
        "config_hash": record.config_hash,
        "calibration_id": record.calibration_id,
        "frame_seq": record.frame_seq,
        "image_path": image_path,
    }


def _iso_time(wall_time: float) -> str:
    """Local time with its UTC offset: readable on the shop floor, unambiguous anywhere."""
    return datetime.fromtimestamp(wall_time).astimezone().isoformat(timespec="milliseconds")


def _class_list(defects: Detections, class_names: Sequence[str]) -> list[str]:
    """Distinct defect class names, sorted; an id the names lack still shows as '#id'."""
    ids = {int(i) for i in defects.class_id}
    return sorted({class_names[i] if 0 <= i < len(class_names) else f"#{i}" for i in ids})


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
