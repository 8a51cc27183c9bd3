"""The PLC as a trigger source, and the hot sink that hands it the result.

`PlcTrigger` is event-driven: the handshake calls it on an accepted trigger edge, on the
transport's thread (the Modbus server loop or the client poller), and it emits one
`TriggerEvent` per edge; the station then takes the newest frame captured after the edge.
`PlcResultSink` is a station hot sink: it runs on the inspection worker before anything
else happens to the record, and costs one lock (no I/O on the caller's thread).
"""

from __future__ import annotations

from inspector.plc.config import PlcTriggerConfig
from inspector.plc.handshake import Component, Handshake, TriggerRequest
from inspector.plc.registers import ErrorCode
from inspector.registry import OpenContext
from inspector.trigger.base import Emit, Trigger
from inspector.types import (
    EventKind,
    Inspection,
    StationEvent,
    StationHealth,
    StationListener,
    TriggerEvent,
)

# Events of the SPC monitors that carry the open alarms' mask (`active_mask`).
SPC_EVENTS = frozenset({EventKind.SPC_ALARM, EventKind.SPC_ACKNOWLEDGED})

# The station's RECIPE_CHANGED `error` detail as the code the PLC reads ("": done).
RECIPE_ERROR_CODES = {
    "": ErrorCode.NONE,
    "unknown": ErrorCode.RECIPE_UNKNOWN,
    "load_failed": ErrorCode.RECIPE_LOAD_FAILED,
}

__all__ = ["PlcHealthMonitor", "PlcResultSink", "PlcTrigger"]


class PlcTrigger(Trigger):
    kind = "plc"

    def __init__(self, handshake: Handshake, deadline_ms: float) -> None:
        super().__init__(deadline_ms)
        self.handshake = handshake

    @classmethod
    def open(cls, config: PlcTriggerConfig, context: OpenContext) -> PlcTrigger:
        """The trigger of the PLC link the factory opened (`plc:`), shared through the
        context; the handshake answers FAIL 0xFFFF itself past the deadline."""
        link = context.require_plc("trigger.kind 'plc'")
        link.handshake.result_deadline_s = config.deadline_ms / 1000.0
        return cls(link.handshake, config.deadline_ms)

    def retune(self, config: PlcTriggerConfig) -> None:
        """The recipe's deadline, for the events and for the handshake's watchdog that
        answers FAIL 0xFFFF past it (both follow the active recipe)."""
        super().retune(config)
        self.handshake.result_deadline_s = config.deadline_ms / 1000.0

    def start(self, emit: Emit) -> None:
        super().start(emit)
        self.handshake.set_trigger_listener(self._on_request)

    def stop(self) -> None:
        # the handshake stops being READY first, so no trigger is accepted unheard
        self.handshake.set_trigger_listener(None)
        super().stop()

    def _on_request(self, request: TriggerRequest) -> None:
        emit = self._emit
        if emit is not None:
            emit(self.event_for(request))

    def event_for(self, request: TriggerRequest) -> TriggerEvent:
        """trigger_id is the PLC's TRIGGER_ID (echoed back); serial 0 means none."""
        t = request.t_edge
        return TriggerEvent(
            trigger_id=request.trigger_id,
            origin=self.kind,
            t_trigger=t,
            deadline=t + self.deadline_s,
            part_serial=str(request.part_serial) if request.part_serial else None,
        )


class PlcResultSink:
    """Hot sink: `sink(record)` publishes the verdict to the PLC's registers."""

    def __init__(self, handshake: Handshake) -> None:
        self.handshake = handshake

    def __call__(self, record: Inspection) -> None:
        self.handshake.publish(record)


class PlcHealthMonitor(StationListener):
    """Station listener: health gates READY and ERROR; each report advances HEARTBEAT;
    SPC events set SPC_ALARM and SPC_RULE_MASK from the open alarms' mask they carry.

    The station's inspection worker calls it between parts and after each one, so the
    heartbeat stops when the worker hangs, and goes on while the line is idle."""

    def __init__(self, handshake: Handshake) -> None:
        self.handshake = handshake

    def on_health(self, health: StationHealth) -> None:
        self.handshake.set_health(Component.CAMERA, health.camera)
        self.handshake.set_health(Component.MODEL, health.model)
        self.handshake.set_health(Component.LOG, health.log)
        if health.camera is not None:
            self.handshake.heartbeat()

    def on_event(self, event: StationEvent) -> None:
        if event.kind is EventKind.RECIPE_CHANGED:
            self._recipe_changed(event)
            return
        mask = event.detail.get("active_mask")
        if event.kind in SPC_EVENTS and isinstance(mask, int):
            self.handshake.set_spc(mask != 0, mask & 0xFFFF)
        count = event.detail.get("count")
        missed_parts = event.kind is EventKind.FRAMES_MISSED and event.detail.get("parts") is True
        if missed_parts and isinstance(count, int) and count > 0:
            self.handshake.missed_parts(count)

    def _recipe_changed(self, event: StationEvent) -> None:
        """ACTIVE_RECIPE and READY, or the refusal's ERROR, in one update."""
        recipe, error = event.detail.get("recipe"), event.detail.get("error", "")
        if error and event.detail.get("by") != "plc":
            return  # an operator's refused request does not stop the line
        if isinstance(recipe, int) and error in RECIPE_ERROR_CODES:
            self.handshake.finish_recipe(recipe, RECIPE_ERROR_CODES[str(error)])
