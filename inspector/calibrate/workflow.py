"""What each `inspector calibrate` command does, between reading its input and
printing: the CLI stays a thin layer of options."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from inspector.calibrate.boards import BoardSpec
from inspector.calibrate.corners import CornerFinder, read_grey_images
from inspector.calibrate.drift import DriftCheck, DriftItem, check_drift, check_parts
from inspector.calibrate.intrinsics import Intrinsics, View, calibrate
from inspector.calibrate.lighting import Quality, flat_field_gain, measure_quality
from inspector.calibrate.profile import (
    FLAT_SCALE,
    Baseline,
    IntrinsicsSection,
    Profile,
    ScaleSection,
    load_profile,
    new_profile,
    now,
    save_profile,
)
from inspector.calibrate.scale import Scale, measure_scale
from inspector.errors import ConfigError, DataError
from inspector.spc.health import measure_image

__all__ = [
    "CheckInput",
    "baseline_of",
    "find_views",
    "parse_roi",
    "profile_with_intrinsics",
    "profile_with_lighting",
    "profile_with_scale",
    "read_one_grey",
    "read_part_figures",
    "run_check",
    "run_intrinsics",
    "run_lighting",
    "run_scale",
    "update_profile",
]


def find_views(spec: BoardSpec, folder: Path) -> tuple[list[View], tuple[int, int]]:
    """The views of `folder` that show the board, and the images' size."""
    images = read_grey_images(folder)
    finder = CornerFinder(spec)
    views = [View(name, c) for name, grey in images if (c := finder.find(grey)) is not None]
    if not views:
        raise DataError(
            f"none of the {len(images)} images in {folder} shows a {spec.describe()}: check "
            "--kind, --squares (squares, not inner corners) and --dictionary against the "
            "printed board"
        )
    height, width = images[0][1].shape
    return views, (width, height)


def run_intrinsics(spec: BoardSpec, folder: Path, fit_k3: bool) -> tuple[Intrinsics, list[View]]:
    views, size = find_views(spec, folder)
    return calibrate(views, size, fit_k3=fit_k3), views


def update_profile(out: Path, station: str, size: tuple[int, int], by: str) -> Profile:
    """The profile at `out` to add a section to, or a new one. A profile of another
    image size is refused: its sections would not apply."""
    if not out.exists():
        return new_profile(station, size, by)
    profile = load_profile(out, "--out")
    if profile.image_size != size:
        raise DataError(
            f"--out: {out} is for {profile.image_size[0]}x{profile.image_size[1]} images, "
            f"these are {size[0]}x{size[1]}; write a new profile or recalibrate at that size"
        )
    return profile.model_copy(update={"measured_by": by, "measured_at": now()})


def profile_with_intrinsics(
    result: Intrinsics, spec: BoardSpec, out: Path, station: str, by: str
) -> Profile:
    """Write the intrinsics into the profile. The scale, measured through the old
    undistortion, no longer holds and is dropped."""
    profile = update_profile(out, station, result.image_size, by)
    section = IntrinsicsSection(
        camera_matrix=tuple(tuple(float(v) for v in row) for row in result.camera_matrix),
        dist_coeffs=tuple(float(v) for v in result.dist_coeffs),
        rms_px=result.rms,
        views=len(result.view_errors),
        board=spec.describe(),
    )
    return save_profile(profile.model_copy(update={"intrinsics": section, "scale": None}), out)


def read_one_grey(path: Path, option: str = "--image") -> np.ndarray:
    grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    if grey is None:
        raise DataError(f"{option}: {path} is not a readable image")
    return grey


def run_scale(
    spec: BoardSpec, image: Path, profile_path: Path | None
) -> tuple[Scale, np.ndarray, Profile | None]:
    """Scale (and tilt, with intrinsics) from one image of the board on the plane."""
    grey = read_one_grey(image)
    profile = None
    if profile_path is not None and profile_path.exists():
        profile = load_profile(profile_path, "--profile")
        _same_size(profile, grey, "--image")
    corners = CornerFinder(spec).find(grey)
    if corners is None:
        raise DataError(
            f"--image: {image} does not show a {spec.describe()}; check the board flags, "
            "focus and lighting"
        )
    intrinsics = profile.intrinsics if profile is not None else None
    return measure_scale(corners, intrinsics), grey, profile


def _same_size(profile: Profile, grey: np.ndarray, option: str) -> None:
    size = (grey.shape[1], grey.shape[0])
    if tuple(profile.image_size) != size:
        raise DataError(
            f"{option}: the image is {size[0]}x{size[1]}, the profile was measured at "
            f"{profile.image_size[0]}x{profile.image_size[1]}; use the station's camera "
            "resolution or recalibrate"
        )


def profile_with_scale(
    scale: Scale,
    spec: BoardSpec,
    out: Path,
    size: tuple[int, int],
    roi: tuple[int, int, int, int] | None,
    by: str,
) -> Profile:
    profile = update_profile(out, out.stem, size, by)
    section = ScaleSection(
        mm_per_px_x=scale.mm_per_px_x,
        mm_per_px_y=scale.mm_per_px_y,
        variation=scale.variation,
        tilt_deg=scale.tilt_deg,
        board=spec.describe(),
    )
    update: dict[str, object] = {"scale": section}
    if roi is not None:
        update["roi"] = roi
    return save_profile(profile.model_copy(update=update), out)


