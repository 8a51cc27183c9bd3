"""The station: capture -> trigger -> detect -> judge -> log -> PLC -> queued sinks.

Threads: the capture thread reads frames and runs frame-driven triggers; event-driven
triggers have their own thread; one inspection worker turns trigger events into
`Inspection` records, in order, running the detector through a lane (in line, or on an
inference thread beside it: `inspector.detect.lane`); every sink has its own queue and
thread (`SinkRunner`). Between a trigger and the PLC result sits only detect, judge and
one short database commit, so a verdict the PLC has read is always in the log.

Every trigger event becomes exactly one record: a part that cannot be inspected in time
(no frame, queue overrun, deadline passed, a model fault) is recorded as NO_DECISION,
which rejects.

The lifecycle is one state machine (`StationState`, `ALLOWED_TRANSITIONS`): `_transition`
is the only place the state changes, and every change, fault and recovery is announced
as a `StationEvent` to the listeners (the PLC status, the log, later MQTT, SPC, web).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

import numpy as np

from inspector.camera.base import SourceNote, SourceReport
from inspector.camera.capture import Capture, CaptureState
from inspector.detect.base import Detector
from inspector.detect.lane import Ticket, open_lane
from inspector.errors import InspectorError, ModelOutputError
from inspector.judge import Judge
from inspector.recipes import Recipe, RecipeBook, RecipeError, RecipeRefusal, Requester
from inspector.sinks.base import SinkRunner
from inspector.trigger.base import Trigger
from inspector.types import (
    ALLOWED_TRANSITIONS,
    RESULT_NO_DECISION,
    Detections,
    EventKind,
    Frame,
    ImageHealth,
    Inspection,
    Judgement,
    Region,
    RejectReason,
    Severity,
    StageTimes,
    StationEvent,
    StationHealth,
    StationListener,
    StationState,
    TriggerEvent,
    Verdict,
)
from inspector.vision.rectify import Rectifier

__all__ = [
    "LatestFrame",
    "Pipeline",
    "RecordIdentity",
    "Recorder",
    "Station",
    "StationListener",
    "StationOptions",
    "StationStats",
]

log = logging.getLogger(__name__)

HotSink = Callable[[Inspection], None]
CaptureFactory = Callable[[Callable[[Frame], None], Callable[[CaptureState, str], None]], Capture]

TICK_S = 0.1  # the worker reports health (and the PLC heartbeat) at least this often
OVERRUN_EVENT_S = 1.0  # overruns are announced at most this often, with their count


class Recorder(Protocol):
    """Makes a record durable before anyone acts on it (the store's inspection writer).
    Runs on the inspection worker, between the verdict and the PLC write."""

    def commit(self, record: Inspection) -> object:
        """Write `record` for good, or raise."""


@dataclass(frozen=True)
class RecordIdentity:
    """What every record says about the station that judged it."""

    model_id: str
    model_sha256: str
    config_hash: str
    run_id: str = ""
    calibration_id: str | None = None
    recipe: int | None = None
    recipe_name: str | None = None


@dataclass(frozen=True)
class Pipeline:
    """The per-part stages: trigger, detector, judge, the recorder that makes a verdict
    durable, and the hot sinks (the PLC result) that get it next."""

    trigger: Trigger
    detector: Detector
    judge: Judge
    identity: RecordIdentity
    recorder: Recorder | None = None
    hot_sinks: tuple[HotSink, ...] = ()
    locate: Callable[[np.ndarray], Region | None] | None = None  # for region-less triggers
    # image figures for SPC, measured while the model infers (None: nobody watches them)
    measure: Callable[[np.ndarray], ImageHealth] | None = None
    # the calibration profile applied in preprocessing: undistortion, flat field, and
    # its ROI for parts that come without a region
    rectifier: Rectifier | None = None
    roi: Region | None = None


@dataclass(frozen=True)
class StationOptions:
    """`wait_for_worker` lets a file source wait instead of overrunning (a live camera
    cannot wait, so its excess parts are rejected); `overlap` runs inference beside the
    worker (`OverlappedLane`); `max_model_failures` consecutive failed inferences raise
    the MODEL fault."""

    max_pending_frames: int = 4
    wait_for_worker: bool = False
    overlap: bool = False
    max_model_failures: int = 3


@dataclass
class StationStats:
    parts: int = 0
    passed: int = 0
    failed: int = 0
    no_decision: int = 0
    overruns: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)

    def count(self, record: Inspection) -> None:
        self.parts += 1
        if record.verdict is Verdict.PASS:
            self.passed += 1
        elif record.verdict is Verdict.FAIL:
            self.failed += 1
        else:
            self.no_decision += 1
            reason = record.judgement.reason
            self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


class LatestFrame:
    """The newest frame, for event-driven triggers. A taken frame belongs to the taker
    (who calls `done()`); an untaken one is released when a newer frame replaces it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            old, old_taken = self._frame, self._taken
            self._frame, self._taken = frame, False
            self._cond.notify_all()
        if old is not None and not old_taken:
            old.done()

    def take_after(self, t: float, deadline: float) -> Frame | None:
        """The first frame captured at or after `t`, waiting until `deadline` at most."""
        with self._cond:
            while True:
                frame = self._frame
                if frame is not None and not self._taken and frame.t_capture >= t:
                    self._taken = True
                    return frame
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)

    def clear(self) -> None:
        with self._cond:
            frame, taken = self._frame, self._taken
            self._frame = None
        if frame is not None and not taken:
            frame.done()


