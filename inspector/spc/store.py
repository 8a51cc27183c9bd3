"""SPC's tables in the station's store (migration 4): subgroups, points, frozen limits,
alarms, and the log rows SPC rebuilds subgroups from.

Every function takes a ready connection and, where it writes, runs inside the caller's
transaction (`store.db.transaction`), so a subgroup, its points, its alarms and a limits
version frozen by it commit together or not at all.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from inspector.spc.charts import ChartKind, ChartSettings, ProcessParameters

__all__ = [
    "AlarmRow",
    "FrozenLimits",
    "LimitsSource",
    "PartFigures",
    "PointRow",
    "acknowledge",
    "insert_alarm",
    "insert_limits",
    "insert_point",
    "insert_subgroup",
    "latest_limits",
    "limits_versions",
    "monitors",
    "open_alarms",
    "open_mask",
    "parts_after",
    "parts_of_run",
    "points",
    "row_id",
    "save_monitors",
    "set_state",
    "start_row",
    "state",
]

LimitsSource = str  # 'phase1' (collected), 'baseline' (spc baseline), 'standard' (config)

_PART_COLUMNS = "id, run_id, seq, verdict, defect_count, defect_classes, brightness, focus, recipe"
# A recipe's parts (`recipe IS ?`), or every part on a station without recipes (None).
Recipe = int | None


@dataclass(frozen=True, slots=True)
class PartFigures:
    """What SPC takes from one decided part, from its record or its log row."""

    row_id: int | None  # the inspections row, where known (rows read back from the log)
    run_id: str
    seq: int
    failed: bool
    defects: int
    classes: Mapping[str, int]
    brightness: float | None
    focus: float | None
    recipe: int | None = None  # the recipe that judged it: its monitors chart it

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> PartFigures:
        row_id, run_id, seq, verdict, defects, classes, brightness, focus, recipe = row
        return cls(
            row_id,
            run_id or "",
            seq,
            verdict == "FAIL",
            defects,
            MappingProxyType(json.loads(classes) if classes else {}),
            brightness,
            focus,
            recipe,
        )


@dataclass(frozen=True, slots=True)
class FrozenLimits:
    """One version of a monitor's limits."""

    monitor: str
    version: int
    kind: ChartKind
    parameters: ProcessParameters
    settings: ChartSettings
    source: LimitsSource


@dataclass(frozen=True, slots=True)
class PointRow:
    """One monitor's point of one subgroup, as stored."""

    subgroup_id: int
    limits_version: int | None
    count: float | None
    size: float | None
    value: float | None
    statistic: float | None = None
    lower_statistic: float | None = None
    center: float | None = None
    ucl: float | None = None
    lcl: float | None = None
    z: float | None = None
    mr: float | None = None
    mr_ucl: float | None = None


@dataclass(frozen=True, slots=True)
class AlarmRow:
    id: int
    monitor: str
    subgroup_id: int
    rule: str
    bit: int
    points: tuple[int, ...]
    statistic: float | None
    wall_time: float
    acked_at: float | None
    acked_by: str | None


# ---------------------------------------------------------------- the log's parts


def start_row(conn: sqlite3.Connection) -> int:
    """The log row SPC starts after: the newest row when SPC first ran (set then, in
    the caller's transaction), so enabling SPC never charts the log's history."""
    row = conn.execute("SELECT value FROM spc_state WHERE key = 'start_row'").fetchone()
    if row is not None:
        return int(row[0])
    newest = conn.execute("SELECT coalesce(max(id), 0) FROM inspections").fetchone()[0]
    conn.execute("INSERT INTO spc_state (key, value) VALUES ('start_row', ?)", (str(newest),))
    return int(newest)


