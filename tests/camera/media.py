"""Real small videos and image folders whose frames carry their index in their pixels."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

__all__ = ["frame_index", "indexed_frame", "wait_until", "write_folder", "write_video"]

BITS = 6  # indices 0..63, one bright or dark stripe per bit
SIZE = (64, 48)  # width, height


def indexed_frame(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """Stripes 8-px aligned and black or white: they survive lossy codecs."""
    width, height = size
    image = np.zeros((height, width, 3), np.uint8)
    stripe = width // (BITS + 2)
    for bit in range(BITS):
        if index >> bit & 1:
            image[:, (bit + 1) * stripe : (bit + 2) * stripe] = 255
    return image


def frame_index(image: np.ndarray) -> int:
    height, width = image.shape[:2]
    stripe = width // (BITS + 2)
    margin = stripe // 4
    index = 0
    for bit in range(BITS):
        x0, x1 = (bit + 1) * stripe + margin, (bit + 2) * stripe - margin
        if image[height // 4 : 3 * height // 4, x0:x1].mean() > 128:
            index |= 1 << bit
    return index


def write_video(
    path: Path, fourcc: str, count: int = 30, fps: float = 30.0, size: tuple[int, int] = SIZE
) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        pytest.fail(f"cv2.VideoWriter cannot write {fourcc} to {path.suffix}")
    for index in range(count):
        writer.write(indexed_frame(index, size))
    writer.release()
    return path


def write_folder(folder: Path, count: int, size: tuple[int, int] = SIZE) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        cv2.imwrite(str(folder / f"img_{index:03d}.png"), indexed_frame(index, size))
    return folder


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True
