"""`inspector spc report`: one printable HTML page of the station's SPC.

For every monitor: its chart (matplotlib, Agg backend, embedded as a base64 PNG) of the
newest points against its current limits, Phase I points marked, alarms circled; its
limits versions; then the open and acknowledged alarms and the audit trail of limit
changes. The page needs nothing but a browser: no scripts, no files beside it.
matplotlib comes with the `report` extra; without it this command says so.
"""

from __future__ import annotations

import base64
import html
import io
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inspector.errors import ConfigError, DataError
from inspector.spc import store
from inspector.spc.charts import (
    ATTRIBUTE_CHARTS,
    Chart,
    Counts,
    Values,
    build,
)
from inspector.spc.monitor import MonitorSpec, stored_specs
from inspector.spc.store import AlarmRow, FrozenLimits, PointRow

__all__ = ["MonitorSection", "render_report", "write_report"]


@dataclass(frozen=True, slots=True)
class MonitorSection:
    """What the report shows of one monitor."""

    spec: MonitorSpec
    limits: FrozenLimits | None
    points: tuple[PointRow, ...]
    alarm_subgroups: frozenset[int]


def write_report(conn: sqlite3.Connection, out: Path, last: int = 200) -> int:
    """Render the report of the store behind `conn` into `out`; the monitors shown."""
    sections = _sections(conn, last)
    alarms = store.open_alarms(conn, include_acked=True)
    page = render_report(sections, alarms[-200:], _audit(conn), _database(conn))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{out}: cannot write ({exc.strerror})") from None
    return len(sections)


def _sections(conn: sqlite3.Connection, last: int) -> list[MonitorSection]:
    specs = stored_specs(conn)
    if not specs:
        raise DataError("no SPC monitors in this store: has a station run with spc.enabled?")
    alarms = store.open_alarms(conn, include_acked=True)
    return [
        MonitorSection(
            spec,
            store.latest_limits(conn, spec.name),
            tuple(store.points(conn, spec.name, last=last)),
            frozenset(a.subgroup_id for a in alarms if a.monitor == spec.name),
        )
        for spec in specs
    ]


def _audit(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT wall_time, subject, old_hash, new_hash, command FROM audit "
        "WHERE kind = 'spc_limits' ORDER BY id DESC LIMIT 50"
    ).fetchall()


def _database(conn: sqlite3.Connection) -> str:
    for _, name, file in conn.execute("PRAGMA database_list"):
        if name == "main":
            return str(file)
    return "?"


# ---------------------------------------------------------------- the page


def render_report(
    sections: list[MonitorSection],
    alarms: list[AlarmRow],
    audit: list[tuple[Any, ...]],
    database: str,
) -> str:
    pyplot = _pyplot()
    body = [
        f"<h1>SPC report</h1><p>{html.escape(database)} &middot; {_when(time.time())}</p>",
        *(_section_html(section, pyplot) for section in sections),
        _alarms_html(alarms),
        _audit_html(audit),
    ]
    return _PAGE.format(body="\n".join(body))


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display; must come before pyplot
        from matplotlib import pyplot
    except ImportError:
        raise ConfigError("spc report needs matplotlib: pip install 'inspector[report]'") from None
    return pyplot


def _section_html(section: MonitorSection, pyplot: Any) -> str:
    spec, limits = section.spec, section.limits
    title = f"{spec.name}: {spec.measure} on a {spec.kind.value} chart"
    if not section.points:
        return f"<h2>{html.escape(title)}</h2><p>No points yet.</p>"
    if limits is None:
        status = f"Phase I: {len(section.points)} points, no limits frozen yet."
        chart = None
    else:
        p = limits.parameters
        sigma = f", sigma {p.sigma:.6g}" if p.sigma is not None else ""
        status = (
            f"Limits version {limits.version} ({limits.source}): centre {p.center:.6g}{sigma}, "
            f"from {p.phase1_points or 'given'} points. Rules: "
            f"{', '.join(r.name for r in spec.rules)}."
        )
        chart = _chart(section, limits)
    image = _plot(section, chart, pyplot)
    return (
        f"<section><h2>{html.escape(title)}</h2><p>{html.escape(status)}</p>"
        f'<img alt="{html.escape(spec.name)} chart" src="data:image/png;base64,{image}"></section>'
    )


