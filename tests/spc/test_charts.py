"""Charts against published worked examples (data and sources in `published.py`), then
limits from standards, variable limits, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.errors import DataError
from inspector.spc.charts import (
    ChartKind,
    ChartSettings,
    Counts,
    ProcessParameters,
    Subgroups,
    Values,
    build,
    estimate,
)
from inspector.spc.rules import check_panel, parse_rules
from tests.spc import published as pub

K = ChartKind


def limits_at(chart, name: str, i: int) -> tuple[float, float, float]:
    panel = chart.panel(name)
    return float(panel.lcl[i]), float(panel.center[i]), float(panel.ucl[i])


def beyond(panel) -> list[int]:
    return [v.index for v in check_panel(panel, parse_rules("limit"))]


def phase1(kind, series, phase1_points=None, settings=None):
    return build(kind, series, estimate(kind, series, phase1_points), settings)


# ---------------------------------------------------------------- attributes


def test_p_chart_orangejuice_montgomery_7_1():
    n = len(pub.ORANGEJUICE_D)
    series = Counts.of(pub.ORANGEJUICE_D, [pub.ORANGEJUICE_N] * n)
    chart = phase1(K.P, series)
    assert limits_at(chart, "p", 0) == pytest.approx((0.0524, 0.2313, 0.4102), abs=5e-5)
    assert beyond(chart.panel("p")) == [15, 23]


def test_p_chart_orangejuice_revised_without_assignable_causes():
    keep = [i for i in range(30) if i + 1 not in (15, 23)]
    d = np.array(pub.ORANGEJUICE_D)[keep]
    series = Counts.of(d, [pub.ORANGEJUICE_N] * len(d))
    parameters = estimate(K.P, series)
    assert parameters.center == pytest.approx(301 / 1400)
    chart = build(K.P, Counts.of(pub.ORANGEJUICE_D, [50] * 30), parameters)
    assert limits_at(chart, "p", 0) == pytest.approx((0.0407, 0.2150, 0.3893), abs=5e-5)
    assert beyond(chart.panel("p")) == [15, 21, 23]


def test_np_chart_orangejuice():
    series = Counts.of(pub.ORANGEJUICE_D, [50] * 30)
    chart = phase1(K.NP, series)
    # n p-bar = 11.567, 3 sqrt(n p (1 - p)) = 8.945: the p chart's limits times 50
    assert limits_at(chart, "np", 0) == pytest.approx((2.62, 11.567, 20.51), abs=5e-3)
    assert beyond(chart.panel("np")) == [15, 23]


def test_p_chart_variable_sizes_purchase_orders():
    series = Counts.of(pub.PURCHASE_ORDERS_D, pub.PURCHASE_ORDERS_N)
    chart = phase1(K.P, series)
    panel = chart.panel("p")
    assert chart.parameters.center == pytest.approx(234 / 2450)
    # the book rounds p-bar to 0.096 first, hence 3e-3
    for i, n, lcl, ucl in ((0, 100, 0.008, 0.184), (1, 80, 0.0, 0.195)):
        assert pub.PURCHASE_ORDERS_N[i] == n
        assert (panel.lcl[i], panel.ucl[i]) == pytest.approx((lcl, ucl), abs=3e-3)
    assert len(set(np.round(panel.ucl, 9))) == 5  # one pair of limits per size
    # derived here, not quoted: sample 11 (20 of 110 = 0.1818) is above its UCL of 0.1796
    assert beyond(panel) == [11]


@pytest.mark.parametrize(
    ("counts", "expected", "beyond_points"),
    [
        (pub.CIRCUIT, (6.48, 19.85, 33.22), [6, 20]),
        (pub.NIST_WAFER_DEFECTS, (4.0, 16.0, 28.0), [24]),
    ],
    ids=["montgomery circuit (qcc circuit)", "nist wafer defects"],
)
def test_c_chart(counts, expected, beyond_points):
    chart = phase1(K.C, Counts.of(counts, [1] * len(counts)))
    # Montgomery rounds c-bar to 19.85 before taking its root: 33.22 where exact is 33.211
    assert limits_at(chart, "c", 0) == pytest.approx(expected, abs=1e-2)
    assert beyond(chart.panel("c")) == beyond_points


def test_u_chart_personal_computers():
    n = len(pub.COMPUTERS)
    chart = phase1(K.U, Counts.of(pub.COMPUTERS, [pub.COMPUTERS_N] * n))
    # exact: 1.93 +- 3 sqrt(0.386) = 0.066 .. 3.794; the book prints two decimals
    assert limits_at(chart, "u", 0) == pytest.approx((0.07, 1.93, 3.80), abs=1e-2)
    assert beyond(chart.panel("u")) == []


def test_u_chart_variable_units():
    # derived by hand: u-bar = 12 / 8 = 1.5; size 2: 1.5 +- 3 sqrt(0.75), size 6: +- 3 sqrt(0.25)
    chart = phase1(K.U, Counts.of([3, 9], [2, 6]))
    panel = chart.panel("u")
    assert panel.ucl == pytest.approx([1.5 + 3 * 0.75**0.5, 3.0])
    assert panel.lcl == pytest.approx([0.0, 0.0])


# ---------------------------------------------------------------- variables


def test_imr_mortgage_loans_montgomery_6_5():
    chart = phase1(K.IMR, Values.of(pub.LOAN_COSTS))
    # the book divides MR-bar rounded to 7.79 by 1.128: 321.22 where exact is 321.21
    assert limits_at(chart, "i", 0) == pytest.approx((279.78, 300.5, 321.22), abs=1.5e-2)
    assert limits_at(chart, "mr", 5) == pytest.approx((0.0, 7.79, 25.45), abs=1e-2)
    assert np.isnan(chart.panel("mr").statistic[0])
    assert beyond(chart.panel("i")) == beyond(chart.panel("mr")) == []


def test_xbar_r_pistonrings_montgomery_6_1():
    chart = phase1(K.XBAR_R, Subgroups.of(pub.PISTONRINGS))
    # the book rounds x-bar-bar and R-bar to 74.001 and 0.023 first: exact UCL 74.0146
    assert limits_at(chart, "xbar", 0) == pytest.approx((73.988, 74.001, 74.014), abs=1e-3)
    assert limits_at(chart, "r", 0) == pytest.approx((0.0, 0.023, 0.049), abs=5e-4)
    assert chart.panel("r").statistic.sum() == pytest.approx(0.581)
    assert beyond(chart.panel("xbar")) == beyond(chart.panel("r")) == []


def test_xbar_s_pistonrings_montgomery_6_3():
    chart = phase1(K.XBAR_S, Subgroups.of(pub.PISTONRINGS))
    assert limits_at(chart, "xbar", 0) == pytest.approx((73.988, 74.001, 74.014), abs=1e-3)
    assert limits_at(chart, "s", 0) == pytest.approx((0.0, 0.0094, 0.0196), abs=5e-5)
    assert beyond(chart.panel("xbar")) == beyond(chart.panel("s")) == []


def test_xbar_s_lower_limit_for_large_subgroups():
    # n = 10: B3 = 0.284 (Montgomery Appendix VI), so the S chart's LCL is above 0
    rng = np.random.default_rng(1)
    chart = phase1(K.XBAR_S, Subgroups.of(rng.normal(size=(30, 10))))
    s_bar = chart.panel("s").center[0]
    assert chart.panel("s").lcl[0] == pytest.approx(0.284 * s_bar, rel=2e-3)


# ---------------------------------------------------------------- EWMA and CUSUM


def test_cusum_montgomery_9_1():
    chart = build(
        K.CUSUM,
        Values.of(pub.MONTGOMERY_9_1),
        ProcessParameters(10.0, 1.0),
        ChartSettings(cusum_k=0.5, cusum_h=5.0),
    )
    panel = chart.panel("cusum")
    assert panel.statistic[28] == pytest.approx(5.28, abs=5e-3)
    assert panel.statistic[27] < 5 < panel.statistic[28]
    assert beyond(panel)[0] == 29
    assert (panel.ucl[0], panel.lcl[0]) == (5.0, -5.0)


def test_ewma_montgomery_9_2():
    chart = build(
        K.EWMA,
        Values.of(pub.MONTGOMERY_9_1),
        ProcessParameters(10.0, 1.0),
        ChartSettings(ewma_lambda=0.1, ewma_l=2.7),
    )
    panel = chart.panel("ewma")
    assert panel.statistic[0] == pytest.approx(9.945)
    assert panel.ucl[:2] == pytest.approx([10.27, 10.36], abs=5e-3)
    assert panel.lcl[:2] == pytest.approx([9.73, 9.64], abs=5e-3)
    # derived here: z29 = 10.647 is the first past its UCL (10.619)
    assert beyond(panel)[0] == 29


def test_ewma_nist_6_3_2_4():
    chart = build(
        K.EWMA,
        Values.of(pub.NIST_EWMA),
        ProcessParameters(50.0, 2.0539),
        ChartSettings(ewma_lambda=0.3, ewma_l=3.0),
    )
    panel = chart.panel("ewma")
    assert panel.statistic == pytest.approx(pub.NIST_EWMA_Z, abs=5e-3)
    # the handbook gives the asymptotic limits; ours reach them by the last point
    assert (panel.lcl[-1], panel.ucl[-1]) == pytest.approx((47.4115, 52.5884), abs=1e-4)
    assert panel.ucl[0] < panel.ucl[1] < panel.ucl[-1]  # time-varying
    assert beyond(panel) == []


# ---------------------------------------------------------------- phases and standards


def test_phase1_uses_only_its_points():
    x = [10.0, 11.0, 10.0, 11.0, 50.0]
    parameters = estimate(K.IMR, Values.of(x), 4)
    assert parameters.center == 10.5 and parameters.phase1_points == 4
    assert parameters.sigma == pytest.approx(1.0 / 1.128379)
    chart = build(K.IMR, Values.of(x), parameters)
    assert beyond(chart.panel("i")) == [5]


def test_standard_limits():
    chart = build(K.P, Counts.of([1, 5], [50, 50]), ProcessParameters(0.02))
    # derived: 0.02 + 3 sqrt(0.02 * 0.98 / 50) = 0.0794
    assert chart.panel("p").ucl[0] == pytest.approx(0.07940, abs=1e-5)
    assert beyond(chart.panel("p")) == [2]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Counts.of([1, 2], [5, 0]), "point 2, size: must be > 0"),
        (lambda: Counts.of([1, 2], [5, -3]), "point 2, size: must be > 0"),
        (lambda: Counts.of([-1], [5]), "point 1, count: must be >= 0"),
        (lambda: Counts.of([1, float("nan")], [5, 5]), "point 2, count: not a finite"),
        (lambda: Values.of([1.0, float("inf")]), "point 2, value: not a finite"),
        (lambda: Subgroups.of([[1.0, 2.0], [1.0, float("nan")]]), "point 2, x2: not a finite"),
        (lambda: Subgroups.of([[1.0]] * 3), "subgroups of 1 values"),
        (lambda: Subgroups.of(np.ones((3, 26))), "subgroups of 26 values"),
        (lambda: estimate(K.P, Counts.of([6, 1], [5, 5])), "point 1, count: 6 defective"),
        (lambda: estimate(K.IMR, Values.of([1.0])), "at least 2 points, got 1"),
        (lambda: estimate(K.IMR, Values.of([1.0, 2.0]), 5), "phase I of 5 points"),
        (lambda: estimate(K.IMR, Values.of([])), "at least 2 points, got 0"),
        (lambda: estimate(K.IMR, Values.of([3.0, 3.0, 3.0])), "never change"),
        (lambda: estimate(K.P, Counts.of([0, 0], [5, 5])), "no defective"),
        (lambda: estimate(K.C, Counts.of([1, 2], [5, 6])), "one subgroup size"),
        (lambda: build(K.IMR, Values.of([]), ProcessParameters(0, 1)), "empty"),
        (lambda: build(K.P, Counts.of([1], [5]), ProcessParameters(0.1, 1.0)), "sigma:"),
        (lambda: build(K.IMR, Values.of([1.0]), ProcessParameters(0)), "needs sigma"),
        (lambda: ProcessParameters(0.0, -1.0), "sigma: must be > 0"),
        (lambda: ChartSettings(ewma_lambda=0.0), "ewma_lambda"),
        (lambda: ChartSettings(cusum_h=float("nan")), "cusum_h"),
    ],
)
def test_bad_input(make, message):
    with pytest.raises(DataError, match=message):
        make()
