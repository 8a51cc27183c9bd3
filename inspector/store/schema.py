"""The store's schema: a tuple of forward migrations, one per version.

A database is at version `PRAGMA user_version`; opening it for writing runs every
migration above that, each in its own transaction (see `db.migrate`), so a crash or
a failing step leaves the file at the version before it, never half-migrated.

Adding a version (the MQTT outbox is 3, the SPC tables 4, the frame's origin 5): append
one `Migration` to `MIGRATIONS` with the next number, a one-line summary, its statements
and, if rows must be rewritten or files looked at, a `step`. Never edit a released migration: a
station that already ran it will not run it again. Statements, not a script:
`executescript()` would commit in the middle of the migration's transaction.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "MigrationContext"]


@dataclass(frozen=True, slots=True)
class MigrationContext:
    """What a migration's Python step may look at besides the database: the file itself
    and the image archive's folder (image paths in the log are relative to it)."""

    database: Path
    images_dir: Path


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema version: its statements, then its optional Python step, in one
    transaction with the version bump."""

    version: int
    summary: str
    statements: tuple[str, ...] = ()
    step: Callable[[sqlite3.Connection, MigrationContext], None] | None = None


# ---------------------------------------------------------------- version 1

# Exactly the schema of the release before inspector/store/ (sinks/store.py), so a log
# that release wrote is recognised as version 1 and upgraded in place.
_V1 = (
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

# ---------------------------------------------------------------- version 2

_V2 = (
    "ALTER TABLE inspections ADD COLUMN run_id TEXT",
    "ALTER TABLE inspections ADD COLUMN queue_ms REAL",
    # The sink finds a part's row by (run_id, seq) to attach its image.
    "CREATE INDEX inspections_run_seq ON inspections (run_id, seq)",
    """
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    wall_time REAL NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('config', 'model', 'threshold', 'calibration')),
    subject   TEXT NOT NULL,
    old_hash  TEXT,
    new_hash  TEXT,
    command   TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
)""",
    "CREATE INDEX audit_kind_subject ON audit (kind, subject, id)",
    """
CREATE TABLE events (
    id        INTEGER PRIMARY KEY,
    wall_time REAL NOT NULL,
    kind      TEXT NOT NULL,
    severity  TEXT NOT NULL,
    message   TEXT NOT NULL,
    state     TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
)""",
    "CREATE INDEX events_wall_time ON events (wall_time)",
    # Every file the archive wrote; only these may it ever delete. Oldest = lowest id.
    """
CREATE TABLE images (
    id      INTEGER PRIMARY KEY,
    path    TEXT    NOT NULL UNIQUE,
    size    INTEGER NOT NULL,
    created REAL    NOT NULL,
    run_id  TEXT,
    seq     INTEGER
)""",
)


def _import_archived_images(conn: sqlite3.Connection, context: MigrationContext) -> None:
    """The images the v1 log references and that are on disk become tracked, so the
    upgraded station keeps them under its quota. One the log does not reference (or
    that is gone) is left alone: it may be someone else's."""
    rows = conn.execute(
        "SELECT image_path, seq FROM inspections WHERE image_path IS NOT NULL ORDER BY image_path"
    ).fetchall()
    for relative, seq in rows:
        path = context.images_dir / relative
        try:
            stat = path.stat()
        except OSError:
            continue
        if not path.is_file() or not _inside(path, context.images_dir):
            continue
        conn.execute(
            "INSERT OR IGNORE INTO images (path, size, created, run_id, seq) "
            "VALUES (?, ?, ?, NULL, ?)",
            (relative, stat.st_size, stat.st_mtime, seq),
        )


def _inside(path: Path, folder: Path) -> bool:
    """A v1 image path never leaves the archive; one that would is not ours to manage."""
    return os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


# ---------------------------------------------------------------- version 3

_V3 = (
    # Messages waiting for the broker's acknowledgement, oldest (lowest id) first.
    # AUTOINCREMENT: an id is never reused, even after every row was deleted.
    """
CREATE TABLE outbox (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    stream  TEXT    NOT NULL,
    msg_seq INTEGER NOT NULL,
    topic   TEXT    NOT NULL,
    payload BLOB    NOT NULL,
    created REAL    NOT NULL
)""",
    # The last msg_seq given out per stream (result, event): consumers see each stream
    # without gaps, and a number once given out is never given again.
    """
CREATE TABLE outbox_streams (
    stream   TEXT    PRIMARY KEY,
    last_seq INTEGER NOT NULL
)""",
    "CREATE INDEX outbox_created ON outbox (created)",
    # Facts about the store itself; `store_id` tells consumers which store's msg_seq
    # they see (it restarts only with a new store).
    """
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
)


def _name_the_store(conn: sqlite3.Connection, context: MigrationContext) -> None:
    conn.execute("INSERT INTO meta (key, value) VALUES ('store_id', ?)", (uuid.uuid4().hex[:16],))


# ---------------------------------------------------------------- version 4

# SPC (inspector/spc/store.py). A subgroup is N consecutive decided parts of the log;
# each monitor adds one point per subgroup, in the subgroup's own transaction, so a
# crash leaves a subgroup whole or absent. The parts' own figures (defects per class,
# image health) go into their inspection rows, so any subgroup can be rebuilt from the
# log alone.
_V4 = (
    "ALTER TABLE inspections ADD COLUMN defect_classes TEXT",
    "ALTER TABLE inspections ADD COLUMN brightness REAL",
    "ALTER TABLE inspections ADD COLUMN focus REAL",
    """
CREATE TABLE spc_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
)""",
    """
