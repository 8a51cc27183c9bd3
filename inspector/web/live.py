"""The dashboard's listener: a sink on its own thread that keeps what the page shows.

The worker hands it records through the sink's bounded queue and never waits. What it
keeps is small and replaced, never accumulated: the newest record, the newest record
with a picture (asked for at most `live_fps` times a second), the last failed parts
and events. JPEG encoding happens on the server's side, once per new picture and at
the page's rate, never here and never on the inspection worker."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from inspector.sinks.base import Sink
from inspector.sinks.display import annotate
from inspector.types import Inspection, StationEvent, Verdict
from inspector.web.metrics import StationMetrics

__all__ = ["Dashboard", "Snapshot"]

_THROUGHPUT_WINDOW = 120  # parts whose times give the throughput
_LATENCIES = 500  # parts the page's latency histogram covers
_EVENTS = 30


@dataclass(frozen=True)
class Snapshot:
    """What the page shows, taken under the lock at once."""

    latest: Inspection | None
    picture_seq: int  # seq of the newest record with a picture; 0: none yet
    parts: int
    fails: int
    no_decision: int
    parts_per_min: float
    latencies_ms: tuple[float, ...]
    fails_recent: tuple[Inspection, ...]
    events: tuple[StationEvent, ...]


class Dashboard(Sink):
    name = "web"
    wants_events = True
    drop_oldest = True  # behind, the page wants the newest parts, not the backlog

    def __init__(
        self, metrics: StationMetrics, live_fps: float = 5.0, recent_fails: int = 12
    ) -> None:
        self.metrics = metrics
        self.names = metrics.class_names
        self._interval = 1.0 / live_fps
        self._lock = threading.Lock()
        self._latest: Inspection | None = None
        self._picture: Inspection | None = None
        self._picture_t = -math.inf  # trigger time of the newest picture
        self._parts = self._fails = self._no_decision = 0
        self._times: deque[float] = deque(maxlen=_THROUGHPUT_WINDOW)
        self._latencies: deque[float] = deque(maxlen=_LATENCIES)
        self._fails_recent: deque[Inspection] = deque(maxlen=recent_fails)
        self._events: deque[StationEvent] = deque(maxlen=_EVENTS)
        self._jpeg_cache: dict[tuple[int, str], bytes] = {}

    def wants_image(self, record: Inspection) -> bool:
        """Failed parts (their thumbnails) and at most `live_fps` pictures a second."""
        if record.verdict is Verdict.FAIL:
            return True
        return record.times.trigger - self._picture_t >= self._interval

    def handle(self, record: Inspection) -> None:
        self.metrics.observe(record)
        with self._lock:
            self._latest = record
            self._parts += 1
            self._fails += record.verdict is Verdict.FAIL
            self._no_decision += record.verdict is Verdict.NO_DECISION
            self._times.append(time.monotonic())
            if math.isfinite(record.latency_ms):
                self._latencies.append(record.latency_ms)
            if record.image is not None:
                self._picture, self._picture_t = record, record.times.trigger
                if record.verdict is Verdict.FAIL:
                    self._fails_recent.append(record)

    def handle_event(self, event: StationEvent) -> None:
        self.metrics.observe_event(event)
        with self._lock:
            self._events.append(event)

    def snapshot(self) -> Snapshot:
        with self._lock:
            times = tuple(self._times)
            return Snapshot(
                latest=self._latest,
                picture_seq=self._picture.seq if self._picture is not None else 0,
                parts=self._parts,
                fails=self._fails,
                no_decision=self._no_decision,
                parts_per_min=_per_minute(times),
                latencies_ms=tuple(self._latencies),
                fails_recent=tuple(self._fails_recent),
                events=tuple(self._events),
            )

    def picture_jpeg(self, seq: int | None = None, thumb: bool = False) -> tuple[int, bytes] | None:
        """The newest picture (seq None) or a recent failed part's, annotated and
        JPEG-encoded on the caller's thread; encoded once, whoever asks."""
        record = self._find(seq)
        if record is None:
            return None
        key = (record.seq, "thumb" if thumb else "full")
        with self._lock:
            cached = self._jpeg_cache.get(key)
        if cached is None:
            cached = _encode(record, self.names, thumb)
            with self._lock:
                if len(self._jpeg_cache) > 4 * len(self._fails_recent) + 8:
                    self._jpeg_cache.clear()  # old pictures nobody asks for again
                self._jpeg_cache[key] = cached
        return record.seq, cached

    def _find(self, seq: int | None) -> Inspection | None:
        with self._lock:
            if seq is None:
                return self._picture
            for record in (self._picture, *self._fails_recent):
                if record is not None and record.seq == seq:
                    return record
        return None


def _per_minute(times: tuple[float, ...]) -> float:
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return 60.0 * (len(times) - 1) / (times[-1] - times[0])


_THUMB_WIDTH = 160


def _encode(record: Inspection, names: tuple[str, ...], thumb: bool) -> bytes:
    canvas = annotate(record, names)
    if canvas is None:
        canvas = np.zeros((48, 64, 3), np.uint8)
    if thumb and canvas.shape[1] > _THUMB_WIDTH:
        height = max(1, round(canvas.shape[0] * _THUMB_WIDTH / canvas.shape[1]))
        canvas = cv2.resize(canvas, (_THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()