def _chart(section: MonitorSection, limits: FrozenLimits) -> Chart:
    """The points against the current limits, as `spc analyze` would draw them."""
    rows = section.points
    if section.spec.kind in ATTRIBUTE_CHARTS:
        series: Counts | Values = Counts.of([r.count for r in rows], [r.size for r in rows])
    else:
        series = Values.of([r.value for r in rows])
    return build(limits.kind, series, limits.parameters, limits.settings)


def _plot(section: MonitorSection, chart: Chart | None, pyplot: Any) -> str:
    rows = section.points
    x = np.array([r.subgroup_id for r in rows])
    panels = chart.panels if chart is not None else ()
    figure, axes = pyplot.subplots(
        max(1, len(panels)), 1, figsize=(10, 3.2 * max(1, len(panels))), squeeze=False
    )
    try:
        if chart is None:
            y = [r.statistic if r.statistic is not None else r.value for r in rows]
            if section.spec.kind in ATTRIBUTE_CHARTS:
                y = [(r.count or 0) / (r.size or 1) for r in rows]
            axes[0][0].plot(x, y, marker="o", color="grey", label="phase I")
        for axis, panel in zip(axes[:, 0], panels, strict=False):
            _draw_panel(axis, x, panel, rows, section.alarm_subgroups)
        axes[-1][0].set_xlabel("subgroup")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90)
    finally:
        pyplot.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _draw_panel(
    axis: Any, x: np.ndarray, panel: Any, rows: tuple[PointRow, ...], alarms: frozenset[int]
) -> None:
    axis.plot(x, panel.statistic, marker="o", markersize=3, color="black", linewidth=1)
    if panel.lower_statistic is not None:
        axis.plot(x, panel.lower_statistic, marker="o", markersize=3, color="dimgrey")
    axis.step(x, panel.ucl, where="mid", color="red", linewidth=1, label="UCL")
    axis.step(x, panel.lcl, where="mid", color="red", linewidth=1, label="LCL")
    axis.step(x, panel.center, where="mid", color="green", linewidth=1, label="centre")
    phase1 = np.array([r.limits_version is None for r in rows])
    if phase1.any():
        axis.axvspan(x[phase1].min() - 0.5, x[phase1].max() + 0.5, color="0.92", label="phase I")
    flagged = np.array([r.subgroup_id in alarms for r in rows])
    if flagged.any():
        axis.scatter(
            x[flagged], panel.statistic[flagged], s=80, facecolors="none", edgecolors="red"
        )
    axis.set_ylabel(panel.name)
    axis.grid(alpha=0.3)


def _alarms_html(alarms: list[AlarmRow]) -> str:
    if not alarms:
        return "<h2>Alarms</h2><p>None.</p>"
    rows = "".join(
        f"<tr><td>{a.id}</td><td>{_when(a.wall_time)}</td><td>{html.escape(a.monitor)}</td>"
        f"<td>{a.subgroup_id}</td><td>{html.escape(a.rule)}</td>"
        f"<td>{_number(a.statistic)}</td>"
        f"<td>{_when(a.acked_at) if a.acked_at else '<b>open</b>'}</td>"
        f"<td>{html.escape(a.acked_by or '')}</td></tr>"
        for a in reversed(alarms)
    )
    return (
        "<h2>Alarms</h2><table><tr><th>id</th><th>time</th><th>monitor</th><th>subgroup</th>"
        "<th>rule</th><th>statistic</th><th>acknowledged</th><th>by</th></tr>"
        f"{rows}</table>"
    )


def _audit_html(audit: list[tuple[Any, ...]]) -> str:
    if not audit:
        return "<h2>Limit changes</h2><p>None by command (Phase I and standards only).</p>"
    rows = "".join(
        f"<tr><td>{_when(t)}</td><td>{html.escape(s)}</td><td>{html.escape(o or '-')}</td>"
        f"<td>{html.escape(n or '-')}</td><td>{html.escape(c)}</td></tr>"
        for t, s, o, n, c in audit
    )
    return (
        "<h2>Limit changes</h2><table><tr><th>time</th><th>monitor</th><th>before</th>"
        f"<th>after</th><th>command</th></tr>{rows}</table>"
    )


def _when(wall_time: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall_time))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>SPC report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #111; }}
img {{ max-width: 100%; }}
table {{ border-collapse: collapse; font-size: 0.9em; }}
td, th {{ border: 1px solid #999; padding: 2px 6px; text-align: left; }}
section {{ page-break-inside: avoid; margin-bottom: 1.5em; }}
@media print {{ body {{ margin: 0; }} }}
</style></head><body>
{body}
</body></html>
"""
