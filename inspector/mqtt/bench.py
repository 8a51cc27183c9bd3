"""`inspector bench --mqtt HOST:PORT`: what the MQTT sink costs the line, and how fast
a backlog drains.

- Sink on vs off: two stations on the same recording decoded into memory, one with
  the MQTT sink publishing to the broker and one without, let through blocks of parts
  in turn (each goes first every other block), so a drifting machine slows both alike.
  Throughput from blocks back to back; trigger-to-verdict latency from single parts at
  the recording's rate, alternating stations. The verdict is taken where the PLC would
  get it: after the part's commit, which with the sink on also inserts its outbox row.
- Backlog: results committed to an outbox while nothing sends (as after an outage),
  then the publisher started: results acknowledged per second until it is empty.
"""

from __future__ import annotations

import dataclasses
import socket
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspector.camera.memory import GatedReplay, MemorySource
from inspector.config import VideoCamera, parse_config
from inspector.errors import ConfigError, InspectorError
from inspector.factory import build_station
from inspector.mqtt.config import MqttSinkConfig, parse_broker
from inspector.registry import OpenContext
from inspector.sinks.mqtt import MqttSink
from inspector.station import Station
from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.link import StoreLink
from inspector.store.sink import StoreSink
from inspector.types import Inspection

if TYPE_CHECKING:  # bench imports this module lazily; no cycle at run time
    from inspector.bench import BenchOptions, _Collector

__all__ = ["measure_mqtt"]

BACKLOG_TIMEOUT_S = 300.0


def measure_mqtt(options: BenchOptions) -> dict[str, Any]:
    if options.mqtt is None:
        raise ConfigError("bench: --mqtt HOST:PORT is needed for the MQTT leg")
    try:
        host, port = parse_broker(options.mqtt)
    except ConfigError:
        raise ConfigError(f"bench --mqtt {options.mqtt!r}: expected HOST or HOST:PORT") from None
    _reachable(host, port)
    memory = MemorySource.open(VideoCamera(kind="video", path=options.video, pace="fast"))
    with tempfile.TemporaryDirectory(prefix="inspector-bench-mqtt-") as tmp:
        legs = _compare(options, memory, host, port, Path(tmp))
        backlog = _backlog(options, legs.pop("records"), host, port, Path(tmp) / "backlog")
    return {"broker": f"{host}:{port}", **legs, "backlog": backlog}


def _reachable(host: str, port: int) -> None:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise ConfigError(f"bench --mqtt {host}:{port}: no broker answers ({exc})") from None


# ---------------------------------------------------------------- sink on vs off


@dataclasses.dataclass
class _Leg:
    station: Station
    replay: GatedReplay
    collector: _Collector
    store: Path

    def parts(self, count: int) -> list[Inspection]:
        self.replay.let_through(count)
        return self.collector.take(count)


def _compare(
    options: BenchOptions, memory: MemorySource, host: str, port: int, folder: Path
) -> dict[str, Any]:
    from inspector.bench import WARM_UP_PARTS, Throughput

    throughput = {"off": Throughput(), "on": Throughput()}
    latency: dict[str, list[float]] = {"off": [], "on": []}
    sample: list[Inspection] = []  # real records, for the backlog
    period_s = 1.0 / (memory.fps or 30.0)
    with _stations(options, memory, host, port, folder) as legs:
        for leg in legs.values():
            leg.parts(WARM_UP_PARTS)
        for index in range(options.blocks):
            for name in ("on", "off") if index % 2 else ("off", "on"):
                block = legs[name].parts(options.block_parts)
                throughput[name].add(block)
                sample = block
        for index in range(options.latency_parts):
            name = ("off", "on")[index % 2]
            latency[name].extend(_verdict_ms(r) for r in legs[name].parts(1))
            time.sleep(period_s)
        undelivered = _outbox_rows(legs["on"].store, wait_s=10.0)
    return {
        **{name: _figures(throughput[name], latency[name]) for name in ("off", "on")},
        "on_over_off_fps": _ratio(throughput["on"].fps, throughput["off"].fps),
        "on_over_off_median_fps": _ratio(throughput["on"].median_fps, throughput["off"].median_fps),
        "latency_p50_delta_ms": _delta(latency, 50),
        "latency_p99_delta_ms": _delta(latency, 99),
        "undelivered_after_run": undelivered,
        "records": sample,
    }


