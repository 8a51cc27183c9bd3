"""CLI commands of statistical process control: `inspector spc analyze`, `baseline`,
`ack`, `alarms` and `report`."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inspector.cli.common import console, print_json
from inspector.cli.log import ConfigOption, DbOption, find_log

if TYPE_CHECKING:
    from inspector.spc.charts import ChartKind, ChartSettings
    from inspector.spc.monitor import MonitorSpec

__all__ = ["spc_app"]

spc_app = typer.Typer(
    help="Statistical process control: charts of a CSV series, the station's monitors, "
    "their limits, alarms and report.",
    no_args_is_help=True,
)

CHART_KINDS = ("p", "np", "c", "u", "imr", "xbar_r", "xbar_s", "ewma", "cusum")


@spc_app.command("analyze")
def spc_analyze(
    chart: Annotated[str, typer.Option("--chart", help=f"Chart kind: {', '.join(CHART_KINDS)}.")],
    input_csv: Annotated[
        Path,
        typer.Option(
            "--input",
            help="CSV: count,size (p, np, c, u); value (imr, ewma, cusum); x1..xn (xbar_r, "
            "xbar_s).",
        ),
    ],
    phase1: Annotated[
        int | None,
        typer.Option("--phase1", help="Limits from the first N points (default: all)."),
    ] = None,
    center: Annotated[
        float | None, typer.Option("--center", help="Standard: process centre (p, c, u, mean).")
    ] = None,
    sigma: Annotated[
        float | None, typer.Option("--sigma", help="Standard: sigma of one measured value.")
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules",
            help="we, nelson, limit, or rule names (we1..we4, nelson1..nelson8) separated by "
            "commas. Default: we; ewma and cusum: limit.",
        ),
    ] = None,
    ewma_lambda: Annotated[float, typer.Option("--lambda", help="EWMA weight.")] = 0.2,
    ewma_l: Annotated[float, typer.Option("--L", help="EWMA limit width, sigmas.")] = 3.0,
    cusum_k: Annotated[float, typer.Option("--k", help="CUSUM reference value, sigmas.")] = 0.5,
    cusum_h: Annotated[float, typer.Option("--h", help="CUSUM decision interval, sigmas.")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Centre line, limits and rule violations of a series."""
    from inspector.spc.analyze import AnalyzeRequest, analyze, chart_json, read_series

    kind = _chart_kind(chart)
    request = AnalyzeRequest(
        kind, phase1, center, sigma, rules, _settings(ewma_lambda, ewma_l, cusum_k, cusum_h)
    )
    result, violations = analyze(read_series(input_csv, kind), request)
    doc = chart_json(result, violations)
    if as_json:
        print_json(doc)
        return
    _print_summary(doc)


def _chart_kind(text: str) -> ChartKind:
    from inspector.errors import ConfigError
    from inspector.spc.charts import ChartKind

    try:
        return ChartKind(text.lower())
    except ValueError:
        raise ConfigError(f"--chart: unknown {text!r} (known: {', '.join(CHART_KINDS)})") from None


def _settings(lam: float, width: float, k: float, h: float) -> ChartSettings:
    from inspector.errors import ConfigError, DataError
    from inspector.spc.charts import ChartSettings

    try:
        return ChartSettings(lam, width, k, h)
    except DataError as exc:
        option = {"ewma_lambda": "--lambda", "ewma_l": "--L", "cusum_k": "--k", "cusum_h": "--h"}
        name = str(exc).split(":")[0]
        raise ConfigError(f"{option.get(name, name)}{str(exc)[len(name) :]}") from None


def _print_summary(doc: dict[str, Any]) -> None:
    panels = {k: v for k, v in doc.items() if isinstance(v, dict)} or {doc["chart"]: doc}
    for name, panel in panels.items():
        violations = panel["violations"]
        console.print(
            f"{name}: center {_text(panel['center'])}  LCL {_text(panel['lcl'])}  "
            f"UCL {_text(panel['ucl'])}  points {len(panel['statistic'])}  "
            f"violations {len(violations)}",
            markup=False,
            highlight=False,
        )
        for v in violations:
            console.print(f"  point {v['index']}: {v['rule']}", markup=False, highlight=False)


