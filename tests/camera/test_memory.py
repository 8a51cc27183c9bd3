"""The in-memory replay source: a stretch of a real video, decoded once, looped."""

from __future__ import annotations

import threading
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


def test_a_gated_replay_hands_over_only_what_was_let_through(tmp_path: Path):
    source = MemorySource.open(camera(write_video(tmp_path / "clip.avi", "MJPG", count=5)))
    gated = source.gated()
    read: list[int] = []
    reader = threading.Thread(target=lambda: read.extend(read_indices(gated, 3)))
    reader.start()
    gated.let_through(2)
    reader.join(0.3)
    assert (read, reader.is_alive()) == ([], True)  # two of three: still waiting
    gated.let_through(1)
    reader.join(5)
    assert read == [0, 1, 2]


def test_an_interrupted_gated_replay_ends():
    gated = MemorySource("mem", [np.zeros((4, 4, 3), np.uint8)], None, paced=False).gated()
    ended: list[object] = []
    reader = threading.Thread(target=lambda: ended.append(gated.read()))
    reader.start()
    gated.interrupt()
    reader.join(5)
    assert ended == [None]
