"""SPC per recipe on a real store: each product its own monitors, Phase I and frozen
limits, never a subgroup of two products, and each recipe's state through a restart.
The sink is the factory's (`_open_spc`) over a station.yaml with two recipes."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from inspector.config import parse_config
from inspector.factory import _open_spc
from inspector.spc import store
from inspector.spc.config import SpcConfig
from inspector.spc.monitor import SpcSink, monitor_specs, stored_specs
from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.types import EventKind, Inspection, Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection
from tests.spc.test_monitor import K, N

F, P = Verdict.FAIL, Verdict.PASS


def spc(**extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "subgroup_size": N,
        "baseline_subgroups": K,
        "default_monitors": False,
        "monitors": [{"name": "fails", "measure": "fail_fraction"}],
        **extra,
    }


def station(tmp_path: Path, recipe_spc: dict[int, dict[str, Any] | None]) -> dict[str, Any]:
    """Recipe 1 inherits the station's spc section; recipe 7 sets its own (or none)."""
    steel: dict[str, Any] = {"number": 7, "name": "steel"}
    if recipe_spc.get(7) is not None:
        steel["spc"] = recipe_spc[7]
    return {
        "camera": {"kind": "folder", "path": str(tmp_path)},
        "trigger": {"kind": "manual"},
        "model": {"path": str(tmp_path / "m.onnx")},
        "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "i")},
        "spc": recipe_spc.get(1) or {"enabled": False},
        "recipes": [{"number": 1, "name": "tile"}, steel],
    }


class MixedLine:
    """Parts of two products committed as the worker does, then handed to the factory's
    SPC sink as its runner does; the sink reopened as a restart would."""

    def __init__(self, tmp_path: Path, recipe_spc: dict[int, dict[str, Any] | None]) -> None:
        self.config = parse_config(station(tmp_path, recipe_spc), "test")
        self.store = open_store(tmp_path / "log.db")
        self.writer = InspectionWriter(self.store.connect(), CLASS_NAMES)
        self.seq = 0
        self.run = 0
        self.events: list[tuple[EventKind, dict]] = []
        self.sink = self.open_sink(1)

    def open_sink(self, start_recipe: int) -> SpcSink:
        self.run += 1
        link: Any = SimpleNamespace(store=self.store)
        sink = _open_spc(self.config, start_recipe, link, CLASS_NAMES, "test")
        assert sink is not None
        sink.bind(lambda kind, severity, message, **detail: self.events.append((kind, detail)))
        return sink

    def restart(self, start_recipe: int) -> None:
        self.sink.close()
        self.sink = self.open_sink(start_recipe)

    def parts(self, recipe: int, verdicts: str, *, deliver: bool = True) -> None:
        """`verdicts`: F and P, one part each, of `recipe`."""
        for letter in verdicts:
            self.seq += 1
            record: Inspection = make_inspection(
                self.seq, F if letter == "F" else P, run_id=f"run-{self.run}"
            )
            record = dataclasses.replace(record, recipe=recipe, recipe_name=f"r{recipe}")
            self.writer.commit(record)
            if deliver:
                self.sink.handle(record)

    def counts(self, monitor: str) -> list[float | None]:
        return [p.count for p in store.points(self.store.connect(), monitor)]

    def close(self) -> None:
        self.sink.close()
        self.store.close()


@pytest.fixture
def mixed(tmp_path):
    line = MixedLine(tmp_path, {1: spc(), 7: spc()})
    yield line
    line.close()


# Parts of the two products in the order the line ran them (recipe, verdicts), and the
# FAIL count of each point each recipe's chart holds: a subgroup is one product's.
@pytest.mark.parametrize(
    ("runs", "r1_counts", "r7_counts"),
    [
        ([(1, "FFPPP")], [2], []),
        ([(1, "FFP"), (7, "FFFFF"), (1, "PP")], [2], [5]),
        ([(1, "F"), (7, "P")] * 5, [5], [0]),
        ([(7, "PPPP"), (1, "FFFFF"), (7, "F")], [5], [1]),
        ([(1, "FFPP"), (7, "FP")], [], []),  # neither subgroup full yet
    ],
)
def test_a_subgroup_holds_one_products_parts(mixed, runs, r1_counts, r7_counts):
    for recipe, verdicts in runs:
        mixed.parts(recipe, verdicts)
    assert (mixed.counts("r1.fails"), mixed.counts("r7.fails")) == (r1_counts, r7_counts)
    assert mixed.counts("fails") == []  # the station's unkeyed monitor is not used


