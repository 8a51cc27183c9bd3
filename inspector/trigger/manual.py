"""Manual trigger: an operator or a script asks for one inspection (SIGUSR1 in `run`)."""

from __future__ import annotations

from inspector.config import ManualTrigger as ManualConfig
from inspector.trigger.base import Trigger

__all__ = ["ManualTrigger"]


class ManualTrigger(Trigger):
    kind = "manual"

    @classmethod
    def from_config(cls, config: ManualConfig) -> ManualTrigger:
        return cls(config.deadline_ms)

    def fire(self, part_serial: str | None = None) -> bool:
        """Request an inspection; False when the trigger is not started."""
        emit = self._emit
        if emit is None:
            return False
        emit(self.new_event(part_serial=part_serial))
        return True
