import numpy as np
import pytest

from inspector.errors import InspectorError
from inspector.evaluate.metrics import DetectionStats, box_iou, match_predictions
from inspector.evaluate.passfail import choose_threshold, operating_point

BOX = np.array([[10, 10, 50, 50]], np.float32)


def test_box_iou():
    other = np.array([[30, 10, 70, 50], [100, 100, 110, 110]], np.float32)
    assert box_iou(BOX, other) == pytest.approx(np.array([[800 / 2400, 0]]), abs=1e-6)


def test_match_uses_each_truth_once():
    truth_cls = np.array([0])
    pred_cls = np.array([0, 0])
    iou = np.array([[0.9, 0.8]])
    correct = match_predictions(pred_cls, truth_cls, iou)
    assert correct[:, 0].tolist() == [True, False]
    assert correct[0].tolist() == [True] * 9 + [False]  # 0.9 < 0.95


@pytest.mark.parametrize(
    ("preds", "truths", "map50"),
    [
        ([(BOX, 0.9, 0)], [(BOX, 0)], 1.0),  # perfect
        ([], [(BOX, 0)], 0.0),  # missed
        ([(BOX + 100, 0.9, 0)], [(BOX, 0)], 0.0),  # wrong place
        ([(BOX, 0.9, 1)], [(BOX, 0)], 0.0),  # wrong class
    ],
)
def test_map50_table(preds, truths, map50):
    stats = DetectionStats(2)
    p_xyxy = np.concatenate([p[0] for p in preds]) if preds else np.zeros((0, 4))
    stats.add(
        p_xyxy,
        np.array([p[1] for p in preds]),
        np.array([p[2] for p in preds], int),
        np.concatenate([t[0] for t in truths]),
        np.array([t[1] for t in truths]),
    )
    summary, _ = stats.summary()
    assert summary["map50"] == pytest.approx(map50, abs=0.01)


def test_half_the_parts_found():
    stats = DetectionStats(1)
    stats.add(BOX, np.array([0.9]), np.array([0]), BOX, np.array([0]))
    stats.add(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int), BOX, np.array([0]))
    summary, per_class = stats.summary()
    # Ultralytics closes the PR curve with a straight line from (0.5, 1) to (1, 0): 0.75
    assert summary["map50"] == pytest.approx(0.75, abs=0.01)
    assert summary["recall"] == pytest.approx(0.5, abs=0.01)
    assert per_class[0].instances == 2


SCORES = np.array([0.9, 0.8, 0.3, 0.2, 0.1, 0.05])
DEFECTIVE = np.array([True, True, True, False, False, False])


@pytest.mark.parametrize(
    ("threshold", "escape", "false_reject"),
    [(0.5, 1 / 3, 0.0), (0.15, 0.0, 1 / 3), (0.95, 1.0, 0.0), (0.0, 0.0, 1.0)],
)
def test_operating_point(threshold, escape, false_reject):
    point = operating_point(SCORES, DEFECTIVE, threshold)
    assert (point.escape_rate, point.false_reject_rate) == pytest.approx((escape, false_reject))


OVERLAP = np.array([True, True, False, True, False, False])  # a good part outscores a bad one


@pytest.mark.parametrize(
    ("max_escape", "escape", "false_reject", "between"),
    [
        (0.0, 0.0, 1 / 3, (0.1, 0.2)),  # catch every defect: reject the 0.3 good part too
        (0.34, 1 / 3, 0.0, (0.3, 0.8)),  # let the 0.2 defect escape: no false rejects
        (1.0, 1 / 3, 0.0, (0.3, 0.8)),  # of equal false rejects, the fewest escapes
    ],
)
def test_choose_threshold(max_escape, escape, false_reject, between):
    point = choose_threshold(SCORES, OVERLAP, max_escape)
    assert (point.escape_rate, point.false_reject_rate) == pytest.approx((escape, false_reject))
    assert between[0] < point.threshold < between[1]


def test_choose_threshold_needs_defective_parts():
    with pytest.raises(InspectorError, match="needs defective parts"):
        choose_threshold(SCORES, np.zeros(6, bool), 0.05)


@pytest.mark.parametrize(
    ("hits", "total", "low", "high"),
    [(0, 60, 0.0, 0.0602), (3, 60, 0.0171, 0.1370), (30, 60, 0.3773, 0.6227), (0, 0, 0.0, 1.0)],
)
def test_wilson_interval(hits, total, low, high):
    from inspector.evaluate.passfail import wilson_interval

    assert wilson_interval(hits, total) == pytest.approx((low, high), abs=1e-3)


def test_cross_validated_threshold_rule():
    from inspector.evaluate.passfail import cross_validate_threshold

    rng = np.random.default_rng(0)
    defective = np.arange(200) < 60
    # defective parts score high, good ones low, with some overlap
    scores = np.where(defective, rng.uniform(0.3, 1.0, 200), rng.uniform(0.0, 0.5, 200))
    cv = cross_validate_threshold(scores, defective, max_escape=0.05, folds=5)
    assert cv["folds"] == 5 and len(cv["thresholds"]) == 5
    assert 0.0 <= cv["escape_rate"] <= 0.2
    assert 0.0 < cv["false_reject_rate"] < 0.6
    assert cv["escape_rate_ci95"][0] <= cv["escape_rate"] <= cv["escape_rate_ci95"][1]


def test_cross_validation_needs_two_folds():
    from inspector.evaluate.passfail import cross_validate_threshold

    with pytest.raises(InspectorError, match="at least 2"):
        cross_validate_threshold(SCORES, DEFECTIVE, 0.05, folds=1)
