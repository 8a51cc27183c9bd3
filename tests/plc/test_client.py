"""Client mode against a real PLC peer: a pymodbus server with plain memory on loopback.

The PLC program reads the station block where the station writes it (HR 100-115 of the
PLC) and writes its control block where the station polls it (HR 200-205).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from inspector.plc.client import Backoff, ClientLayout, PlcClientLink, tcp_connector
from inspector.plc.handshake import Handshake
from inspector.plc.registers import ErrorCode, Status
from inspector.types import RESULT_NO_DECISION, Verdict
from tests.plc.harness import (
    PlcProgram,
    SimulatedPlc,
    StationStandIn,
    free_port,
    wait_for,
)

STATION_AT, CONTROL_AT = 100, 200
FAST = Backoff(initial_s=0.02, max_s=0.1)


@dataclass
class ClientLine:
    handshake: Handshake
    link: PlcClientLink
    station: StationStandIn

    def program(self, port: int) -> PlcProgram:
        return PlcProgram(port, station_offset=STATION_AT, control_offset=CONTROL_AT)


def start_link(port: int, handshake: Handshake | None = None) -> ClientLine:
    handshake = handshake or Handshake()
    link = PlcClientLink(
        handshake,
        tcp_connector("127.0.0.1", port, timeout_s=0.5),
        ClientLayout(STATION_AT, CONTROL_AT, unit_id=1),
        poll_interval_s=0.01,
        backoff=FAST,
        name=f"PLC 127.0.0.1:{port}",
    )
    return ClientLine(handshake, link.start(), StationStandIn(handshake))


def stop_link(line: ClientLine) -> None:
    line.station.stop()
    line.link.close()


@pytest.fixture
def plc() -> Iterator[SimulatedPlc]:
    plc = SimulatedPlc()
    yield plc
    plc.close()


@pytest.fixture
def client_line(plc: SimulatedPlc) -> Iterator[ClientLine]:
    line = start_link(plc.port)
    yield line
    stop_link(line)


@pytest.mark.parametrize(
    ("verdict", "flag", "code"),
    [
        (Verdict.PASS, Status.PASS, 0),
        (Verdict.FAIL, Status.FAIL, 1),
        (Verdict.NO_DECISION, Status.FAIL, RESULT_NO_DECISION),
    ],
    ids=["pass", "fail", "no decision"],
)
def test_full_handshake(plc, client_line, verdict, flag, code):
    program = client_line.program(plc.port)
    try:
        wait_for(lambda: client_line.link.connected, what="link up")
        result = program.cycle(client_line.station, trigger_id=3001, verdict=verdict)
        assert result.status == (
            Status.RESULT_VALID | flag | Status.READY | Status.INSPECTION_COMPLETE
        )
        assert (result.trigger_id_echo, result.result_code) == (3001, code)
        again = program.cycle(client_line.station, trigger_id=3002, verdict=Verdict.PASS)
        assert again.trigger_id_echo == 3002 and again.part_count == 2
        # nothing else in the PLC's memory was touched
        assert (
            program.client.read_holding_registers(0, count=100, device_id=1).registers == [0] * 100
        )
    finally:
        program.close()


def test_plc_refuses_then_appears(caplog):
    """Nothing listens at first: the link retries with backoff, logs the loss once, and
    carries on with the handshake as soon as the PLC is there."""
    caplog.set_level(logging.INFO, logger="inspector.plc.client")
    port = free_port()
    line = start_link(port)
    try:
        wait_for(lambda: _count(caplog, "link down") == 1, what="the loss logged")
        wait_for(lambda: _attempts(line) >= 3, what="a few reconnect attempts")
        assert not line.link.connected and _count(caplog, "link down") == 1
        plc = SimulatedPlc(port)
        try:
            wait_for(lambda: line.link.connected, what="link up")
            program = line.program(port)
            try:
                result = program.cycle(line.station, trigger_id=12, verdict=Verdict.FAIL)
            finally:
                program.close()
        finally:
            plc.close()
    finally:
        stop_link(line)
    assert result.trigger_id_echo == 12 and Status.FAIL in result.status
    assert _count(caplog, "link up") == 1


def test_plc_disappears_mid_cycle_and_comes_back(caplog):
    caplog.set_level(logging.INFO, logger="inspector.plc.client")
    plc = SimulatedPlc()
    port = plc.port
    line = start_link(port)
    try:
        program = line.program(port)
        program.wait_status(Status.READY)
        program.trigger(70)
        program.wait_status(Status.BUSY)
        program.close()
        plc.close()  # the PLC is gone while the station inspects
        line.station.answer(line.station.next_event(), Verdict.PASS)
        wait_for(lambda: not line.link.connected, what="link down")
        plc = SimulatedPlc(port)  # it restarts with empty memory
        program = line.program(port)
        held = program.wait_status(Status.RESULT_VALID)
        assert held.trigger_id_echo == 70 and Status.PASS in held.status
        program.acknowledge()
        program.close()
    finally:
        stop_link(line)
        plc.close()
    assert _count(caplog, "link down") == 1
    assert _count(caplog, "link up") == 2


def test_stale_plc_heartbeat_in_client_mode(plc):
    line = start_link(plc.port, Handshake(plc_heartbeat_timeout_s=0.2))
    program = line.program(plc.port)
    try:
        program.write(plc_heartbeat=1)
        stale = program.wait_status(Status.ERROR, Status.READY)
        assert stale.error_code == ErrorCode.PLC_HEARTBEAT_STALE
        program.write(plc_heartbeat=2)
        program.reset_errors()
        assert program.wait_status(Status.READY, Status.ERROR).error_code == ErrorCode.NONE
    finally:
        program.close()
        stop_link(line)


def test_plc_answering_exceptions_is_a_lost_link(plc, caplog):
    """A layout beyond the PLC's memory: exception responses, logged once, no crash."""
    handshake = Handshake()
    link = PlcClientLink(
        handshake,
        tcp_connector("127.0.0.1", plc.port, timeout_s=0.5),
        ClientLayout(station_offset=1000, control_offset=2000),
        backoff=FAST,
    ).start()
    try:
        wait_for(lambda: _count(caplog, "link down") == 1, what="the loss logged")
        wait_for(lambda: _attempts_of(link) >= 3, what="retries")
        assert not link.connected and _count(caplog, "link down") == 1
        assert "exception 2" in next(r.message for r in caplog.records if "down" in r.message)
    finally:
        link.close()


def test_backoff_doubles_to_its_limit():
    delays = Backoff(initial_s=0.5, max_s=3.0).delays()
    assert [next(delays) for _ in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]


def test_connector_raises_when_refused():
    with pytest.raises(OSError):
        tcp_connector("127.0.0.1", free_port(), timeout_s=0.5)()


def _count(caplog: pytest.LogCaptureFixture, text: str) -> int:
    return sum(text in record.message for record in caplog.records)


def _attempts(line: ClientLine) -> int:
    return _attempts_of(line.link)


def _attempts_of(link: PlcClientLink) -> int:
    return link.attempts
