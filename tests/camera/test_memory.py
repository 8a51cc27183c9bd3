"""The in-memory replay source: a stretch of a real video, decoded once, looped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inspector.camera.memory import MemorySource
from inspector.config import VideoCamera
from inspector.errors import DataError
from tests.camera.media import frame_index, write_video


def camera(path: Path, pace: str = "fast") -> VideoCamera:
    return VideoCamera(kind="video", path=path, pace=pace, loop=True)


def read_indices(source: MemorySource, count: int) -> list[int]:
    out = np.empty(source.frame_shape, np.uint8)
    return [frame_index(source.read(out)) for _ in range(count)]


@pytest.mark.parametrize(
    ("frames_in_file", "max_frames", "expected"),
    [
        (10, 120, [i % 10 for i in range(25)]),  # the whole file, looped
        (30, 4, [i % 4 for i in range(10)]),  # only the first max_frames
    ],
)
def test_replays_the_first_frames_in_a_loop(tmp_path, frames_in_file, max_frames, expected):
    path = write_video(tmp_path / "clip.avi", "MJPG", count=frames_in_file)
    source = MemorySource.open(camera(path), max_frames=max_frames)
    assert (source.frame_shape, source.fps, source.live) == ((48, 64, 3), 30.0, False)
    assert read_indices(source, len(expected)) == expected


def test_copies_into_the_callers_buffer(tmp_path: Path):
    source = MemorySource.open(camera(write_video(tmp_path / "clip.avi", "MJPG", count=3)))
    out = np.zeros(source.frame_shape, np.uint8)
    assert source.read(out) is out


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "no frame can be decoded"),
        (b"not a video at all", "no frame can be decoded"),
    ],
)
def test_a_file_without_frames_is_a_data_error(tmp_path: Path, content: bytes, error: str):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(DataError, match=f"bad.mp4: {error}"):
        MemorySource.open(camera(path))
