"""Typer's rich help without the `<bool>` it prints after every flag.

Typer 0.29's rich options panel prints whatever `TyperOption.display_type_rich()` returns,
and for a boolean flag (`--fast/--no-fast`, `--json`, `--help` itself) that is `<bool>`,
as if the flag wanted a value: `--fast <bool>`. Typer's plain (Click) formatter skips the
type of flags and counters; the rich panel does not. Nothing in the option declarations
causes it (not `from __future__ import annotations`, not `Annotated`, not a default in
parentheses), and nothing in them can turn it off for `--help`, which Typer adds. So the
CLI corrects the one method, once, when it is assembled: a flag or a counter has no type
to show, which the panel already renders as an empty type column.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperOption

__all__ = ["hide_flag_types"]

_MARK = "_inspector_hides_flag_types"


def hide_flag_types() -> None:
    """Make rich help show no type for flags and counters (idempotent)."""
    shown = TyperOption.display_type_rich
    if getattr(shown, _MARK, False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None  # a flag takes no value: nothing to show after it
        return shown(self, ctx)

    setattr(display_type_rich, _MARK, True)
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
