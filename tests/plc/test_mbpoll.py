"""A Modbus tool written by others reads the station block: Debian's `mbpoll` (libmodbus).

mbpoll's references are 1-based unless `-0` is given; `-t 4` reads holding registers
and prints one `[reference]: <tab>value` line per register (`65535 (-1)` from 0x8000 up);
`-t 4:int -B` reads u32 values with the high word first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from ipaddress import ip_network

import pytest

from inspector.plc.handshake import Handshake
from inspector.plc.registers import (
    PROTOCOL_VERSION,
    STATION_BLOCK_WORDS,
    HoldingRegister,
    StationBlock,
    Status,
)
from inspector.plc.server import Endpoint, PlcServer, serve_station
from inspector.types import Verdict
from tests.plc.harness import PlcProgram, StationStandIn

LINE = re.compile(r"^\[(\d+)\]:\s+(\d+)", re.MULTILINE)


@pytest.fixture
def mbpoll() -> str:
    path = shutil.which("mbpoll")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("mbpoll is not installed (apt-get install -y mbpoll); CI must have it")
        pytest.skip("mbpoll is not installed (apt-get install -y mbpoll)")
    return path


@pytest.fixture
def station() -> Iterator[tuple[Handshake, PlcServer]]:
    """A READY station that has published two results (FAIL, then PASS) and is beating."""
    handshake = Handshake()
    server = serve_station(handshake, Endpoint("127.0.0.1", 0))
    stand_in = StationStandIn(handshake)
    plc = PlcProgram(server.endpoint.port)
    try:
        plc.cycle(stand_in, trigger_id=4242, verdict=Verdict.FAIL)
        plc.cycle(stand_in, trigger_id=4243, verdict=Verdict.PASS)
        for _ in range(5):
            handshake.heartbeat()
        yield handshake, server
    finally:
        plc.close()
        stand_in.stop()
        server.close()


def read(mbpoll: str, port: int, *args: str) -> dict[int, int]:
    """Run mbpoll once; {reference: value} as it printed them."""
    command = [mbpoll, "-m", "tcp", "-a", "1", *args, "-1", "-p", str(port), "127.0.0.1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stdout + done.stderr
    return {int(ref): int(value) for ref, value in LINE.findall(done.stdout)}


@pytest.mark.parametrize(
    "addressing", [("-r", "1"), ("-0", "-r", "0")], ids=["1-based", "0-based (-0)"]
)
def test_mbpoll_reads_the_status_block(mbpoll, station, addressing):
    handshake, server = station
    count = str(STATION_BLOCK_WORDS)
    values = read(mbpoll, server.endpoint.port, *addressing, "-c", count, "-t", "4")
    first = min(values)
    words = [values[first + i] for i in range(STATION_BLOCK_WORDS)]
    assert words == handshake.snapshot().to_words()
    block = StationBlock.from_words(words)
    assert words[HoldingRegister.PROTOCOL_VERSION] == PROTOCOL_VERSION
    assert Status.READY in block.status and Status.RESULT_VALID not in block.status
    assert (block.heartbeat, block.trigger_id_echo) == (5, 4243)


def test_mbpoll_reads_u32_counters_high_word_first(mbpoll, station):
    _, server = station
    values = read(mbpoll, server.endpoint.port, "-0", "-r", "8", "-c", "2", "-t", "4:int", "-B")
    assert values == {HoldingRegister.PART_COUNT: 2, HoldingRegister.FAIL_COUNT: 1}


def test_mbpoll_write_from_a_client_not_allowed_is_an_illegal_function(mbpoll):
    """libmodbus, as a PLC programmer's tools would, names the refusal "Illegal function"."""
    handshake = Handshake(0.0)
    server = serve_station(
        handshake, Endpoint("127.0.0.1", 0), write_allow=(ip_network("127.0.0.2"),)
    )
    try:
        port = str(server.endpoint.port)
        heartbeat = str(int(HoldingRegister.PLC_HEARTBEAT))
        command = [mbpoll, "-m", "tcp", "-a", "1", "-0", "-r", heartbeat, "-t", "4", "-1"]
        done = subprocess.run(
            [*command, "-p", port, "127.0.0.1", "7"], capture_output=True, text=True, timeout=10
        )
        assert done.returncode != 0
        assert "Illegal function" in done.stderr
        assert read(mbpoll, server.endpoint.port, "-0", "-r", heartbeat, "-t", "4") == {
            int(HoldingRegister.PLC_HEARTBEAT): 0
        }
        assert server.refused_writes() == {"127.0.0.1": 1}
    finally:
        server.close()
