"""The PLC simulator against a real station server (pymodbus on loopback).

The station is `serve_station` plus the harness's worker stand-in, answered by a thread
from a known verdict pattern, so every count in the report is known in advance.
"""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from inspector.errors import ConfigError, InspectorError
from inspector.plc.handshake import Handshake
from inspector.plc.registers import StationBlock, Status
from inspector.plc.server import Endpoint, PlcServer, serve_station
from inspector.plc.simulate import (
    Outcome,
    SimulationPlan,
    classify_result,
    next_trigger_id,
    percentile,
    simulate,
)
from inspector.types import RESULT_NO_DECISION, Verdict
from tests.plc.harness import StationStandIn, free_port

ROOT = Path(__file__).resolve().parents[2]
REPORT_KEYS = {
    "cycles",
    "pass",
    "fail",
    "no_decision",
    "missed_triggers",
    "id_mismatches",
    "unearned_pass",
    "cycle_ms",
}
FAST = {"ack_timeout_s": 0.3, "result_timeout_s": 0.3, "poll_interval_s": 0.001}


class AnsweringStation:
    """A station server whose worker stand-in answers every trigger on its own thread,
    cycling through `verdicts`; `wrong_id` makes it answer for another trigger id."""

    def __init__(self, verdicts: Sequence[Verdict], wrong_id: bool = False) -> None:
        self.handshake = Handshake()
        self.server: PlcServer = serve_station(self.handshake, Endpoint("127.0.0.1", 0))
        self.stand_in = StationStandIn(self.handshake)
        self._verdicts = itertools.cycle(verdicts)
        self._wrong_id = wrong_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._answer, name="answering-station")
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server.endpoint.port

    def _answer(self) -> None:
        while not self._stop.is_set():
            try:
                event = self.stand_in.next_event(timeout=0.02)
            except queue.Empty:
                continue
            if self._wrong_id:
                event = replace(event, trigger_id=event.trigger_id + 1)
            self.stand_in.answer(event, next(self._verdicts))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.stand_in.stop()
        self.server.close()


@pytest.fixture
def station(request) -> Iterator[AnsweringStation]:
    verdicts, wrong_id = getattr(request, "param", ([Verdict.PASS], False))
    station = AnsweringStation(verdicts, wrong_id)
    yield station
    station.close()


PATTERN = [Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION, Verdict.PASS, Verdict.PASS]


@pytest.mark.parametrize("station", [(PATTERN, False)], indirect=True)
def test_counts_match_the_station_verdicts(station):
    plan = SimulationPlan(rate_hz=200, cycles=10, **FAST)
    seen = []
    report = simulate("127.0.0.1", station.port, 1, plan, on_cycle=seen.append)
    doc = report.as_json()
    assert doc.keys() >= REPORT_KEYS
    assert (doc["cycles"], doc["pass"], doc["fail"], doc["no_decision"]) == (10, 6, 2, 2)
    assert (doc["missed_triggers"], doc["id_mismatches"], doc["unearned_pass"]) == (0, 0, 0)
    assert doc["link_errors"] == doc["result_timeouts"] == 0
    assert 0 < doc["cycle_ms"]["p50"] <= doc["cycle_ms"]["p99"] <= doc["cycle_ms"]["max"]
    assert [r.index for r in seen] == list(range(10))
    assert len({r.trigger_id for r in seen}) == 10 and 0 not in {r.trigger_id for r in seen}
    assert station.handshake.counters().missed_triggers == 0
    # the PLC leaves its control block idle: nothing triggered, nothing held
    assert station.handshake.snapshot().status == Status.READY  # 10 toggles of COMPLETE


def test_a_station_never_ready_counts_missed_triggers():
    handshake = Handshake()  # no trigger listener: never READY
    with serve_station(handshake, Endpoint("127.0.0.1", 0)) as server:
        plan = SimulationPlan(rate_hz=100, cycles=2, **FAST)
        report = simulate("127.0.0.1", server.endpoint.port, plan=plan)
    doc = report.as_json()
    assert (doc["cycles"], doc["missed_triggers"]) == (2, 2)
    assert (doc["pass"], doc["unearned_pass"]) == (0, 0)
    assert doc["timeouts"]["ready"] == 2
    assert doc["cycle_ms"] == {"p50": None, "p99": None, "max": None}


