"""Camera intrinsics from views of a board: calibrate, reject outlier views, and judge
the result against documented thresholds (docs/calibration.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from inspector.calibrate.corners import Corners
from inspector.errors import DataError

__all__ = [
    "COVERAGE_GRID",
    "Intrinsics",
    "Thresholds",
    "View",
    "calibrate",
    "coverage_grid",
    "missing_areas",
]

# The image is cut into this grid (columns, rows); coverage is the share of its cells
# that hold at least one corner of a used view.
COVERAGE_GRID = (8, 6)
MIN_VIEWS = 4  # below this the fit is underdetermined in practice: refuse, do not judge
OUTLIER_FACTOR = 3.0  # a view whose error is this many times the median is rejected


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What `pass` requires. The defaults are documented in docs/calibration.md."""

    max_rms: float = 0.5  # px, reprojection error over every used corner
    min_coverage: float = 0.6  # share of COVERAGE_GRID's cells seen
    min_views: int = 10
    max_relative_std: float = 0.01  # of fx, fy, cx, cy (one standard deviation)


@dataclass(frozen=True, slots=True)
class View:
    name: str
    corners: Corners


@dataclass(frozen=True, slots=True)
class Intrinsics:
    camera_matrix: np.ndarray  # 3x3 float64
    dist_coeffs: np.ndarray  # k1 k2 p1 p2 k3
    image_size: tuple[int, int]  # width, height
    rms: float
    view_errors: dict[str, float]  # RMS per used view, px
    rejected: dict[str, float]  # per rejected view: its error when it was rejected
    coverage: float
    covered: np.ndarray  # bool (rows, cols) of COVERAGE_GRID
    std_intrinsics: np.ndarray  # fx fy cx cy k1 k2 p1 p2 k3 (one standard deviation)
    problems: tuple[str, ...]  # why the verdict is fail; empty on pass

    @property
    def verdict(self) -> str:
        return "fail" if self.problems else "pass"

    def to_json(self) -> dict[str, object]:
        """The `--json` contract of `inspector calibrate intrinsics`."""
        return {
            "rms": round(self.rms, 4),
            "camera_matrix": self.camera_matrix.round(4).tolist(),
            "dist_coeffs": self.dist_coeffs.round(6).tolist(),
            "image_size": list(self.image_size),
            "views_used": len(self.view_errors),
            "views_rejected": len(self.rejected),
            "verdict": self.verdict,
        }


def coverage_grid(views: list[View], image_size: tuple[int, int]) -> np.ndarray:
    cols, rows = COVERAGE_GRID
    w, h = image_size
    covered = np.zeros((rows, cols), bool)
    for view in views:
        xy = view.corners.image_points
        cx = np.clip((xy[:, 0] * cols / w).astype(int), 0, cols - 1)
        cy = np.clip((xy[:, 1] * rows / h).astype(int), 0, rows - 1)
        covered[cy, cx] = True
    return covered


def _fit(views: list[View], image_size: tuple[int, int], flags: int) -> tuple:
    objects = [v.corners.object_points for v in views]
    images = [v.corners.image_points for v in views]
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-10)
    return cv2.calibrateCameraExtended(
        objects, images, image_size, np.eye(3), np.zeros(5), flags=flags, criteria=criteria
    )


def calibrate(
    views: list[View],
    image_size: tuple[int, int],
    thresholds: Thresholds = Thresholds(),
    fit_k3: bool = False,
) -> Intrinsics:
    """Fit, drop views whose error stands out (and refit), then judge. `fit_k3` frees
    the sixth-order radial term, which only wide-angle lenses need; fitted on ordinary
    lenses it trades off against k1 and k2 and extrapolates badly at the corners."""
    flags = 0 if fit_k3 else cv2.CALIB_FIX_K3
    used = list(views)
    rejected: dict[str, float] = {}
    while True:
        if len(used) < MIN_VIEWS:
            raise DataError(
                f"only {len(used)} usable views (at least {MIN_VIEWS}, {thresholds.min_views} "
                "for a pass): take more images with the whole board or most of it in view, "
                "tilted and moved across the frame"
            )
        rms, matrix, dist, _, _, std, _, errors = _fit(used, image_size, flags)
        errors = errors.ravel()
        limit = max(OUTLIER_FACTOR * float(np.median(errors)), thresholds.max_rms)
        worst = int(np.argmax(errors))
        if errors[worst] <= limit or len(used) <= MIN_VIEWS:
            break
        rejected[used[worst].name] = float(errors[worst])  # one at a time: it skews the fit
        del used[worst]
    covered = coverage_grid(used, image_size)
    result = Intrinsics(
        camera_matrix=matrix,
        dist_coeffs=dist.ravel()[:5],
        image_size=image_size,
        rms=float(rms),
        view_errors={v.name: float(e) for v, e in zip(used, errors, strict=True)},
        rejected=rejected,
        coverage=float(covered.mean()),
        covered=covered,
        std_intrinsics=std.ravel()[:9],
        problems=(),
    )
    return _judge(result, thresholds)


def _judge(result: Intrinsics, thresholds: Thresholds) -> Intrinsics:
    problems: list[str] = []
    if result.rms > thresholds.max_rms:
        problems.append(
            f"RMS {result.rms:.3f} px > {thresholds.max_rms} px: check focus, motion blur "
            "and that the board is flat"
        )
    if result.coverage < thresholds.min_coverage:
        problems.append(
            f"coverage {result.coverage:.0%} < {thresholds.min_coverage:.0%}: add views with "
            f"the board in {_or_edges(missing_areas(result.covered))}"
        )
    if len(result.view_errors) < thresholds.min_views:
        problems.append(f"{len(result.view_errors)} views < {thresholds.min_views}: add views")
    matrix = result.camera_matrix
    values = np.array([matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]])
    relative = result.std_intrinsics[:4] / values
    if np.any(relative > thresholds.max_relative_std):
        problems.append(
            f"uncertainty of fx, fy, cx, cy up to {relative.max():.1%} > "
            f"{thresholds.max_relative_std:.0%}: add views with more tilt"
        )
    return replace(result, problems=tuple(problems))


def _or_edges(areas: str) -> str:
    return "the image's edges and corners" if areas == "none" else areas


def missing_areas(covered: np.ndarray) -> str:
    """Which parts of the image still need views, in words."""
    rows, cols = covered.shape
    names = []
    for r0, r1, vertical in (
        (0, rows // 3, "top"),
        (rows // 3, rows - rows // 3, "middle"),
        (rows - rows // 3, rows, "bottom"),
    ):
        for c0, c1, horizontal in (
            (0, cols // 3, "left"),
            (cols // 3, cols - cols // 3, "centre"),
            (cols - cols // 3, cols, "right"),
        ):
            if covered[r0:r1, c0:c1].mean() < 0.5:
                names.append(f"{vertical} {horizontal}".replace("middle centre", "centre"))
    return ", ".join(names) if names else "none"
