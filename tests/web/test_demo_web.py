"""`inspector demo` serves the dashboard and says where; `--no-web` and a taken port
run the demo without it."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest


def _demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "demo", "--fast", "--parts", "3", "--json", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--web-port", "{port}"), r"dashboard: http://localhost:{port}/"),
        (("--no-web",), None),
        (("--web-port", "0"), None),
        (("--web-port", "{taken}"), r"port {taken} is in use; no dashboard"),
    ],
)
def test_demo_dashboard(tmp_path, args, expected):
    port = _free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        values = {"port": port, "taken": taken.getsockname()[1]}
        result = _demo("--log-dir", str(tmp_path), *(a.format(**values) for a in args))
    assert result.returncode == 0, result.stderr
    if expected is None:
        assert "dashboard" not in result.stderr
    else:
        assert re.search(expected.format(**values), result.stderr), result.stderr
