"""Calibration boards: what was printed (`BoardSpec`), its 3D corner positions and its
image at a chosen resolution; `write_target` prints one at true scale.

Board coordinates are millimetres with the origin at the board's top-left corner (the
outer corner of the first square), x to the right, y down, z = 0 on the board, for
ChArUco and checkerboard alike, so a render and a detection share one frame.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import cv2
import numpy as np

from inspector.errors import ConfigError, OutputExistsError

__all__ = ["BoardKind", "BoardSpec", "parse_squares", "render_board", "write_target"]

# A white border of this many squares around the board: detectors need a quiet zone.
MARGIN_SQUARES = 1.0


class BoardKind(str, Enum):
    """What `enum.StrEnum` (Python 3.11) would give, on Python 3.10 too (JetPack 6): the
    member is its value in str(), format() and f-strings, and equals that string."""

    CHARUCO = "charuco"
    CHECKERBOARD = "checkerboard"

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)


def parse_squares(text: str) -> tuple[int, int]:
    """`9x6` -> (9, 6): squares across and down."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise ConfigError(f"--squares: {text!r} is not COLSxROWS, e.g. 9x6")
    cols, rows = int(match[1]), int(match[2])
    if cols < 3 or rows < 3:
        raise ConfigError(f"--squares: {text} is too small; a board needs at least 3x3 squares")
    return cols, rows


@dataclass(frozen=True, slots=True)
class BoardSpec:
    """A printed board. `marker_mm` and `dictionary` matter for ChArUco only."""

    kind: BoardKind
    cols: int
    rows: int
    square_mm: float
    marker_mm: float = 0.0
    dictionary: str = "DICT_5X5_100"

    def __post_init__(self) -> None:
        if self.square_mm <= 0:
            raise ConfigError("--square-mm: must be positive")
        if self.kind is BoardKind.CHARUCO:
            if not 0 < self.marker_mm < self.square_mm:
                raise ConfigError("--marker-mm: must be positive and smaller than --square-mm")
            if not hasattr(cv2.aruco, self.dictionary):
                raise ConfigError(f"--dictionary: {self.dictionary} is not an ArUco dictionary")
            size = int(self.dictionary.rsplit("_", 1)[-1])
            if self.markers > size:
                raise ConfigError(
                    f"--dictionary: {self.dictionary} has {size} markers, the board needs "
                    f"{self.markers}; choose a larger one"
                )

    @classmethod
    def charuco(
        cls, squares: str, square_mm: float, marker_mm: float, dictionary: str
    ) -> BoardSpec:
        cols, rows = parse_squares(squares)
        return cls(BoardKind.CHARUCO, cols, rows, square_mm, marker_mm, dictionary)

    @property
    def markers(self) -> int:
        return self.cols * self.rows // 2

    @property
    def size_mm(self) -> tuple[float, float]:
        return self.cols * self.square_mm, self.rows * self.square_mm

    @property
    def inner_corners(self) -> tuple[int, int]:
        return self.cols - 1, self.rows - 1

    def corner_points(self) -> np.ndarray:
        """(N, 3) float32: every inner corner, row by row, x fastest (the order both
        `findChessboardCornersSB` and the ChArUco ids use)."""
        nx, ny = self.inner_corners
        grid = np.mgrid[1 : nx + 1, 1 : ny + 1].T.reshape(-1, 2).astype(np.float32)
        return np.hstack([grid * self.square_mm, np.zeros((len(grid), 1), np.float32)])

    def aruco_board(self) -> cv2.aruco.CharucoBoard:
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard(
            (self.cols, self.rows), self.square_mm, self.marker_mm, dictionary
        )

    def describe(self) -> str:
        text = f"{self.kind} {self.cols}x{self.rows}, {self.square_mm:g} mm squares"
        if self.kind is BoardKind.CHARUCO:
            text += f", {self.marker_mm:g} mm markers, {self.dictionary}"
        return text


def render_board(spec: BoardSpec, px_per_mm: float, margin_squares: float = 0.0) -> np.ndarray:
    """The board as a uint8 grey image, `px_per_mm` pixels per millimetre, with a white
    border of `margin_squares` squares; board point (x, y) mm lands on pixel
    ((x + margin) * px_per_mm, (y + margin) * px_per_mm)."""
    width_mm, height_mm = spec.size_mm
    w, h = round(width_mm * px_per_mm), round(height_mm * px_per_mm)
    if spec.kind is BoardKind.CHARUCO:
        board = spec.aruco_board().generateImage((w, h), marginSize=0, borderBits=1)
    else:
        # A pixel's centre decides its square, so edges fall where the scale puts them.
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        cell_x = np.floor((xs + 0.5) / (px_per_mm * spec.square_mm)).astype(np.int32)
        cell_y = np.floor((ys + 0.5) / (px_per_mm * spec.square_mm)).astype(np.int32)
        board = np.where((cell_x + cell_y) % 2 == 0, 0, 255).astype(np.uint8)
    pad = round(margin_squares * spec.square_mm * px_per_mm)
    return cv2.copyMakeBorder(board, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)


def write_target(spec: BoardSpec, out: Path, dpi: int = 600, force: bool = False) -> Path:
    """Write the board at true scale: a PDF whose page is the board and its margin in
    millimetres, or a PNG that carries its DPI (print it at 100 %, no fit-to-page)."""
    if out.exists() and not force:
        raise OutputExistsError(f"{out} exists; pass --force to overwrite it")
    suffix = out.suffix.lower()
    if suffix not in (".png", ".pdf"):
        raise ConfigError(f"--out: {out.name} must end in .png or .pdf")
    image = render_board(spec, dpi / 25.4, MARGIN_SQUARES)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".png":
        from PIL import Image

        Image.fromarray(image).save(out, dpi=(dpi, dpi))
    else:
        _write_pdf(spec, image, out)
    return out


def _write_pdf(spec: BoardSpec, image: np.ndarray, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    width_mm, height_mm = (s + 2 * MARGIN_SQUARES * spec.square_mm for s in spec.size_mm)
    fig = Figure(figsize=(width_mm / 25.4, height_mm / 25.4))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    fig.text(
        0.5,
        0.2 * MARGIN_SQUARES * spec.square_mm / height_mm,
        spec.describe() + " - print at 100 %",
        ha="center",
        fontsize=6,
        color="0.4",
    )
    fig.savefig(out, format="pdf")
