"""The dashboard's server: uvicorn on a thread of its own, and the factory that opens it.

`open_web` binds the port before anything runs (a port in use fails the station's
start, which then closes what it opened), reads the write token from its file or the
environment, and starts the thread. `WebServer.close` stops it; a stream still open
gets a second to end."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn
from prometheus_client.registry import CollectorRegistry

from inspector.errors import ConfigError
from inspector.plc.client import PlcClientLink
from inspector.plc.link import PlcLink
from inspector.recipes import Requester
from inspector.station import Station
from inspector.store.link import StoreLink
from inspector.web.app import Probe, WebApp, make_app
from inspector.web.config import WebConfig
from inspector.web.history import LogReader
from inspector.web.live import Dashboard
from inspector.web.metrics import StationGauges, StationMetrics

__all__ = ["WebServer", "listener", "open_dashboard", "open_web", "read_token"]

log = logging.getLogger(__name__)


class WebServer:
    """Serves `app` on a bound socket from its own thread until `close`."""

    def __init__(self, app: WebApp, sock: socket.socket) -> None:
        self._closing = threading.Event()
        config = uvicorn.Config(
            make_app(app, self._closing),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._thread = threading.Thread(target=self._serve, name="web", daemon=True)
        host, port = sock.getsockname()[:2]
        self.url = f"http://{'localhost' if host == '127.0.0.1' else host}:{port}/"

    def start(self) -> WebServer:
        self._thread.start()
        log.info("web: the dashboard at %s, metrics at %smetrics", self.url, self.url)
        return self

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._sock])
        except Exception:  # the dashboard's failure must never reach inspection
            log.exception("web: the dashboard's server stopped")

    def close(self) -> None:
        self._closing.set()
        self._server.should_exit = True
        if self._thread.ident is not None:
            self._thread.join(5.0)
            if self._thread.is_alive():
                log.error("web: the server did not stop within 5 s")
        self._sock.close()


def open_web(
    config: WebConfig,
    dashboard: Dashboard,
    probe: Probe,
    reader: LogReader,
    connect: Callable[[], sqlite3.Connection],
    gauges: StationGauges,
    request_recipe: Callable[[int], None] | None = None,
) -> WebServer:
    """Bind, register the station's gauges, and start serving."""
    token = read_token(config)
    sock = _bind(config.host, config.port)
    try:
        registry: CollectorRegistry = dashboard.metrics.registry
        registry.register(gauges)
        app = WebApp(
            dashboard,
            probe,
            reader,
            connect,
            registry,
            token,
            config.live_fps,
            config.max_streams,
            request_recipe,
        )
        return WebServer(app, sock).start()
    except BaseException:
        sock.close()
        raise


def read_token(config: WebConfig) -> str | None:
    """The write token, from `token_file` (its first line) or `token_env`; None: writes
    need none (then bind to localhost)."""
    if config.token_file is not None:
        try:
            lines = config.token_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"web.token_file: {exc.strerror} ({config.token_file})") from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise ConfigError(f"web.token_file: {config.token_file} is empty")
        return token
    if config.token_env is not None:
        token = os.environ.get(config.token_env, "").strip()
        if not token:
            raise ConfigError(f"web.token_env: {config.token_env} is not set or empty")
        return token
    return None


def _bind(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"web.host: {host!r} does not resolve ({exc.strerror})") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"web.port: cannot listen on {host}:{port} ({exc.strerror})") from None
    return sock


def disk_free(folder: Path) -> Callable[[], int | None]:
    """Free bytes on the disk of `folder`, None when it cannot be read."""

    def free() -> int | None:
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            return None

    return free


def listener(config: WebConfig, class_names: tuple[str, ...]) -> Dashboard:
    """The dashboard's sink, before the station exists (its runner is one of the station's)."""
    return Dashboard(StationMetrics(class_names), config.live_fps, config.recent_fails)


def open_dashboard(
    config: WebConfig,
    dashboard: Dashboard,
    station: Station,
    store: StoreLink,
    images_dir: Path,
    link: PlcLink | None,
) -> WebServer:
    """The server for a built station: how it looks at the station, the log and the PLC."""
    database = store.store.path
    probe = Probe(
        state=lambda: station.state,
        health=station.health,
        sinks=lambda: _links(station, link),
        disk_free=disk_free(database.parent),
    )
    gauges = StationGauges(
        depths=lambda: {r.sink.name: r.depth for r in station.sinks},
        dropped=lambda: {r.sink.name: r.dropped for r in station.sinks},
        frames_dropped=lambda: _frames_dropped(station),
        database=database,
    )
    reader = LogReader(database, images_dir)
    recipe = None
    if station.recipes is not None:

        def recipe(number: int) -> None:
            station.request_recipe(number, Requester.OPERATOR)

    return open_web(config, dashboard, probe, reader, store.store.connect, gauges, recipe)


def _links(station: Station, link: PlcLink | None) -> dict[str, bool | None]:
    """Each optional sink's health (the MQTT link among them) and the PLC link's: a
    client's connection, a server's listening socket."""
    links: dict[str, bool | None] = {
        runner.sink.name: runner.healthy and runner.sink.healthy
        for runner in station.sinks
        if not runner.critical and runner.sink.name != "web"
    }
    if link is None:
        links["plc"] = None
    elif isinstance(link.transport, PlcClientLink):
        links["plc"] = link.transport.connected
    else:
        links["plc"] = True
    return links


def _frames_dropped(station: Station) -> dict[str, int]:
    report = station.source_report()
    return {"overrun": station.stats.overruns, "undecodable": report.frames_undecodable}
