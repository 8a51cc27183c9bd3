"""Recipes in station.yaml: one merge, validated once at load, errors naming the field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from inspector.config import parse_config, recipe_config
from inspector.configcheck import start_problems
from inspector.errors import ConfigError
from tests.conftest import shipped_model

TILE = str(shipped_model("magnetic-tile"))
STEEL = str(shipped_model("neu-det"))


def station(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {
        "camera": {"kind": "folder", "path": str(tmp_path)},
        "trigger": {"kind": "manual"},
        "model": {"path": TILE},
        "judge": {"min_confidence": 0.5},
        "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "i")},
        **extra,
    }


LONG = {"name": "m" * 61, "measure": "fail_fraction"}
TWO = [
    {"number": 1, "name": "tile"},
    {"number": 7, "name": "steel", "model": {"path": STEEL}, "judge": {"min_confidence": 0.3}},
]


@pytest.mark.parametrize(
    ("number", "model", "confidence"),
    [
        (1, "magnetic-tile.onnx", 0.5),  # inherits every section
        (7, "neu-det.onnx", 0.3),  # its own model and rules
    ],
)
def test_a_recipe_inherits_what_it_does_not_set(tmp_path: Path, number, model, confidence):
    config = parse_config(station(tmp_path, recipes=TWO), "test")
    merged = recipe_config(config, number)
    assert (merged.model.path.name, merged.judge.min_confidence) == (model, confidence)
    assert merged.storage == config.storage


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (
            {"recipes": [{"number": 3, "name": "a"}, {"number": 3, "name": "b"}]},
            r"test: recipes.1.number: 3 is also recipes.0's number",
        ),
        ({"recipes": TWO, "recipe": 2}, r"test: recipe: 2 is not a configured recipe"),
        ({"recipes": [{"number": 70000, "name": "a"}]}, r"recipes.0.number: must be at most"),
        ({"recipes": [{"number": 1, "name": "a", "model": {}}]}, r"recipes.0.model.path: required"),
        ({"recipes": [{"number": 1}]}, r"recipes.0.name: required"),
        ({"recipes": [{"number": 1, "name": "a", "camera": {}}]}, r"recipes.0.camera: unknown"),
        (  # a recipe's chart ids are r<number>.<name>: a name that no longer fits
            {"recipes": [{"number": 300, "name": "a", "spc": {"monitors": [LONG]}}]},
            r"recipes.0.spc.monitors.0.name: at most 59 characters in recipe 300",
        ),
        (  # the station's monitors, inherited
            {"spc": {"monitors": [LONG]}, "recipes": [{"number": 12, "name": "a"}]},
            r"test: spc.monitors.0.name: at most 60 characters in recipe 12",
        ),
    ],
)
def test_bad_recipes_are_one_clear_line(tmp_path: Path, extra, error):
    with pytest.raises(ConfigError, match=error):
        parse_config(station(tmp_path, **extra), "test")


def test_an_unknown_recipe_number_is_named(tmp_path: Path):
    config = parse_config(station(tmp_path, recipes=TWO), "test")
    with pytest.raises(ConfigError, match=r"recipe 2 is not configured \(known: \[1, 7\]\)"):
        recipe_config(config, 2)


@pytest.mark.parametrize(
    ("recipe", "problem"),
    [
        ({"model": {"path": "missing.onnx"}}, r"recipes.1.model.path: .*missing.onnx: not found"),
        (
            {"judge": {"classes": {"scratch": {}}}},  # a NEU-DET class, not a tile one
            r"recipes.1 \(b\): .*scratch",
        ),
        (
            {"calibration": {"enabled": True, "profile": "nowhere.yaml"}},
            r"recipes.1.calibration.profile: .*not found",
        ),
    ],
)
def test_config_check_opens_every_recipe(tmp_path: Path, recipe, problem):
    recipes = [{"number": 1, "name": "a"}, {"number": 2, "name": "b", **recipe}]
    config = parse_config(station(tmp_path, recipes=recipes), "test", base=tmp_path)
    messages = [str(p) for p in start_problems(config)]
    assert any(re.search(problem, m) for m in messages), messages


def test_config_check_passes_good_recipes(tmp_path: Path):
    config = parse_config(station(tmp_path, recipes=TWO), "test")
    assert [str(p) for p in start_problems(config) if "recipes" in str(p)] == []


@pytest.mark.parametrize(
    ("files", "numbers", "error"),
    [
        (
            {
                "a.yaml": "number: 1\nname: tile\n",
                "b.yaml": f"number: 7\nname: steel\nmodel: {{path: {STEEL}}}\n",
            },
            [1, 7],
            None,
        ),
        (
            {"a.yaml": "number: 1\nname: tile\n", "b.yaml": "number: 1\nname: again\n"},
            None,
            r"recipes.1.number: 1 is also recipes.0's number",
        ),
        ({"a.yaml": "number: [1\n"}, None, r"a.yaml: line \d+: not valid YAML"),
        (None, None, r"recipes: .*nowhere is not a folder of recipe files"),
    ],
)
def test_recipes_from_a_folder(tmp_path: Path, files, numbers, error):
    folder = tmp_path / "recipes"
    if files is not None:
        folder.mkdir()
        for name, text in files.items():
            (folder / name).write_text(text)
    doc = station(tmp_path, recipes="recipes" if files is not None else "nowhere")
    if error is not None:
        with pytest.raises(ConfigError, match=error):
            parse_config(doc, "test", base=tmp_path)
        return
    config = parse_config(doc, "test", base=tmp_path)
    assert [r.number for r in config.recipes] == numbers
