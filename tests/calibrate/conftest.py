"""Rendered board views through a known camera, shared by the calibrate tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.calibrate.boards import BoardKind, BoardSpec
from inspector.calibrate.synthetic import Camera, render_view, spread_poses

CHARUCO = BoardSpec(BoardKind.CHARUCO, 9, 6, 25.0, 18.0, "DICT_5X5_100")
CHECKER = BoardSpec(BoardKind.CHECKERBOARD, 9, 6, 25.0)
TRUE_CAMERA = Camera(
    np.array([[800.0, 0, 322.0], [0, 805.0, 238.0], [0, 0, 1]]),
    np.array([-0.25, 0.08, 0.001, -0.0005, 0.0]),
    (640, 480),
)


def write_views(spec: BoardSpec, folder: Path, count: int = 12, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, pose in enumerate(spread_poses(spec, TRUE_CAMERA, count, seed)):
        image = render_view(spec, TRUE_CAMERA, pose, noise=2.0, blur=0.8, seed=i)
        cv2.imwrite(str(folder / f"view{i:02d}.png"), image)
    return folder


@pytest.fixture(scope="session")
def charuco_views(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_views(CHARUCO, tmp_path_factory.mktemp("charuco"))


@pytest.fixture(scope="session")
def checker_views(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_views(CHECKER, tmp_path_factory.mktemp("checker"))
