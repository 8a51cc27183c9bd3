"""A PLC simulator: drives the trigger/result handshake against a running station.

It is a real Modbus TCP client (pymodbus `ModbusTcpClient`) and behaves like a careful
PLC program, one cycle at a time:

1. wait for READY (not BUSY, no result waiting), else the part is a missed trigger;
2. write TRIGGER_ID (u16, +1 per cycle, never 0) and PART_SERIAL, then raise
   TRIGGER_ENABLE | TRIGGER (the trigger edge: the cycle clock starts here);
3. wait for TRIGGER_ACK (MISSED_TRIGGER instead: a missed trigger), drop TRIGGER;
4. wait for RESULT_VALID (per-cycle timeout); the verdict bits, result code and TRIGGER_ID
   echo come from the same read as STATUS, so they belong together; check the echo;
5. raise RESULT_ACK, hold it until RESULT_VALID clears, drop it.

PLC_HEARTBEAT advances every `heartbeat_period_s` throughout, as the station's watchdog
expects. Cycles start every 1/rate_hz s; when the station is slower, the next cycle starts
as soon as the last one ends (no catching up in bursts).

Every read is checked: a PASS bit without RESULT_VALID, or a PASS whose TRIGGER_ID echo is
not the trigger just sent, is an `unearned_pass` (0 against a correct station).

Link faults: a station that cannot be reached at start is a `PlcError` naming host:port.
A link lost mid-run ends that cycle as a `link_error` (counted); the next cycle reconnects
first. Three failed reconnects in a row end the run with a `PlcError`.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from inspector.errors import ConfigError
from inspector.plc.client import tcp_connector
from inspector.plc.registers import (
    CONTROL_BLOCK_WORDS,
    PLC_BLOCK_START,
    PROTOCOL_VERSION,
    STATION_BLOCK_START,
    STATION_BLOCK_WORDS,
    U16_MAX,
    Control,
    ControlBlock,
    ErrorCode,
    HoldingRegister,
    PlcError,
    StationBlock,
    Status,
)
from inspector.types import RESULT_NO_DECISION

__all__ = [
    "LINK_ERRORS",
    "CycleResult",
    "Outcome",
    "PlcSimulator",
    "SimulationPlan",
    "SimulationReport",
    "StationConnection",
    "classify_result",
    "connect_station",
    "next_trigger_id",
    "percentile",
    "simulate",
]

LATCHED = Status.MISSED_TRIGGER | Status.RESULT_OVERRUN
RECONNECT_TRIES = 3  # failed reconnects in a row that end a run
LINK_ERRORS = (ModbusException, OSError, PlcError)


# ---------------------------------------------------------------- the station over Modbus


class StationConnection:
    """One Modbus TCP connection to a station (server mode): read its blocks, write ours."""

    def __init__(self, client: ModbusTcpClient, host: str, port: int, unit_id: int) -> None:
        self.client = client
        self.where = f"{host}:{port}"
        self.unit_id = unit_id

    def read_words(self, address: int, count: int) -> list[int]:
        response = self.client.read_holding_registers(address, count=count, device_id=self.unit_id)
        _raise_if_error(response, f"reading HR {address}-{address + count - 1}", self)
        return list(response.registers)

    def read_station(self) -> StationBlock:
        return StationBlock.from_words(self.read_words(STATION_BLOCK_START, STATION_BLOCK_WORDS))

    def read_control(self) -> ControlBlock:
        return ControlBlock.from_words(self.read_words(PLC_BLOCK_START, CONTROL_BLOCK_WORDS))

    def write_words(self, address: int, words: Sequence[int]) -> None:
        response = self.client.write_registers(address, list(words), device_id=self.unit_id)
        _raise_if_error(response, f"writing HR {address}", self)

    def close(self) -> None:
        self.client.close()


def connect_station(
    host: str, port: int, unit_id: int = 1, timeout_s: float = 1.0
) -> StationConnection:
    """Open the TCP connection ourselves: a refusal is one PlcError naming host:port
    (pymodbus's own connect would log a traceback-like error and return False)."""
    try:
        client = tcp_connector(host, port, timeout_s)()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise PlcError(f"cannot connect to the station at {host}:{port}: {reason}") from None
    return StationConnection(client, host, port, unit_id)


def _raise_if_error(response: Any, doing: str, station: StationConnection) -> None:
    if response.isError():
        code = getattr(response, "exception_code", "?")
        raise PlcError(
            f"station at {station.where} unit {station.unit_id} answered Modbus exception "
            f"{code} {doing}"
        )


# ---------------------------------------------------------------- plan, cycles, report


@dataclass(frozen=True, slots=True)
class SimulationPlan:
    """How to drive the station. Give `cycles` or `duration_s` (exactly one)."""

    rate_hz: float = 5.0
    cycles: int | None = 100
    duration_s: float | None = None
    ack_timeout_s: float = 2.0  # READY before a trigger; TRIGGER_ACK; RESULT_VALID clearing
    result_timeout_s: float = 2.0  # trigger edge -> RESULT_VALID
    heartbeat_period_s: float = 0.1  # PLC_HEARTBEAT +1 this often
    poll_interval_s: float = 0.002  # between status reads while waiting (0: back to back)
    connect_timeout_s: float = 1.0
    # trigger times (s after the run starts) instead of a rate: a PLC whose photo-eye
    # sees parts arrive; `cycles` must equal its length
    schedule_s: tuple[float, ...] | None = None
    # the recipe each cycle's part is (`cycles` long): before a part of another recipe
    # than the active one, the PLC switches with RECIPE_REQUEST and RECIPE_LOAD
    recipes: tuple[int, ...] | None = None
    switch_timeout_s: float = 5.0  # RECIPE_LOAD -> RECIPE_SWITCHING dropped

    def __post_init__(self) -> None:
        if self.schedule_s is not None and self.cycles != len(self.schedule_s):
            raise ConfigError("simulate: a schedule needs cycles equal to its length")
        if self.recipes is not None and self.cycles != len(self.recipes):
            raise ConfigError("simulate: recipes need cycles equal to their length")
        if self.recipes is not None and not all(0 <= r <= U16_MAX for r in self.recipes):
            raise ConfigError("simulate: recipes: numbers from 0 to 65535")
        if (self.cycles is None) == (self.duration_s is None):
            raise ConfigError("simulate: give either cycles or duration_s, not both or neither")
        if self.cycles is not None and self.cycles < 1:
            raise ConfigError(f"simulate: cycles must be >= 1, got {self.cycles}")
        _positive("rate_hz", self.rate_hz)
        for name in ("duration_s", "ack_timeout_s", "result_timeout_s", "heartbeat_period_s"):
            value = getattr(self, name)
            if value is not None:
                _positive(name, value)
        for name in ("poll_interval_s", "connect_timeout_s"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"simulate: {name} must be >= 0, got {getattr(self, name)}")


def _positive(name: str, value: float) -> None:
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"simulate: {name} must be a positive number, got {value}")


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    NO_DECISION = "no_decision"
    MISSED = "missed_trigger"  # READY never came, MISSED_TRIGGER, or no TRIGGER_ACK
    ID_MISMATCH = "id_mismatch"  # RESULT_VALID with another TRIGGER_ID echo
    INVALID = "invalid_result"  # RESULT_VALID with both or neither of PASS and FAIL
    TIMEOUT = "timeout"  # no RESULT_VALID within result_timeout_s
    LINK_ERROR = "link_error"