def set_state(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO spc_state (key, value) VALUES (?, ?)", (key, value))


def state(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM spc_state WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def save_monitors(
    conn: sqlite3.Connection, definitions: Sequence[tuple[str, str]], recipe: Recipe = None
) -> None:
    """The monitors a station runs with (name, config JSON), replacing the last set: of
    that recipe only, where it has recipes (each recipe's monitors are its own)."""
    scope = "" if recipe is None else f"r{recipe}:"
    conn.execute("DELETE FROM spc_state WHERE key LIKE ?", (f"monitor:{scope}%",))
    for order, (name, definition) in enumerate(definitions):
        set_state(conn, f"monitor:{scope}{order:04d}:{name}", definition)


def monitors(conn: sqlite3.Connection) -> list[str]:
    """The config JSON of each monitor the station last ran with, in its order."""
    rows = conn.execute(
        "SELECT value FROM spc_state WHERE key LIKE 'monitor:%' ORDER BY key"
    ).fetchall()
    return [row[0] for row in rows]


def parts_after(
    conn: sqlite3.Connection,
    after_row: int,
    recipe: Recipe = None,
    before_row: int | None = None,
) -> list[PartFigures]:
    """Decided parts logged after `after_row` (and before `before_row`), of `recipe`
    where given, in log order."""
    where = "id > ? AND verdict != 'NO_DECISION'"
    params: list[object] = [after_row]
    if recipe is not None:
        where += " AND recipe IS ?"
        params.append(recipe)
    if before_row is not None:
        where += " AND id < ?"
        params.append(before_row)
    rows = conn.execute(
        f"SELECT {_PART_COLUMNS} FROM inspections WHERE {where} ORDER BY id", params
    ).fetchall()
    return [PartFigures.from_row(row) for row in rows]


def parts_of_run(
    conn: sqlite3.Connection, run_id: str, after_seq: int, before_seq: int
) -> list[PartFigures]:
    """Decided parts of run `run_id` with after_seq < seq < before_seq (a gap a sink
    that fell behind left), in log order."""
    rows = conn.execute(
        f"SELECT {_PART_COLUMNS} FROM inspections WHERE run_id = ? AND seq > ? AND seq < ? "
        "AND verdict != 'NO_DECISION' ORDER BY id",
        (run_id, after_seq, before_seq),
    ).fetchall()
    return [PartFigures.from_row(row) for row in rows]


def row_id(conn: sqlite3.Connection, part: PartFigures) -> int:
    if part.row_id is not None:
        return part.row_id
    row = conn.execute(
        "SELECT max(id) FROM inspections WHERE run_id = ? AND seq = ?", (part.run_id, part.seq)
    ).fetchone()
    if row is None or row[0] is None:
        raise sqlite3.IntegrityError(f"no log row of part {part.seq} (run {part.run_id!r})")
    return int(row[0])


def last_subgroup(conn: sqlite3.Connection, recipe: Recipe = None) -> tuple[int, int] | None:
    """(id, last_row) of the newest subgroup (of `recipe`'s parts where given: a
    subgroup holds one recipe's parts, so its last row names it), None before the first."""
    query = "SELECT id, last_row FROM spc_subgroups ORDER BY id DESC LIMIT 1"
    params: tuple[object, ...] = ()
    if recipe is not None:
        query = (
            "SELECT s.id, s.last_row FROM spc_subgroups s JOIN inspections i "
            "ON i.id = s.last_row WHERE i.recipe IS ? ORDER BY s.id DESC LIMIT 1"
        )
        params = (recipe,)
    row = conn.execute(query, params).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def insert_subgroup(conn: sqlite3.Connection, first_row: int, last_row: int, parts: int) -> int:
    cursor = conn.execute(
        "INSERT INTO spc_subgroups (first_row, last_row, parts, wall_time) VALUES (?, ?, ?, ?)",
        (first_row, last_row, parts, time.time()),
    )
    assert cursor.lastrowid is not None  # an INSERT always sets it
    return cursor.lastrowid


# ---------------------------------------------------------------- points


def insert_point(conn: sqlite3.Connection, monitor: str, point: PointRow) -> None:
    conn.execute(
        "INSERT INTO spc_points (subgroup_id, monitor, limits_version, count, size, value, "
        "statistic, lower_statistic, center, ucl, lcl, z, mr, mr_ucl) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            point.subgroup_id,
            monitor,
            point.limits_version,
            *(
                _finite(v)
                for v in (
                    point.count,
                    point.size,
                    point.value,
                    point.statistic,
                    point.lower_statistic,
                    point.center,
                    point.ucl,
                    point.lcl,
                    point.z,
                    point.mr,
                    point.mr_ucl,
                )
            ),
        ),
    )


def points(
    conn: sqlite3.Connection,
    monitor: str,
    *,
    version: int | None = None,
    unfrozen: bool = False,
    last: int | None = None,
) -> list[PointRow]:
    """A monitor's points in subgroup order: all, those judged by limits `version`, or
    those of Phase I (`unfrozen`, no limits yet); only the `last` ones when given."""
    where = "monitor = ?"
    params: list[object] = [monitor]
    if version is not None:
        where += " AND limits_version = ?"
        params.append(version)
    if unfrozen:
        where += " AND limits_version IS NULL"
    limit = f" LIMIT {int(last)}" if last is not None else ""
    rows = conn.execute(
        "SELECT subgroup_id, limits_version, count, size, value, statistic, lower_statistic, "
        f"center, ucl, lcl, z, mr, mr_ucl FROM spc_points WHERE {where} "
        f"ORDER BY subgroup_id DESC{limit}",
        params,
    ).fetchall()
    return [PointRow(*row) for row in reversed(rows)]


# ---------------------------------------------------------------- limits


def insert_limits(
    conn: sqlite3.Connection,
    limits: FrozenLimits,
    subgroups: tuple[int, int] | None,
    command: str,
) -> None:
    settings = limits.settings
    conn.execute(
        "INSERT INTO spc_limits (monitor, version, chart, center, sigma, phase1_points, "
        "first_subgroup, last_subgroup, source, settings, command, wall_time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            limits.monitor,
            limits.version,
            limits.kind.value,
            limits.parameters.center,
            limits.parameters.sigma,
            limits.parameters.phase1_points,
            subgroups[0] if subgroups else None,
            subgroups[1] if subgroups else None,
            limits.source,
            json.dumps(
                {
                    "ewma_lambda": settings.ewma_lambda,
                    "ewma_l": settings.ewma_l,
                    "cusum_k": settings.cusum_k,
                    "cusum_h": settings.cusum_h,
                }
            ),
            command,
            time.time(),
        ),
    )


