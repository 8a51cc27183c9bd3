"""Scale and tilt of the inspection plane from one view of a board lying on it.

The corners are undistorted first (when the profile has intrinsics), so the plane maps
to the image by a homography; mm per pixel is the length of that map's local Jacobian
along each image axis, taken at every corner: its spread is how much the scale varies
across the field (perspective from a tilted camera). Tilt is the angle between the
board's normal and the optical axis, from the board's pose (needs intrinsics).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspector.calibrate.corners import Corners
from inspector.calibrate.profile import IntrinsicsSection
from inspector.errors import DataError

__all__ = ["Scale", "measure_scale"]

MIN_CORNERS = 12


@dataclass(frozen=True, slots=True)
class Scale:
    mm_per_px_x: float  # at the centroid of the board's corners
    mm_per_px_y: float
    variation: float  # (max - min) / mean over the corners, the larger of x and y
    tilt_deg: float | None
    points: np.ndarray  # (N, 2) undistorted corner pixels
    local: np.ndarray  # (N, 2) mm/px in x and y at each of them

    def to_json(self) -> dict[str, object]:
        return {
            "mm_per_px_x": round(self.mm_per_px_x, 6),
            "mm_per_px_y": round(self.mm_per_px_y, 6),
            "variation": round(self.variation, 5),
            "tilt_deg": None if self.tilt_deg is None else round(self.tilt_deg, 3),
        }


def _undistorted(corners: Corners, intrinsics: IntrinsicsSection | None) -> np.ndarray:
    points = corners.image_points.reshape(-1, 1, 2).astype(np.float64)
    if intrinsics is None:
        return points.reshape(-1, 2)
    matrix = intrinsics.matrix()
    return cv2.undistortPoints(points, matrix, intrinsics.dist(), P=matrix).reshape(-1, 2)


def _local_scale(to_mm: np.ndarray, points: np.ndarray) -> np.ndarray:
    """mm per pixel along x and y at each point: |d(mm)/du| and |d(mm)/dv|."""

    def apply(p: np.ndarray) -> np.ndarray:
        return cv2.perspectiveTransform(p.reshape(-1, 1, 2), to_mm).reshape(-1, 2)

    dx, dy = np.array([0.5, 0.0]), np.array([0.0, 0.5])
    along_x = apply(points + dx) - apply(points - dx)
    along_y = apply(points + dy) - apply(points - dy)
    return np.column_stack([np.linalg.norm(along_x, axis=1), np.linalg.norm(along_y, axis=1)])


def _tilt(corners: Corners, points: np.ndarray, intrinsics: IntrinsicsSection) -> float:
    ok, rvec, _ = cv2.solvePnP(
        corners.object_points.astype(np.float64), points, intrinsics.matrix(), None
    )
    if not ok:
        raise DataError("the board's pose could not be solved; take the image again")
    rotation, _ = cv2.Rodrigues(rvec)
    return float(np.degrees(np.arccos(min(1.0, abs(rotation[2, 2])))))


def measure_scale(corners: Corners, intrinsics: IntrinsicsSection | None) -> Scale:
    if len(corners) < MIN_CORNERS:
        raise DataError(
            f"only {len(corners)} board corners found (at least {MIN_CORNERS}): lay the "
            "whole board flat in the inspected area, in focus"
        )
    points = _undistorted(corners, intrinsics)
    to_mm, _ = cv2.findHomography(points, corners.object_points[:, :2].astype(np.float64))
    if to_mm is None:
        raise DataError("no plane fits the board's corners; take the image again")
    local = _local_scale(to_mm, points)
    centre = points.mean(axis=0, keepdims=True)
    at_centre = _local_scale(to_mm, centre)[0]
    spread = (local.max(axis=0) - local.min(axis=0)) / local.mean(axis=0)
    return Scale(
        mm_per_px_x=float(at_centre[0]),
        mm_per_px_y=float(at_centre[1]),
        variation=float(spread.max()),
        tilt_deg=None if intrinsics is None else _tilt(corners, points, intrinsics),
        points=points,
        local=local,
    )
