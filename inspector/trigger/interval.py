"""Interval trigger: one inspection every period, on the newest frame."""

from __future__ import annotations

import threading

from inspector.registry import OpenContext
from inspector.trigger.base import Emit, Trigger
from inspector.trigger.config import IntervalTrigger as IntervalConfig

__all__ = ["IntervalTrigger"]


class IntervalTrigger(Trigger):
    kind = "interval"

    def __init__(self, period_s: float, deadline_ms: float) -> None:
        super().__init__(deadline_ms)
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def open(cls, config: IntervalConfig, context: OpenContext) -> IntervalTrigger:
        return cls(config.period_s, config.deadline_ms)

    def retune(self, config: IntervalConfig) -> None:
        super().retune(config)
        self.period_s = config.period_s  # the next wait takes it

    def start(self, emit: Emit) -> None:
        super().start(emit)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="trigger-interval", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            emit = self._emit
            if emit is not None:
                emit(self.new_event())

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        super().stop()