@dataclass(frozen=True, slots=True)
class _RecipeSwitch:
    """A recipe request in the worker's queue: parts triggered before it finish with
    the old recipe, parts after it are judged with the new one."""

    number: int
    by: Requester
    t_request: float


@dataclass(eq=False, slots=True)
class _Part:
    """A part between `_begin` and `_finish`: decided already, or detecting."""

    event: TriggerEvent
    frame: Frame | None
    decided: Inspection | None = None
    region: Region | None = None
    ticket: Ticket | None = None
    t_detect: float = float("nan")
    health: ImageHealth | None = None

    @property
    def image(self) -> np.ndarray:
        """What the detector sees: the part's region of the frame (a view), or all of it."""
        if self.frame is None:
            raise InspectorError("a part without a frame has no image")
        image = self.frame.image
        return self.region.crop(image) if self.region else image


@dataclass(frozen=True, slots=True)
class _Inspected:
    """What the worker measured of a part it inspected: detection start and end, the
    region it looked at, when it was judged, the image's SPC figures."""

    detect: tuple[float, float]
    region: Region | None
    t_judged: float
    health: ImageHealth | None = None


def no_decision(reason: str) -> Judgement:
    return Judgement(Verdict.NO_DECISION, RESULT_NO_DECISION, Detections.empty(), reason)


