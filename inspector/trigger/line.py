"""Line trigger: every frame the camera delivers is one part.

This is the shape of a camera on a hardware trigger line (the PLC or a photo-eye fires
the camera, so each frame is a triggered part), and of a recording of such frames.
Every frame fires; the station never drops one from a file source, and rejects (as
NO_DECISION) what a live camera delivers faster than it can inspect.
"""

from __future__ import annotations

from inspector.registry import OpenContext
from inspector.trigger.base import Trigger
from inspector.trigger.config import LineTrigger as LineConfig
from inspector.types import Frame, TriggerEvent

__all__ = ["LineTrigger"]


class LineTrigger(Trigger):
    kind = "line"
    frame_driven = True

    @classmethod
    def open(cls, config: LineConfig, context: OpenContext) -> LineTrigger:
        return cls(config.deadline_ms)

    def on_frame(self, frame: Frame) -> TriggerEvent | None:
        return self.new_event(frame, t=frame.t_capture)
