"""How the inspection worker runs its detector: in line, or beside it on a thread.

A part's detection is split in two: `submit` letterboxes the part's image into an input
slot and starts inference; `result` waits for it and decodes. Between the two the worker
is free:

- `SerialLane` (one part deep) infers in `result`, on the worker's own thread. Right for
  a CPU runtime that uses every core: a second thread would only take cores from it.
- `OverlappedLane` (two parts deep) infers on a thread of its own, so the worker
  prepares part n+1 and judges part n-1 while part n infers. Right when inference runs
  beside the CPU (an accelerator, or a runtime given fewer threads than there are
  cores): the model then never waits for the station's Python.
- `AsyncLane` (as deep as the backend has infer requests) starts each part's inference
  on the runtime's own threads (OpenVINO in throughput mode) and waits in `result`: no
  thread of ours, no copy of the output.
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from inspector.detect.base import Detector
from inspector.errors import InspectorError
from inspector.types import Detections, Region
from inspector.vision.letterbox import Geometry, Letterbox
from inspector.vision.rectify import Rectifier

__all__ = ["AsyncLane", "Lane", "OverlappedLane", "SerialLane", "Ticket", "open_lane"]


@dataclass(eq=False, slots=True)
class Ticket:
    """One input slot of a lane and the part it holds: geometry, raw output, error."""

    letterbox: Letterbox
    geometry: Geometry | None = None
    output: np.ndarray | None = None  # a copy the next inference cannot overwrite
    error: Exception | None = None
    done: threading.Event = field(default_factory=threading.Event)
    slot: int = 0  # the backend's infer request (AsyncLane)


class Lane(ABC):
    """At most `depth` parts submitted and not yet collected, collected in order."""

    depth: int

    def __init__(self, detector: Detector, rectifier: Rectifier | None = None) -> None:
        self.detector = detector
        self.rectifier = rectifier

    @abstractmethod
    def submit(
        self, image: np.ndarray, frame: np.ndarray | None = None, region: Region | None = None
    ) -> Ticket:
        """Letterbox `image` (the part's view of `frame`) into a free slot and start its
        inference. With a rectifier, `region` of the undistorted `frame` goes in instead."""

    def _prepare(
        self, ticket: Ticket, image: np.ndarray, frame: np.ndarray | None, region: Region | None
    ) -> None:
        if self.rectifier is None or frame is None:
            _, ticket.geometry = ticket.letterbox(image)
            return
        whole = region or Region(0, 0, frame.shape[1], frame.shape[0])
        ticket.geometry = self.rectifier.into(ticket.letterbox.tensor, frame, whole)

    @abstractmethod
    def result(self, ticket: Ticket, origin: tuple[int, int] = (0, 0)) -> Detections:
        """Wait for `ticket`'s inference and decode it, boxes shifted by `origin` (the
        inspected region's top-left in the frame); frees its slot, even on error."""

    def start(self) -> None:  # noqa: B027 - only a lane with a thread starts anything
        """Start what the lane runs on."""

    def close(self) -> None:  # noqa: B027
        """Stop what the lane runs on; parts not collected are abandoned."""


class SerialLane(Lane):
    """Infers in `result`, on the caller's thread, into the detector's own buffers."""

    depth = 1

    def __init__(self, detector: Detector, rectifier: Rectifier | None = None) -> None:
        super().__init__(detector, rectifier)
        self._ticket = Ticket(detector.letterbox)

    def submit(
        self, image: np.ndarray, frame: np.ndarray | None = None, region: Region | None = None
    ) -> Ticket:
        ticket = self._ticket
        self._prepare(ticket, image, frame, region)
        return ticket

    def result(self, ticket: Ticket, origin: tuple[int, int] = (0, 0)) -> Detections:
        output = self.detector.infer(ticket.letterbox.tensor)
        assert ticket.geometry is not None  # set by submit
        return self.detector.decoder(output, ticket.geometry, origin)


class OverlappedLane(Lane):
    """Infers on a thread of its own, two slots deep; slots are handed out and taken
    back by the one worker thread, so they need no lock."""

    depth = 2

    def __init__(self, detector: Detector, rectifier: Rectifier | None = None) -> None:
        super().__init__(detector, rectifier)
        self._free = [Ticket(detector.new_letterbox()) for _ in range(self.depth)]
        self._queue: queue.SimpleQueue[Ticket | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="infer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(
        self, image: np.ndarray, frame: np.ndarray | None = None, region: Region | None = None
    ) -> Ticket:
        if not self._free:
            raise InspectorError(f"inference lane: more than {self.depth} parts in flight")
        ticket = self._free[-1]
        self._prepare(ticket, image, frame, region)
        self._free.pop()  # only now: a frame the letterbox refused keeps its slot free
        ticket.error = None
        ticket.done.clear()
        self._queue.put(ticket)
        return ticket

    def result(self, ticket: Ticket, origin: tuple[int, int] = (0, 0)) -> Detections:
        ticket.done.wait()
        try:
            if ticket.error is not None:
                raise ticket.error
            # set by submit and, without an error, by the inference thread
            assert ticket.output is not None and ticket.geometry is not None
            return self.detector.decoder(ticket.output, ticket.geometry, origin)
        finally:
            self._free.append(ticket)

    def close(self) -> None:
        if self._thread.ident is not None:
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        while (ticket := self._queue.get()) is not None:
            try:
                output = self.detector.infer(ticket.letterbox.tensor)
                if ticket.output is None or ticket.output.shape != output.shape:
                    ticket.output = np.empty_like(output)
                np.copyto(ticket.output, output)
            except Exception as exc:  # handed to the worker, which rejects the part
                ticket.error = exc
            ticket.done.set()


class AsyncLane(Lane):
    """Starts each part on a free infer request of the backend's and waits for it in
    `result`; slots are handed out and taken back by the one worker thread."""

    def __init__(self, detector: Detector, rectifier: Rectifier | None = None) -> None:
        super().__init__(detector, rectifier)
        self.depth = detector.requests
        slots = range(self.depth - 1, -1, -1)  # popped from the end: slot 0 first
        self._free = [Ticket(detector.new_letterbox(), slot=slot) for slot in slots]

    def submit(
        self, image: np.ndarray, frame: np.ndarray | None = None, region: Region | None = None
    ) -> Ticket:
        if not self._free:
            raise InspectorError(f"inference lane: more than {self.depth} parts in flight")
        ticket = self._free[-1]
        self._prepare(ticket, image, frame, region)
        self.detector.start(ticket.slot, ticket.letterbox.tensor)
        self._free.pop()  # only now: a refused frame or a failed start keeps its slot free
        return ticket

    def result(self, ticket: Ticket, origin: tuple[int, int] = (0, 0)) -> Detections:
        try:
            output = self.detector.wait(ticket.slot)
            if ticket.geometry is None:
                raise InspectorError("inference lane: a ticket without geometry")
            return self.detector.decoder(output, ticket.geometry, origin)
        finally:
            self._free.append(ticket)


def open_lane(detector: Detector, overlap: bool, rectifier: Rectifier | None = None) -> Lane:
    """In line; or overlapped: on the backend's own requests where it runs several at
    once, else on an inference thread of ours."""
    if not overlap:
        return SerialLane(detector, rectifier)
    if detector.requests > 1:
        return AsyncLane(detector, rectifier)
    return OverlappedLane(detector, rectifier)