@contextmanager
def _stations(
    options: BenchOptions, memory: MemorySource, host: str, port: int, folder: Path
) -> Iterator[dict[str, _Leg]]:
    from inspector.bench import _Collector, _config

    with ExitStack() as stack:
        legs = {}
        for name in ("off", "on"):
            doc = _config(options, "fast", folder / name).model_dump(mode="json")
            if name == "on":
                doc["sinks"] = [{"kind": "mqtt", "host": host, "port": port}]
            collector = _Collector()
            replay = memory.gated()
            station = build_station(
                parse_config(doc, "bench config"), extra_sinks=[collector], source=replay
            ).station
            # no PLC here: a hot sink that does nothing stamps when the PLC would have
            # the verdict (after the commit, and the outbox row with it)
            station.pipeline = dataclasses.replace(station.pipeline, hot_sinks=(_no_plc,))
            station.start()
            stack.callback(station.stop)
            legs[name] = _Leg(station, replay, collector, folder / name / "bench.db")
        yield legs


def _no_plc(record: Inspection) -> None:
    """The hot sink of a station without a PLC: nothing to write."""


def _verdict_ms(record: Inspection) -> float:
    return record.times.ms("trigger", "plc_write")


def _figures(throughput: Any, latency: list[float]) -> dict[str, Any]:
    from inspector.bench import percentiles

    return {
        "fps": throughput.fps,
        "median_fps": throughput.median_fps,
        "parts": throughput.parts,
        "trigger_to_verdict_ms": percentiles(latency),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _delta(latency: dict[str, list[float]], q: int) -> float:
    import numpy as np

    return round(float(np.percentile(latency["on"], q) - np.percentile(latency["off"], q)), 3)


def _outbox_rows(db: Path, wait_s: float) -> int:
    """Rows still in the outbox, after waiting up to `wait_s` for it to empty."""
    conn = sqlite3.connect(db)
    try:
        end = time.monotonic() + wait_s
        while True:
            rows = int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
            if rows == 0 or time.monotonic() > end:
                return rows
            time.sleep(0.05)
    finally:
        conn.close()


# ---------------------------------------------------------------- backlog replay


def _backlog(
    options: BenchOptions, records: list[Inspection], host: str, port: int, folder: Path
) -> dict[str, Any]:
    """Fill an outbox with `options.mqtt_backlog` results (each committed as a part is),
    then time the publisher emptying it into the broker."""
    folder.mkdir(parents=True)
    count = options.mqtt_backlog
    with open_store(folder / "backlog.db") as store:
        writer = InspectionWriter(store.connect(), ())
        link = StoreLink(store, writer, StoreSink(store.connect(), None, 0.0))
        config = MqttSinkConfig(kind="mqtt", host=host, port=port, client_id="inspector-bench")
        sink = MqttSink.open(config, OpenContext("bench", "bench", (), None, link))
        for i in range(count):
            writer.commit(dataclasses.replace(records[i % len(records)], seq=i + 1))
        started = time.monotonic()
        sink.start()
        try:
            left = _outbox_rows(folder / "backlog.db", BACKLOG_TIMEOUT_S)
            seconds = time.monotonic() - started
        finally:
            sink.close()
    if left:
        raise InspectorError(
            f"bench --mqtt: {left} of {count} results still queued after {BACKLOG_TIMEOUT_S:.0f} s"
        )
    return {
        "results": count,
        "seconds": round(seconds, 3),
        "results_per_s": round(count / seconds, 1),
    }
