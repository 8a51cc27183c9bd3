"""Opening the store: one SQLite file in WAL mode, migrated forward on open.

WAL with synchronous=NORMAL: a committed transaction survives a crash or kill -9 of the
station (not necessarily a power cut), readers never block the writer, and a commit
costs no fsync. Every connection waits up to `BUSY_TIMEOUT_MS` for another's lock
instead of failing at once.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path

from inspector.errors import DataError
from inspector.store.schema import MIGRATIONS, SCHEMA_VERSION, Migration, MigrationContext

__all__ = [
    "BUSY_TIMEOUT_MS",
    "Store",
    "open_readonly",
    "open_store",
    "schema_version",
    "transaction",
]

BUSY_TIMEOUT_MS = 5000


class Store:
    """An open, migrated store. `connect()` gives each thread its own connection;
    `close()` closes every connection it gave out (closing one twice is harmless)."""

    def __init__(self, path: Path, version: int, previous_version: int) -> None:
        self.path = path
        self.version = version
        self.previous_version = previous_version  # as found on open; 0: created now
        self._connections: list[sqlite3.Connection] = []

    def connect(self) -> sqlite3.Connection:
        """A new connection: autocommit (explicit BEGIN/COMMIT only), WAL, NORMAL sync.
        Made on one thread and used on another (the factory opens, a worker uses), so
        it is not tied to its creator's thread: one thread at a time must use it."""
        conn = _connect(self.path)
        with _closed_on_error(conn, self.path):
            _configure(conn)
        self._connections.append(conn)
        return conn

    def close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_store(
    path: Path,
    create: bool = True,
    *,
    images_dir: Path | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> Store:
    """Open the store at `path` for writing, creating it (when `create`) and running
    every migration it lacks. `images_dir` is the archive folder a migration may look
    in (default: `images` beside the database, the default config's layout).

    Refuses, with one `DataError` line naming the path: a file that is not SQLite, an
    SQLite file that is not an inspector store, a store newer than `migrations`, a
    folder it cannot write.
    """
    path = Path(path)
    _check_folder(path, create)
    conn = _connect(path)
    with _closed_on_error(conn, path):
        # Recognise it first: someone else's database must be refused before WAL changes it.
        found = _recognise(conn, path, migrations[-1].version)
        _configure(conn)
        context = MigrationContext(path, Path(images_dir or path.parent / "images"))
        version = migrate(conn, context, migrations)
    conn.close()
    return Store(path, version, found)


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing store of any version this code knows; it
    never writes or migrates (an older store reads with the columns it has). Rows come
    back as `sqlite3.Row`."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: inspection log not found")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot open inspection log ({exc})") from None
    with _closed_on_error(conn, path):
        if _recognise(conn, path, SCHEMA_VERSION) == 0:
            raise DataError(f"{path}: an empty SQLite database, not an inspector store")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.row_factory = sqlite3.Row
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(
    conn: sqlite3.Connection, context: MigrationContext, migrations: Sequence[Migration]
) -> int:
    """Run each migration above the database's version, each in its own transaction;
    the version reached. A failure rolls its migration back and raises `DataError`."""
    for migration in migrations:
        with transaction(conn):
            # Read under the write lock: a second station opening the file waits, then skips.
            if schema_version(conn) >= migration.version:
                continue
            _apply(conn, context, migration)
    return schema_version(conn)


def _apply(conn: sqlite3.Connection, context: MigrationContext, migration: Migration) -> None:
    try:
        for statement in migration.statements:
            conn.execute(statement)
        if migration.step is not None:
            migration.step(conn, context)
        conn.execute(f"PRAGMA user_version={int(migration.version)}")
    except Exception as exc:  # whatever a step raises, the file stays at the old version
        raise DataError(
            f"{context.database}: migration to version {migration.version} "
            f"({migration.summary}) failed, left at version {migration.version - 1}: {exc}"
        ) from exc


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT: the write lock up front (no deadlock between two
    writers that both read first); anything raised rolls it all back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        with contextlib.suppress(sqlite3.Error):  # a broken connection has nothing to undo
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _check_folder(path: Path, create: bool) -> None:
    if not create and not path.is_file():
        raise DataError(f"{path}: inspection log not found")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{path}: cannot create its folder ({exc.strerror})") from None
    # WAL keeps -wal and -shm files beside the database: the folder must be writable.
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise DataError(f"{path}: folder {path.parent} is not writable")


def _connect(path: Path) -> sqlite3.Connection:
    try:
        return sqlite3.connect(
            path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise DataError(f"{path}: cannot open inspection log ({exc})") from None


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")  # stored in the file; per connection below
    conn.execute("PRAGMA synchronous=NORMAL")


def _recognise(conn: sqlite3.Connection, path: Path, newest: int) -> int:
    """The store's version; 0 for an empty file. Raises for anything else."""
    version = schema_version(conn)
    tables = conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    if version == 0 and tables == 0:
        return 0
    if version == 0 or not _has_inspections(conn):
        raise DataError(f"{path}: an SQLite database, but not an inspector store")
    if version > newest:
        raise DataError(
            f"{path}: schema version {version}; this inspector reads up to {newest}: "
            "upgrade inspector"
        )
    return version


def _has_inspections(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'inspections'"
    ).fetchone()
    return row is not None


@contextlib.contextmanager
def _closed_on_error(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """An open that fails closes what it opened and names the file in one line."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        conn.close()
        if isinstance(exc, sqlite3.OperationalError) or "not a database" not in str(exc):
            raise DataError(f"{path}: cannot open inspection log ({exc})") from None
        raise DataError(f"{path}: not an SQLite database") from None
    except BaseException:
        conn.close()
        raise
