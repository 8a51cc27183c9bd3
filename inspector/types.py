"""The types every stage shares. Detections are the only form detections take."""

from __future__ import annotations

import enum
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

__all__ = [
    "ALLOWED_TRANSITIONS",
    "RESULT_NO_DECISION",
    "RESULT_PASS",
    "Detections",
    "EventKind",
    "Frame",
    "FrameOrigin",
    "ImageHealth",
    "Inspection",
    "Judgement",
    "Region",
    "RejectReason",
    "Severity",
    "StageTimes",
    "StationEvent",
    "StationHealth",
    "StationListener",
    "StationState",
    "TriggerEvent",
    "Verdict",
]


@dataclass(frozen=True, slots=True)
class Detections:
    """Parallel arrays: `xyxy` (N, 4) float32 in original-frame pixels, `score` (N,)
    float32, `class_id` (N,) int32. Boolean or index arrays select a new `Detections`."""

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.score)
        if self.xyxy.shape != (n, 4):
            raise ValueError(f"Detections.xyxy must be ({n}, 4), got {self.xyxy.shape}")
        if self.score.shape != (n,) or self.class_id.shape != (n,):
            raise ValueError(
                f"Detections arrays disagree: score {self.score.shape}, "
                f"class_id {self.class_id.shape}, xyxy {self.xyxy.shape}"
            )

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))

    @classmethod
    def from_arrays(cls, xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray) -> Detections:
        """Build from any numeric arrays, converting to the canonical dtypes."""
        return cls(
            np.ascontiguousarray(xyxy, dtype=np.float32).reshape(-1, 4),
            np.ascontiguousarray(score, dtype=np.float32).reshape(-1),
            np.ascontiguousarray(class_id, dtype=np.int32).reshape(-1),
        )

    def __len__(self) -> int:
        return len(self.score)

    def __getitem__(self, selector: np.ndarray | slice) -> Detections:
        return Detections(self.xyxy[selector], self.score[selector], self.class_id[selector])

    @property
    def wh(self) -> np.ndarray:
        """Box widths and heights (N, 2) in pixels."""
        return self.xyxy[:, 2:4] - self.xyxy[:, 0:2]

    def max_score(self) -> float:
        return float(self.score.max()) if len(self) else 0.0


@dataclass(frozen=True, slots=True)
class FrameOrigin:
    """Where a frame came from, as the camera tells it: the camera's id, its own frame
    id and timestamp (ns on the camera's clock; None where a source has neither) and the
    pixel format it sent. It travels with the frame into the `Inspection` record."""

    camera_id: str
    frame_id: int | None = None
    timestamp_ns: int | None = None
    pixel_format: str = "BGR8"


@dataclass(slots=True)
class Frame:
    """One captured image. `image` may be a buffer the capture pool reuses: whoever keeps
    it past `release()` must copy it."""

    image: np.ndarray
    seq: int
    t_capture: float  # time.monotonic() when the frame was read
    source: str = ""
    release: Callable[[], None] | None = None
    origin: FrameOrigin | None = None

    def done(self) -> None:
        """Hand the buffer back to the capture pool (no-op for unpooled frames)."""
        if self.release is not None:
            self.release()
            self.release = None


@dataclass(frozen=True, slots=True)
class Region:
    """An axis-aligned box in frame pixels, end-exclusive."""

    x0: int
    y0: int
    x1: int
    y1: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        """A view, never a copy."""
        return image[self.y0 : self.y1, self.x0 : self.x1]


class RejectReason(enum.Enum):
    """Why a triggered part was rejected before it could be inspected."""

    OVERRUN = "overrun"  # every frame buffer was held by parts still waiting


@dataclass(frozen=True, slots=True)
class TriggerEvent:
    """A request to inspect one part. Frame-driven triggers attach the frame (and the
    part's region); others leave it None and the station takes the newest frame
    captured at or after `t_trigger`. `reject` is set when the station refused the part
    on arrival (it becomes a NO_DECISION record without being inspected)."""

    trigger_id: int
    origin: str  # the trigger's kind: "presence", "interval", "manual", "plc", ...
    t_trigger: float  # monotonic
    deadline: float  # monotonic; no verdict by then is NO_DECISION
    frame: Frame | None = None
    region: Region | None = None
    part_serial: str | None = None
    reject: RejectReason | None = None


