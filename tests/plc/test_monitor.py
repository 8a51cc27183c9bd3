"""The register monitor against a running station server (pymodbus on loopback)."""

from __future__ import annotations

import io
import itertools
import json
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from inspector.errors import InspectorError
from inspector.plc.handshake import Handshake
from inspector.plc.monitor import (
    LinkDown,
    MonitorSnapshot,
    handshake_phase,
    monitor_once,
    monitor_table,
    plain_lines,
)
from inspector.plc.registers import (
    PROTOCOL_VERSION,
    Control,
    ControlBlock,
    ErrorCode,
    StationBlock,
    Status,
)
from inspector.plc.server import Endpoint, PlcServer, serve_station
from inspector.types import Verdict
from tests.plc.harness import ARMED, PlcProgram, StationStandIn, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Station:
    handshake: Handshake
    server: PlcServer
    plc: PlcProgram
    stand_in: StationStandIn

    @property
    def port(self) -> int:
        return self.server.endpoint.port


@pytest.fixture
def station() -> Iterator[Station]:
    """READY, HEARTBEAT at 5 (not advancing), and a PLC block the PLC has written."""
    handshake = Handshake()
    server = serve_station(handshake, Endpoint("127.0.0.1", 0))
    stand_in = StationStandIn(handshake)
    for _ in range(5):
        handshake.heartbeat()
    plc = PlcProgram(server.endpoint.port)
    plc.write(control=ARMED, plc_heartbeat=9, trigger_id=0x1234, part_serial=70_000)
    yield Station(handshake, server, plc, stand_in)
    plc.close()
    stand_in.stop()
    server.close()


def test_cli_once_json_decodes_the_registers(station):
    command = [sys.executable, "-m", "inspector", "plc", "monitor", "--once", "--json"]
    command += ["--port", str(station.port), "--interval-ms", "50"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["status"] == {"word": int(Status.READY), "bits": ["READY"]}
    assert (doc["heartbeat"], doc["heartbeat_advancing"]) == (5, False)
    assert doc["protocol_version"] == PROTOCOL_VERSION
    assert (doc["error"], doc["phase"]) == ("NONE", "ready")
    plc = doc["plc"]
    assert plc["control"] == {"word": 1, "bits": ["TRIGGER_ENABLE"]}
    assert (plc["plc_heartbeat"], plc["trigger_id"], plc["part_serial"]) == (9, 0x1234, 70_000)


def test_advancing_heartbeat_and_the_table(station):
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.005):
            station.handshake.heartbeat()

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        snapshot = monitor_once("127.0.0.1", station.port, interval_s=0.05)
    finally:
        stop.set()
        beater.join()
    assert snapshot.heartbeat_advancing is True
    out = io.StringIO()
    Console(file=out, width=100).print(monitor_table(snapshot))
    text = out.getvalue()
    assert "READY" in text and "advancing" in text and "TRIGGER_ENABLE" in text


def test_connection_refused_is_a_clear_error():
    port = free_port()
    with pytest.raises(InspectorError, match=f"127.0.0.1:{port}"):
        monitor_once("127.0.0.1", port)


@pytest.mark.parametrize(
    ("status", "control", "phase"),
    [
        (Status(0), Control(0), "not ready"),
        (Status.ERROR, Control.TRIGGER_ENABLE, "error (PLC_HEARTBEAT_STALE)"),
        (Status.TRIGGER_ACK | Status.BUSY, ARMED | Control.TRIGGER, "trigger acknowledged"),
        (Status.BUSY, ARMED, "inspecting"),
        (Status.RESULT_VALID | Status.PASS | Status.READY, ARMED, "result valid"),
        (Status.READY, ARMED | Control.RESULT_ACK, "result acknowledged"),
        (Status.READY, ARMED, "ready"),
    ],
)
def test_handshake_phase(status, control, phase):
    block = StationBlock(status=status, error_code=ErrorCode.PLC_HEARTBEAT_STALE)
    assert handshake_phase(block, ControlBlock(control=control)).startswith(phase)


# ---------------------------------------------------------------- not a terminal


def fields(line: str) -> dict[str, str]:
    """NAME=value fields of a plain monitor line."""
    return dict(re.findall(r"(\w+)=(\S+)", line))


def status_bits(line: str) -> set[str]:
    return set(fields(line)["STATUS"].split(","))


class Lines:
    """The lines a subprocess writes to its stdout pipe, as they come; with `limit`, the
    reader stops after that many lines and leaves the pipe to the test."""

    def __init__(self, process: subprocess.Popen[str], limit: int | None = None) -> None:
        self.process = process
        self._limit = limit
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for count, line in enumerate(self.process.stdout, 1):
            self._queue.put(line.rstrip("\n"))
            if count == self._limit:
                return
        self._queue.put(None)

    def until(self, matches: Callable[[str], bool], what: str, timeout: float = 20.0) -> str:
        while True:
            try:
                line = self._queue.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line with {what}; lines: {self.seen}") from None
            if line is None:
                raise AssertionError(f"monitor ended before a line with {what}: {self.seen}")
            self.seen.append(line)
            if matches(line):
                return line


@contextmanager
def monitor_process(port: int, *options: str, limit: int | None = None) -> Iterator[Lines]:
    """`inspector plc monitor` with its stdout a pipe, as under a service."""
    command = [sys.executable, "-m", "inspector", "plc", "monitor", "--port", str(port)]
    command += ["--interval-ms", "20", *options]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield Lines(process, limit)
    finally:
        process.terminate()
        process.wait(timeout=20)
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            stream.close()


