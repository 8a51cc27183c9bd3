"""SPC monitors: the station's own parts, charted live off the PLC's path.

- `SpcSink` is a sink: records reach it through its own queue and thread, after the PLC
  has its verdict, so nothing on the line waits for SPC.
- Parts form subgroups: `subgroup_size` consecutive decided parts of the log (PASS or
  FAIL). Each monitor (`MonitorSpec`) adds one point per subgroup; a subgroup, its
  points, its alarms and any limits it completes commit in one transaction, and the
  subgroup records the log rows it spans. After a crash the engine reads back the log
  rows after the last subgroup's last row (every part's row is committed before the PLC
  saw it), so the interrupted subgroup is completed from the very parts it had, none
  lost and none counted twice. A sink that fell behind and dropped records has its gap
  filled from the log the same way.
- Phase I: until a monitor has limits, its points are stored without; after
  `baseline_subgroups` of them its limits are estimated and frozen as version 1 (or
  version 1 is the standard given in station.yaml). `inspector spc baseline` freezes a
  new version from history; the running station picks it up within a tick.
- Phase II: every point is judged against the current version; every rule violation
  is an alarm row and a `StationEvent` (kind spc_alarm). The event carries the
  station-wide `active_mask`, the OR of the bits of every unacknowledged alarm: the PLC
  listener sets SPC_ALARM and SPC_RULE_MASK from it, the MQTT sink publishes it.
  Alarms stay open until acknowledged: the PLC's SPC_ACK edge, or `inspector spc ack`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.errors import DataError, InspectorError
from inspector.plc.registers import SpcRule
from inspector.sinks.base import Announce, Sink
from inspector.spc import store
from inspector.spc.charts import (
    ATTRIBUTE_CHARTS,
    ChartKind,
    ChartSettings,
    Counts,
    Panel,
    ProcessParameters,
    Values,
    build,
    cusum_step,
    estimate,
    ewma_sigma,
)
from inspector.spc.config import IMAGE_MEASURES, SPC_NAME_MAX, SpcConfig, SpcMonitorConfig
from inspector.spc.rules import Rule, Violation, check, parse_rules
from inspector.spc.store import FrozenLimits, PartFigures, PointRow
from inspector.store.audit import AuditKind, record_change
from inspector.store.db import transaction
from inspector.store.inspections import class_counts
from inspector.types import EventKind, Inspection, Severity, Verdict

__all__ = [
    "EngineOpener",
    "MonitorSpec",
    "Observation",
    "OnlineChart",
    "SpcEngine",
    "SpcSink",
    "monitor_specs",
    "part_figures",
    "rebaseline",
    "stored_specs",
]

log = logging.getLogger(__name__)

HISTORY = 15  # the longest rule pattern (nelson7): points kept for the run rules


@dataclass(frozen=True, slots=True)
class Observation:
    """One monitor's view of one subgroup: a count out of a size, or a mean value."""

    count: float | None = None
    size: float | None = None
    value: float | None = None


@dataclass(frozen=True, slots=True)
class MonitorSpec:
    """A monitor, resolved from its config: what it measures and how it charts it."""

    name: str
    measure: str
    kind: ChartKind
    rules: tuple[Rule, ...]
    settings: ChartSettings
    class_name: str | None = None
    standard: ProcessParameters | None = None
    definition: str = ""  # its config as JSON, kept in the store for `spc baseline`

    @classmethod
    def from_config(cls, config: SpcMonitorConfig) -> MonitorSpec:
        standard = None
        if config.center is not None:
            standard = ProcessParameters(config.center, config.sigma)
        return cls(
            config.name,
            config.measure,
            ChartKind(config.chart_name),
            parse_rules(config.rule_text, f"spc.monitors.{config.name}.rules"),
            ChartSettings(config.ewma_lambda, config.ewma_l, config.cusum_k, config.cusum_h),
            config.class_name,
            standard,
            config.model_dump_json(),
        )

    @property
    def counts(self) -> bool:
        return self.kind in ATTRIBUTE_CHARTS

    def observe(self, parts: Sequence[PartFigures]) -> Observation | None:
        """The subgroup as this monitor sees it; None where it has nothing to plot
        (no part of it had its image measured)."""
        n = float(len(parts))
        if self.measure == "fail_fraction":
            return Observation(float(sum(p.failed for p in parts)), n)
        if self.measure == "defects":
            return Observation(float(sum(p.defects for p in parts)), n)
        if self.measure == "class_defects":
            return Observation(
                float(sum(p.classes.get(self.class_name or "", 0) for p in parts)), n
            )
        figures = [getattr(p, self.measure) for p in parts]
        measured = [f for f in figures if f is not None and math.isfinite(f)]
        return Observation(value=float(np.mean(measured))) if measured else None


