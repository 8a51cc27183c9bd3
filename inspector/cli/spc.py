"""CLI commands of statistical process control: `inspector spc analyze`, `baseline`,
`ack`, `alarms` and `report`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from inspector.cli.common import console, print_json

if TYPE_CHECKING:
    from inspector.spc.charts import ChartKind, ChartSettings

__all__ = ["spc_app"]

spc_app = typer.Typer(
    help="Statistical process control: charts of a CSV series, the station's monitors, "
    "their limits, alarms and report.",
    no_args_is_help=True,
)

CHART_KINDS = ("p", "np", "c", "u", "imr", "xbar_r", "xbar_s", "ewma", "cusum")


@spc_app.command("analyze")
def spc_analyze(
    chart: Annotated[str, typer.Option("--chart", help=f"Chart kind: {', '.join(CHART_KINDS)}.")],
    input_csv: Annotated[
        Path,
        typer.Option(
            "--input",
            help="CSV: count,size (p, np, c, u); value (imr, ewma, cusum); x1..xn (xbar_r, "
            "xbar_s).",
        ),
    ],
    phase1: Annotated[
        int | None,
        typer.Option("--phase1", help="Limits from the first N points (default: all)."),
    ] = None,
    center: Annotated[
        float | None, typer.Option("--center", help="Standard: process centre (p, c, u, mean).")
    ] = None,
    sigma: Annotated[
        float | None, typer.Option("--sigma", help="Standard: sigma of one measured value.")
    ] = None,
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules",
            help="we, nelson, limit, or rule names (we1..we4, nelson1..nelson8) separated by "
            "commas. Default: we; ewma and cusum: limit.",
        ),
    ] = None,
    ewma_lambda: Annotated[float, typer.Option("--lambda", help="EWMA weight.")] = 0.2,
    ewma_l: Annotated[float, typer.Option("--L", help="EWMA limit width, sigmas.")] = 3.0,
    cusum_k: Annotated[float, typer.Option("--k", help="CUSUM reference value, sigmas.")] = 0.5,
    cusum_h: Annotated[float, typer.Option("--h", help="CUSUM decision interval, sigmas.")] = 5.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Centre line, limits and rule violations of a series."""
    from inspector.spc.analyze import AnalyzeRequest, analyze, chart_json, read_series

    kind = _chart_kind(chart)
    request = AnalyzeRequest(
        kind, phase1, center, sigma, rules, _settings(ewma_lambda, ewma_l, cusum_k, cusum_h)
    )
    result, violations = analyze(read_series(input_csv, kind), request)
    doc = chart_json(result, violations)
    if as_json:
        print_json(doc)
        return
    _print_summary(doc)


def _chart_kind(text: str) -> ChartKind:
    from inspector.errors import ConfigError
    from inspector.spc.charts import ChartKind

    try:
        return ChartKind(text.lower())
    except ValueError:
        raise ConfigError(f"--chart: unknown {text!r} (known: {', '.join(CHART_KINDS)})") from None


def _settings(lam: float, width: float, k: float, h: float) -> ChartSettings:
    from inspector.errors import ConfigError, DataError
    from inspector.spc.charts import ChartSettings

    try:
        return ChartSettings(lam, width, k, h)
    except DataError as exc:
        option = {"ewma_lambda": "--lambda", "ewma_l": "--L", "cusum_k": "--k", "cusum_h": "--h"}
        name = str(exc).split(":")[0]
        raise ConfigError(f"{option.get(name, name)}{str(exc)[len(name) :]}") from None


def _print_summary(doc: dict[str, Any]) -> None:
    panels = {k: v for k, v in doc.items() if isinstance(v, dict)} or {doc["chart"]: doc}
    for name, panel in panels.items():
        violations = panel["violations"]
        console.print(
            f"{name}: center {_text(panel['center'])}  LCL {_text(panel['lcl'])}  "
            f"UCL {_text(panel['ucl'])}  points {len(panel['statistic'])}  "
            f"violations {len(violations)}",
            markup=False,
            highlight=False,
        )
        for v in violations:
            console.print(f"  point {v['index']}: {v['rule']}", markup=False, highlight=False)


def _text(value: object) -> str:
    return f"{value:.6g}" if isinstance(value, float) else "varies"