@pytest.mark.parametrize("station", [([Verdict.PASS], True)], indirect=True)
def test_a_result_for_another_trigger_is_never_a_pass(station):
    """The handshake refuses to publish a result whose id answers no pending trigger, so
    the PLC sees no result at all: a timeout, then a station stuck BUSY (never READY)."""
    plan = SimulationPlan(rate_hz=100, cycles=2, **FAST)
    doc = simulate("127.0.0.1", station.port, plan=plan).as_json()
    assert (doc["pass"], doc["unearned_pass"], doc["id_mismatches"]) == (0, 0, 0)
    assert (doc["result_timeouts"], doc["missed_triggers"]) == (1, 1)
    assert station.handshake.counters().unmatched_results == 1


def block(status: Status, echo: int = 7, code: int = 0) -> StationBlock:
    return StationBlock(status=status, trigger_id_echo=echo, result_code=code)


VALID = Status.RESULT_VALID | Status.READY


@pytest.mark.parametrize(
    ("read", "outcome"),
    [
        (block(VALID | Status.PASS), Outcome.PASS),
        (block(VALID | Status.FAIL, code=3), Outcome.FAIL),
        (block(VALID | Status.FAIL, code=RESULT_NO_DECISION), Outcome.NO_DECISION),
        (block(VALID | Status.PASS, echo=6), Outcome.ID_MISMATCH),
        (block(VALID | Status.PASS | Status.FAIL), Outcome.INVALID),
        (block(VALID), Outcome.INVALID),
    ],
    ids=["pass", "fail", "no decision", "wrong echo", "both verdicts", "no verdict"],
)
def test_classify_result(read, outcome):
    assert classify_result(read, trigger_id=7) is outcome


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [([], 50, None), ([5.0], 99, 5.0), ([1.0, 2.0, 3.0, 4.0], 50, 2.0), ([*range(1, 101)], 99, 99)],
)
def test_percentile_is_nearest_rank(values, q, expected):
    assert percentile(values, q) == expected


def test_trigger_ids_wrap_past_zero():
    assert [next_trigger_id(i) for i in (0, 1, 0xFFFE, 0xFFFF)] == [1, 2, 0xFFFF, 1]


@pytest.mark.parametrize(
    "changes",
    [{"cycles": None}, {"duration_s": 1.0}, {"cycles": 0}, {"rate_hz": 0}, {"poll_interval_s": -1}],
    ids=["neither", "both", "no cycles", "zero rate", "negative poll"],
)
def test_bad_plan_is_a_config_error(changes):
    with pytest.raises(ConfigError):
        SimulationPlan(**changes)


def test_connection_refused_is_a_clear_error():
    port = free_port()
    with pytest.raises(InspectorError) as caught:
        simulate("127.0.0.1", port, plan=SimulationPlan(cycles=1))
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "refused" in message and "\n" not in message


@pytest.mark.parametrize("station", [([Verdict.FAIL, Verdict.PASS], False)], indirect=True)
def test_cli_simulate_json(station):
    command = [sys.executable, "-m", "inspector", "plc", "simulate", "--json"]
    command += ["--port", str(station.port), "--cycles", "4", "--rate", "100"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout.strip().splitlines()[-1])
    assert doc.keys() >= REPORT_KEYS
    assert (doc["cycles"], doc["pass"], doc["fail"], doc["unearned_pass"]) == (4, 2, 2, 0)


@pytest.mark.parametrize("station", [([Verdict.PASS], False)], indirect=True)
def test_a_station_that_goes_away_mid_run_is_a_clear_error(station):
    """The link is lost after 3 cycles: link errors, 3 failed reconnects, then PlcError."""
    seen = []

    def on_cycle(result):
        seen.append(result.outcome)
        if len(seen) == 3:
            station.server.close()

    plan = SimulationPlan(rate_hz=200, cycles=20, **FAST)
    with pytest.raises(InspectorError) as caught:
        simulate("127.0.0.1", station.port, plan=plan, on_cycle=on_cycle)
    message = str(caught.value)
    assert message.startswith(f"lost the station at 127.0.0.1:{station.port} after ")
    assert "\n" not in message
    assert seen[:3] == [Outcome.PASS] * 3 and set(seen[3:]) == {Outcome.LINK_ERROR}
