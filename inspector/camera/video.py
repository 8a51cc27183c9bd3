"""Frame sources on OpenCV: a video file, a folder of images, a live camera or stream."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from inspector.camera.base import FrameShape, FrameSource, Pacer, SourceLost, deliver
from inspector.camera.config import FolderCamera, OpenCVCamera, VideoCamera
from inspector.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "FolderSource",
    "OpenCVSource",
    "VideoFileSource",
    "hide_credentials",
    "valid_fps",
]

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")

# A dead network stream must fail (and be reopened) rather than block FFmpeg's 30 s.
STREAM_TIMEOUT_MS = 5000


class VideoFileSource(FrameSource):
    """A recorded video, decoded straight into the caller's buffer."""

    kind = "video"
    live = False

    def __init__(
        self,
        capture: cv2.VideoCapture,
        name: str,
        first_frame: np.ndarray,
        fps: float | None,
        pacer: Pacer,
        loop: bool,
    ) -> None:
        super().__init__(name, first_frame.shape, fps)
        self._capture = capture
        # `open` decoded it to prove the file readable; handing it out beats seeking back
        self._first_frame: np.ndarray | None = first_frame
        self._pacer = pacer
        self._loop = loop

    @classmethod
    def open(cls, config: VideoCamera) -> VideoFileSource:
        path = Path(config.path)
        if not path.is_file():
            raise DataError(f"{path}: video file not found")
        # One decoder thread: FFmpeg's frame threads would go on decoding ahead, in the
        # background, on the cores the inspection of the part in hand needs (and for
        # frames of this size one thread is faster: 1.6 ms against 2.7 ms, measured).
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
        if not capture.isOpened():
            raise DataError(f"{path}: cannot be opened as a video")
        ok, first_frame = capture.read()
        if not ok:
            capture.release()
            raise DataError(f"{path}: the first frame cannot be decoded")
        fps = valid_fps(capture.get(cv2.CAP_PROP_FPS))
        if config.pace == "realtime" and fps is None:
            capture.release()
            raise DataError(f"{path}: the file gives no frame rate; replay it with pace: fast")
        pacer = Pacer(fps if config.pace == "realtime" else None)
        return cls(capture, str(path), first_frame, fps, pacer, config.loop)

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
        self._capture.release()

    def _decode_next(self, out: np.ndarray | None) -> np.ndarray | None:
        if self._first_frame is not None:
            first_frame, self._first_frame = self._first_frame, None
            return first_frame
        target = out if self.fits(out) else None
        ok, image = self._capture.read(target)
        if ok:
            return image
        return self._rewind(target) if self._loop else None

    def _rewind(self, target: np.ndarray | None) -> np.ndarray:
        if not self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0):
            raise DataError(f"{self.name}: cannot seek back to the start to loop")
        ok, image = self._capture.read(target)
        if not ok:
            raise DataError(f"{self.name}: no frame after seeking back to the start")
        return image


class FolderSource(FrameSource):
    """Images of one size, in name order, delivered at a set frame rate."""

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

    @classmethod
    def open(cls, config: FolderCamera) -> FolderSource:
        folder = Path(config.path)
        if not folder.is_dir():
            raise DataError(f"{folder}: not a folder")
        paths = sorted((p for p in folder.iterdir() if _is_image_file(p)), key=lambda p: p.name)
        if not paths:
            raise DataError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
        first_shape = _decode_image(paths[0]).shape
        pacer = Pacer(config.fps if config.pace == "realtime" else None)
        return cls(paths, str(folder), first_shape, config.fps, pacer, config.loop)

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        if self._next == len(self._paths):
            if not self._loop:
                return None
            self._next = 0
        path = self._paths[self._next]
        self._next += 1
        # imread(path, dst) returns dst unchanged when decoding fails, hiding a corrupt
        # file; decoding to a new array and copying is the only way to notice.
        self._pacer.wait()  # then decode, as VideoFileSource does
        image = _decode_image(path)
        return deliver(image, out, self.frame_shape, str(path))

    def interrupt(self) -> None:
        self._pacer.interrupt()


class OpenCVSource(FrameSource):
    """A live camera: a device index, an RTSP/HTTP URL, or a GStreamer pipeline."""

    kind = "opencv"
    live = True

    def __init__(
        self, capture: cv2.VideoCapture, name: str, frame_shape: FrameShape, fps: float | None
    ) -> None:
        super().__init__(name, frame_shape, fps)
        self._capture = capture

    @classmethod
    def open(cls, config: OpenCVCamera) -> OpenCVSource:
        capture, name = _open_device(config.device)
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
        return cls(capture, name, probe.shape, fps)

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        ok, image = self._capture.read(out if self.fits(out) else None)
        if not ok:
            raise SourceLost(f"{self.name}: no frame from the camera")
        return deliver(image, out, self.frame_shape, self.name)

    def close(self) -> None:
        self._capture.release()


def _is_image_file(path: Path) -> bool:
    # hidden files (macOS "._name.png" forks, editor temporaries) are never frames
    return (
        path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".") and path.is_file()
    )


def _decode_image(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f"{path}: cannot be read as an image")
    return image


def valid_fps(value: float) -> float | None:
    """OpenCV reports an unknown frame rate as 0 (or nonsense)."""
    return value if math.isfinite(value) and 0 < value < 1000 else None


def hide_credentials(device: str) -> str:
    """`rtsp://user:secret@host/...` -> `rtsp://***@host/...`: names end up in logs."""
    return re.sub(r"(?<=://)[^/@\s]*@", "***@", device)


def _open_device(device: int | str) -> tuple[cv2.VideoCapture, str]:
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
        timeouts = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            STREAM_TIMEOUT_MS,
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
