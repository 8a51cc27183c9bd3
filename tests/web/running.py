"""A station running the demo recording with its dashboard on a free port: what the
web tests look at."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inspector.demo import DemoOptions, demo_config
from inspector.factory import build_station
from inspector.spc import store as spc_store
from inspector.station import Station
from inspector.store.db import transaction


@dataclass
class Running:
    station: Station
    url: str
    database: Path

    def wait_for(self, predicate, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise TimeoutError("condition not met in time")
            time.sleep(0.05)

    def open_alarm(self) -> int:
        """An SPC alarm in the log, as a monitor would raise it."""
        with contextlib.closing(sqlite3.connect(self.database)) as conn, transaction(conn):
            subgroup = spc_store.insert_subgroup(conn, 1, 1, 1)
            return spc_store.insert_alarm(
                conn, "p", subgroup, "1_beyond_3sigma", 1, [subgroup], 1.0
            )


@contextlib.contextmanager
def running_demo(
    log_dir: Path,
    *,
    fast: bool,
    token_file: Path | None = None,
    web: dict | None = None,
    spc: dict | None = None,
) -> Iterator[Running]:
    options = DemoOptions(fast=fast, window=False, log_dir=log_dir, web_port=None)
    config = demo_config(options, log_dir)
    section = {"enabled": True, "port": 0, **(web or {})}
    if token_file is not None:
        section["token_file"] = token_file
    update = {"web": config.web.model_validate(section)}
    if spc is not None:
        update["spc"] = config.spc.model_validate(spc)
    config = config.model_copy(update=update)
    built = build_station(config, command="test")
    assert built.web is not None
    built.station.start()
    try:
        yield Running(built.station, built.web.url, config.storage.database)
    finally:
        built.station.stop()
