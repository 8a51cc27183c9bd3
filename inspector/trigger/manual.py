"""Manual trigger: an operator or a script asks for one inspection (SIGUSR1 in `run`)."""

from __future__ import annotations

from inspector.registry import OpenContext
from inspector.trigger.base import Trigger
from inspector.trigger.config import ManualTrigger as ManualConfig

__all__ = ["ManualTrigger"]


class ManualTrigger(Trigger):
    kind = "manual"

    @classmethod
    def open(cls, config: ManualConfig, context: OpenContext) -> ManualTrigger:
        return cls(config.deadline_ms)

    @property
    def can_fire(self) -> bool:
        return True

    def fire(self, part_serial: str | None = None) -> bool:
        """Request an inspection; False when the trigger is not started."""
        emit = self._emit
        if emit is None:
            return False
        emit(self.new_event(part_serial=part_serial))
        return True
