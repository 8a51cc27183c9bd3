"""Broken recordings never pass silently: what cannot give a frame fails at open with one
line naming it; damage found while reading is counted and reported (`SourceReport`).

Every file here is made by the test and then damaged. What OpenCV's FFmpeg backend does
with each kind of damage is in docs/station.md; the counts these tests accept follow it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.camera import FrameSource, SourceReport, open_source
from inspector.config import FolderCamera, VideoCamera
from inspector.errors import DataError
from tests.camera.media import (
    cut,
    encode_video,
    frame_index,
    indexed_frame,
    overwrite,
    overwrite_payload,
    write_folder,
    write_video,
)

FRAMES = 60
H264 = ["-c:v", "libx264", "-g", "10", "-bf", "0", "-pix_fmt", "yuv420p"]


def video(path: Path, loop: bool = False) -> VideoCamera:
    return VideoCamera(kind="video", path=path, pace="fast", loop=loop)


def folder(path: Path) -> FolderCamera:
    return FolderCamera(kind="folder", path=path, fps=30.0, pace="fast")


def read_indices(source: FrameSource, limit: int = 1000) -> list[int]:
    out = np.empty(source.frame_shape, np.uint8)
    indices = []
    while len(indices) < limit and (image := source.read(out)) is not None:
        indices.append(frame_index(image))
    return indices


# ---------------------------------------------------------------- recordings, intact


def mp4v_mp4(tmp: Path) -> Path:
    """cv2.VideoWriter's MP4: its index (moov) comes last, after the frames."""
    return write_video(tmp / "mp4v.mp4", "mp4v", FRAMES, textured=True)


def mjpg_avi(tmp: Path) -> Path:
    return write_video(tmp / "mjpg.avi", "MJPG", FRAMES, textured=True)


def h264_mp4(tmp: Path) -> Path:
    """H.264 in an MP4 indexed at its start (faststart), as cameras and ffmpeg write it."""
    return encode_video(tmp / "h264.mp4", [*H264, "-movflags", "+faststart"], FRAMES)


def h264_mp4_one_gop(tmp: Path) -> Path:
    """x264's defaults: one keyframe for all 60 frames, B-frames; indexed at its start."""
    x264_defaults = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]
    return encode_video(tmp / "h264-gop.mp4", x264_defaults, FRAMES)


def h264_mkv(tmp: Path) -> Path:
    """Matroska: no per-frame count in the file; OpenCV estimates it from the duration."""
    return encode_video(tmp / "h264.mkv", H264, FRAMES)


# ---------------------------------------------------------------- open: one line, or nothing


def jpeg_named_mp4(tmp: Path) -> tuple[VideoCamera, str]:
    path = tmp / "still.mp4"
    path.write_bytes(cv2.imencode(".jpg", indexed_frame(5))[1].tobytes())
    return video(path), f"{path}: holds a still image, not a video"


def png_named_avi(tmp: Path) -> tuple[VideoCamera, str]:
    path = tmp / "still.avi"
    path.write_bytes(cv2.imencode(".png", indexed_frame(5))[1].tobytes())
    return video(path), f"{path}: holds a still image, not a video"


def zero_bytes(tmp: Path) -> tuple[VideoCamera, str]:
    path = tmp / "empty.mp4"
    path.write_bytes(b"")
    return video(path), f"{path}: the file is empty (0 bytes)"


def random_bytes(tmp: Path) -> tuple[VideoCamera, str]:
    path = tmp / "random.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, np.uint8).tobytes())
    return video(path), f"{path}: cannot be opened as a video"


def mp4_cut_before_its_index(tmp: Path) -> tuple[VideoCamera, str]:
    path = cut(mp4v_mp4(tmp), 0.5)  # FFmpeg: "moov atom not found"
    return video(path), f"{path}: cannot be opened as a video"


def mp4_of_noise_frames(tmp: Path) -> tuple[VideoCamera, str]:
    path = overwrite_payload(h264_mp4(tmp))
    return video(path), f"{path}: no frame can be decoded (its container declares 60 frames)"


def avi_of_noise_frames(tmp: Path) -> tuple[VideoCamera, str]:
    path = overwrite_payload(mjpg_avi(tmp))
    return video(path), f"{path}: no frame can be decoded (its container declares 60 frames)"


