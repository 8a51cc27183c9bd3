"""The `spc:` section of station.yaml: subgroups, Phase I, and the monitors."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from inspector.configbase import Name, Section
from inspector.errors import ConfigError

__all__ = ["MEASURES", "SPC_NAME_MAX", "SpcConfig", "SpcMonitorConfig"]

Measure = Literal["fail_fraction", "defects", "class_defects", "brightness", "focus"]
ChartName = Literal["p", "np", "u", "c", "imr", "ewma", "cusum"]

# What each measure may be charted on; the first is its default.
MEASURES: dict[str, tuple[str, ...]] = {
    "fail_fraction": ("p", "np"),
    "defects": ("u", "c"),
    "class_defects": ("c", "u"),
    "brightness": ("ewma", "imr", "cusum"),
    "focus": ("ewma", "imr", "cusum"),
}
IMAGE_MEASURES = frozenset({"brightness", "focus"})
SPC_NAME_MAX = 64  # a monitor's id, with a recipe's `r<number>.` prefix: a `Name`


class SpcMonitorConfig(Section):
    """One chart the station keeps, one point per subgroup."""

    name: Name = Field(description="The monitor's id in the database, events and report.")
    measure: Measure = Field(
        description="fail_fraction: FAIL parts per subgroup; defects: defects per part; "
        "class_defects: defects of `class_name` per subgroup; brightness, focus: the "
        "subgroup's mean image figure."
    )
    class_name: str | None = Field(
        None, max_length=128, description="The class counted by class_defects."
    )
    chart: ChartName | None = Field(
        None,
        description="p or np (fail_fraction); u or c (defects, class_defects); ewma, imr or "
        "cusum (brightness, focus). None: the first of these.",
    )
    rules: str | None = Field(
        None,
        max_length=200,
        description="we, nelson, limit, or rule names (we1..we4, nelson1..nelson8) separated "
        "by commas. None: we1 (a point beyond 3 sigma); ewma and cusum take only limit.",
    )
    ewma_lambda: float = Field(0.2, gt=0, le=1, description="EWMA weight of the newest point.")
    ewma_l: float = Field(3.0, gt=0, le=10, description="EWMA limits, sigmas of the EWMA.")
    cusum_k: float = Field(0.5, gt=0, le=10, description="CUSUM reference value, sigmas.")
    cusum_h: float = Field(5.0, gt=0, le=50, description="CUSUM decision interval, sigmas.")
    center: float | None = Field(
        None,
        ge=-1e12,
        le=1e12,
        description="A standard instead of Phase I: p (fail_fraction), c per subgroup, u per "
        "part, or the mean of the figure.",
    )
    sigma: float | None = Field(
        None,
        gt=0,
        le=1e12,
        description="With `center`, for brightness and focus: sigma of one subgroup's mean.",
    )

    @property
    def chart_name(self) -> str:
        return self.chart or MEASURES[self.measure][0]

    @property
    def rule_text(self) -> str:
        if self.rules is not None:
            return self.rules
        return "limit" if self.chart_name in ("ewma", "cusum") else "we1"

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: str | None) -> str | None:
        if value is not None:
            from inspector.spc.rules import parse_rules

            try:
                parse_rules(value)
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("rules: ")) from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SpcMonitorConfig:
        if self.chart_name not in MEASURES[self.measure]:
            raise ValueError(
                f"chart {self.chart_name} does not plot {self.measure} "
                f"(use {' or '.join(MEASURES[self.measure])})"
            )
        if (self.measure == "class_defects") != (self.class_name is not None):
            raise ValueError("class_name goes with measure class_defects, and only with it")
        if self.chart_name in ("ewma", "cusum") and self.rule_text != "limit":
            raise ValueError(f"rules: a {self.chart_name} chart takes only 'limit'")
        image = self.measure in IMAGE_MEASURES
        if self.sigma is not None and not image:
            raise ValueError("sigma: a count chart's spread follows from its center")
        if image and (self.center is None) != (self.sigma is None):
            raise ValueError("center and sigma: give both or neither")
        if self.center is not None and not image and not self.center > 0:
            raise ValueError("center: must be above 0 for a count chart")
        if self.measure == "fail_fraction" and self.center is not None and self.center >= 1:
            raise ValueError("center: a fraction below 1")
        return self


class SpcConfig(Section):
    enabled: bool = Field(False, description="Keep SPC charts of the station's own parts.")
    subgroup_size: int = Field(
        50,
        ge=1,
        le=100_000,
        description="Decided parts (PASS or FAIL; NO_DECISION is a station fault, not the "
        "process) per subgroup: one point per monitor each.",
    )
    baseline_subgroups: int = Field(
        25,
        ge=5,
        le=10_000,
        description="Phase I: subgroups collected before each monitor's limits are frozen.",
    )
    default_monitors: bool = Field(
        True,
        description="Add the default monitors: fail_fraction (p), defects (u), one "
        "class_defects (c) per model class, brightness and focus (ewma); a monitor in "
        "`monitors` with the same name replaces its default.",
    )
    monitors: list[SpcMonitorConfig] = Field(
        default_factory=list,
        max_length=256,
        description="Monitors beside (or instead of) the defaults.",
    )

    @model_validator(mode="after")
    def _unique_names(self) -> SpcConfig:
        names = [m.name for m in self.monitors]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"monitors: names given twice: {', '.join(twice)}")
        return self
