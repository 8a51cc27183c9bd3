"""CLI commands of MQTT: `inspector mqtt tail`."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from inspector.cli.common import err_console

if TYPE_CHECKING:
    from inspector.mqtt.tail import TailOptions

__all__ = ["mqtt_app", "mqtt_tail"]

mqtt_app = typer.Typer(
    help="MQTT: watch what stations publish (commissioning).", no_args_is_help=True
)


@mqtt_app.command("tail")
def mqtt_tail(
    broker: Annotated[
        str | None,
        typer.Option(help="HOST:PORT of the broker.", show_default="localhost:1883"),
    ] = None,
    prefix: Annotated[
        str | None, typer.Option(help="Topic prefix of the stations.", show_default="inspector")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw payloads.")] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A station.yaml: its MQTT sink's broker, TLS, credentials and prefix.",
        ),
    ] = None,
    count: Annotated[int | None, typer.Option(help="Stop after N messages.", min=1)] = None,
    timeout: Annotated[
        float | None, typer.Option(help="Stop after this many seconds.", min=0)
    ] = None,
) -> None:
    """Subscribe to <prefix>/# and print one line per message: results, status, events.
    Retained status messages come first, so a station's state shows at once."""
    from inspector.mqtt.tail import tail

    options = _options(config, broker, prefix, as_json, count, timeout)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def out(line: str) -> None:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def note(line: str) -> None:
        err_console.print(line, markup=False, highlight=False)

    tail(options, out, note, stop)


def _options(
    config: Path | None,
    broker: str | None,
    prefix: str | None,
    as_json: bool,
    count: int | None,
    timeout: float | None,
) -> TailOptions:
    from inspector.config import load_config
    from inspector.errors import ConfigError
    from inspector.mqtt.config import MqttSinkConfig, parse_broker
    from inspector.mqtt.tail import TailOptions

    station = None
    host, port, default_prefix = "localhost", 1883, "inspector"
    if config is not None:
        sinks = [s for s in load_config(config).sinks if isinstance(s, MqttSinkConfig)]
        if not sinks:
            raise ConfigError(f"--config {config}: no sink of kind mqtt in it")
        station = sinks[0]
        host, port, default_prefix = station.host, station.port, station.topic_prefix
    if broker is not None:
        host, port = parse_broker(broker)
    return TailOptions(host, port, prefix or default_prefix, as_json, count, timeout, station)
