"""CLI commands of the inspection log: `inspector log tail` and `inspector log export`."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from inspector.cli.common import console, print_json
from inspector.errors import ConfigError

__all__ = ["log_app", "log_database", "log_export", "log_tail"]

log_app = typer.Typer(
    help="The inspection log: recent inspections, live follow, CSV export.",
    no_args_is_help=True,
)

DEFAULT_DATABASE = Path("inspections.db")

DbOption = Annotated[
    Path | None,
    typer.Option("--db", help="Inspection log (SQLite).", show_default=str(DEFAULT_DATABASE)),
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


def log_database(db: Path | None, config: Path | None) -> Path:
    """The log to read: --db, else --config's storage.database, else inspections.db."""
    if db is not None and config is not None:
        raise ConfigError("--db and --config both name the inspection log: give one")
    if config is not None:
        from inspector.config import load_config

        return load_config(config).storage.database
    return db if db is not None else DEFAULT_DATABASE


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
    from inspector.sinks.logread import last_id, open_log_readonly, tail

    conn = open_log_readonly(log_database(db, config))
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
    """Export inspections as CSV, one row per part (detections as JSON text)."""
    from inspector.sinks.logread import export_csv, open_log_readonly, parse_time

    start = parse_time(since, "--since") if since is not None else None
    end = parse_time(until, "--until") if until is not None else None
    conn = open_log_readonly(log_database(db, config))
    try:
        count = export_csv(conn, csv_out, start, end, force=force)
    finally:
        conn.close()
    console.print(f"{csv_out}: {count} inspections", markup=False, highlight=False, soft_wrap=True)


def _follow(conn: sqlite3.Connection, after_id: int, as_json: bool) -> None:
    from inspector.sinks.logread import follow

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
        justify = "left" if title == "time" else "right"
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
