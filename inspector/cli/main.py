"""The `inspector` command line: the root Typer app and its sub-apps.

Each command module defines its own Typer app and imports only `inspector.cli.common`;
this module assembles them, so there is no import cycle. Every command raises
`InspectorError` for what the user can fix; `main` prints it as one line and exits
non-zero (a traceback only with --debug).
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from inspector import __version__
from inspector.cli.calibrate import calibrate_app
from inspector.cli.camera import camera_app
from inspector.cli.common import console, err_console
from inspector.cli.data import data_app
from inspector.cli.log import log_app
from inspector.cli.model import model_app
from inspector.cli.mqtt import mqtt_app
from inspector.cli.plc import plc_app
from inspector.cli.richhelp import hide_flag_types
from inspector.cli.spc import spc_app
from inspector.cli.station import config_app, station_app
from inspector.errors import InspectorError

__all__ = ["app", "main"]

hide_flag_types()  # Typer 0.29 prints `<bool>` after flags in rich help

app = typer.Typer(
    name="inspector",
    help="Edge inspection station: models, calibration, the station daemon and its demo.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(model_app)
app.add_typer(station_app)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
app.add_typer(log_app, name="log")
app.add_typer(plc_app, name="plc")
app.add_typer(spc_app, name="spc")
app.add_typer(mqtt_app, name="mqtt")
app.add_typer(calibrate_app, name="calibrate")
app.add_typer(camera_app, name="camera")


def _print_version(value: bool) -> None:
    if value:
        console.print(f"inspector {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", is_eager=True, callback=_print_version
        ),
    ] = False,
) -> None:
    """Options every command shares."""


def main() -> None:
    """Console entry point: one clear line per user error, tracebacks only with --debug."""
    try:
        app()
    except InspectorError as exc:
        if "--debug" in sys.argv:
            raise
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
