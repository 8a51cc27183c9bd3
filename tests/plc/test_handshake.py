"""The pure handshake state machine: scenario tables on a fake clock, no network."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from inspector.plc.handshake import Component, Handshake, TriggerRequest
from inspector.plc.registers import (
    NO_CONTROL,
    NO_STATUS,
    PROTOCOL_VERSION,
    Control,
    ControlBlock,
    ErrorCode,
    PlcError,
    Status,
)
from inspector.plc.trigger import PlcTrigger
from inspector.types import RESULT_NO_DECISION, TriggerEvent, Verdict
from tests.plc.harness import make_record

ARM = Control.TRIGGER_ENABLE
TRIG = Control.TRIGGER_ENABLE | Control.TRIGGER
S = Status


@dataclass
class Rig:
    """A handshake on a fake clock, with a listener that records accepted triggers."""

    timeout_s: float = 1.0
    now: float = 100.0
    requests: list[TriggerRequest] = field(default_factory=list)
    published: list[bool] = field(default_factory=list)
    control: ControlBlock = field(default_factory=ControlBlock)  # what the PLC last wrote

    def __post_init__(self) -> None:
        self.hs = Handshake(self.timeout_s, clock=lambda: self.now)

    def status(self) -> Status:
        return self.hs.snapshot().status


Step = Callable[[Rig], None]


def healthy(rig: Rig) -> None:
    for component in Component:
        rig.hs.set_health(component, True)
    rig.hs.set_trigger_listener(rig.requests.append)


def health(component: Component, value: bool | None) -> Step:
    return lambda rig: rig.hs.set_health(component, value)


def listener(on: bool) -> Step:
    return lambda rig: rig.hs.set_trigger_listener(rig.requests.append if on else None)


def ctl(bits: Control = NO_CONTROL, **words: int) -> Step:
    """Write the whole control block with these bits, other words as last written."""

    def step(rig: Rig) -> None:
        rig.control = replace(rig.control, control=bits, **words)
        rig.hs.on_control(rig.control)

    return step


def raw(word0: int) -> Step:
    return lambda rig: rig.hs.on_control(ControlBlock.from_words([word0, 0, 0, 0, 0, 0]))


def trigger(trigger_id: int, serial: int = 0) -> list[Step]:
    return [ctl(ARM, trigger_id=trigger_id, part_serial=serial), ctl(TRIG), ctl(ARM)]


def publish(verdict: Verdict, trigger_id: int) -> Step:
    def step(rig: Rig) -> None:
        event = TriggerEvent(trigger_id, "plc", rig.now, rig.now + 0.5)
        rig.published.append(rig.hs.publish(make_record(len(rig.published) + 1, event, verdict)))

    return step


def ack() -> list[Step]:
    return [ctl(ARM | Control.RESULT_ACK), ctl(ARM)]


def reset() -> list[Step]:
    return [ctl(ARM | Control.ERROR_RESET), ctl(ARM)]


def wait(seconds: float) -> Step:
    def step(rig: Rig) -> None:
        rig.now += seconds
        rig.hs.check()

    return step


def run(rig: Rig, steps: list[Step | list[Step]]) -> Rig:
    for step in steps:
        for one in step if isinstance(step, list) else [step]:
            one(rig)
    return rig


# (name, steps, status bits that must be set, bits that must be clear, error code, requests)
SCENARIOS = [
    ("start: every status bit 0", [], NO_STATUS, ~NO_STATUS, ErrorCode.NONE, 0),
    ("healthy with a listener: READY", [healthy], S.READY, ~S.READY, ErrorCode.NONE, 0),
    (
        "no listener: not READY, no error",
        [healthy, listener(False)],
        NO_STATUS,
        S.READY | S.ERROR,
        ErrorCode.NONE,
        0,
    ),
    (
        "health unknown: not READY, no error",
        [healthy, health(Component.LOG, None)],
        NO_STATUS,
        S.READY | S.ERROR,
        ErrorCode.NONE,
        0,
    ),
    (
        "camera unhealthy: ERROR, live",
        [healthy, health(Component.CAMERA, False)],
        S.ERROR,
        S.READY,
        ErrorCode.CAMERA,
        0,
    ),
    (
        "model unhealthy: ERROR MODEL",
        [healthy, health(Component.MODEL, False)],
        S.ERROR,
        S.READY,
        ErrorCode.MODEL,
        0,
    ),
    (
        "camera recovers: ERROR clears by itself",
        [healthy, health(Component.CAMERA, False), health(Component.CAMERA, True)],
        S.READY,
        S.ERROR,
        ErrorCode.NONE,
        0,
    ),
    (
        "trigger edge while READY: ACK + BUSY, not READY",
        [healthy, ctl(ARM, trigger_id=7), ctl(TRIG)],
        S.TRIGGER_ACK | S.BUSY,
        S.READY | S.MISSED_TRIGGER,
        ErrorCode.NONE,
        1,
    ),
    (
        "TRIGGER held high over many writes: one request",
        [healthy, ctl(ARM, trigger_id=7), ctl(TRIG), ctl(TRIG), ctl(TRIG)],
        S.TRIGGER_ACK | S.BUSY,
        S.MISSED_TRIGGER,
        ErrorCode.NONE,
        1,
    ),
    (
        "trigger without TRIGGER_ENABLE: ignored, not missed",
        [healthy, ctl(Control.TRIGGER, trigger_id=7)],
        S.READY,
        S.BUSY | S.TRIGGER_ACK | S.MISSED_TRIGGER,
        ErrorCode.NONE,
        0,
    ),
    (
        "PLC drops TRIGGER: station drops TRIGGER_ACK, stays BUSY",
        [healthy, *trigger(7)],
        S.BUSY,
        S.TRIGGER_ACK | S.READY,
        ErrorCode.NONE,
        1,
    ),
    (
        "result: RESULT_VALID, PASS, READY, COMPLETE toggled, not BUSY",
        [healthy, *trigger(7), publish(Verdict.PASS, 7)],
        S.RESULT_VALID | S.PASS | S.READY | S.INSPECTION_COMPLETE,
        S.BUSY | S.FAIL,
        ErrorCode.NONE,
        1,
    ),
    (
        "result before the PLC drops TRIGGER: ACK stays until it does",
        [healthy, ctl(ARM, trigger_id=7), ctl(TRIG), publish(Verdict.FAIL, 7)],
        S.RESULT_VALID | S.FAIL | S.TRIGGER_ACK,
        S.BUSY | S.PASS,
        ErrorCode.NONE,
        1,
    ),
    (
        "RESULT_ACK: result flags drop, READY stays",
        [healthy, *trigger(7), publish(Verdict.PASS, 7), *ack()],
        S.READY | S.INSPECTION_COMPLETE,
        S.RESULT_VALID | S.PASS | S.FAIL,
        ErrorCode.NONE,
        1,
    ),
    (
        "RESULT_ACK with no result: nothing happens",
        [healthy, *ack()],
        S.READY,
        S.RESULT_VALID,
        ErrorCode.NONE,
        0,
    ),
    (
        "two results: INSPECTION_COMPLETE toggles back",
        [
            healthy,
            *trigger(1),
            publish(Verdict.PASS, 1),
            *ack(),
            *trigger(2),
            publish(Verdict.PASS, 2),
        ],
        S.RESULT_VALID | S.PASS,
        S.INSPECTION_COMPLETE,
        ErrorCode.NONE,
        2,
    ),
    (
        "trigger while BUSY: MISSED_TRIGGER, no overrun, no request",
        [healthy, *trigger(1), *trigger(2)],
        S.BUSY | S.MISSED_TRIGGER,
        S.RESULT_OVERRUN,
        ErrorCode.NONE,
        1,
    ),
    (
        "trigger before RESULT_ACK: MISSED_TRIGGER + RESULT_OVERRUN, result held",
        [healthy, *trigger(1), publish(Verdict.FAIL, 1), *trigger(2)],
        S.RESULT_VALID | S.FAIL | S.MISSED_TRIGGER | S.RESULT_OVERRUN,
        S.BUSY | S.TRIGGER_ACK,
        ErrorCode.NONE,
        1,
    ),
    (
        "ack and trigger in one write: ack first, trigger accepted",
        [healthy, *trigger(1), publish(Verdict.PASS, 1), ctl(TRIG | Control.RESULT_ACK)],
        S.BUSY | S.TRIGGER_ACK,
        S.RESULT_VALID | S.MISSED_TRIGGER | S.RESULT_OVERRUN,
        ErrorCode.NONE,
        2,
    ),
    (
        "ERROR_RESET clears MISSED_TRIGGER and RESULT_OVERRUN",
        [healthy, *trigger(1), publish(Verdict.FAIL, 1), *trigger(2), *reset()],
        S.RESULT_VALID | S.FAIL,
        S.MISSED_TRIGGER | S.RESULT_OVERRUN,
        ErrorCode.NONE,
        1,
    ),
    (
        "trigger while in ERROR: missed",
        [healthy, health(Component.CAMERA, False), *trigger(1)],
        S.ERROR | S.MISSED_TRIGGER,
        S.BUSY | S.READY,
        ErrorCode.CAMERA,
        0,
    ),
    (
        "PLC heartbeat stale: ERROR latched, not READY",
        [healthy, ctl(ARM, plc_heartbeat=1), wait(0.5), ctl(ARM, plc_heartbeat=2), wait(1.01)],
        S.ERROR,
        S.READY,
        ErrorCode.PLC_HEARTBEAT_STALE,
        0,
    ),
    (
        "PLC heartbeat changing: no error",
        [healthy, *[s for i in range(5) for s in (ctl(ARM, plc_heartbeat=i + 1), wait(0.9))]],
        S.READY,
        S.ERROR,
        ErrorCode.NONE,
        0,
    ),
    (
        "PLC heartbeat never seen changing: watchdog not armed",
        [healthy, ctl(ARM), wait(100.0)],
        S.READY,
        S.ERROR,
        ErrorCode.NONE,
        0,
    ),
    (
        "stale heartbeat stays latched when the heartbeat comes back",
        [healthy, ctl(ARM, plc_heartbeat=1), wait(1.5), ctl(ARM, plc_heartbeat=2), wait(0.1)],
        S.ERROR,
        S.READY,
        ErrorCode.PLC_HEARTBEAT_STALE,
        0,
    ),
    (
        "ERROR_RESET clears a stale heartbeat",
        [healthy, ctl(ARM, plc_heartbeat=1), wait(1.5), *reset(), wait(0.5)],
        S.READY,
        S.ERROR,
        ErrorCode.NONE,
        0,
    ),
    (
        "a heartbeat still frozen after ERROR_RESET trips again",
        [healthy, ctl(ARM, plc_heartbeat=1), wait(1.5), *reset(), wait(1.5)],
        S.ERROR,
        S.READY,
        ErrorCode.PLC_HEARTBEAT_STALE,
        0,
    ),
    (
        "ERROR_RESET does not clear a live fault",
        [healthy, health(Component.LOG, False), *reset()],
        S.ERROR,
        S.READY,
        ErrorCode.LOG,
        0,
    ),
    (
        "undefined CONTROL bits alone: ignored",
        [healthy, raw(0xFFC0)],
        S.READY,
        S.BUSY | S.ERROR | S.MISSED_TRIGGER,
        ErrorCode.NONE,
        0,
    ),
    (
        "undefined bits beside TRIGGER: the defined bits still act",
        [healthy, raw(0xFFC0 | int(ARM)), raw(0xFFC0 | int(TRIG))],
        S.BUSY | S.TRIGGER_ACK,
        S.ERROR,
        ErrorCode.NONE,
        1,
    ),
]


@pytest.mark.parametrize(
    ("steps", "present", "absent", "error", "n_requests"),
    [case[1:] for case in SCENARIOS],
    ids=[case[0] for case in SCENARIOS],
)
def test_scenarios(steps, present, absent, error, n_requests):
    rig = run(Rig(), steps)
    block = rig.hs.snapshot()
    assert present in block.status, f"{block.status!r} lacks {present!r}"
    assert not block.status & absent, f"{block.status!r} has some of {absent!r}"
    assert block.error_code == error
    assert len(rig.requests) == n_requests
    assert block.protocol_version == PROTOCOL_VERSION


@pytest.mark.parametrize(
    ("verdict", "flag", "code", "defects", "score", "fails"),
    [
        (Verdict.PASS, Status.PASS, 0, 0, 200, 0),
        (Verdict.FAIL, Status.FAIL, 1, 2, 900, 1),
        (Verdict.NO_DECISION, Status.FAIL, RESULT_NO_DECISION, 0, 0, 1),
    ],
)
def test_result_words(verdict, flag, code, defects, score, fails):
    rig = run(Rig(), [healthy, *trigger(4242, serial=123456789)])
    assert rig.requests == [TriggerRequest(4242, 123456789, 100.0)]
    run(rig, [publish(verdict, 4242)])
    block = rig.hs.snapshot()
    assert flag in block.status and Status.RESULT_VALID in block.status
    assert block.trigger_id_echo == 4242
    assert block.inspection_seq == 1
    assert block.result_code == code
    assert block.defect_count == defects
    assert block.max_score == score
    assert block.proc_ms == 14
    assert (block.part_count, block.fail_count) == (1, fails)


@pytest.mark.parametrize(
    ("steps", "published", "present", "absent"),
    [
        ([healthy, publish(Verdict.PASS, 1)], [False], S.READY, S.RESULT_VALID | S.PASS),
        (
            [healthy, *trigger(1), publish(Verdict.PASS, 2)],
            [False],
            S.BUSY,
            S.RESULT_VALID | S.PASS,
        ),
        (
            [healthy, *trigger(1), publish(Verdict.FAIL, 1), publish(Verdict.PASS, 1)],
            [True, False],
            S.RESULT_VALID | S.FAIL,
            S.PASS,
        ),
    ],
    ids=["no trigger pending", "answers another trigger id", "a second answer"],
)
def test_unmatched_result_never_published(steps, published, present, absent):
    rig = run(Rig(), steps)
    assert rig.published == published
    assert rig.hs.counters().unmatched_results == 1
    assert present in rig.status() and not rig.status() & absent


def test_counters_and_words_over_cycles():
    verdicts = [Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION, Verdict.PASS]
    rig = run(Rig(), [healthy])
    for i, verdict in enumerate(verdicts, start=1):
        run(rig, [*trigger(i), publish(verdict, i), *ack()])
    block = rig.hs.snapshot()
    assert (block.part_count, block.fail_count) == (4, 2)
    counters = rig.hs.counters()
    assert (counters.triggers, counters.results, counters.missed_triggers) == (4, 4, 0)


def test_heartbeat_advances_and_wraps():
    hs = Handshake()
    before = hs.version
    hs.heartbeat()
    assert hs.snapshot().heartbeat == 1 and hs.version == before + 1
    for _ in range(0xFFFF):
        hs.heartbeat()
    assert hs.snapshot().heartbeat == 0


def test_spc_and_recipe_words():
    hs = Handshake()
    hs.set_spc(True, 0b101)
    hs.set_recipe(12)
    block = hs.snapshot()
    assert Status.SPC_ALARM in block.status
    assert (block.spc_rule_mask, block.active_recipe) == (0b101, 12)
    hs.set_spc(False, 0)
    assert Status.SPC_ALARM not in hs.snapshot().status


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Handshake(-1.0), "plc_heartbeat_timeout_s"),
        (lambda: Handshake().set_recipe(70000), "recipe"),
        (lambda: Handshake().set_spc(True, -1), "SPC rule mask"),
    ],
)
def test_bad_input_raises_plc_error(call, message):
    with pytest.raises(PlcError, match=message):
        call()


def test_undefined_bits_counted_and_logged_once(caplog):
    rig = run(Rig(), [healthy, raw(0x8000), raw(0x4000), raw(0x8000)])
    assert rig.hs.counters().undefined_control_writes == 3
    warnings = [r for r in caplog.records if "undefined CONTROL bits" in r.message]
    assert len(warnings) == 1


def test_wait_changed_wakes_on_a_change():
    hs = Handshake()
    since = hs.version
    timer = threading.Timer(0.05, hs.heartbeat)
    timer.start()
    try:
        assert hs.wait_changed(since, timeout=2.0) == since + 1
    finally:
        timer.join()
    assert hs.wait_changed(hs.version, timeout=0.01) == hs.version  # times out quietly


def test_readers_never_see_an_unearned_pass():
    """A reader thread hammers snapshot() while cycles run: PASS only ever shows with
    RESULT_VALID and the echo of a trigger that passed (even ids pass here)."""
    rig = run(Rig(timeout_s=0.0), [healthy])
    stop = threading.Event()
    bad: list[str] = []

    def read() -> None:
        while not stop.is_set():
            block = rig.hs.snapshot()
            verdicts = block.status & (Status.PASS | Status.FAIL)
            if verdicts and Status.RESULT_VALID not in block.status:
                bad.append(f"verdict without RESULT_VALID: {block}")
            if Status.PASS in block.status and block.trigger_id_echo % 2:
                bad.append(f"PASS echoing a failed trigger: {block}")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 1001):
            verdict = Verdict.PASS if i % 2 == 0 else Verdict.FAIL
            run(rig, [*trigger(i), publish(verdict, i), *ack()])
    finally:
        stop.set()
        reader.join()
    assert not bad, bad[:3]
    assert rig.hs.snapshot().part_count == 1000


def test_plc_trigger_builds_events_and_gates_ready():
    hs = Handshake()
    for component in Component:
        hs.set_health(component, True)
    trigger = PlcTrigger(hs, deadline_ms=250.0)
    events: list[TriggerEvent] = []
    assert Status.READY not in hs.snapshot().status  # nobody to inspect a part yet
    trigger.start(events.append)
    assert Status.READY in hs.snapshot().status
    hs.on_control(ControlBlock(control=ARM, trigger_id=9, part_serial=0))
    hs.on_control(ControlBlock(control=TRIG, trigger_id=9, part_serial=0))
    trigger.stop()
    assert Status.READY not in hs.snapshot().status
    (event,) = events
    assert (event.trigger_id, event.origin, event.part_serial) == (9, "plc", None)
    assert event.deadline == pytest.approx(event.t_trigger + 0.25)
    assert event.frame is None
    serial = trigger.event_for(TriggerRequest(1, 4_000_000_000, 5.0))
    assert serial.part_serial == "4000000000"


@pytest.mark.parametrize(("waited_s", "expired"), [(0.5, False), (0.56, True)])
def test_a_trigger_unanswered_past_its_deadline_is_answered_fail_ffff(waited_s, expired):
    rig = Rig(timeout_s=0.0)
    rig.hs.result_deadline_s = 0.5  # plus a 50 ms grace for the station's own answer
    run(rig, [healthy, *trigger(7), wait(waited_s)])
    block = rig.hs.snapshot()
    assert (S.RESULT_VALID in block.status) is expired
    if not expired:
        return
    assert S.FAIL in block.status and S.PASS not in block.status
    assert (block.result_code, block.trigger_id_echo) == (RESULT_NO_DECISION, 7)
    assert rig.hs.counters().expired_results == 1
    run(rig, [publish(Verdict.PASS, 7)])  # the hung worker answers at last: too late
    assert rig.published == [False]
    assert S.PASS not in rig.hs.snapshot().status
