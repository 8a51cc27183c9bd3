"""`station.yaml`: pydantic v2 models, validated once at load, errors naming the field.

Every model forbids unknown keys, so a misspelt key is an error, not a silent default.
Sections that later features fill (plc, mqtt, spc, calibration, web) exist and validate
now, disabled.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from inspector.errors import ConfigError
from inspector.plc.config import PlcConfig, PlcTriggerConfig

__all__ = [
    "CameraConfig",
    "JudgeConfig",
    "ModelConfig",
    "StationConfig",
    "StorageConfig",
    "TriggerConfig",
    "config_hash",
    "load_config",
]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- camera


class Backoff(Section):
    initial_s: float = Field(0.5, gt=0, description="First wait before reconnecting.")
    max_s: float = Field(10.0, gt=0, description="Longest wait between reconnect attempts.")


class VideoCamera(Section):
    kind: Literal["video"] = Field(description="A recorded video file.")
    path: Path = Field(description="Video file to replay.")
    pace: Literal["realtime", "fast"] = Field(
        "realtime", description="realtime: at the file's frame rate; fast: as fast as possible."
    )
    loop: bool = Field(False, description="Start again at the end instead of stopping.")


class FolderCamera(Section):
    kind: Literal["folder"] = Field(description="A folder of images, in name order.")
    path: Path = Field(description="Folder of .png/.jpg/.bmp/.tif images.")
    fps: float = Field(5.0, gt=0, description="Frames per second to deliver at.")
    pace: Literal["realtime", "fast"] = Field("realtime", description="Pace as for video.")
    loop: bool = Field(False, description="Start again at the end.")


class OpenCVCamera(Section):
    kind: Literal["opencv"] = Field(description="A live camera through OpenCV.")
    device: int | str = Field(
        description="Device index (0), RTSP/HTTP URL, or a GStreamer pipeline string."
    )
    width: int | None = Field(None, gt=0, description="Requested frame width.")
    height: int | None = Field(None, gt=0, description="Requested frame height.")
    fps: float | None = Field(None, gt=0, description="Requested frame rate.")
    reconnect: Backoff = Field(default_factory=Backoff, description="Reconnect backoff.")


CameraConfig = Annotated[VideoCamera | FolderCamera | OpenCVCamera, Field(discriminator="kind")]


# ---------------------------------------------------------------- trigger


class Roi(Section):
    x: int = Field(ge=0, description="Left edge, px.")
    y: int = Field(ge=0, description="Top edge, px.")
    width: int = Field(gt=0, description="Width, px.")
    height: int = Field(gt=0, description="Height, px.")


class PartDetection(Section):
    """How a part stands out from the belt, for the presence trigger and the locator."""

    roi: Roi | None = Field(None, description="Band the parts cross; None: whole frame.")
    polarity: Literal["brighter", "darker"] = Field(
        "brighter", description="Parts are brighter (or darker) than the belt."
    )
    threshold: int = Field(60, ge=1, le=254, description="Grey level between belt and part.")
    min_occupancy: float = Field(
        0.15, gt=0, lt=1, description="Share of ROI rows a column needs to belong to a part."
    )
    min_length_px: int = Field(20, ge=1, description="Shorter foreground runs are noise.")
    margin_px: int = Field(4, ge=0, description="Padding around the part region sent to inspect.")


class PresenceTrigger(PartDetection):
    kind: Literal["presence"] = Field(description="Software part detection in a ROI.")
    direction: Literal["left_to_right", "right_to_left"] = Field(
        "left_to_right", description="Direction the belt moves parts through the ROI."
    )
    fire_at: float = Field(
        0.5, gt=0, lt=1, description="Fire when a part's centre crosses this fraction of the ROI."
    )
    max_missing_frames: int = Field(
        5, ge=0, description="Frames a tracked part may vanish (flicker) and still be the same."
    )
    deadline_ms: float = Field(500.0, gt=0, description="Trigger to verdict budget.")


class LocateConfig(PartDetection):
    """For triggers that carry no region (PLC, interval, manual): find the part in the
    frame, the one whose centre is nearest `position`, and inspect only it."""

    position: float = Field(
        0.5, gt=0, lt=1, description="Expected part centre, as a fraction of the ROI width."
    )


class IntervalTrigger(Section):
    kind: Literal["interval"] = Field(description="Fire every period, on the newest frame.")
    period_s: float = Field(gt=0, description="Seconds between triggers.")
    deadline_ms: float = Field(500.0, gt=0, description="Trigger to verdict budget.")


class ManualTrigger(Section):
    kind: Literal["manual"] = Field(description="Fire on SIGUSR1 or an API call.")
    deadline_ms: float = Field(1000.0, gt=0, description="Trigger to verdict budget.")


class LineTrigger(Section):
    kind: Literal["line"] = Field(
        description="Every frame is a part (a camera on a hardware trigger line)."
    )
    deadline_ms: float = Field(500.0, gt=0, description="Trigger to verdict budget.")


TriggerConfig = Annotated[
    PresenceTrigger | IntervalTrigger | ManualTrigger | LineTrigger | PlcTriggerConfig,
    Field(discriminator="kind"),
]


# ---------------------------------------------------------------- model and judge


class ModelConfig(Section):
    path: Path = Field(description="Exported model (.onnx, OpenVINO folder/.xml, .engine).")
    backend: Literal["onnxruntime", "openvino", "tensorrt"] = Field(
        "onnxruntime", description="Runtime that runs the model."
    )
    threads: int | None = Field(None, ge=1, description="Runtime CPU threads (None: runtime's).")
    overlap: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Infer on a thread beside the inspection worker, two parts deep, so the "
        "next part is prepared and the last judged while the model runs. auto: on when "
        "inference leaves a CPU core free (TensorRT, or fewer runtime threads than cores); "
        "off where inference uses every core, which the worker's thread would only slow.",
    )
    imgsz: int | None = Field(
        None,
        ge=32,
        description="Square input size for a model with a dynamic input or without Ultralytics "
        "metadata (None: the model's own).",
    )
    conf: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Lowest score the decoder keeps (None: the judge's lowest threshold).",
    )
    iou: float = Field(0.7, gt=0, le=1, description="NMS IoU threshold.")


class Zone(Section):
    x0: float = Field(description="Left, px of the inspected image.")
    y0: float = Field(description="Top, px.")
    x1: float = Field(description="Right, px.")
    y1: float = Field(description="Bottom, px.")

    @model_validator(mode="after")
    def _ordered(self) -> Zone:
        if self.x1 <= self.x0 or self.y1 <= self.y0:
            raise ValueError("zone needs x1 > x0 and y1 > y0")
        return self


class ClassRule(Section):
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="Score a defect of this class needs (None: the default)."
    )
    min_width_px: float = Field(0, ge=0, description="Narrower boxes are ignored.")
    min_height_px: float = Field(0, ge=0, description="Shorter boxes are ignored.")
    ignore: bool = Field(False, description="Never fail a part for this class.")


class JudgeConfig(Section):
    min_confidence: float | None = Field(
        None, ge=0, le=1, description="Default score threshold; None: the model card's."
    )
    classes: dict[str, ClassRule] = Field(
        default_factory=dict, description="Per-class rules by class name."
    )
    include_zones: list[Zone] = Field(
        default_factory=list, description="If any: only defects centred inside one count."
    )
    exclude_zones: list[Zone] = Field(
        default_factory=list, description="Defects centred inside these never count."
    )


# ---------------------------------------------------------------- storage and later sections


class StorageConfig(Section):
    database: Path = Field(Path("inspections.db"), description="SQLite inspection log (WAL).")
    images_dir: Path = Field(Path("images"), description="Folder for archived part images.")
    images_quota_mb: float = Field(
        1024.0, gt=0, description="Disk quota of images_dir; oldest images removed first."
    )
    save_failed: bool = Field(True, description="Archive images of FAIL and NO_DECISION parts.")
    save_pass_fraction: float = Field(
        0.01, ge=0, le=1, description="Share of passed parts archived as a sample."
    )
    queue_size: int = Field(256, ge=1, description="Records the log sink may hold in memory.")


class Disabled(Section):
    enabled: Literal[False] = Field(False, description="Not available in this version yet.")


class StationInfo(Section):
    name: str = Field("station-1", description="Station id in logs, MQTT topics, records.")
    line: str = Field("line-1", description="Production line id.")


class StationConfig(Section):
    """The whole station.yaml."""

    station: StationInfo = Field(default_factory=StationInfo, description="Identity.")
    camera: CameraConfig = Field(description="Where frames come from.")
    trigger: TriggerConfig = Field(description="When a part is inspected.")
    model: ModelConfig = Field(description="The detector.")
    locate: LocateConfig | None = Field(
        None, description="Find the part in frames of triggers that carry no region."
    )
    judge: JudgeConfig = Field(default_factory=JudgeConfig, description="Pass/fail rules.")
    storage: StorageConfig = Field(default_factory=StorageConfig, description="Inspection log.")
    plc: PlcConfig = Field(default_factory=PlcConfig, description="PLC link over Modbus TCP.")
    mqtt: Disabled = Field(default_factory=Disabled, description="MQTT (later).")
    spc: Disabled = Field(default_factory=Disabled, description="SPC (later).")
    calibration: Disabled = Field(default_factory=Disabled, description="Calibration (later).")
    web: Disabled = Field(default_factory=Disabled, description="Dashboard (later).")

    @model_validator(mode="after")
    def _plc_trigger_needs_plc(self) -> StationConfig:
        if self.trigger.kind == "plc" and not self.plc.enabled:
            raise ValueError("trigger.kind 'plc' needs plc.enabled: true")
        return self


def _describe(error: dict[str, Any]) -> str:
    where = ".".join(str(p) for p in error["loc"]) or "(top level)"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (misspelt?)"
    return f"{where}: {message}"


def parse_config(doc: Any, source: str) -> StationConfig:
    """Validate a parsed document; relative paths stay relative to the caller's choice."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    try:
        return StationConfig.model_validate(doc)
    except ValidationError as exc:
        problems = [_describe(e) for e in exc.errors()]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(f"{source}: {problems[0]}{more}", problems) from None


def load_config(path: Path) -> StationConfig:
    """Read and validate station.yaml; relative paths resolve against its folder."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} not valid YAML") from None
    config = parse_config(doc, str(path))
    return resolve_paths(config, path.parent)


def resolve_paths(config: StationConfig, base: Path) -> StationConfig:
    def fix(p: Path) -> Path:
        return p if p.is_absolute() else (base / p)

    camera = config.camera
    if isinstance(camera, VideoCamera | FolderCamera):
        camera = camera.model_copy(update={"path": fix(camera.path)})
    return config.model_copy(
        update={
            "camera": camera,
            "model": config.model.model_copy(update={"path": fix(config.model.path)}),
            "storage": config.storage.model_copy(
                update={
                    "database": fix(config.storage.database),
                    "images_dir": fix(config.storage.images_dir),
                }
            ),
        }
    )


def config_hash(config: StationConfig) -> str:
    """Short sha256 of the validated config: records say which config judged them."""
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
