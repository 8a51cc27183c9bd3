"""Every command's --help: no `<bool>` after flags, a type after options that take a value,
help text on every option and argument."""

from __future__ import annotations

import pytest
import typer
from typer.core import TyperOption
from typer.testing import CliRunner

from inspector.cli import app
from inspector.cli.richhelp import hide_flag_types


def command_tree(command, path: tuple[str, ...] = ()):
    """(path, command) for the root and every group and command below it."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from command_tree(sub, (*path, name))


COMMANDS = dict(command_tree(typer.main.get_command(app)))


def render_help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def option_line(help_text: str, option: str) -> str:
    """The help row that names `option` (the first line of its row)."""
    for line in help_text.splitlines():
        if f" {option} " in f" {line} ":
            return line
    raise AssertionError(f"{option} not in help:\n{help_text}")


def test_the_walk_reaches_every_level():
    for path in [(), ("demo",), ("run",), ("bench",), ("log", "tail"), ("config", "schema")]:
        assert path in COMMANDS


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda p: " ".join(p) or "inspector")
def test_help_shows_no_bool_and_describes_every_option(path):
    help_text = render_help(path)
    assert "<bool>" not in help_text
    undescribed = [p.name for p in COMMANDS[path].params if not getattr(p, "help", None)]
    assert undescribed == []


@pytest.mark.parametrize(
    ("path", "option", "shown_type"),
    [
        (("demo",), "--parts", "<int>"),
        (("demo",), "--video", "<path>"),
        (("demo",), "--fast", None),
        (("demo",), "--json", None),
        (("demo",), "--help", None),
        (("run",), "--log-level", "<str>"),
        (("run",), "--quiet", None),
        (("bench",), "--plc-poll-ms", "<float>"),
        (("log", "tail"), "--lines", "<int range>"),
        (("log", "tail"), "--follow", None),
        ((), "--version", None),
    ],
)
def test_value_options_keep_their_type_and_flags_show_none(path, option, shown_type):
    line = option_line(render_help(path), option)
    if shown_type is None:
        assert "<" not in line, line
    else:
        assert shown_type in line, line


def test_hiding_flag_types_twice_wraps_once():
    before = TyperOption.display_type_rich
    hide_flag_types()
    assert TyperOption.display_type_rich is before
