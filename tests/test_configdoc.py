"""docs/config.md: rendered from the JSON schema alone, and never out of date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from inspector.cli import app
from inspector.config import config_model
from inspector.configdoc import DEFAULT_OUTPUT, REGENERATE, config_markdown, schema_markdown
from inspector.errors import InspectorError

ROOT = Path(__file__).resolve().parents[1]


def one_field(prop: dict, required: bool = False, defs: dict | None = None) -> str:
    schema = {"type": "object", "properties": {"f": prop}, "$defs": defs or {}}
    if required:
        schema["required"] = ["f"]
    return schema_markdown(schema, title="t")


def row_of(doc: str, name: str) -> list[str]:
    """The cells of the first table row for key `name`."""
    for line in doc.splitlines():
        if line.startswith(f"| `{name}` |"):
            return [cell.strip() for cell in line.strip("|").split(" | ")]
    raise AssertionError(f"no row for {name} in:\n{doc}")


OBJ = {"type": "object", "properties": {"a": {"type": "integer", "default": 1}}}


@pytest.mark.parametrize(
    ("prop", "required", "cells"),
    [
        (
            {"type": "integer", "default": 60, "minimum": 1, "maximum": 254},
            False,
            ["integer", "`60`", "1 <= x <= 254"],
        ),
        (
            {"type": "number", "default": 0.5, "exclusiveMinimum": 0},
            False,
            ["number", "`0.5`", "> 0"],
        ),
        (
            {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            True,
            ["number", "**required**", "0 < x < 1"],
        ),
        ({"type": "number", "maximum": 5}, False, ["number", "optional", "<= 5"]),
        (
            {"type": "string", "enum": ["realtime", "fast"], "default": "realtime"},
            False,
            ["string", "`realtime`", "`realtime`, `fast`"],
        ),
        ({"type": "string", "const": "video"}, True, ["string", "**required**", "`video`"]),
        ({"type": "boolean", "default": True}, False, ["boolean", "`true`", ""]),
        ({"type": "string", "format": "path", "default": "a.db"}, False, ["path", "`a.db`", ""]),
        ({"type": "string", "default": ""}, False, ["string", '`""`', ""]),
        (
            {
                "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}],
                "default": None,
            },
            False,
            ["number or null", "`null`", "0 <= x <= 1"],
        ),
        (
            {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            True,
            ["integer or string", "**required**", ""],
        ),
        (
            {"type": "string", "minLength": 1, "pattern": "^[a-z]+$"},
            False,
            ["string", "optional", "length >= 1, matches `^[a-z]+$`"],
        ),
        (
            {"type": "array", "items": {"$ref": "#/$defs/O"}, "maxItems": 4},
            False,
            ["list of object", "optional", "items <= 4"],
        ),
        (
            {"type": "object", "additionalProperties": {"$ref": "#/$defs/O"}},
            False,
            ["map of name to object", "optional", ""],
        ),
        (
            {"$ref": "#/$defs/O", "description": "own words"},
            False,
            ["object", "optional", "", "own words"],
        ),
    ],
)
def test_a_field_row_gives_type_default_and_allowed_values(prop, required, cells):
    row = row_of(one_field(prop, required, defs={"O": OBJ}), "f")
    assert row[1 : 1 + len(cells)] == cells


@pytest.mark.parametrize(
    ("description", "cell"),
    [
        ("Two\nlines.", "Two lines."),
        ("a | b", "a \\| b"),
        ("", ""),
    ],
)
def test_descriptions_fit_one_table_cell(description, cell):
    assert row_of(one_field({"type": "string", "description": description}), "f")[4] == cell


@pytest.mark.parametrize(
    ("prop", "heading"),
    [
        ({"$ref": "#/$defs/O"}, "## `f`"),
        ({"anyOf": [{"$ref": "#/$defs/O"}, {"type": "null"}]}, "## `f`"),
        ({"type": "array", "items": {"$ref": "#/$defs/O"}}, "## `f[]`"),
        ({"type": "object", "additionalProperties": {"$ref": "#/$defs/O"}}, "## `f.<name>`"),
        ({"allOf": [{"$ref": "#/$defs/O"}]}, "## `f`"),
        (OBJ, "## `f`"),
    ],
)
def test_an_object_value_gets_its_own_section(prop, heading):
    doc = one_field(prop, defs={"O": OBJ})
    assert f"\n{heading}\n" in doc
    assert row_of(doc.split(heading)[1], "a")[1:3] == ["integer", "`1`"]


UNION = {
    "$defs": {
        "A": {
            "type": "object",
            "description": "Kind a.",
            "required": ["kind"],
            "properties": {
                "kind": {"const": "a", "type": "string"},
                "inner": {"$ref": "#/$defs/O"},
            },
        },
        "B": {
            "type": "object",
            "properties": {
                "kind": {"enum": ["b", "bee"], "type": "string"},
                "rate": {"type": "number", "default": 2.0},
            },
        },
        "O": OBJ,
    },
    "type": "object",
    "required": ["cam"],
    "properties": {
        "cam": {
            "description": "Where frames come from.",
            "oneOf": [{"$ref": "#/$defs/A"}, {"$ref": "#/$defs/B"}],
            "discriminator": {
                "propertyName": "kind",
                "mapping": {"a": "#/$defs/A", "b": "#/$defs/B", "bee": "#/$defs/B"},
            },
        },
        "other": {"$ref": "#/$defs/O", "description": "Another one."},
    },
}


def test_a_discriminated_union_gets_one_table_per_kind():
    doc = schema_markdown(UNION, title="t")
    assert row_of(doc, "cam")[1:4] == ["object", "**required**", "`kind`: `a`, `b`, `bee`"]
    assert "## `cam`\n\nWhere frames come from. Set `kind` to one of `a`, `b`, `bee`" in doc
    kind_a = doc.split("### `cam` with `kind: a`")[1].split("###")[0]
    assert "Kind a." in kind_a
    assert row_of(kind_a, "kind")[1:4] == ["string", "**required**", "`a`"]
    assert "#### `cam.inner` with `kind: a`" in doc
    kind_b = doc.split("### `cam` with `kind: b`\n")[1]
    assert row_of(kind_b, "rate")[1:3] == ["number", "`2.0`"]
    assert "### `cam` with `kind: bee`\n\nSame fields as `cam` with `kind: b` above." in doc


def test_a_definition_used_twice_is_described_once():
    doc = schema_markdown(UNION, title="t")
    assert doc.count("| `a` | integer |") == 1
    assert "## `other`\n\nAnother one.\n\nSame fields as `cam.inner` with `kind: a` above." in doc


@pytest.mark.parametrize(
    ("ref", "message"),
    [("other.json#/x", "not local"), ("#/$defs/Missing", "points nowhere")],
)
def test_a_ref_that_cannot_be_followed_is_an_error(ref, message):
    with pytest.raises(InspectorError, match=message):
        one_field({"$ref": ref})


def all_definitions(schema: dict) -> list[tuple[str, dict]]:
    return [("(root)", schema), *schema["$defs"].items()]


def test_every_field_and_kind_of_station_yaml_is_in_the_reference():
    schema = config_model().model_json_schema()
    doc = config_markdown()
    for owner, definition in all_definitions(schema):
        for name, prop in definition.get("properties", {}).items():
            assert f"| `{name}` |" in doc, f"{owner}.{name}"
            if prop.get("description"):
                assert " ".join(prop["description"].split()) in doc, f"{owner}.{name}"
    for name in ("camera", "trigger"):
        for kind in schema["properties"][name]["discriminator"]["mapping"]:
            assert f"### `{name}` with `kind: {kind}`" in doc


def test_the_committed_reference_is_up_to_date():
    committed = (ROOT / DEFAULT_OUTPUT).read_text(encoding="utf-8")
    assert committed == config_markdown(), (
        f"{DEFAULT_OUTPUT} is out of date: run `{REGENERATE}` (or `make docs`)"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["config", "schema"], lambda out: json.loads(out) == config_model().model_json_schema()),
        (["config", "schema", "--markdown"], lambda out: out == config_markdown()),
    ],
)
def test_config_schema_prints_json_by_default_and_markdown_on_request(args, expected):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert expected(result.stdout)


def test_config_schema_writes_the_file_it_is_given(tmp_path: Path):
    output = tmp_path / "config.md"
    result = CliRunner().invoke(app, ["config", "schema", "--markdown", "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert output.read_text(encoding="utf-8") == config_markdown()
