"""The sink registry: `sinks[].kind` -> (config model, sink class)."""

from __future__ import annotations

from inspector.mqtt.config import MqttSinkConfig
from inspector.registry import Registry
from inspector.sinks.config import ConsoleSinkConfig, DisplaySinkConfig, SinkConfig

__all__ = ["SINKS"]

SINKS: Registry[SinkConfig] = Registry("sinks.kind", SinkConfig)
SINKS.register("console", ConsoleSinkConfig, "inspector.sinks.console:ConsoleSink")
SINKS.register("display", DisplaySinkConfig, "inspector.sinks.display:DisplaySink")
SINKS.register("mqtt", MqttSinkConfig, "inspector.sinks.mqtt:MqttSink")
