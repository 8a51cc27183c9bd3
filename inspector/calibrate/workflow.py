"""What each `inspector calibrate` command does, between reading its input and
printing: the CLI stays a thin layer of options."""

from __future__ import annotations

from pathlib import Path

from inspector.calibrate.boards import BoardSpec
from inspector.calibrate.corners import CornerFinder, read_grey_images
from inspector.calibrate.intrinsics import Intrinsics, View, calibrate
from inspector.calibrate.profile import (
    IntrinsicsSection,
    Profile,
    load_profile,
    new_profile,
    save_profile,
)
from inspector.errors import DataError

__all__ = ["find_views", "profile_with_intrinsics", "run_intrinsics", "update_profile"]


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
    return profile.model_copy(update={"measured_by": by})


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
