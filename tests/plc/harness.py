"""Real Modbus peers for the PLC tests, and a stand-in for the station worker.

- `PlcProgram`: the PLC's logic over a real Modbus TCP connection (pymodbus
  `ModbusTcpClient`): it reads the station block and writes the control block at given
  offsets (server mode: the station's HR 0 and 32; client mode: the simulated PLC's own
  memory). Every status read checks that a PASS or FAIL never shows without
  RESULT_VALID.
- `SimulatedPlc`: a pymodbus server with plain writable memory, the PLC in client mode.
- `StationStandIn`: takes the `PlcTrigger`'s events and answers each with a hand-made
  `Inspection` through `PlcResultSink`, as the inspection worker would.
"""

from __future__ import annotations

import itertools
import queue
import socket
import time
from collections.abc import Callable
from dataclasses import replace

from pymodbus.client import ModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from inspector.plc.handshake import Component, Handshake
from inspector.plc.loop import LoopThread
from inspector.plc.registers import (
    NO_STATUS,
    PLC_BLOCK_START,
    STATION_BLOCK_START,
    STATION_BLOCK_WORDS,
    Control,
    ControlBlock,
    StationBlock,
    Status,
)
from inspector.plc.trigger import PlcResultSink, PlcTrigger
from inspector.types import (
    RESULT_NO_DECISION,
    RESULT_PASS,
    Detections,
    Inspection,
    Judgement,
    StageTimes,
    TriggerEvent,
    Verdict,
)

__all__ = [
    "PlcProgram",
    "SimulatedPlc",
    "StationStandIn",
    "free_port",
    "make_record",
    "wait_for",
]

UNIT = 1
ARMED = Control.TRIGGER_ENABLE


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- records


def make_record(seq: int, event: TriggerEvent, verdict: Verdict) -> Inspection:
    """A record as the station builds it (judged 14 ms after the trigger): a FAIL has two
    defects (crack 0.9, pit 0.6), a PASS one sub-threshold scratch (0.2), NO_DECISION none."""
    if verdict is Verdict.FAIL:
        detections = Detections.from_arrays(
            [[10, 20, 30, 40], [50, 60, 70, 80]], [0.9, 0.6], [0, 2]
        )
        judgement = Judgement(verdict, 1, detections, "crack")
    elif verdict is Verdict.PASS:
        detections = Detections.from_arrays([[1, 2, 3, 4]], [0.2], [1])
        judgement = Judgement(verdict, RESULT_PASS, Detections.empty(), "pass")
    else:
        detections = Detections.empty()
        judgement = Judgement(verdict, RESULT_NO_DECISION, detections, "late")
    t = event.t_trigger
    return Inspection(
        seq=seq,
        trigger_id=event.trigger_id,
        origin=event.origin,
        part_serial=event.part_serial,
        times=StageTimes(t, t + 0.002, t + 0.003, t + 0.013, t + 0.014),
        wall_time=time.time(),
        detections=detections,
        judgement=judgement,
        model_id="test@plc",
        model_sha256="ab" * 32,
        config_hash="0123456789abcdef",
    )


class StationStandIn:
    """The inspection worker's part of the handshake, driven by hand."""

    def __init__(self, handshake: Handshake, deadline_ms: float = 500.0) -> None:
        self.handshake = handshake
        self.trigger = PlcTrigger(handshake, deadline_ms)
        self.sink = PlcResultSink(handshake)
        self.events: queue.Queue[TriggerEvent] = queue.Queue()
        self._seq = itertools.count(1)
        for component in Component:
            handshake.set_health(component, True)
        self.trigger.start(self.events.put)

    def next_event(self, timeout: float = 3.0) -> TriggerEvent:
        return self.events.get(timeout=timeout)

    def answer(self, event: TriggerEvent, verdict: Verdict) -> Inspection:
        record = make_record(next(self._seq), event, verdict)
        self.sink(record)
        return record

    def stop(self) -> None:
        self.trigger.stop()


# ---------------------------------------------------------------- the PLC side


