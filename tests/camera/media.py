"""Real small videos and image folders whose frames carry their index in their pixels,
and the damage a recording suffers (cut short, bytes overwritten)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

__all__ = [
    "cut",
    "encode_video",
    "frame_index",
    "indexed_frame",
    "overwrite",
    "overwrite_payload",
    "textured_frame",
    "wait_until",
    "write_folder",
    "write_video",
]

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


def textured_frame(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """`indexed_frame` under seeded noise: it compresses like footage, so a file's frames
    outweigh its headers and damage "in the middle" lands in frame data."""
    width, height = size
    noise = np.random.default_rng(index).integers(0, 60, (height, width, 3), np.uint8)
    return cv2.add(indexed_frame(index, size), noise)


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
    path: Path,
    fourcc: str,
    count: int = 30,
    fps: float = 30.0,
    size: tuple[int, int] = SIZE,
    textured: bool = False,
) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
    if not writer.isOpened():
        pytest.fail(f"cv2.VideoWriter cannot write {fourcc} to {path.suffix}")
    make_frame = textured_frame if textured else indexed_frame
    for index in range(count):
        writer.write(make_frame(index, size))
    writer.release()
    return path


def encode_video(
    path: Path, output_args: Sequence[str], count: int = 60, fps: float = 30.0
) -> Path:
    """Textured frames piped to the ffmpeg the imageio-ffmpeg wheel carries, for what
    cv2.VideoWriter cannot write: H.264, an MP4 indexed at its start, Matroska."""
    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()
    width, height = SIZE
    frames = b"".join(textured_frame(index).tobytes() for index in range(count))
    raw_input = ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}"]
    command = [ffmpeg, "-loglevel", "error", "-y", *raw_input, "-r", str(fps), "-i", "-"]
    # one thread: the same bytes every run, so damage lands on the same frames
    command += [*output_args, "-threads", "1", str(path)]
    subprocess.run(command, input=frames, check=True, capture_output=True)
    return path


def cut(path: Path, keep: float) -> Path:
    """Keep the first `keep` fraction of the file, as a recording cut off mid-write."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def overwrite(path: Path, at: float, length: int) -> Path:
    """Overwrite `length` bytes from `at` (a fraction of the size) with seeded noise."""
    data = bytearray(path.read_bytes())
    start = int(len(data) * at)
    data[start : start + length] = _noise(len(data[start : start + length]))
    path.write_bytes(bytes(data))
    return path


def overwrite_payload(path: Path) -> Path:
    """Overwrite every frame's data with noise, the container's header and index intact:
    an MP4's `mdat` box (it must be the last box: indexed at its start), an AVI's
    `movi` list (up to its `idx1` index)."""
    data = bytearray(path.read_bytes())
    if path.suffix == ".mp4":
        start, end = data.index(b"mdat") + 4, len(data)
    else:
        start, end = data.index(b"movi") + 4, data.index(b"idx1")
    data[start:end] = _noise(end - start)
    path.write_bytes(bytes(data))
    return path


def _noise(length: int) -> bytes:
    return np.random.default_rng(0).integers(0, 256, length, np.uint8).tobytes()


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
