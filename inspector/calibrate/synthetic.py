"""Rendered views of a board through a known camera: what the tests check calibration
against and what the docs' figures are made from (no dataset image is ever copied in).

A view warps a flat render of the board through the pinhole model and the lens
distortion: for every output pixel, undistort it, intersect its ray with the board's
plane, and sample the board there. Noise and blur come after, as a sensor adds them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inspector.calibrate.boards import BoardSpec, render_board

__all__ = ["Camera", "Pose", "render_view", "spread_poses"]

_PX_PER_MM = 12.0  # the flat render's resolution: well above any view's


@dataclass(frozen=True, slots=True)
class Camera:
    matrix: np.ndarray  # 3x3
    dist: np.ndarray  # k1 k2 p1 p2 k3
    size: tuple[int, int]  # width, height


@dataclass(frozen=True, slots=True)
class Pose:
    """Board-to-camera rotation (Rodrigues vector) and translation in mm."""

    rvec: np.ndarray
    tvec: np.ndarray


def render_view(
    spec: BoardSpec,
    camera: Camera,
    pose: Pose,
    noise: float = 0.0,
    blur: float = 0.0,
    seed: int = 0,
    background: int = 128,
) -> np.ndarray:
    """A uint8 grey image of the board seen by `camera` from `pose`."""
    margin = 1.0
    sharp = render_board(spec, _PX_PER_MM, margin).astype(np.float32)
    # Each view pixel integrates the board over its footprint: low-pass the flat render
    # to that footprint first, or edges snap to whole pixels and corners lose accuracy.
    view_px_per_mm = float(camera.matrix[0, 0]) / float(pose.tvec.ravel()[2] + 1e-9)
    flat = cv2.GaussianBlur(sharp, (0, 0), 0.5 * _PX_PER_MM / max(view_px_per_mm, 1e-3))
    w, h = camera.size
    pixels = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).reshape(-1, 1, 2)
    normalized = cv2.undistortPoints(
        pixels.astype(np.float32),
        camera.matrix,
        camera.dist,
        R=None,
        P=None,
        criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-9),
    ).reshape(-1, 2)
    rotation, _ = cv2.Rodrigues(pose.rvec)
    plane_to_ray = np.column_stack([rotation[:, 0], rotation[:, 1], pose.tvec.ravel()])
    rays = np.column_stack([normalized, np.ones(len(normalized))])
    board = rays @ np.linalg.inv(plane_to_ray).T
    in_front = board[:, 2] > 0
    board_xy = board[:, :2] / np.where(in_front, board[:, 2], 1.0)[:, None]
    offset = margin * spec.square_mm
    map_xy = ((board_xy + offset) * _PX_PER_MM - 0.5).astype(np.float32)
    map_xy[~in_front] = -1e6
    map_x, map_y = (m.reshape(h, w) for m in map_xy.T)
    image = cv2.remap(
        flat,
        map_x,
        map_y,
        cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=float(background),
    )
    if blur > 0:
        image = cv2.GaussianBlur(image, (0, 0), blur)
    if noise > 0:
        image = image + np.random.default_rng(seed).normal(0, noise, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def spread_poses(spec: BoardSpec, camera: Camera, count: int, seed: int = 0) -> list[Pose]:
    """`count` poses that tilt the board up to 35 degrees and move it across the frame,
    each keeping the whole board in view, as an engineer is told to hold it."""
    rng = np.random.default_rng(seed)
    width_mm, height_mm = spec.size_mm
    centre = np.array([width_mm / 2, height_mm / 2, 0.0])
    fx = float(camera.matrix[0, 0])
    w, h = camera.size
    distance = fx * width_mm / (0.55 * w)  # the board spans about half the width
    poses: list[Pose] = []
    while len(poses) < count:
        angles = np.radians(rng.uniform(-35, 35, 3) * np.array([1, 1, 0.3]))
        rotation, _ = cv2.Rodrigues(angles)
        shift = rng.uniform(-1, 1, 2) * np.array([0.3 * w, 0.3 * h]) * distance / fx
        tvec = (
            np.array([shift[0], shift[1], distance * rng.uniform(0.85, 1.15)]) - rotation @ centre
        )
        pose = Pose(cv2.Rodrigues(rotation)[0].ravel(), tvec)
        if _fits(spec, camera, pose):
            poses.append(pose)
    return poses


def _fits(spec: BoardSpec, camera: Camera, pose: Pose) -> bool:
    width_mm, height_mm = spec.size_mm
    outline = np.array(
        [[0, 0, 0], [width_mm, 0, 0], [width_mm, height_mm, 0], [0, height_mm, 0]], np.float64
    )
    points, _ = cv2.projectPoints(outline, pose.rvec, pose.tvec, camera.matrix, camera.dist)
    w, h = camera.size
    xy = points.reshape(-1, 2)
    return bool(np.all((xy > 0.05 * w) & (xy < [0.95 * w, 0.95 * h])))
