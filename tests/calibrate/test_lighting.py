"""Focus falls with blur; uniformity sees a vignette and the flat field removes it."""

import itertools

import cv2
import numpy as np
import pytest

from inspector.calibrate.boards import render_board
from inspector.calibrate.lighting import flat_field_gain, measure_quality, uniformity

from .conftest import CHARUCO


def scene() -> np.ndarray:
    board = render_board(CHARUCO, 2.5, 1.0)
    return cv2.resize(board, (640, 480), interpolation=cv2.INTER_AREA)


def vignette(shape, strength: float) -> np.ndarray:
    """cos^4 fall-off, 1 - strength at the corners."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w]
    r = np.hypot(xs - w / 2, ys - h / 2) / np.hypot(w / 2, h / 2)
    return (1 - strength * r**2).astype(np.float32)


@pytest.mark.parametrize("metric", ["focus_laplacian", "tenengrad"])
def test_focus_falls_with_blur(metric):
    image = scene()
    scores = [
        getattr(measure_quality(cv2.GaussianBlur(image, (0, 0), s) if s else image), metric)
        for s in (0, 0.7, 1.2, 2.0, 3.0, 5.0)
    ]
    assert all(a > b for a, b in itertools.pairwise(scores)), scores


@pytest.mark.parametrize(
    ("strength", "low", "high"),
    [(0.0, 0.97, 1.0), (0.2, 0.7, 0.9), (0.5, 0.3, 0.65)],
)
def test_uniformity_sees_a_vignette(strength, low, high):
    flat = np.full((480, 640), 200, np.float32) * vignette((480, 640), strength)
    noisy = flat + np.random.default_rng(0).normal(0, 2, flat.shape)
    grey = np.clip(noisy, 0, 255).astype(np.uint8)
    assert low <= uniformity(grey) <= high
    corrected = np.clip(grey * flat_field_gain(grey), 0, 255).astype(np.uint8)
    assert uniformity(corrected) > 0.97


@pytest.mark.parametrize(
    ("level", "dark", "bright"),
    [(0, 1.0, 0.0), (128, 0.0, 0.0), (255, 0.0, 1.0)],
)
def test_exposure_clipping(level, dark, bright):
    quality = measure_quality(np.full((60, 80), level, np.uint8))
    assert (quality.clipped_dark, quality.clipped_bright) == (dark, bright)


def test_glare_ignores_specks_but_not_a_hot_spot():
    grey = np.full((120, 160), 120, np.uint8)
    grey[10, 10] = grey[50, 90] = 255  # specks
    assert measure_quality(grey).glare == 0
    cv2.circle(grey, (80, 60), 15, 255, -1)
    assert measure_quality(grey).glare == pytest.approx(np.pi * 15**2 / grey.size, rel=0.2)
