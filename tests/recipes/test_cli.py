"""`inspector run --recipe N` and `inspector config check` with recipes, as processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import shipped_model
from tests.test_cli_station import inspector, write_config

RECIPES = [
    {"number": 1, "name": "tile"},
    {"number": 2, "name": "steel", "model": {"path": str(shipped_model("neu-det"))}},
]


@pytest.mark.parametrize(
    ("recipes", "args", "code", "expected"),
    [
        (RECIPES, ["--recipe", "2"], 0, "recipe 2 (steel) active at start-up: asked for"),
        (RECIPES, [], 0, "recipe 1 (tile) active at start-up: the first configured recipe"),
        (None, ["--recipe", "2"], 2, "--recipe: the config has no recipes"),
        (RECIPES, ["--recipe", "5"], 2, "recipe 5 is not configured (known: [1, 2])"),
    ],
)
def test_run_starts_on_the_recipe_it_is_told(tmp_path: Path, recipes, args, code, expected):
    sections = {"recipes": recipes} if recipes else {}
    config = write_config(tmp_path, **sections)
    result = inspector("run", "--config", str(config), "--json", *args)
    assert result.returncode == code, result.stderr
    assert expected in result.stderr
    if code == 0:
        parts = [json.loads(line) for line in result.stdout.splitlines()]
        number = int(args[1]) if args else 1
        assert {p.get("recipe") for p in parts if "seq" in p} == {number}


def test_config_check_names_the_broken_recipe(tmp_path: Path):
    broken = [*RECIPES, {"number": 3, "name": "gone", "model": {"path": "gone.onnx"}}]
    result = inspector("config", "check", str(write_config(tmp_path, recipes=broken)))
    assert result.returncode == 1
    assert "recipes.2.model.path:" in result.stderr and "gone.onnx: not found" in result.stderr
