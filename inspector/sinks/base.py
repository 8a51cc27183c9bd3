"""The `Sink` ABC and the runner that gives each sink its own bounded queue and thread.

A sink that fails is logged once at warning level, then counted quietly; a sink that
falls behind drops records (counted) instead of stalling inspection. Records that queued
up while the sink was busy are handed over together (`handle_batch`), so a sink that
can write many at the cost of one (a database transaction) catches up instead of
falling further behind.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Protocol

from inspector.types import EventKind, Inspection, Severity, StationEvent

__all__ = ["Announce", "Sink", "SinkRunner"]

log = logging.getLogger(__name__)

_STOP = object()
MAX_BATCH = 64  # records handed over at once; bounds how long one call can take


class Announce(Protocol):
    """The station's way of announcing an event (one log line, every listener and sink)."""

    def __call__(
        self, kind: EventKind, severity: Severity, message: str, **detail: str | int | float
    ) -> None: ...


class Sink(ABC):
    """Consumes records on its own thread; `handle` may block (disk, network)."""

    name: ClassVar[str]
    # After a record arrives, wait this long for others to join its batch: a sink whose
    # cost is per call (a commit) then pays it once for several parts on a busy line.
    linger_s: ClassVar[float] = 0.0

    @abstractmethod
    def handle(self, record: Inspection) -> None:
        """Process one record; raising is allowed and is counted, not fatal."""

    def handle_batch(self, records: Sequence[Inspection]) -> list[Exception]:
        """Process records that queued up together, in order; the errors of those that
        failed (one each). By default one at a time; a sink overrides this only where
        each record still succeeds or fails on its own."""
        errors = []
        for record in records:
            try:
                self.handle(record)
            except Exception as exc:  # a sink failure must never reach inspection
                errors.append(exc)
        return errors

    # Whether the runner hands this sink the station's events (state changes, faults).
    wants_events: ClassVar[bool] = False
    # When its queue is full, drop the oldest item rather than the newest: for a sink
    # that shows the present (a live view), where the newest matters most.
    drop_oldest: ClassVar[bool] = False
    # Call `tick` at least this often (seconds) on the sink's thread, records or not;
    # 0: never. For a sink that must also notice what happens elsewhere (an ack).
    tick_s: ClassVar[float] = 0.0

    def tick(self) -> None:  # noqa: B027 - only a sink with tick_s has anything to do
        """Periodic work on the sink's thread; raising is counted like a failed record."""

    def handle_event(self, event: StationEvent) -> None:  # noqa: B027 - most ignore them
        """Process one station event, in order with the records around it; raising is
        counted like a failed record."""

    def wants_image(self, record: Inspection) -> bool:
        """Whether this sink needs the part's image with `record` (the station copies
        the inspected region only for records some sink wants it for). Runs on the
        inspection worker: it must be quick and pure."""
        return False

    def start(self) -> None:  # noqa: B027 - most sinks have nothing of their own to run
        """Start what the sink runs beside its queue (the MQTT publisher); called once,
        when the station starts, before the first record."""

    def bind(self, announce: Announce) -> None:  # noqa: B027 - most sinks announce nothing
        """How this sink announces what happens to it (a lost broker, dropped messages)
        as station events; the station binds it before `start`."""

    @property
    def healthy(self) -> bool:
        """False while the sink cannot do its job (its broker unreachable): reported in
        the station's health, never a reason to stop inspecting."""
        return True

    def close(self) -> None:  # noqa: B027 - most sinks hold nothing
        """Flush and release resources; called once, on the sink's thread."""