def monitor_specs(
    config: SpcConfig, class_names: Sequence[str], recipe: int | None = None
) -> tuple[MonitorSpec, ...]:
    """The defaults (unless switched off), then the configured monitors, a configured
    one replacing the default of its name. A recipe's monitors are named `r<number>.`
    and their name: their points, limits and alarms are that product's alone."""
    configured = {m.name: m for m in config.monitors}
    # "class-" and the class, within a name once the recipe's prefix is on
    width = 56 if recipe is None else SPC_NAME_MAX - len("class-r65535.")
    defaults: list[SpcMonitorConfig] = []
    if config.default_monitors:
        defaults = [
            SpcMonitorConfig(name="fail_fraction", measure="fail_fraction"),
            SpcMonitorConfig(name="defects", measure="defects"),
            *(
                SpcMonitorConfig(
                    name=f"class-{_plain(c, width)}", measure="class_defects", class_name=c
                )
                for c in class_names
            ),
            SpcMonitorConfig(name="brightness", measure="brightness"),
            SpcMonitorConfig(name="focus", measure="focus"),
        ]
    chosen = [configured.pop(d.name, d) for d in defaults] + list(configured.values())
    if recipe is not None:
        chosen = [m.model_copy(update={"name": f"r{recipe}.{m.name}"}) for m in chosen]
    return tuple(MonitorSpec.from_config(m) for m in chosen)


def _plain(name: str, width: int) -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)[:width] or "class"


def part_figures(record: Inspection, class_names: Sequence[str]) -> PartFigures | None:
    """What SPC takes from a record; None for a NO_DECISION part (a station fault)."""
    if record.verdict is Verdict.NO_DECISION:
        return None
    health = record.image_health
    return PartFigures(
        None,
        record.run_id,
        record.seq,
        record.verdict is Verdict.FAIL,
        len(record.judgement.defects),
        class_counts(record.judgement.defects, class_names),
        health.brightness if health else None,
        health.focus if health else None,
        record.recipe,
    )


# ---------------------------------------------------------------- one monitor's chart


@dataclass(frozen=True, slots=True)
class Judged:
    """A plotted point and the violations it completed (points as subgroup ids)."""

    point: PointRow
    violations: tuple[tuple[Violation, tuple[int, ...]], ...]


