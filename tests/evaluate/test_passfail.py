import numpy as np
import pytest

from inspector.evaluate.passfail import auroc


@pytest.mark.parametrize(
    ("scores", "labels", "expected"),
    [
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1.0),
        ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),
        ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),
        ([0.1, 0.6, 0.4, 0.9], [0, 0, 1, 1], 0.75),
        ([0.1, 0.2], [0, 0], float("nan")),
    ],
)
def test_auroc(scores, labels, expected):
    assert auroc(np.array(scores), np.array(labels)) == pytest.approx(expected, nan_ok=True)
