"""The `inspector` command line (`inspector.cli.main` assembles it)."""

from inspector.cli.main import app, main

__all__ = ["app", "main"]
