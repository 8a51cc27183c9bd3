"""The last recipe a station ran, from its event log: a restart resumes it."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

__all__ = ["last_recipe"]


def last_recipe(database: Path) -> int | None:
    """The recipe the last successful switch (or start) made active, or None: no store
    yet, or no switch in it. Read-only; a store it cannot read answers None (the start
    that follows reports what is wrong with it)."""
    if not Path(database).is_file():
        return None
    try:
        with contextlib.closing(
            sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
        ) as conn:
            row = conn.execute(
                "SELECT detail FROM events WHERE kind = 'recipe_changed' "
                "AND severity = 'info' ORDER BY id DESC LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    recipe = json.loads(row[0]).get("recipe")
    return recipe if isinstance(recipe, int) else None
