"""`inspector spc baseline`, `ack`, `alarms` and `report` on a store a line wrote."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.spc import store
from inspector.spc.config import SpcMonitorConfig
from inspector.store.db import open_readonly
from tests.spc.test_monitor import K, Line, P, only


def inspector(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "spc", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def db(tmp_path) -> Path:
    """Phase I of K subgroups, then an alarm on both monitors; the line is closed."""
    path = tmp_path / "log.db"
    line = Line(path, only(P, SpcMonitorConfig(name="light", measure="brightness")))
    line.subgroups([1] * K)
    line.subgroups([5], brightness=140.0)
    line.close()
    return path


def test_alarms_then_ack_one_then_all(db):
    listed = inspector("alarms", "--db", str(db), "--json")
    assert listed.returncode == 0, listed.stderr
    alarms = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(a["monitor"], a["rule"], a["acked_at"]) for a in alarms] == [
        ("fails", "we1", None),
        ("light", "limit", None),
    ]
    one = inspector("ack", "--db", str(db), "--alarm", str(alarms[0]["id"]), "--by", "anna")
    assert one.returncode == 0 and "1 alarm(s) acknowledged" in one.stdout
    rest = inspector("ack", "--db", str(db), "--note", "lamp replaced")
    assert "1 alarm(s) acknowledged" in rest.stdout
    conn = open_readonly(db)
    try:
        assert [(a.acked_by, a.monitor) for a in store.open_alarms(conn, True)] == [
            ("anna", "fails"),
            ("cli", "light"),
        ]
    finally:
        conn.close()
    assert inspector("alarms", "--db", str(db)).stdout == ""


def test_baseline_freezes_a_new_version_and_audits_it(db):
    result = inspector("baseline", "--db", str(db), "--monitor", "fails", "--subgroups", "3")
    assert result.returncode == 0, result.stderr
    # the newest 3 subgroups: 1, 1 and 5 fails of 5 -> p = 7 / 15
    assert "fails: version 2, centre 0.466667" in result.stdout
    conn = open_readonly(db)
    try:
        row = conn.execute("SELECT subject, new_hash, command FROM audit WHERE kind = 'spc_limits'")
        assert tuple(row.fetchone()) == (
            "fails",
            "v2 p center=0.466667",
            "inspector spc baseline",
        )
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("baseline", "--monitor", "nope"), "--monitor: unknown nope (known: fails, light)"),
        (("baseline", "--subgroups", "99"), "light: not frozen: spc monitor light: 6 points"),
    ],
)
def test_baseline_problems(db, args, message):
    result = inspector(*args[:1], "--db", str(db), *args[1:])
    assert result.returncode != 0
    assert message in result.stdout + result.stderr


def test_a_store_without_spc(tmp_path):
    from inspector.types import Verdict
    from tests.store.helpers import write_log

    path = tmp_path / "plain.db"
    write_log(path, [Verdict.PASS])
    for command in ("baseline", "report"):
        extra = ("--out", str(tmp_path / "r.html")) if command == "report" else ()
        result = inspector(command, "--db", str(path), *extra)
        assert result.returncode == 1
        assert "no SPC monitors in this store" in result.stderr


def test_report_is_one_printable_page_with_a_chart_per_monitor(db, tmp_path):
    out = tmp_path / "report.html"
    result = inspector("report", "--db", str(db), "--out", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 2
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "Limits version 1 (phase1)" in page and "<b>open</b>" in page
    assert "<script" not in page
    again = inspector("report", "--db", str(db), "--out", str(out))
    assert again.returncode != 0 and "already exists" in again.stderr