class PlcProgram:
    """What a PLC program does, over one real Modbus TCP connection."""

    def __init__(
        self,
        port: int,
        station_offset: int = STATION_BLOCK_START,
        control_offset: int = PLC_BLOCK_START,
    ) -> None:
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        if not self.client.connect():
            raise AssertionError(f"PLC program cannot connect to 127.0.0.1:{port}")
        self.station_offset = station_offset
        self.control_offset = control_offset
        self.control = ControlBlock()

    def close(self) -> None:
        self.client.close()

    def status(self) -> StationBlock:
        response = self.client.read_holding_registers(
            self.station_offset, count=STATION_BLOCK_WORDS, device_id=UNIT
        )
        if response.isError():
            raise AssertionError(f"status read refused: {response}")
        block = StationBlock.from_words(response.registers)
        verdicts = block.status & (Status.PASS | Status.FAIL)
        if verdicts and Status.RESULT_VALID not in block.status:
            raise AssertionError(f"verdict without RESULT_VALID: {block.status!r}")
        if verdicts == Status.PASS | Status.FAIL:
            raise AssertionError(f"PASS and FAIL at once: {block.status!r}")
        return block

    def wait_status(
        self, present: Status, absent: Status = NO_STATUS, timeout: float = 3.0
    ) -> StationBlock:
        seen: list[StationBlock] = []

        def matches() -> bool:
            seen.append(self.status())
            status = seen[-1].status
            return present in status and not (status & absent)

        wait_for(matches, timeout, f"status {present!r} without {absent!r}")
        return seen[-1]

    def write(self, **changes: int | Control) -> None:
        """Write the whole control block as it stands after `changes`, in one request."""
        self.control = replace(self.control, **changes)
        response = self.client.write_registers(
            self.control_offset, self.control.to_words(), device_id=UNIT
        )
        if response.isError():
            raise AssertionError(f"control write refused: {response}")

    def raise_bits(self, bits: Control) -> None:
        self.write(control=self.control.control | bits)

    def drop_bits(self, bits: Control) -> None:
        self.write(control=self.control.control & ~bits)

    def trigger(self, trigger_id: int, part_serial: int = 0) -> None:
        """Write TRIGGER_ID (and serial), then raise TRIGGER, as two writes like a PLC."""
        self.write(trigger_id=trigger_id, part_serial=part_serial)
        self.raise_bits(ARMED | Control.TRIGGER)

    def acknowledge(self) -> None:
        self.raise_bits(Control.RESULT_ACK)
        self.wait_status(NO_STATUS, Status.RESULT_VALID)
        self.drop_bits(Control.RESULT_ACK)

    def reset_errors(self) -> None:
        """Hold ERROR_RESET until the latched bits drop: a polled (client-mode) station
        would miss a pulse shorter than its poll interval."""
        self.raise_bits(Control.ERROR_RESET)
        self.wait_status(NO_STATUS, Status.ERROR | Status.MISSED_TRIGGER | Status.RESULT_OVERRUN)
        self.drop_bits(Control.ERROR_RESET)

    def cycle(self, station: StationStandIn, trigger_id: int, verdict: Verdict) -> StationBlock:
        """One whole handshake; returns the result block the PLC read."""
        self.wait_status(Status.READY, Status.BUSY)
        self.trigger(trigger_id)
        self.wait_status(Status.TRIGGER_ACK)
        self.drop_bits(Control.TRIGGER)
        # as a PLC program does: TRIGGER_ACK drops before the result is awaited (in client
        # mode the station sees the drop on its next poll)
        self.wait_status(Status.BUSY, Status.TRIGGER_ACK)
        station.answer(station.next_event(), verdict)
        result = self.wait_status(Status.RESULT_VALID)
        self.acknowledge()
        return result


class SimulatedPlc:
    """A PLC with plain writable memory (HR 0..size-1), as a pymodbus server."""

    def __init__(self, port: int = 0, size: int = 300) -> None:
        self._loop = LoopThread("simulated-plc")
        device = SimDevice(id=UNIT, simdata=[SimData(0, count=size, datatype=DataType.REGISTERS)])
        try:
            self._server = self._loop.run(_serve(device, port))
        except BaseException:
            self._loop.close()
            raise
        self.port = self._server.transport.sockets[0].getsockname()[1]

    def close(self) -> None:
        self._loop.run(self._server.shutdown())
        ModbusTcpServer.active_server = None
        self._loop.close()


async def _serve(device: SimDevice, port: int) -> ModbusTcpServer:
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    await server.serve_forever(background=True)
    return server
