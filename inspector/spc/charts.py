"""Control charts with numpy: p, np, c, u, I-MR, Xbar-R, Xbar-S, EWMA, tabular CUSUM.

A chart is built in two steps, as in practice:

1. `estimate(kind, series, phase1)` (Phase I) turns the first `phase1` points into
   `ProcessParameters`: the centre (p-bar, c-bar, u-bar, the mean) and, for measured
   values, sigma of one value. A standard given by the user is a `ProcessParameters`
   too (`phase1_points` 0).
2. `build(kind, series, parameters, settings)` (Phase II) plots every point against
   limits from those parameters, one `Panel` per plotted chart (two for I-MR, Xbar-R
   and Xbar-S). Every panel carries each point's centre, limits and the standard
   deviation of its statistic, so the run rules work on standardized values even where
   the limits vary (p, np and u with varying subgroup sizes; EWMA's early points).

Sigma estimates are the textbooks' (Montgomery, Introduction to Statistical Quality
Control): R-bar / d2 and s-bar / c4 within subgroups, the mean moving range / d2(2)
for individual values (I-MR, EWMA and CUSUM in Phase I), robust to a shift in the
Phase I data where the overall standard deviation is not.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from inspector.errors import DataError
from inspector.spc.constants import MAX_SUBGROUP, MIN_SUBGROUP, constants

__all__ = [
    "ATTRIBUTE_CHARTS",
    "SUBGROUP_CHARTS",
    "VALUE_CHARTS",
    "Chart",
    "ChartKind",
    "ChartSettings",
    "Counts",
    "Panel",
    "ProcessParameters",
    "Series",
    "Subgroups",
    "Values",
    "build",
    "estimate",
    "series_length",
]

SHEWHART_L = 3.0  # sigmas from the centre line to a Shewhart chart's limits
MIN_PHASE1 = 2  # points: one moving range, one between-subgroup comparison


class ChartKind(enum.Enum):
    P = "p"
    NP = "np"
    C = "c"
    U = "u"
    IMR = "imr"
    XBAR_R = "xbar_r"
    XBAR_S = "xbar_s"
    EWMA = "ewma"
    CUSUM = "cusum"


ATTRIBUTE_CHARTS = frozenset({ChartKind.P, ChartKind.NP, ChartKind.C, ChartKind.U})
VALUE_CHARTS = frozenset({ChartKind.IMR, ChartKind.EWMA, ChartKind.CUSUM})
SUBGROUP_CHARTS = frozenset({ChartKind.XBAR_R, ChartKind.XBAR_S})


# ---------------------------------------------------------------- the data


@dataclass(frozen=True, slots=True)
class Counts:
    """Defectives or defects (`count`) per subgroup of `size` parts or units."""

    count: np.ndarray
    size: np.ndarray

    def __post_init__(self) -> None:
        if self.count.shape != self.size.shape or self.count.ndim != 1:
            raise DataError(f"counts and sizes disagree: {self.count.shape} and {self.size.shape}")
        _check_finite(self.count, "count")
        _check_finite(self.size, "size")
        for i in np.flatnonzero(self.size <= 0)[:1]:
            raise DataError(f"point {i + 1}, size: must be > 0, got {_number(self.size[i])}")
        for i in np.flatnonzero(self.count < 0)[:1]:
            raise DataError(f"point {i + 1}, count: must be >= 0, got {_number(self.count[i])}")

    @classmethod
    def of(cls, count: object, size: object) -> Counts:
        return cls(_floats(count), _floats(size))

    def check_fractions(self) -> None:
        """p and np: a subgroup cannot hold more defective parts than parts."""
        for i in np.flatnonzero(self.count > self.size)[:1]:
            raise DataError(
                f"point {i + 1}, count: {_number(self.count[i])} defective parts in a "
                f"subgroup of {_number(self.size[i])}"
            )


@dataclass(frozen=True, slots=True)
class Values:
    """One measured value per point (I-MR, EWMA, CUSUM)."""

    x: np.ndarray

    def __post_init__(self) -> None:
        if self.x.ndim != 1:
            raise DataError(f"values must be one series, got shape {self.x.shape}")
        _check_finite(self.x, "value")

    @classmethod
    def of(cls, x: object) -> Values:
        return cls(_floats(x))


@dataclass(frozen=True, slots=True)
class Subgroups:
    """`n` measured values per subgroup, one subgroup per row (Xbar-R, Xbar-S)."""

    x: np.ndarray

    def __post_init__(self) -> None:
        if self.x.ndim != 2:
            raise DataError(f"subgroups must be rows of values, got shape {self.x.shape}")
        n = self.x.shape[1]
        if not MIN_SUBGROUP <= n <= MAX_SUBGROUP:
            raise DataError(
                f"subgroups of {n} values: Xbar charts take {MIN_SUBGROUP}..{MAX_SUBGROUP}"
            )
        bad = np.argwhere(~np.isfinite(self.x))
        if len(bad):
            row, col = bad[0]
            raise DataError(f"point {row + 1}, x{col + 1}: not a finite number")

    @classmethod
    def of(cls, x: object) -> Subgroups:
        return cls(np.asarray(x, dtype=np.float64))

    @property
    def n(self) -> int:
        return int(self.x.shape[1])


Series = Counts | Values | Subgroups


def series_length(series: Series) -> int:
    return len(series.count) if isinstance(series, Counts) else len(series.x)


def _floats(values: object) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise DataError("expected numbers") from None


def _check_finite(values: np.ndarray, column: str) -> None:
    for i in np.flatnonzero(~np.isfinite(values))[:1]:
        raise DataError(f"point {i + 1}, {column}: not a finite number ({values[i]})")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ---------------------------------------------------------------- parameters and results


@dataclass(frozen=True, slots=True)
class ChartSettings:
    """EWMA's weight `ewma_lambda` and limit width `ewma_l` (sigmas of the EWMA);
    CUSUM's reference value `cusum_k` and decision interval `cusum_h` (sigmas)."""

    ewma_lambda: float = 0.2
    ewma_l: float = 3.0
    cusum_k: float = 0.5
    cusum_h: float = 5.0

    def __post_init__(self) -> None:
        for name, low, high in (
            ("ewma_lambda", 0.0, 1.0),
            ("ewma_l", 0.0, 10.0),
            ("cusum_k", 0.0, 10.0),
            ("cusum_h", 0.0, 50.0),
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and low < value <= high):
                raise DataError(f"{name}: must be in ({low:g}, {high:g}], got {value}")


