"""Opening the store: WAL, versions, forward migrations (from a real v1 log), refusals."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from inspector.errors import DataError
from inspector.store.db import open_readonly, open_store, schema_version
from inspector.store.schema import MIGRATIONS, SCHEMA_VERSION, Migration
from tests.store.helpers import copy_v1_store, read_table

# sqlite_sequence: SQLite's own, for the outbox's AUTOINCREMENT
TABLES = {
    "inspections",
    "audit",
    "events",
    "images",
    "outbox",
    "outbox_streams",
    "meta",
    "sqlite_sequence",
    "spc_state",
    "spc_subgroups",
    "spc_limits",
    "spc_points",
    "spc_alarms",
}


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}


def test_migrations_are_numbered_one_by_one():
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert SCHEMA_VERSION == MIGRATIONS[-1].version == 6
    assert all(m.summary and "\n" not in m.summary for m in MIGRATIONS)


def test_a_new_store_is_wal_versioned_and_has_every_table(tmp_path: Path):
    with open_store(tmp_path / "log" / "inspections.db") as store:
        assert (store.version, store.previous_version) == (SCHEMA_VERSION, 0)
        conn = store.connect()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert schema_version(conn) == SCHEMA_VERSION
        assert tables(conn) == TABLES
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type='index'")}
        assert {"inspections_wall_time", "inspections_verdict", "inspections_run_seq"} <= indexes


def test_reopening_migrates_nothing(tmp_path: Path):
    path = tmp_path / "inspections.db"
    open_store(path).close()
    with open_store(path, create=False) as store:
        assert (store.version, store.previous_version) == (SCHEMA_VERSION, SCHEMA_VERSION)


def test_each_connection_is_its_own(tmp_path: Path):
    with open_store(tmp_path / "inspections.db") as store:
        first, second = store.connect(), store.connect()
        assert first is not second
        first.execute("BEGIN IMMEDIATE")
        first.execute("INSERT INTO events VALUES (NULL, 1.0, 'state', 'info', 'm', 'ready', '{}')")
        assert second.execute("SELECT count(*) FROM events").fetchone()[0] == 0  # not committed
        first.execute("COMMIT")
        assert second.execute("SELECT count(*) FROM events").fetchone()[0] == 1
    with pytest.raises(sqlite3.ProgrammingError):  # close() closed what it gave out
        first.execute("SELECT 1")


# ---------------------------------------------------------------- from a real v1 log


def test_a_log_written_by_the_v1_release_is_upgraded_in_place(tmp_path: Path):
    db = copy_v1_store(tmp_path)
    before = read_table(db, "inspections")
    assert [r["seq"] for r in before] == [1, 2, 3, 4]

    with open_store(db) as store:
        assert (store.previous_version, store.version) == (1, SCHEMA_VERSION)
        assert tables(store.connect()) == TABLES

    after = read_table(db, "inspections")
    for old, new in zip(before, after, strict=True):
        assert {key: new[key] for key in old} == old  # every old value intact
        assert (new["run_id"], new["queue_ms"]) == (None, None)
    [image] = read_table(db, "images")
    [referenced] = [r["image_path"] for r in before if r["image_path"]]
    stored = tmp_path / "images" / referenced
    assert (image["path"], image["size"], image["seq"]) == (referenced, stored.stat().st_size, 2)
    assert image["run_id"] is None


def test_the_v1_upgrade_tracks_only_images_that_exist(tmp_path: Path):
    db = copy_v1_store(tmp_path)
    for png in (tmp_path / "images").rglob("*.png"):
        png.unlink()
    open_store(db).close()
    assert read_table(db, "images") == []
    assert len(read_table(db, "inspections")) == 4


def test_the_v1_upgrade_looks_in_the_configured_image_folder(tmp_path: Path):
    db = copy_v1_store(tmp_path / "db")
    (tmp_path / "db" / "images").rename(tmp_path / "pictures")
    open_store(db, images_dir=tmp_path / "pictures").close()
    assert len(read_table(db, "images")) == 1


def _note_then_fail(conn: sqlite3.Connection, context) -> None:
    conn.execute("INSERT INTO inspections_note VALUES ('half done')")
    raise OSError("disk went away")


def _import_then_fail(conn: sqlite3.Connection, context) -> None:
    MIGRATIONS[1].step(conn, context)
    assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == 1  # it did write
    raise OSError("disk went away")


BROKEN_NEXT = Migration(
    SCHEMA_VERSION + 1,
    "notes (fails in its step)",
    (
        "CREATE TABLE inspections_note (text TEXT)",
        "ALTER TABLE inspections ADD COLUMN note TEXT",
    ),
    _note_then_fail,
)
BROKEN_2 = Migration(2, "v2, failing after its import", MIGRATIONS[1].statements, _import_then_fail)


@pytest.mark.parametrize(
    ("start", "migrations", "left_at", "message"),
    [
        (
            "new",
            (*MIGRATIONS, BROKEN_NEXT),
            SCHEMA_VERSION,
            f"migration to version {SCHEMA_VERSION + 1} (notes (fails in its step))",
        ),
        ("v1", (MIGRATIONS[0], BROKEN_2), 1, "migration to version 2"),
    ],
)
def test_a_failing_migration_leaves_the_previous_version(
    tmp_path: Path, start: str, migrations, left_at: int, message: str
):
    db = tmp_path / "inspections.db"
    if start == "v1":
        copy_v1_store(tmp_path)
    else:
        open_store(db).close()
    with pytest.raises(DataError) as caught:
        open_store(db, migrations=migrations)
    text = str(caught.value)
    assert text.startswith(f"{db}: {message}")
    assert f"left at version {left_at}: disk went away" in text
    assert "\n" not in text

    conn = open_readonly(db)
    try:
        assert schema_version(conn) == left_at
        assert "inspections_note" not in tables(conn)
        columns = {r[1] for r in conn.execute("PRAGMA table_info(inspections)")}
        assert "note" not in columns
        assert ("run_id" in columns) is (left_at >= 2)
        assert ("images" in tables(conn)) is (left_at >= 2)
    finally:
        conn.close()
    with open_store(db) as store:  # the real migrations still apply afterwards
        assert store.version == SCHEMA_VERSION


# ---------------------------------------------------------------- refusals


def _write_text(path: Path) -> None:
    path.write_text("seq,verdict\n1,PASS\n" * 200)


def _write_random(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 16)


def _write_other_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE parts (serial TEXT)")
    conn.commit()
    conn.close()


def _write_versioned_other_sqlite(path: Path) -> None:
    _write_other_sqlite(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=2")
    conn.close()


def _write_future_store(path: Path) -> None:
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=7")
    conn.close()


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (_write_text, "not an SQLite database"),
        (_write_random, "not an SQLite database"),
        (_write_other_sqlite, "an SQLite database, but not an inspector store"),
        (_write_versioned_other_sqlite, "an SQLite database, but not an inspector store"),
        (
            _write_future_store,
            f"schema version 7; this inspector reads up to {SCHEMA_VERSION}: upgrade inspector",
        ),
    ],
)
@pytest.mark.parametrize("opener", [open_store, open_readonly])
def test_a_file_that_is_not_a_store_is_a_one_line_error(tmp_path: Path, write, message, opener):
    path = tmp_path / "station.db"
    write(path)
    before = path.read_bytes()
    with pytest.raises(DataError) as caught:
        opener(path)
    text = str(caught.value)
    assert text == f"{path}: {message}"
    assert path.read_bytes() == before  # never "repaired" into something else
    if write is not _write_future_store:  # a WAL store's readers may leave -shm, -wal
        assert sorted(p.name for p in tmp_path.iterdir()) == ["station.db"]


@pytest.mark.parametrize(
    ("opener", "created"),
    [
        (lambda path: open_store(path).close(), True),
        (lambda path: open_store(path, create=False), False),
        (open_readonly, False),
    ],
)
def test_a_missing_store(tmp_path: Path, opener, created: bool):
    path = tmp_path / "nowhere" / "inspections.db"
    if created:
        opener(path)
        assert path.is_file()
        return
    with pytest.raises(DataError, match=r"inspections\.db: inspection log not found"):
        opener(path)
    assert not path.exists()


def test_a_folder_that_cannot_exist(tmp_path: Path):
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "inspections.db"
    with pytest.raises(DataError, match=rf"^{path}: cannot create its folder"):
        open_store(path)


def test_an_unwritable_folder(tmp_path: Path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    open_store(folder / "inspections.db").close()
    folder.chmod(0o500)
    if os.geteuid() == 0:  # root writes anywhere: make the check see what a user would
        monkeypatch.setattr("inspector.store.db.os.access", lambda path, mode: False)
    try:
        with pytest.raises(DataError, match=rf"^{folder}/inspections.db: folder .* not writable"):
            open_store(folder / "inspections.db")
    finally:
        folder.chmod(0o700)


def test_readers_never_migrate_and_read_an_old_store(tmp_path: Path):
    db = copy_v1_store(tmp_path)
    before = db.read_bytes()
    conn = open_readonly(db)
    try:
        assert schema_version(conn) == 1
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM inspections")
    finally:
        conn.close()
    assert db.read_bytes() == before
