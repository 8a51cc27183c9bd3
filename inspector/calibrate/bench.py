"""What applying a calibration profile costs per part, for `inspector bench
--calibration PROFILE`: undistortion, ROI crop, letterbox and flat-field in one remap
(`inspector.vision.rectify`), against the plain letterbox of the same region.

- `fixed_roi_us`: the profile's ROI (or the whole frame), maps kept between parts.
- `moving_part_us`: a part-sized region that moves every part: new maps each time.
- `letterbox_us`: the letterbox alone on the same fixed region, what runs without a
  profile; the calibration's own cost is the difference.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from inspector.calibrate.profile import load_flat_gain, load_profile
from inspector.errors import DataError
from inspector.types import Region
from inspector.vision.letterbox import Letterbox
from inspector.vision.rectify import Rectifier

__all__ = ["measure_calibration"]

CALLS = 300


def _median_us(samples: np.ndarray) -> dict[str, float]:
    return {
        "median": round(float(np.median(samples)) * 1e6, 1),
        "p99": round(float(np.percentile(samples, 99)) * 1e6, 1),
    }


def _seconds(call: Callable[..., object], *args: object) -> float:
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


def measure_calibration(
    frame: np.ndarray, profile_path: Path, input_hw: tuple[int, int]
) -> dict[str, Any]:
    profile = load_profile(profile_path, "--calibration")
    h, w = frame.shape[:2]
    if tuple(profile.image_size) != (w, h):
        raise DataError(
            f"--calibration: {profile_path} is for {profile.image_size[0]}x"
            f"{profile.image_size[1]} frames, the recording's are {w}x{h}"
        )
    if profile.intrinsics is None:
        raise DataError(f"--calibration: {profile_path} has no intrinsics to apply")
    gain = load_flat_gain(profile, profile_path)
    matrix, dist = profile.intrinsics.matrix(), profile.intrinsics.dist()
    # one each: a rectifier keeps the maps of its last region
    fixed_rectifier = Rectifier.build(matrix, dist, (w, h), gain, input_hw)
    moving_rectifier = Rectifier.build(matrix, dist, (w, h), gain, input_hw)
    x0, y0, x1, y1 = profile.roi or (0, 0, w, h)
    fixed = Region(x0, y0, x1, y1)
    letterbox = Letterbox(input_hw)
    crop = fixed.crop(frame)
    part_w, part_h = min(300, w), min(220, h)
    rng = np.random.default_rng(0)
    corners = zip(
        rng.integers(0, w - part_w + 1, CALLS), rng.integers(0, h - part_h + 1, CALLS), strict=True
    )
    moving = [Region(int(x), int(y), int(x) + part_w, int(y) + part_h) for x, y in corners]
    samples = {name: np.empty(CALLS) for name in ("fixed", "moving", "letterbox")}
    for i in range(CALLS):  # interleaved, so a slow spell of the host hits all three
        samples["fixed"][i] = _seconds(fixed_rectifier, frame, fixed)
        samples["moving"][i] = _seconds(moving_rectifier, frame, moving[i])
        samples["letterbox"][i] = _seconds(letterbox, crop)
    return {
        "profile": profile.calibration_id,
        "frame": [w, h],
        "input": list(input_hw),
        "flat_field": gain is not None,
        "fixed_roi_us": _median_us(samples["fixed"]),
        "moving_part_us": _median_us(samples["moving"]),
        "moving_part_size": [part_w, part_h],
        "letterbox_us": _median_us(samples["letterbox"]),
    }
