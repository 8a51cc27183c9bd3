"""Recipe changeover driven by a real Modbus TCP client as the PLC, against the real
station on loopback: every part judged by the recipe active at its trigger."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from inspector.config import parse_config
from inspector.detect.base import file_sha256
from inspector.factory import StationParts, build_station
from inspector.plc.registers import (
    Control,
    ErrorCode,
    HoldingRegister,
    StationBlock,
    Status,
)
from inspector.plc.simulate import (
    Outcome,
    SimulationPlan,
    StationConnection,
    connect_station,
    simulate,
)
from inspector.types import Verdict
from tests.camera.media import write_folder
from tests.conftest import shipped_model

TILE, STEEL = shipped_model("magnetic-tile"), shipped_model("neu-det")
SHA = {1: file_sha256(TILE), 2: file_sha256(STEEL)}
ARM = Control.TRIGGER_ENABLE
HR = HoldingRegister


def station_doc(tmp_path: Path, recipes: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "camera": {"kind": "folder", "path": str(tmp_path / "f"), "fps": 60, "loop": True},
        "trigger": {"kind": "plc", "deadline_ms": 2000},
        "model": {"path": str(TILE)},
        "judge": {"min_confidence": 0.5},
        "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "i")},
        "plc": {"enabled": True, "port": 0},
        "recipes": recipes,
        **extra,
    }


RECIPES = [
    {"number": 1, "name": "tile"},
    {"number": 2, "name": "steel", "model": {"path": str(STEEL)}},
]


@contextmanager
def running(
    tmp_path: Path, recipes=RECIPES, extra: dict | None = None, **kw: Any
) -> Iterator[tuple[StationParts, Plc]]:
    write_folder(tmp_path / "f", 10)
    config = parse_config(station_doc(tmp_path, recipes, **(extra or {})), "test")
    parts = build_station(config, **kw)
    endpoint = parts.plc.transport.endpoint
    parts.station.start()
    plc = Plc(connect_station(endpoint.host, endpoint.port))
    try:
        plc.wait(lambda b: Status.READY in b.status, "READY")
        yield parts, plc
    finally:
        plc.connection.close()
        parts.station.stop()


class Plc:
    """The PLC side of the handshake, as docs/plc.md tells a PLC programmer to write it."""

    def __init__(self, connection: StationConnection) -> None:
        self.connection = connection
        self.trigger_id = 0

    def wait(self, done: Callable[[StationBlock], bool], what: str) -> StationBlock:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            block = self.connection.read_station()
            if done(block):
                return block
            time.sleep(0.002)
        raise AssertionError(f"station never showed {what}: {block}")

    def control(self, bits: Control) -> None:
        self.connection.write_words(HR.CONTROL, [int(bits)])

    def load(self, number: int) -> StationBlock:
        self.connection.write_words(HR.RECIPE_REQUEST, [number])
        self.control(ARM | Control.RECIPE_LOAD)
        block = self.wait(lambda b: Status.RECIPE_SWITCHING not in b.status, "switch done")
        self.control(ARM)
        return block

    def inspect(self) -> tuple[int, StationBlock]:
        self.trigger_id = self.trigger_id % 65535 + 1
        self.connection.write_words(HR.TRIGGER_ID, [self.trigger_id])
        self.control(ARM | Control.TRIGGER)
        self.wait(lambda b: b.status & (Status.TRIGGER_ACK | Status.RESULT_VALID), "TRIGGER_ACK")
        self.control(ARM)
        block = self.wait(lambda b: Status.RESULT_VALID in b.status, "RESULT_VALID")
        self.control(ARM | Control.RESULT_ACK)
        self.wait(lambda b: Status.RESULT_VALID not in b.status, "RESULT_VALID low")
        self.control(ARM)
        return self.trigger_id, block


def rows(tmp_path: Path) -> dict[int, tuple[int, str, str, str]]:
    with closing(sqlite3.connect(tmp_path / "log.db")) as conn:
        found = conn.execute(
            "SELECT trigger_id, recipe, recipe_name, model_sha256, verdict FROM inspections"
        ).fetchall()
    return {t: (r, n, sha, v) for t, r, n, sha, v in found}


SWITCHES = 100
PARTS_PER_RECIPE = 2


def test_switching_back_and_forth_gives_every_part_its_recipes_model(tmp_path: Path):
    expected: dict[int, int] = {}
    with running(tmp_path) as (_, plc):
        for switch in range(SWITCHES):
            number = 2 if switch % 2 == 0 else 1
            block = plc.load(number)
            assert (block.active_recipe, block.error_code, Status.READY in block.status) == (
                number,
                ErrorCode.NONE,
                True,
            )
            for _ in range(PARTS_PER_RECIPE):
                trigger_id, result = plc.inspect()
                assert result.trigger_id_echo == trigger_id
                expected[trigger_id] = number
    check_parts(tmp_path, expected, SWITCHES * PARTS_PER_RECIPE)
    with closing(sqlite3.connect(tmp_path / "log.db")) as conn:
        audited = conn.execute(
            "SELECT old_hash, new_hash, command FROM audit WHERE kind = 'recipe' ORDER BY id"
        ).fetchall()
    assert audited[0] == (None, "1", "start-up")
    assert audited[1:3] == [("1", "2", "plc"), ("2", "1", "plc")]
    assert len(audited) == 1 + SWITCHES  # every switch audited, with who asked


def check_parts(tmp_path: Path, expected: dict[int, int], parts: int) -> None:
    """Every part logged once, judged in time by the model of the recipe it expected."""
    logged = rows(tmp_path)
    assert len(logged) == len(expected) == parts  # no part lost
    for trigger_id, number in expected.items():
        recipe, name, sha, verdict = logged[trigger_id]
        assert (recipe, name, sha) == (number, RECIPES[number - 1]["name"], SHA[number])
        assert verdict in (Verdict.PASS.value, Verdict.FAIL.value)  # judged, in time


def test_a_switch_asked_while_a_part_is_in_flight_waits_for_it(tmp_path: Path):
    """RECIPE_LOAD right after TRIGGER_ACK, before the result: that part is the old
    recipe's, the next one the new recipe's; back and forth 50 times."""
    expected: dict[int, int] = {}
    with running(tmp_path) as (_, plc):
        for switch in range(50):
            old, new = (1, 2) if switch % 2 == 0 else (2, 1)
            plc.trigger_id += 1
            plc.connection.write_words(HR.TRIGGER_ID, [plc.trigger_id])
            plc.control(ARM | Control.TRIGGER)
            plc.wait(lambda b: b.status & (Status.TRIGGER_ACK | Status.RESULT_VALID), "ACK")
            plc.connection.write_words(HR.RECIPE_REQUEST, [new])
            plc.control(ARM | Control.RECIPE_LOAD)
            expected[plc.trigger_id] = old
            block = plc.wait(lambda b: Status.RESULT_VALID in b.status, "RESULT_VALID")
            assert block.trigger_id_echo == plc.trigger_id
            plc.control(ARM | Control.RECIPE_LOAD | Control.RESULT_ACK)
            block = plc.wait(
                lambda b: not b.status & (Status.RECIPE_SWITCHING | Status.RESULT_VALID),
                "switched and acknowledged",
            )
            assert (block.active_recipe, Status.READY in block.status) == (new, True)
            plc.control(ARM)
            trigger_id, _ = plc.inspect()
            expected[trigger_id] = new
    check_parts(tmp_path, expected, 100)


@pytest.mark.parametrize(
    ("recipes", "request_number", "error"),
    [
        (RECIPES, 9, ErrorCode.RECIPE_UNKNOWN),
        (
            [
                *RECIPES,
                {"number": 3, "name": "broken", "preload": False, "model": {"path": "BROKEN"}},
            ],
            3,
            ErrorCode.RECIPE_LOAD_FAILED,
        ),
    ],
    ids=["unknown", "broken model"],
)
def test_a_refused_recipe_sets_its_error_and_keeps_the_old_one(
    tmp_path: Path, recipes, request_number, error
):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    recipes = [
        {**r, "model": {"path": str(broken)}} if r.get("model", {}).get("path") == "BROKEN" else r
        for r in recipes
    ]
    with running(tmp_path, recipes) as (parts, plc):
        block = plc.load(request_number)
        assert (block.active_recipe, block.error_code) == (1, error)
        assert Status.ERROR in block.status and Status.READY not in block.status
        plc.control(ARM | Control.ERROR_RESET)  # the old recipe goes on judging
        plc.wait(lambda b: Status.READY in b.status, "READY after ERROR_RESET")
        plc.control(ARM)
        trigger_id, _ = plc.inspect()
        assert parts.station.recipe == 1
    assert rows(tmp_path)[trigger_id][:3] == (1, "tile", SHA[1])


def test_a_trigger_during_a_switch_is_missed_not_judged(tmp_path: Path):
    """Recipe 2 loads on demand (its model opens for tens of ms): a trigger meanwhile is
    refused with MISSED_TRIGGER, never judged with either recipe."""
    on_demand = [RECIPES[0], {**RECIPES[1], "preload": False}]
    with running(tmp_path, on_demand) as (parts, plc):
        assert parts.station.recipes.loaded() == (1,)
        plc.connection.write_words(HR.TRIGGER_ID, [77])
        plc.connection.write_words(HR.RECIPE_REQUEST, [2])
        plc.control(ARM | Control.RECIPE_LOAD)
        plc.control(ARM | Control.RECIPE_LOAD | Control.TRIGGER)
        block = plc.wait(lambda b: Status.RECIPE_SWITCHING not in b.status, "switch done")
        plc.control(ARM)
        assert (block.active_recipe, Status.MISSED_TRIGGER in block.status) == (2, True)
        assert parts.plc.handshake.counters().triggers == 0
    assert rows(tmp_path) == {}


@pytest.mark.parametrize(
    ("asked", "expected", "said"),
    [
        (None, 2, "the last active recipe"),  # a restart resumes the last recipe
        (1, 1, "asked for at start-up"),  # inspector run --recipe 1
    ],
)
def test_a_restart_resumes_the_last_recipe(tmp_path: Path, caplog, asked, expected, said):
    with running(tmp_path) as (_, plc):
        plc.load(2)
    caplog.clear()
    with caplog.at_level("INFO"), running(tmp_path, recipe=asked) as (parts, plc):
        assert plc.connection.read_station().active_recipe == expected
        assert parts.station.recipe == expected
    assert f"active at start-up: {said}" in caplog.text


TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.mark.parametrize(
    ("headers", "body", "status", "active"),
    [
        ({}, {"recipe": 2}, 401, 1),  # guarded like any write
        (AUTH, {"recipe": "2"}, 400, 1),
        (AUTH, {"recipe": 70000}, 400, 1),
        (AUTH, {"recipe": 9}, 202, 1),  # asked; refused by the station, old recipe kept
        (AUTH, {"recipe": 2}, 202, 2),
    ],
)
def test_the_operator_switches_through_the_dashboard(tmp_path: Path, headers, body, status, active):
    token = tmp_path / "token"
    token.write_text(TOKEN)
    web = {"web": {"enabled": True, "port": 0, "token_file": str(token)}}
    with running(tmp_path, extra=web) as (parts, plc):
        answer = httpx.post(parts.web.url + "api/recipe", json=body, headers=headers, timeout=10)
        assert answer.status_code == status, answer.text
        time.sleep(0.2)  # the switch happens on the worker, between parts
        block = plc.connection.read_station()
        assert (parts.station.recipe, block.active_recipe, block.error_code) == (
            active,
            active,
            ErrorCode.NONE,  # an operator's refused request does not stop the line
        )
    with closing(sqlite3.connect(tmp_path / "log.db")) as conn:
        asked = conn.execute(
            "SELECT json_extract(detail, '$.by') FROM events WHERE kind = 'recipe_changed'"
        ).fetchall()
    assert asked[0] == ("start-up",)
    assert asked[1:] == ([("operator",)] if status == 202 else [])


# The simulated PLC (`inspector plc simulate`'s program) with a recipe per part: it
# switches before each part of another recipe; the recipe on each result is the part's.
@pytest.mark.parametrize(
    ("recipes", "switches"),
    [
        ((1, 1, 2, 2, 1), 2),
        ((2, 1, 2, 1), 4),  # the station starts on 1: the first part switches too
        ((1, 1, 1), 0),
        ((1, 9, 2), 1),  # 9 is not configured: that part is not triggered
    ],
)
def test_the_simulated_plc_switches_at_each_product_change(tmp_path: Path, recipes, switches):
    with running(tmp_path) as (parts, _):
        endpoint = parts.plc.transport.endpoint
        plan = SimulationPlan(cycles=len(recipes), rate_hz=20, recipes=recipes)
        report = simulate(endpoint.host, endpoint.port, plan=plan)
    judged = [r.recipe for r in report.results if r.outcome is not Outcome.MISSED]
    assert judged == [r for r in recipes if r != 9]
    assert report.unearned_pass == 0
    summary = report.as_json().get("recipe_switches", {"count": 0})
    assert summary["count"] == switches
    refused = [r.detail for r in report.results if r.outcome is Outcome.MISSED]
    assert refused == (["recipe 9 refused (error code 5)"] if 9 in recipes else [])


# SPC on a running station: the parts each recipe judged (in the order the PLC ran
# them) make that recipe's subgroups alone; each recipe's default monitors are named by
# its number and count its own model's classes.
@pytest.mark.parametrize(
    ("runs", "subgroups"),
    [
        ([(1, 4)], {1: 2, 2: 0}),
        ([(1, 3), (2, 2), (1, 1)], {1: 2, 2: 1}),
        ([(2, 1), (1, 1), (2, 1)], {1: 0, 2: 1}),
    ],
)
def test_spc_charts_each_recipes_parts_with_its_own_monitors(tmp_path: Path, runs, subgroups):
    spc = {"enabled": True, "subgroup_size": 2, "baseline_subgroups": 5}
    with running(tmp_path, extra={"spc": spc}) as (_, plc):
        for number, parts in runs:
            plc.load(number)
            for _ in range(parts):
                plc.inspect()
    with closing(sqlite3.connect(tmp_path / "log.db")) as conn:
        points = conn.execute(
            "SELECT monitor, count(*) FROM spc_points WHERE monitor LIKE '%fail_fraction' "
            "GROUP BY monitor"
        ).fetchall()
        monitors = {m for (m,) in conn.execute("SELECT DISTINCT monitor FROM spc_points")}
    counted = {int(m.split(".")[0][1:]): n for m, n in points}
    assert {r: counted.get(r, 0) for r in (1, 2)} == subgroups
    assert all(m.startswith(("r1.", "r2.")) for m in monitors)
    if subgroups[2]:
        assert "r2.class-scratches" in monitors and "r1.class-scratches" not in monitors


PLC_DEADLINES = [
    {"number": 1, "name": "tile"},  # the station's 2000 ms
    {"number": 2, "name": "steel", "trigger": {"kind": "plc", "deadline_ms": 700}},
    {"number": 3, "name": "fast", "trigger": {"kind": "plc", "deadline_ms": 150}},
]


@pytest.mark.parametrize(
    ("loads", "deadline_s"),
    [
        ([], 2.0),  # the start recipe, 1: the station's deadline
        ([2], 0.7),
        ([3], 0.15),
        ([2, 3], 0.15),
        ([3, 1], 2.0),  # back to a recipe without its own: the station's again
        ([2, 9], 0.7),  # refused: the active recipe's deadline is kept (and the line
    ],  # stops in ERROR until the PLC asks again, so no part is inspected)
)
def test_a_switch_applies_the_new_recipes_deadline(tmp_path: Path, loads, deadline_s):
    """On the events the station judges by, and on the PLC handshake's watchdog that
    answers FAIL 0xFFFF past it."""
    with running(tmp_path, PLC_DEADLINES) as (parts, plc):
        for number in loads:
            plc.load(number)
        assert parts.station.trigger.deadline_s == pytest.approx(deadline_s)
        assert parts.plc is not None
        assert parts.plc.handshake.result_deadline_s == pytest.approx(deadline_s)
        if 9 not in loads:
            trigger_id, block = plc.inspect()
            assert block.trigger_id_echo == trigger_id  # judged (or answered) by it
