"""The recipe handshake on the pure state machine: RECIPE_LOAD, RECIPE_SWITCHING,
ACTIVE_RECIPE and the recipe error codes, as a table of PLC writes and station answers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from inspector.plc.handshake import Handshake, RecipeRequest
from inspector.plc.registers import Control, ControlBlock, ErrorCode, PlcError, Status
from tests.plc.test_handshake import ARM, TRIG, Rig, ctl, healthy

LOAD = ARM | Control.RECIPE_LOAD
S = Status
E = ErrorCode


def with_recipes(rig: Rig) -> None:
    healthy(rig)
    rig.recipes: list[RecipeRequest] = []  # type: ignore[misc]
    rig.hs.set_recipe_listener(rig.recipes.append)


def load(number: int) -> list[Callable[[Rig], None]]:
    return [ctl(ARM, recipe_request=number), ctl(LOAD)]


def done(active: int, error: ErrorCode = E.NONE) -> Callable[[Rig], None]:
    return lambda rig: rig.hs.finish_recipe(active, error)


@pytest.mark.parametrize(
    ("steps", "status", "error", "active", "asked"),
    [
        # the PLC asks: READY drops, RECIPE_SWITCHING rises, the station is asked once
        (load(7), S.RECIPE_SWITCHING, E.NONE, 0, [7]),
        # the station switches: READY and ACTIVE_RECIPE together, RECIPE_SWITCHING gone
        ([*load(7), done(7)], S.READY, E.NONE, 7, [7]),
        # a trigger during the switch is not taken: MISSED_TRIGGER
        (
            [*load(7), ctl(TRIG | Control.RECIPE_LOAD)],
            S.RECIPE_SWITCHING | S.MISSED_TRIGGER,
            E.NONE,
            0,
            [7],
        ),
        # unknown and broken recipes: ERROR with their own code, the old recipe kept
        ([*load(9), done(0, E.RECIPE_UNKNOWN)], S.ERROR, E.RECIPE_UNKNOWN, 0, [9]),
        ([*load(8), done(0, E.RECIPE_LOAD_FAILED)], S.ERROR, E.RECIPE_LOAD_FAILED, 0, [8]),
        # RECIPE_LOAD toggled faster than the station switches: the second is refused
        ([*load(7), ctl(ARM), ctl(LOAD), done(7)], S.ERROR, E.RECIPE_LOAD_TOO_SOON, 7, [7]),
        # a good load after a refusal clears the error
        (
            [*load(9), done(0, E.RECIPE_UNKNOWN), ctl(ARM), *load(7), done(7)],
            S.READY,
            E.NONE,
            7,
            [9, 7],
        ),
        # ERROR_RESET clears it too, keeping the old recipe
        (
            [*load(9), done(0, E.RECIPE_UNKNOWN), ctl(ARM | Control.ERROR_RESET)],
            S.READY,
            E.NONE,
            0,
            [9],
        ),
    ],
)
def test_recipe_handshake(steps, status, error, active, asked):
    rig = Rig()
    with_recipes(rig)
    for step in steps:
        step(rig)
    block = rig.hs.snapshot()
    assert (block.status, block.error_code, block.active_recipe) == (status, error, active)
    assert [r.number for r in rig.recipes] == asked


def test_a_station_without_recipes_refuses_every_request():
    rig = Rig()
    healthy(rig)
    for step in load(3):
        step(rig)
    block = rig.hs.snapshot()
    assert (block.status, block.error_code) == (S.ERROR, E.RECIPE_UNKNOWN)
    assert rig.hs.counters().recipe_refusals == 1


@pytest.mark.parametrize(
    ("active", "error", "message"),
    [(70000, E.NONE, "recipe must be 0..65535"), (1, E.CAMERA, "CAMERA is not a recipe error")],
)
def test_finish_recipe_refuses_bad_input(active, error, message):
    with pytest.raises(PlcError, match=message):
        Handshake().finish_recipe(active, error)


def test_control_block_carries_the_request():
    block = ControlBlock(control=LOAD, recipe_request=42)
    assert ControlBlock.from_words(block.to_words()).recipe_request == 42