@dataclass(frozen=True, slots=True)
class ProcessParameters:
    """What the limits are made from. `center`: p-bar (fraction), c-bar (count per
    subgroup), u-bar (per unit) or the process mean; `sigma`: the standard deviation of
    one measured value (None for counts, whose spread follows from the centre);
    `phase1_points`: how many points estimated them (0: given as a standard)."""

    center: float
    sigma: float | None = None
    phase1_points: int = 0

    def __post_init__(self) -> None:
        if not math.isfinite(self.center):
            raise DataError(f"center: must be a finite number, got {self.center}")
        if self.sigma is not None and not (math.isfinite(self.sigma) and self.sigma > 0):
            raise DataError(f"sigma: must be > 0, got {self.sigma}")


@dataclass(frozen=True, slots=True)
class Panel:
    """One plotted chart: the statistic of each point (NaN where it has none, like the
    first moving range), its centre, limits and standard deviation at that point.
    A point is beyond its limits when its standardized value is beyond +-`limit`;
    `run_rules` says whether the zone and run rules apply (not to ranges, standard
    deviations, moving ranges, EWMA or CUSUM, whose points are skewed or correlated)."""

    name: str
    statistic: np.ndarray
    center: np.ndarray
    ucl: np.ndarray
    lcl: np.ndarray
    sigma: np.ndarray
    limit: float = SHEWHART_L
    run_rules: bool = True
    lower_statistic: np.ndarray | None = None  # CUSUM: -C-, beside C+ in `statistic`

    def standardized(self) -> np.ndarray:
        """(statistic - centre) / sigma per point; CUSUM: the larger side, signed."""
        if self.lower_statistic is not None:
            upper, lower = self.statistic, -self.lower_statistic
            return np.where(upper >= lower, upper, -lower) / self.sigma
        return (self.statistic - self.center) / self.sigma

    def __len__(self) -> int:
        return len(self.statistic)


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart of `kind`: its parameters and its panels, in plotting order."""

    kind: ChartKind
    parameters: ProcessParameters
    settings: ChartSettings
    panels: tuple[Panel, ...]

    def panel(self, name: str) -> Panel:
        for panel in self.panels:
            if panel.name == name:
                return panel
        raise KeyError(name)


# ---------------------------------------------------------------- Phase I


def estimate(kind: ChartKind, series: Series, phase1: int | None = None) -> ProcessParameters:
    """Parameters from the first `phase1` points (all when None). DataError when they
    cannot give limits: too few points, no defective at all, no variation."""
    count = series_length(series)
    used = count if phase1 is None else phase1
    if used < MIN_PHASE1:
        raise DataError(f"phase I needs at least {MIN_PHASE1} points, got {used}")
    if used > count:
        raise DataError(f"phase I of {used} points, but the series has {count}")
    _check_series(kind, series)
    head = _head(series, used)
    if isinstance(head, Counts):
        center = _attribute_center(kind, head)
        return ProcessParameters(center, None, used)
    if isinstance(head, Subgroups):
        sigma = _within_sigma(kind, head)
        return ProcessParameters(float(head.x.mean()), sigma, used)
    moving = np.abs(np.diff(head.x))
    sigma = float(moving.mean()) / constants(2).d2
    if sigma <= 0:
        raise DataError("phase I values never change: sigma would be 0")
    return ProcessParameters(float(head.x.mean()), sigma, used)


def _head(series: Series, used: int) -> Series:
    if isinstance(series, Counts):
        return Counts(series.count[:used], series.size[:used])
    if isinstance(series, Values):
        return Values(series.x[:used])
    return Subgroups(series.x[:used])


def _attribute_center(kind: ChartKind, counts: Counts) -> float:
    if kind is ChartKind.C:
        center = float(counts.count.mean())
    else:
        center = float(counts.count.sum() / counts.size.sum())
    if center <= 0:
        raise DataError(
            f"phase I has no {'defects' if kind in (ChartKind.C, ChartKind.U) else 'defective'}"
            f": a {kind.value} chart centred on 0 has no limits (larger subgroups, or a standard)"
        )
    if kind in (ChartKind.P, ChartKind.NP) and center >= 1:
        raise DataError(f"phase I: every part defective, a {kind.value} chart has no limits")
    return center


def _within_sigma(kind: ChartKind, subgroups: Subgroups) -> float:
    k = constants(subgroups.n)
    if kind is ChartKind.XBAR_R:
        sigma = float(np.ptp(subgroups.x, axis=1).mean()) / k.d2
    else:
        sigma = float(subgroups.x.std(axis=1, ddof=1).mean()) / k.c4
    if sigma <= 0:
        raise DataError("phase I subgroups never vary within: sigma would be 0")
    return sigma


def _check_series(kind: ChartKind, series: Series) -> None:
    """The series is of the chart's kind of data (a programming error otherwise)."""
    wanted = (
        Counts if kind in ATTRIBUTE_CHARTS else Subgroups if kind in SUBGROUP_CHARTS else Values
    )
    if not isinstance(series, wanted):
        raise DataError(f"a {kind.value} chart plots {wanted.__name__.lower()}")
    if isinstance(series, Counts):
        if kind in (ChartKind.P, ChartKind.NP):
            series.check_fractions()
        if kind is ChartKind.C and len(np.unique(series.size)) > 1:
            raise DataError("a c chart needs one subgroup size throughout (use a u chart)")


