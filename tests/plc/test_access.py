"""plc.write_allow: who may write, against real pymodbus clients on loopback.

Linux routes all of 127.0.0.0/8 to loopback, so a client bound to 127.0.0.2 (pymodbus'
`source_address`) and one on 127.0.0.1 are two different peers of one server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from ipaddress import ip_address, ip_network

import pytest
from pymodbus.client import ModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.pdu import ModbusPDU

from inspector.config import parse_config
from inspector.errors import ConfigError
from inspector.plc.access import WriteGuard, client_address
from inspector.plc.config import PlcConfig
from inspector.plc.handshake import Handshake
from inspector.plc.registers import (
    PLC_BLOCK_START,
    PROTOCOL_VERSION,
    STATION_BLOCK_WORDS,
    Control,
    ControlBlock,
    HoldingRegister,
)
from inspector.plc.server import Endpoint, PlcServer, serve_station
from tests.plc.harness import StationStandIn

UNIT = 1
MASTER_BLOCK = ControlBlock(control=Control.TRIGGER_ENABLE, plc_heartbeat=3, trigger_id=7)


@contextmanager
def station(*allow: str) -> Iterator[tuple[Handshake, PlcServer]]:
    handshake = Handshake(0.0)
    networks = tuple(ip_network(entry) for entry in allow)
    server = serve_station(handshake, Endpoint("127.0.0.1", 0, UNIT), write_allow=networks)
    stand_in = StationStandIn(handshake)
    try:
        yield handshake, server
    finally:
        stand_in.stop()
        server.close()


@contextmanager
def client_from(source: str, port: int) -> Iterator[ModbusTcpClient]:
    client = ModbusTcpClient(
        "127.0.0.1", port=port, timeout=2, retries=0, source_address=(source, 0)
    )
    if not client.connect():
        raise AssertionError(f"cannot connect from {source} to 127.0.0.1:{port}")
    try:
        yield client
    finally:
        client.close()


def control_block(client: ModbusTcpClient) -> list[int]:
    response = client.read_holding_registers(PLC_BLOCK_START, count=6, device_id=UNIT)
    assert not response.isError(), response
    return response.registers


def exception_code(response: ModbusPDU) -> int | None:
    """None for a normal answer, else the Modbus exception code."""
    return response.exception_code if response.isError() else None


# every function a refused client must not use, as a pymodbus client call
TRIGGER = ControlBlock(control=Control.TRIGGER_ENABLE | Control.TRIGGER, trigger_id=99)
WRITES: dict[str, Callable[[ModbusTcpClient], ModbusPDU]] = {
    "16 write registers": lambda c: c.write_registers(
        PLC_BLOCK_START, TRIGGER.to_words(), device_id=UNIT
    ),
    "6 write register": lambda c: c.write_register(
        int(HoldingRegister.TRIGGER_ID), 99, device_id=UNIT
    ),
    "22 mask write": lambda c: c.mask_write_register(
        address=int(HoldingRegister.CONTROL), and_mask=0, or_mask=0xFF, device_id=UNIT
    ),
    "23 read/write": lambda c: c.readwrite_registers(
        read_address=0,
        read_count=1,
        write_address=int(HoldingRegister.TRIGGER_ID),
        values=[99],
        device_id=UNIT,
    ),
    "5 write coil": lambda c: c.write_coil(0, True, device_id=UNIT),
    "15 write coils": lambda c: c.write_coils(0, [True], device_id=UNIT),
    "8 diagnostics: clear counters": lambda c: c.diag_clear_counters(device_id=UNIT),
}


# ---------------------------------------------------------------- over the wire


@pytest.mark.parametrize(
    ("allow", "source", "may_write"),
    [
        ((), "127.0.0.1", True),  # no list: everyone writes, as before
        (("127.0.0.2",), "127.0.0.2", True),
        (("127.0.0.2",), "127.0.0.1", False),
        (("127.0.0.2", "127.0.0.1"), "127.0.0.1", True),
        (("127.0.0.0/30",), "127.0.0.2", True),  # CIDR: .0-.3
        (("127.0.0.4/30",), "127.0.0.1", False),
        (("127.0.0.4/30",), "127.0.0.6", True),
        (("::1",), "127.0.0.1", False),  # an IPv6 entry never matches an IPv4 peer
    ],
)
def test_write_16_allowed_or_refused_reads_always_served(allow, source, may_write):
    with station(*allow) as (handshake, server), client_from(source, server.endpoint.port) as c:
        block = c.read_holding_registers(0, count=STATION_BLOCK_WORDS, device_id=UNIT)
        assert not block.isError(), block
        assert block.registers[int(HoldingRegister.PROTOCOL_VERSION)] == PROTOCOL_VERSION
        version = handshake.version

        response = c.write_registers(PLC_BLOCK_START, TRIGGER.to_words(), device_id=UNIT)

        if may_write:
            assert exception_code(response) is None, response
            assert control_block(c) == TRIGGER.to_words()
            assert server.refused_writes() == {}
        else:
            assert exception_code(response) == ExcCodes.ILLEGAL_FUNCTION
            assert control_block(c) == [0] * 6
            assert handshake.version == version  # no TRIGGER_ACK, nothing committed
            assert server.refused_writes() == {source: 1}


@pytest.mark.parametrize("write", list(WRITES))
def test_every_writing_function_is_refused_and_changes_nothing(write):
    with (
        station("127.0.0.2") as (handshake, server),
        client_from("127.0.0.2", server.endpoint.port) as master,
        client_from("127.0.0.1", server.endpoint.port) as stranger,
    ):
        written = master.write_registers(PLC_BLOCK_START, MASTER_BLOCK.to_words(), device_id=UNIT)
        assert exception_code(written) is None, written
        before = (handshake.snapshot(), handshake.version, handshake.counters())

        response = WRITES[write](stranger)

        assert exception_code(response) == ExcCodes.ILLEGAL_FUNCTION
        assert control_block(stranger) == MASTER_BLOCK.to_words()
        assert (handshake.snapshot(), handshake.version, handshake.counters()) == before
        assert server.refused_writes() == {"127.0.0.1": 1}


def test_refusals_are_counted_and_warned_once_per_client(caplog):
    caplog.set_level(logging.WARNING, logger="inspector.plc.access")
    with station("127.0.0.2") as (_, server):
        port = server.endpoint.port
        with client_from("127.0.0.1", port) as first, client_from("127.0.0.3", port) as second:
            for client in (first, first, second, first):
                response = WRITES["6 write register"](client)
                assert exception_code(response) == ExcCodes.ILLEGAL_FUNCTION
        with client_from("127.0.0.1", port) as first_again:  # a reconnect is no new client
            WRITES["16 write registers"](first_again)
        assert server.refused_writes() == {"127.0.0.1": 4, "127.0.0.3": 1}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert "127.0.0.1 is not in plc.write_allow" in warnings[0]
    assert "127.0.0.3 is not in plc.write_allow" in warnings[1]


def test_a_refused_client_cannot_trigger_the_allowed_masters_part():
    with (
        station("127.0.0.2") as (handshake, server),
        client_from("127.0.0.2", server.endpoint.port) as master,
        client_from("127.0.0.1", server.endpoint.port) as stranger,
    ):
        master.write_registers(PLC_BLOCK_START, MASTER_BLOCK.to_words(), device_id=UNIT)
        refused = stranger.write_registers(PLC_BLOCK_START, TRIGGER.to_words(), device_id=UNIT)
        assert exception_code(refused) == ExcCodes.ILLEGAL_FUNCTION
        assert handshake.counters().triggers == 0
        armed = MASTER_BLOCK.to_words()
        armed[0] |= int(Control.TRIGGER)
        accepted = master.write_registers(PLC_BLOCK_START, armed, device_id=UNIT)
        assert exception_code(accepted) is None
        assert handshake.counters().triggers == 1
        assert handshake.snapshot().trigger_id_echo == 0  # no result yet, nothing echoed


# ---------------------------------------------------------------- the decision


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("10.0.0.5", "10.0.0.5"),
        ("::ffff:10.0.0.5", "10.0.0.5"),  # IPv4 client of a dual-stack (::) listener
        ("fe80::1%eth0", "fe80::1%eth0"),
        ("not-an-address", None),
    ],
)
def test_client_address(peer, expected):
    assert client_address(peer) == (None if expected is None else ip_address(expected))


@pytest.mark.parametrize(
    ("allow", "peer", "function", "refused"),
    [
        ((), "10.0.0.9", 16, False),
        (("10.0.0.0/24",), "10.0.0.9", 16, False),
        (("10.0.0.0/24",), "10.0.1.9", 16, True),
        (("10.0.0.0/24",), "10.0.1.9", 3, False),  # reads: everyone
        (("10.0.0.0/24",), "10.0.1.9", 1, False),
        (("10.0.0.0/24",), "10.0.1.9", 4, False),
        (("10.0.0.0/24",), "10.0.1.9", 43, True),  # deny by default: only 1-4 are reads
        (("10.0.0.0/24",), "::ffff:10.0.0.9", 6, False),
        (("fe80::/64",), "fe80::1%eth0", 6, False),
        (("10.0.0.0/24",), None, 6, True),  # peer unknown: not on the list
        (("10.0.0.0/24",), "garbage", 6, True),
    ],
)
def test_write_guard_decides(allow, peer, function, refused):
    guard = WriteGuard(ip_network(entry) for entry in allow)
    assert guard.refuses(peer, function) is refused


# ---------------------------------------------------------------- the config

STATION = {
    "camera": {"kind": "folder", "path": "frames"},
    "trigger": {"kind": "line"},
    "model": {"path": "m.onnx"},
}


@pytest.mark.parametrize(
    ("write_allow", "networks"),
    [
        (None, ()),
        ([], ()),
        (["192.168.10.5"], ("192.168.10.5/32",)),
        (["10.0.0.0/24", " 10.1.2.3 "], ("10.0.0.0/24", "10.1.2.3/32")),
        (["::1", "fe80::/64"], ("::1/128", "fe80::/64")),
    ],
)
def test_write_allow_loads(write_allow, networks):
    doc = STATION | {"plc": {"enabled": True, "write_allow": write_allow}}
    config = parse_config(doc, "station.yaml")
    assert config.plc.write_allow == tuple(ip_network(n) for n in networks)


@pytest.mark.parametrize(
    ("plc", "lines"),
    [
        (
            {"write_allow": ["10.0.0.5/24"]},
            [
                "plc.write_allow.0: '10.0.0.5/24' has host bits set: write "
                "'10.0.0.0/24' for the network or '10.0.0.5' for the one address"
            ],
        ),
        (
            {"write_allow": ["192.168.10.5", "plc.local", "10.0.0.300"]},
            [
                "plc.write_allow.1: 'plc.local' is not an IP address or network "
                "(e.g. 192.168.10.5 or 10.0.0.0/24; host names are not resolved)",
                "plc.write_allow.2: '10.0.0.300' is not an IP address or network "
                "(e.g. 192.168.10.5 or 10.0.0.0/24; host names are not resolved)",
            ],
        ),
        ({"write_allow": [""]}, ["plc.write_allow.0: empty entry"]),
        (
            {"write_allow": [5]},
            ["plc.write_allow.0: 5 is not a string: quote addresses"],
        ),
        (
            {"write_allow": "10.0.0.5"},
            [
                "plc.write_allow: must be a list of addresses or networks, "
                'e.g. ["192.168.10.5", "10.0.0.0/24"]'
            ],
        ),
        (
            {"mode": "client", "write_allow": ["10.0.0.5"]},
            [
                "plc: write_allow: only for mode: server (in client mode the "
                "station writes into the PLC and nothing writes to the station)"
            ],
        ),
    ],
)
def test_bad_write_allow_is_refused_at_load(plc, lines):
    doc = STATION | {"plc": {"enabled": True} | plc}
    with pytest.raises(ConfigError) as caught:
        parse_config(doc, "station.yaml")
    assert caught.value.problems == [f"station.yaml: {line}" for line in lines]


def test_write_allow_is_described_and_empty_by_default():
    assert PlcConfig().write_allow == ()
    assert "exception 1" in (PlcConfig.model_fields["write_allow"].description or "")
