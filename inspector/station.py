"""The station: capture -> trigger -> detect -> judge -> hot sinks -> queued sinks.

Threads: the capture thread reads frames and runs frame-driven triggers; event-driven
triggers have their own thread; one inspection worker turns trigger events into
`Inspection` records, in order, running the detector through a lane (in line, or on an
inference thread beside it: `inspector.detect.lane`); every sink has its own queue and
thread (`SinkRunner`). Nothing slower than detect + judge sits between a trigger and the
hot sinks (the PLC result).

Every trigger event becomes exactly one record: a part that cannot be inspected in time
(no frame, queue overrun, deadline passed) is recorded as NO_DECISION, which rejects.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from inspector.camera.capture import Capture, CaptureState
from inspector.detect.base import Detector
from inspector.detect.lane import Ticket, open_lane
from inspector.judge import Judge
from inspector.sinks.base import SinkRunner
from inspector.trigger.base import Trigger
from inspector.types import (
    RESULT_NO_DECISION,
    Detections,
    Frame,
    Inspection,
    Judgement,
    Region,
    RejectReason,
    StageTimes,
    TriggerEvent,
    Verdict,
)

__all__ = [
    "LatestFrame",
    "Pipeline",
    "RecordIdentity",
    "Station",
    "StationHealth",
    "StationOptions",
    "StationState",
    "StationStats",
]

log = logging.getLogger(__name__)


class StationState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    FAULT = "fault"
    STOPPING = "stopping"
    STOPPED = "stopped"


ALLOWED: dict[StationState, set[StationState]] = {
    StationState.STARTING: {StationState.READY, StationState.FAULT, StationState.STOPPING},
    StationState.READY: {StationState.BUSY, StationState.FAULT, StationState.STOPPING},
    StationState.BUSY: {StationState.READY, StationState.FAULT, StationState.STOPPING},
    StationState.FAULT: {StationState.READY, StationState.STOPPING},
    StationState.STOPPING: {StationState.STOPPED},
    StationState.STOPPED: set(),
}

HotSink = Callable[[Inspection], None]

TICK_S = 0.1  # the worker reports health (and the PLC heartbeat) at least this often


@dataclass(frozen=True)
class StationHealth:
    """What the worker reports every tick: True healthy, False faulted, None unknown
    (starting or stopping). The PLC's READY and ERROR follow it."""

    camera: bool | None
    model: bool | None
    log: bool | None

    @classmethod
    def unknown(cls) -> StationHealth:
        return cls(None, None, None)


StationMonitor = Callable[[StationHealth], None]


@dataclass(frozen=True)
class Pipeline:
    """The per-part stages: trigger, detector, judge, hot sinks (the PLC result)."""

    trigger: Trigger
    detector: Detector
    judge: Judge
    identity: RecordIdentity
    hot_sinks: tuple[HotSink, ...] = ()
    monitors: tuple[StationMonitor, ...] = ()
    locate: Callable[[np.ndarray], Region | None] | None = None  # for region-less triggers


@dataclass(frozen=True)
class StationOptions:
    """`keep_image` says which records the log archives (only those are copied);
    `wait_for_worker` lets a file source wait instead of overrunning (a live camera
    cannot wait, so its excess parts are rejected); `overlap` runs inference beside the
    worker (`OverlappedLane`)."""

    max_pending_frames: int = 4
    wait_for_worker: bool = False
    overlap: bool = False
    keep_image: Callable[[Inspection], bool] = lambda record: False
    on_stop: tuple[Callable[[], None], ...] = ()  # close links the station does not own


@dataclass(frozen=True)
class RecordIdentity:
    """What every record says about the station that judged it."""

    model_id: str
    model_sha256: str
    config_hash: str
    run_id: str = ""
    calibration_id: str | None = None


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