# ---------------------------------------------------------------- Phase II


def build(
    kind: ChartKind,
    series: Series,
    parameters: ProcessParameters,
    settings: ChartSettings | None = None,
) -> Chart:
    """Every point of `series` against limits from `parameters`."""
    settings = settings or ChartSettings()
    if series_length(series) == 0:
        raise DataError("the series is empty")
    _check_series(kind, series)
    if kind in ATTRIBUTE_CHARTS:
        _check_attribute_parameters(kind, parameters)
    elif parameters.sigma is None:
        raise DataError(f"a {kind.value} chart needs sigma")
    panels = _BUILDERS[kind](series, parameters, settings)
    return Chart(kind, parameters, settings, panels)


def _check_attribute_parameters(kind: ChartKind, parameters: ProcessParameters) -> None:
    if parameters.sigma is not None:
        raise DataError(f"sigma: a {kind.value} chart's spread follows from its centre")
    if parameters.center <= 0:
        raise DataError(f"center: must be > 0 for a {kind.value} chart, got {parameters.center}")
    if kind in (ChartKind.P, ChartKind.NP) and parameters.center >= 1:
        raise DataError(f"center: a fraction below 1, got {parameters.center}")


def _shewhart(
    name: str,
    statistic: np.ndarray,
    center: np.ndarray | float,
    sigma: np.ndarray | float,
    run_rules: bool = True,
) -> Panel:
    """centre +- 3 sigma, the lower limit no lower than 0 where the statistic cannot be."""
    n = len(statistic)
    # annotated: numpy's stubs type .copy() with typing.Self, which mypy's Python 3.10
    # view of the standard library lacks (it makes the copy Any)
    centers: np.ndarray = np.broadcast_to(np.asarray(center, np.float64), (n,)).copy()
    sigmas: np.ndarray = np.broadcast_to(np.asarray(sigma, np.float64), (n,)).copy()
    lcl = np.maximum(centers - SHEWHART_L * sigmas, 0.0) if name in _NON_NEGATIVE else None
    return Panel(
        name,
        statistic,
        centers,
        centers + SHEWHART_L * sigmas,
        lcl if lcl is not None else centers - SHEWHART_L * sigmas,
        sigmas,
        SHEWHART_L,
        run_rules,
    )


