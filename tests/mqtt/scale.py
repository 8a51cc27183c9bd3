"""Many stations, one broker: N processes, each the real MQTT sink of its own station
(its own store and outbox, a distinct station id), publishing parts into one
Mosquitto while one subscriber checks that every msg_seq of every station arrives,
and counts any that arrive twice.

    python -m tests.mqtt.scale --stations 20 --parts 1000            # starts a Mosquitto
    python -m tests.mqtt.scale --stations 20 --parts 1000 --broker 127.0.0.1:1883

Prints one JSON object: results expected, received, missing, duplicated, the time
from "go" to the last result, results per second, and the broker's CPU seconds over
that window (from /proc, for a broker this script started). Each station commits its
parts as the inspection worker does (row and outbox row in one transaction), as fast
as it can; the sink's publisher sends them on its own thread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parents[2]
LINE = "line-1"
# A historian must not lose what it cannot take at once: Mosquitto's default (1000
# queued messages per client) drops QoS 1 messages beyond it for a slow subscriber.
BROKER_LINES = ("max_queued_messages 1000000", "max_inflight_messages 100")


def station_id(index: int) -> str:
    return f"station-{index:03d}"


# ---------------------------------------------------------------- one station


def run_station(index: int, parts: int, host: str, port: int, folder: Path) -> None:
    """A worker process: open the sink, say ready, wait for 'go' on stdin, commit
    `parts` parts, wait until the outbox is empty, print its figures."""
    from inspector.mqtt.config import MqttSinkConfig
    from inspector.registry import OpenContext
    from inspector.sinks.base import SinkRunner
    from inspector.sinks.mqtt import MqttSink
    from inspector.store.db import open_store
    from inspector.store.inspections import InspectionWriter
    from inspector.store.link import StoreLink
    from inspector.store.sink import StoreSink
    from inspector.types import Verdict
    from tests.sinks.records import CLASS_NAMES, make_inspection

    store = open_store(folder / "inspections.db")
    writer = InspectionWriter(store.connect(), CLASS_NAMES)
    log_sink = StoreSink(store.connect(), None, 0.0)
    config = MqttSinkConfig(kind="mqtt", host=host, port=port)
    link = StoreLink(store, writer, log_sink)
    sink = MqttSink.open(config, OpenContext(station_id(index), LINE, CLASS_NAMES, None, link))
    runners = [SinkRunner(log_sink).start(), SinkRunner(sink).start()]
    _wait(lambda: sink.healthy, 30)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.monotonic()
    for seq in range(1, parts + 1):
        record = make_inspection(seq, Verdict.FAIL if seq % 10 == 0 else Verdict.PASS)
        writer.commit(record)
        for runner in runners:
            runner.submit(record)
    committed = time.monotonic() - started
    outbox = store.connect()
    _wait(lambda: outbox.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0, 300)
    figures = {"commit_s": committed, "delivered_s": time.monotonic() - started}
    for runner in runners:
        runner.stop()
    store.close()
    print(json.dumps(figures), flush=True)


def _wait(predicate: Any, timeout_s: float, fail: bool = True) -> None:
    end = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > end:
            if fail:
                raise SystemExit(f"timed out after {timeout_s} s")
            return
        time.sleep(0.01)


# ---------------------------------------------------------------- the historian


class Historian:
    """One subscriber to every station's results: msg_seq per station, and when the
    last one arrived."""

    def __init__(self, host: str, port: int) -> None:
        self.seen: dict[str, set[int]] = {}
        self.received = 0
        self.duplicated = 0
        self.last_at = 0.0
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="scale-historian", protocol=mqtt.MQTTv311
        )
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("inspector/+/+/result", 1)
        self.client.on_subscribe = lambda *args: self._ready.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=30)
        self.client.loop_start()
        if not self._ready.wait(10):
            raise SystemExit("historian: no SUBACK within 10 s")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: Any) -> None:
        doc = json.loads(message.payload)
        with self._lock:
            seqs = self.seen.setdefault(doc["station"], set())
            if doc["msg_seq"] in seqs:
                self.duplicated += 1
            seqs.add(doc["msg_seq"])
            self.received += 1
            self.last_at = time.monotonic()

    def missing(self, stations: int, parts: int) -> int:
        with self._lock:
            expected = set(range(1, parts + 1))
            return sum(len(expected - self.seen.get(station_id(i), set())) for i in range(stations))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ---------------------------------------------------------------- the run


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(stations: int, parts: int, host: str, port: int, broker_pid: int | None) -> dict:
    historian = Historian(host, port)
    workers: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for i in range(stations):
                folder = Path(tmp) / station_id(i)
                folder.mkdir()
                workers.append(_spawn(i, parts, host, port, folder))
            for worker in workers:
                if worker.stdout is None or worker.stdout.readline().strip() != "ready":
                    raise SystemExit("a station did not start")
            cpu_before = cpu_seconds(broker_pid) if broker_pid else None
            go = time.monotonic()
            for worker in workers:
                assert worker.stdin is not None  # opened with PIPE
                worker.stdin.write("go\n")
                worker.stdin.flush()
            station_figures = [json.loads(w.stdout.readline()) for w in workers]  # type: ignore[union-attr]
            expected = stations * parts
            _wait(lambda: historian.received >= expected, 60, fail=False)
            time.sleep(0.5)  # a late duplicate would arrive now
            elapsed = historian.last_at - go
            cpu = (
                cpu_seconds(broker_pid) - cpu_before
                if broker_pid and cpu_before is not None
                else None
            )
        finally:
            for worker in workers:
                worker.kill()
                worker.wait()
    historian.close()
    return {
        "stations": stations,
        "parts_per_station": parts,
        "expected": expected,
        "received": historian.received,
        "missing": historian.missing(stations, parts),
        "duplicated": historian.duplicated,
        "seconds": round(elapsed, 3),
        "results_per_s": round(historian.received / elapsed, 1),
        "broker_cpu_s": round(cpu, 3) if cpu is not None else None,
        "slowest_station_delivered_s": round(max(f["delivered_s"] for f in station_figures), 3),
        "cores": os.cpu_count(),
    }


def _spawn(index: int, parts: int, host: str, port: int, folder: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.mqtt.scale", "--worker", str(index)]
    command += ["--parts", str(parts), "--broker", f"{host}:{port}", "--folder", str(folder)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=20)
    parser.add_argument("--parts", type=int, default=1000)
    parser.add_argument("--broker", help="HOST:PORT of a running broker (default: start one)")
    parser.add_argument(
        "--mosquitto-defaults",
        action="store_true",
        help="start the broker without the queue settings (to see what its defaults drop)",
    )
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        host, port = args.broker.rsplit(":", 1)
        run_station(args.worker, args.parts, host, int(port), args.folder)
        return 0
    if args.broker:
        host, port = args.broker.rsplit(":", 1)
        figures = measure(args.stations, args.parts, host, int(port), None)
    else:
        from tests.mqtt.broker import Mosquitto

        with tempfile.TemporaryDirectory() as tmp:
            lines = () if args.mosquitto_defaults else BROKER_LINES
            broker = Mosquitto(Path(tmp) / "broker", lines).start()
            try:
                assert broker.process is not None
                figures = measure(
                    args.stations, args.parts, "127.0.0.1", broker.port, broker.process.pid
                )
            finally:
                broker.stop()
    print(json.dumps(figures))
    return 0 if figures["missing"] == 0 and figures["duplicated"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
