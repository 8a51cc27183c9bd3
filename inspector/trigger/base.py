"""The `Trigger` ABC and its registry.

Two shapes of trigger fit one interface:
- frame-driven triggers (software presence, a camera's hardware line) look at every
  captured frame on the capture thread and return an event that carries that frame;
- event-driven triggers (interval, manual, the PLC handshake) emit events from their own
  thread with no frame; the station then takes the newest frame captured after the
  trigger.
"""

from __future__ import annotations

import importlib
import itertools
import time
from abc import ABC
from collections.abc import Callable
from typing import Any, ClassVar

from inspector.errors import ConfigError
from inspector.types import Frame, TriggerEvent

__all__ = ["TRIGGERS", "Emit", "Trigger", "open_trigger"]

Emit = Callable[[TriggerEvent], None]

TRIGGERS: dict[str, str] = {
    "presence": "inspector.trigger.presence:PresenceTrigger",
    "interval": "inspector.trigger.interval:IntervalTrigger",
    "manual": "inspector.trigger.manual:ManualTrigger",
    "line": "inspector.trigger.line:LineTrigger",
}


class Trigger(ABC):
    kind: ClassVar[str]
    frame_driven: ClassVar[bool] = False

    def __init__(self, deadline_ms: float) -> None:
        self.deadline_s = deadline_ms / 1000.0
        self._ids = itertools.count(1)
        self._emit: Emit | None = None

    def start(self, emit: Emit) -> None:
        """Begin emitting events (event-driven triggers start their thread here)."""
        self._emit = emit

    def on_frame(self, frame: Frame) -> TriggerEvent | None:
        """Frame-driven triggers: an event for this frame, or None. Runs per frame."""
        return None

    def stop(self) -> None:
        """Stop emitting; join any thread."""
        self._emit = None

    def new_event(self, frame: Frame | None = None, t: float | None = None, **extra: Any):
        t = time.monotonic() if t is None else t
        return TriggerEvent(next(self._ids), self.kind, t, t + self.deadline_s, frame, **extra)


def open_trigger(config: Any) -> Trigger:
    """Build the trigger a `trigger:` config section names."""
    if config.kind not in TRIGGERS:
        raise ConfigError(f"trigger.kind: unknown '{config.kind}' ({', '.join(TRIGGERS)})")
    module_name, class_name = TRIGGERS[config.kind].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls.from_config(config)
