"""CLI commands of the PLC link: `inspector plc monitor`, `simulate` and `docs`."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from inspector.cli.common import console, err_console, print_json, progress_bar
from inspector.errors import ConfigError

if TYPE_CHECKING:
    from inspector.plc.simulate import SimulationReport

__all__ = ["plc_app", "plc_docs", "plc_monitor", "plc_simulate"]

plc_app = typer.Typer(
    help="The PLC link over Modbus TCP: watch its registers, simulate a PLC, write its docs.",
    no_args_is_help=True,
)

DEFAULT_CYCLES = 100

HostOption = Annotated[str, typer.Option("--host", help="The station's Modbus TCP address.")]
PortOption = Annotated[int, typer.Option("--port", min=1, max=65535, help="Its TCP port.")]
UnitOption = Annotated[int, typer.Option("--unit", min=0, max=255, help="Its Modbus unit id.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@plc_app.command("monitor")
def plc_monitor(
    host: HostOption = "127.0.0.1",
    port: PortOption = 5020,
    unit: UnitOption = 1,
    interval_ms: Annotated[
        int, typer.Option("--interval-ms", min=10, help="Milliseconds between reads.")
    ] = 200,
    once: Annotated[
        bool, typer.Option("--once", help="Print one snapshot (two reads an interval apart).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON: one object with --once, else one per line.")
    ] = False,
    plain: Annotated[
        bool,
        typer.Option(
            "--plain",
            help="One plain line per change instead of the live view (the default when "
            "the output is not a terminal).",
        ),
    ] = False,
) -> None:
    """Show the station's registers and the handshake state, live (read-only; Ctrl-C ends).

    On a terminal: a live table. Piped, redirected or under a service: one line per
    change of the registers (heartbeat counts aside), flushed as it happens.
    """
    from inspector.plc.monitor import (
        live_monitor,
        monitor_once,
        monitor_table,
        plain_line,
        plain_monitor,
    )

    interval_s = interval_ms / 1000
    if once:
        snapshot = monitor_once(host, port, unit, interval_s)
        if as_json:
            print_json(snapshot.as_json())
        elif plain:
            beat = {None: None, True: "advancing", False: "FROZEN"}[snapshot.heartbeat_advancing]
            print(plain_line(snapshot, beat), flush=True)
        else:
            console.print(monitor_table(snapshot))
        return
    try:
        if as_json:
            _json_monitor(host, port, unit, interval_s)
        elif plain or not console.is_terminal:
            # rich.live draws nothing where the output is not a terminal
            plain_monitor(host, port, unit, interval_s, sys.stdout)
        else:
            live_monitor(host, port, unit, interval_s, console)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a live view ends
    except BrokenPipeError:
        # the reader went away (`| head`): end quietly, and keep Python's exit-time
        # flush of stdout from failing on the closed pipe once more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _json_monitor(host: str, port: int, unit: int, interval_s: float) -> None:
    from inspector.plc.monitor import LinkDown, watch

    for item in watch(host, port, unit, interval_s):
        if isinstance(item, LinkDown):
            print_json({"station": item.station_at, "link_down": item.reason})
        else:
            print_json(item.as_json())


@plc_app.command("simulate")
def plc_simulate(
    host: HostOption = "127.0.0.1",
    port: PortOption = 5020,
    unit: UnitOption = 1,
    rate: Annotated[float, typer.Option("--rate", help="Cycles started per second.")] = 5.0,
    cycles: Annotated[
        int | None,
        typer.Option("--cycles", min=1, help="Cycles to run.", show_default=f"{DEFAULT_CYCLES}"),
    ] = None,
    duration: Annotated[
        float | None, typer.Option("--duration", help="Run this many seconds instead.")
    ] = None,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for READY, TRIGGER_ACK, ...")
    ] = 2.0,
    result_timeout_s: Annotated[
        float, typer.Option("--result-timeout", help="Seconds from trigger to RESULT_VALID.")
    ] = 2.0,
    as_json: JsonOption = False,
) -> None:
    """Drive the trigger/result handshake against a running station, like a PLC.

    Reports verdict counts, missed triggers, TRIGGER_ID mismatches, unearned passes and
    trigger-edge-to-RESULT_VALID times. Exits 1 if any PASS was unearned. The first
    Ctrl-C ends the run after the current cycle and still prints the report.
    """
    from inspector.plc.simulate import SimulationPlan, simulate

    if cycles is not None and duration is not None:
        raise ConfigError("--cycles and --duration both bound the run: give one")
    plan = SimulationPlan(
        rate_hz=rate,
        cycles=None if duration is not None else (cycles or DEFAULT_CYCLES),
        duration_s=duration,
        ack_timeout_s=timeout_s,
        result_timeout_s=result_timeout_s,
    )
    stop = threading.Event()
    with progress_bar(disable=as_json) as progress, _stop_on_interrupt(stop):
        task = progress.add_task(f"PLC cycles against {host}:{port}", total=plan.cycles)
        report = simulate(
            host, port, unit, plan, on_cycle=lambda _: progress.advance(task), stop=stop
        )
    if as_json:
        print_json(report.as_json())
    else:
        console.print(summary_table(report))
    if report.unearned_pass:
        raise typer.Exit(1)


@contextmanager
def _stop_on_interrupt(stop: threading.Event) -> Iterator[None]:
    """The first Ctrl-C sets `stop` (the run ends after its cycle); a second one aborts."""

    def first_interrupt(*_: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    if threading.current_thread() is not threading.main_thread():
        yield  # signals can only be handled on the main thread (e.g. under a test runner)
        return
    previous = signal.signal(signal.SIGINT, first_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def summary_table(report: SimulationReport) -> Table:
    doc = report.as_json()
    table = Table(title=f"PLC simulation against {doc['station']}", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("value", justify="right")
    rows = [
        ("cycles", doc["cycles"]),
        ("pass", doc["pass"]),
        ("fail", doc["fail"]),
        ("no decision", doc["no_decision"]),
        ("missed triggers", doc["missed_triggers"]),
        ("id mismatches", doc["id_mismatches"]),
        ("unearned pass", doc["unearned_pass"]),
        ("result timeouts", doc["result_timeouts"]),
        ("link errors", doc["link_errors"]),
        ("achieved rate, 1/s", doc["rate_hz"]),
    ]
    rows += [(f"cycle ms {key}", value) for key, value in doc["cycle_ms"].items()]
    for name, value in rows:
        style = "bold red" if name in ("unearned pass", "id mismatches") and value else ""
        table.add_row(name, "-" if value is None else str(value), style=style)
    return table


@plc_app.command("docs")
def plc_docs(
    output: Annotated[Path, typer.Option("--output", help="Markdown file to write.")] = Path(
        "docs/plc.md"
    ),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if OUTPUT is out of date.")
    ] = False,
) -> None:
    """(Re)generate docs/plc.md from the register map: tables, timing, example PLC code."""
    from inspector.plc.docs import plc_markdown, write_plc_docs

    if check:
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if current != plc_markdown():
            err_console.print(f"{output} is out of date: run `inspector plc docs`", markup=False)
            raise typer.Exit(1)
        console.print(f"{output} is up to date", markup=False, highlight=False)
        return
    written = write_plc_docs(output)
    console.print(f"wrote {written}", markup=False, highlight=False)
