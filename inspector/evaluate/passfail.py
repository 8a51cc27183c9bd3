"""Part-level pass/fail figures: each image is a part, defective if it has any box.

A part is rejected when its highest detection score reaches the threshold. The escape
rate is the share of defective parts passed; the false-reject rate the share of good
parts rejected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from inspector.errors import InspectorError

__all__ = [
    "OperatingPoint",
    "auroc",
    "choose_threshold",
    "cross_validate_threshold",
    "operating_point",
    "wilson_interval",
]


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    escape_rate: float
    false_reject_rate: float
    defective: int
    good: int
    escapes: int
    false_rejects: int

    @property
    def escape_ci95(self) -> tuple[float, float]:
        return wilson_interval(self.escapes, self.defective)

    @property
    def false_reject_ci95(self) -> tuple[float, float]:
        return wilson_interval(self.false_rejects, self.good)


def wilson_interval(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a rate: how far a rate measured on few parts may be
    from the true one (with 60 defective parts, 3 escapes is 5% but could be 1.7-14%)."""
    if total == 0:
        return (0.0, 1.0)
    p = hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (max(0.0, centre - half), min(1.0, centre + half))


def operating_point(
    part_score: np.ndarray, defective: np.ndarray, threshold: float
) -> OperatingPoint:
    """Rates at one threshold; `part_score` is each part's max detection score."""
    rejected = part_score >= threshold
    n_bad = int(defective.sum())
    n_good = int((~defective).sum())
    escapes = int((defective & ~rejected).sum())
    false_rejects = int((~defective & rejected).sum())
    return OperatingPoint(
        threshold=float(threshold),
        escape_rate=escapes / n_bad if n_bad else 0.0,
        false_reject_rate=false_rejects / n_good if n_good else 0.0,
        defective=n_bad,
        good=n_good,
        escapes=escapes,
        false_rejects=false_rejects,
    )


def choose_threshold(
    part_score: np.ndarray, defective: np.ndarray, max_escape: float
) -> OperatingPoint:
    """Among thresholds with escape rate <= max_escape, the one with the lowest
    false-reject rate (and, of equals, the lowest escape rate).

    Candidates sit midway between consecutive distinct part scores (plus one below the
    lowest and one above the highest), so no part's score ties the chosen threshold.
    """
    if not 0.0 <= max_escape <= 1.0:
        raise InspectorError(f"--max-escape must be within 0..1, got {max_escape}")
    if not defective.any():
        raise InspectorError("--max-escape needs defective parts in the data")
    scores = np.unique(part_score)
    edges = np.concatenate(([0.0], scores, [1.0]))
    candidates = (edges[:-1] + edges[1:]) / 2
    points = [operating_point(part_score, defective, float(t)) for t in candidates]
    allowed = [p for p in points if p.escape_rate <= max_escape]
    return min(allowed, key=lambda p: (p.false_reject_rate, p.escape_rate))


def cross_validate_threshold(
    part_score: np.ndarray,
    defective: np.ndarray,
    max_escape: float,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, object]:
    """How the `--max-escape` rule does on parts it did not see: the threshold is chosen
    on k-1 folds and scored on the held-out fold; escapes and false rejects are pooled
    over the folds. A threshold chosen and scored on the same parts looks better than it
    is; this is the figure to trust."""
    if folds < 2:
        raise InspectorError(f"--cv-folds must be at least 2, got {folds}")
    fold_of = _stratified_folds(defective, folds, seed)
    escapes = false_rejects = 0
    thresholds = []
    for k in range(folds):
        held = fold_of == k
        chosen = choose_threshold(part_score[~held], defective[~held], max_escape)
        point = operating_point(part_score[held], defective[held], chosen.threshold)
        escapes += point.escapes
        false_rejects += point.false_rejects
        thresholds.append(round(chosen.threshold, 5))
    n_bad, n_good = int(defective.sum()), int((~defective).sum())
    return {
        "folds": folds,
        "escape_rate": round(escapes / n_bad, 5) if n_bad else 0.0,
        "false_reject_rate": round(false_rejects / n_good, 5) if n_good else 0.0,
        "escape_rate_ci95": [round(v, 4) for v in wilson_interval(escapes, n_bad)],
        "false_reject_rate_ci95": [round(v, 4) for v in wilson_interval(false_rejects, n_good)],
        "thresholds": thresholds,
    }


def _stratified_folds(defective: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold index per part, defective and good parts each dealt round-robin after a
    seeded shuffle, so every fold has its share of both."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(defective), np.int64)
    for group in (np.flatnonzero(defective), np.flatnonzero(~defective)):
        order = rng.permutation(group)
        fold_of[order] = np.arange(len(order)) % folds
    return fold_of


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN when one class
    is absent."""
    pos, neg = scores[labels > 0], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    ranks = _average_ranks(np.concatenate([pos, neg]))
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _average_ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks
