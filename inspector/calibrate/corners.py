"""Finding a board's corners in one image: ChArUco (partial views count) or a
checkerboard (`findChessboardCornersSB`, whole board only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.calibrate.boards import BoardKind, BoardSpec
from inspector.errors import DataError

__all__ = ["IMAGE_SUFFIXES", "CornerFinder", "Corners", "read_grey_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Fewer ChArUco corners than this fit a pose poorly; the view is not used.
MIN_CORNERS = 8
_SUBPIX = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 0.001)


@dataclass(frozen=True, slots=True)
class Corners:
    """Matched corners of one view: pixel positions and their board positions (mm)."""

    image_points: np.ndarray  # (N, 2) float32
    object_points: np.ndarray  # (N, 3) float32

    def __len__(self) -> int:
        return len(self.image_points)


class CornerFinder:
    """Built once per board; `find` returns the corners of one grey image or None."""

    def __init__(self, spec: BoardSpec) -> None:
        self.spec = spec
        self._charuco = (
            cv2.aruco.CharucoDetector(spec.aruco_board())
            if spec.kind is BoardKind.CHARUCO
            else None
        )

    def find(self, grey: np.ndarray) -> Corners | None:
        if self._charuco is not None:
            return self._find_charuco(grey)
        return self._find_checkerboard(grey)

    def _find_charuco(self, grey: np.ndarray) -> Corners | None:
        assert self._charuco is not None  # narrowing for mypy; set in __init__
        corners, ids, _, _ = self._charuco.detectBoard(grey)
        if ids is None or len(ids) < MIN_CORNERS:
            return None
        # The detector places ChArUco corners from the markers; refine them on the
        # chessboard's saddle points, as the checkerboard detector does.
        corners = cv2.cornerSubPix(
            grey, corners.reshape(-1, 1, 2).astype(np.float32), (3, 3), (-1, -1), _SUBPIX
        )
        board: Any = self._charuco.getBoard()  # its stub wants a sequence; an array works
        objects, images = board.matchImagePoints(corners, ids)
        return Corners(
            images.reshape(-1, 2).astype(np.float32), objects.reshape(-1, 3).astype(np.float32)
        )

    def _find_checkerboard(self, grey: np.ndarray) -> Corners | None:
        flags = cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY
        found, corners = cv2.findChessboardCornersSB(grey, self.spec.inner_corners, flags=flags)
        if not found:
            return None
        return Corners(corners.reshape(-1, 2).astype(np.float32), self.spec.corner_points())


def read_grey_images(folder: Path) -> list[tuple[str, np.ndarray]]:
    """Every image in `folder` as (name, grey), sorted by name; all one size."""
    if not folder.is_dir():
        raise DataError(f"--images: {folder} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise DataError(f"--images: {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    images: list[tuple[str, np.ndarray]] = []
    for path in paths:
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if grey is None:
            raise DataError(f"{path}: not a readable image; remove it or replace it")
        images.append((path.name, grey))
    sizes = {grey.shape for _, grey in images}
    if len(sizes) > 1:
        first_name, first = images[0]
        other_name, other = next((n, g) for n, g in images if g.shape != first.shape)
        raise DataError(
            f"--images: mixed resolutions ({first_name} {first.shape[1]}x{first.shape[0]}, "
            f"{other_name} {other.shape[1]}x{other.shape[0]}); calibrate one camera at the "
            "resolution the station runs, one folder per resolution"
        )
    return images
