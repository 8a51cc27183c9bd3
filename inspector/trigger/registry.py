"""The trigger registry: `trigger.kind` -> (config model, trigger class)."""

from __future__ import annotations

from inspector.plc.config import PlcTriggerConfig
from inspector.registry import Registry
from inspector.trigger.config import (
    IntervalTrigger,
    LineTrigger,
    ManualTrigger,
    PresenceTrigger,
    TriggerConfig,
)

__all__ = ["TRIGGERS"]

TRIGGERS: Registry[TriggerConfig] = Registry("trigger.kind", TriggerConfig)
TRIGGERS.register("presence", PresenceTrigger, "inspector.trigger.presence:PresenceTrigger")
TRIGGERS.register("interval", IntervalTrigger, "inspector.trigger.interval:IntervalTrigger")
TRIGGERS.register("manual", ManualTrigger, "inspector.trigger.manual:ManualTrigger")
TRIGGERS.register("line", LineTrigger, "inspector.trigger.line:LineTrigger")
TRIGGERS.register("plc", PlcTriggerConfig, "inspector.plc.trigger:PlcTrigger")
