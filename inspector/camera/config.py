"""Config models of the camera sources (`camera:` in station.yaml); no runtime imported."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from inspector.configbase import Backoff, ConfigPath, PluginConfig

__all__ = ["FolderCamera", "OpenCVCamera", "SourceConfig", "VideoCamera"]


class SourceConfig(PluginConfig):
    """Base of every camera source's config."""


class VideoCamera(SourceConfig):
    kind: Literal["video"] = Field(description="A recorded video file.")
    path: ConfigPath = Field(description="Video file to replay.")
    pace: Literal["realtime", "fast"] = Field(
        "realtime", description="realtime: at the file's frame rate; fast: as fast as possible."
    )
    loop: bool = Field(False, description="Start again at the end instead of stopping.")


class FolderCamera(SourceConfig):
    kind: Literal["folder"] = Field(description="A folder of images, in name order.")
    path: ConfigPath = Field(description="Folder of .png/.jpg/.bmp/.tif images.")
    fps: float = Field(5.0, gt=0, le=1000, description="Frames per second to deliver at.")
    pace: Literal["realtime", "fast"] = Field("realtime", description="Pace as for video.")
    loop: bool = Field(False, description="Start again at the end.")


class OpenCVCamera(SourceConfig):
    kind: Literal["opencv"] = Field(description="A live camera through OpenCV.")
    device: (
        Annotated[int, Field(ge=0, le=255)] | Annotated[str, Field(min_length=1, max_length=4096)]
    ) = Field(description="Device index (0), RTSP/HTTP URL, or a GStreamer pipeline string.")
    width: int | None = Field(None, gt=0, le=16384, description="Requested frame width.")
    height: int | None = Field(None, gt=0, le=16384, description="Requested frame height.")
    fps: float | None = Field(None, gt=0, le=1000, description="Requested frame rate.")
    reconnect: Backoff = Field(default_factory=Backoff, description="Reconnect backoff.")