def parse_roi(text: str, size: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """`x0,y0,x1,y1` in pixels."""
    try:
        x0, y0, x1, y1 = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--roi: {text!r} is not x0,y0,x1,y1 in pixels") from None
    if not (0 <= x0 < x1 and 0 <= y0 < y1):
        raise ConfigError(f"--roi: {text} is empty or negative; x0 < x1 and y0 < y1")
    if size is not None and (x1 > size[0] or y1 > size[1]):
        raise ConfigError(f"--roi: {text} leaves the {size[0]}x{size[1]} image")
    return x0, y0, x1, y1


def run_lighting(
    image: Path, flat: Path | None, profile_path: Path | None
) -> tuple[Quality, Quality | None, np.ndarray]:
    """The golden image's figures, the plain target's (when given), and the image."""
    grey = read_one_grey(image)
    if profile_path is not None and profile_path.exists():
        _same_size(load_profile(profile_path, "--profile"), grey, "--image")
    flat_grey = read_one_grey(flat, "--flat") if flat is not None else None
    if flat_grey is not None and flat_grey.shape != grey.shape:
        raise DataError("--flat: the plain target's image is not the size of --image")
    flat_quality = measure_quality(flat_grey) if flat_grey is not None else None
    return measure_quality(grey), flat_quality, grey


def baseline_of(quality: Quality, flat_quality: Quality | None, grey: np.ndarray) -> Baseline:
    health = measure_image(grey)
    return Baseline(
        health_brightness=health.brightness,
        health_focus=health.focus,
        focus_laplacian=quality.focus_laplacian,
        tenengrad=quality.tenengrad,
        brightness=quality.brightness,
        clipped_dark=quality.clipped_dark,
        clipped_bright=quality.clipped_bright,
        uniformity=(flat_quality or quality).uniformity,
        glare=quality.glare,
        content_xy=quality.content_xy,
    )


def profile_with_lighting(
    quality: Quality,
    image: np.ndarray,
    flat: Path | None,
    flat_quality: Quality | None,
    out: Path,
    by: str,
) -> Profile:
    """Record the golden baseline and, from a plain target, the flat-field reference
    beside the profile (`STATION.flat.png`: 16-bit, gain x FLAT_SCALE)."""
    grey = read_one_grey(flat, "--flat") if flat is not None else None
    size = (image.shape[1], image.shape[0])
    profile = update_profile(out, out.stem, size, by)
    update: dict[str, object] = {"baseline": baseline_of(quality, flat_quality, image)}
    if grey is not None:
        name = f"{out.stem}.flat.png"
        gain = flat_field_gain(grey)
        encoded = np.clip(gain * FLAT_SCALE, 0, 65535).astype(np.uint16)
        out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(out.parent / name), encoded)
        digest = hashlib.sha256((out.parent / name).read_bytes()).hexdigest()
        update |= {"flat_field": name, "flat_field_sha256": digest}
    return save_profile(profile.model_copy(update=update), out)


@dataclass(frozen=True, slots=True)
class CheckInput:
    """What `calibrate check` compares with the baseline: frames, the plain target
    again, and the station's log (its last `parts` parts with image figures)."""

    images: Path | None = None
    flat: Path | None = None
    log: Path | None = None
    parts: int = 500


def run_check(profile_path: Path, given: CheckInput) -> tuple[DriftCheck, np.ndarray | None]:
    """Frames and logged parts against the profile's golden baseline; returns the check
    and the first frame (None without frames)."""
    profile = load_profile(profile_path, "--profile")
    baseline = profile.baseline
    if baseline is None:
        raise DataError(
            f"--profile: {profile_path} has no golden baseline; run "
            f"`inspector calibrate lighting --profile {profile_path}` first"
        )
    if given.images is None and given.log is None:
        raise ConfigError("give --images (recent frames) or --log (the station's log), or both")
    greys = _check_frames(profile, given.images) if given.images is not None else []
    items: tuple[DriftItem, ...] = ()
    if greys:
        flat = measure_quality(read_one_grey(given.flat, "--flat")) if given.flat else None
        frames = [measure_quality(grey) for grey in greys]
        items = check_drift(baseline, frames, greys[0].shape[1], flat).items
    parts = 0
    if given.log is not None:
        brightness, focus = read_part_figures(given.log, given.parts)
        items += check_parts(baseline, brightness, focus)
        parts = len(brightness)
    return DriftCheck(items, len(greys), parts), greys[0] if greys else None


def _check_frames(profile: Profile, images: Path) -> list[np.ndarray]:
    if images.is_dir():
        greys = [grey for _, grey in read_grey_images(images)]
    else:
        greys = [read_one_grey(images, "--images")]
    for grey in greys:
        _same_size(profile, grey, "--images")
    return greys


def read_part_figures(log: Path, parts: int) -> tuple[list[float], list[float]]:
    """Brightness and focus of the newest `parts` parts that have them."""
    from inspector.store.db import open_readonly

    conn = open_readonly(log)
    try:
        rows = conn.execute(
            "SELECT brightness, focus FROM inspections WHERE brightness IS NOT NULL "
            "AND focus IS NOT NULL ORDER BY id DESC LIMIT ?",
            (parts,),
        ).fetchall()
    finally:
        conn.close()
    if not rows:
        raise DataError(
            f"--log: no part in {log} has image figures; the station logs them while an SPC "
            "image monitor runs (spc: {enabled: true}, docs/spc.md)"
        )
    return [r[0] for r in rows], [r[1] for r in rows]