CREATE TABLE spc_subgroups (
    id          INTEGER PRIMARY KEY,
    first_row   INTEGER NOT NULL,
    last_row    INTEGER NOT NULL,
    parts       INTEGER NOT NULL,
    wall_time   REAL    NOT NULL
)""",
    """
CREATE TABLE spc_limits (
    id             INTEGER PRIMARY KEY,
    monitor        TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    chart          TEXT    NOT NULL,
    center         REAL    NOT NULL,
    sigma          REAL,
    phase1_points  INTEGER NOT NULL,
    first_subgroup INTEGER,
    last_subgroup  INTEGER,
    source         TEXT    NOT NULL CHECK (source IN ('phase1', 'baseline', 'standard')),
    settings       TEXT    NOT NULL,
    command        TEXT    NOT NULL,
    wall_time      REAL    NOT NULL,
    UNIQUE (monitor, version)
)""",
    """
CREATE TABLE spc_points (
    id              INTEGER PRIMARY KEY,
    subgroup_id     INTEGER NOT NULL REFERENCES spc_subgroups (id),
    monitor         TEXT    NOT NULL,
    limits_version  INTEGER,
    count           REAL,
    size            REAL,
    value           REAL,
    statistic       REAL,
    lower_statistic REAL,
    center          REAL,
    ucl             REAL,
    lcl             REAL,
    z               REAL,
    mr              REAL,
    mr_ucl          REAL,
    UNIQUE (monitor, subgroup_id)
)""",
    """
CREATE TABLE spc_alarms (
    id          INTEGER PRIMARY KEY,
    monitor     TEXT    NOT NULL,
    subgroup_id INTEGER NOT NULL REFERENCES spc_subgroups (id),
    rule        TEXT    NOT NULL,
    bit         INTEGER NOT NULL,
    points      TEXT    NOT NULL,
    statistic   REAL,
    wall_time   REAL    NOT NULL,
    acked_at    REAL,
    acked_by    TEXT,
    note        TEXT
)""",
    "CREATE INDEX spc_alarms_open ON spc_alarms (acked_at)",
    # SQLite cannot widen a CHECK in place: the audit table is rebuilt with the new kind.
    """
CREATE TABLE audit_v4 (
    id        INTEGER PRIMARY KEY,
    wall_time REAL NOT NULL,
    kind      TEXT NOT NULL
              CHECK (kind IN ('config', 'model', 'threshold', 'calibration', 'spc_limits')),
    subject   TEXT NOT NULL,
    old_hash  TEXT,
    new_hash  TEXT,
    command   TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
)""",
    "INSERT INTO audit_v4 SELECT id, wall_time, kind, subject, old_hash, new_hash, command, "
    "detail FROM audit",
    "DROP TABLE audit",
    "ALTER TABLE audit_v4 RENAME TO audit",
    "CREATE INDEX audit_kind_subject ON audit (kind, subject, id)",
)


# ---------------------------------------------------------------- version 5

# The inspected frame's origin, as the camera told it (`FrameOrigin`): NULL for parts
# logged before, and for a part that got no frame.
_V5 = (
    "ALTER TABLE inspections ADD COLUMN camera_id TEXT",
    "ALTER TABLE inspections ADD COLUMN camera_frame_id INTEGER",
    "ALTER TABLE inspections ADD COLUMN camera_timestamp_ns INTEGER",
    "ALTER TABLE inspections ADD COLUMN pixel_format TEXT",
)

# ---------------------------------------------------------------- version 6

_V6 = (
    # The recipe that judged the part: which rules and model a quality engineer must read.
    "ALTER TABLE inspections ADD COLUMN recipe INTEGER",
    "ALTER TABLE inspections ADD COLUMN recipe_name TEXT",
    # Every switch is audited: the CHECK widens by rebuilding the table, as in version 4.
    """
CREATE TABLE audit_v6 (
    id        INTEGER PRIMARY KEY,
    wall_time REAL NOT NULL,
    kind      TEXT NOT NULL
              CHECK (kind IN ('config', 'model', 'threshold', 'calibration', 'spc_limits',
                              'recipe')),
    subject   TEXT NOT NULL,
    old_hash  TEXT,
    new_hash  TEXT,
    command   TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
)""",
    "INSERT INTO audit_v6 SELECT id, wall_time, kind, subject, old_hash, new_hash, command, "
    "detail FROM audit",
    "DROP TABLE audit",
    "ALTER TABLE audit_v6 RENAME TO audit",
    "CREATE INDEX audit_kind_subject ON audit (kind, subject, id)",
)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "inspections: one row per part", _V1),
    Migration(
        2,
        "run_id, queue_ms; audit, events, images tables; existing archive images tracked",
        _V2,
        _import_archived_images,
    ),
    Migration(3, "MQTT outbox, its msg_seq per stream, the store's id", _V3, _name_the_store),
    Migration(
        4,
        "SPC: subgroups, points, frozen limits, alarms; defect classes and image health "
        "per part; audit kind spc_limits",
        _V4,
    ),
    Migration(
        5,
        "the frame's origin per part: camera id, the camera's frame id and timestamp, pixel format",
        _V5,
    ),
    Migration(
        6,
        "inspections: the recipe number and name that judged each part; audit kind recipe",
        _V6,
    ),
)

SCHEMA_VERSION = MIGRATIONS[-1].version