@contextmanager
def beating(handshake: Handshake) -> Iterator[None]:
    """The station's HEARTBEAT advancing faster than the monitor reads."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(0.005):
            handshake.heartbeat()

    beater = threading.Thread(target=beat)
    beater.start()
    try:
        yield
    finally:
        stop.set()
        beater.join()


def test_piped_monitor_prints_a_plain_line_per_change(station):
    plc, stand_in = station.plc, station.stand_in
    with beating(station.handshake), monitor_process(station.port) as lines:
        first = lines.until(lambda line: "READY" in status_bits(line), "READY")
        assert (fields(first)["TRIGGER_ID"], fields(first)["PART_SERIAL"]) == ("4660", "70000")

        plc.trigger(21)
        lines.until(
            lambda line: (
                {"TRIGGER_ACK", "BUSY"} <= status_bits(line) and fields(line)["TRIGGER_ID"] == "21"
            ),
            "TRIGGER_ACK for trigger 21",
        )
        plc.drop_bits(Control.TRIGGER)
        stand_in.answer(stand_in.next_event(), Verdict.FAIL)
        plc.wait_status(Status.RESULT_VALID)  # held until RESULT_ACK: the monitor sees it
        result = lines.until(lambda line: "RESULT_VALID" in status_bits(line), "RESULT_VALID")
        assert {"FAIL", "INSPECTION_COMPLETE"} <= status_bits(result)
        assert "PASS" not in status_bits(result)
        got = fields(result)
        assert (got["TRIGGER_ID_ECHO"], got["INSPECTION_SEQ"]) == ("21", "1")
        assert (got["RESULT_CODE"], got["DEFECT_COUNT"], got["FAIL_COUNT"]) == (
            "1(defect_class_0)",
            "2",
            "1",
        )

        plc.acknowledge()
        idle = lines.until(
            lambda line: (
                fields(line)["CONTROL"] == "TRIGGER_ENABLE"
                and "RESULT_VALID" not in status_bits(line)
            ),
            "the acknowledged, idle station",
        )
        assert (fields(idle)["PART_COUNT"], fields(idle)["STATUS"]) == (
            "1",
            "READY,INSPECTION_COMPLETE",
        )

        # a quiet spell of many reads (only HEARTBEAT moves), then one more change
        ticks_from = station.handshake.snapshot().heartbeat
        wait_for(lambda: station.handshake.snapshot().heartbeat - ticks_from >= 50, what="50 ticks")
        station.handshake.set_recipe(7)
        lines.until(lambda line: fields(line)["ACTIVE_RECIPE"] == "7", "ACTIVE_RECIPE 7")

    assert not any("\x1b" in line for line in lines.seen), "ANSI codes in piped output"
    # HEARTBEAT ticked all along: a line must change more than its time and that count
    steady = [re.sub(r"^\S+ |HEARTBEAT=\d+", "", line) for line in lines.seen]
    repeats = [a for a, b in itertools.pairwise(steady) if a == b]
    assert repeats == [], f"lines that only the heartbeat changed: {repeats}"


def test_piped_monitor_ends_quietly_when_its_reader_goes(station):
    with monitor_process(station.port, limit=1) as lines:
        lines.until(lambda line: "STATUS=READY" in line, "a first line")
        assert lines.process.stdout is not None
        lines.process.stdout.close()  # as `| head -1` does once it has its line
        station.handshake.set_recipe(3)  # a change: the next write hits the closed pipe
        assert lines.process.wait(timeout=20) == 0
        assert lines.process.stderr is not None
        assert "Traceback" not in lines.process.stderr.read()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def snapshot(
    heartbeat: int, status: Status = Status.READY, plc_heartbeat: int = 0
) -> MonitorSnapshot:
    return MonitorSnapshot(
        "127.0.0.1:5020",
        1,
        0.0,
        StationBlock(status=status, heartbeat=heartbeat),
        ControlBlock(control=ARMED, plc_heartbeat=plc_heartbeat),
    )


DOWN = LinkDown("127.0.0.1:5020", "Connection refused")


@pytest.mark.parametrize(
    ("steps", "printed"),
    [
        # (seconds since start, item) -> which items print, and the HEARTBEAT field then
        ([(0.0, snapshot(1))], ["1"]),
        ([(0.0, snapshot(1)), (0.1, snapshot(2)), (0.2, snapshot(3))], ["1", "2(advancing)"]),
        ([(0.0, snapshot(1)), (0.1, snapshot(1, plc_heartbeat=9))], ["1"]),  # PLC's beat
        ([(0.0, snapshot(1)), (0.5, snapshot(1)), (1.0, snapshot(1))], ["1", "1(FROZEN)"]),
        (
            [(0.0, snapshot(1)), (0.1, snapshot(2)), (1.2, snapshot(2)), (1.3, snapshot(3))],
            ["1", "2(advancing)", "2(FROZEN)", "3(advancing)"],
        ),
        (
            [(0.0, snapshot(1)), (0.1, snapshot(2, Status.READY | Status.SPC_ALARM))],
            ["1", "2(advancing)"],
        ),
        (
            [(0.0, snapshot(1)), (0.1, DOWN), (0.2, DOWN), (0.3, snapshot(1))],
            ["1", "down", "1"],
        ),
    ],
)
def test_plain_lines_print_changes_not_ticks(steps, printed):
    clock = Clock()

    def items() -> Iterator[MonitorSnapshot | LinkDown]:
        for at, item in steps:
            clock.now = at
            yield item

    lines = list(plain_lines(items(), frozen_after_s=1.0, clock=clock))
    got = ["down" if "LINK_DOWN" in line else fields(line)["HEARTBEAT"] for line in lines]
    assert got == printed
