"""Control chart constants for subgroups of n = 2..25, from their definitions.

- c4(n) = sqrt(2 / (n - 1)) * Gamma(n / 2) / Gamma((n - 1) / 2): E[s] = c4 sigma; exact.
- d2(n) = E[R] / sigma and d3(n) = sd(R) / sigma for the range R of n normal values:
  d2 = integral of 1 - Phi(x)^n - (1 - Phi(x))^n over the real line, and
  E[R^2] = 2 * double integral over x < y of
  1 - Phi(y)^n - (1 - Phi(x))^n + (Phi(y) - Phi(x))^n. Both were integrated numerically
  (trapezoid, step 0.004 on [-9, 9], accurate to about 3e-6); `tests/spc/test_constants.py`
  integrates d2 again and checks both against the published three-decimal table
  (Montgomery, Introduction to Statistical Quality Control, Appendix Table VI).

Everything else (A2, A3, B3, B4, D3, D4) follows from these three, as the textbooks
derive them, so the table holds no value that could disagree with another.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inspector.errors import DataError

__all__ = ["MAX_SUBGROUP", "MIN_SUBGROUP", "SubgroupConstants", "constants"]

MIN_SUBGROUP = 2
MAX_SUBGROUP = 25

# n: (d2, d3)
_RANGE_MOMENTS: dict[int, tuple[float, float]] = {
    2: (1.128379, 0.852502),  # exact: 2 / sqrt(pi), sqrt(2 - 4 / pi)
    3: (1.692569, 0.888370),
    4: (2.058751, 0.879810),
    5: (2.325929, 0.864083),
    6: (2.534413, 0.848041),
    7: (2.704357, 0.833207),
    8: (2.847201, 0.819833),
    9: (2.970026, 0.807836),
    10: (3.077505, 0.797052),
    11: (3.172873, 0.787316),
    12: (3.258455, 0.778480),
    13: (3.335980, 0.770418),
    14: (3.406763, 0.763025),
    15: (3.471827, 0.756213),
    16: (3.531983, 0.749910),
    17: (3.587884, 0.744054),
    18: (3.640064, 0.738593),
    19: (3.688963, 0.733483),
    20: (3.734950, 0.728688),
    21: (3.778336, 0.724175),
    22: (3.819385, 0.719917),
    23: (3.858323, 0.715889),
    24: (3.895348, 0.712070),
    25: (3.930629, 0.708443),
}


@dataclass(frozen=True, slots=True)
class SubgroupConstants:
    """The constants of subgroup size `n` (3-sigma limits)."""

    n: int
    c4: float
    d2: float
    d3: float

    @property
    def a2(self) -> float:
        """Xbar limits from R-bar: x-bar-bar +- A2 R-bar."""
        return 3.0 / (self.d2 * math.sqrt(self.n))

    @property
    def a3(self) -> float:
        """Xbar limits from s-bar: x-bar-bar +- A3 s-bar."""
        return 3.0 / (self.c4 * math.sqrt(self.n))

    @property
    def d3_lower(self) -> float:
        """D3: the R chart's LCL is D3 R-bar (0 up to n = 6)."""
        return max(0.0, 1.0 - 3.0 * self.d3 / self.d2)

    @property
    def d4(self) -> float:
        """D4: the R chart's UCL is D4 R-bar."""
        return 1.0 + 3.0 * self.d3 / self.d2

    @property
    def b3(self) -> float:
        """B3: the S chart's LCL is B3 s-bar (0 up to n = 5)."""
        return max(0.0, 1.0 - 3.0 * math.sqrt(1.0 - self.c4**2) / self.c4)

    @property
    def b4(self) -> float:
        """B4: the S chart's UCL is B4 s-bar."""
        return 1.0 + 3.0 * math.sqrt(1.0 - self.c4**2) / self.c4


def c4(n: int) -> float:
    return math.sqrt(2.0 / (n - 1)) * math.exp(math.lgamma(n / 2) - math.lgamma((n - 1) / 2))


def constants(n: int) -> SubgroupConstants:
    """The constants of subgroups of `n` (2..25); DataError outside that range."""
    if n not in _RANGE_MOMENTS:
        raise DataError(
            f"subgroup size {n}: charts of subgroups need {MIN_SUBGROUP}..{MAX_SUBGROUP} "
            "values per subgroup"
        )
    d2, d3 = _RANGE_MOMENTS[n]
    return SubgroupConstants(n, c4(n), d2, d3)