_NON_NEGATIVE = frozenset({"p", "np", "c", "u", "mr", "r", "s"})


def _p(series: Series, parameters: ProcessParameters, _: ChartSettings) -> tuple[Panel, ...]:
    assert isinstance(series, Counts)
    p = parameters.center
    sigma = np.sqrt(p * (1 - p) / series.size)
    return (_shewhart("p", series.count / series.size, p, sigma),)


def _np(series: Series, parameters: ProcessParameters, _: ChartSettings) -> tuple[Panel, ...]:
    assert isinstance(series, Counts)
    p = parameters.center
    sigma = np.sqrt(series.size * p * (1 - p))
    return (_shewhart("np", series.count.copy(), series.size * p, sigma),)


def _c(series: Series, parameters: ProcessParameters, _: ChartSettings) -> tuple[Panel, ...]:
    assert isinstance(series, Counts)
    c = parameters.center
    return (_shewhart("c", series.count.copy(), c, math.sqrt(c)),)


def _u(series: Series, parameters: ProcessParameters, _: ChartSettings) -> tuple[Panel, ...]:
    assert isinstance(series, Counts)
    u = parameters.center
    return (_shewhart("u", series.count / series.size, u, np.sqrt(u / series.size)),)


def _imr(series: Series, parameters: ProcessParameters, _: ChartSettings) -> tuple[Panel, ...]:
    assert isinstance(series, Values) and parameters.sigma is not None
    sigma, k = parameters.sigma, constants(2)
    moving = np.concatenate(([np.nan], np.abs(np.diff(series.x))))
    return (
        _shewhart("i", series.x.copy(), parameters.center, sigma),
        _shewhart("mr", moving, k.d2 * sigma, k.d3 * sigma, run_rules=False),
    )


