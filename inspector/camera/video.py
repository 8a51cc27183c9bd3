"""Frame sources on OpenCV: a video file, a folder of images, a live camera or stream."""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from inspector.camera.base import (
    FrameShape,
    FrameSource,
    Pacer,
    SourceLost,
    SourceReport,
    deliver,
)
from inspector.camera.config import FolderCamera, OpenCVCamera, VideoCamera
from inspector.errors import DataError
from inspector.types import FrameOrigin

__all__ = [
    "IMAGE_SUFFIXES",
    "MAX_FAILED_READS_IN_A_ROW",
    "FolderSource",
    "FrameAge",
    "OpenCVSource",
    "VideoFileSource",
    "declared_frames",
    "hide_credentials",
    "valid_fps",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# What OpenCV 5.1's FFmpeg backend does with a damaged file (observed; docs/station.md):
# read() returning False is not the end. A packet the decoder rejects fails one read()
# and the next read() goes on after it; other damage makes the decoder drop frames with
# no failed read at all; a file cut short fails every read() after the cut (an MP4
# indexed at its start: one failure per missing frame), and an MP4 whose index was to
# come at its end does not open. So a failed read is retried up to the container's
# frame count; failures followed by a frame are frames that could not be decoded; a pass
# that falls short of the count is probed at its last frame: decodable means frames were
# lost in the middle, not decodable means the file ends early (truncated).
# Damage longer than this many failed reads in a row is taken for the end of the file:
# each failed read costs microseconds, but an indexed MP4 logs a line for each.
MAX_FAILED_READS_IN_A_ROW = 300

# A network stream's stale frames dropped in one read, at most (see OpenCVSource).
MAX_STALE_DROPS = 250


class VideoFileSource(FrameSource[VideoCamera]):
    """A recorded video, decoded straight into the caller's buffer."""

    kind = "video"
    live = False

    def __init__(
        self,
        reader: _VideoReader,
        name: str,
        first_frame: np.ndarray,
        fps: float | None,
        pacer: Pacer,
        loop: bool,
    ) -> None:
        super().__init__(name, first_frame.shape, fps)
        self._reader = reader
        # `open` decoded it to prove the file readable; handing it out beats seeking back
        self._first_frame: np.ndarray | None = first_frame
        self._pacer = pacer
        self._loop = loop

    @classmethod
    def open(cls, config: VideoCamera) -> VideoFileSource:
        path = Path(config.path)
        _check_readable_file(path)
        # FFmpeg opens a lone JPEG or PNG (whatever its name) as a one-frame "video"
        if cv2.haveImageReader(str(path)):
            raise DataError(f"{path}: holds a still image, not a video")
        # One decoder thread: FFmpeg's frame threads would go on decoding ahead, in the
        # background, on the cores the inspection of the part in hand needs (and for
        # frames of this size one thread is faster: 1.6 ms against 2.7 ms, measured).
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if not capture.isOpened():
            raise DataError(f"{path}: cannot be opened as a video")
        reader = _VideoReader(capture, str(path), declared_frames(capture))
        first_frame = reader.next(None)
        if first_frame is None:
            reader.release()
            raise DataError(f"{path}: no frame can be decoded{_of_declared(reader.declared)}")
        fps = valid_fps(capture.get(cv2.CAP_PROP_FPS))
        if config.pace == "realtime" and fps is None:
            reader.release()
            raise DataError(f"{path}: the file gives no frame rate; replay it with pace: fast")
        pacer = Pacer(fps if config.pace == "realtime" else None)
        return cls(reader, str(path), first_frame, fps, pacer, config.loop)

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        # wait, then decode: a frame decoded early would be decoded while the station
        # inspects the part before it, taking the cores a camera's frames leave free
        self._pacer.wait()
        image = self._decode_next(out)
        if image is None:
            return None
        return deliver(image, out, self.frame_shape, self.name)

    def interrupt(self) -> None:
        self._pacer.interrupt()

    def close(self) -> None:
        self._reader.release()

    def report(self) -> SourceReport:
        return self._reader.report()

    def _decode_next(self, out: np.ndarray | None) -> np.ndarray | None:
        if self._first_frame is not None:
            first_frame, self._first_frame = self._first_frame, None
            return first_frame
        target = out if self.fits(out) else None
        image = self._reader.next(target)
        if image is None and self._loop:
            return self._rewind(target)
        return image

    def _rewind(self, target: np.ndarray | None) -> np.ndarray:
        if not self._reader.rewind():
            raise DataError(f"{self.name}: cannot seek back to the start to loop")
        image = self._reader.next(target)
        if image is None:
            raise DataError(f"{self.name}: no frame after seeking back to the start")
        return image


class _VideoReader:
    """A video file's capture, read pass by pass, counting the frames that could not be
    decoded and noticing a file that ends before the frame count its container declares
    (why read() failing is not taken for the end: see MAX_FAILED_READS_IN_A_ROW)."""

    def __init__(self, capture: cv2.VideoCapture, name: str, declared: int | None) -> None:
        self._capture = capture
        self._name = name
        self.declared = declared
        self.frames_read = 0
        self.frames_undecodable = 0
        self.ended_after: int | None = None  # where a pass ran out, when short of `declared`
        self._pass_start = 0  # frames read + undecodable when this pass began
        self._failed_in_a_row = 0
        self._ended = False

    def next(self, target: np.ndarray | None) -> np.ndarray | None:
        """The next frame that decodes, written into `target` if given; None once this
        pass has reached the end of the file (and on every call after, until `rewind`)."""
        while not self._ended:
            ok, image = self._capture.read(target)
            if ok:
                if self._failed_in_a_row:
                    self._count_undecodable(self._failed_in_a_row)
                self.frames_read += 1
                return image
            self._failed_in_a_row += 1
            if not self._frames_may_follow():
                self._end_pass(target)
        return None

    def rewind(self) -> bool:
        """Start a new pass at the first frame; False if the file cannot seek."""
        if not self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
            return False
        self._pass_start = self.frames_read + self.frames_undecodable
        self._ended = False
        return True

    def report(self) -> SourceReport:
        problems = []
        if self.frames_undecodable:
            undecodable = _count(self.frames_undecodable, "frame")
            problems.append(f"{self._name}: {undecodable} could not be decoded")
        if self.ended_after is not None:
            problems.append(
                f"{self._name}: ended after {self.ended_after} of {self.declared} frames"
            )
        return SourceReport(
            self.frames_read, self.frames_undecodable, self.declared, tuple(problems)
        )

    def release(self) -> None:
        self._capture.release()

    def _pass_position(self) -> int:
        """Frames of this pass behind us, decoded or not."""
        return self.frames_read + self.frames_undecodable - self._pass_start

    def _frames_may_follow(self) -> bool:
        """Whether to read on after failed reads: while the container's count says frames
        remain (a file that gives no count gets the same allowance of failures)."""
        if self._failed_in_a_row >= MAX_FAILED_READS_IN_A_ROW:
            return False
        if self.declared is None:
            return True
        return self._pass_position() + self._failed_in_a_row < self.declared

    def _count_undecodable(self, count: int) -> None:
        self.frames_undecodable += count
        self._failed_in_a_row = 0

    def _end_pass(self, target: np.ndarray | None) -> None:
        self._ended = True
        self._failed_in_a_row = 0  # failures no frame followed are the end, not frames
        reached = self._pass_position()
        if self.declared is None or reached >= self.declared:
            return
        if self._last_frame_decodes(target):
            # the decoder dropped frames mid-file without a failed read
            self._count_undecodable(self.declared - reached)
        elif self.ended_after is None:
            self.ended_after = reached

    def _last_frame_decodes(self, target: np.ndarray | None) -> bool:
        """Once per short pass: seek to the last frame the container declares. In a file
        cut short OpenCV's seek "succeeds" at the last frame it could reach, and a frame
        from there decodes: only the position it reports tells it fell short."""
        if self.declared is None:
            return False
        last = self.declared - 1
        self._capture.set(cv2.CAP_PROP_POS_FRAMES, last)
        if self._capture.get(cv2.CAP_PROP_POS_FRAMES) != last:
            return False
        ok, _ = self._capture.read(target)
        return ok


class FolderSource(FrameSource[FolderCamera]):
    """Images of one size, in name order, delivered at a set frame rate. An image that
    cannot be read is skipped and counted, as a video's undecodable frame is."""

    kind = "folder"
    live = False

    def __init__(
        self,
        paths: Sequence[Path],
        name: str,
        frame_shape: FrameShape,
        fps: float,
        pacer: Pacer,
        loop: bool,
    ) -> None:
        super().__init__(name, frame_shape, fps)
        self._paths = tuple(paths)
        self._next = 0
        self._pacer = pacer
        self._loop = loop
        self._frames_read = 0
        self._unreadable = 0
        self._first_unreadable: str | None = None  # "name: why", for the report

    @classmethod
    def open(cls, config: FolderCamera) -> FolderSource:
        folder = Path(config.path)
        if not folder.is_dir():
            raise DataError(f"{folder}: not a folder")
        if not os.access(folder, os.R_OK | os.X_OK):
            raise DataError(f"{folder}: no permission to list the folder")
        paths = sorted((p for p in folder.iterdir() if _is_image_file(p)), key=lambda p: p.name)
        if not paths:
            raise DataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        pacer = Pacer(config.fps if config.pace == "realtime" else None)
        # the first image that reads sets the frame shape; those before it are counted
        for index, path in enumerate(paths):
            image = _decode_image(path)
            if image is not None:
                source = cls(paths, str(folder), image.shape, config.fps, pacer, config.loop)
                source._begin_at(index)
                return source
        raise DataError(
            f"{folder}: none of its {len(paths)} images can be read "
            f"(first: {_unreadable_image(paths[0])})"
        )

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        self._pacer.wait()  # then decode, as VideoFileSource does
        failed_in_a_row = 0
        while (path := self._next_path()) is not None:
            # imread(path, dst) returns dst unchanged when decoding fails, hiding a
            # corrupt file; decoding to a new array and copying is the only way to notice.
            image = _decode_image(path)
            if image is not None:
                self._frames_read += 1
                return deliver(image, out, self.frame_shape, str(path))
            self._skip_unreadable((path,))
            failed_in_a_row += 1
            if failed_in_a_row == len(self._paths):  # looping over images all gone bad
                raise DataError(f"{self.name}: none of its images can be read any more")
        return None

    def interrupt(self) -> None:
        self._pacer.interrupt()

    def report(self) -> SourceReport:
        problems: tuple[str, ...] = ()
        if self._unreadable:
            problems = (
                f"{self.name}: {_count(self._unreadable, 'image')} could not be read "
                f"(first: {self._first_unreadable})",
            )
        return SourceReport(self._frames_read, self._unreadable, len(self._paths), problems)

    def _next_path(self) -> Path | None:
        if self._next == len(self._paths):
            if not self._loop:
                return None
            self._next = 0
        path = self._paths[self._next]
        self._next += 1
        return path

    def _begin_at(self, index: int) -> None:
        """Start the first pass at image `index`, those before it found unreadable."""
        self._skip_unreadable(self._paths[:index])
        self._next = index

    def _skip_unreadable(self, paths: Sequence[Path]) -> None:
        for path in paths:
            why = _unreadable_image(path)
            log.warning("%s", why)
            if self._first_unreadable is None:
                self._first_unreadable = why
            self._unreadable += 1


class OpenCVSource(FrameSource[OpenCVCamera]):
    """A live camera: a device index, an RTSP/HTTP URL, or a GStreamer pipeline.

    A network stream buffers frames while the station is busy; read as they come, each
    part would be judged on an older frame than the last. With `max_age_ms`, frames that
    waited in the buffer longer than that are decoded past (grabbed, not converted) and
    counted, so latency stays bounded."""

    kind = "opencv"
    live = True

    def __init__(
        self,
        capture: cv2.VideoCapture,
        name: str,
        frame_shape: FrameShape,
        fps: float | None,
        max_age_ms: float | None = None,
    ) -> None:
        super().__init__(name, frame_shape, fps)
        self._capture = capture
        self._frames_read = 0
        self._age = FrameAge()
        self._max_age_s = None if max_age_ms is None else max_age_ms / 1000.0
        self.stale_dropped = 0  # frames decoded past because they were too old

    @classmethod
    def open(cls, config: OpenCVCamera) -> OpenCVSource:
        capture, name = _open_device(config.device, config.timeout_ms)
        if not capture.isOpened():
            raise DataError(f"{name}: cannot be opened as a camera or stream")
        _request_mode(capture, config)
        # the probe frame is only for its shape: by the first read it is stale
        ok, probe = capture.read()
        if not ok:
            capture.release()
            raise DataError(f"{name}: opened but delivers no frames")
        _warn_if_mode_differs(name, probe.shape, config)
        fps = valid_fps(capture.get(cv2.CAP_PROP_FPS)) or config.fps
        network = isinstance(config.device, str) and "://" in config.device
        return cls(capture, name, probe.shape, fps, config.max_age_ms if network else None)

    @property
    def last_age_s(self) -> float:
        """How long the last frame delivered had waited in the stream's buffer."""
        return self._age.last_s

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        self._grab_fresh()
        ok, image = self._capture.retrieve(out if self.fits(out) else None)
        if not ok:
            raise SourceLost(f"{self.name}: no frame from the camera")
        self._frames_read += 1
        pts_ms = self._capture.get(cv2.CAP_PROP_POS_MSEC)
        self._origin = FrameOrigin(
            self.name, self._frames_read, _ns(pts_ms) if pts_ms > 0 else None, "BGR8"
        )
        return deliver(image, out, self.frame_shape, self.name)

    def _grab_fresh(self) -> None:
        """Grab frames until one is young enough (every one when no bound is set). A
        stream whose clock drifts from ours would make every frame look stale: after
        MAX_STALE_DROPS in a row the frame is taken and its age becomes the new zero."""
        for _ in range(MAX_STALE_DROPS):
            if not self._capture.grab():
                raise SourceLost(f"{self.name}: no frame from the camera")
            age = self._age.of(self._capture.get(cv2.CAP_PROP_POS_MSEC), time.monotonic())
            if self._max_age_s is None or age <= self._max_age_s:
                return
            self.stale_dropped += 1
        self._age.reset()
        if not self._capture.grab():
            raise SourceLost(f"{self.name}: no frame from the camera")
        self._age.of(self._capture.get(cv2.CAP_PROP_POS_MSEC), time.monotonic())

    def close(self) -> None:
        self._capture.release()

    def report(self) -> SourceReport:
        # a live stream declares no count, and a failed read is SourceLost, not a frame
        return SourceReport(self._frames_read)


class FrameAge:
    """How long each frame of a live stream waited before it was read, from its
    presentation time: a live stream's timestamps advance with the wall clock, so the
    frame read with the least delay so far sets zero, and the age of any other is how
    much later than that it arrived. A stream without timestamps reads as age 0."""

    def __init__(self) -> None:
        self._offset: float | None = None  # the smallest (read time - stream time) seen
        self._last_pts_ms = -math.inf
        self.last_s = 0.0

    def reset(self) -> None:
        """Forget the reference: the next frame is age 0."""
        self._offset = None

    def of(self, pts_ms: float, now: float) -> float:
        if not math.isfinite(pts_ms) or pts_ms <= 0:
            self.last_s = 0.0
            return 0.0
        if pts_ms < self._last_pts_ms:  # the stream's clock started again (a loop, a restart)
            self._offset = None
        self._last_pts_ms = pts_ms
        delay = now - pts_ms / 1000.0
        if self._offset is None or delay < self._offset:
            self._offset = delay
        self.last_s = delay - self._offset
        return self.last_s


def _ns(ms: float) -> int:
    return round(ms * 1_000_000)


def _is_image_file(path: Path) -> bool:
    # hidden files (macOS "._name.png" forks, editor temporaries) are never frames
    return (
        path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def _decode_image(path: Path) -> np.ndarray | None:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def _unreadable_image(path: Path) -> str:
    """Why `path` gave no image, on one line naming it (only asked once it failed)."""
    if not os.access(path, os.R_OK):
        return f"{path}: no permission to read the image"
    return f"{path}: cannot be read as an image"


def _check_readable_file(path: Path) -> None:
    if not path.is_file():
        raise DataError(f"{path}: video file not found")
    # root passes os.access whatever the mode bits say; anyone else is stopped here
    if not os.access(path, os.R_OK):
        raise DataError(f"{path}: no permission to read the file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes)")


def declared_frames(capture: cv2.VideoCapture) -> int | None:
    """The frame count the container declares; None when it gives none (FFmpeg reports a
    lone image's as -2**63, a count-less stream's as 0)."""
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if math.isfinite(count) and 0 < count < 2**31 else None


def _of_declared(declared: int | None) -> str:
    return "" if declared is None else f" (its container declares {_count(declared, 'frame')})"


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def valid_fps(value: float) -> float | None:
    """OpenCV reports an unknown frame rate as 0 (or nonsense)."""
    return value if math.isfinite(value) and 0 < value < 1000 else None


def hide_credentials(device: str) -> str:
    """`rtsp://user:secret@host/...` -> `rtsp://***@host/...`: names end up in logs."""
    return re.sub(r"(?<=://)[^/@\s]*@", "***@", device)


def _open_device(device: int | str, timeout_ms: int) -> tuple[cv2.VideoCapture, str]:
    if isinstance(device, str) and device.isdigit():
        device = int(device)  # a quoted index in YAML still means the index
    if isinstance(device, int):
        return cv2.VideoCapture(device), f"camera {device}"
    name = hide_credentials(device)
    if "!" in device:
        if not cv2.videoio_registry.hasBackend(cv2.CAP_GSTREAMER):
            raise DataError(f"{name}: a GStreamer pipeline, but this OpenCV has no GStreamer")
        return cv2.VideoCapture(device, cv2.CAP_GSTREAMER), name
    if "://" in device:
        # a dead network stream must fail (and be reopened), not block FFmpeg's 30 s
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            timeout_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            timeout_ms,
        ]
        return cv2.VideoCapture(device, cv2.CAP_FFMPEG, timeouts), name
    return cv2.VideoCapture(device), name


def _request_mode(capture: cv2.VideoCapture, config: OpenCVCamera) -> None:
    requests = (
        (cv2.CAP_PROP_FRAME_WIDTH, config.width),
        (cv2.CAP_PROP_FRAME_HEIGHT, config.height),
        (cv2.CAP_PROP_FPS, config.fps),
    )
    for prop, value in requests:
        if value is not None:
            capture.set(prop, float(value))


def _warn_if_mode_differs(name: str, shape: tuple[int, ...], config: OpenCVCamera) -> None:
    height, width = shape[:2]
    if (config.width or width) != width or (config.height or height) != height:
        log.warning(
            "%s: asked for %sx%s, the camera delivers %dx%d",
            name,
            config.width or width,
            config.height or height,
            width,
            height,
        )
