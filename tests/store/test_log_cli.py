"""`inspector log tail`, `export` and `migrate`, run as the operator runs them."""

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

from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.schema import SCHEMA_VERSION
from inspector.types import Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection
from tests.store.helpers import copy_v1_store, read_table, write_log

PASS, FAIL, NO_DECISION = Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION
T0 = 1_700_000_000.0


ROOT = Path(__file__).resolve().parents[2]


def inspector(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout, from any folder
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=env,
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
        (["log", "migrate", "--db", "{tmp}/missing.db"], 1, "missing.db: inspection log not found"),
        (["log", "migrate", "--db", "{tmp}/junk.db"], 1, "junk.db: not an SQLite database"),
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


@pytest.mark.parametrize(
    ("layout", "seqs", "message"),
    [
        ("station.yaml", [5, 6], None),  # its storage.database, as `run` would use it
        ("inspections.db", [1, 2], None),
        (
            "station.yaml, no log",
            None,
            "no inspection log found: tried logs/parts.db (storage.database of station.yaml); "
            "point at it with --db PATH or --config station.yaml",
        ),
        (
            "nothing",
            None,
            "no inspection log found: tried station.yaml (none), inspections.db; "
            "point at it with --db PATH or --config station.yaml",
        ),
    ],
)
def test_tail_finds_the_log_as_run_does(station: Path, tmp_path: Path, layout, seqs, message):
    folder = tmp_path / "here"
    folder.mkdir()
    if layout.startswith("station.yaml"):
        (folder / "station.yaml").write_text((station / "station.yaml").read_text())
        if layout == "station.yaml":
            (folder / "logs").symlink_to(station / "logs")
    elif layout == "inspections.db":
        write_log(folder / "inspections.db", [PASS, FAIL])
    result = inspector("log", "tail", "--json", "-n", "2", cwd=folder)
    if message is None:
        assert result.returncode == 0, result.stderr
        assert [row["seq"] for row in json_lines(result.stdout)] == seqs
        return
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {message}"


def test_migrate_upgrades_an_old_log_once(tmp_path: Path):
    db = copy_v1_store(tmp_path)
    first = inspector("log", "migrate", "--db", str(db))
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"{db}: schema version 1 -> {SCHEMA_VERSION}"
    assert len(read_table(db, "images")) == 1  # images/ beside the log, as by default
    again = inspector("log", "migrate", cwd=tmp_path)  # found as ./inspections.db
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == (
        f"inspections.db: schema version {SCHEMA_VERSION}, already current"
    )


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
        with open_store(db) as store:
            writer = InspectionWriter(store.connect(), CLASS_NAMES)
            for seq in (3, 4):
                writer.commit(make_inspection(seq, NO_DECISION))
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