def _text(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else "varies"


# ---------------------------------------------------------------- the station's monitors


@spc_app.command("baseline")
def spc_baseline(
    db: DbOption = None,
    config: ConfigOption = None,
    monitor: Annotated[
        list[str] | None,
        typer.Option("--monitor", help="Only this monitor (repeat for more). Default: all."),
    ] = None,
    subgroups: Annotated[
        int | None,
        typer.Option(
            "--subgroups",
            min=2,
            help="Freeze from the newest N points. Default: spc.baseline_subgroups.",
        ),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who re-baselines, for the audit log.")] = "",
) -> None:
    """Freeze new control limits from each monitor's newest points (a new version, in
    the audit log); a running station takes them within a tick."""
    from inspector.errors import DataError
    from inspector.spc import store
    from inspector.spc.monitor import rebaseline, stored_specs

    conn = _open_writable(db, config)
    try:
        specs = _chosen(stored_specs(conn), monitor)
        count = subgroups or int(store.state(conn, "baseline_subgroups") or 25)
        command = "inspector spc baseline" + (f" (by {by})" if by else "")
        failed = []
        for spec in specs:
            try:
                limits = rebaseline(conn, spec, count, command)
            except DataError as exc:
                console.print(f"{spec.name}: not frozen: {exc}", markup=False, highlight=False)
                failed.append(spec.name)
                continue
            sigma = limits.parameters.sigma
            console.print(
                f"{spec.name}: version {limits.version}, centre {limits.parameters.center:.6g}"
                + (f", sigma {sigma:.6g}" if sigma is not None else ""),
                markup=False,
                highlight=False,
            )
    finally:
        conn.close()
    if failed:
        raise DataError(f"limits not frozen for {', '.join(failed)}")


@spc_app.command("ack")
def spc_ack(
    db: DbOption = None,
    config: ConfigOption = None,
    alarm: Annotated[
        list[int] | None,
        typer.Option("--alarm", help="Only this alarm id (repeat for more). Default: all open."),
    ] = None,
    by: Annotated[str, typer.Option("--by", help="Who acknowledges.")] = "cli",
    note: Annotated[str, typer.Option("--note", help="Why, or what was done.")] = "",
) -> None:
    """Acknowledge open SPC alarms; the station clears SPC_ALARM within a tick once none
    is open."""
    from inspector.spc import store
    from inspector.store.db import transaction

    conn = _open_writable(db, config)
    try:
        with transaction(conn):
            count = store.acknowledge(conn, by, note, alarm)
    finally:
        conn.close()
    console.print(f"{count} alarm(s) acknowledged", markup=False, highlight=False)


@spc_app.command("alarms")
def spc_alarms(
    db: DbOption = None,
    config: ConfigOption = None,
    show_all: Annotated[bool, typer.Option("--all", help="Acknowledged ones too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per alarm.")] = False,
) -> None:
    """List SPC alarms, oldest first: open ones, or all."""
    from dataclasses import asdict

    from inspector.spc import store
    from inspector.store.db import open_readonly

    conn = open_readonly(find_log(db, config).database)
    try:
        alarms = store.open_alarms(conn, include_acked=show_all)
    finally:
        conn.close()
    for alarm in alarms:
        if as_json:
            print_json(asdict(alarm))
        else:
            state = f"acked by {alarm.acked_by}" if alarm.acked_at else "OPEN"
            console.print(
                f"#{alarm.id} {alarm.monitor} subgroup {alarm.subgroup_id} {alarm.rule} {state}",
                markup=False,
                highlight=False,
            )


@spc_app.command("report")
def spc_report(
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")],
    db: DbOption = None,
    config: ConfigOption = None,
    last: Annotated[int, typer.Option("--last", min=2, help="Points per chart.")] = 200,
    force: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """A printable HTML page: every monitor's chart, limits, alarms and limit changes."""
    from inspector.errors import OutputExistsError
    from inspector.spc.report import write_report
    from inspector.store.db import open_readonly

    if out.exists() and not force:
        raise OutputExistsError(f"{out}: already exists (use --force)")
    conn = open_readonly(find_log(db, config).database)
    try:
        count = write_report(conn, out, last)
    finally:
        conn.close()
    console.print(f"{out}: {count} monitors", markup=False, highlight=False)


def _open_writable(db: Path | None, config: Path | None) -> sqlite3.Connection:
    """The store, migrated, for a command that writes (baseline, ack)."""
    from inspector.store.db import open_store

    location = find_log(db, config)
    store = open_store(location.database, create=False, images_dir=location.images_dir)
    return store.connect()


def _chosen(specs: tuple[MonitorSpec, ...], names: list[str] | None) -> tuple[MonitorSpec, ...]:
    from inspector.errors import DataError

    if not specs:
        raise DataError("no SPC monitors in this store: has a station run with spc.enabled?")
    if not names:
        return specs
    known = {spec.name: spec for spec in specs}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise DataError(f"--monitor: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    return tuple(known[name] for name in names)
