"""Server mode against a real PLC peer: pymodbus `ModbusTcpClient` on loopback."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pymodbus.client import ModbusTcpClient

from inspector.errors import InspectorError
from inspector.plc.handshake import Component, Handshake
from inspector.plc.registers import (
    NO_STATUS,
    PROTOCOL_VERSION,
    Control,
    ErrorCode,
    PlcError,
    Status,
)
from inspector.plc.server import Endpoint, PlcServer, serve_station
from inspector.types import RESULT_NO_DECISION, Verdict
from tests.plc.harness import ARMED, PlcProgram, StationStandIn, wait_for

UNIT = 1


@dataclass
class Line:
    """A station (handshake + Modbus server + worker stand-in) and a PLC connected to it."""

    handshake: Handshake
    server: PlcServer
    station: StationStandIn
    plc: PlcProgram

    @property
    def port(self) -> int:
        return self.server.endpoint.port


def open_line(plc_heartbeat_timeout_s: float = 0.0) -> Line:
    handshake = Handshake(plc_heartbeat_timeout_s)
    server = serve_station(handshake, Endpoint("127.0.0.1", 0, UNIT), watchdog_period_s=0.02)
    station = StationStandIn(handshake)
    return Line(handshake, server, station, PlcProgram(server.endpoint.port))


def close_line(line: Line) -> None:
    line.plc.close()
    line.station.stop()
    line.server.close()


@pytest.fixture
def line() -> Iterator[Line]:
    line = open_line()
    yield line
    close_line(line)


@pytest.fixture
def watched_line() -> Iterator[Line]:
    line = open_line(plc_heartbeat_timeout_s=0.2)
    yield line
    close_line(line)


# ---------------------------------------------------------------- full cycles


@pytest.mark.parametrize(
    ("verdict", "flag", "code", "defects", "score", "fails"),
    [
        (Verdict.PASS, Status.PASS, 0, 0, 200, 0),
        (Verdict.FAIL, Status.FAIL, 1, 2, 900, 1),
        (Verdict.NO_DECISION, Status.FAIL, RESULT_NO_DECISION, 0, 0, 1),
    ],
    ids=["pass", "fail", "no decision is FAIL 0xFFFF"],
)
def test_full_cycle(line, verdict, flag, code, defects, score, fails):
    plc, station = line.plc, line.station
    start = plc.wait_status(Status.READY)
    assert start.status == Status.READY and start.protocol_version == PROTOCOL_VERSION
    plc.trigger(4242, part_serial=123456789)
    acked = plc.wait_status(Status.TRIGGER_ACK | Status.BUSY, Status.READY)
    assert not acked.status & (Status.RESULT_VALID | Status.PASS | Status.FAIL)
    event = station.next_event()
    assert (event.trigger_id, event.origin, event.part_serial) == (4242, "plc", "123456789")
    assert event.deadline == pytest.approx(event.t_trigger + 0.5)
    plc.drop_bits(Control.TRIGGER)
    plc.wait_status(Status.BUSY, Status.TRIGGER_ACK)
    station.answer(event, verdict)
    result = plc.wait_status(Status.RESULT_VALID)
    assert result.status == (Status.RESULT_VALID | flag | Status.READY | Status.INSPECTION_COMPLETE)
    assert result.trigger_id_echo == 4242
    assert (result.result_code, result.defect_count, result.max_score) == (code, defects, score)
    assert (result.part_count, result.fail_count, result.inspection_seq) == (1, fails, 1)
    assert result.proc_ms == 14
    plc.acknowledge()
    after = plc.status()
    assert after.status == Status.READY | Status.INSPECTION_COMPLETE
    assert after.trigger_id_echo == 4242  # words stay; without RESULT_VALID they mean nothing


def test_cycles_in_a_row(line):
    verdicts = [Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION, Verdict.PASS, Verdict.FAIL]
    for i, verdict in enumerate(verdicts, start=1):
        result = line.plc.cycle(line.station, trigger_id=100 + i, verdict=verdict)
        assert result.trigger_id_echo == 100 + i
        assert (Status.PASS in result.status) is (verdict is Verdict.PASS)
        assert (Status.INSPECTION_COMPLETE in result.status) is (i % 2 == 1)
        assert (result.part_count, result.inspection_seq) == (i, i)
    assert line.plc.status().fail_count == 3


# ---------------------------------------------------------------- the PLC outpaces the station


def test_trigger_while_busy_is_missed(line):
    plc, station = line.plc, line.station
    plc.trigger(1)
    plc.wait_status(Status.TRIGGER_ACK)
    plc.drop_bits(Control.TRIGGER)
    plc.trigger(2)
    missed = plc.wait_status(Status.MISSED_TRIGGER | Status.BUSY)
    assert Status.RESULT_OVERRUN not in missed.status
    plc.drop_bits(Control.TRIGGER)
    first = station.next_event()
    assert first.trigger_id == 1 and station.events.empty()
    station.answer(first, Verdict.PASS)
    result = plc.wait_status(Status.RESULT_VALID | Status.PASS)
    assert result.trigger_id_echo == 1  # the missed trigger 2 got no result
    plc.acknowledge()
    plc.reset_errors()
    plc.wait_status(Status.READY, Status.MISSED_TRIGGER)


def test_trigger_before_result_ack_is_an_overrun(line):
    plc, station = line.plc, line.station
    plc.trigger(1)
    plc.wait_status(Status.TRIGGER_ACK)
    plc.drop_bits(Control.TRIGGER)
    station.answer(station.next_event(), Verdict.FAIL)
    plc.wait_status(Status.RESULT_VALID)
    plc.trigger(2)  # no RESULT_ACK first
    overrun = plc.wait_status(Status.MISSED_TRIGGER | Status.RESULT_OVERRUN)
    assert Status.RESULT_VALID | Status.FAIL in overrun.status  # the result is held
    assert overrun.trigger_id_echo == 1
    assert station.events.empty()
    assert line.handshake.counters().result_overruns == 1


def test_plc_never_acknowledges(line):
    """The result is held as long as it takes; no timeout turns it into anything else."""
    plc, station = line.plc, line.station
    plc.trigger(77)
    plc.wait_status(Status.TRIGGER_ACK)
    plc.drop_bits(Control.TRIGGER)
    station.answer(station.next_event(), Verdict.PASS)
    first = plc.wait_status(Status.RESULT_VALID)
    end = time.monotonic() + 0.3
    while time.monotonic() < end:
        assert plc.status() == first
        time.sleep(0.02)
    restarted = PlcProgram(line.port)  # a PLC that restarts still finds the result
    try:
        assert restarted.status() == first
    finally:
        restarted.close()
    assert first.trigger_id_echo == 77 and Status.PASS | Status.RESULT_VALID in first.status
    assert line.handshake.counters().results == 1


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("address", "words", "triggers", "error"),
    [
        (32, [0xFFC0], 0, 0),  # every undefined CONTROL bit
        (32, [0x8000, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], 0, 0),
        (38, [0xDEAD] * 10, 0, 0),  # the reserved PLC words
        # the defined bits in there still trigger, and RECIPE_LOAD asks for recipe 65535,
        # which a station without recipes does not know
        (32, [0xFFFF] * 16, 1, ErrorCode.RECIPE_UNKNOWN),
    ],
    ids=["undefined bits", "garbage words", "reserved words", "all ones"],
)
def test_garbage_in_control_block(line, address, words, triggers, error):
    client = line.plc.client
    line.plc.wait_status(Status.READY)
    response = client.write_registers(address, words, device_id=UNIT)
    assert not response.isError()
    status = line.plc.status()  # the server still answers
    assert (Status.ERROR in status.status, status.error_code) == (bool(error), error)
    time.sleep(0.05)
    assert line.station.events.qsize() == triggers
    if address == 32:
        assert line.handshake.counters().undefined_control_writes >= 1


# (what the PLC does, the Modbus function code it answers, the exception code)
READ_ONLY_WRITES = [
    ("write HR 0", lambda c: c.write_register(0, 0xFFFF, device_id=UNIT), 0x86),
    ("write HR 15", lambda c: c.write_register(15, 2, device_id=UNIT), 0x86),
    ("write HR 31 (reserved)", lambda c: c.write_register(31, 1, device_id=UNIT), 0x86),
    ("write HR 0-15", lambda c: c.write_registers(0, [0xFFFF] * 16, device_id=UNIT), 0x90),
    ("write HR 30-33 across", lambda c: c.write_registers(30, [1, 2, 3, 4], device_id=UNIT), 0x90),
    (
        "mask-write HR 0",
        lambda c: c.mask_write_register(address=0, and_mask=0, or_mask=0x20, device_id=UNIT),
        0x96,
    ),
]


@pytest.mark.parametrize(
    ("write", "function_code"),
    [case[1:] for case in READ_ONLY_WRITES],
    ids=[case[0] for case in READ_ONLY_WRITES],
)
def test_write_to_read_only_block_refused(line, write, function_code):
    before = line.plc.wait_status(Status.READY)
    response = write(line.plc.client)
    assert response.isError()
    assert (response.function_code, response.exception_code) == (function_code, 2)
    assert line.plc.status() == before
    assert line.plc.client.read_holding_registers(32, count=2, device_id=UNIT).registers == [0, 0]


@pytest.mark.parametrize(
    ("request_", "exception_code"),
    [
        (lambda c: c.read_holding_registers(40, count=10, device_id=UNIT), 2),  # past HR 47
        (lambda c: c.read_coils(0, count=1, device_id=UNIT), 1),
        (lambda c: c.read_input_registers(0, count=1, device_id=UNIT), 1),
        (lambda c: c.read_holding_registers(0, count=1, device_id=7), 10),  # another unit
    ],
    ids=["beyond the map", "coils", "input registers", "wrong unit id"],
)
def test_requests_outside_the_map_refused(line, request_, exception_code):
    response = request_(line.plc.client)
    assert response.isError() and response.exception_code == exception_code
    assert line.plc.status().protocol_version == PROTOCOL_VERSION


# ---------------------------------------------------------------- faults


def test_plc_disappears_mid_cycle(line):
    plc, station = line.plc, line.station
    plc.trigger(55)
    plc.wait_status(Status.BUSY)
    plc.close()  # gone, TRIGGER still high
    station.answer(station.next_event(), Verdict.FAIL)
    with_new = PlcProgram(line.port)
    try:
        held = with_new.wait_status(Status.RESULT_VALID | Status.FAIL | Status.TRIGGER_ACK)
        assert held.trigger_id_echo == 55
        with_new.write(control=ARMED | Control.TRIGGER, trigger_id=55)  # as the PLC left it
        with_new.drop_bits(Control.TRIGGER)
        with_new.acknowledge()
        result = with_new.cycle(station, trigger_id=56, verdict=Verdict.PASS)
        assert result.trigger_id_echo == 56 and Status.PASS in result.status
    finally:
        with_new.close()


def test_stale_plc_heartbeat_sets_error_and_reset_clears(watched_line):
    plc, handshake = watched_line.plc, watched_line.handshake
    plc.write(control=ARMED, plc_heartbeat=1)
    stale = plc.wait_status(Status.ERROR, Status.READY, timeout=2.0)
    assert stale.error_code == ErrorCode.PLC_HEARTBEAT_STALE
    plc.trigger(9)
    assert Status.MISSED_TRIGGER in plc.wait_status(Status.MISSED_TRIGGER).status
    plc.drop_bits(Control.TRIGGER)
    plc.write(plc_heartbeat=2)
    plc.reset_errors()
    cleared = plc.wait_status(Status.READY, Status.ERROR | Status.MISSED_TRIGGER)
    assert cleared.error_code == ErrorCode.NONE
    assert handshake.counters().stale_heartbeats == 1
    assert watched_line.station.events.empty()


def test_live_health_fault_reaches_the_plc(line):
    line.handshake.set_health(Component.CAMERA, False)
    fault = line.plc.wait_status(Status.ERROR, Status.READY)
    assert fault.error_code == ErrorCode.CAMERA
    line.handshake.set_health(Component.CAMERA, True)
    assert line.plc.wait_status(Status.READY, Status.ERROR).error_code == ErrorCode.NONE


def test_heartbeat_reaches_the_plc(line):
    for _ in range(3):
        line.handshake.heartbeat()
    assert line.plc.status().heartbeat == 3


def test_all_status_bits_zero_before_the_station_is_ready():
    handshake = Handshake()
    with serve_station(handshake, Endpoint("127.0.0.1", 0, UNIT)) as server:
        plc = PlcProgram(server.endpoint.port)
        try:
            block = plc.status()
        finally:
            plc.close()
    assert block.status == NO_STATUS and block.error_code == ErrorCode.NONE
    assert block.protocol_version == PROTOCOL_VERSION


@pytest.mark.parametrize("holder", ["station", "other program"])
def test_port_in_use_is_a_clear_error(holder):
    handshake = Handshake()
    if holder == "station":
        first: PlcServer | socket.socket = serve_station(handshake, Endpoint("127.0.0.1", 0))
        port = first.endpoint.port
    else:
        first = socket.create_server(("127.0.0.1", 0))
        port = first.getsockname()[1]
    try:
        with pytest.raises(InspectorError) as caught:
            serve_station(handshake, Endpoint("127.0.0.1", port))
    finally:
        first.close()
    message = str(caught.value)
    assert isinstance(caught.value, PlcError)
    assert f"127.0.0.1:{port}" in message and "in use" in message and "\n" not in message


def test_server_answers_a_plain_client_after_close_and_reopen():
    """Stop and start on the same port (a station restart): nothing left behind."""
    handshake = Handshake()
    server = serve_station(handshake, Endpoint("127.0.0.1", 0))
    port = server.endpoint.port
    server.close()
    server.close()  # idempotent
    with serve_station(handshake, Endpoint("127.0.0.1", port)) as again:
        client = ModbusTcpClient("127.0.0.1", port=again.endpoint.port, timeout=2, retries=0)
        try:
            wait_for(client.connect, what="connect")
            response = client.read_holding_registers(15, count=1, device_id=1)
            assert response.registers == [PROTOCOL_VERSION]
        finally:
            client.close()