class Verdict(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    NO_DECISION = "NO_DECISION"

    @property
    def rejects(self) -> bool:
        """Silence is never a pass: NO_DECISION rejects the part like FAIL."""
        return self is not Verdict.PASS


RESULT_PASS = 0
RESULT_NO_DECISION = 0xFFFF


@dataclass(frozen=True, slots=True)
class Judgement:
    """The judge's answer: verdict, result code (0 pass, 1 + class id of the worst
    defect, 0xFFFF no decision), the detections that count as defects, and why."""

    verdict: Verdict
    result_code: int
    defects: Detections
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Monotonic timestamps of one inspection's stages (seconds); NaN: did not happen.
    `plc_write` is known only after the PLC has the verdict, so the record the queued
    sinks get carries it and the one committed before the PLC write does not."""

    trigger: float
    capture: float = math.nan
    detect_start: float = math.nan
    detect_end: float = math.nan
    judged: float = math.nan
    plc_write: float = math.nan

    def ms(self, start: str, end: str) -> float:
        return (getattr(self, end) - getattr(self, start)) * 1000.0


@dataclass(frozen=True, slots=True)
class ImageHealth:
    """Figures of the inspected image that SPC watches for a dimming lamp or a dirty
    lens: mean brightness (0-255) and focus (variance of the Laplacian), both on every
    other pixel of one channel (`inspector.spc.health`)."""

    brightness: float
    focus: float


@dataclass(frozen=True, slots=True)
class Inspection:
    """One record per triggered part; every sink (log, PLC, MQTT, SPC, web) reads this.
    Built once by the station and never edited: the copy the queued sinks get (with
    the PLC write time and, for archived parts, the image) is a new record."""

    seq: int  # 1, 2, ... within one run of the station
    trigger_id: int
    origin: str
    part_serial: str | None
    times: StageTimes
    wall_time: float  # time.time() at the verdict, for humans and databases
    detections: Detections
    judgement: Judgement
    model_id: str
    model_sha256: str
    config_hash: str
    run_id: str = ""  # the station run that judged it: (run_id, seq) names a part for good
    calibration_id: str | None = None
    frame_seq: int | None = None
    region: Region | None = None  # the part of the frame that was inspected
    image: np.ndarray | None = None  # a copy of that region, only when a sink keeps it
    image_health: ImageHealth | None = None  # measured only when an SPC monitor wants it
    camera: FrameOrigin | None = None  # the inspected frame's origin
    recipe: int | None = None  # the recipe that judged it (None: a station without recipes)
    recipe_name: str | None = None
    # the judging model's classes, on a station whose recipes' models differ in them
    class_names: tuple[str, ...] | None = None

    @property
    def verdict(self) -> Verdict:
        return self.judgement.verdict

    @property
    def result_code(self) -> int:
        return self.judgement.result_code

    def names(self, default: tuple[str, ...]) -> tuple[str, ...]:
        """The class names its class ids index: its own model's, else `default` (the
        station's one model's)."""
        return self.class_names if self.class_names is not None else default

    @property
    def latency_ms(self) -> float:
        """Trigger to verdict."""
        return self.times.ms("trigger", "judged")


# ---------------------------------------------------------------- the station's lifecycle


class StationState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    FAULT = "fault"
    STOPPING = "stopping"
    STOPPED = "stopped"


# The only transitions `Station._transition` accepts.
ALLOWED_TRANSITIONS: Mapping[StationState, frozenset[StationState]] = MappingProxyType(
    {
        StationState.STARTING: frozenset(
            {StationState.READY, StationState.FAULT, StationState.STOPPING}
        ),
        StationState.READY: frozenset(
            {StationState.BUSY, StationState.FAULT, StationState.STOPPING}
        ),
        StationState.BUSY: frozenset(
            {StationState.READY, StationState.FAULT, StationState.STOPPING}
        ),
        StationState.FAULT: frozenset({StationState.READY, StationState.STOPPING}),
        StationState.STOPPING: frozenset({StationState.STOPPED}),
        StationState.STOPPED: frozenset(),
    }
)


@dataclass(frozen=True, slots=True)
class StationHealth:
    """The health of what READY depends on (camera, model, log): True healthy, False
    faulted, None unknown (starting, stopping, a recording that ended). `sinks` is
    False while an optional sink fails: reported, but it never stops the line."""

    camera: bool | None
    model: bool | None
    log: bool | None
    sinks: bool | None = True

    @classmethod
    def unknown(cls) -> StationHealth:
        return cls(None, None, None, None)

    @property
    def faulted(self) -> bool:
        return False in (self.camera, self.model, self.log)


class EventKind(enum.Enum):
    """What a `StationEvent` announces."""

    STATE = "state"  # the station's state changed
    CAMERA_LOST = "camera_lost"
    CAMERA_BACK = "camera_back"
    MODEL_FAULT = "model_fault"  # non-finite output, or too many failed inferences
    MODEL_BACK = "model_back"
    SINK_FAILED = "sink_failed"
    SINK_BACK = "sink_back"
    LINK_DOWN = "link_down"  # a sink cannot reach its peer, or is refused (the MQTT broker)
    LINK_UP = "link_up"
    MESSAGES_DROPPED = "messages_dropped"  # a sink dropped messages it could not deliver
    OVERRUN = "overrun"  # a part was rejected: no frame buffer was free
    SOURCE_ERRORS = "source_errors"  # frames the decoder could not read (counted)
    CONFIG_CHANGED = "config_changed"
    MODEL_CHANGED = "model_changed"
    THRESHOLD_CHANGED = "threshold_changed"
    SPC_ALARM = "spc_alarm"  # a run rule tripped on a monitor (detail: the alarm)
    SPC_ACKNOWLEDGED = "spc_acknowledged"  # open SPC alarms acknowledged (PLC or CLI)
    SPC_LIMITS = "spc_limits"  # a monitor's control limits were frozen (a new version)
    CALIBRATION_CHANGED = (
        "calibration_changed"  # the calibration profile differs from the last start
    )
    FRAMES_MISSED = "frames_missed"  # the camera's frame ids skipped, or frames came incomplete
    CAMERA_RESTARTED = "camera_restarted"  # a stalled stream was restarted, or reconfigured
    RECIPE_CHANGED = "recipe_changed"  # a recipe switch, done or refused (detail: who asked)


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class StationEvent:
    """One thing that happened to the station, for its listeners (PLC status, log,
    MQTT, SPC, web). `detail` holds plain JSON values only."""

    kind: EventKind
    severity: Severity
    message: str
    wall_time: float  # time.time()
    state: StationState  # the station's state after the event
    detail: Mapping[str, str | int | float | bool | None] = field(
        default_factory=lambda: MappingProxyType({})
    )


class StationListener(ABC):
    """Hears the station: its health every worker tick and every event. Both run on
    the thread that noticed (the worker, capture, a trigger): they must not block."""

    @abstractmethod
    def on_health(self, health: StationHealth) -> None:
        """The health READY derives from, at least every 0.1 s while the worker runs."""

    def on_event(self, event: StationEvent) -> None:  # noqa: B027 - health is enough for some
        """A state change, fault or recovery."""
