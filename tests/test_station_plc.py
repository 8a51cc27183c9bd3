"""The whole loop: a simulated PLC drives the real station over Modbus TCP on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.config import parse_config
from inspector.errors import ConfigError
from inspector.factory import build_station
from inspector.plc.monitor import read_snapshot
from inspector.plc.registers import Status
from inspector.plc.simulate import SimulationPlan, connect_station, simulate
from tests.camera.media import wait_until, write_folder
from tests.conftest import shipped_model


def plc_station(tmp_path: Path, deadline_ms: float = 1000.0):
    cfg = parse_config(
        {
            "camera": {
                "kind": "folder",
                "path": str(write_folder(tmp_path / "f", 20)),
                "fps": 30,
                "loop": True,
            },
            "trigger": {"kind": "plc", "deadline_ms": deadline_ms},
            "model": {"path": str(shipped_model("magnetic-tile"))},
            "judge": {"min_confidence": 0.5},
            "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "i")},
            "plc": {"enabled": True, "port": 0},
        },
        "test",
    )
    return build_station(cfg)


def test_simulated_plc_runs_full_handshakes_against_the_station(tmp_path: Path):
    parts = plc_station(tmp_path)
    station, endpoint = parts.station, parts.plc.transport.endpoint
    station.start()
    try:
        report = simulate(endpoint.host, endpoint.port, plan=SimulationPlan(rate_hz=20, cycles=15))
    finally:
        station.stop()
    doc = report.as_json()
    assert doc["cycles"] == 15
    assert doc["pass"] + doc["fail"] + doc["no_decision"] == 15
    assert (doc["missed_triggers"], doc["id_mismatches"], doc["unearned_pass"]) == (0, 0, 0)
    assert station.stats.parts == 15


def test_status_bits_follow_the_station_lifecycle(tmp_path: Path):
    parts = plc_station(tmp_path)
    endpoint = parts.plc.transport.endpoint
    connection = connect_station(endpoint.host, endpoint.port, 1, 1.0)
    try:
        assert read_snapshot(connection).station.status == 0  # all bits 0 before start
        parts.station.start()
        assert wait_until(lambda: Status.READY & read_snapshot(connection).station.status)
        beat = read_snapshot(connection).station.heartbeat
        assert wait_until(lambda: read_snapshot(connection).station.heartbeat != beat)
    finally:
        connection.close()
        parts.station.stop()


def test_missed_deadline_reaches_the_plc_as_fail_ffff(tmp_path: Path):
    parts = plc_station(tmp_path, deadline_ms=0.001)
    station, endpoint = parts.station, parts.plc.transport.endpoint
    station.start()
    try:
        report = simulate(endpoint.host, endpoint.port, plan=SimulationPlan(rate_hz=20, cycles=5))
    finally:
        station.stop()
    doc = report.as_json()
    assert (doc["no_decision"], doc["pass"], doc["unearned_pass"]) == (5, 0, 0)


def test_plc_trigger_needs_the_plc_enabled(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"trigger.kind .plc. needs plc.enabled: true"):
        parse_config(
            {
                "camera": {"kind": "folder", "path": "f"},
                "trigger": {"kind": "plc"},
                "model": {"path": "m.onnx"},
            },
            "test",
        )
