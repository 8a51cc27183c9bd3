"""`inspector spc analyze`: a series from a CSV file, its chart, its violations, as JSON.

CSV columns by chart: `count,size` for p, np, c and u; `value` for I-MR, EWMA and
CUSUM; `x1..xn` for Xbar-R and Xbar-S. Other columns are an error, so a file meant for
another chart is not silently misread. Every problem names the file, its line and the
column.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from inspector.errors import ConfigError, DataError
from inspector.spc.charts import (
    ATTRIBUTE_CHARTS,
    SUBGROUP_CHARTS,
    Chart,
    ChartKind,
    ChartSettings,
    Counts,
    Panel,
    ProcessParameters,
    Series,
    Subgroups,
    Values,
    build,
    estimate,
)
from inspector.spc.rules import Rule, Violation, check_panel, parse_rules

__all__ = ["AnalyzeRequest", "analyze", "chart_json", "default_rules", "read_series"]


@dataclass(frozen=True, slots=True)
class AnalyzeRequest:
    """What `spc analyze` was asked: the chart, Phase I length or a standard, rules."""

    kind: ChartKind
    phase1: int | None = None
    center: float | None = None
    sigma: float | None = None
    rules: str | None = None
    settings: ChartSettings = field(default_factory=ChartSettings)


def default_rules(kind: ChartKind) -> str:
    """Western Electric for Shewhart charts; EWMA and CUSUM have only their limits."""
    return "limit" if kind in (ChartKind.EWMA, ChartKind.CUSUM) else "we"


def read_series(path: Path, kind: ChartKind) -> Series:
    """The CSV's series for a chart of `kind`; DataError naming line and column."""
    rows = _read_rows(path)
    header, body = rows[0], rows[1:]
    columns = _expected_columns(kind, header)
    if header != columns:
        raise DataError(
            f"{path}: line 1: a {kind.value} chart reads columns {','.join(columns)}, "
            f"got {','.join(header) or '(none)'}"
        )
    if not body:
        raise DataError(f"{path}: no data rows under the header")
    table = np.array(
        [
            [_cell(path, line, column, text) for column, text in zip(columns, row, strict=False)]
            for line, row in _numbered(path, body, len(columns))
        ]
    )
    return _series(path, kind, table)


def _read_rows(path: Path) -> list[list[str]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{path}: not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    rows = [[cell.strip() for cell in row] for row in csv.reader(text.splitlines())]
    if not rows:
        raise DataError(f"{path}: empty (expected a header line)")
    rows[0] = [cell.lower() for cell in rows[0]]
    return rows


def _expected_columns(kind: ChartKind, header: list[str]) -> list[str]:
    if kind in ATTRIBUTE_CHARTS:
        return ["count", "size"]
    if kind in SUBGROUP_CHARTS:
        n = max(len(header), 1)
        return [f"x{i}" for i in range(1, n + 1)]
    return ["value"]


def _numbered(path: Path, body: list[list[str]], width: int) -> list[tuple[int, list[str]]]:
    numbered = []
    for offset, row in enumerate(body):
        line = offset + 2
        if not any(row):
            continue  # a blank line (a trailing newline) is no row
        if len(row) != width:
            raise DataError(f"{path}: line {line}: {len(row)} cells, the header has {width}")
        numbered.append((line, row))
    return numbered


def _cell(path: Path, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise DataError(
            f"{path}: line {line}, column {column}: {text or '(empty)'!r} is not a number"
        ) from None
    if not math.isfinite(value):
        raise DataError(f"{path}: line {line}, column {column}: {text} is not a finite number")
    return value


def _series(path: Path, kind: ChartKind, table: np.ndarray) -> Series:
    """The table as the chart's series; a check that fails names the line (point + 1)."""
    try:
        if kind in ATTRIBUTE_CHARTS:
            counts = Counts(table[:, 0].copy(), table[:, 1].copy())
            if kind in (ChartKind.P, ChartKind.NP):
                counts.check_fractions()
            return counts
        if kind in SUBGROUP_CHARTS:
            return Subgroups(table)
        return Values(table[:, 0].copy())
    except DataError as exc:
        raise DataError(f"{path}: {_as_line(str(exc))}") from None


def _as_line(message: str) -> str:
    """'point 3, size: ...' -> 'line 4, column size: ...' (the header is line 1)."""
    if not message.startswith("point "):
        return message
    where, _, rest = message.partition(": ")
    point, _, column = where.removeprefix("point ").partition(", ")
    return f"line {int(point) + 1}, column {column}: {rest}"


# ---------------------------------------------------------------- the analysis


def analyze(series: Series, request: AnalyzeRequest) -> tuple[Chart, dict[str, list[Violation]]]:
    """The chart of `series` (limits from Phase I or the given standard) and the
    violations of each panel."""
    kind = request.kind
    rules = parse_rules(request.rules or default_rules(kind), "--rules")
    _check_rules_fit(kind, rules)
    parameters = _parameters(series, request)
    chart = build(kind, series, parameters, request.settings)
    return chart, {panel.name: check_panel(panel, rules) for panel in chart.panels}


def _check_rules_fit(kind: ChartKind, rules: tuple[Rule, ...]) -> None:
    if kind in (ChartKind.EWMA, ChartKind.CUSUM) and any(r.name != "limit" for r in rules):
        raise ConfigError(
            f"--rules: a {kind.value} chart's points are correlated: only 'limit' applies"
        )


def _parameters(series: Series, request: AnalyzeRequest) -> ProcessParameters:
    kind = request.kind
    given = request.center is not None or request.sigma is not None
    if given and request.phase1 is not None:
        raise ConfigError("--phase1 and --center/--sigma both set the limits: give one")
    if not given:
        return estimate(kind, series, request.phase1)
    if request.center is None:
        raise ConfigError("--sigma needs --center")
    if kind in ATTRIBUTE_CHARTS:
        if request.sigma is not None:
            raise ConfigError(f"--sigma: a {kind.value} chart's spread follows from --center")
        return ProcessParameters(request.center)
    if request.sigma is None:
        raise ConfigError(f"--center needs --sigma for a {kind.value} chart")
    return ProcessParameters(request.center, request.sigma)


def chart_json(chart: Chart, violations: dict[str, list[Violation]]) -> dict[str, Any]:
    """The contract of `spc analyze --json`: one object per panel (keyed by panel name
    for I-MR, Xbar-R and Xbar-S, the object itself otherwise), with the chart's kind,
    parameters and phase I length beside it."""
    parameters = chart.parameters
    doc: dict[str, Any] = {
        "chart": chart.kind.value,
        "phase1": parameters.phase1_points or None,
        "process_center": parameters.center,
        "process_sigma": parameters.sigma,
    }
    panels = {p.name: _panel_json(p, violations[p.name]) for p in chart.panels}
    if len(panels) == 1:
        return doc | next(iter(panels.values()))
    return doc | panels


def _panel_json(panel: Panel, violations: list[Violation]) -> dict[str, Any]:
    doc = {
        "center": _constant_or_list(panel.center),
        "ucl": _constant_or_list(panel.ucl),
        "lcl": _constant_or_list(panel.lcl),
        "statistic": _floats(panel.statistic),
        "violations": [
            {"index": v.index, "rule": v.rule, "points": list(v.points)} for v in violations
        ],
    }
    if panel.lower_statistic is not None:
        doc["lower_statistic"] = _floats(panel.lower_statistic)
    return doc


def _constant_or_list(values: np.ndarray) -> float | list[float | None]:
    if np.allclose(values, values[0], rtol=0, atol=1e-12):
        return float(values[0])
    return _floats(values)


def _floats(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values]