def latest_limits(conn: sqlite3.Connection, monitor: str) -> FrozenLimits | None:
    row = conn.execute(
        "SELECT version, chart, center, sigma, phase1_points, settings, source "
        "FROM spc_limits WHERE monitor = ? ORDER BY version DESC LIMIT 1",
        (monitor,),
    ).fetchone()
    if row is None:
        return None
    version, chart, center, sigma, phase1_points, settings, source = row
    return FrozenLimits(
        monitor,
        version,
        ChartKind(chart),
        ProcessParameters(center, sigma, phase1_points),
        ChartSettings(**json.loads(settings)),
        source,
    )


def limits_versions(conn: sqlite3.Connection) -> dict[str, int]:
    """The newest limits version of every monitor that has one."""
    rows = conn.execute("SELECT monitor, max(version) FROM spc_limits GROUP BY monitor")
    return {monitor: int(version) for monitor, version in rows}


# ---------------------------------------------------------------- alarms


def insert_alarm(
    conn: sqlite3.Connection,
    monitor: str,
    subgroup_id: int,
    rule: str,
    bit: int,
    subgroups: Iterable[int],
    statistic: float | None,
) -> int:
    cursor = conn.execute(
        "INSERT INTO spc_alarms (monitor, subgroup_id, rule, bit, points, statistic, wall_time) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (monitor, subgroup_id, rule, bit, json.dumps(list(subgroups)), statistic, time.time()),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def alarm_open(conn: sqlite3.Connection, monitor: str, rule: str) -> bool:
    """Whether `monitor` has an unacknowledged alarm for `rule`."""
    row = conn.execute(
        "SELECT 1 FROM spc_alarms WHERE monitor = ? AND rule = ? AND acked_at IS NULL LIMIT 1",
        (monitor, rule),
    ).fetchone()
    return row is not None


def open_mask(conn: sqlite3.Connection) -> int:
    """SPC_RULE_MASK: the bits of every unacknowledged alarm."""
    mask = 0
    for (bit,) in conn.execute("SELECT DISTINCT bit FROM spc_alarms WHERE acked_at IS NULL"):
        mask |= int(bit)
    return mask


def open_alarms(conn: sqlite3.Connection, include_acked: bool = False) -> list[AlarmRow]:
    where = "" if include_acked else " WHERE acked_at IS NULL"
    rows = conn.execute(
        "SELECT id, monitor, subgroup_id, rule, bit, points, statistic, wall_time, acked_at, "
        f"acked_by FROM spc_alarms{where} ORDER BY id"
    ).fetchall()
    return [AlarmRow(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), *r[6:]) for r in rows]


def acknowledge(
    conn: sqlite3.Connection, by: str, note: str = "", alarm_ids: Sequence[int] | None = None
) -> int:
    """Acknowledge open alarms (all, or those of `alarm_ids`); how many were open."""
    query = "UPDATE spc_alarms SET acked_at = ?, acked_by = ?, note = ? WHERE acked_at IS NULL"
    params: list[object] = [time.time(), by, note]
    if alarm_ids is not None:
        query += f" AND id IN ({', '.join('?' * len(alarm_ids))})"
        params += list(alarm_ids)
    return conn.execute(query, params).rowcount


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
