"""The `Trigger` ABC and its registry.

Two shapes of trigger fit one interface:
- frame-driven triggers (software presence, a camera's hardware line) look at every
  captured frame on the capture thread and return an event that carries that frame;
- event-driven triggers (interval, manual, the PLC handshake) emit events from their own
  thread with no frame; the station then takes the newest frame captured after the
  trigger.
"""

from __future__ import annotations

import itertools
import time
from abc import ABC
from collections.abc import Callable
from typing import Any, ClassVar

from inspector.errors import InspectorError
from inspector.registry import OpenContext
from inspector.trigger.config import TriggerConfig
from inspector.trigger.registry import TRIGGERS
from inspector.types import Frame, TriggerEvent

__all__ = ["TRIGGERS", "Emit", "Trigger", "open_trigger"]

Emit = Callable[[TriggerEvent], None]


class Trigger(ABC):
    kind: ClassVar[str]
    frame_driven: ClassVar[bool] = False

    def __init__(self, deadline_ms: float) -> None:
        self.deadline_s = deadline_ms / 1000.0
        self._ids = itertools.count(1)
        self._emit: Emit | None = None

    @classmethod
    def open(cls, config: Any, context: OpenContext) -> Trigger:
        """Build from the trigger's config section (most need nothing from `context`)."""
        return cls(config.deadline_ms)

    @property
    def can_fire(self) -> bool:
        """Whether `fire()` triggers a part (the manual trigger)."""
        return False

    def fire(self, part_serial: str | None = None) -> bool:
        """Trigger one part now (False when not started); only where `can_fire`."""
        raise InspectorError(f"a {self.kind} trigger cannot be fired by hand")

    def retune(self, config: Any) -> None:
        """Take a recipe's parameters of this trigger (its kind is the same, checked at
        load); called on the inspection worker at a switch while the trigger runs. One
        reference assignment per parameter set, read once per event: no lock on the hot
        path. The default takes the deadline, which every kind has."""
        self.deadline_s = config.deadline_ms / 1000.0

    def start(self, emit: Emit) -> None:
        """Begin emitting events (event-driven triggers start their thread here)."""
        self._emit = emit

    def on_frame(self, frame: Frame) -> TriggerEvent | None:
        """Frame-driven triggers: an event for this frame, or None. Runs per frame."""
        return None

    def stop(self) -> None:
        """Stop emitting; join any thread."""
        self._emit = None

    def new_event(
        self,
        frame: Frame | None = None,
        t: float | None = None,
        deadline_s: float | None = None,  # None: the trigger's (a retune may change it)
        **extra: Any,
    ) -> TriggerEvent:
        t = time.monotonic() if t is None else t
        budget = self.deadline_s if deadline_s is None else deadline_s
        return TriggerEvent(next(self._ids), self.kind, t, t + budget, frame, **extra)


def open_trigger(config: TriggerConfig, context: OpenContext | None = None) -> Trigger:
    """Build the trigger a `trigger:` config section names; a trigger that needs a
    shared link (the PLC's) takes it from `context`."""
    cls: type[Trigger] = TRIGGERS.plugin_class(config.kind)
    return cls.open(config, context or OpenContext())