class _Faults:
    """Latched faults (MODEL, LOG): set by the worker, cleared only by `reset()` (the
    PLC's ERROR_RESET or an operator), so a station that stopped being READY cannot
    silently become READY again without anyone looking."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.model: str | None = None  # why, while latched
        self.log: str | None = None
        self.model_failures = 0  # consecutive

    def latch_model(self, why: str) -> bool:
        """Latch the MODEL fault; True only for the call that latched it."""
        with self._lock:
            if self.model is not None:
                return False
            self.model = why
            return True

    def latch_log(self, why: str) -> bool:
        """Latch the LOG fault; True only for the call that latched it."""
        with self._lock:
            if self.log is not None:
                return False
            self.log = why
            return True

    def clear(self) -> tuple[str, ...]:
        with self._lock:
            cleared = tuple(name for name in ("model", "log") if getattr(self, name))
            self.model = self.log = None
            self.model_failures = 0
        return cleared


class Station:
    """Owns the threads and lifecycle of one camera's inspection, and the resources
    the factory opened for it (closed by `stop`)."""

    def __init__(
        self,
        pipeline: Pipeline,
        capture_factory: CaptureFactory,
        sinks: list[SinkRunner],
        options: StationOptions | None = None,
        listeners: tuple[StationListener, ...] = (),
        resources: contextlib.ExitStack | None = None,
        recipes: RecipeBook | None = None,
    ) -> None:
        self.pipeline = pipeline  # replaced whole, by the worker only, at a recipe switch
        self.recipes = recipes
        self.sinks = sinks
        self.options = options or StationOptions()
        self.stats = StationStats()
        self._listeners = listeners
        self._resources = resources or contextlib.ExitStack()
        self._state = StationState.STARTING
        self._state_lock = threading.Lock()
        self._faults = _Faults()
        self._events: queue.Queue[TriggerEvent | _RecipeSwitch | None] = queue.Queue()
        # events holding a pool frame; beyond this the capture pool would run dry
        self._frame_slots = threading.BoundedSemaphore(self.options.max_pending_frames)
        self._latest = LatestFrame()
        self._seq = itertools.count(1)
        self._stopping = threading.Event()
        self._overruns_announced = (0, 0.0)  # count and time of the last OVERRUN event
        self._sinks_healthy = {runner.sink.name: True for runner in sinks}
        for runner in sinks:
            runner.sink.bind(self._announce)
        self._lane = open_lane(pipeline.detector, self.options.overlap, pipeline.rectifier)
        self._worker = threading.Thread(target=self._work, name="inspect", daemon=True)
        self.capture = capture_factory(self._on_frame, self._on_capture_state)
        self.capture.listen(self._on_source_note)

    # ---------------------------------------------------------------- public surface

    @property
    def state(self) -> StationState:
        return self._state

    @property
    def trigger(self) -> Trigger:
        return self.pipeline.trigger

    @property
    def detector(self) -> Detector:
        return self.pipeline.detector

    @property
    def overlapped(self) -> bool:
        """Whether inference runs beside the worker (`model.overlap`)."""
        return self.options.overlap

    @property
    def can_fire(self) -> bool:
        """Whether `fire()` triggers a part (a manual trigger)."""
        return self.trigger.can_fire

    @property
    def camera_failed(self) -> bool:
        """The camera failed for good (a live one that never came back, a bad file)."""
        return self.capture.state is CaptureState.FAILED

    def source_report(self) -> SourceReport:
        """What the source read and could not decode (final once the station stopped)."""
        return self.capture.report()

    def fire(self, part_serial: str | None = None) -> bool:
        """Inspect a part now (a manual trigger); False when the trigger is not running."""
        return self.trigger.fire(part_serial)

    @property
    def recipe(self) -> int | None:
        """The active recipe's number (None: a station without recipes)."""
        return self.pipeline.identity.recipe

    def request_recipe(self, number: int, by: Requester) -> None:
        """Switch to recipe `number` once the parts triggered so far are finished; never
        blocks. The outcome is announced as a RECIPE_CHANGED event (severity ERROR, the
        old recipe kept, when it cannot run)."""
        self._events.put(_RecipeSwitch(number, by, time.monotonic()))

    def note_change(self, kind: EventKind, message: str, **detail: str | int | float) -> None:
        """Announce a change of config, model, threshold, calibration or recipe (the
        factory tells what the store's audit found at start, and the start recipe)."""
        self._announce(kind, Severity.INFO, message, **detail)

    def reset_faults(self) -> None:
        """Clear latched MODEL and LOG faults (the PLC's ERROR_RESET, an operator)."""
        cleared = self._faults.clear()
        for runner in self.sinks:
            runner.healthy = True
        if "model" in cleared:
            self._announce(EventKind.MODEL_BACK, Severity.INFO, "model fault reset")
        if "log" in cleared:
            self._announce(EventKind.SINK_BACK, Severity.INFO, "log fault reset", sink="log")

    def summary(self) -> dict[str, object]:
        """What the station did, for the end of a run (JSON values only)."""
        stats, source = self.stats, self.source_report()
        return {
            "parts": stats.parts,
            "pass": stats.passed,
            "fail": stats.failed,
            "no_decision": stats.no_decision,
            "no_decision_reasons": dict(stats.by_reason),
            "overruns": stats.overruns,
            "sink_records_dropped": sum(runner.dropped for runner in self.sinks),
            "sink_failures": sum(runner.failures for runner in self.sinks),
            "state": self._state.value,
            "source": {
                "frames_read": source.frames_read,
                "frames_undecodable": source.frames_undecodable,
                "frames_declared": source.frames_declared,
                "problems": list(source.problems),
            },
        }

    def health(self) -> StationHealth:
        camera = _CAMERA_HEALTH[self.capture.state]
        critical_ok = all(runner.healthy for runner in self.sinks if runner.critical)
        others_ok = all(
            runner.healthy and runner.sink.healthy for runner in self.sinks if not runner.critical
        )
        return StationHealth(
            camera=camera,
            model=self._faults.model is None,
            log=self._faults.log is None and critical_ok,
            sinks=others_ok,
        )

    # ---------------------------------------------------------------- lifecycle

    def adopt(self, resources: contextlib.ExitStack) -> None:
        """Take over what the factory opened for this station; `stop` closes it."""
        self._resources.push(resources)

    def start(self) -> None:
        for runner in self.sinks:
            runner.start()
        self._lane.start()
        self._worker.start()
        self.trigger.start(self._submit)
        self.capture.start()
        with self._state_lock:  # unless the camera already faulted
            starting = self._state is StationState.STARTING
        if starting:
            self._transition(StationState.READY, "started")

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source has ended and every event is handled, or stop()."""
        end = None if timeout is None else time.monotonic() + timeout
        while not self._stopping.is_set():
            if self.capture.state in (CaptureState.ENDED, CaptureState.FAILED):
                self.capture.join()
                # no frame will come: an interval trigger must stop adding parts, or the
                # queue would never drain
                self.trigger.stop()
                self._events.join()
                return True
            if end is not None and time.monotonic() >= end:
                return False
            self._stopping.wait(0.05)
        return True

    def stop(self) -> None:
        """Stop capture and triggers, finish every queued part, flush and stop sinks,
        close what the factory opened for the station."""
        if self._state in (StationState.STOPPING, StationState.STOPPED):
            return
        self._transition(StationState.STOPPING, "stop requested")
        self._stopping.set()
        self.trigger.stop()
        self.capture.stop()
        self._events.put(None)
        if self._worker.is_alive():
            self._worker.join()
        self._lane.close()
        self._report(StationHealth.unknown())
        self._latest.clear()
        self._announce_source_problems()
        self._transition(StationState.STOPPED, "stopped")  # the sinks still hear it
        for runner in self.sinks:
            runner.stop()
        self._resources.close()

    def _announce_source_problems(self) -> None:
        """Frames the source could not decode are reported, never silently missing."""
        report = self.capture.report()
        for problem in report.problems:
            self._announce(
                EventKind.SOURCE_ERRORS,
                Severity.WARNING,
                problem,
                frames_read=report.frames_read,
                frames_undecodable=report.frames_undecodable,
            )

    def _transition(self, new: StationState, reason: str) -> None:
        """The only way the state changes: checked against `ALLOWED_TRANSITIONS`, and
        announced to every listener."""
        with self._state_lock:
            old = self._state
            if new is old:
                return
            if new not in ALLOWED_TRANSITIONS[old]:
                raise InspectorError(f"station state {old.value} -> {new.value} not allowed")
            self._state = new
        if {old, new} != _BUSY_CYCLE:  # per part: too frequent to announce
            severity = Severity.WARNING if new is StationState.FAULT else Severity.INFO
            self._announce(EventKind.STATE, severity, f"{new.value}: {reason}", previous=old.value)

    def _announce(
        self, kind: EventKind, severity: Severity, message: str, **detail: str | int | float
    ) -> None:
        """One event to every listener and event-taking sink, and one log line. Any
        thread may call it (sinks announce through it: a lost broker, dropped messages)."""
        event = StationEvent(
            kind, severity, message, time.time(), self._state, MappingProxyType(detail)
        )
        log.log(_LOG_LEVEL[severity], "station %s", message)
        for listener in self._listeners:
            listener.on_event(event)
        for runner in self.sinks:
            runner.submit_event(event)

    def _report(self, health: StationHealth) -> None:
        for listener in self._listeners:
            listener.on_health(health)

    def _tick(self) -> None:
        """Health to the listeners (the PLC's READY and heartbeat), and the state and
        sink events that follow from it."""
        health = self.health()
        self._note_sinks()
        self._report(health)
        with self._state_lock:
            state = self._state
        faulted = health.faulted
        if faulted and state in (StationState.READY, StationState.BUSY):
            self._transition(StationState.FAULT, _fault_reason(health))
        elif not faulted and state is StationState.FAULT and health.camera:
            self._transition(StationState.READY, "every fault cleared")

    def _note_sinks(self) -> None:
        for runner in self.sinks:
            name = runner.sink.name
            if runner.healthy is self._sinks_healthy[name]:
                continue
            self._sinks_healthy[name] = runner.healthy
            if runner.healthy:
                self._announce(EventKind.SINK_BACK, Severity.INFO, f"sink {name} back", sink=name)
            else:
                self._announce(
                    EventKind.SINK_FAILED, Severity.WARNING, f"sink {name} failing", sink=name
                )

    # ---------------------------------------------------------------- capture thread

    def _on_capture_state(self, state: CaptureState, message: str) -> None:
        """A lost camera is a station fault until it is back."""
        if state in (CaptureState.RECONNECTING, CaptureState.FAILED):
            self._announce(EventKind.CAMERA_LOST, Severity.WARNING, f"camera lost: {message}")
            with self._state_lock:
                state_now = self._state
            if StationState.FAULT in ALLOWED_TRANSITIONS[state_now]:
                self._transition(StationState.FAULT, f"camera: {message}")
        elif state is CaptureState.RUNNING and self._state is StationState.FAULT:
            self._announce(EventKind.CAMERA_BACK, Severity.INFO, f"camera back: {message}")

    def _on_source_note(self, note: SourceNote) -> None:
        """Frames the camera's ids say were missed (a part the line sent that the station
        never saw: the PLC status sets MISSED_TRIGGER), a stalled stream restarted."""
        kind = _NOTE_EVENTS.get(note.kind, EventKind.SOURCE_ERRORS)
        self._announce(kind, Severity.WARNING, note.message, count=note.count, parts=note.parts)

    def _on_frame(self, frame: Frame) -> None:
        if not self.trigger.frame_driven:
            self._latest.put(frame)
            return
        event = self.trigger.on_frame(frame)
        if event is None:
            frame.done()
        else:
            self._submit(event)

    def _submit(self, event: TriggerEvent) -> None:
        """Queue an event from any thread; never blocks, never drops the part."""
        wait = self.options.wait_for_worker
        if event.frame is not None and not self._frame_slots.acquire(wait):
            event.frame.done()  # keep the pool alive for capture; this part is rejected
            event = dataclasses.replace(event, frame=None, reject=RejectReason.OVERRUN)
            self._note_overrun()
        self._events.put(event)

    def _note_overrun(self) -> None:
        self.stats.overruns += 1
        count, at = self._overruns_announced
        now = time.monotonic()
        if now - at >= OVERRUN_EVENT_S:
            new = self.stats.overruns - count
            self._overruns_announced = (self.stats.overruns, now)
            self._announce(
                EventKind.OVERRUN,
                Severity.WARNING,
                f"{new} part(s) rejected: every frame buffer held by waiting parts",
                parts=new,
            )

    # ---------------------------------------------------------------- inspection worker

    def _work(self) -> None:
        """Inspect events as they come, up to the lane's depth at once, in order; between
        them, report health every tick, so a hung worker stops the heartbeat the PLC
        watches."""
        in_flight: deque[_Part] = deque()
        while True:
            if in_flight and (len(in_flight) >= self._lane.depth or self._events.empty()):
                self._finish_oldest(in_flight)
                continue
            try:
                event = self._events.get(timeout=TICK_S)
            except queue.Empty:
                self._tick()
                continue
            if event is None:  # stop: the parts in flight are finished first
                while in_flight:
                    self._finish_oldest(in_flight)
                self._events.task_done()
                return
            if isinstance(event, _RecipeSwitch):  # parts triggered before it keep the old
                while in_flight:
                    self._finish_oldest(in_flight)
                self._switch_recipe(event)
                self._events.task_done()
                continue
            if event.frame is None:
                # its frame may be a frame period away: no finished part waits for it
                while in_flight:
                    self._finish_oldest(in_flight)
            in_flight.append(self._begin(event))

    def _switch_recipe(self, request: _RecipeSwitch) -> None:
        """Swap the recipe's stages into the pipeline between two parts, or keep the old
        recipe when the new one cannot run; either way one RECIPE_CHANGED event."""
        old = self.pipeline.identity
        self._mark_busy(True)
        try:
            if self.recipes is None:
                raise RecipeError("this station has no recipes", RecipeRefusal.UNKNOWN)
            recipe = self.recipes.get(request.number)
        except RecipeError as exc:
            self._mark_busy(False)
            self._announce(
                EventKind.RECIPE_CHANGED,
                Severity.ERROR,
                f"recipe {request.number} refused ({request.by.value}): {exc}; "
                f"recipe {old.recipe} kept",
                recipe=old.recipe if old.recipe is not None else 0,
                requested=request.number,
                by=request.by.value,
                error=exc.reason.value,
            )
            return
        if recipe.number != old.recipe:
            self._use(recipe)
        self._mark_busy(False)
        ms = (time.monotonic() - request.t_request) * 1000
        self._announce(
            EventKind.RECIPE_CHANGED,
            Severity.INFO,
            f"recipe {recipe.number} ({recipe.name}) active, asked by {request.by.value}",
            recipe=recipe.number,
            name=recipe.name,
            previous=old.recipe if old.recipe is not None else -1,
            by=request.by.value,
            switch_ms=round(ms, 2),
            load_ms=round(recipe.load_ms, 1),
            model_sha256=recipe.detector.info.sha256,
            error="",
        )

    def _use(self, recipe: Recipe) -> None:
        """The recipe's stages in place of the old ones (worker thread, no part in
        flight); its lane is started before the old one's is closed."""
        identity = dataclasses.replace(
            self.pipeline.identity,
            model_id=recipe.model_id,
            model_sha256=recipe.detector.info.sha256,
            calibration_id=recipe.calibration_id,
            recipe=recipe.number,
            recipe_name=recipe.name,
        )
        if recipe.trigger is not None:  # parts triggered from now on: the new parameters
            self.trigger.retune(recipe.trigger)
        lane = open_lane(recipe.detector, self.options.overlap, recipe.rectifier)
        lane.start()
        old_lane, self._lane = self._lane, lane
        old_lane.close()
        self.pipeline = dataclasses.replace(
            self.pipeline,
            detector=recipe.detector,
            judge=recipe.judge,
            identity=identity,
            locate=recipe.locate,
            rectifier=recipe.rectifier,
            roi=recipe.roi,
        )

    def _finish_oldest(self, in_flight: deque[_Part]) -> None:
        self._finish(in_flight.popleft())
        if not in_flight:
            self._mark_busy(False)
        self._tick()

    def _begin(self, event: TriggerEvent) -> _Part:
        """Take the part's frame and start its detection; a part that cannot be
        inspected comes back decided (NO_DECISION)."""
        self._mark_busy(True)
        frame = event.frame
        if frame is not None:
            self._frame_slots.release()
        elif event.reject is None:
            frame = self._latest.take_after(event.t_trigger, event.deadline)
        part = _Part(event, frame)
        try:
            self._start_detection(part)
        except Exception as exc:
            part.decided = self._failed_inference(part, exc)
        return part

    def _start_detection(self, part: _Part) -> None:
        event, frame = part.event, part.frame
        if frame is None:
            reason = event.reject.value if event.reject else "no frame"
            part.decided = self._record(event, None, None, no_decision(reason))
            return
        if time.monotonic() > event.deadline:
            part.decided = self._record(event, frame, None, no_decision("late: queued too long"))
            return
        if self._faults.model is not None:
            part.decided = self._record(event, frame, None, no_decision("model fault"))
            return
        region = event.region
        if region is None and self.pipeline.locate is not None:
            region = self.pipeline.locate(frame.image)
            if region is None:
                part.decided = self._record(event, frame, None, no_decision("no part in view"))
                return
        part.region = region or self.pipeline.roi
        part.t_detect = time.monotonic()
        part.ticket = self._lane.submit(part.image, frame.image, part.region)
        part.health = self._measure(part.image)

    def _measure(self, image: np.ndarray) -> ImageHealth | None:
        """The image's SPC figures, after the model has its input (an overlapped lane
        infers meanwhile); a failure costs the figures, never the part."""
        measure = self.pipeline.measure
        if measure is None:
            return None
        try:
            return measure(image)
        except Exception as exc:
            log.debug("image health not measured: %r", exc)
            return None

    def _finish(self, part: _Part) -> None:
        """Judge and publish one part, and hand its frame back."""
        try:
            if part.decided is not None:
                self._publish(part.decided)
            else:
                self._publish(*self._judge(part))
        except Exception:
            log.exception("inspection failed; the part is rejected")
            self._publish(self._record(part.event, None, None, no_decision("internal error")))
        finally:
            if part.frame is not None:
                part.frame.done()
            self._events.task_done()

    def _judge(self, part: _Part) -> tuple[Inspection, np.ndarray | None]:
        event, region = part.event, part.region
        origin = (region.x0, region.y0) if region is not None else (0, 0)
        try:
            detections = self._lane.result(part.ticket, origin)  # type: ignore[arg-type]
        except Exception as exc:
            return self._failed_inference(part, exc), None
        self._faults.model_failures = 0
        t_detected = time.monotonic()
        judgement = self.pipeline.judge(detections)
        t_judged = time.monotonic()
        if t_judged > event.deadline:
            late = (t_judged - event.deadline) * 1000
            judgement = no_decision(f"late: deadline missed by {late:.0f} ms")
        inspected = _Inspected((part.t_detect, t_detected), region, t_judged, part.health)
        record = self._record(event, part.frame, detections, judgement, inspected)
        return record, part.image

    def _failed_inference(self, part: _Part, exc: Exception) -> Inspection:
        """A part whose inference failed is NO_DECISION; output the model should never
        give (NaN, infinity, an unknown class) raises the MODEL fault at once, other
        failures after `max_model_failures` in a row."""
        faults = self._faults
        faults.model_failures += 1
        if isinstance(exc, ModelOutputError):
            reason = "model output invalid"
            self._raise_model_fault(str(exc))
        else:
            reason = "inference failed"
            if faults.model_failures == 1:
                log.warning("inference failed: %r (the part is rejected)", exc)
            if faults.model_failures >= self.options.max_model_failures:
                self._raise_model_fault(
                    f"{faults.model_failures} inferences in a row failed: {exc}"
                )
        return self._record(part.event, part.frame, None, no_decision(reason))

    def _raise_model_fault(self, why: str) -> None:
        if self._faults.latch_model(why):  # latched already: no second event or log line
            self._announce(EventKind.MODEL_FAULT, Severity.ERROR, f"model fault: {why}")

    def _mark_busy(self, busy: bool) -> None:
        """READY <-> BUSY only; a stopping or faulted station keeps its state."""
        with self._state_lock:
            state = self._state
        if busy and state is StationState.READY:
            self._transition(StationState.BUSY, "inspecting")
        elif not busy and state is StationState.BUSY:
            self._transition(StationState.READY, "idle")

    def _record(
        self,
        event: TriggerEvent,
        frame: Frame | None,
        detections: Detections | None,
        judgement: Judgement,
        inspected: _Inspected | None = None,
    ) -> Inspection:
        capture = frame.t_capture if frame is not None else float("nan")
        done = inspected or _Inspected((float("nan"), float("nan")), None, time.monotonic())
        detect, judged = done.detect, done.t_judged
        identity = self.pipeline.identity
        return Inspection(
            seq=next(self._seq),
            trigger_id=event.trigger_id,
            origin=event.origin,
            part_serial=event.part_serial,
            times=StageTimes(event.t_trigger, capture, detect[0], detect[1], judged),
            wall_time=time.time(),
            detections=detections if detections is not None else Detections.empty(),
            judgement=judgement,
            model_id=identity.model_id,
            model_sha256=identity.model_sha256,
            config_hash=identity.config_hash,
            run_id=identity.run_id,
            calibration_id=identity.calibration_id,
            frame_seq=frame.seq if frame is not None else None,
            camera=frame.origin if frame is not None else None,
            region=done.region,
            image_health=done.health,
            recipe=identity.recipe,
            recipe_name=identity.recipe_name,
            class_names=self.pipeline.detector.info.names if self.recipes else None,
        )

    def _publish(self, record: Inspection, image: np.ndarray | None = None) -> None:
        """The verdict is committed to the log first, then reaches the hot sinks (the
        PLC), then the queued sinks: nothing the line acts on is missing from the log."""
        record = self._commit(record)
        for hot in self.pipeline.hot_sinks:
            hot(record)
        if self.pipeline.hot_sinks:
            times = dataclasses.replace(record.times, plc_write=time.monotonic())
            record = dataclasses.replace(record, times=times)
        if image is not None and any(runner.sink.wants_image(record) for runner in self.sinks):
            # after the PLC write, and only for parts a sink keeps the picture of
            record = dataclasses.replace(record, image=image.copy())
        self.stats.count(record)
        for runner in self.sinks:
            runner.submit(record)

    def _commit(self, record: Inspection) -> Inspection:
        """The record made durable; one that cannot be is rejected instead (NO_DECISION)
        and the LOG fault latches: a part nobody can trace must not pass."""
        recorder = self.pipeline.recorder
        if recorder is None:
            return record
        try:
            recorder.commit(record)
        except Exception as exc:
            if self._faults.latch_log(str(exc)):
                self._announce(
                    EventKind.SINK_FAILED, Severity.ERROR, f"log write failed: {exc}", sink="log"
                )
            return dataclasses.replace(record, judgement=no_decision("log write failed"))
        return record


_BUSY_CYCLE = {StationState.READY, StationState.BUSY}

_NOTE_EVENTS = {
    "frames_missed": EventKind.FRAMES_MISSED,
    "stream_restarted": EventKind.CAMERA_RESTARTED,
}

# A recording that ended is no fault: there is nothing more to see (READY drops, no ERROR).
_CAMERA_HEALTH: dict[CaptureState, bool | None] = {
    CaptureState.STARTING: None,
    CaptureState.RUNNING: True,
    CaptureState.RECONNECTING: False,
    CaptureState.FAILED: False,
    CaptureState.ENDED: None,
}

_LOG_LEVEL = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
}


def _fault_reason(health: StationHealth) -> str:
    failed = [
        name
        for name, ok in (
            ("camera", health.camera),
            ("model", health.model),
            ("log", health.log),
            ("sinks", health.sinks),
        )
        if ok is False
    ]
    return ", ".join(failed) + " unhealthy"
