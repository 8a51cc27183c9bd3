"""A triggered camera's lost frames are lost parts: the PLC sees MISSED_TRIGGER."""

from __future__ import annotations

import time
from types import MappingProxyType

import pytest

from inspector.plc.handshake import Handshake
from inspector.plc.registers import Status
from inspector.plc.trigger import PlcHealthMonitor
from inspector.types import EventKind, Severity, StationEvent, StationState


def event(kind: EventKind, **detail: object) -> StationEvent:
    return StationEvent(
        kind, Severity.WARNING, "lost", time.time(), StationState.READY, MappingProxyType(detail)
    )


@pytest.mark.parametrize(
    ("kind", "detail", "latched", "counted"),
    [
        (EventKind.FRAMES_MISSED, {"count": 3, "parts": True}, True, 3),
        (EventKind.FRAMES_MISSED, {"count": 3, "parts": False}, False, 0),  # free run
        (EventKind.FRAMES_MISSED, {"count": 0, "parts": True}, False, 0),
        (EventKind.CAMERA_RESTARTED, {"count": 1}, False, 0),
    ],
)
def test_lost_parts_set_missed_trigger(
    kind: EventKind, detail: dict[str, object], latched: bool, counted: int
) -> None:
    handshake = Handshake()
    PlcHealthMonitor(handshake).on_event(event(kind, **detail))
    assert (Status.MISSED_TRIGGER in handshake.snapshot().status) is latched
    assert handshake.counters().missed_triggers == counted
