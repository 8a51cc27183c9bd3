"""`inspector log tail` and `inspector log export`, run as the operator runs them."""

from __future__ import annotations

import csv
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspector.sinks.store import InspectionLog, open_log
from inspector.types import Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection, write_log

PASS, FAIL, NO_DECISION = Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION
T0 = 1_700_000_000.0


def inspector(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def station(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A station folder: station.yaml naming logs/parts.db, and that log with 6 parts."""
    folder = tmp_path_factory.mktemp("station")
    write_log(
        folder / "logs" / "parts.db", [PASS, FAIL, NO_DECISION] * 2, [T0 + k for k in range(6)]
    )
    (folder / "station.yaml").write_text(
        "camera: {kind: folder, path: frames}\n"
        "trigger: {kind: manual}\n"
        "model: {path: model.onnx}\n"
        "storage: {database: logs/parts.db}\n"
    )
    return folder


def json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.mark.parametrize(
    ("where", "args", "seqs"),
    [
        ("--db", ["-n", "2"], [5, 6]),
        ("--config", ["-n", "3"], [4, 5, 6]),
        ("--db", [], [1, 2, 3, 4, 5, 6]),
        ("--db", ["--lines", "0"], []),
    ],
)
def test_tail_json(station: Path, where: str, args: list[str], seqs: list[int]):
    target = station / ("logs/parts.db" if where == "--db" else "station.yaml")
    result = inspector("log", "tail", where, str(target), "--json", *args)
    assert result.returncode == 0, result.stderr
    rows = json_lines(result.stdout)
    assert [row["seq"] for row in rows] == seqs
    assert all(row["verdict"] == ["NO_DECISION", "PASS", "FAIL"][row["seq"] % 3] for row in rows)


def test_tail_table(station: Path):
    result = inspector("log", "tail", "--db", str(station / "logs" / "parts.db"), "-n", "3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "time",
        "seq",
        "verdict",
        "code",
        "defects",
        "max",
        "score",
        "latency",
        "ms",
    ]
    assert [line.split()[2:7] for line in lines[1:]] == [
        ["4", "PASS", "0", "0", "0.200"],
        ["5", "FAIL", "1", "2", "0.900"],
        ["6", "NO_DECISION", "65535", "0", "0.000"],
    ]
    assert all(line.split()[-1] == "14.0" for line in lines[1:])


def test_export_csv_then_refuse_to_overwrite(station: Path, tmp_path: Path):
    out = tmp_path / "parts.csv"
    db = str(station / "logs" / "parts.db")
    first = inspector("log", "export", "--csv", str(out), "--db", db, "--since", str(T0 + 3))
    assert first.returncode == 0, first.stderr
    assert "4 inspections" not in first.stdout and "3 inspections" in first.stdout
    with out.open(newline="") as handle:
        assert [int(row["seq"]) for row in csv.DictReader(handle)] == [4, 5, 6]

    again = inspector("log", "export", "--csv", str(out), "--db", db)
    assert again.returncode == 1
    assert "parts.csv: already exists (use --force)" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    assert "Traceback" not in again.stderr

    forced = inspector("log", "export", "--csv", str(out), "--db", db, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "6 inspections" in forced.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["log", "tail", "--db", "{tmp}/missing.db"], 1, "missing.db: inspection log not found"),
        (
            ["log", "export", "--csv", "{tmp}/o.csv", "--db", "{tmp}/missing.db"],
            1,
            "missing.db: inspection log not found",
        ),
        (["log", "tail", "--db", "{tmp}/junk.db"], 1, "junk.db: not an SQLite database"),
        (
            ["log", "export", "--csv", "{tmp}/o.csv", "--db", "{tmp}/junk.db", "--since", "soon"],
            2,
            "--since 'soon': expected an ISO 8601 time or unix seconds",
        ),
        (
            ["log", "tail", "--db", "{tmp}/junk.db", "--config", "{tmp}/s.yaml"],
            2,
            "--db and --config both name the inspection log",
        ),
        (["log", "tail", "--config", "{tmp}/s.yaml"], 2, "s.yaml: config file not found"),
    ],
)
def test_one_line_errors(tmp_path: Path, args: list[str], code: int, message: str):
    (tmp_path / "junk.db").write_text("not a database at all\n" * 100)
    result = inspector(*(a.format(tmp=tmp_path) for a in args))
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "missing.db").exists()
    assert not (tmp_path / "o.csv").exists()


def read_lines(stream, count: int, timeout_s: float = 60.0) -> list[str]:
    """`count` lines from a pipe, failing (not hanging) if they do not come in time."""
    buffer = b""
    deadline = time.monotonic() + timeout_s
    while buffer.count(b"\n") < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([stream], [], [], remaining)[0]:
            pytest.fail(f"expected {count} lines, got {buffer!r}")
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            pytest.fail(f"stream closed after {buffer!r}")
        buffer += chunk
    return buffer.decode().splitlines()


def _ctrl_c_as_in_a_terminal() -> None:
    # a test run started as a background job ignores SIGINT, and children inherit that
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_tail_follow_prints_new_rows_and_ctrl_c_ends_it(tmp_path: Path):
    db = tmp_path / "inspections.db"
    write_log(db, [PASS, FAIL])
    command = [sys.executable, "-m", "inspector", "log", "tail", "--db", str(db), "-n", "1"]
    follower = subprocess.Popen(
        [*command, "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_ctrl_c_as_in_a_terminal,
    )
    try:
        assert [json.loads(line)["seq"] for line in read_lines(follower.stdout, 1)] == [2]
        sink = InspectionLog(open_log(db), None, CLASS_NAMES, 0.0)
        for seq in (3, 4):
            sink.handle(make_inspection(seq, NO_DECISION))
        sink.close()
        lines = read_lines(follower.stdout, 2)
        assert [json.loads(line)["seq"] for line in lines] == [3, 4]
        follower.send_signal(signal.SIGINT)
        assert follower.wait(timeout=30) == 0
        assert b"Traceback" not in follower.stderr.read()
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait(timeout=30)
        follower.stdout.close()
        follower.stderr.close()
