"""Percentile bootstrap intervals for mAP, over images resampled with replacement.

Each image is matched once (`ImageMatches`); a resample only re-scores the drawn images.
Two models scored on the same images share the same draws, so their difference is paired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from inspector.errors import InspectorError
from inspector.evaluate.metrics import DetectionStats, ImageMatches

__all__ = ["METRICS", "Bootstrap", "paired_difference", "percentile_intervals"]

METRICS = ("map50", "map50_95")


@dataclass(frozen=True)
class Bootstrap:
    """`resamples` draws of the images, with replacement, from `seed`."""

    resamples: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.resamples < 1:
            raise InspectorError(f"--bootstrap: {self.resamples} resamples; give 1 or more")

    def draws(self, images: int) -> np.ndarray:
        """(resamples, images) image indices; one `integers` call a resample, so a seed
        gives the same draws as drawing them one at a time."""
        rng = np.random.default_rng(self.seed)
        return np.stack([rng.integers(0, images, images) for _ in range(self.resamples)])

    def metrics(self, matches: Sequence[ImageMatches], draws: np.ndarray) -> np.ndarray:
        """(resamples, len(METRICS)): the metrics of each resample of `matches`."""
        if draws.shape[1] != len(matches):
            raise ValueError(f"draws over {draws.shape[1]} images, given {len(matches)}")
        out = np.zeros((len(draws), len(METRICS)))
        for r, drawn in enumerate(draws):
            stats = DetectionStats(0)
            for i in drawn:
                stats.add_matches(matches[i])
            summary, _ = stats.summary()
            out[r] = [summary[m] for m in METRICS]
        return out

    def as_json(self) -> dict[str, int]:
        return {"resamples": self.resamples, "seed": self.seed}


def _interval(values: np.ndarray) -> list[float]:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return [round(float(lo), 5), round(float(hi), 5)]


def percentile_intervals(samples: np.ndarray) -> dict[str, list[float]]:
    """{metric: [2.5th, 97.5th percentile]} of `Bootstrap.metrics`' rows."""
    return {m: _interval(samples[:, j]) for j, m in enumerate(METRICS)}


def paired_difference(
    point: dict[str, float],
    other_point: dict[str, float],
    samples: np.ndarray | None = None,
    other_samples: np.ndarray | None = None,
) -> dict[str, Any]:
    """Model minus other: the point difference of each metric and, given the two models'
    resampled metrics on the same draws, its interval and the share of resamples where
    the difference is <= 0."""
    doc: dict[str, Any] = {m: round(point[m] - other_point[m], 5) for m in METRICS}
    if samples is not None and other_samples is not None:
        diff = samples - other_samples
        doc["intervals"] = percentile_intervals(diff)
        doc["share_at_or_below_zero"] = {
            m: round(float((diff[:, j] <= 0).mean()), 5) for j, m in enumerate(METRICS)
        }
    return doc
