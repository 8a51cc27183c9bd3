"""Config models of the camera sources (`camera:` in station.yaml); no runtime imported."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from inspector.configbase import Backoff, ConfigPath, PluginConfig, Section

__all__ = [
    "PIXEL_FORMATS",
    "AravisCamera",
    "AravisRoi",
    "AravisStrobe",
    "AravisTrigger",
    "FolderCamera",
    "OpenCVCamera",
    "SourceConfig",
    "VideoCamera",
]


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
    timeout_ms: int = Field(
        5000,
        ge=100,
        le=600_000,
        description="Network streams: opening, and each read, fail after this long without "
        "data, so a dead stream is reopened rather than waited on.",
    )
    max_age_ms: float | None = Field(
        200.0,
        gt=0,
        le=60000,
        description="Network streams (URLs): frames that waited in the stream's buffer "
        "longer than this are dropped, so latency stays bounded; null keeps every frame.",
    )


# The GenICam pixel formats the aravis source converts (PFNC names).
PIXEL_FORMATS = ("Mono8", "BayerRG8", "BayerGB8", "BayerGR8", "BayerBG8", "RGB8", "BGR8")
PixelFormat = Literal["Mono8", "BayerRG8", "BayerGB8", "BayerGR8", "BayerBG8", "RGB8", "BGR8"]
TriggerLine = Annotated[str, Field(pattern=r"^(Line[0-9]{1,2}|Software)$")]
OutputLine = Annotated[str, Field(pattern=r"^Line[0-9]{1,2}$")]


class AravisRoi(Section):
    """The sensor region to read out (GenICam OffsetX/OffsetY/Width/Height)."""

    x: int = Field(0, ge=0, le=65535, description="OffsetX, pixels.")
    y: int = Field(0, ge=0, le=65535, description="OffsetY, pixels.")
    width: int = Field(gt=0, le=65535, description="Width, pixels.")
    height: int = Field(gt=0, le=65535, description="Height, pixels.")


class AravisTrigger(Section):
    """TriggerSelector=FrameStart, TriggerMode=On: each trigger is one frame, one part."""

    source: TriggerLine = Field(
        description="TriggerSource: LineN (a photo-eye or the PLC wired to an input line) "
        "or Software (the source triggers each frame itself)."
    )
    activation: Literal["RisingEdge", "FallingEdge", "AnyEdge", "LevelHigh", "LevelLow"] = Field(
        "RisingEdge", description="TriggerActivation on a line (ignored for Software)."
    )
    delay_us: float | None = Field(
        None, ge=0, le=10_000_000, description="TriggerDelay, microseconds, if the camera has it."
    )
    liveness_s: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="Between parts a line-triggered camera may be silent for hours: after "
        "this long without a frame the camera is asked for a register, and only a camera "
        "that does not answer is taken for lost.",
    )


class AravisStrobe(Section):
    """A strobe on an output line: LineSelector=line, LineMode=Output, LineSource=source."""

    line: OutputLine = Field(description="Output line wired to the light's trigger input.")
    source: str = Field(
        "ExposureActive",
        pattern=r"^[A-Za-z][A-Za-z0-9]{0,63}$",
        description="LineSource: ExposureActive (light on while the sensor exposes), or "
        "another signal the camera offers (FrameTriggerWait, UserOutput0, ...).",
    )
    inverted: bool = Field(False, description="LineInverter, for a light that fires on low.")


class AravisCamera(SourceConfig):
    kind: Literal["aravis"] = Field(
        description="A GigE Vision or USB3 Vision camera through Aravis 0.8 (the aravis extra)."
    )
    camera: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        description="Which camera: its Aravis id (`inspector camera list`), serial number, "
        "or IP address; null takes the only camera found.",
    )
    pixel_format: PixelFormat = Field(
        "Mono8", description="PixelFormat; Bayer formats are debayered to BGR on the host."
    )
    mono: bool = Field(
        False,
        description="Mono8: deliver single-channel frames (for a model with one input "
        "channel); false converts them to BGR.",
    )
    exposure_us: float | None = Field(
        None, gt=0, le=60_000_000, description="ExposureTime, microseconds (auto off)."
    )
    gain_db: float | None = Field(None, ge=0, le=100, description="Gain, dB (auto off).")
    roi: AravisRoi | None = Field(None, description="Sensor region; null keeps the camera's.")
    frame_rate: float | None = Field(
        None,
        gt=0,
        le=10000,
        description="AcquisitionFrameRate in free run; with a Software trigger, the rate "
        "the source triggers at (null: as fast as frames come).",
    )
    trigger: AravisTrigger | None = Field(None, description="Null: free run (TriggerMode=Off).")
    strobe: AravisStrobe | None = Field(
        None, description="Strobe output, where the camera has one."
    )
    packet_size: int | None = Field(
        None,
        ge=576,
        le=16384,
        description="GigE: GevSCPSPacketSize, bytes (9000 with jumbo frames on the NIC); "
        "null: Aravis negotiates the largest that gets through.",
    )
    packet_delay_ns: int | None = Field(
        None, ge=0, le=1_000_000_000, description="GigE: inter-packet delay (GevSCPD), ns."
    )
    buffers: int = Field(8, ge=2, le=256, description="Stream buffers the camera fills.")
    frame_timeout_s: float = Field(
        2.0,
        gt=0,
        le=600,
        description="Free run: a stream with no frame for this long is restarted once, "
        "then the camera is taken for lost and reopened.",
    )
    reconnect: Backoff = Field(default_factory=Backoff, description="Reconnect backoff.")

    @model_validator(mode="after")
    def _mono_needs_mono8(self) -> AravisCamera:
        if self.mono and self.pixel_format != "Mono8":
            raise ValueError("mono: true needs pixel_format: Mono8")
        return self
