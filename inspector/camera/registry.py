"""The camera source registry: `camera.kind` -> (config model, source class)."""

from __future__ import annotations

from inspector.camera.config import (
    AravisCamera,
    FolderCamera,
    OpenCVCamera,
    SourceConfig,
    VideoCamera,
)
from inspector.registry import Registry

__all__ = ["SOURCES"]

SOURCES: Registry[SourceConfig] = Registry("camera.kind", SourceConfig)
SOURCES.register("video", VideoCamera, "inspector.camera.video:VideoFileSource")
SOURCES.register("folder", FolderCamera, "inspector.camera.video:FolderSource")
SOURCES.register("opencv", OpenCVCamera, "inspector.camera.video:OpenCVSource")
SOURCES.register("aravis", AravisCamera, "inspector.camera.aravis:AravisSource")