def folder_of_unreadable_images(tmp: Path) -> tuple[FolderCamera, str]:
    path = write_folder(tmp / "imgs", 3)
    for image in path.iterdir():
        image.write_bytes(b"\x89PNG garbage")
    first = path / "img_000.png"
    return folder(path), f"{path}: none of its 3 images can be read (first: {first}: " + (
        "cannot be read as an image)"
    )


def empty_folder(tmp: Path) -> tuple[FolderCamera, str]:
    (tmp / "empty").mkdir()
    suffixes = ".png, .jpg, .jpeg, .bmp, .tif, .tiff"
    return folder(tmp / "empty"), f"{tmp / 'empty'}: no images ({suffixes}) in the folder"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "make",
    [
        jpeg_named_mp4,
        png_named_avi,
        zero_bytes,
        random_bytes,
        mp4_cut_before_its_index,
        mp4_of_noise_frames,
        avi_of_noise_frames,
        folder_of_unreadable_images,
        empty_folder,
    ],
)
def test_a_source_without_a_decodable_frame_fails_to_open_in_one_line(
    tmp_path: Path, make: Callable[[Path], tuple[VideoCamera | FolderCamera, str]]
):
    config, line = make(tmp_path)
    with pytest.raises(DataError) as info:
        open_source(config)
    assert str(info.value) == line


# ---------------------------------------------------------------- open: no permission


Lock = Callable[[Path], None]


def unreadable_video(tmp: Path, lock: Lock) -> tuple[VideoCamera, Path, str]:
    path = mjpg_avi(tmp)
    lock(path)
    return video(path), path, f"{path}: no permission to read the file"


def unlistable_folder(tmp: Path, lock: Lock) -> tuple[FolderCamera, Path, str]:
    path = write_folder(tmp / "imgs", 3)
    lock(path)
    return folder(path), path, f"{path}: no permission to list the folder"


def folder_of_unreadable_files(tmp: Path, lock: Lock) -> tuple[FolderCamera, Path, str]:
    path = write_folder(tmp / "imgs", 2)
    for image in path.iterdir():
        lock(image)
    first = path / "img_000.png"
    why = f"{first}: no permission to read the image"
    return folder(path), first, f"{path}: none of its 2 images can be read (first: {why})"


@pytest.fixture
def lock() -> Iterator[Lock]:
    """chmod 000 on the paths given; their modes back after the test."""
    locked: list[tuple[Path, int]] = []

    def take_every_permission(path: Path) -> None:
        locked.append((path, path.stat().st_mode))
        path.chmod(0)

    yield take_every_permission
    for path, mode in reversed(locked):
        path.chmod(mode)


@pytest.mark.parametrize("make", [unreadable_video, unlistable_folder, folder_of_unreadable_files])
def test_a_source_without_read_permission_fails_to_open_in_one_line(
    tmp_path: Path, make, lock: Lock
):
    config, locked, line = make(tmp_path, lock)
    if os.access(locked, os.R_OK):
        # the suite runs as root here: these run only without CAP_DAC_OVERRIDE, e.g.
        # setpriv --bounding-set=-dac_override,-dac_read_search python -m pytest ...
        pytest.skip("root reads a file whatever its mode bits say")
    with pytest.raises(DataError) as info:
        open_source(config)
    assert str(info.value) == line


# ---------------------------------------------------------------- reading: counted, reported


INTACT = "intact"  # every frame, in order; nothing to report
ENDED_EARLY = "ended early"  # a prefix; "ended after K of 60 frames"
FRAMES_LOST = "frames lost"  # read on to the last frame; "N frames could not be decoded"


def intact(make: Callable[[Path], Path]) -> Callable[[Path], Path]:
    return make


def cut_in_half(make: Callable[[Path], Path]) -> Callable[[Path], Path]:
    return lambda tmp: cut(make(tmp), 0.5)