class OnlineChart:
    """A monitor's chart in Phase II, point by point: what the recursive charts carry
    (the last value, the EWMA, C+ and C-) and the last standardized values the rules
    look at. Restored from the stored points of its limits version."""

    def __init__(self, spec: MonitorSpec, limits: FrozenLimits) -> None:
        self.spec = spec
        self.limits = limits
        self._count = 0  # points plotted with these limits
        self._last_value: float | None = None
        self._ewma = limits.parameters.center
        self._cusum = (0.0, 0.0)
        self._history: deque[tuple[int, float]] = deque(maxlen=HISTORY)

    @classmethod
    def restore(
        cls, spec: MonitorSpec, limits: FrozenLimits, conn: sqlite3.Connection
    ) -> OnlineChart:
        chart = cls(spec, limits)
        rows = store.points(conn, spec.name, version=limits.version)
        chart._count = len(rows)
        for row in rows[-HISTORY:]:
            chart._history.append((row.subgroup_id, row.z if row.z is not None else math.nan))
        if rows:
            last = rows[-1]
            chart._last_value = last.value
            chart._ewma = last.statistic if last.statistic is not None else chart._ewma
            if spec.kind is ChartKind.CUSUM:
                chart._cusum = (last.statistic or 0.0, -(last.lower_statistic or 0.0))
        return chart

    def plot(self, subgroup_id: int, observation: Observation) -> Judged:
        point = self._point(subgroup_id, observation)
        self._count += 1
        self._history.append((subgroup_id, point.z if point.z is not None else math.nan))
        return Judged(point, tuple(self._violations(point)))

    def _point(self, subgroup_id: int, obs: Observation) -> PointRow:
        kind, params, settings = self.spec.kind, self.limits.parameters, self.limits.settings
        version = self.limits.version
        if kind in ATTRIBUTE_CHARTS:
            assert obs.count is not None and obs.size is not None
            panel = build(kind, Counts.of([obs.count], [obs.size]), params).panels[0]
            return PointRow(
                subgroup_id, version, obs.count, obs.size, None, *_at(panel, 0), z=_z(panel, 0)
            )
        assert obs.value is not None and params.sigma is not None
        value = obs.value
        if kind is ChartKind.EWMA:
            self._ewma = settings.ewma_lambda * value + (1 - settings.ewma_lambda) * self._ewma
            sigma = float(ewma_sigma(params.sigma, settings.ewma_lambda, np.array(self._count + 1)))
            width = settings.ewma_l * sigma
            center = params.center
            z = (self._ewma - center) / sigma
            return PointRow(
                subgroup_id, version, None, None, value, self._ewma, None, center,
                center + width, center - width, z,
            )  # fmt: skip
        if kind is ChartKind.CUSUM:
            hi, lo = cusum_step(*self._cusum, value, params.center, settings.cusum_k * params.sigma)
            self._cusum = (hi, lo)
            h = settings.cusum_h * params.sigma
            z = (hi if hi >= lo else -lo) / params.sigma
            return PointRow(subgroup_id, version, None, None, value, hi, -lo, 0.0, h, -h, z)
        previous, self._last_value = self._last_value, value
        series = Values.of([value] if previous is None else [previous, value])
        i_panel, mr_panel = build(ChartKind.IMR, series, params).panels
        last = len(series.x) - 1
        mr = float(mr_panel.statistic[last])
        return PointRow(
            subgroup_id, version, None, None, value, *_at(i_panel, last), z=_z(i_panel, last),
            mr=mr if math.isfinite(mr) else None, mr_ucl=float(mr_panel.ucl[last]),
        )  # fmt: skip

    def _violations(self, point: PointRow) -> list[tuple[Violation, tuple[int, ...]]]:
        ids = [subgroup for subgroup, _ in self._history]
        z = np.array([value for _, value in self._history])
        limit = self.limits.settings.ewma_l if self.spec.kind is ChartKind.EWMA else 3.0
        if self.spec.kind is ChartKind.CUSUM:
            limit = self.limits.settings.cusum_h
        found = [
            (v, tuple(ids[i - 1] for i in v.points))
            for v in check(z, self.spec.rules, limit)
            if v.index == len(z)
        ]
        found += self._moving_range_violation(point)
        return found

    def _moving_range_violation(self, point: PointRow) -> list[tuple[Violation, tuple[int, ...]]]:
        """I-MR: a moving range beyond its UCL, named by the selection's limits rule."""
        if point.mr is None or point.mr_ucl is None or point.mr <= point.mr_ucl:
            return []
        limit_rules = [r for r in self.spec.rules if r.test is SpcRule.BEYOND_LIMITS]
        if not limit_rules:
            return []
        # a moving range spans this point and the one before
        n = len(self._history)
        violation = Violation(limit_rules[0].name, n, (n - 1, n))
        return [(violation, (self._history[-2][0], point.subgroup_id))]


def _at(panel: Panel, i: int) -> tuple[float, float | None, float, float, float]:
    """statistic, lower statistic, centre, UCL, LCL of point i of a panel."""
    return (
        float(panel.statistic[i]),
        None,
        float(panel.center[i]),
        float(panel.ucl[i]),
        float(panel.lcl[i]),
    )


