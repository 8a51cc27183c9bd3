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
from typing import ClassVar

from inspector.types import Inspection

__all__ = ["Sink", "SinkRunner"]

log = logging.getLogger(__name__)

_STOP = object()
MAX_BATCH = 64  # records handed over at once; bounds how long one call can take


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
        self._warned = False

    def start(self) -> SinkRunner:
        self._thread.start()
        return self

    def submit(self, record: Inspection) -> bool:
        """Queue a record without ever blocking; False (and counted) if the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            self._warn_once(f"sink {self.sink.name} is behind; dropping records")
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Finish what is queued, close the sink, join the thread."""
        if not self._thread.is_alive():
            return
        self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("sink %s did not stop within %.0f s", self.sink.name, timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._next_batch()
            if batch:
                self._handle(batch)
        try:
            self.sink.close()
        except Exception as exc:
            log.warning("sink %s failed to close: %r", self.sink.name, exc)

    def _next_batch(self) -> tuple[list[Inspection], bool]:
        """Wait for a record, then take whatever else is queued (up to MAX_BATCH); True
        once the stop marker was taken."""
        batch: list[Inspection] = []
        item = self._queue.get()
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

    def _handle(self, batch: list[Inspection]) -> None:
        try:
            errors = self.sink.handle_batch(batch)
        except Exception as exc:  # an override that raises: the whole batch failed
            errors = [exc] * len(batch)
        self.failures += len(errors)
        self.handled += len(batch) - len(errors)
        self.healthy = not errors
        if errors:
            self._warn_once(
                f"sink {self.sink.name} failed: {errors[0]!r}; further failures counted"
            )

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(message)
