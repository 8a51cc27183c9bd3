"""CLI commands of the inspection log: `inspector log tail`, `export` and `migrate`."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import JustifyMethod
from rich.table import Table

from inspector.cli.common import console, print_json
from inspector.errors import ConfigError, DataError

__all__ = [
    "LogLocation",
    "find_log",
    "log_app",
    "log_export",
    "log_migrate",
    "log_tail",
]

log_app = typer.Typer(
    help="The inspection log: recent inspections, live follow, CSV export, upgrade.",
    no_args_is_help=True,
)

# Where `run` keeps the log when started in this folder: station.yaml's storage.database,
# and the config's default when there is no station.yaml.
STATION_CONFIG = Path("station.yaml")
DEFAULT_DATABASE = Path("inspections.db")

DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Inspection log (SQLite).",
        show_default="./station.yaml's storage.database, else ./inspections.db",
    ),
]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="station.yaml whose storage.database to read.")
]

_VERDICT_STYLE = {"PASS": "green", "FAIL": "bold red", "NO_DECISION": "bold yellow"}

# Fixed widths, so rows printed one by one under --follow line up with the first table.
_TABLE_COLUMNS = (
    ("time", 23),
    ("seq", 8),
    ("verdict", 11),
    ("code", 5),
    ("defects", 7),
    ("max score", 9),
    ("latency ms", 10),
)


@dataclass(frozen=True, slots=True)
class LogLocation:
    """The log to read and, when a config named it, the image folder beside it."""

    database: Path
    images_dir: Path | None = None


def find_log(db: Path | None, config: Path | None) -> LogLocation:
    """--db, else --config's storage, else ./station.yaml's, else ./inspections.db; when
    none is given and none exists, one line naming every path tried."""
    if db is not None and config is not None:
        raise ConfigError("--db and --config both name the inspection log: give one")
    if db is not None:
        return LogLocation(db)
    if config is not None:
        return _configured(config)
    tried = []
    if STATION_CONFIG.is_file():
        location = _configured(STATION_CONFIG)
        if location.database.is_file():
            return location
        tried.append(f"{location.database} (storage.database of {STATION_CONFIG})")
    elif DEFAULT_DATABASE.is_file():
        return LogLocation(DEFAULT_DATABASE)
    else:
        tried += [f"{STATION_CONFIG} (none)", str(DEFAULT_DATABASE)]
    raise DataError(
        f"no inspection log found: tried {', '.join(tried)}; "
        "point at it with --db PATH or --config station.yaml"
    )


def _configured(config: Path) -> LogLocation:
    from inspector.config import load_config

    storage = load_config(config).storage
    return LogLocation(storage.database, storage.images_dir)


@log_app.command("tail")
def log_tail(
    db: DbOption = None,
    config: ConfigOption = None,
    lines: Annotated[
        int, typer.Option("-n", "--lines", min=0, help="How many of the newest to show.")
    ] = 20,
    keep_following: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new inspections (Ctrl-C ends).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show the newest inspections, oldest first."""
    from inspector.store.db import open_readonly
    from inspector.store.read import last_id, tail

    conn = open_readonly(find_log(db, config).database)
    try:
        rows = tail(conn, lines)
        _print_rows(rows, as_json, header=True)
        if keep_following:
            _follow(conn, rows[-1]["id"] if rows else last_id(conn), as_json)
    finally:
        conn.close()


@log_app.command("export")
def log_export(
    csv_out: Annotated[Path, typer.Option("--csv", help="CSV file to write.")],
    db: DbOption = None,
    config: ConfigOption = None,
    since: Annotated[
        str | None,
        typer.Option(help="From this time: ISO 8601 (local unless it has an offset) or unix s."),
    ] = None,
    until: Annotated[str | None, typer.Option(help="Before this time, as --since.")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing CSV.")] = False,
) -> None:
    """Export inspections as CSV, one row per part (detections as JSON text, times in ms
    to 0.01 ms)."""
    from inspector.store.db import open_readonly
    from inspector.store.read import export_csv, parse_time

    start = parse_time(since, "--since") if since is not None else None
    end = parse_time(until, "--until") if until is not None else None
    conn = open_readonly(find_log(db, config).database)
    try:
        count = export_csv(conn, csv_out, start, end, force=force)
    finally:
        conn.close()
    console.print(f"{csv_out}: {count} inspections", markup=False, highlight=False, soft_wrap=True)


@log_app.command("migrate")
def log_migrate(db: DbOption = None, config: ConfigOption = None) -> None:
    """Upgrade the inspection log in place to this inspector's schema (the station does
    it on start too); prints the version before and after."""
    from inspector.store.db import open_store

    location = find_log(db, config)
    with open_store(location.database, create=False, images_dir=location.images_dir) as store:
        before, after = store.previous_version, store.version
    message = (
        f"{location.database}: schema version {before} -> {after}"
        if before != after
        else f"{location.database}: schema version {after}, already current"
    )
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def _follow(conn: sqlite3.Connection, after_id: int, as_json: bool) -> None:
    from inspector.store.read import follow

    try:
        for row in follow(conn, after_id):
            _print_rows([row], as_json, header=False)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a follow ends, not an error


def _print_rows(rows: list[dict[str, Any]], as_json: bool, header: bool) -> None:
    if as_json:
        for row in rows:
            print_json(row)
        return
    # One space between columns: the whole row fits an 80-column terminal unwrapped.
    table = Table(box=None, show_header=header, pad_edge=False, collapse_padding=True)
    for title, width in _TABLE_COLUMNS:
        justify: JustifyMethod = "left" if title == "time" else "right"
        table.add_column(title, min_width=width, justify=justify, no_wrap=True)
    for row in rows:
        table.add_row(*_cells(row))
    console.print(table)


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    verdict = row["verdict"]
    style = _VERDICT_STYLE.get(verdict, "")
    latency = row["latency_ms"]
    return (
        datetime.fromtimestamp(row["wall_time"]).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        str(row["seq"]),
        f"[{style}]{verdict}[/]" if style else verdict,
        str(row["result_code"]),
        str(row["defect_count"]),
        f"{row['max_score']:.3f}",
        "-" if latency is None else f"{latency:.1f}",
    )
