"""The presence trigger on synthetic conveyor sequences: one fire per part, always."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from inspector.config import PresenceTrigger as PresenceConfig
from inspector.trigger.presence import PresenceTrigger
from inspector.types import Frame

H, W = 60, 240
BELT, PART = 30, 180


@dataclass
class Part:
    """A bright rectangle whose left edge is at x(frame index)."""

    x: Callable[[int], float]
    width: int = 40
    height: int = 30
    top: int = 15


def moving(start: float, speed: float) -> Callable[[int], float]:
    return lambda i: start + speed * i


def render(parts: list[Part], i: int, belt: int = BELT, part: int = PART) -> np.ndarray:
    image = np.full((H, W, 3), belt, np.uint8)
    for p in parts:
        x0 = round(p.x(i))
        x0c, x1c = max(x0, 0), min(x0 + p.width, W)
        if x1c > x0c:
            image[p.top : p.top + p.height, x0c:x1c] = part
    return image


def run(trigger: PresenceTrigger, frames: list[np.ndarray]) -> list[tuple[int, object]]:
    fired = []
    for i, image in enumerate(frames):
        event = trigger.on_frame(Frame(image, i, float(i)))
        if event is not None:
            fired.append((i, event.region))
    return fired


def sequence(parts: list[Part], n: int, **render_kw) -> list[np.ndarray]:
    return [render(parts, i, **render_kw) for i in range(n)]


def stop_and_go(start: float, speed: float, stop_at: float, frames_stopped: int):
    def x(i: int) -> float:
        free = start + speed * i
        if free < stop_at:
            return free
        t_reach = (stop_at - start) / speed
        return stop_at + speed * max(0.0, i - t_reach - frames_stopped)

    return x


def jitter(i: int) -> float:
    # approaches, then oscillates +-6 px around the line (centre at 120) for ever
    return min(-40 + 5 * i, 100) + (6 * np.sin(i) if i > 28 else 0)


CASES = {
    "three separate parts": (
        [Part(moving(-40, 5)), Part(moving(-120, 5)), Part(moving(-200, 5))],
        90,
        3,
    ),
    "touching with a 2 px seam": ([Part(moving(-40, 5)), Part(moving(-82, 5))], 60, 2),
    "touching, no seam: one part": ([Part(moving(-40, 5)), Part(moving(-80, 5))], 60, 1),
    "stops on the line": ([Part(stop_and_go(-40, 5, 100, 30))], 90, 1),
    "jitters across the line": ([Part(jitter)], 90, 1),
    "slow part": ([Part(moving(-40, 0.7))], 300, 1),
    "fast part": ([Part(moving(-40, 25))], 12, 1),
    "different sizes": (
        [
            Part(moving(-40, 5), width=20, height=50, top=5),
            Part(moving(-150, 5), width=80, height=20),
        ],
        90,
        2,
    ),
    "already past the line at start": ([Part(moving(150, 5))], 20, 0),
    "stands still before the line": ([Part(moving(20, 0))], 50, 0),
}


@pytest.mark.parametrize(("parts", "n", "fires"), CASES.values(), ids=CASES.keys())
def test_fires_once_per_part(parts, n, fires):
    trigger = PresenceTrigger(PresenceConfig(kind="presence", threshold=100))
    assert len(run(trigger, sequence(parts, n))) == fires


def test_fires_when_the_centre_crosses_and_region_holds_the_part():
    trigger = PresenceTrigger(
        PresenceConfig(kind="presence", threshold=100, fire_at=0.5, margin_px=2)
    )
    [(i, region)] = run(trigger, sequence([Part(moving(-40, 5))], 60))
    # centre = -40 + 5 i + 20 crosses 120 at i = 28
    assert i == 28
    x = -40 + 5 * i
    assert (region.x0, region.y0, region.x1, region.y1) == (x - 2, 13, x + 40 + 2, 47)


def flicker(frames: list[np.ndarray], every: int, level: int) -> list[np.ndarray]:
    out = []
    for i, image in enumerate(frames):
        if i % every == 0:
            image = np.where(image > BELT, level, BELT).astype(np.uint8)
        out.append(image)
    return out


@pytest.mark.parametrize(
    ("every", "level", "fires"),
    [
        (3, 60, 2),  # the parts vanish under the threshold every third frame
        (2, 60, 2),  # every other frame
        (4, 255, 2),  # flashes brighter
    ],
)
def test_flicker_does_not_double_fire(every, level, fires):
    parts = [Part(moving(-40, 5)), Part(moving(-140, 5))]
    trigger = PresenceTrigger(PresenceConfig(kind="presence", threshold=100))
    assert len(run(trigger, flicker(sequence(parts, 80), every, level))) == fires


def test_lighting_glitch_frame_is_skipped():
    frames = sequence([Part(moving(-40, 5))], 60)
    frames[27] = np.full_like(frames[27], 200)  # whole band bright, just before the crossing
    trigger = PresenceTrigger(PresenceConfig(kind="presence", threshold=100))
    assert [i for i, _ in run(trigger, frames)] == [28]


@pytest.mark.parametrize(
    ("config", "belt", "part", "start", "speed"),
    [
        ({"direction": "right_to_left"}, BELT, PART, W, -5),
        ({"polarity": "darker"}, 200, 20, -40, 5),
        ({"roi": {"x": 0, "y": 10, "width": W, "height": 40}}, BELT, PART, -40, 5),
    ],
)
def test_options(config, belt, part, start, speed):
    trigger = PresenceTrigger(PresenceConfig(kind="presence", threshold=100, **config))
    frames = sequence([Part(moving(start, speed))], 80, belt=belt, part=part)
    assert len(run(trigger, frames)) == 1


def test_grey_frames_work_too():
    trigger = PresenceTrigger(PresenceConfig(kind="presence", threshold=100))
    frames = [f[:, :, 0].copy() for f in sequence([Part(moving(-40, 5))], 60)]
    assert len(run(trigger, frames)) == 1


def test_event_carries_frame_time_and_deadline():
    trigger = PresenceTrigger(PresenceConfig(kind="presence", threshold=100, deadline_ms=250))
    frames = sequence([Part(moving(-40, 5))], 60)
    events = [trigger.on_frame(Frame(f, i, 100.0 + i)) for i, f in enumerate(frames)]
    [event] = [e for e in events if e is not None]
    assert event.t_trigger == 128.0
    assert event.deadline == pytest.approx(128.25)
    assert event.frame.seq == 28
    assert event.origin == "presence"