@dataclass(eq=False, slots=True)
class _Part:
    """A part between `_begin` and `_finish`: decided already, or detecting."""

    event: TriggerEvent
    frame: Frame | None
    decided: Inspection | None = None
    region: Region | None = None
    ticket: Ticket | None = None
    t_detect: float = float("nan")

    @property
    def image(self) -> np.ndarray:
        """What the detector sees: the part's region of the frame (a view), or all of it."""
        image = self.frame.image
        return self.region.crop(image) if self.region else image


def no_decision(reason: str) -> Judgement:
    return Judgement(Verdict.NO_DECISION, RESULT_NO_DECISION, Detections.empty(), reason)


class Station:
    """Owns the threads and lifecycle of one camera's inspection."""

    def __init__(
        self,
        pipeline: Pipeline,
        capture_factory: Callable[
            [Callable[[Frame], None], Callable[[CaptureState, str], None]], Capture
        ],
        sinks: list[SinkRunner],
        options: StationOptions | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.trigger = pipeline.trigger
        self.sinks = sinks
        self.options = options or StationOptions()
        self.stats = StationStats()
        self.state = StationState.STARTING
        self._state_lock = threading.Lock()
        self._events: queue.Queue[TriggerEvent | None] = queue.Queue()
        # events holding a pool frame; beyond this the capture pool would run dry
        self._frame_slots = threading.BoundedSemaphore(self.options.max_pending_frames)
        self._latest = LatestFrame()
        self._seq = itertools.count(1)
        self._stopping = threading.Event()
        self._lane = open_lane(pipeline.detector, self.options.overlap)
        self._worker = threading.Thread(target=self._work, name="inspect", daemon=True)
        self.capture = capture_factory(self._on_frame, self._on_capture_state)

    # -- lifecycle

    def set_state(self, new: StationState) -> None:
        with self._state_lock:
            if new is self.state:
                return
            if new not in ALLOWED[self.state]:
                raise RuntimeError(f"station state {self.state.value} -> {new.value} not allowed")
            self.state = new
        log.info("station %s", new.value)

    def start(self) -> None:
        for runner in self.sinks:
            runner.start()
        self._lane.start()
        self._worker.start()
        self.trigger.start(self._submit)
        self.capture.start()
        with self._state_lock:  # unless the camera already faulted
            if self.state is StationState.STARTING:
                self.state = StationState.READY
        log.info("station %s", self.state.value)

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
        """Stop capture and triggers, finish every queued part, flush and stop sinks."""
        if self.state is StationState.STOPPED:
            return
        self.set_state(StationState.STOPPING)
        self._stopping.set()
        self.trigger.stop()
        self.capture.stop()
        self._events.put(None)
        self._worker.join()
        self._lane.close()
        self._report(StationHealth.unknown())
        self._latest.clear()
        for runner in self.sinks:
            runner.stop()
        self.pipeline.detector.close()
        for close in self.options.on_stop:
            close()
        self.set_state(StationState.STOPPED)

    def health(self) -> StationHealth:
        state = self.capture.state
        camera = None if state is CaptureState.STARTING else state is CaptureState.RUNNING
        log_ok = all(runner.healthy for runner in self.sinks if runner.critical)
        return StationHealth(camera=camera, model=True, log=log_ok)

    def _report(self, health: StationHealth) -> None:
        for monitor in self.pipeline.monitors:
            monitor(health)

    # -- capture thread

    def _on_capture_state(self, state: CaptureState, message: str) -> None:
        """A lost camera is a station fault until it is back."""
        with self._state_lock:
            current = self.state
            if state in (CaptureState.RECONNECTING, CaptureState.FAILED):
                new = StationState.FAULT
            elif state is CaptureState.RUNNING and current is StationState.FAULT:
                new = StationState.READY
            else:
                return
            if new is current or new not in ALLOWED[current]:
                return
            self.state = new
        level = logging.WARNING if new is StationState.FAULT else logging.INFO
        log.log(level, "station %s: %s", new.value, message)

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
        self._events.put(event)

    # -- inspection worker

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
                self._report(self.health())
                continue
            if event is None:  # stop: the parts in flight are finished first
                while in_flight:
                    self._finish_oldest(in_flight)
                self._events.task_done()
                return
            if event.frame is None:
                # its frame may be a frame period away: no finished part waits for it
                while in_flight:
                    self._finish_oldest(in_flight)
            in_flight.append(self._begin(event))

    def _finish_oldest(self, in_flight: deque[_Part]) -> None:
        self._finish(in_flight.popleft())
        if not in_flight:
            self._mark_busy(False)
        self._report(self.health())

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
        except Exception:
            log.exception("inspection failed; the part is rejected")
            part.decided = self._record(event, frame, None, no_decision("internal error"))
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
        region = event.region
        if region is None and self.pipeline.locate is not None:
            region = self.pipeline.locate(frame.image)
            if region is None:
                part.decided = self._record(event, frame, None, no_decision("no part in view"))
                return
        part.region = region
        part.t_detect = time.monotonic()
        part.ticket = self._lane.submit(part.image)

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

    def _judge(self, part: _Part) -> tuple[Inspection, np.ndarray]:
        event, region = part.event, part.region
        origin = (region.x0, region.y0) if region is not None else (0, 0)
        detections = self._lane.result(part.ticket, origin)
        t_detected = time.monotonic()
        judgement = self.pipeline.judge(detections)
        t_judged = time.monotonic()
        if t_judged > event.deadline:
            late = (t_judged - event.deadline) * 1000
            judgement = no_decision(f"late: deadline missed by {late:.0f} ms")
        record = self._record(
            event,
            part.frame,
            detections,
            judgement,
            detect=(part.t_detect, t_detected),
            region=region,
            t_judged=t_judged,
        )
        return record, part.image

    def _mark_busy(self, busy: bool) -> None:
        """READY <-> BUSY only; a stopping or faulted station keeps its state."""
        with self._state_lock:
            if self.state in (StationState.READY, StationState.BUSY):
                self.state = StationState.BUSY if busy else StationState.READY

    def _record(
        self,
        event: TriggerEvent,
        frame: Frame | None,
        detections: Detections | None,
        judgement: Judgement,
        detect: tuple[float, float] = (float("nan"), float("nan")),
        region: Region | None = None,
        t_judged: float | None = None,
    ) -> Inspection:
        capture = frame.t_capture if frame is not None else float("nan")
        judged = time.monotonic() if t_judged is None else t_judged
        times = StageTimes(event.t_trigger, capture, detect[0], detect[1], judged)
        return Inspection(
            seq=next(self._seq),
            trigger_id=event.trigger_id,
            origin=event.origin,
            part_serial=event.part_serial,
            times=times,
            wall_time=time.time(),
            detections=detections if detections is not None else Detections.empty(),
            judgement=judgement,
            model_id=self.pipeline.identity.model_id,
            model_sha256=self.pipeline.identity.model_sha256,
            config_hash=self.pipeline.identity.config_hash,
            run_id=self.pipeline.identity.run_id,
            calibration_id=self.pipeline.identity.calibration_id,
            frame_seq=frame.seq if frame is not None else None,
            region=region,
        )

    def _publish(self, record: Inspection, image: np.ndarray | None = None) -> None:
        """The reject decision reaches the hot sinks (the PLC) before anything else."""
        for hot in self.pipeline.hot_sinks:
            hot(record)
        if self.pipeline.hot_sinks:
            times = dataclasses.replace(record.times, plc_write=time.monotonic())
            record = dataclasses.replace(record, times=times)
        if image is not None and self.options.keep_image(record):
            # after the PLC write, and only for archived parts
            record = dataclasses.replace(record, image=image.copy())
        self.stats.count(record)
        for runner in self.sinks:
            runner.submit(record)
