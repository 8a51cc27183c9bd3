"""A window with each inspected part, its defects and its verdict (demo and bench-top use).

Shown only where a display exists and OpenCV has a GUI; elsewhere the station runs
without it. Drawing happens on the sink's own thread, never on the inspection worker.
"""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

from inspector.errors import ConfigError
from inspector.registry import OpenContext
from inspector.sinks.base import Sink
from inspector.sinks.config import DisplaySinkConfig
from inspector.types import Inspection, Verdict

__all__ = ["DisplaySink", "annotate", "display_available"]

WINDOW = "inspector"
COLOURS = {
    Verdict.PASS: (80, 200, 80),
    Verdict.FAIL: (60, 60, 230),
    Verdict.NO_DECISION: (0, 200, 230),
}


def display_available() -> bool:
    """A display to draw on, and an OpenCV built with a GUI (headless builds have none)."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return False
    try:
        cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
    except cv2.error:
        return False
    return True


def annotate(record: Inspection, names: tuple[str, ...]) -> np.ndarray | None:
    """The inspected region with defect boxes and a verdict banner, or None if no image."""
    if record.image is None:
        return None
    image = record.image
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    dx, dy = (record.region.x0, record.region.y0) if record.region else (0, 0)
    offset = np.array([dx, dy, dx, dy], np.float32)
    colour = COLOURS[record.verdict]
    names = record.names(names)  # a recipe's model names its own classes
    defects = record.judgement.defects
    for box, score, cls in zip(defects.xyxy, defects.score, defects.class_id, strict=True):
        x0, y0, x1, y1 = (box - offset).round().astype(int).tolist()
        cv2.rectangle(canvas, (x0, y0), (x1, y1), COLOURS[Verdict.FAIL], 2)
        cv2.putText(
            canvas,
            f"{names[int(cls)]} {score:.2f}",
            (x0, max(y0 - 4, 10)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            COLOURS[Verdict.FAIL],
            1,
            cv2.LINE_AA,
        )
    banner = f"#{record.seq} {record.verdict.value}  {record.latency_ms:.1f} ms"
    cv2.rectangle(canvas, (0, 0), (canvas.shape[1], 22), colour, -1)
    cv2.putText(canvas, banner, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas


class DisplaySink(Sink):
    name = "display"

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    @classmethod
    def open(cls, config: DisplaySinkConfig, context: OpenContext) -> DisplaySink:
        if not display_available():
            raise ConfigError(
                "sinks.display: no display here (no DISPLAY, or an OpenCV without GUI)"
            )
        return cls(context.class_names)

    def wants_image(self, record: Inspection) -> bool:
        return True  # the window shows every part

    def handle(self, record: Inspection) -> None:
        canvas = annotate(record, self.names)
        if canvas is not None:
            cv2.imshow(WINDOW, canvas)
            cv2.waitKey(1)

    def close(self) -> None:
        cv2.destroyAllWindows()
