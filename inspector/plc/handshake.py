"""The trigger/result handshake as a pure, thread-safe state machine (no I/O).

`Handshake` owns the station block (HR 0-15) and reacts to the PLC's control block
(HR 32-37). Transports (the Modbus server, the client poller) feed it control writes and
read `snapshot()`; the station feeds it health, the loop heartbeat and results. Every
change swaps in a new immutable `StationBlock` under one lock, so a reader sees either
the whole previous result or the whole new one.

Rules (DESIGN.md, "PLC register map"):
- all status bits are 0 at start; READY needs camera, model and log healthy, no error,
  not busy, and a trigger listener (someone who will inspect the part);
- TRIGGER rising edge with TRIGGER_ENABLE while READY and no unacknowledged result:
  TRIGGER_ACK + BUSY, READY drops, the listener gets a `TriggerRequest`; otherwise the
  trigger is ignored and MISSED_TRIGGER latches (RESULT_OVERRUN too when a result was
  still waiting for RESULT_ACK);
- the PLC drops TRIGGER: TRIGGER_ACK drops;
- `publish(record)`: result words plus RESULT_VALID, PASS or FAIL, READY, BUSY cleared
  and INSPECTION_COMPLETE toggled, in one swap; NO_DECISION is FAIL with code 0xFFFF;
- RESULT_ACK rising edge: RESULT_VALID, PASS and FAIL drop;
- ERROR_RESET rising edge: latched errors and flags clear;
- SPC_ACK rising edge: the SPC acknowledge listener is told; SPC_ALARM and SPC_RULE_MASK
  follow `set_spc`, which the SPC monitors' events drive (`PlcHealthMonitor`);
- RECIPE_LOAD rising edge: RECIPE_SWITCHING rises and READY drops (a trigger now is
  MISSED_TRIGGER), the recipe listener gets a `RecipeRequest`; `finish_recipe` then sets
  ACTIVE_RECIPE, drops RECIPE_SWITCHING and raises READY, or sets ERROR with the recipe
  error code, in one swap. A second edge before that finishes is refused
  (RECIPE_LOAD_TOO_SOON); without a listener every request is RECIPE_UNKNOWN;
- PLC_HEARTBEAT unchanged for the timeout (once it has been seen changing): ERROR,
  latched, code PLC_HEARTBEAT_STALE.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from inspector.plc.registers import (
    NO_STATUS,
    U16_MAX,
    U32_MAX,
    Control,
    ControlBlock,
    ErrorCode,
    PlcError,
    StationBlock,
    Status,
    check_u16,
)
from inspector.types import RESULT_NO_DECISION, Inspection, Verdict

__all__ = [
    "Component",
    "Handshake",
    "HandshakeCounters",
    "RecipeListener",
    "RecipeRequest",
    "TriggerListener",
    "TriggerRequest",
]

log = logging.getLogger(__name__)

RESULT_FLAGS = Status.RESULT_VALID | Status.PASS | Status.FAIL
LATCHED_FLAGS = Status.RESULT_OVERRUN | Status.MISSED_TRIGGER


class Component(enum.Enum):
    """A health input that gates READY; unhealthy sets ERROR with its code (live)."""

    CAMERA = ErrorCode.CAMERA
    MODEL = ErrorCode.MODEL
    LOG = ErrorCode.LOG


@dataclass(frozen=True, slots=True)
class TriggerRequest:
    """An accepted PLC trigger: the PLC's id and serial, and when the edge was seen."""

    trigger_id: int
    part_serial: int
    t_edge: float  # the handshake's clock (time.monotonic by default)


@dataclass(frozen=True, slots=True)
class RecipeRequest:
    """A RECIPE_LOAD edge: the recipe the PLC asked for, and when the edge was seen."""

    number: int
    t_edge: float


RECIPE_ERRORS = frozenset(
    {ErrorCode.RECIPE_UNKNOWN, ErrorCode.RECIPE_LOAD_FAILED, ErrorCode.RECIPE_LOAD_TOO_SOON}
)

DEADLINE_GRACE_S = 0.05  # the station's own late NO_DECISION comes first when it can


@dataclass(slots=True)
class HandshakeCounters:
    triggers: int = 0
    missed_triggers: int = 0
    result_overruns: int = 0
    results: int = 0
    unmatched_results: int = 0
    undefined_control_writes: int = 0
    stale_heartbeats: int = 0
    error_resets: int = 0
    expired_results: int = 0
    recipe_requests: int = 0
    recipe_refusals: int = 0


TriggerListener = Callable[[TriggerRequest], None]
RecipeListener = Callable[[RecipeRequest], None]


