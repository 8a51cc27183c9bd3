"""Frame sources on real files written here: order, pacing, looping, buffers, errors."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.camera import SOURCES, FrameSource, Pacer, open_source
from inspector.camera.base import source_class
from inspector.camera.video import FolderSource, VideoFileSource, hide_credentials
from inspector.config import FolderCamera, OpenCVCamera, VideoCamera
from inspector.errors import ConfigError, DataError
from tests.camera.media import frame_index, indexed_frame, write_folder, write_video

VIDEO_FORMATS = [("mp4v", "clip.mp4"), ("MJPG", "clip.avi")]


def video(path: Path, pace: str = "fast", loop: bool = False) -> VideoCamera:
    return VideoCamera(kind="video", path=path, pace=pace, loop=loop)


def folder(path: Path, fps: float = 30.0, pace: str = "fast", loop: bool = False) -> FolderCamera:
    return FolderCamera(kind="folder", path=path, fps=fps, pace=pace, loop=loop)


def read_indices(source: FrameSource, limit: int = 1000) -> list[int]:
    out = np.empty(source.frame_shape, np.uint8)
    indices = []
    while len(indices) < limit and (image := source.read(out)) is not None:
        indices.append(frame_index(image))
    return indices


# ---------------------------------------------------------------- video files


@pytest.mark.parametrize(("fourcc", "name"), VIDEO_FORMATS)
def test_video_delivers_every_frame_in_order(tmp_path: Path, fourcc: str, name: str):
    path = write_video(tmp_path / name, fourcc)
    with open_source(video(path)) as source:
        assert isinstance(source, VideoFileSource)
        assert (source.frame_shape, source.fps, source.live) == ((48, 64, 3), 30.0, False)
        assert read_indices(source) == list(range(30))
        assert source.read() is None  # and stays at the end


@pytest.mark.parametrize(("fourcc", "name"), VIDEO_FORMATS)
def test_video_loop_starts_again_at_the_first_frame(tmp_path: Path, fourcc: str, name: str):
    path = write_video(tmp_path / name, fourcc)
    with open_source(video(path, loop=True)) as source:
        assert read_indices(source, limit=75) == [i % 30 for i in range(75)]


@pytest.mark.parametrize(
    ("pace", "slower_than_s", "faster_than_s"),
    [
        ("realtime", 0.5, None),  # 30 frames at 30 fps: about 1 s
        ("fast", None, 0.5),
    ],
)
def test_video_pacing(tmp_path: Path, pace: str, slower_than_s, faster_than_s):
    path = write_video(tmp_path / "clip.avi", "MJPG")
    with open_source(video(path, pace=pace)) as source:
        start = time.monotonic()
        assert len(read_indices(source)) == 30
        elapsed = time.monotonic() - start
    assert slower_than_s is None or elapsed > slower_than_s
    assert faster_than_s is None or elapsed < faster_than_s


@pytest.mark.parametrize(("fourcc", "name"), VIDEO_FORMATS)
def test_video_decodes_into_the_given_buffer(tmp_path: Path, fourcc: str, name: str):
    path = write_video(tmp_path / name, fourcc)
    with open_source(video(path)) as source:
        out = np.empty(source.frame_shape, np.uint8)
        for expected in range(5):
            image = source.read(out)
            assert image is out
            assert frame_index(out) == expected
        unfit = np.zeros((10, 10, 3), np.uint8)
        image = source.read(unfit)
        assert image is not unfit and image.shape == (48, 64, 3) and not unfit.any()
        assert frame_index(source.read()) == 6  # no buffer: a new array, same stream


# ---------------------------------------------------------------- image folders


def test_folder_delivers_images_in_name_order(tmp_path: Path):
    path = write_folder(tmp_path / "imgs", 12)
    (path / "notes.txt").write_text("not an image")
    (path / "._img_000.png").write_bytes(b"a macOS resource fork, not an image")
    with open_source(folder(path)) as source:
        assert isinstance(source, FolderSource)
        assert (source.frame_shape, source.fps, source.live) == ((48, 64, 3), 30.0, False)
        out = np.empty(source.frame_shape, np.uint8)
        assert source.read(out) is out
        assert read_indices(source) == list(range(1, 12))


@pytest.mark.parametrize(
    ("pace", "loop", "expected", "slower_than_s"),
    [
        ("fast", True, [i % 4 for i in range(10)], None),
        ("realtime", False, [0, 1, 2, 3], 0.1),  # 4 images at 20 fps: about 0.15 s
    ],
)
def test_folder_pace_and_loop(tmp_path: Path, pace: str, loop: bool, expected, slower_than_s):
    path = write_folder(tmp_path / "imgs", 4)
    with open_source(folder(path, fps=20.0, pace=pace, loop=loop)) as source:
        start = time.monotonic()
        assert read_indices(source, limit=10) == expected
    assert slower_than_s is None or time.monotonic() - start > slower_than_s


# ---------------------------------------------------------------- errors name the file
# (broken recordings and unreadable images: test_broken_media.py)


def missing_video(tmp: Path) -> tuple[VideoCamera, Path]:
    return video(tmp / "missing.mp4"), tmp / "missing.mp4"


def text_as_video(tmp: Path) -> tuple[VideoCamera, Path]:
    path = tmp / "notes.mp4"
    path.write_text("this is a text file, not a video\n" * 20)
    return video(path), path


def empty_folder(tmp: Path) -> tuple[FolderCamera, Path]:
    (tmp / "empty").mkdir()
    return folder(tmp / "empty"), tmp / "empty"


def not_a_folder(tmp: Path) -> tuple[FolderCamera, Path]:
    (tmp / "file.png").write_bytes(b"")
    return folder(tmp / "file.png"), tmp / "file.png"


def mixed_sizes(tmp: Path) -> tuple[FolderCamera, Path]:
    path = write_folder(tmp / "imgs", 3)
    cv2.imwrite(str(path / "img_002.png"), indexed_frame(2, (80, 48)))
    return folder(path), path / "img_002.png"


@pytest.mark.parametrize(
    ("make", "fails_on", "error"),
    [
        (missing_video, "open", "video file not found"),
        (text_as_video, "open", "cannot be opened as a video"),
        (empty_folder, "open", "no images"),
        (not_a_folder, "open", "not a folder"),
        (mixed_sizes, "read", "frame is 80x48, the source's first frame was 64x48"),
    ],
)
def test_unreadable_input_is_a_data_error_naming_the_file(
    tmp_path: Path, make, fails_on: str, error: str
):
    config, culprit = make(tmp_path)
    with pytest.raises(DataError, match=error) as info:
        source = open_source(config)
        assert fails_on == "read", "opened what should not open"
        with source:
            read_indices(source)
    assert str(info.value).startswith(f"{culprit}:")


# ---------------------------------------------------------------- live cameras


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("device", "named"),
    [
        (63, "camera 63"),
        ("63", "camera 63"),
        ("rtsp://user:secret@127.0.0.1:1/stream", "rtsp://***@127.0.0.1:1/stream"),
        ("http://127.0.0.1:1/video.mjpg", "http://127.0.0.1:1/video.mjpg"),
        ("nosuchelement ! appsink", "nosuchelement ! appsink"),
    ],
)
def test_camera_that_cannot_be_opened_is_a_data_error(device: int | str, named: str):
    with pytest.raises(DataError) as info:
        open_source(OpenCVCamera(kind="opencv", device=device))
    assert str(info.value).startswith(f"{named}: ")
    assert "secret" not in str(info.value)


@pytest.mark.parametrize(
    ("device", "shown"),
    [
        ("rtsp://admin:pa55@10.0.0.9:554/live", "rtsp://***@10.0.0.9:554/live"),
        ("rtsp://10.0.0.9/live", "rtsp://10.0.0.9/live"),
        (
            "rtspsrc location=rtsp://u:p@cam/x ! appsink",
            "rtspsrc location=rtsp://***@cam/x ! appsink",
        ),
        ("/dev/video0", "/dev/video0"),
    ],
)
def test_names_hide_credentials(device: str, shown: str):
    assert hide_credentials(device) == shown


# ---------------------------------------------------------------- registry


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_registry_names_importable_sources_of_their_kind(kind: str):
    cls = source_class(kind)
    assert issubclass(cls, FrameSource) and cls.kind == kind
    assert cls.live is (kind in ("opencv", "aravis"))


def test_unknown_source_kind_is_a_config_error():
    with pytest.raises(ConfigError, match=r"camera\.kind: unknown 'gige'"):
        source_class("gige")


# ---------------------------------------------------------------- pacing


def test_pacer_schedule_does_not_drift():
    """Every wait overshoots by 2 ms; frame 10 000 is still due at 10 000 / fps."""
    pacer = Pacer(100.0)
    now = 50.0
    for _ in range(10_001):
        now += pacer.next_delay(now) + 0.002
    assert now == pytest.approx(50.0 + 10_000 / 100.0 + 0.002, abs=1e-6)


@pytest.mark.parametrize(
    ("arrivals", "expected_delays"),
    [
        ([0.0, 0.0, 0.0], [0.0, 0.1, 0.2]),  # early: wait for each frame's slot
        ([0.0, 0.15, 0.2], [0.0, 0.0, 0.0]),  # late by a little: catch up, no wait
        ([0.0, 5.0, 5.0], [0.0, 0.0, 0.1]),  # stalled: restart the schedule, no burst
    ],
)
def test_pacer_delays(arrivals: list[float], expected_delays: list[float]):
    pacer = Pacer(10.0, max_lag_s=1.0)
    delays = [pacer.next_delay(now) for now in arrivals]
    assert delays == pytest.approx(expected_delays)


def test_pacer_fast_and_interrupted_never_wait():
    start = time.monotonic()
    for _ in range(100):
        Pacer(None).wait()
    slow = Pacer(0.2)  # a frame every 5 s
    slow.wait()
    slow.interrupt()
    slow.wait()
    assert time.monotonic() - start < 1.0