@dataclass(frozen=True, slots=True)
class CycleResult:
    index: int  # 0-based
    trigger_id: int
    outcome: Outcome
    cycle_ms: float | None = None  # trigger edge written -> RESULT_VALID read
    result_code: int | None = None
    unearned_pass: int = 0
    timeouts: tuple[str, ...] = ()  # which waits ran out: ready, trigger_ack, result, ...
    detail: str = ""
    recipe: int | None = None  # ACTIVE_RECIPE with the result (plans with recipes)
    switch_ms: float | None = None  # RECIPE_LOAD -> switch done, before this cycle


@dataclass(slots=True)
class SimulationReport:
    """Totals of a run; `as_json()` is what `inspector plc simulate --json` prints."""

    host: str
    port: int
    unit_id: int
    results: list[CycleResult] = field(default_factory=list)
    duration_s: float = 0.0
    stopped_early: bool = False

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def cycle_times_ms(self) -> list[float]:
        return [r.cycle_ms for r in self.results if r.cycle_ms is not None]

    @property
    def unearned_pass(self) -> int:
        return sum(r.unearned_pass for r in self.results)

    def timeouts(self) -> dict[str, int]:
        counts = dict.fromkeys(("ready", "trigger_ack", "result", "result_ack"), 0)
        for result in self.results:
            for phase in result.timeouts:
                counts[phase] = counts.get(phase, 0) + 1
        return counts

    def switch_ms(self) -> dict[str, float | None]:
        times = sorted(r.switch_ms for r in self.results if r.switch_ms is not None)
        return {
            "count": len(times),
            "p50": _ms(percentile(times, 50)),
            "max": _ms(times[-1] if times else None),
        }

    def cycle_ms(self) -> dict[str, float | None]:
        times = sorted(self.cycle_times_ms)
        return {
            "p50": _ms(percentile(times, 50)),
            "p99": _ms(percentile(times, 99)),
            "max": _ms(times[-1] if times else None),
        }

    def as_json(self) -> dict[str, Any]:
        cycles = len(self.results)
        return {
            "cycles": cycles,
            "pass": self.count(Outcome.PASS),
            "fail": self.count(Outcome.FAIL),
            "no_decision": self.count(Outcome.NO_DECISION),
            "missed_triggers": self.count(Outcome.MISSED),
            "id_mismatches": self.count(Outcome.ID_MISMATCH),
            "unearned_pass": self.unearned_pass,
            "cycle_ms": self.cycle_ms(),
            "invalid_results": self.count(Outcome.INVALID),
            "result_timeouts": self.count(Outcome.TIMEOUT),
            "link_errors": self.count(Outcome.LINK_ERROR),
            "timeouts": self.timeouts(),
            "duration_s": round(self.duration_s, 3),
            "rate_hz": round(cycles / self.duration_s, 3) if self.duration_s > 0 else None,
            "stopped_early": self.stopped_early,
            "station": f"{self.host}:{self.port}",
            "unit_id": self.unit_id,
            **({"recipe_switches": self.switch_ms()} if self._switched() else {}),
        }

    def _switched(self) -> bool:
        return any(r.switch_ms is not None for r in self.results)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending sequence; None when empty."""
    if not sorted_values:
        return None
    rank = max(math.ceil(q / 100 * len(sorted_values)), 1)
    return sorted_values[rank - 1]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def next_trigger_id(trigger_id: int) -> int:
    """+1, wrapping past 0xFFFF to 1: 0 is what an idle PLC block holds."""
    return trigger_id % U16_MAX + 1


def classify_result(block: StationBlock, trigger_id: int) -> Outcome:
    """The outcome of a block read with RESULT_VALID set, for the trigger just sent."""
    if block.trigger_id_echo != trigger_id:
        return Outcome.ID_MISMATCH
    verdict = block.status & (Status.PASS | Status.FAIL)
    if verdict == Status.PASS:
        return Outcome.PASS
    if verdict == Status.FAIL:
        no_decision = block.result_code == RESULT_NO_DECISION
        return Outcome.NO_DECISION if no_decision else Outcome.FAIL
    return Outcome.INVALID


def _unearned(block: StationBlock, trigger_id: int | None) -> bool:
    """A PASS the PLC must not act on: without RESULT_VALID, or for another trigger."""
    if Status.PASS not in block.status:
        return False
    if Status.RESULT_VALID not in block.status:
        return True
    return trigger_id is not None and block.trigger_id_echo != trigger_id


# ---------------------------------------------------------------- the PLC program


class _LinkLost(Exception):
    pass


@dataclass(slots=True)
class _Cycle:
    """What one cycle has seen so far."""

    index: int
    trigger_id: int
    unearned_pass: int = 0
    timeouts: list[str] = field(default_factory=list)
    switch_ms: float | None = None

    def result(self, outcome: Outcome, **extra: Any) -> CycleResult:
        return CycleResult(
            self.index,
            self.trigger_id,
            outcome,
            unearned_pass=self.unearned_pass,
            timeouts=tuple(self.timeouts),
            switch_ms=self.switch_ms,
            **extra,
        )


class PlcSimulator:
    """The careful PLC program. `run()` drives cycles until the plan (or `stop`) ends it."""

    def __init__(
        self,
        connect: Callable[[], StationConnection],
        plan: SimulationPlan,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.plan = plan
        self._connect = connect
        self._clock = clock
        self._station: StationConnection | None = None
        self._control = ControlBlock()
        self._heartbeat_at = -math.inf
        self._cycle: _Cycle | None = None
        self._read_at = 0.0  # when the last status read came back
        self._trigger_id = 0

    # ---------------------------------------------------------------- run

    def run(
        self,
        report: SimulationReport,
        on_cycle: Callable[[CycleResult], None] | None = None,
        stop: threading.Event | None = None,
    ) -> SimulationReport:
        plan = self.plan
        start = self._clock()
        next_start = start
        failed_reconnects = 0
        try:
            while not self._finished(len(report.results), start, stop):
                if plan.schedule_s is not None:
                    next_start = start + plan.schedule_s[len(report.results)]
                self._idle_until(next_start)
                cycle_start = self._clock()
                next_start = cycle_start + 1.0 / plan.rate_hz
                failed_reconnects = self._reconnect_if_needed(failed_reconnects, report)
                result = self._guarded_cycle(len(report.results))
                report.results.append(result)
                if on_cycle is not None:
                    on_cycle(result)
        finally:
            self._finish()
            report.duration_s = self._clock() - start
        report.stopped_early = stop is not None and stop.is_set()
        return report

    def _finished(self, done: int, start: float, stop: threading.Event | None) -> bool:
        if stop is not None and stop.is_set():
            return True
        if self.plan.cycles is not None:
            return done >= self.plan.cycles
        return self._clock() - start >= (self.plan.duration_s or 0.0)

    def _reconnect_if_needed(self, failed: int, report: SimulationReport) -> int:
        if self._station is not None:
            return 0
        try:
            self.open()
        except LINK_ERRORS as exc:
            if failed + 1 >= RECONNECT_TRIES:
                raise PlcError(
                    f"lost the station at {report.host}:{report.port} after "
                    f"{len(report.results)} cycles: {exc}"
                ) from None
            return failed + 1
        return 0

    def _guarded_cycle(self, index: int) -> CycleResult:
        self._trigger_id = next_trigger_id(self._trigger_id)
        self._cycle = _Cycle(index, self._trigger_id)
        if self._station is None:
            return self._cycle.result(Outcome.LINK_ERROR, detail="not connected")
        try:
            return self._one_cycle(self._cycle)
        except (_LinkLost, *LINK_ERRORS) as exc:
            self._drop_link()
            return self._cycle.result(Outcome.LINK_ERROR, detail=str(exc))

    # ---------------------------------------------------------------- start and end

    def open(self) -> StationBlock:
        """Connect and bring the station to a clean start, as a PLC's first scan does:
        our control block written afresh (TRIGGER low), a result left from an earlier
        run acknowledged, latched flags reset. Errors here are PlcErrors."""
        self._station = self._connect()
        try:
            block = self._station.read_station()
            if block.protocol_version != PROTOCOL_VERSION:
                raise PlcError(
                    f"station at {self._station.where} speaks PLC protocol version "
                    f"{block.protocol_version}; this simulator speaks {PROTOCOL_VERSION}"
                )
            if self._trigger_id == 0:  # first connect: go on after the last id the station saw
                self._trigger_id = block.trigger_id_echo
            # afresh, but the heartbeat goes on counting across reconnects
            heartbeat = self._control.plc_heartbeat
            self._control = ControlBlock(control=Control.TRIGGER_ENABLE, plc_heartbeat=heartbeat)
            self._write()
            if Status.RESULT_VALID in block.status:
                self._acknowledge()
            self._reset_latched(self._read())
            return self._read()
        except (_LinkLost, *LINK_ERRORS) as exc:
            self._drop_link()
            raise PlcError(str(exc)) from None

    def _finish(self) -> None:
        """Leave the control block idle (0) and close; a station gone already is fine."""
        if self._station is None:
            return
        try:
            self._control = ControlBlock(plc_heartbeat=self._control.plc_heartbeat)
            self._write()
        except (_LinkLost, *LINK_ERRORS):
            pass
        self._drop_link()

    def _drop_link(self) -> None:
        if self._station is not None:
            self._station.close()
            self._station = None

    # ---------------------------------------------------------------- one cycle

    def _one_cycle(self, cycle: _Cycle) -> CycleResult:
        if self.plan.recipes is not None:
            refused = self._switch_recipe(cycle, self.plan.recipes[cycle.index])
            if refused is not None:
                return cycle.result(Outcome.MISSED, detail=refused)
        ready = self._wait(lambda b: Status.READY in b.status and not _busy(b), "ready")
        if ready is None:
            return cycle.result(Outcome.MISSED, detail="READY never came")
        self._write(trigger_id=cycle.trigger_id, part_serial=cycle.trigger_id)
        t_edge = self._clock()
        self._write(control=self._control.control | Control.TRIGGER_ENABLE | Control.TRIGGER)
        acked = self._wait(lambda b: bool(b.status & (Status.TRIGGER_ACK | LATCHED)), "trigger_ack")
        self._write(control=self._control.control & ~Control.TRIGGER)
        if acked is None or Status.TRIGGER_ACK not in acked.status:
            if acked is not None:
                self._reset_latched(acked)
            return cycle.result(Outcome.MISSED, detail="trigger not acknowledged")
        result = acked if Status.RESULT_VALID in acked.status else None
        result_at = self._read_at
        if result is None:
            result = self._wait(_result_valid, "result", t_edge + self.plan.result_timeout_s)
            result_at = self._read_at
        if result is None:
            return cycle.result(Outcome.TIMEOUT, detail="no RESULT_VALID")
        return self._take_result(cycle, result, (result_at - t_edge) * 1000.0)

    def _take_result(self, cycle: _Cycle, block: StationBlock, cycle_ms: float) -> CycleResult:
        outcome = classify_result(block, cycle.trigger_id)
        if _unearned(block, cycle.trigger_id):
            cycle.unearned_pass += 1
        self._acknowledge()
        recipe = block.active_recipe if self.plan.recipes is not None else None
        return cycle.result(
            outcome, cycle_ms=cycle_ms, result_code=block.result_code, recipe=recipe
        )

    def _switch_recipe(self, cycle: _Cycle, recipe: int) -> str | None:
        """Before a part of another recipe than the active one: RECIPE_REQUEST, then
        RECIPE_LOAD held until RECIPE_SWITCHING drops (docs/plc.md). Why the switch
        failed (that part is not triggered: the station would judge it with the old
        recipe's rules), else None."""
        if self._read().active_recipe == recipe:
            return None
        self._write(recipe_request=recipe)
        t_load = self._clock()
        self._write(control=self._control.control | Control.RECIPE_LOAD)

        def settled(b: StationBlock) -> bool:
            switching = Status.RECIPE_SWITCHING in b.status
            return not switching and (b.active_recipe == recipe or Status.ERROR in b.status)

        done = self._wait(settled, "recipe", t_load + self.plan.switch_timeout_s)
        self._write(control=self._control.control & ~Control.RECIPE_LOAD)
        if done is None:
            return f"recipe {recipe}: the switch did not finish"
        if done.active_recipe != recipe:
            return f"recipe {recipe} refused (error code {int(done.error_code)})"
        cycle.switch_ms = (self._read_at - t_load) * 1000.0
        return None

    def _acknowledge(self) -> None:
        """RESULT_ACK, held until RESULT_VALID clears (the station acts on the edge, but a
        polled station must see it), then dropped."""
        self._write(control=self._control.control | Control.RESULT_ACK)
        self._wait(lambda b: Status.RESULT_VALID not in b.status, "result_ack")
        self._write(control=self._control.control & ~Control.RESULT_ACK)

    def _reset_latched(self, block: StationBlock) -> None:
        """ERROR_RESET, held until MISSED_TRIGGER, RESULT_OVERRUN and a stale-heartbeat
        ERROR drop; live errors (camera, model, log) do not clear on a reset."""
        if not _latched(block):
            return
        self._write(control=self._control.control | Control.ERROR_RESET)
        self._wait(lambda b: not _latched(b), "error_reset")
        self._write(control=self._control.control & ~Control.ERROR_RESET)

    # ---------------------------------------------------------------- I/O

    def _read(self) -> StationBlock:
        self._beat_if_due()
        block = self._require().read_station()
        self._read_at = self._clock()
        cycle = self._cycle
        if cycle is not None and _unearned(block, None):
            cycle.unearned_pass += 1
        return block

    def _write(self, **changes: Any) -> None:
        """Write the whole control block as it stands after `changes`, in one request."""
        self._control = replace(self._control, **changes)
        self._require().write_words(PLC_BLOCK_START, self._control.to_words())

    def _beat_if_due(self) -> None:
        now = self._clock()
        if now - self._heartbeat_at < self.plan.heartbeat_period_s:
            return
        self._heartbeat_at = now
        beat = (self._control.plc_heartbeat + 1) & U16_MAX
        self._control = replace(self._control, plc_heartbeat=beat)
        self._require().write_words(HoldingRegister.PLC_HEARTBEAT, [beat])

    def _require(self) -> StationConnection:
        if self._station is None:
            raise _LinkLost("not connected")
        return self._station

    def _wait(
        self, done: Callable[[StationBlock], bool], phase: str, deadline: float | None = None
    ) -> StationBlock | None:
        """Poll until `done(block)`; None (the phase counted as timed out) at the deadline."""
        if deadline is None:
            deadline = self._clock() + self.plan.ack_timeout_s
        while True:
            block = self._read()
            if done(block):
                return block
            if self._clock() >= deadline:
                if self._cycle is not None:
                    self._cycle.timeouts.append(phase)
                return None
            if self.plan.poll_interval_s > 0:
                time.sleep(self.plan.poll_interval_s)

    def _idle_until(self, t: float) -> None:
        """Pace the next cycle, keeping the heartbeat going while we wait."""
        while (left := t - self._clock()) > 0:
            time.sleep(min(left, self.plan.heartbeat_period_s))
            if self._station is not None:
                try:
                    self._beat_if_due()
                except LINK_ERRORS:
                    self._drop_link()


def _busy(block: StationBlock) -> bool:
    return bool(block.status & (Status.BUSY | Status.RESULT_VALID | Status.TRIGGER_ACK))


def _result_valid(block: StationBlock) -> bool:
    return Status.RESULT_VALID in block.status


def _latched(block: StationBlock) -> bool:
    return bool(block.status & LATCHED) or block.error_code == ErrorCode.PLC_HEARTBEAT_STALE


# ---------------------------------------------------------------- entry point


def simulate(
    host: str,
    port: int,
    unit_id: int = 1,
    plan: SimulationPlan | None = None,
    on_cycle: Callable[[CycleResult], None] | None = None,
    stop: threading.Event | None = None,
) -> SimulationReport:
    """Drive `plan` (default: 100 cycles at 5 Hz) against the station at host:port.

    Raises PlcError when the station cannot be reached at start, answers Modbus
    exceptions (wrong unit id), speaks another protocol version, or stays unreachable
    for three reconnects in a row mid-run. `stop` ends the run after the current cycle.
    """
    plan = plan or SimulationPlan()
    simulator = PlcSimulator(
        lambda: connect_station(host, port, unit_id, plan.connect_timeout_s), plan
    )
    simulator.open()  # a station not there is an error now, not a run of link errors
    return simulator.run(SimulationReport(host, port, unit_id), on_cycle, stop)