def test_each_recipe_freezes_its_own_limits_and_alarms_name_it(mixed):
    for _ in range(K):  # tiles fail 1 in 5, steel 3 in 5, interleaved
        mixed.parts(1, "FPPPP")
        mixed.parts(7, "FFFPP")
    conn = mixed.store.connect()
    centers = {m: store.latest_limits(conn, m).parameters.center for m in ("r1.fails", "r7.fails")}
    assert centers == pytest.approx({"r1.fails": 0.2, "r7.fails": 0.6})
    limits = [d for kind, d in mixed.events if kind is EventKind.SPC_LIMITS]
    assert sorted((d["monitor"], d["recipe"]) for d in limits) == [("r1.fails", 1), ("r7.fails", 7)]
    mixed.parts(7, "FFFFP")  # 0.8 is within steel's limits (UCL 1.26)...
    mixed.parts(1, "FFFFP")  # ...and beyond the tiles' (UCL 0.74)
    alarms = [d for kind, d in mixed.events if kind is EventKind.SPC_ALARM]
    assert [(a["monitor"], a["recipe"]) for a in alarms] == [("r1.fails", 1)]
    assert sorted(s.name for s in stored_specs(conn)) == ["r1.fails", "r7.fails"]


# What the last run left (recipe, verdicts; the sink got none of it, as after a crash),
# the start recipe of the next, and each chart's points once each recipe has two more
# parts: the interrupted subgroups complete from the very parts they had.
@pytest.mark.parametrize(
    ("left", "start", "r1_counts", "r7_counts"),
    [
        ([(1, "FFF"), (7, "FFF")], 1, [5], [5]),
        ([(1, "FFF"), (7, "FFF")], 7, [5], [5]),
        ([(7, "FFFFF"), (1, "F")], 1, [], [5]),  # steel's full subgroup is charted once
    ],
)
def test_a_restart_completes_each_recipes_subgroup(tmp_path, left, start, r1_counts, r7_counts):
    line = MixedLine(tmp_path, {1: spc(), 7: spc()})
    for recipe, verdicts in left:
        line.parts(recipe, verdicts, deliver=False)
    line.restart(start)
    line.parts(1, "FF")
    line.parts(7, "FF")
    assert (line.counts("r1.fails"), line.counts("r7.fails")) == (r1_counts, r7_counts)
    line.close()


@pytest.mark.parametrize(
    ("recipe_spc", "r1_counts", "r7_counts"),
    [
        ({1: spc(), 7: {"enabled": False}}, [0], []),  # steel keeps no charts
        ({1: None, 7: spc()}, [], [0]),  # only steel does
        ({1: spc(subgroup_size=2), 7: spc()}, [0, 0], [0]),  # each its own subgroup size
    ],
)
def test_a_recipes_own_spc_section(tmp_path, recipe_spc, r1_counts, r7_counts):
    line = MixedLine(tmp_path, recipe_spc)
    line.parts(1, "PPPPP")
    line.parts(7, "PPPPP")
    assert (line.counts("r1.fails"), line.counts("r7.fails")) == (r1_counts, r7_counts)
    line.close()


# A default class monitor's id stays a name (64 characters) with the recipe's prefix on.
@pytest.mark.parametrize(
    ("recipe", "class_name", "expected"),
    [
        (None, "crack", "class-crack"),
        (7, "crack", "r7.class-crack"),
        (65535, "x" * 100, "r65535.class-" + "x" * 51),
        (None, "x" * 100, "class-" + "x" * 56),  # a station without recipes: as before
    ],
)
def test_class_monitor_ids(recipe, class_name, expected):
    config = SpcConfig(enabled=True)
    names = [s.name for s in monitor_specs(config, [class_name], recipe)]
    assert names[2] == expected and len(expected) <= 64
