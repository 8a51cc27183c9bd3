"""A recipe's trigger parameters: merged at load (kind kept), taken by the running
trigger at a switch (retune), by a presence trigger mid-stream."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inspector.config import PresenceTrigger as PresenceConfig
from inspector.config import parse_config, recipe_config
from inspector.errors import ConfigError
from inspector.trigger.presence import PresenceTrigger
from inspector.types import Frame
from tests.recipes.test_config import station
from tests.trigger.test_presence import Part, moving, sequence

PRESENCE = {"kind": "presence", "threshold": 100}


@pytest.mark.parametrize(
    ("trigger", "recipe", "number", "expected"),
    [
        (  # inherits the station's trigger
            {"kind": "manual", "deadline_ms": 900},
            {"number": 1, "name": "a"},
            1,
            {"kind": "manual", "deadline_ms": 900},
        ),
        (  # its own deadline
            {"kind": "manual", "deadline_ms": 900},
            {"number": 2, "name": "b", "trigger": {"kind": "manual", "deadline_ms": 300}},
            2,
            {"kind": "manual", "deadline_ms": 300},
        ),
        (  # its own part detection: the section replaces the station's whole
            {**PRESENCE, "fire_at": 0.3, "max_missing_frames": 9},
            {"number": 3, "name": "c", "trigger": {"kind": "presence", "fire_at": 0.7}},
            3,
            {"kind": "presence", "fire_at": 0.7, "threshold": 60, "max_missing_frames": 5},
        ),
    ],
)
def test_a_recipes_trigger_merges_over_the_stations(
    tmp_path: Path, trigger, recipe, number, expected
):
    config = parse_config(station(tmp_path, trigger=trigger, recipes=[recipe]), "test")
    merged = recipe_config(config, number).trigger
    assert {key: getattr(merged, key) for key in expected} == expected


@pytest.mark.parametrize(
    ("trigger", "recipes", "error"),
    [
        (
            {"kind": "manual"},
            [{"number": 1, "name": "a"}, {"number": 2, "name": "b", "trigger": PRESENCE}],
            r"^test: recipes.1.trigger.kind: 'presence' is not the station's trigger kind "
            r"'manual'; a recipe may change the trigger's parameters, not its kind$",
        ),
        (
            PRESENCE,
            [{"number": 1, "name": "a", "trigger": {"kind": "presence", "fire_at": 2}}],
            r"recipes.0.trigger.presence.fire_at|recipes.0.trigger.fire_at",
        ),
        (
            {"kind": "manual"},
            [{"number": 1, "name": "a", "trigger": {"kind": "manual", "deadline_ms": 1}}],
            r"recipes.0.trigger.(manual.)?deadline_ms",
        ),
    ],
)
def test_bad_recipe_triggers_are_one_clear_line(tmp_path: Path, trigger, recipes, error):
    with pytest.raises(ConfigError, match=error) as caught:
        parse_config(station(tmp_path, trigger=trigger, recipes=recipes), "test")
    assert "\n" not in str(caught.value)


# One part: left edge at -40 + 5i, 40 px wide, so its centre is at 5i - 20 on a 240 px
# band: it crosses fire_at 0.5 (120) at frame 28, 0.75 (180) at 40, 0.25 (60) at 16.
@pytest.mark.parametrize(
    ("retune_at", "new", "fired", "deadline_s"),
    [
        (None, {}, [28], 0.5),  # never retuned: the station's parameters
        (10, {"fire_at": 0.75}, [40], 0.5),  # before the line: fires at the new line
        (10, {"fire_at": 0.25}, [16], 0.5),
        (10, {"deadline_ms": 250}, [28], 0.25),  # the new deadline on its event
        (10, {"threshold": 200}, [], 0.5),  # the part (180) no longer shows on the belt
        (30, {"fire_at": 0.25}, [28], 0.5),  # fired already, past the new line: not again
        (10, {"direction": "right_to_left"}, [], 0.5),  # seen afresh: past the line that way
    ],
)
def test_a_presence_trigger_retuned_mid_stream_fires_by_the_new_parameters(
    retune_at: int | None, new: dict[str, Any], fired: list[int], deadline_s: float
):
    trigger = PresenceTrigger(PresenceConfig(**PRESENCE))
    events = []
    for i, image in enumerate(sequence([Part(moving(-40, 5))], 60)):
        if i == retune_at:
            trigger.retune(PresenceConfig(**{**PRESENCE, **new}))
        event = trigger.on_frame(Frame(image, i, float(i)))
        if event is not None:
            events.append(event)
    assert [e.frame.seq for e in events] == fired
    assert [e.deadline - e.t_trigger for e in events] == pytest.approx([deadline_s] * len(fired))
