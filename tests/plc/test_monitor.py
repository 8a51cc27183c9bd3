"""The register monitor against a running station server (pymodbus on loopback)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from inspector.errors import InspectorError
from inspector.plc.handshake import Handshake
from inspector.plc.monitor import handshake_phase, monitor_once, monitor_table
from inspector.plc.registers import (
    PROTOCOL_VERSION,
    Control,
    ControlBlock,
    ErrorCode,
    StationBlock,
    Status,
)
from inspector.plc.server import Endpoint, PlcServer, serve_station
from tests.plc.harness import ARMED, PlcProgram, StationStandIn, free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Station:
    handshake: Handshake
    server: PlcServer
    plc: PlcProgram

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
    yield Station(handshake, server, plc)
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
