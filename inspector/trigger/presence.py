"""Presence trigger: software part detection for free-running conveyor video.

Parts cross a band (the ROI) of the frame. Each frame, every column of the band is
"occupied" when enough of its pixels differ from the belt; runs of occupied columns are
parts. Parts are tracked from frame to frame by overlap, and a part fires exactly once,
on the frame where its centre crosses the trigger position:

- a part that stops, or jitters around the line, never fires twice (a track fires once);
- two parts that touch are two runs as long as the seam between them shows as a column
  of belt (a chamfer or gap of one pixel is enough);
- flicker that hides a part for a few frames keeps its track (`max_missing_frames`);
  a frame where nearly the whole band turns "occupied" (a lighting glitch) is skipped;
- a part first seen already past the line (at start-up) does not fire.

The event carries the frame and the part's region, so the detector sees the part, not
the belt.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.registry import OpenContext
from inspector.trigger.base import Trigger
from inspector.trigger.config import PresenceTrigger as PresenceConfig
from inspector.types import Frame, TriggerEvent
from inspector.vision.parts import PartFinder, Run

__all__ = ["PresenceTrigger"]


@dataclass(frozen=True, slots=True)
class Tuning:
    """One recipe's detection parameters and the finder built for them: swapped whole by
    `retune`, read once per frame, so a frame is never measured with half of each."""

    config: PresenceConfig
    finder: PartFinder


@dataclass(slots=True)
class Track:
    """A part followed across frames, in travel coordinates (columns along the belt)."""

    start: int
    end: int
    fired: bool
    missing: int = 0

    @property
    def centre(self) -> float:
        return (self.start + self.end) / 2


class PresenceTrigger(Trigger):
    kind = "presence"
    frame_driven = True

    def __init__(self, config: PresenceConfig) -> None:
        super().__init__(config.deadline_ms)
        self.tuning = _tuning(config)
        self._tracked_by = self.tuning  # the tuning `tracks` were measured with
        self.tracks: list[Track] = []

    @classmethod
    def open(cls, config: PresenceConfig, context: OpenContext) -> PresenceTrigger:
        return cls(config)

    @property
    def config(self) -> PresenceConfig:
        return self.tuning.config

    def retune(self, config: PresenceConfig) -> None:
        """A recipe's detection parameters, from the next frame on (worker thread)."""
        super().retune(config)
        self.tuning = _tuning(config)  # one reference: the capture thread sees old or new

    def on_frame(self, frame: Frame) -> TriggerEvent | None:
        tuning = self.tuning  # once per frame: the whole frame by one recipe's parameters
        if tuning is not self._tracked_by:
            # Tracks are columns of the old band, with `fired` decided against the old
            # fire position: carried over, a part would be matched by one recipe's
            # geometry and fired by the other's. Forgotten, parts are seen afresh as at
            # start-up: one past the new line does not fire, the others fire by the new
            # parameters (docs/recipes.md: switch with the band clear of parts).
            self.tracks = []
            self._tracked_by = tuning
        finder = tuning.finder
        runs = finder.runs(frame.image)
        if runs is None:
            return None
        fired = self._track(runs, finder.width, tuning.config)
        if fired is None:
            return None
        region = finder.region((fired.start, fired.end), frame.image.shape)
        # the deadline of the tuning that found the part, not one a retune set meanwhile
        deadline_s = tuning.config.deadline_ms / 1000.0
        return self.new_event(frame, t=frame.t_capture, deadline_s=deadline_s, region=region)

    def _track(self, runs: list[Run], width: int, config: PresenceConfig) -> Track | None:
        fire_at = config.fire_at * width
        matched_runs, matched_tracks, fired = set(), set(), None
        for r, t in _overlaps(runs, self.tracks):
            if r in matched_runs or t in matched_tracks:
                continue
            matched_runs.add(r)
            matched_tracks.add(t)
            track = self.tracks[t]
            before = track.centre
            track.start, track.end = runs[r]
            track.missing = 0
            if not track.fired and before < fire_at <= track.centre:
                track.fired = True
                fired = track
        survivors = [t for i, t in enumerate(self.tracks) if i in matched_tracks]
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.missing += 1
                if track.missing <= config.max_missing_frames:
                    survivors.append(track)
        for r, (start, end) in enumerate(runs):
            if r not in matched_runs:
                survivors.append(Track(start, end, fired=(start + end) / 2 >= fire_at))
        self.tracks = survivors
        return fired


def _tuning(config: PresenceConfig) -> Tuning:
    return Tuning(config, PartFinder(config, reverse=config.direction == "right_to_left"))


def _overlaps(runs: list[Run], tracks: list[Track]) -> list[tuple[int, int]]:
    """(run index, track index) pairs that overlap, largest overlap first."""
    pairs = []
    for r, (start, end) in enumerate(runs):
        for t, track in enumerate(tracks):
            overlap = min(end, track.end) - max(start, track.start)
            if overlap > 0:
                pairs.append((overlap, r, t))
    pairs.sort(reverse=True)
    return [(r, t) for _, r, t in pairs]
