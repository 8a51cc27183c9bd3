import numpy as np
import pytest

from inspector.errors import InspectorError
from inspector.evaluate.bootstrap import (
    METRICS,
    Bootstrap,
    paired_difference,
    percentile_intervals,
)
from inspector.evaluate.metrics import DetectionStats, ImageMatches, match_image

BOX = np.array([[10, 10, 50, 50]], np.float32)


def detections(images: int, seed: int = 1) -> list[dict[str, np.ndarray]]:
    """One defect an image; found in place about 70% of the time, at a random score, and
    a stray box elsewhere in about half the images."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(images):
        boxes = [BOX if rng.random() < 0.7 else BOX + 60]
        if rng.random() < 0.5:
            boxes.append(BOX + 200)
        out.append(
            {
                "pred_xyxy": np.concatenate(boxes),
                "pred_score": rng.random(len(boxes)),
                "pred_cls": np.zeros(len(boxes), int),
                "true_xyxy": BOX,
                "true_cls": np.array([0]),
            }
        )
    return out


def synthetic(images: int, seed: int = 1) -> list[ImageMatches]:
    return [match_image(**d) for d in detections(images, seed)]


def point(matches: list[ImageMatches]) -> dict[str, float]:
    stats = DetectionStats(1)
    for m in matches:
        stats.add_matches(m)
    return stats.summary()[0]


def width(matches: list[ImageMatches], boot: Bootstrap) -> float:
    lo, hi = percentile_intervals(boot.metrics(matches, boot.draws(len(matches))))["map50"]
    return hi - lo


def test_add_matches_is_add():
    stats = DetectionStats(1)
    for d in detections(30):
        stats.add(**d)
    assert stats.summary()[0] == point(synthetic(30))


@pytest.mark.parametrize("images", [40, 400])
def test_interval_contains_the_point_estimate(images: int):
    matches = synthetic(images)
    boot = Bootstrap(200, seed=0)
    intervals = percentile_intervals(boot.metrics(matches, boot.draws(images)))
    for metric in METRICS:
        lo, hi = intervals[metric]
        assert lo <= point(matches)[metric] <= hi
        assert lo < hi


def test_interval_narrows_with_more_images():
    boot = Bootstrap(200, seed=0)
    assert width(synthetic(400), boot) < width(synthetic(40), boot) / 2


def test_identical_models_differ_by_exactly_zero():
    matches = synthetic(50)
    boot = Bootstrap(50)
    samples = boot.metrics(matches, boot.draws(50))
    diff = paired_difference(point(matches), point(matches), samples, samples.copy())
    assert {m: diff[m] for m in METRICS} == {"map50": 0.0, "map50_95": 0.0}
    assert diff["intervals"] == {"map50": [0.0, 0.0], "map50_95": [0.0, 0.0]}
    assert diff["share_at_or_below_zero"] == {"map50": 1.0, "map50_95": 1.0}


def test_difference_without_resamples_is_the_point_difference():
    diff = paired_difference({"map50": 0.7, "map50_95": 0.4}, {"map50": 0.6, "map50_95": 0.45})
    assert diff == {"map50": 0.1, "map50_95": -0.05}


@pytest.mark.parametrize(
    ("seed", "other_seed", "same"),
    [
        (0, 0, True),
        (7, 7, True),
        (0, 1, False),
    ],
)
def test_seed_makes_it_repeatable(seed: int, other_seed: int, same: bool):
    matches = synthetic(60)
    a, b = Bootstrap(30, seed), Bootstrap(30, other_seed)
    assert np.array_equal(a.draws(60), b.draws(60)) is same
    assert (
        percentile_intervals(a.metrics(matches, a.draws(60)))
        == (percentile_intervals(b.metrics(matches, b.draws(60))))
    ) is same


def test_draws_are_one_call_a_resample():
    """The draws models/README.md's figures were first made with (seed 0, n per call)."""
    rng = np.random.default_rng(0)
    expected = [rng.integers(0, 287, 287) for _ in range(5)]
    assert np.array_equal(Bootstrap(5).draws(287), np.stack(expected))


@pytest.mark.parametrize(
    ("resamples", "error"),
    [
        (0, "--bootstrap: 0 resamples; give 1 or more"),
        (-3, "--bootstrap: -3 resamples; give 1 or more"),
    ],
)
def test_resamples_must_be_positive(resamples: int, error: str):
    with pytest.raises(InspectorError, match=error):
        Bootstrap(resamples)


def test_draws_must_cover_the_images():
    boot = Bootstrap(3)
    with pytest.raises(ValueError, match="draws over 10 images, given 4"):
        boot.metrics(synthetic(4), boot.draws(10))