def noise_in_the_middle(make: Callable[[Path], Path]) -> Callable[[Path], Path]:
    return lambda tmp: overwrite(make(tmp), 0.5, 300)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("damage", "make", "expected"),
    [
        (intact, mp4v_mp4, INTACT),
        (intact, mjpg_avi, INTACT),
        (intact, h264_mp4, INTACT),
        (intact, h264_mkv, INTACT),
        # read() fails on every frame after the cut (an index names them), then the end
        (cut_in_half, h264_mp4, ENDED_EARLY),
        # the same, and seeking to the last frame lands at the cut, "successfully"
        (cut_in_half, h264_mp4_one_gop, ENDED_EARLY),
        # the stream just ends: no failed read before it, only the count says
        (cut_in_half, mjpg_avi, ENDED_EARLY),
        (cut_in_half, h264_mkv, ENDED_EARLY),
        # read() fails once where the noise is, then frames come again
        (noise_in_the_middle, mp4v_mp4, FRAMES_LOST),
        (noise_in_the_middle, h264_mp4, FRAMES_LOST),
        (noise_in_the_middle, h264_mp4_one_gop, FRAMES_LOST),
        # the decoder drops a frame without a failed read; the last frame still decodes
        (noise_in_the_middle, h264_mkv, FRAMES_LOST),
    ],
    ids=lambda value: getattr(value, "__name__", value),
)
def test_a_damaged_recording_is_read_on_and_reported(tmp_path: Path, damage, make, expected: str):
    path = damage(make)(tmp_path)
    with open_source(video(path)) as source:
        indices = read_indices(source)
        assert source.read() is None  # and stays at the end, counting nothing more
        report = source.report()
    read, lost = report.frames_read, report.frames_undecodable
    assert (read, report.frames_declared) == (len(indices), FRAMES)
    if expected == INTACT:
        assert report == SourceReport(FRAMES, 0, FRAMES, ())
        assert indices == list(range(FRAMES))
    elif expected == ENDED_EARLY:
        # the frame the cut went through decodes damaged, or not at all (then counted)
        assert 0 < read < FRAMES and lost in (0, 1)
        ended = f"{path}: ended after {read + lost} of {FRAMES} frames"
        cut_frame = f"{path}: 1 frame could not be decoded"
        assert report.problems == ((cut_frame, ended) if lost else (ended,))
        assert indices[:-1] == list(range(read - 1))
    else:
        assert lost > 0 and read + lost == FRAMES
        noun = "frame" if lost == 1 else "frames"
        assert report.problems == (f"{path}: {lost} {noun} could not be decoded",)
        assert indices[:10] == list(range(10)) and indices[-1] == FRAMES - 1
    assert report.ok is (expected == INTACT)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (noise_in_the_middle(mp4v_mp4), "{path}: {lost} frames could not be decoded"),
        (noise_in_the_middle(h264_mkv), "{path}: {lost} frames could not be decoded"),
        (cut_in_half(h264_mp4), "{path}: ended after {reached} of 60 frames"),
    ],
)
def test_looping_counts_every_pass_and_reports_each_problem_once(
    tmp_path: Path, make: Callable[[Path], Path], problem: str
):
    path = make(tmp_path)
    with open_source(video(path)) as source:
        once = len(read_indices(source))
        first = source.report()
    with open_source(video(path, loop=True)) as source:
        read_indices(source, limit=3 * once + 1)  # into the fourth pass: three ends seen
        report = source.report()
    lost = 3 * first.frames_undecodable
    assert (report.frames_read, report.frames_undecodable) == (3 * once + 1, lost)
    assert report.problems == (problem.format(path=path, lost=lost, reached=once),)


# ---------------------------------------------------------------- image folders


def corrupt(image: Path) -> None:
    image.write_bytes(b"\x89PNG garbage")


def half_an_image(image: Path) -> None:
    cut(image, 0.5)


@pytest.mark.parametrize(
    ("damage", "name", "delivered"),
    [
        (corrupt, "img_000.png", [1, 2, 3]),
        (corrupt, "img_002.png", [0, 1, 3]),
        (half_an_image, "img_002.png", [0, 1, 3]),
        (corrupt, "img_003.png", [0, 1, 2]),
    ],
)
def test_a_folder_skips_an_unreadable_image_and_reports_it(
    tmp_path: Path, damage: Callable[[Path], None], name: str, delivered: list[int]
):
    images = write_folder(tmp_path / "imgs", 4)
    damage(images / name)
    with open_source(folder(images)) as source:
        assert read_indices(source) == delivered
        report = source.report()
    line = f"{images}: 1 image could not be read (first: {images / name}: "
    line += "cannot be read as an image)"
    assert report == SourceReport(3, 1, 4, (line,))
