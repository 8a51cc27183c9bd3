"""Triggers: when a part is inspected."""

from inspector.trigger.base import TRIGGERS, Trigger, open_trigger

__all__ = ["TRIGGERS", "Trigger", "open_trigger"]