def _xbar_r(series: Series, parameters: ProcessParameters, _: ChartSettings) -> tuple[Panel, ...]:
    assert isinstance(series, Subgroups) and parameters.sigma is not None
    sigma, k = parameters.sigma, constants(series.n)
    return (
        _xbar(series, parameters),
        _shewhart("r", np.ptp(series.x, axis=1), k.d2 * sigma, k.d3 * sigma, run_rules=False),
    )


def _xbar_s(series: Series, parameters: ProcessParameters, _: ChartSettings) -> tuple[Panel, ...]:
    assert isinstance(series, Subgroups) and parameters.sigma is not None
    sigma, k = parameters.sigma, constants(series.n)
    s = series.x.std(axis=1, ddof=1)
    return (
        _xbar(series, parameters),
        _shewhart("s", s, k.c4 * sigma, sigma * math.sqrt(1 - k.c4**2), run_rules=False),
    )


def _xbar(series: Subgroups, parameters: ProcessParameters) -> Panel:
    assert parameters.sigma is not None
    return _shewhart(
        "xbar", series.x.mean(axis=1), parameters.center, parameters.sigma / math.sqrt(series.n)
    )


def _ewma(
    series: Series, parameters: ProcessParameters, settings: ChartSettings
) -> tuple[Panel, ...]:
    assert isinstance(series, Values) and parameters.sigma is not None
    lam, x = settings.ewma_lambda, series.x
    z = np.empty_like(x)
    previous = parameters.center
    for i, value in enumerate(x):  # a recursion: each point needs the one before
        previous = lam * value + (1 - lam) * previous
        z[i] = previous
    sigma = ewma_sigma(parameters.sigma, lam, np.arange(1, len(x) + 1))
    center = np.full(len(x), parameters.center)
    width = settings.ewma_l * sigma
    return (
        Panel("ewma", z, center, center + width, center - width, sigma, settings.ewma_l, False),
    )


def ewma_sigma(sigma: float, lam: float, i: np.ndarray) -> np.ndarray:
    """Standard deviation of the i-th EWMA (1-based): the limits widen towards their
    asymptote sigma * sqrt(lambda / (2 - lambda))."""
    return sigma * np.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * i)))


def _cusum(
    series: Series, parameters: ProcessParameters, settings: ChartSettings
) -> tuple[Panel, ...]:
    assert isinstance(series, Values) and parameters.sigma is not None
    sigma, target = parameters.sigma, parameters.center
    k, h = settings.cusum_k * sigma, settings.cusum_h * sigma
    upper, lower = np.empty_like(series.x), np.empty_like(series.x)
    hi = lo = 0.0
    for i, value in enumerate(series.x):  # a recursion, as EWMA
        hi, lo = cusum_step(hi, lo, value, target, k)
        upper[i], lower[i] = hi, lo
    n = len(series.x)
    return (
        Panel(
            "cusum",
            upper,
            np.zeros(n),
            np.full(n, h),
            np.full(n, -h),
            np.full(n, sigma),
            settings.cusum_h,
            False,
            lower_statistic=-lower,
        ),
    )


def cusum_step(hi: float, lo: float, value: float, target: float, k: float) -> tuple[float, float]:
    """One step of the tabular CUSUM: C+ and C- after `value` (K = k sigma)."""
    return max(0.0, value - (target + k) + hi), max(0.0, (target - k) - value + lo)


_BUILDERS = {
    ChartKind.P: _p,
    ChartKind.NP: _np,
    ChartKind.C: _c,
    ChartKind.U: _u,
    ChartKind.IMR: _imr,
    ChartKind.XBAR_R: _xbar_r,
    ChartKind.XBAR_S: _xbar_s,
    ChartKind.EWMA: _ewma,
    ChartKind.CUSUM: _cusum,
}
