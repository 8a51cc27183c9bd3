"""Lighting and image quality of one grey image: focus, exposure, uniformity, glare,
and where the image's content sits; the flat-field reference from a plain target.

Figures are per image and per region of a grid, so a report can show where a lamp is
weak or the lens soft, and the drift check can compare the same numbers later.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "GRID",
    "Quality",
    "flat_field_gain",
    "focus_laplacian",
    "measure_quality",
    "tenengrad",
    "uniformity",
]

GRID = (8, 6)  # columns, rows of the per-region figures
DARK, BRIGHT = 5, 250  # grey levels counted as clipped
GLARE_KERNEL = np.ones((5, 5), np.uint8)  # saturated areas smaller than this are specks


@dataclass(frozen=True, slots=True)
class Quality:
    focus_laplacian: float  # variance of the Laplacian
    tenengrad: float  # mean squared Sobel gradient
    brightness: float  # mean grey level
    clipped_dark: float  # share of pixels at or below DARK
    clipped_bright: float  # share at or above BRIGHT
    uniformity: float  # min / max of the smoothed regional brightness, 0..1
    glare: float  # share of pixels in saturated areas (specks removed)
    content_xy: tuple[float, float]  # centroid of the gradient energy, px
    region_brightness: np.ndarray  # (rows, cols) of GRID
    region_clipped: np.ndarray  # (rows, cols): share clipped dark or bright
    region_focus: np.ndarray  # (rows, cols): Laplacian variance

    def to_json(self) -> dict[str, object]:
        return {
            "focus_laplacian": round(self.focus_laplacian, 3),
            "tenengrad": round(self.tenengrad, 3),
            "brightness": round(self.brightness, 3),
            "clipped_dark": round(self.clipped_dark, 5),
            "clipped_bright": round(self.clipped_bright, 5),
            "uniformity": round(self.uniformity, 4),
            "glare": round(self.glare, 5),
            "content_xy": [round(v, 2) for v in self.content_xy],
        }


def focus_laplacian(grey: np.ndarray) -> float:
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def _gradient_energy(grey: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(gx * gx + gy * gy)


def tenengrad(grey: np.ndarray) -> float:
    return float(_gradient_energy(grey).mean())


def _regions(image: np.ndarray) -> np.ndarray:
    """(rows, cols, h, w) view of `image` cut into GRID (edges that do not divide dropped)."""
    cols, rows = GRID
    h, w = image.shape[0] // rows * rows, image.shape[1] // cols * cols
    cut = image[:h, :w]
    return cut.reshape(rows, h // rows, cols, w // cols).swapaxes(1, 2)


def uniformity(grey: np.ndarray) -> float:
    """min / max of the regional mean brightness: 1 is perfectly even light."""
    means = _regions(grey.astype(np.float32)).mean(axis=(2, 3))
    return float(means.min() / max(float(means.max()), 1e-6))


def flat_field_gain(flat: np.ndarray) -> np.ndarray:
    """Per-pixel gain (float32, mean 1) that evens out the light a plain target shows:
    the target blurred well beyond any texture, mean over it."""
    sigma = max(flat.shape) / 32
    smooth = cv2.GaussianBlur(flat.astype(np.float32), (0, 0), sigma)
    return np.asarray(float(smooth.mean()) / np.maximum(smooth, 1.0), np.float32)


def measure_quality(grey: np.ndarray) -> Quality:
    energy = _gradient_energy(grey)
    total = float(energy.sum())
    h, w = grey.shape
    if total > 0:
        ys, xs = np.mgrid[0:h, 0:w]
        content = (float((xs * energy).sum() / total), float((ys * energy).sum() / total))
    else:
        content = (w / 2, h / 2)
    saturated = (grey >= BRIGHT).astype(np.uint8)
    glare = cv2.morphologyEx(saturated, cv2.MORPH_OPEN, GLARE_KERNEL)
    clipped = ((grey <= DARK) | (grey >= BRIGHT)).astype(np.float32)
    laplacian = cv2.Laplacian(grey, cv2.CV_32F)
    return Quality(
        focus_laplacian=float(laplacian.var()),
        tenengrad=float(energy.mean()),
        brightness=float(grey.mean()),
        clipped_dark=float((grey <= DARK).mean()),
        clipped_bright=float(saturated.mean()),
        uniformity=uniformity(grey),
        glare=float(glare.mean()),
        content_xy=content,
        region_brightness=_regions(grey.astype(np.float32)).mean(axis=(2, 3)),
        region_clipped=_regions(clipped).mean(axis=(2, 3)),
        region_focus=_regions(laplacian).var(axis=(2, 3)),
    )