class Handshake:
    """The station side of the PLC handshake. Every method is safe from any thread."""

    def __init__(
        self,
        plc_heartbeat_timeout_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if plc_heartbeat_timeout_s < 0 or math.isnan(plc_heartbeat_timeout_s):
            raise PlcError(f"plc_heartbeat_timeout_s must be >= 0, got {plc_heartbeat_timeout_s}")
        self.plc_heartbeat_timeout_s = plc_heartbeat_timeout_s  # 0: no watchdog
        # trigger edge -> result budget; past it (plus a grace for the station's own
        # NO_DECISION) the handshake answers FAIL 0xFFFF itself: a hung pipeline is a reject
        self.result_deadline_s = 0.0  # 0: no deadline watchdog
        self._clock = clock
        self._changed = threading.Condition(threading.Lock())
        self._block = StationBlock()
        self._version = 0
        self._flags = NO_STATUS  # every bit except the derived READY and ERROR
        self._health: dict[Component, bool | None] = dict.fromkeys(Component)
        self._latched_error = ErrorCode.NONE
        self._recipe_error = ErrorCode.NONE  # the last recipe request's refusal
        self._switching: RecipeRequest | None = None
        self._recipe_listener: RecipeListener | None = None
        self._control = ControlBlock()
        self._plc_heartbeat_at: float | None = None  # None: not seen changing yet
        self._pending: TriggerRequest | None = None
        self._listener: TriggerListener | None = None
        self._reset_listener: Callable[[], None] | None = None
        self._spc_ack_listener: Callable[[], None] | None = None
        self._counters = HandshakeCounters()
        self._warned: set[str] = set()

    # ---------------------------------------------------------------- readers

    def snapshot(self) -> StationBlock:
        """The station block as one consistent value."""
        with self._changed:
            return self._block

    def counters(self) -> HandshakeCounters:
        with self._changed:
            return replace(self._counters)

    @property
    def version(self) -> int:
        """Counts changes of the station block."""
        with self._changed:
            return self._version

    def wait_changed(self, since: int, timeout: float) -> int:
        """Block until the block changes after version `since` (or timeout); the version."""
        with self._changed:
            self._changed.wait_for(lambda: self._version != since, timeout)
            return self._version

    # ---------------------------------------------------------------- station side

    def set_trigger_listener(self, listener: TriggerListener | None) -> None:
        """Who inspects accepted triggers; without one the station is never READY."""
        with self._changed:
            self._listener = listener
            self._commit()

    def set_recipe_listener(self, listener: RecipeListener | None) -> None:
        """Who switches recipes on the PLC's RECIPE_LOAD edge (the station), answering
        through `finish_recipe`; called on the transport's thread, outside the lock: it
        must not block."""
        with self._changed:
            self._recipe_listener = listener

    def finish_recipe(self, active: int, error: ErrorCode = ErrorCode.NONE) -> None:
        """The switch is over: ACTIVE_RECIPE, RECIPE_SWITCHING dropped and READY or the
        recipe's ERROR, in one update the PLC reads whole."""
        check_u16(active, "recipe")
        if error is not ErrorCode.NONE and error not in RECIPE_ERRORS:
            raise PlcError(f"{error.name} is not a recipe error code")
        with self._changed:
            self._switching = None
            self._flags &= ~Status.RECIPE_SWITCHING
            if self._recipe_error is not ErrorCode.RECIPE_LOAD_TOO_SOON:  # refused meanwhile
                self._recipe_error = error
            self._commit(active_recipe=active)

    def set_reset_listener(self, listener: Callable[[], None] | None) -> None:
        """Who else clears latched faults on the PLC's ERROR_RESET edge (the station's
        MODEL and LOG faults); called on the transport's thread, outside the lock."""
        with self._changed:
            self._reset_listener = listener

    def set_spc_ack_listener(self, listener: Callable[[], None] | None) -> None:
        """Who acknowledges SPC alarms on the PLC's SPC_ACK edge (the SPC monitors, which
        then clear SPC_ALARM through `set_spc`); called on the transport's thread,
        outside the lock: it must not block."""
        with self._changed:
            self._spc_ack_listener = listener

    def set_health(self, component: Component, healthy: bool | None) -> None:
        """True: healthy; False: fault (ERROR, live); None: unknown (not READY, no ERROR)."""
        with self._changed:
            if self._health[component] is healthy:
                return
            self._health[component] = healthy
            self._commit()

    def heartbeat(self) -> None:
        """Advance HEARTBEAT; the inspection loop calls this itself, never a timer."""
        with self._changed:
            self._commit(heartbeat=(self._block.heartbeat + 1) & U16_MAX)

    def set_spc(self, alarm: bool, rule_mask: int) -> None:
        check_u16(rule_mask, "SPC rule mask")
        with self._changed:
            self._flags = _with(self._flags, Status.SPC_ALARM, alarm)
            self._commit(spc_rule_mask=rule_mask)

    def missed_parts(self, count: int) -> None:
        """Parts the line sent that the station never saw (a hardware-triggered camera's
        frames that were missed or came incomplete): MISSED_TRIGGER latches, as for a PLC
        trigger that came while not ready, and the count adds to `missed_triggers`."""
        with self._changed:
            self._counters.missed_triggers += count
            self._flags |= Status.MISSED_TRIGGER
            self._commit()

    def set_recipe(self, recipe: int) -> None:
        check_u16(recipe, "recipe")
        with self._changed:
            self._commit(active_recipe=recipe)

    def publish(self, record: Inspection) -> bool:
        """Write the result of the pending trigger; False (counted) if it answers none."""
        with self._changed:
            pending = self._pending
            if pending is None or record.trigger_id != pending.trigger_id:
                self._counters.unmatched_results += 1
                self._warn_once(
                    "unmatched",
                    f"result for trigger {record.trigger_id} answers no pending PLC trigger; "
                    "not published (further ones counted)",
                )
                return False
            self._pending = None
            self._counters.results += 1
            self._commit_result(record)
            return True

    # ---------------------------------------------------------------- PLC side

    def on_control(self, block: ControlBlock) -> None:
        """The PLC wrote its control block (all of it, as it now stands)."""
        now = self._clock()
        with self._changed:
            previous, self._control = self._control, block
            rising = block.control & ~previous.control
            falling = previous.control & ~block.control
            self._note_control(block, previous, now)
            reset = Control.ERROR_RESET in rising
            if reset:
                self._reset_errors(now)
            if Control.RESULT_ACK in rising:
                self._flags &= ~RESULT_FLAGS
            if Control.TRIGGER in falling:
                self._flags &= ~Status.TRIGGER_ACK
            request = None
            if Control.TRIGGER in rising and Control.TRIGGER_ENABLE in block.control:
                request = self._take_trigger(block, now)
            recipe = self._take_recipe(block, now) if Control.RECIPE_LOAD in rising else None
            self._commit()
            listener = self._listener
            recipe_listener = self._recipe_listener
            reset_listener = self._reset_listener if reset else None
            spc_ack = self._spc_ack_listener if Control.SPC_ACK in rising else None
        if recipe is not None and recipe_listener is not None:
            recipe_listener(recipe)
        if reset_listener is not None:
            reset_listener()
        if spc_ack is not None:
            spc_ack()
        if request is not None and listener is not None:
            listener(request)  # outside the lock: the listener may read the handshake

    def check(self) -> None:
        """Watchdog tick from the transport's own thread: a stale PLC heartbeat latches;
        a trigger unanswered past its deadline is answered FAIL 0xFFFF."""
        now = self._clock()
        self._expire_result(now)
        with self._changed:
            seen = self._plc_heartbeat_at
            if (
                self.plc_heartbeat_timeout_s <= 0
                or seen is None
                or now - seen <= self.plc_heartbeat_timeout_s
                or self._latched_error is not ErrorCode.NONE
            ):
                return
            self._latched_error = ErrorCode.PLC_HEARTBEAT_STALE
            self._counters.stale_heartbeats += 1
            self._commit()
        log.warning(
            "PLC heartbeat stale for %.1f s: ERROR until ERROR_RESET", self.plc_heartbeat_timeout_s
        )

    def _expire_result(self, now: float) -> None:
        with self._changed:
            pending = self._pending
            if (
                pending is None
                or self.result_deadline_s <= 0
                or now - pending.t_edge <= self.result_deadline_s + DEADLINE_GRACE_S
            ):
                return
            self._pending = None
            self._counters.expired_results += 1
            self._commit_no_decision(pending, now)
        log.warning(
            "no result for PLC trigger %d within %.0f ms: answered FAIL 0xFFFF",
            pending.trigger_id,
            self.result_deadline_s * 1000,
        )

    # ---------------------------------------------------------------- internals (locked)

    def _commit_no_decision(self, pending: TriggerRequest, now: float) -> None:
        flags = (self._flags & ~(RESULT_FLAGS | Status.BUSY)) | Status.RESULT_VALID | Status.FAIL
        self._flags = flags ^ Status.INSPECTION_COMPLETE
        block = self._block
        self._commit(
            trigger_id_echo=pending.trigger_id,
            result_code=RESULT_NO_DECISION,
            defect_count=0,
            max_score=0,
            part_count=(block.part_count + 1) & U32_MAX,
            fail_count=(block.fail_count + 1) & U32_MAX,
            proc_ms=min(round((now - pending.t_edge) * 1000), U16_MAX),
        )

    def _note_control(self, block: ControlBlock, previous: ControlBlock, now: float) -> None:
        if block.plc_heartbeat != previous.plc_heartbeat:
            self._plc_heartbeat_at = now
        if block.undefined_bits:
            self._counters.undefined_control_writes += 1
            self._warn_once(
                "undefined",
                f"PLC wrote undefined CONTROL bits 0x{block.undefined_bits:04x}; ignored "
                "(further ones counted)",
            )

    def _take_recipe(self, block: ControlBlock, now: float) -> RecipeRequest | None:
        """READY drops until the station answers; a request it cannot take is refused
        with its error code at once."""
        self._counters.recipe_requests += 1
        refusal = None
        if self._switching is not None:
            refusal = ErrorCode.RECIPE_LOAD_TOO_SOON
        elif self._recipe_listener is None:
            refusal = ErrorCode.RECIPE_UNKNOWN  # a station without recipes knows none
        if refusal is not None:
            self._counters.recipe_refusals += 1
            self._recipe_error = refusal
            log.warning("PLC asked for recipe %d: refused, %s", block.recipe_request, refusal.name)
            return None
        self._switching = RecipeRequest(block.recipe_request, now)
        self._recipe_error = ErrorCode.NONE  # a new request supersedes the last refusal
        self._flags |= Status.RECIPE_SWITCHING
        return self._switching

    def _reset_errors(self, now: float) -> None:
        self._latched_error = ErrorCode.NONE
        self._recipe_error = ErrorCode.NONE
        self._flags &= ~LATCHED_FLAGS
        self._counters.error_resets += 1
        self._warned.clear()
        if self._plc_heartbeat_at is not None:
            self._plc_heartbeat_at = now  # a fresh window: the reset itself shows a live PLC

    def _take_trigger(self, block: ControlBlock, now: float) -> TriggerRequest | None:
        if not self._accepts_trigger():
            self._counters.missed_triggers += 1
            self._flags |= Status.MISSED_TRIGGER
            if Status.RESULT_VALID in self._flags:
                self._counters.result_overruns += 1
                self._flags |= Status.RESULT_OVERRUN
            self._warn_once("missed", "PLC trigger while not ready: ignored, MISSED_TRIGGER set")
            return None
        self._counters.triggers += 1
        self._flags |= Status.TRIGGER_ACK | Status.BUSY
        self._pending = TriggerRequest(block.trigger_id, block.part_serial, now)
        return self._pending

    def _accepts_trigger(self) -> bool:
        return self._ready() and Status.RESULT_VALID not in self._flags

    def _ready(self) -> bool:
        return (
            self._listener is not None
            and all(healthy is True for healthy in self._health.values())
            and self._error_code() is ErrorCode.NONE
            and Status.BUSY not in self._flags
            and self._switching is None
        )

    def _error_code(self) -> ErrorCode:
        if self._latched_error is not ErrorCode.NONE:
            return self._latched_error
        if self._recipe_error is not ErrorCode.NONE:
            return self._recipe_error
        for component, healthy in self._health.items():
            if healthy is False:
                return component.value
        return ErrorCode.NONE

    def _commit_result(self, record: Inspection) -> None:
        passed = record.verdict is Verdict.PASS
        code = record.result_code if record.verdict is not Verdict.NO_DECISION else None
        flags = (self._flags & ~(RESULT_FLAGS | Status.BUSY)) | Status.RESULT_VALID
        flags |= Status.PASS if passed else Status.FAIL
        self._flags = flags ^ Status.INSPECTION_COMPLETE
        block = self._block
        self._commit(
            trigger_id_echo=record.trigger_id,
            inspection_seq=record.seq & U16_MAX,
            result_code=RESULT_NO_DECISION if code is None else min(code, U16_MAX),
            defect_count=min(len(record.judgement.defects), U16_MAX),
            max_score=round(min(max(record.detections.max_score(), 0.0), 1.0) * 1000),
            part_count=(block.part_count + 1) & U32_MAX,
            fail_count=(block.fail_count + (not passed)) & U32_MAX,
            proc_ms=_proc_ms(record),
        )

    def _commit(self, **words: int) -> None:
        error = self._error_code()
        status = self._flags | (Status.READY if self._ready() else NO_STATUS)
        if error is not ErrorCode.NONE:
            status |= Status.ERROR
        block = replace(self._block, status=status, error_code=error, **words)
        if block != self._block:  # a no-op must not wake the client poller into a busy loop
            self._block = block
            self._version += 1
            self._changed.notify_all()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)


def _with(flags: Status, flag: Status, on: bool) -> Status:
    return flags | flag if on else flags & ~flag


def _proc_ms(record: Inspection) -> int:
    ms = record.latency_ms
    if not math.isfinite(ms):
        return U16_MAX
    return min(max(round(ms), 0), U16_MAX)
