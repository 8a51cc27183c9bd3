"""deploy/inspector.service: systemd accepts it, and it asks for what the station does
(notify with a watchdog) under a hardened, unprivileged user."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

UNIT = ROOT / "deploy" / "inspector.service"
INSTALLED = "/opt/inspector/.venv/bin/inspector"


def service_section() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign] - keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser["Service"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze not installed (make system-deps installs it: DEB_PACKAGES)",
)
def test_systemd_analyze_verify_passes(tmp_path: Path):
    """Verified as shipped, except the install path of ExecStart, which systemd checks
    exists: it points at this checkout's inspector instead."""
    here = Path(sys.executable).parent / "inspector"
    unit = tmp_path / "inspector.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED, str(here)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    # systemd ignores a line it cannot parse with a warning and still exits 0
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("WatchdogSec", "10"),
        ("User", "inspector"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("StateDirectory", "inspector"),
        ("RestartPreventExitStatus", "2"),
        ("CapabilityBoundingSet", ""),
    ],
)
def test_unit_setting(key: str, value: str):
    assert service_section().get(key) == value


def test_exec_start_runs_the_installed_station():
    assert service_section()["ExecStart"].startswith(f"{INSTALLED} run --config ")
