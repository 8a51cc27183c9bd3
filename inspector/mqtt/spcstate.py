"""The retained `spc` payload: the station's SPC state, read from its store.

Built off the PLC's path, on the MQTT sink's thread, when an SPC event says the state
changed (an alarm, an acknowledgement, new limits) and once at start, so a dashboard
that subscribes later reads the charts' state and the open alarms from one retained
message instead of replaying events. Its JSON Schema is `schemas/spc.v1.json`.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from inspector.errors import InspectorError
from inspector.mqtt.payloads import SCHEMA_VERSION, encode, iso_utc
from inspector.spc import store
from inspector.spc.config import SpcMonitorConfig
from inspector.spc.monitor import MonitorSpec
from inspector.spc.store import AlarmRow, FrozenLimits, PointRow
from inspector.types import EventKind

__all__ = ["SPC_EVENTS", "SpcStateBuilder"]

# The events after which the state is read again.
SPC_EVENTS = frozenset({EventKind.SPC_ALARM, EventKind.SPC_ACKNOWLEDGED, EventKind.SPC_LIMITS})

# What each alarm costs in the payload, roughly; used only to bound the list quickly.
_ALARM_BYTES = 256


@dataclass(frozen=True)
class SpcStateBuilder:
    """The `spc` payload of one station; `enabled` says whether it runs SPC now."""

    line: str
    station: str
    store_id: str
    enabled: bool
    max_bytes: int

    def __call__(self, conn: sqlite3.Connection) -> bytes:
        """The state as the store holds it now (one read transaction: a consistent view
        even while the SPC sink commits)."""
        conn.execute("BEGIN")
        try:
            specs = _specs(conn)
            monitors = [_monitor(conn, spec) for spec in specs]
            alarms = store.open_alarms(conn)
            mask = store.open_mask(conn)
        finally:
            conn.execute("COMMIT")
        now = time.time()
        doc: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "line": self.line,
            "station": self.station,
            "store_id": self.store_id,
            "time": iso_utc(now),
            "epoch_s": round(now, 6),
            "enabled": self.enabled,
            "active_mask": mask,
            "monitors": monitors,
            "alarms": [_alarm(alarm) for alarm in alarms],
            "alarms_truncated": 0,
        }
        payload = encode(doc)
        if len(payload) > self.max_bytes:
            payload = self._fitted(doc)
        return payload

    def _fitted(self, doc: dict[str, Any]) -> bytes:
        """The oldest open alarms that fit: an alarm storm must not make the state
        message one the broker refuses."""
        alarms = doc["alarms"]
        keep = max(0, (self.max_bytes - len(encode({**doc, "alarms": []}))) // _ALARM_BYTES)
        while True:
            doc["alarms"] = alarms[:keep]
            doc["alarms_truncated"] = len(alarms) - keep
            payload = encode(doc)
            if len(payload) <= self.max_bytes or keep == 0:
                return payload
            keep //= 2


def _specs(conn: sqlite3.Connection) -> list[MonitorSpec]:
    """The monitors the station last ran with; one whose stored definition no longer
    parses (written by another release) is left out rather than failing the state."""
    specs = []
    for definition in store.monitors(conn):
        try:
            specs.append(MonitorSpec.from_config(SpcMonitorConfig.model_validate_json(definition)))
        except (ValueError, InspectorError):  # pydantic's errors are ValueErrors
            continue
    return specs


def _monitor(conn: sqlite3.Connection, spec: MonitorSpec) -> dict[str, Any]:
    limits = store.latest_limits(conn, spec.name)
    last = store.points(conn, spec.name, last=1)
    return {
        "name": spec.name,
        "measure": spec.measure,
        "chart": spec.kind.value,
        "class_name": spec.class_name,
        "limits": _limits(limits) if limits is not None else None,
        "last_point": _point(last[0]) if last else None,
    }


def _limits(limits: FrozenLimits) -> dict[str, Any]:
    p = limits.parameters
    return {
        "version": limits.version,
        "source": limits.source,
        "center": p.center,
        "sigma": p.sigma,
        "phase1_points": p.phase1_points,
    }


def _point(point: PointRow) -> dict[str, Any]:
    return {
        "subgroup": point.subgroup_id,
        "limits_version": point.limits_version,
        "statistic": point.statistic,
        "center": point.center,
        "ucl": point.ucl,
        "lcl": point.lcl,
    }


def _alarm(alarm: AlarmRow) -> dict[str, Any]:
    return {
        "alarm_id": alarm.id,
        "monitor": alarm.monitor,
        "rule": alarm.rule,
        "rule_bit": alarm.bit,
        "subgroup": alarm.subgroup_id,
        "points": list(alarm.points),
        "statistic": alarm.statistic,
        "time": iso_utc(alarm.wall_time),
        "epoch_s": round(alarm.wall_time, 6),
    }
