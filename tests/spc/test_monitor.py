"""The SPC monitors on a real store: Phase I, frozen limits, alarms as events, the
open alarms' mask, acknowledgement, re-baselining, restarts mid-subgroup, gaps."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.config import parse_config
from inspector.errors import ConfigError, DataError
from inspector.plc.handshake import Handshake
from inspector.plc.registers import Control, ControlBlock, SpcRule, Status
from inspector.plc.trigger import PlcHealthMonitor
from inspector.spc import store
from inspector.spc.config import SpcConfig, SpcMonitorConfig
from inspector.spc.health import measure_image
from inspector.spc.monitor import SpcEngine, SpcSink, monitor_specs, rebaseline, stored_specs
from inspector.store.audit import AuditKind, last_change
from inspector.store.db import open_store, transaction
from inspector.store.inspections import InspectionWriter
from inspector.types import (
    EventKind,
    ImageHealth,
    Inspection,
    Severity,
    StationEvent,
    StationState,
    Verdict,
)
from tests.sinks.records import CLASS_NAMES, make_inspection

N, K = 5, 5


class Line:
    """A log with an SPC sink on it: parts committed as the worker does, then handed to
    the sink as its runner does; the events it announces, collected."""

    def __init__(self, db: Path, config: SpcConfig, run_id: str = "run-1") -> None:
        self.store = open_store(db)
        self.writer = InspectionWriter(self.store.connect(), CLASS_NAMES)
        self.config = config
        self.run_id = run_id
        self.seq = 0
        self.events: list[tuple[EventKind, str, dict]] = []
        self.sink = self.open_sink()

    def open_sink(self) -> SpcSink:
        specs = monitor_specs(self.config, CLASS_NAMES)
        engine = SpcEngine(
            self.store.connect(), specs, self.config.subgroup_size, self.config.baseline_subgroups
        ).open()
        sink = SpcSink(engine, CLASS_NAMES)
        sink.bind(
            lambda kind, severity, message, **detail: self.events.append((kind, message, detail))
        )
        return sink

    def part(
        self, verdict: Verdict = Verdict.PASS, brightness: float = 100.0, *, deliver: bool = True
    ) -> Inspection:
        self.seq += 1
        record = make_inspection(self.seq, verdict, run_id=self.run_id)
        health = ImageHealth(brightness + 0.5 * (self.seq % 3), 40.0 + self.seq % 2)
        record = dataclasses.replace(record, image_health=health)
        self.writer.commit(record)
        if deliver:
            self.sink.handle(record)
        return record

    def subgroups(self, fails: list[int], brightness: float = 100.0) -> None:
        for count in fails:
            for i in range(N):
                self.part(Verdict.FAIL if i < count else Verdict.PASS, brightness)

    def kinds(self) -> list[EventKind]:
        return [kind for kind, _, _ in self.events]

    def close(self) -> None:
        self.sink.close()
        self.store.close()


def only(*monitors: SpcMonitorConfig, subgroup_size: int = N) -> SpcConfig:
    return SpcConfig(
        enabled=True,
        subgroup_size=subgroup_size,
        baseline_subgroups=K,
        default_monitors=False,
        monitors=list(monitors),
    )


P = SpcMonitorConfig(name="fails", measure="fail_fraction")


@pytest.fixture
def line(tmp_path):
    line = Line(tmp_path / "log.db", only(P, SpcMonitorConfig(name="light", measure="brightness")))
    yield line
    line.close()


def test_phase1_freezes_then_a_bad_subgroup_raises_an_alarm(line):
    line.subgroups([1, 1, 1, 1, 1])
    limits = store.latest_limits(line.sink.engine.conn, "fails")
    assert limits is not None and limits.parameters.center == pytest.approx(0.2)
    assert limits.source == "phase1" and limits.parameters.phase1_points == K
    assert line.kinds().count(EventKind.SPC_LIMITS) == 2  # fails and light
    line.subgroups([5])  # p = 1 > UCL 0.737
    alarms = [detail for kind, _, detail in line.events if kind is EventKind.SPC_ALARM]
    assert [(a["monitor"], a["rule"], a["subgroup"]) for a in alarms] == [("fails", "we1", 6)]
    assert alarms[0]["active_mask"] == int(SpcRule.BEYOND_LIMITS)
    assert alarms[0]["statistic"] == 1.0 and alarms[0]["ucl"] == pytest.approx(0.7367, abs=1e-4)


def test_image_health_alarm_and_acknowledgement_by_the_plc(line):
    line.subgroups([1] * K)
    line.subgroups([1], brightness=130.0)  # the lamp brightens: EWMA beyond its limit
    assert [d["monitor"] for k, _, d in line.events if k is EventKind.SPC_ALARM] == ["light"]
    line.sink.request_ack()
    line.sink.tick()
    kind, _, detail = line.events[-1]
    assert kind is EventKind.SPC_ACKNOWLEDGED and detail["active_mask"] == 0
    assert store.open_alarms(line.sink.engine.conn) == []
    line.sink.tick()  # nothing changed: nothing announced
    assert line.events[-1][0] is EventKind.SPC_ACKNOWLEDGED and len(line.events) == 4


def test_a_rule_that_goes_on_tripping_is_one_alarm_until_acknowledged(line):
    line.subgroups([1] * K + [5, 5, 5])  # beyond the limit three times
    conn = line.sink.engine.conn
    assert [(a.monitor, a.rule, a.subgroup_id) for a in store.open_alarms(conn)] == [
        ("fails", "we1", 6)
    ]
    assert line.kinds().count(EventKind.SPC_ALARM) == 1
    line.sink.request_ack()
    line.sink.tick()
    line.subgroups([5])  # still beyond it after the acknowledgement: a new alarm
    assert [a.subgroup_id for a in store.open_alarms(conn)] == [9]
    assert line.kinds().count(EventKind.SPC_ALARM) == 2


def test_an_acknowledgement_from_the_cli_is_seen_on_the_next_tick(line):
    line.subgroups([1] * K + [5])
    other = line.store.connect()
    with transaction(other):
        assert store.acknowledge(other, "qe", "scrap sorted") == 1
    line.sink.tick()
    assert line.events[-1][2]["active_mask"] == 0


def test_events_drive_the_plc_bits():
    handshake = Handshake()
    monitor = PlcHealthMonitor(handshake)
    acks = threading.Event()
    handshake.set_spc_ack_listener(acks.set)
    mask = int(SpcRule.BEYOND_LIMITS | SpcRule.NINE_SAME_SIDE)

    def event(kind: EventKind, **detail) -> StationEvent:
        return StationEvent(kind, Severity.INFO, "x", 0.0, StationState.READY, detail)

    monitor.on_event(event(EventKind.SPC_ALARM, active_mask=mask))
    block = handshake.snapshot()
    assert Status.SPC_ALARM in block.status and block.spc_rule_mask == mask
    handshake.on_control(ControlBlock(control=Control.SPC_ACK))
    assert acks.is_set()
    monitor.on_event(event(EventKind.SPC_LIMITS))  # no mask: no change
    assert Status.SPC_ALARM in handshake.snapshot().status
    monitor.on_event(event(EventKind.SPC_ACKNOWLEDGED, active_mask=0))
    block = handshake.snapshot()
    assert Status.SPC_ALARM not in block.status and block.spc_rule_mask == 0


def test_rebaseline_is_a_new_audited_version_the_station_takes(line):
    line.subgroups([1] * K + [2, 2, 2, 2, 2])
    conn = line.store.connect()
    [spec] = [s for s in stored_specs(conn) if s.name == "fails"]
    limits = rebaseline(conn, spec, 5, "inspector spc baseline (by qe)")
    assert limits.version == 2 and limits.parameters.center == pytest.approx(0.4)
    audit = last_change(conn, AuditKind.SPC_LIMITS, "fails")
    assert audit is not None and audit.new_hash == "v2 p center=0.4"
    assert audit.old_hash == "v1 p center=0.2"
    line.sink.tick()
    assert line.sink.engine.charts["fails"].limits.version == 2
    assert line.events[-1][0] is EventKind.SPC_LIMITS
    with pytest.raises(DataError, match="50 needed"):
        rebaseline(conn, spec, 50, "x")


def test_standards_skip_phase1(tmp_path):
    light = SpcMonitorConfig(
        name="light", measure="brightness", chart="imr", center=100.0, sigma=1.0
    )
    line = Line(tmp_path / "log.db", only(light))
    try:
        line.subgroups([0], brightness=105.0)  # first subgroup already judged: 5 sigma off
        assert store.latest_limits(line.sink.engine.conn, "light").source == "standard"
        assert [d["rule"] for k, _, d in line.events if k is EventKind.SPC_ALARM] == ["we1"]
    finally:
        line.close()


def offline_subgroups(conn, start_row: int, size: int) -> list[tuple[int, int]]:
    """Subgroups recomputed from the log alone: (first row, last row) of each run of
    `size` decided parts after `start_row`."""
    rows = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM inspections WHERE id > ? AND verdict != 'NO_DECISION' ORDER BY id",
            (start_row,),
        )
    ]
    return [(rows[i], rows[i + size - 1]) for i in range(0, len(rows) - size + 1, size)]


def stored_subgroups(conn) -> list[tuple[int, int]]:
    rows = conn.execute("SELECT first_row, last_row FROM spc_subgroups ORDER BY id").fetchall()
    return [tuple(row) for row in rows]


def test_a_restart_mid_subgroup_finishes_it_from_the_log(tmp_path):
    line = Line(tmp_path / "log.db", only(P))
    line.subgroups([1])
    line.part(Verdict.FAIL)
    line.part()
    line.part(deliver=False)  # committed, still in the sink's queue when it died
    line.part(Verdict.NO_DECISION, deliver=False)
    line.sink.close()  # (a kill: nothing flushed, nothing closed cleanly)
    line.run_id = "run-2"
    line.seq = 0
    line.sink = line.open_sink()  # catches up the 3 decided parts after subgroup 1
    for _ in range(2):
        line.part()
    conn = line.store.connect()
    assert stored_subgroups(conn) == offline_subgroups(conn, 0, N)
    assert len(stored_subgroups(conn)) == 2
    points = store.points(conn, "fails")
    assert [(p.subgroup_id, p.count, p.size) for p in points] == [(1, 1, 5), (2, 1, 5)]
    line.close()


def test_records_the_sink_never_got_are_read_from_the_log(line):
    line.part()
    for _ in range(3):
        line.part(deliver=False)  # dropped: the sink's queue was full
    line.part(Verdict.FAIL)
    conn = line.store.connect()
    assert stored_subgroups(conn) == offline_subgroups(conn, 0, N)
    assert store.points(conn, "fails")[0].count == 1


def test_no_decision_parts_are_not_in_subgroups(line):
    for _ in range(4):
        line.part()
    line.part(Verdict.NO_DECISION)
    assert stored_subgroups(line.store.connect()) == []
    line.part()
    assert len(stored_subgroups(line.store.connect())) == 1


def test_enabling_spc_does_not_chart_the_logs_history(tmp_path):
    db = tmp_path / "log.db"
    with open_store(db) as old:
        writer = InspectionWriter(old.connect(), CLASS_NAMES)
        for seq in range(1, 13):
            writer.commit(make_inspection(seq, Verdict.FAIL))
    line = Line(db, only(P))
    try:
        line.subgroups([0])
        conn = line.store.connect()
        assert store.points(conn, "fails")[0].count == 0
        assert stored_subgroups(conn) == offline_subgroups(conn, 12, N)
    finally:
        line.close()


# ---------------------------------------------------------------- config


def test_default_monitors():
    specs = monitor_specs(SpcConfig(enabled=True), CLASS_NAMES)
    assert [(s.name, s.kind.value) for s in specs] == [
        ("fail_fraction", "p"),
        ("defects", "u"),
        ("class-crack", "c"),
        ("class-scratch", "c"),
        ("class-pit", "c"),
        ("brightness", "ewma"),
        ("focus", "ewma"),
    ]
    replaced = SpcConfig(monitors=[SpcMonitorConfig(name="defects", measure="defects", chart="c")])
    assert monitor_specs(replaced, ())[1].kind.value == "c"


BASE = {
    "camera": {"kind": "folder", "path": "frames"},
    "trigger": {"kind": "interval", "period_s": 0.1},
    "model": {"path": "m.onnx"},
}


@pytest.mark.parametrize(
    ("spc", "message"),
    [
        ({"subgroup_size": 0}, "spc.subgroup_size: must be at least 1"),
        ({"baseline_subgroups": 2}, "spc.baseline_subgroups: must be at least 5"),
        (
            {"monitors": [{"name": "a", "measure": "defects", "chart": "p"}]},
            "chart p does not plot defects",
        ),
        (
            {"monitors": [{"name": "a", "measure": "brightness", "rules": "we9"}]},
            "unknown rule 'we9'",
        ),
        (
            {"monitors": [{"name": "a", "measure": "brightness", "rules": "we"}]},
            "takes only 'limit'",
        ),
        ({"monitors": [{"name": "a", "measure": "class_defects"}]}, "class_name goes with"),
        ({"monitors": [{"name": "a", "measure": "focus", "center": 3}]}, "give both or neither"),
        ({"monitors": [{"name": "a", "measure": "defects", "sigma": 3}]}, "spread follows"),
        ({"monitors": [{"name": "a", "measure": "fail_fraction", "center": 1.5}]}, "below 1"),
        ({"monitors": [{"name": "a b", "measure": "defects"}]}, "spc.monitors.0.name"),
        ({"monitors": [{"name": "a", "measure": "defects"}] * 2}, "names given twice: a"),
        ({"monitors": [{"name": "a", "measure": "weight"}]}, "spc.monitors.0.measure"),
    ],
)
def test_bad_config(spc, message):
    with pytest.raises(ConfigError, match=message):
        parse_config({**BASE, "spc": {"enabled": True, **spc}}, "station.yaml")


# ---------------------------------------------------------------- image health


def test_image_health_figures():
    rng = np.random.default_rng(0)
    sharp = (rng.random((120, 160, 3)) * 255).astype(np.uint8)
    blurred = cv2.GaussianBlur(sharp, (9, 9), 3)
    dim = (sharp * 0.5).astype(np.uint8)
    assert measure_image(blurred).focus < 0.2 * measure_image(sharp).focus
    assert measure_image(dim).brightness == pytest.approx(
        measure_image(sharp).brightness / 2, rel=0.02
    )
    assert measure_image(sharp[:, :, 0]).brightness > 0  # one channel works too
