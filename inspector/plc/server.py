"""Server mode: the station is a Modbus TCP server the PLC polls (pymodbus, own loop thread).

The PLC reads HR 0-47. HR 0-31 are read-only (a write gets exception 2, ILLEGAL ADDRESS);
writes to HR 32-47 go to the handshake. Only holding-register functions are served;
coils, discrete inputs and input registers answer exception 1, ILLEGAL FUNCTION.
With `plc.write_allow`, a client not on the list gets exception 1 for everything but a
read (`access.WriteGuard`), before the request reaches the registers.

pymodbus 3.16 keeps its own copy of the registers (`SimDevice`); the station block in it
is refreshed from `Handshake.snapshot()` by the device's action callback on every read,
so a read never sees a block the handshake has not committed in one piece.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass

from pymodbus.constants import ExcCodes
from pymodbus.pdu import ExceptionResponse
from pymodbus.server import ModbusTcpServer
from pymodbus.server.requesthandler import ServerRequestHandler
from pymodbus.simulator import DataType, SimData, SimDevice

from inspector.plc.access import WRITE_REFUSED, AllowedNetwork, WriteGuard
from inspector.plc.handshake import Handshake
from inspector.plc.loop import LoopThread
from inspector.plc.registers import (
    CONTROL_BLOCK_WORDS,
    PLC_BLOCK_START,
    PLC_BLOCK_WORDS,
    STATION_BLOCK_READONLY_WORDS,
    STATION_BLOCK_START,
    STATION_BLOCK_WORDS,
    ControlBlock,
    PlcError,
)

__all__ = [
    "Endpoint",
    "GuardedTcpServer",
    "PlcServer",
    "RegisterAction",
    "other_units_device",
    "serve_station",
    "station_device",
]

log = logging.getLogger(__name__)

READ_HOLDING = 3
HOLDING_FUNCTIONS = frozenset({3, 6, 16, 22, 23})  # read, write one/many, mask, read-write


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a Modbus peer listens (server mode: our bind address) and its unit id."""

    host: str
    port: int
    unit_id: int = 1

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class RegisterAction:
    """The pymodbus device action: station block out on reads, control block in on writes."""

    def __init__(self, handshake: Handshake) -> None:
        self.handshake = handshake

    async def handle(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if function_code not in HOLDING_FUNCTIONS:
            return ExcCodes.ILLEGAL_FUNCTION
        if set_values is None:
            # pymodbus also calls this with None for the read-back after a write
            first = STATION_BLOCK_START - start_address
            registers[first : first + STATION_BLOCK_WORDS] = self.handshake.snapshot().to_words()
            return None
        control = self._control_after(start_address, address, registers, set_values)
        self.handshake.on_control(control)
        return None

    @staticmethod
    def _control_after(
        start_address: int, address: int, registers: list[int], set_values: list[int] | list[bool]
    ) -> ControlBlock:
        """The control block as it will stand once this write lands (it lands after us)."""
        first = PLC_BLOCK_START - start_address
        words = registers[first : first + CONTROL_BLOCK_WORDS]
        for i, value in enumerate(set_values):
            at = address + i - PLC_BLOCK_START
            if 0 <= at < CONTROL_BLOCK_WORDS:
                words[at] = int(value)
        return ControlBlock.from_words(words)


def station_device(handshake: Handshake, unit_id: int) -> SimDevice:
    """HR 0-31 read-only, HR 32-47 writable; one placeholder in each other table."""
    holding = [
        SimData(
            STATION_BLOCK_START,
            count=STATION_BLOCK_READONLY_WORDS,
            datatype=DataType.REGISTERS,
            readonly=True,
        ),
        SimData(PLC_BLOCK_START, count=PLC_BLOCK_WORDS, datatype=DataType.REGISTERS),
    ]
    # pymodbus needs an entry per table; the action refuses their function codes
    coils = [SimData(0, values=0, datatype=DataType.BITS)]
    discrete = [SimData(0, values=0, datatype=DataType.BITS)]
    inputs = [SimData(0, datatype=DataType.REGISTERS)]
    return SimDevice(
        id=unit_id,
        simdata=(coils, discrete, holding, inputs),
        action=RegisterAction(handshake).handle,
    )


async def _wrong_unit(*_request: object) -> ExcCodes:
    return ExcCodes.GATEWAY_PATH_UNAVIABLE


def other_units_device() -> SimDevice:
    """Answers every other unit id with exception 10 (pymodbus would log a traceback)."""
    everything = SimData(0, count=PLC_BLOCK_START + PLC_BLOCK_WORDS, datatype=DataType.REGISTERS)
    return SimDevice(id=0, simdata=[everything], action=_wrong_unit)


class _GuardedRequestHandler(ServerRequestHandler):
    """One client connection. pymodbus 3.16 hands neither the device action nor its
    trace hooks the peer, so the check sits here, where the connection's transport is."""

    def __init__(self, owner: GuardedTcpServer) -> None:
        super().__init__(owner, owner.trace_packet, owner.trace_pdu, owner.trace_connect)
        self._guard = owner.guard
        self._peer: str | None = None

    def _peer_host(self) -> str | None:
        if self._peer is None and self.transport is not None:
            peer = self.transport.get_extra_info("peername")
            self._peer = str(peer[0]) if peer else None
        return self._peer

    async def handle_request(self) -> None:
        request = self.last_pdu
        if request is None or not self._guard.refuses(self._peer_host(), request.function_code):
            await super().handle_request()
            return
        # answered here: the registers, the action and the handshake never see it
        self.server_send(
            ExceptionResponse(
                request.function_code,
                exception_code=ExcCodes(WRITE_REFUSED),
                device_id=request.dev_id,
                transaction=request.transaction_id,
            ),
            self.last_addr,
        )


class GuardedTcpServer(ModbusTcpServer):
    """pymodbus' TCP server whose connections check `guard` before each request."""

    def __init__(
        self, devices: list[SimDevice], *, address: tuple[str, int], guard: WriteGuard
    ) -> None:
        self.guard = guard
        super().__init__(devices, address=address)

    def callback_new_connection(self) -> _GuardedRequestHandler:
        return _GuardedRequestHandler(self)


class PlcServer:
    """A listening Modbus TCP server; `close()` stops it and its thread."""

    def __init__(self, loop: LoopThread, modbus: GuardedTcpServer, endpoint: Endpoint) -> None:
        self._loop = loop
        self._modbus = modbus
        self.endpoint = endpoint  # the port actually bound (port 0 asks for a free one)

    def refused_writes(self) -> dict[str, int]:
        """Requests refused by `plc.write_allow` so far, per client address."""
        return self._modbus.guard.refused()

    def close(self) -> None:
        if self._loop.loop.is_closed():
            return
        self._loop.run(self._modbus.shutdown())
        if ModbusTcpServer.active_server is self._modbus:
            ModbusTcpServer.active_server = None  # pymodbus keeps the last server globally
        self._loop.close()
        log.info("PLC server on %s stopped", self.endpoint)

    def __enter__(self) -> PlcServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def serve_station(
    handshake: Handshake,
    endpoint: Endpoint,
    watchdog_period_s: float = 0.05,
    write_allow: tuple[AllowedNetwork, ...] = (),
) -> PlcServer:
    """Listen on endpoint (port 0: any free port); raises PlcError naming host:port.
    `write_allow` (empty: everyone) lists who may write; others may only read."""
    loop = LoopThread(f"plc-server-{endpoint.port}")
    guard = WriteGuard(write_allow)
    try:
        devices = [station_device(handshake, endpoint.unit_id)]
        if endpoint.unit_id != 0:  # unit id 0 already answers every unit id
            devices.append(other_units_device())
        modbus = loop.run(_listen(devices, endpoint, guard))
        if handshake.plc_heartbeat_timeout_s > 0:
            loop.loop.call_soon_threadsafe(_start_watchdog, handshake, watchdog_period_s)
    except BaseException:
        loop.close()
        raise
    bound = Endpoint(endpoint.host, _bound_port(modbus), endpoint.unit_id)
    log.info("PLC server listening on %s, unit id %d", bound, bound.unit_id)
    if guard.enforced:
        allowed = ", ".join(str(network) for network in guard.allowed)
        log.info("PLC server: only %s may write; other clients may read", allowed)
    return PlcServer(loop, modbus, bound)


async def _listen(
    devices: list[SimDevice], endpoint: Endpoint, guard: WriteGuard
) -> GuardedTcpServer:
    modbus = GuardedTcpServer(devices, address=(endpoint.host, endpoint.port), guard=guard)
    try:
        await modbus.serve_forever(background=True)
    except RuntimeError:
        # pymodbus swallows the OSError; bind once more to name the cause
        if ModbusTcpServer.active_server is modbus:
            ModbusTcpServer.active_server = None
        raise PlcError(
            f"PLC server cannot listen on {endpoint}: {_bind_problem(endpoint)}"
        ) from None
    return modbus


def _bind_problem(endpoint: Endpoint) -> str:
    try:
        with socket.create_server((endpoint.host, endpoint.port)):
            return "listen failed"
    except OSError as exc:
        return os.strerror(exc.errno) if exc.errno else str(exc)


def _bound_port(modbus: GuardedTcpServer) -> int:
    sockets = getattr(modbus.transport, "sockets", None) or []
    return int(sockets[0].getsockname()[1]) if sockets else 0


def _start_watchdog(handshake: Handshake, period_s: float) -> None:
    asyncio.get_running_loop().create_task(_watchdog(handshake, period_s), name="plc-watchdog")


async def _watchdog(handshake: Handshake, period_s: float) -> None:
    while True:
        handshake.check()
        await asyncio.sleep(period_s)
