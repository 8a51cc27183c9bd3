"""Run rules: one constructed sequence per rule that trips it and no other rule of its
set, the points each violation names, selection, and the in-control false-alarm rate."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.errors import ConfigError
from inspector.plc.registers import SpcRule
from inspector.spc.charts import ChartKind, Counts, ProcessParameters, Values, build
from inspector.spc.rules import RULES, Violation, check, check_panel, parse_rules, rule_mask

WITHIN_15 = [0.2, -0.3, -0.1, 0.4, 0.3, -0.2, -0.4, 0.1, 0.3, -0.1, -0.3, 0.2, 0.4, -0.2, -0.1]

# (rule, standardized sequence, the points of the first violation)
ONE_RULE_EACH = [
    ("we1", [0.5, -0.5, 3.5, 0.5, -0.5], (3,)),
    ("we2", [0.5, -0.5, 2.5, 0.3, 2.5, -0.5], (3, 4, 5)),
    ("we3", [-0.5, 1.5, 1.5, 0.5, 1.5, 1.5, -0.5], (2, 3, 4, 5, 6)),
    ("we4", [-0.5, *[0.5, 0.3] * 4, -0.5], tuple(range(2, 10))),
    ("nelson1", [0.5, -0.5, -3.2, 0.5, -0.5], (3,)),
    ("nelson2", [-0.5, *[0.5, 0.3] * 4, 0.5, -0.5], tuple(range(2, 11))),
    ("nelson3", [0.0, -0.9, -0.5, 0.1, 0.2, 0.6, 0.9, 0.1], (2, 3, 4, 5, 6, 7)),
    ("nelson4", [0.5, -0.5] * 7, tuple(range(1, 15))),
    ("nelson5", [-0.5, 0.5, -2.5, -0.3, -2.5, 0.5], (3, 4, 5)),
    ("nelson6", [0.5, -1.5, -1.5, -0.5, -1.5, -1.5, 0.5], (2, 3, 4, 5, 6)),
    ("nelson7", WITHIN_15, tuple(range(1, 16))),
    ("nelson8", [1.5, 1.5, -1.5, -1.5, 1.5, 1.5, -1.5, -1.5], tuple(range(1, 9))),
]


@pytest.mark.parametrize(("rule", "z", "points"), ONE_RULE_EACH, ids=[r[0] for r in ONE_RULE_EACH])
def test_each_rule_alone(rule, z, points):
    rule_set = "we" if rule.startswith("we") else "nelson"
    violations = check(np.array(z), parse_rules(rule_set))
    assert {v.rule for v in violations} == {rule}
    assert violations[0].points == points
    assert violations[0].index == points[-1]


def test_a_longer_run_flags_each_point_from_the_rules_length_on():
    violations = check(np.array([0.5] * 11), parse_rules("nelson2"))
    assert [v.index for v in violations] == [9, 10, 11]
    assert violations[-1].points == tuple(range(3, 12))


@pytest.mark.parametrize(
    ("z", "rules", "expected"),
    [
        ([3.0, -3.0], "we1", []),  # on the limit is not beyond
        ([0.5] * 4 + [0.0] + [0.5] * 4, "we4", []),  # the centre line ends a run
        ([0, 1, 2, 2, 3, 4, 5], "nelson3", []),  # a tie ends a trend
        ([2.5, 0.1, 2.5], "we2", [3]),  # 2 of 3, the in-zone point between
        ([2.5, 2.5, 0.1], "we2", [2]),  # the in-zone point after them is not flagged
        ([2.5, -2.5, 0.1], "we2", []),  # one side only
        ([1.5, 1.5], "we3", []),
        ([1.5] * 8, "nelson8", []),  # both sides needed
        ([np.nan, 4.0], "we1", [2]),  # no point (the first moving range) is no violation
    ],
)
def test_edges(z, rules, expected):
    assert [v.index for v in check(np.array(z, dtype=float), parse_rules(rules))] == expected


def test_limit_is_the_charts_own_width():
    z = np.array([2.8, 2.9, 3.1])
    assert [v.index for v in check(z, parse_rules("limit"), limit=2.7)] == [1, 2, 3]


def test_rules_on_variable_limits_use_each_points_sigma():
    # the same 8 defectives are beyond the limit of a subgroup of 20, not of one of 200
    series = Counts.of([2, 8, 20, 8], [20, 20, 200, 200])
    panel = build(ChartKind.P, series, ProcessParameters(0.1)).panel("p")
    # derived: UCL(20) = 0.1 + 3 sqrt(0.09 / 20) = 0.301 < 0.4; UCL(200) = 0.164 > 0.04
    assert panel.ucl[1] == pytest.approx(0.3012, abs=1e-4)
    assert [v.index for v in check_panel(panel, parse_rules("we1"))] == [2]


def test_dispersion_panels_take_only_the_limits_test():
    x = np.concatenate([np.zeros(5), np.arange(1, 11) * 0.1])  # 9+ equal moving ranges
    chart = build(ChartKind.IMR, Values.of(x), ProcessParameters(0.0, 1.0))
    assert check_panel(chart.panel("mr"), parse_rules("nelson")) == []
    assert check(chart.panel("mr").standardized(), parse_rules("nelson2")) != []


def test_rule_selection():
    assert [r.name for r in parse_rules("we")] == ["we1", "we2", "we3", "we4"]
    assert [r.name for r in parse_rules("nelson3, we1")] == ["nelson3", "we1"]
    assert [r.name for r in parse_rules("we,we1")] == ["we1", "we2", "we3", "we4"]
    assert RULES["we2"].test is RULES["nelson5"].test is SpcRule.TWO_OF_THREE_BEYOND_2_SIGMA
    with pytest.raises(ConfigError, match="unknown rule 'we5'"):
        parse_rules("we,we5")


def test_mask_has_one_bit_per_test():
    violations = [Violation("we1", 1, (1,)), Violation("nelson1", 1, (1,)), Violation("we4", 9, ())]
    assert rule_mask(violations) == int(SpcRule.BEYOND_LIMITS | SpcRule.EIGHT_SAME_SIDE)


# ---------------------------------------------------------------- in-control ARL


def run_lengths(violations: list[Violation]) -> list[int]:
    """Points to each alarm, each run starting after the last alarm: a pattern that
    began before it does not count (as if the chart had been restarted there)."""
    lengths, last = [], 0
    for violation in violations:
        if violation.points[0] > last:
            lengths.append(violation.index - last)
            last = violation.index
    return lengths


@pytest.mark.parametrize(
    ("rules", "published", "tolerance"),
    [
        ("limit", 370.4, 0.05),  # 1 / P(|Z| > 3)
        ("we", 91.75, 0.06),  # Champ & Woodall (1987), Technometrics 29(4)
        # k in a row on one side, each side p = 1/2: a fair coin's wait for k alike,
        # 2^k - 1 (derived, not quoted)
        ("we4", 255.0, 0.05),
        ("nelson2", 511.0, 0.07),
    ],
)
def test_in_control_average_run_length(rules, published, tolerance):
    z = np.random.default_rng(2024).standard_normal(1_500_000)
    arl = float(np.mean(run_lengths(check(z, parse_rules(rules)))))
    assert arl == pytest.approx(published, rel=tolerance)