def _z(panel: Panel, i: int) -> float:
    return float(panel.standardized()[i])


# ---------------------------------------------------------------- the engine


@dataclass(frozen=True, slots=True)
class Notice:
    """An event to announce once the subgroup that caused it is committed."""

    kind: EventKind
    severity: Severity
    message: str
    detail: tuple[tuple[str, str | int | float], ...] = ()


class SpcEngine:
    """Subgroups, points, limits and alarms over one connection, on one thread."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        specs: Sequence[MonitorSpec],
        subgroup_size: int,
        baseline_subgroups: int,
        command: str = "inspector run",
        recipe: int | None = None,
    ) -> None:
        self.conn = conn
        self.recipe = recipe  # the product it charts (None: a station without recipes)
        self.specs = tuple(specs)
        self.subgroup_size = subgroup_size
        self.baseline_subgroups = baseline_subgroups
        self.command = command
        self.charts: dict[str, OnlineChart] = {}
        self.parts: list[PartFigures] = []  # the subgroup being filled
        self.notices: list[Notice] = []  # to announce, oldest first
        self._cursor = 0  # the last log row in a subgroup (or SPC's start)
        self._unfreezable: set[str] = set()

    def open(self, before_row: int | None = None) -> SpcEngine:
        """Load limits (freezing given standards), then finish from the log what the
        last run left: the parts (of its recipe) after its last subgroup, up to
        `before_row` (a recipe first seen mid-run: that part and those after it come
        through the sink)."""
        recipe = self.recipe
        with transaction(self.conn):
            last = store.last_subgroup(self.conn, recipe)
            self._cursor = last[1] if last else store.start_row(self.conn)
            definitions = [(s.name, s.definition) for s in self.specs]
            store.save_monitors(self.conn, definitions, recipe)
            store.set_state(self.conn, "baseline_subgroups", str(self.baseline_subgroups))
            for spec in self.specs:
                self._load_limits(spec)
        for part in store.parts_after(self.conn, self._cursor, recipe, before_row):
            self.add(part)
        return self

    def _load_limits(self, spec: MonitorSpec) -> None:
        limits = store.latest_limits(self.conn, spec.name)
        if limits is not None and limits.kind is not spec.kind:
            log.warning(
                "spc monitor %s: its limits are of a %s chart, now %s: Phase I again",
                spec.name, limits.kind.value, spec.kind.value,
            )  # fmt: skip
            limits = None
        if limits is None and spec.standard is not None:
            limits = FrozenLimits(spec.name, 1, spec.kind, spec.standard, spec.settings, "standard")
            store.insert_limits(self.conn, limits, None, self.command)
        if limits is not None:
            self.charts[spec.name] = OnlineChart.restore(spec, limits, self.conn)

    def add(self, part: PartFigures) -> None:
        """One decided part; a full subgroup is charted and committed at once."""
        self.parts.append(part)
        if len(self.parts) >= self.subgroup_size:
            # cleared only once committed: a subgroup whose commit failed is retried
            # with the next part, not lost
            self._close(self.parts[: self.subgroup_size])
            del self.parts[: self.subgroup_size]

    def reload_limits(self) -> None:
        """Pick up limits frozen elsewhere (`inspector spc baseline`)."""
        versions = store.limits_versions(self.conn)
        for spec in self.specs:
            chart = self.charts.get(spec.name)
            newest = versions.get(spec.name)
            if newest is None or (chart is not None and chart.limits.version >= newest):
                continue
            self._load_limits(spec)
            self._notice_limits(self.charts[spec.name].limits)

    def _close(self, parts: list[PartFigures]) -> None:
        notices: list[Notice] = []
        with transaction(self.conn):
            first, last = store.row_id(self.conn, parts[0]), store.row_id(self.conn, parts[-1])
            subgroup = store.insert_subgroup(self.conn, first, last, len(parts))
            for spec in self.specs:
                observation = spec.observe(parts)
                if observation is not None:
                    notices += self._chart(spec, subgroup, observation)
        self._cursor = last
        self.notices += notices

    def _chart(self, spec: MonitorSpec, subgroup: int, observation: Observation) -> list[Notice]:
        chart = self.charts.get(spec.name)
        if chart is None:
            point = PointRow(subgroup, None, observation.count, observation.size, observation.value)
            store.insert_point(self.conn, spec.name, point)
            return self._maybe_freeze(spec, subgroup)
        judged = chart.plot(subgroup, observation)
        store.insert_point(self.conn, spec.name, judged.point)
        notices = []
        for violation, subgroups in judged.violations:
            # a pattern that goes on trips its rule again on every further point: while
            # its alarm is open that is the same alarm, and the operator hears it once
            if store.alarm_open(self.conn, spec.name, violation.rule):
                continue
            alarm = store.insert_alarm(
                self.conn, spec.name, subgroup, violation.rule, int(violation.test), subgroups,
                judged.point.statistic,
            )  # fmt: skip
            notices.append(self._alarm_notice(spec, alarm, violation, subgroup, judged.point))
        return notices

    def _alarm_notice(
        self, spec: MonitorSpec, alarm: int, violation: Violation, subgroup: int, point: PointRow
    ) -> Notice:
        detail: dict[str, str | int | float] = {
            "alarm_id": alarm,
            "monitor": spec.name,
            "chart": spec.kind.value,
            "rule": violation.rule,
            "rule_bit": int(violation.test),
            "subgroup": subgroup,
        }
        for name in ("statistic", "center", "ucl", "lcl"):
            value = getattr(point, name)
            if value is not None:
                detail[name] = value
        if self.recipe is not None:
            detail["recipe"] = self.recipe
        message = f"SPC alarm on {spec.name}: {violation.rule} ({str(violation.test.name).lower()})"
        return Notice(EventKind.SPC_ALARM, Severity.WARNING, message, tuple(detail.items()))

    def _maybe_freeze(self, spec: MonitorSpec, subgroup: int) -> list[Notice]:
        """Phase I: enough points without limits freeze version 1."""
        phase1 = store.points(self.conn, spec.name, unfrozen=True, last=self.baseline_subgroups)
        if len(phase1) < self.baseline_subgroups:
            return []
        try:
            limits = freeze(self.conn, spec, phase1, "phase1", self.command)
        except DataError as exc:
            if spec.name not in self._unfreezable:
                self._unfreezable.add(spec.name)
                log.warning("spc monitor %s stays in Phase I: %s", spec.name, exc)
            return []
        self.charts[spec.name] = OnlineChart(spec, limits)
        return [self._limits_notice(limits)]

    def _notice_limits(self, limits: FrozenLimits) -> None:
        self.notices.append(self._limits_notice(limits))

    def _limits_notice(self, limits: FrozenLimits) -> Notice:
        p = limits.parameters
        sigma = f", sigma {p.sigma:.6g}" if p.sigma is not None else ""
        message = (
            f"SPC limits of {limits.monitor} frozen, version {limits.version} "
            f"({limits.source}): centre {p.center:.6g}{sigma}"
        )
        detail: tuple[tuple[str, str | int | float], ...] = (
            ("monitor", limits.monitor),
            ("version", limits.version),
        )
        if self.recipe is not None:
            detail += (("recipe", self.recipe),)
        return Notice(EventKind.SPC_LIMITS, Severity.INFO, message, detail)

    def take_notices(self) -> list[Notice]:
        notices, self.notices = self.notices, []
        return notices


def freeze(
    conn: sqlite3.Connection,
    spec: MonitorSpec,
    phase1: Sequence[PointRow],
    source: store.LimitsSource,
    command: str,
) -> FrozenLimits:
    """Estimate `spec`'s limits from `phase1` points and store them as the next version
    (in the caller's transaction). DataError when those points give no limits."""
    if spec.counts:
        series: Counts | Values = Counts.of([p.count for p in phase1], [p.size for p in phase1])
    else:
        series = Values.of([p.value for p in phase1])
    parameters = estimate(spec.kind, series)
    previous = store.latest_limits(conn, spec.name)
    version = previous.version + 1 if previous else 1
    limits = FrozenLimits(spec.name, version, spec.kind, parameters, spec.settings, source)
    store.insert_limits(conn, limits, (phase1[0].subgroup_id, phase1[-1].subgroup_id), command)
    return limits


# ---------------------------------------------------------------- the sink


# Opens a recipe's engine when its first part arrives: (recipe, its model's class
# names, that part's log row); None where the recipe keeps no SPC.
EngineOpener = Callable[[int, tuple[str, ...], int | None], "SpcEngine | None"]


class SpcSink(Sink):
    """The monitors on their own thread: records in, subgroups and alarms out; every
    `tick_s` it also takes acknowledgements (the PLC's, the CLI's) and limits frozen
    by `inspector spc baseline`, and tells the listeners the open alarms' mask.

    On a station with recipes each recipe has its own engine (its own monitors,
    Phase I and limits), and a part goes to the engine of the recipe on its record:
    the recipe that judged it, so a switch needs no message of its own and no part is
    charted with another product's. An engine other than the start recipe's opens
    (via `opener`, on this thread) with the first part of its recipe."""

    name = "spc"
    tick_s = 0.2

    def __init__(
        self,
        engine: SpcEngine | None,
        class_names: Sequence[str],
        opener: EngineOpener | None = None,
        image_health: bool | None = None,
        *,
        recipe: int | None = None,
        conn: sqlite3.Connection | None = None,
    ) -> None:
        """`engine`: the start recipe's (`recipe`), None where that recipe keeps no
        SPC (then `conn` is the sink's connection)."""
        if engine is not None:
            recipe, conn = engine.recipe, engine.conn
        if conn is None:
            raise InspectorError("SpcSink: give an engine or a connection")
        self.conn = conn
        self.engine = engine
        self.engines: dict[int | None, SpcEngine | None] = {recipe: engine}
        self._opener = opener
        self._class_names = tuple(class_names)
        self._image_health = image_health
        self._announce: Announce | None = None
        self._ack_requested = threading.Event()
        self._announced_mask: int | None = None  # None: not told yet since start
        self._last_seq: dict[str, int] = {}

    @property
    def wants_image_health(self) -> bool:
        """Whether a monitor charts image figures (else the worker never measures them);
        the factory says so for every recipe's monitors."""
        if self._image_health is not None:
            return self._image_health
        specs = self.engine.specs if self.engine is not None else ()
        return any(spec.measure in IMAGE_MEASURES for spec in specs)

    def bind(self, announce: Announce) -> None:
        """Where events go: the station binds every sink when it is built."""
        self._announce = announce

    def request_ack(self) -> None:
        """The PLC's SPC_ACK edge (any thread): acknowledged on the next tick."""
        self._ack_requested.set()

    def handle(self, record: Inspection) -> None:
        self.handle_batch([record])

    def handle_batch(self, records: Sequence[Inspection]) -> list[Exception]:
        """Records in order; a failure (the store's) stops the batch: the parts after it
        are read back from the log with the next record, as any gap is."""
        try:
            for record in records:
                self._fill_gap(record)
                names = record.names(self._class_names)
                figures = part_figures(record, names)
                if figures is not None:
                    self._add(figures, tuple(names))
        finally:
            if self._noticed():
                self._flush()
        return []

    def tick(self) -> None:
        conn = self.conn
        if self._ack_requested.is_set():
            self._ack_requested.clear()
            with transaction(conn):
                acknowledged = store.acknowledge(conn, "plc", "SPC_ACK")
            if acknowledged:
                log.info("spc: %d alarm(s) acknowledged by the PLC", acknowledged)
        for engine in self._open_engines():
            engine.reload_limits()
        self._flush(check_mask=True)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.conn.close()

    def _open_engines(self) -> list[SpcEngine]:
        return [engine for engine in self.engines.values() if engine is not None]

    def _noticed(self) -> bool:
        return any(engine.notices for engine in self._open_engines())

    def _add(self, part: PartFigures, class_names: tuple[str, ...]) -> None:
        engine = self._engine_of(part, class_names)
        if engine is not None:
            engine.add(part)

    def _engine_of(self, part: PartFigures, class_names: tuple[str, ...]) -> SpcEngine | None:
        if self._opener is None:  # a station without recipes charts every part
            return self.engine
        if part.recipe in self.engines:
            return self.engines[part.recipe]
        engine = None
        if part.recipe is not None:
            before = store.row_id(self.conn, part)
            engine = self._opener(part.recipe, class_names, before)
            log.info("spc: recipe %d's monitors opened", part.recipe)
        self.engines[part.recipe] = engine
        return engine

    def _fill_gap(self, record: Inspection) -> None:
        """Parts this sink never got (its queue was full) are read back from the log."""
        last = self._last_seq.get(record.run_id, 0)
        self._last_seq = {record.run_id: record.seq}
        if record.seq > last + 1:
            for part in store.parts_of_run(self.conn, record.run_id, last, record.seq):
                # a part read back is charted with its recipe's engine; one first seen
                # here takes the start recipe's class names (its record is gone)
                self._add(part, self._class_names)

    def _flush(self, check_mask: bool = False) -> None:
        """Announce what the engine noticed, then the open alarms' mask if it changed
        (read from the store only with news or on a tick: a query per part would cost
        more than the monitors themselves)."""
        announce = self._announce
        if announce is None or not (check_mask or self._noticed()):
            return
        mask = store.open_mask(self.conn)
        notices = [n for engine in self._open_engines() for n in engine.take_notices()]
        for notice in notices:
            detail = dict(notice.detail)
            if notice.kind is EventKind.SPC_ALARM:
                detail["active_mask"] = mask
                self._announced_mask = mask
            announce(notice.kind, notice.severity, notice.message, **detail)
        if mask != self._announced_mask:
            self._announce_mask(announce, mask)

    def _announce_mask(self, announce: Announce, mask: int) -> None:
        previous, self._announced_mask = self._announced_mask, mask
        if previous is None:  # the first tick: alarms left open by an earlier run
            if mask:
                announce(
                    EventKind.SPC_ALARM,
                    Severity.WARNING,
                    "SPC alarms still open from before the start",
                    active_mask=mask,
                )
            return
        announce(
            EventKind.SPC_ACKNOWLEDGED,
            Severity.INFO,
            "SPC alarms acknowledged" + ("" if not mask else ", some still open"),
            active_mask=mask,
        )


def stored_specs(conn: sqlite3.Connection) -> tuple[MonitorSpec, ...]:
    """The monitors the station last ran with, as it stored them."""
    return tuple(
        MonitorSpec.from_config(SpcMonitorConfig.model_validate_json(definition))
        for definition in store.monitors(conn)
    )


def rebaseline(
    conn: sqlite3.Connection, spec: MonitorSpec, subgroups: int, command: str
) -> FrozenLimits:
    """`inspector spc baseline`: freeze `spec`'s limits again from its newest
    `subgroups` points, as a new version, and write the change to the audit log; one
    transaction. A running station takes the new version within a tick."""
    with transaction(conn):
        history = store.points(conn, spec.name, last=subgroups)
        if len(history) < subgroups:
            raise DataError(
                f"spc monitor {spec.name}: {len(history)} points stored, {subgroups} needed"
            )
        old = store.latest_limits(conn, spec.name)
        limits = freeze(conn, spec, history, "baseline", command)
        record_change(
            conn,
            AuditKind.SPC_LIMITS,
            spec.name,
            _limits_text(old),
            _limits_text(limits),
            command,
            {"version": limits.version, "subgroups": subgroups},
        )
    return limits


def _limits_text(limits: FrozenLimits | None) -> str | None:
    if limits is None:
        return None
    p = limits.parameters
    sigma = f" sigma={p.sigma:.6g}" if p.sigma is not None else ""
    return f"v{limits.version} {limits.kind.value} center={p.center:.6g}{sigma}"
