"""`inspector config`, `run` and `demo` as a service manager and an operator use them."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.camera.media import write_folder
from tests.conftest import ROOT, shipped_model


def inspector(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=timeout
    )


def write_config(tmp_path: Path, **sections) -> Path:
    doc = {
        "camera": {
            "kind": "folder",
            "path": str(write_folder(tmp_path / "frames", 12)),
            "pace": "fast",
        },
        "trigger": {"kind": "line"},
        "model": {"path": str(shipped_model("magnetic-tile"))},
        "judge": {"min_confidence": 0.5},
        "storage": {"database": "log/inspections.db", "images_dir": "log/images"},
    } | sections
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_example_config_is_valid():
    result = inspector("config", "check", str(ROOT / "deploy" / "station.example.yaml"))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("sections", "messages"),
    [
        (
            {"camera": {"kind": "video", "path": "v.mp4", "pase": "fast"}},
            ["camera.video.pase: unknown key (misspelt?)"],
        ),
        (
            {"trigger": {"kind": "presence", "fire_at": 2}, "modle": {}},
            ["trigger.presence.fire_at", "modle: unknown key"],
        ),
        ({"model": {"path": "m.onnx", "backend": "tflite"}}, ["model.backend"]),
        ({"storage": {"images_quota_mb": "lots"}}, ["storage.images_quota_mb"]),
    ],
)
def test_config_check_names_every_bad_field(tmp_path: Path, sections, messages):
    result = inspector("config", "check", str(write_config(tmp_path, **sections)))
    assert result.returncode == 2
    for message in messages:
        assert message in result.stderr


def test_config_schema_describes_every_field():
    schema = json.loads(inspector("config", "schema").stdout)
    assert set(schema["properties"]) >= {"camera", "trigger", "model", "judge", "storage", "plc"}
    judge = schema["$defs"]["JudgeConfig"]["properties"]
    assert all("description" in field for field in judge.values())


def test_run_inspects_every_frame_then_exits_0(tmp_path: Path):
    result = inspector("run", "--config", str(write_config(tmp_path)), "--json")
    assert result.returncode == 0, result.stderr
    *lines, summary = [json.loads(line) for line in result.stdout.splitlines()]
    assert [doc["seq"] for doc in lines] == list(range(1, 13))
    assert (summary["summary"], summary["parts"]) == (True, 12)
    with sqlite3.connect(tmp_path / "log" / "inspections.db") as conn:
        assert conn.execute("SELECT count(*) FROM inspections").fetchone() == (12,)


@pytest.mark.parametrize(
    ("sections", "code", "message"),
    [
        ({"model": {"path": "missing.onnx"}}, 1, "missing.onnx: model file not found"),
        ({"camera": {"kind": "video", "path": "missing.mp4"}}, 1, "missing.mp4"),
        ({"trigger": {"kind": "laser"}}, 2, "trigger"),
    ],
)
def test_run_start_up_errors(tmp_path: Path, sections, code, message):
    result = inspector("run", "--config", str(write_config(tmp_path, **sections)))
    assert result.returncode == code
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def start_run(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "inspector", "run", "--config", str(config), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_rows(db: Path, n: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute("SELECT count(*) FROM inspections").fetchone()[0] >= n:
                        return
            except sqlite3.OperationalError:
                pass
        time.sleep(0.1)
    pytest.fail(f"{db} never reached {n} rows")


def test_sigterm_finishes_the_part_in_hand_and_flushes_the_log(tmp_path: Path):
    config = write_config(
        tmp_path,
        camera={
            "kind": "folder",
            "path": str(write_folder(tmp_path / "f", 12)),
            "fps": 20,
            "loop": True,
        },
    )
    process = start_run(config)
    db = tmp_path / "log" / "inspections.db"
    wait_for_rows(db, 5)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    *parts, summary = [json.loads(line) for line in out.splitlines()]
    assert summary["parts"] == len(parts)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM inspections").fetchone() == (len(parts),)


def test_kill_9_leaves_a_consistent_log(tmp_path: Path):
    config = write_config(
        tmp_path,
        camera={
            "kind": "folder",
            "path": str(write_folder(tmp_path / "f", 12)),
            "pace": "fast",
            "loop": True,
        },
    )
    process = start_run(config)
    db = tmp_path / "log" / "inspections.db"
    wait_for_rows(db, 20)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=30)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        seqs = [row[0] for row in conn.execute("SELECT seq FROM inspections ORDER BY id")]
        incomplete = conn.execute(
            "SELECT count(*) FROM inspections WHERE verdict IS NULL OR model_sha256 IS NULL"
        ).fetchone()[0]
    assert seqs == list(range(1, len(seqs) + 1))
    assert incomplete == 0


def test_a_video_that_stops_mid_stream_is_reported_and_exits_4(tmp_path: Path):
    from tests.camera.media import write_video

    video = write_video(tmp_path / "v.avi", "MJPG", count=40)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    config = write_config(tmp_path, camera={"kind": "video", "path": str(video), "pace": "fast"})
    result = inspector("run", "--config", str(config), "--json")
    assert result.returncode == 4, result.stderr  # the recording was damaged: never silent
    assert "Traceback" not in result.stderr
    assert "ended after" in result.stderr
    *parts, summary = [json.loads(line) for line in result.stdout.splitlines()]
    assert 5 <= len(parts) <= 40
    assert summary["source"]["problems"]


def test_plc_port_already_in_use_is_a_start_up_error(tmp_path: Path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path, trigger={"kind": "plc"}, plc={"enabled": True, "port": port}
        )
        result = inspector("run", "--config", str(config))
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
