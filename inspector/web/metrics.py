"""The station's Prometheus metrics, on a registry of its own (never the global one).

Counters and histograms are fed by the dashboard's listener on its own thread; the
figures that belong to the station at the moment of a scrape (queue depths, dropped
frames, the outbox backlog, open SPC alarms) are read by a collector when scraped."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from inspector.store.db import open_readonly
from inspector.types import EventKind, Inspection, StageTimes, StationEvent, Verdict

__all__ = ["STAGES", "StationGauges", "StationMetrics", "stage_seconds"]

# (stage, from, to): the stages of StageTimes, each a difference of two timestamps.
# StageTimes does not split the letterbox from the model call: "detect" is both (and
# the decoding); "queue" is the wait for the worker and the part locator.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("capture", "trigger", "capture"),
    ("queue", "capture", "detect_start"),
    ("detect", "detect_start", "detect_end"),
    ("judge", "detect_end", "judged"),
    ("plc_write", "judged", "plc_write"),
    ("total", "trigger", "judged"),
)

_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
_RECONNECT_EVENTS = {EventKind.CAMERA_LOST: "camera", EventKind.LINK_DOWN: "link"}


def stage_seconds(times: StageTimes) -> Iterator[tuple[str, float]]:
    """Each stage that happened, in seconds; a frame taken before its trigger (a
    frame-driven trigger) counts 0 for capture, never negative."""
    for stage, start, end in STAGES:
        seconds = getattr(times, end) - getattr(times, start)
        if math.isfinite(seconds):
            yield stage, max(seconds, 0.0)


class StationMetrics:
    """What the listener counts: parts by verdict, defects by class, stage latencies,
    reconnects and SPC alarms announced."""

    def __init__(self, class_names: tuple[str, ...]) -> None:
        self.class_names = class_names
        self.registry = CollectorRegistry(auto_describe=True)
        self.parts = Counter(
            "inspector_parts", "Parts inspected, by verdict.", ["verdict"], registry=self.registry
        )
        self.defects = Counter(
            "inspector_defects", "Defects found, by class.", ["cls"], registry=self.registry
        )
        self.failed_by_class = Counter(
            "inspector_failed_parts",
            "Failed parts, by the class of their worst defect.",
            ["cls"],
            registry=self.registry,
        )
        self.stage = Histogram(
            "inspector_stage_seconds",
            "Seconds each stage of an inspection took.",
            ["stage"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.reconnects = Counter(
            "inspector_link_losses",
            "Times a camera or a sink's peer was lost (each is followed by reconnecting).",
            ["link"],
            registry=self.registry,
        )
        self.spc_alarms = Counter(
            "inspector_spc_alarms", "SPC alarms raised.", registry=self.registry
        )
        for verdict in Verdict:  # every verdict is a series from the start, at 0
            self.parts.labels(verdict.value)

    def observe(self, record: Inspection) -> None:
        self.parts.labels(record.verdict.value).inc()
        for class_id in record.judgement.defects.class_id.tolist():
            self.defects.labels(self._name(class_id)).inc()
        code = record.result_code
        if record.verdict is Verdict.FAIL and code > 0:
            self.failed_by_class.labels(self._name(code - 1)).inc()
        for stage, seconds in stage_seconds(record.times):
            self.stage.labels(stage).observe(seconds)

    def observe_event(self, event: StationEvent) -> None:
        link = _RECONNECT_EVENTS.get(event.kind)
        if link is not None:
            self.reconnects.labels(str(event.detail.get("sink", link))).inc()
        elif event.kind is EventKind.SPC_ALARM:
            self.spc_alarms.inc()

    def _name(self, class_id: int) -> str:
        names = self.class_names
        return names[class_id] if 0 <= class_id < len(names) else str(class_id)


@dataclass(frozen=True)
class StationGauges(Collector):
    """Read at scrape time: `depths` (sink -> queued items), `dropped` (sink -> records
    dropped), `frames_dropped` (overruns and undecodable frames) and, from the log,
    the MQTT outbox backlog and the open SPC alarms."""

    depths: Callable[[], dict[str, int]]
    dropped: Callable[[], dict[str, int]]
    frames_dropped: Callable[[], dict[str, int]]
    database: Path

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "inspector_queue_depth", "Items waiting in each sink's queue.", labels=["sink"]
        )
        for sink, value in self.depths().items():
            depth.add_metric([sink], value)
        yield depth
        dropped = CounterMetricFamily(
            "inspector_sink_dropped_records", "Records a sink dropped (behind).", labels=["sink"]
        )
        for sink, value in self.dropped().items():
            dropped.add_metric([sink], value)
        yield dropped
        frames = CounterMetricFamily(
            "inspector_frames_dropped", "Parts or frames lost before inspection.", labels=["why"]
        )
        for why, value in self.frames_dropped().items():
            frames.add_metric([why], value)
        yield frames
        yield from self._from_log()

    def _from_log(self) -> Iterator[Metric]:
        backlog, alarms = _log_figures(self.database)
        if backlog is not None:
            yield GaugeMetricFamily(
                "inspector_mqtt_outbox_backlog", "MQTT messages not yet delivered.", value=backlog
            )
        if alarms is not None:
            yield GaugeMetricFamily(
                "inspector_spc_open_alarms", "SPC alarms not yet acknowledged.", value=alarms
            )


def _log_figures(database: Path) -> tuple[int | None, int | None]:
    """The outbox backlog and the open SPC alarms; None for what the log cannot say."""
    try:
        conn = open_readonly(database)
    except Exception:  # no log yet: nothing to report, never a failed scrape
        return None, None
    try:
        return (
            _count(conn, "SELECT count(*) FROM outbox"),
            _count(conn, "SELECT count(*) FROM spc_alarms WHERE acked_at IS NULL"),
        )
    finally:
        conn.close()


def _count(conn: sqlite3.Connection, query: str) -> int | None:
    try:
        return int(conn.execute(query).fetchone()[0])
    except sqlite3.Error:  # an older log without that table
        return None