class SinkRunner:
    """Runs one sink on one thread behind a bounded queue."""

    def __init__(self, sink: Sink, queue_size: int = 256, critical: bool = False) -> None:
        self.sink = sink
        self.critical = critical  # its failure makes the station unhealthy (the log)
        self.healthy = True  # False from a failed record until the next one succeeds
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name=f"sink-{sink.name}", daemon=True)
        self.handled = 0
        self.failures = 0
        self.dropped = 0
        self.dropped_events = 0
        self._warned = False
        self._closed = False

    @property
    def depth(self) -> int:
        """Items waiting in the queue (approximate, as any queue's size is)."""
        return self._queue.qsize()

    def start(self) -> SinkRunner:
        self.sink.start()
        self._thread.start()
        return self

    def submit(self, record: Inspection) -> bool:
        """Queue a record without ever blocking; False (and counted) if the queue is full
        (for a `drop_oldest` sink: the oldest item went instead, and is counted)."""
        if self._put(record):
            return True
        self.dropped += 1
        self._warn_once(f"sink {self.sink.name} is behind; dropping records")
        return self.sink.drop_oldest

    def _put(self, item: object) -> bool:
        """Queue `item` at once; False when the queue was full, in which case a
        `drop_oldest` sink's oldest item made room (never the stop marker)."""
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            if not self.sink.drop_oldest:
                return False
        try:
            oldest = self._queue.get_nowait()
            if oldest is _STOP:  # stopping: the marker stays last, the new item goes
                self._queue.put_nowait(oldest)
                return False
            self._queue.put_nowait(item)
        except (queue.Empty, queue.Full):  # another thread got there first
            pass
        return False

    def submit_event(self, event: StationEvent) -> None:
        """Queue a station event for a sink that wants them; never blocks."""
        if not self.sink.wants_events:
            return
        if not self._put(event):
            self.dropped_events += 1
            self._warn_once(f"sink {self.sink.name} is behind; dropping events")

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, close the sink, join the thread. A runner that never
        started closes its sink here; a second call does nothing."""
        if self._thread.ident is None:
            if not self._closed:
                self._closed = True
                self._close_sink()
            return
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("sink %s did not stop within %.0f s", self.sink.name, timeout)

    def _run(self) -> None:
        stopping = False
        tick_s = self.sink.tick_s
        next_tick = time.monotonic() + tick_s
        while not stopping:
            wait = max(0.0, next_tick - time.monotonic()) if tick_s else None
            batch, stopping = self._next_batch(wait)
            if batch:
                self._handle(batch)
            if tick_s and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + tick_s
                self._tick()
        self._closed = True
        self._close_sink()

    def _tick(self) -> None:
        try:
            self.sink.tick()
        except Exception as exc:  # a sink failure must never reach inspection
            self.failures += 1
            self.healthy = False
            self._warn_once(f"sink {self.sink.name} tick failed: {exc!r}; further failures counted")

    def _close_sink(self) -> None:
        try:
            self.sink.close()
        except Exception as exc:
            log.warning("sink %s failed to close: %r", self.sink.name, exc)

    def _next_batch(
        self, wait: float | None = None
    ) -> tuple[list[Inspection | StationEvent], bool]:
        """Wait for an item (up to `wait` s, None: for ever), then take whatever else is
        queued (up to MAX_BATCH); True once the stop marker was taken."""
        batch: list[Inspection | StationEvent] = []
        try:
            item = self._queue.get(timeout=wait)
        except queue.Empty:
            return batch, False
        if item is not _STOP and self.sink.linger_s:
            time.sleep(self.sink.linger_s)
        while item is not _STOP:
            batch.append(item)  # type: ignore[arg-type]
            if len(batch) == MAX_BATCH:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _handle(self, batch: list[Inspection | StationEvent]) -> None:
        """Records in runs handed over together, events one at a time, all in order."""
        run: list[Inspection] = []
        errors: list[Exception] = []
        for item in batch:
            if isinstance(item, StationEvent):
                errors += self._handle_records(run)
                run = []
                errors += self._handle_event(item)
            else:
                run.append(item)
        errors += self._handle_records(run)
        self._account(len(batch), errors)

    def _handle_records(self, records: list[Inspection]) -> list[Exception]:
        if not records:
            return []
        try:
            return self.sink.handle_batch(records)
        except Exception as exc:  # an override that raises: the whole batch failed
            return [exc] * len(records)

    def _handle_event(self, event: StationEvent) -> list[Exception]:
        try:
            self.sink.handle_event(event)
        except Exception as exc:  # a sink failure must never reach inspection
            return [exc]
        return []

    def _account(self, items: int, errors: list[Exception]) -> None:
        self.failures += len(errors)
        self.handled += items - len(errors)
        self.healthy = not errors
        if errors:
            self._warn_once(
                f"sink {self.sink.name} failed: {errors[0]!r}; further failures counted"
            )

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)
