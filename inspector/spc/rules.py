"""Run rules: the four Western Electric rules and the eight Nelson rules.

Every rule runs on standardized values z = (statistic - centre) / sigma of the point,
so charts whose limits vary from point to point (p, np and u with varying subgroup
sizes, EWMA) are tested like any other. A rule is selected by name (`we1`..`we4`,
`nelson1`..`nelson8`, `limit`) or by set (`we`, `nelson`, `limit`); rules that test the
same pattern (we1 and nelson1, we2 and nelson5, we3 and nelson6) share a test and a bit
of the PLC's SPC_RULE_MASK (`SpcRule`), but a violation is named by the rule selected.

Conventions, where the rules' wording leaves room:
- "beyond" is strictly beyond: a point exactly on a limit or zone edge is not;
- a point exactly on the centre line belongs to neither side, so it ends a run;
- ties end a trend, and an unchanged point ends an alternation;
- "2 of 3" and "4 of 5" flag a point only when it is itself one of the points beyond
  (an in-zone point after two out-of-zone ones does not re-flag the pattern), and
  count the points there are at the start of a series;
- a run longer than its rule flags every point from the rule's length on.

Every violation names the rule, the point that completed the pattern (`index`, 1-based)
and every point of the pattern (`points`, 1-based, ascending).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inspector.errors import ConfigError
from inspector.plc.registers import SpcRule
from inspector.spc.charts import Panel

__all__ = [
    "RULES",
    "RULE_SETS",
    "Rule",
    "Violation",
    "check",
    "check_panel",
    "parse_rules",
    "rule_mask",
]


@dataclass(frozen=True, slots=True)
class Rule:
    """A selectable rule: its name, the test it runs, in words."""

    name: str
    test: SpcRule
    description: str


@dataclass(frozen=True, slots=True)
class Violation:
    """`rule` tripped at point `index` (1-based) on the pattern of `points` (1-based)."""

    rule: str
    index: int
    points: tuple[int, ...]

    @property
    def test(self) -> SpcRule:
        return RULES[self.rule].test


def _rules() -> dict[str, Rule]:
    t = SpcRule
    table = [
        ("limit", t.BEYOND_LIMITS, "a point beyond the control limits"),
        ("we1", t.BEYOND_LIMITS, "a point beyond 3 sigma"),
        ("we2", t.TWO_OF_THREE_BEYOND_2_SIGMA, "2 of 3 points beyond 2 sigma, one side"),
        ("we3", t.FOUR_OF_FIVE_BEYOND_1_SIGMA, "4 of 5 points beyond 1 sigma, one side"),
        ("we4", t.EIGHT_SAME_SIDE, "8 points in a row on one side"),
        ("nelson1", t.BEYOND_LIMITS, "a point beyond 3 sigma"),
        ("nelson2", t.NINE_SAME_SIDE, "9 points in a row on one side"),
        ("nelson3", t.SIX_TRENDING, "6 points in a row rising or falling"),
        ("nelson4", t.FOURTEEN_ALTERNATING, "14 points in a row alternating up and down"),
        ("nelson5", t.TWO_OF_THREE_BEYOND_2_SIGMA, "2 of 3 points beyond 2 sigma, one side"),
        ("nelson6", t.FOUR_OF_FIVE_BEYOND_1_SIGMA, "4 of 5 points beyond 1 sigma, one side"),
        ("nelson7", t.FIFTEEN_WITHIN_1_SIGMA, "15 points in a row within 1 sigma"),
        ("nelson8", t.EIGHT_BEYOND_1_SIGMA, "8 points in a row beyond 1 sigma, both sides"),
    ]
    return {name: Rule(name, test, text) for name, test, text in table}


RULES: dict[str, Rule] = _rules()
RULE_SETS: dict[str, tuple[str, ...]] = {
    "limit": ("limit",),
    "we": ("we1", "we2", "we3", "we4"),
    "nelson": tuple(f"nelson{i}" for i in range(1, 9)),
}


def parse_rules(text: str, field: str = "rules") -> tuple[Rule, ...]:
    """'we', 'nelson', 'limit', or names and sets separated by commas ('we,nelson3'),
    each rule once, in the order given."""
    names: list[str] = []
    for word in (w.strip().lower() for w in text.split(",")):
        if word in RULE_SETS:
            names += RULE_SETS[word]
        elif word in RULES:
            names.append(word)
        else:
            known = ", ".join([*RULE_SETS, *RULES])
            raise ConfigError(f"{field}: unknown rule {word!r} (known: {known})")
    return tuple(RULES[name] for name in dict.fromkeys(names))


def rule_mask(violations: list[Violation] | tuple[Violation, ...]) -> int:
    """The SPC_RULE_MASK bits of these violations."""
    mask = 0
    for violation in violations:
        mask |= int(violation.test)
    return mask


def check_panel(panel: Panel, rules: tuple[Rule, ...]) -> list[Violation]:
    """The violations of `rules` on a chart panel; where run rules do not apply (ranges,
    moving ranges, EWMA, CUSUM) only the limits test of the selection runs."""
    if not panel.run_rules:
        rules = tuple(rule for rule in rules if rule.test is SpcRule.BEYOND_LIMITS)
    return check(panel.standardized(), rules, panel.limit)


def check(z: np.ndarray, rules: tuple[Rule, ...], limit: float = 3.0) -> list[Violation]:
    """Every violation of `rules` on standardized values `z` (NaN: no point there, as
    the first moving range), ordered by point, then by the order of `rules`."""
    z = np.asarray(z, dtype=np.float64)
    found: list[tuple[int, int, Violation]] = []
    for order, rule in enumerate(rules):
        trips, width = _TESTS[rule.test](z, limit)
        for i in np.flatnonzero(trips):
            start = max(0, int(i) - width + 1)
            points = tuple(range(start + 1, int(i) + 2))
            found.append((int(i), order, Violation(rule.name, int(i) + 1, points)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [violation for _, _, violation in found]


# ---------------------------------------------------------------- the tests


def _run_lengths(mask: np.ndarray) -> np.ndarray:
    """How many True in a row end at each position (0 where False)."""
    index = np.arange(len(mask))
    last_false = np.maximum.accumulate(np.where(mask, -1, index))
    return np.where(mask, index - last_false, 0)


def _window_counts(mask: np.ndarray, m: int) -> np.ndarray:
    """How many True among the last `m` positions up to each (fewer at the start)."""
    counts = np.cumsum(mask, dtype=np.int64)
    earlier = np.zeros(len(mask), dtype=np.int64)
    earlier[m:] = counts[:-m] if len(mask) > m else earlier[m:]
    return counts - earlier


def _beyond(z: np.ndarray, limit: float) -> tuple[np.ndarray, int]:
    return np.abs(z) > limit, 1


def _same_side(length: int) -> Callable[[np.ndarray, float], tuple[np.ndarray, int]]:
    def test(z: np.ndarray, _: float) -> tuple[np.ndarray, int]:
        runs = np.maximum(_run_lengths(z > 0), _run_lengths(z < 0))
        return runs >= length, length

    return test


def _at_points(diff_runs: np.ndarray) -> np.ndarray:
    """Runs over the differences (between point j and j + 1) moved to the point that
    ends them: point 0 ends no difference."""
    return np.concatenate(([0], diff_runs))


def _trend(z: np.ndarray, _: float) -> tuple[np.ndarray, int]:
    d = np.diff(z)
    rising, falling = _at_points(_run_lengths(d > 0)), _at_points(_run_lengths(d < 0))
    return np.maximum(rising, falling) >= 5, 6  # 6 points: 5 steps one way


def _alternating(z: np.ndarray, _: float) -> tuple[np.ndarray, int]:
    d = np.sign(np.diff(z))
    flips = d[1:] * d[:-1] < 0  # step j + 1 goes the other way from step j
    runs = np.concatenate(([0, 0], _run_lengths(flips)))
    return runs >= 12, 14  # 14 points: 13 steps, 12 changes of direction


def _k_of_m(k: int, m: int, sigmas: float) -> Callable[[np.ndarray, float], tuple[np.ndarray, int]]:
    def test(z: np.ndarray, _: float) -> tuple[np.ndarray, int]:
        trips = np.zeros(len(z), dtype=bool)
        for side in (z > sigmas, z < -sigmas):
            trips |= side & (_window_counts(side, m) >= k)
        return trips, m

    return test


def _within_one(z: np.ndarray, _: float) -> tuple[np.ndarray, int]:
    return _run_lengths(np.abs(z) < 1) >= 15, 15


def _mixture(z: np.ndarray, _: float) -> tuple[np.ndarray, int]:
    outside = _run_lengths(np.abs(z) > 1) >= 8
    both_sides = (_window_counts(z > 1, 8) > 0) & (_window_counts(z < -1, 8) > 0)
    return outside & both_sides, 8


_TESTS: dict[SpcRule, Callable[[np.ndarray, float], tuple[np.ndarray, int]]] = {
    SpcRule.BEYOND_LIMITS: _beyond,
    SpcRule.NINE_SAME_SIDE: _same_side(9),
    SpcRule.SIX_TRENDING: _trend,
    SpcRule.FOURTEEN_ALTERNATING: _alternating,
    SpcRule.TWO_OF_THREE_BEYOND_2_SIGMA: _k_of_m(2, 3, 2.0),
    SpcRule.FOUR_OF_FIVE_BEYOND_1_SIGMA: _k_of_m(4, 5, 1.0),
    SpcRule.FIFTEEN_WITHIN_1_SIGMA: _within_one,
    SpcRule.EIGHT_BEYOND_1_SIGMA: _mixture,
    SpcRule.EIGHT_SAME_SIDE: _same_side(8),
}
