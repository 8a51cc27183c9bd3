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
            "trigger": {"kind": "plc"},
            "model": {"path": str(shipped_model("magnetic-tile"))},
            "judge": {"min_confidence": 0.5},
            "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "i")},
            "plc": {"enabled": True, "port": 0},
        },
        "test",
    )
    # past validation: station.yaml needs 10 ms or more, the station must cope with less
    trigger = cfg.trigger.model_copy(update={"deadline_ms": deadline_ms})
    return build_station(cfg.model_copy(update={"trigger": trigger}))


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


def test_a_lost_camera_faults_the_station_and_the_plc_sees_error():
    """A live camera unplugs: the station goes FAULT, the PLC sees ERROR (camera) and
    no READY; the capture reconnects with backoff and everything comes back."""
    from inspector.camera import Capture, FramePool, SourceLost
    from inspector.config import Backoff, JudgeConfig
    from inspector.detect import open_detector
    from inspector.judge import Judge
    from inspector.plc.handshake import Handshake
    from inspector.plc.registers import ErrorCode
    from inspector.plc.trigger import PlcHealthMonitor
    from inspector.station import Pipeline, RecordIdentity, Station, StationState
    from inspector.trigger.manual import ManualTrigger
    from tests.camera.test_capture import FakeLiveCamera  # a camera that cannot exist here

    handshake = Handshake()
    handshake.set_trigger_listener(lambda request: None)
    camera = FakeLiveCamera(frames_before_loss=30)
    attempts: list[int] = []

    def reopen():
        attempts.append(1)
        if len(attempts) < 3:
            raise SourceLost("fake camera: still unplugged")
        return FakeLiveCamera(None)

    def capture_factory(on_frame, on_state):
        pool = FramePool(camera.frame_shape, 8)
        return Capture(
            camera,
            pool,
            on_frame,
            reopen=reopen,
            backoff=Backoff(initial_s=0.2, max_s=0.4),
            on_state=on_state,
        )

    detector = open_detector(shipped_model("magnetic-tile"))
    judge = Judge(detector.info.names, JudgeConfig(min_confidence=0.5), None)
    pipeline = Pipeline(
        ManualTrigger(1000),
        detector,
        judge,
        RecordIdentity("m", "sha", "cfg"),
    )
    station = Station(pipeline, capture_factory, sinks=[], listeners=(PlcHealthMonitor(handshake),))
    station.start()
    try:
        assert wait_until(lambda: station.state is StationState.FAULT, timeout=10)
        assert wait_until(lambda: handshake.snapshot().error_code == ErrorCode.CAMERA)
        assert Status.READY not in handshake.snapshot().status
        assert wait_until(lambda: station.state is StationState.READY, timeout=10)
        assert wait_until(lambda: Status.READY in handshake.snapshot().status)
        assert handshake.snapshot().error_code == ErrorCode.NONE
        assert len(attempts) == 3
    finally:
        station.stop()
