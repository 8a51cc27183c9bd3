"""Camera sources (video file, image folder, live OpenCV camera) and the capture thread."""

from inspector.camera.base import (
    SOURCES,
    FrameSource,
    Pacer,
    SourceLost,
    SourceReport,
    open_source,
)
from inspector.camera.capture import Capture, CaptureState, FramePool

__all__ = [
    "SOURCES",
    "Capture",
    "CaptureState",
    "FramePool",
    "FrameSource",
    "Pacer",
    "SourceLost",
    "SourceReport",
    "open_source",
]
