import numpy as np
import pytest

from inspector.config import JudgeConfig
from inspector.errors import ConfigError
from inspector.judge import Judge
from inspector.types import Detections, Verdict

NAMES = ("crack", "hole", "stain")


def dets(*rows):
    """rows of (x0, y0, x1, y1, score, class_id)."""
    table = np.array(rows, np.float32).reshape(-1, 6)
    return Detections.from_arrays(table[:, :4], table[:, 4], table[:, 5])


@pytest.mark.parametrize(
    ("config", "detections", "verdict", "code"),
    [
        ({}, dets(), Verdict.PASS, 0),
        ({}, dets((0, 0, 10, 10, 0.6, 1)), Verdict.FAIL, 2),
        ({}, dets((0, 0, 10, 10, 0.4, 1)), Verdict.PASS, 0),  # under the card's 0.5
        # worst = highest score decides the code
        ({}, dets((0, 0, 10, 10, 0.6, 0), (0, 0, 10, 10, 0.9, 2)), Verdict.FAIL, 3),
        ({"min_confidence": 0.3}, dets((0, 0, 10, 10, 0.4, 1)), Verdict.FAIL, 2),
        (
            {"classes": {"hole": {"min_confidence": 0.8}}},
            dets((0, 0, 10, 10, 0.7, 1)),
            Verdict.PASS,
            0,
        ),
        ({"classes": {"stain": {"ignore": True}}}, dets((0, 0, 10, 10, 0.9, 2)), Verdict.PASS, 0),
        (
            {"classes": {"crack": {"min_width_px": 20}}},
            dets((0, 0, 10, 40, 0.9, 0)),
            Verdict.PASS,
            0,
        ),
        (
            {"classes": {"crack": {"min_height_px": 20}}},
            dets((0, 0, 10, 40, 0.9, 0)),
            Verdict.FAIL,
            1,
        ),
        (
            {"exclude_zones": [{"x0": 0, "y0": 0, "x1": 20, "y1": 20}]},
            dets((0, 0, 10, 10, 0.9, 0)),
            Verdict.PASS,
            0,
        ),
        (
            {"include_zones": [{"x0": 100, "y0": 0, "x1": 200, "y1": 200}]},
            dets((0, 0, 10, 10, 0.9, 0), (110, 10, 120, 20, 0.7, 1)),
            Verdict.FAIL,
            2,
        ),
    ],
)
def test_rules(config, detections, verdict, code):
    judgement = Judge(NAMES, JudgeConfig.model_validate(config), card_threshold=0.5)(detections)
    assert (judgement.verdict, judgement.result_code) == (verdict, code)
    assert (len(judgement.defects) > 0) == (verdict is Verdict.FAIL)


@pytest.mark.parametrize(
    ("config", "card", "error"),
    [
        ({}, None, "judge.min_confidence: not set, and the model card has no pass_fail"),
        ({"classes": {"scratch": {}}}, 0.5, "judge.classes.scratch: not a class of the model"),
    ],
)
def test_bad_rules(config, card, error):
    with pytest.raises(ConfigError, match=error):
        Judge(NAMES, JudgeConfig.model_validate(config), card_threshold=card)


def test_reason_names_the_worst_defect():
    judgement = Judge(NAMES, JudgeConfig(), 0.5)(dets((0, 0, 5, 5, 0.93, 0)))
    assert judgement.reason == "crack 0.93"


@pytest.mark.parametrize(
    ("rule", "mm_per_px", "box_px", "verdict"),
    [
        # 0.5 mm/px: a 4 mm minimum is 8 px
        ({"min_width_mm": 4.0}, (0.5, 0.5), (7, 20), Verdict.PASS),
        ({"min_width_mm": 4.0}, (0.5, 0.5), (9, 20), Verdict.FAIL),
        ({"min_height_mm": 4.0}, (0.5, 0.25), (20, 15), Verdict.PASS),  # 16 px in y
        ({"min_height_mm": 4.0}, (0.5, 0.25), (20, 17), Verdict.FAIL),
        # the larger of the px and mm limits holds
        ({"min_width_mm": 1.0, "min_width_px": 12}, (0.5, 0.5), (10, 20), Verdict.PASS),
    ],
)
def test_rules_in_mm(rule, mm_per_px, box_px, verdict):
    config = JudgeConfig.model_validate({"classes": {"crack": rule}})
    w, h = box_px
    judgement = Judge(NAMES, config, 0.5, mm_per_px)(dets((0, 0, w, h, 0.9, 0)))
    assert judgement.verdict is verdict


@pytest.mark.parametrize("field", ["min_width_mm", "min_height_mm"])
def test_mm_rules_need_a_scale(field):
    config = JudgeConfig.model_validate({"classes": {"hole": {field: 2.0}}})
    with pytest.raises(ConfigError, match=f"judge.classes.hole.{field}: needs calibration"):
        Judge(NAMES, config, 0.5)
