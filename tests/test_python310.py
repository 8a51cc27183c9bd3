"""The station runtime (all of `inspector` but `inspector/train`, which runs on a
workstation) runs on Python 3.10, JetPack 6's Python: vermin finds no standard-library
name, keyword argument or syntax newer than 3.10 in it. `make test` checks the same with
mypy's 3.10 view of the standard library; vermin also sees what typeshed cannot
(syntax such as `except*`, keyword arguments added to old functions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vermin")

ROOT = Path(__file__).resolve().parent.parent
RUNTIME_MIN_PYTHON = "3.10"


def test_station_runtime_needs_no_python_newer_than_3_10() -> None:
    command = [
        sys.executable,
        "-c",
        "import sys; from vermin import main; sys.exit(main())",
        "--no-tips",
        "--violations",
        f"-t={RUNTIME_MIN_PYTHON}-",
        "--eval-annotations",
        "--backport",
        "typing_extensions",
        "--exclude-regex",
        r"(^|[/\\])inspector[/\\]train[/\\]",
        "inspector",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
