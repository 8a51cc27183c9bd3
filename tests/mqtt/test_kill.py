"""The station daemon (`inspector run`, a real process) SIGKILLed mid-run and started
again: every result in its log reaches the subscriber, the last will says offline when
it dies, and the status is online again after the restart."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import yaml

from tests.camera.media import write_folder
from tests.conftest import ROOT, shipped_model
from tests.mqtt.broker import wait_for

FRAMES = 60  # at 20 fps: 3 s of parts per run


def station_yaml(folder: Path, port: int) -> Path:
    doc = {
        "station": {"name": "station-1", "line": "line-1"},
        "camera": {
            "kind": "folder",
            "path": str(write_folder(folder / "frames", FRAMES)),
            "fps": 20,
            "pace": "realtime",
        },
        "trigger": {"kind": "line"},
        "model": {"path": str(shipped_model("magnetic-tile"))},
        "judge": {"min_confidence": 0.5},
        "storage": {"database": "log/inspections.db", "images_dir": "log/images"},
        "sinks": [
            {
                "kind": "mqtt",
                "host": "127.0.0.1",
                "port": port,
                "keepalive_s": 5,
                "reconnect": {"initial_s": 0.1, "max_s": 0.5},
            }
        ],
    }
    path = folder / "station.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def run_station(config: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "inspector", "run", "--config", str(config), "--quiet"]
    return subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)


def logged_parts(db: Path) -> list[tuple[str, int]]:
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    try:
        return conn.execute("SELECT run_id, seq FROM inspections ORDER BY id").fetchall()
    except sqlite3.Error:
        return []
    finally:
        conn.close()


def test_sigkill_and_restart_lose_no_result(tmp_path: Path, brokers, subscribers):
    broker = brokers()
    subscriber = subscribers(broker)
    config = station_yaml(tmp_path, broker.port)
    db = tmp_path / "log" / "inspections.db"

    first = run_station(config)
    try:
        wait_for(lambda: len(logged_parts(db)) > 15, 120, "15 parts in the log")
        wait_for(lambda: subscriber.on("result"), 10, "the first results")
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
        first.stderr.close()  # type: ignore[union-attr]

    def last_status() -> dict:
        return subscriber.docs("status")[-1] if subscriber.on("status") else {}

    wait_for(lambda: last_status().get("reason") == "connection lost", 10, "the last will")
    assert last_status()["status"] == "offline"
    seen_before_restart = len(subscriber.on("status"))

    second = run_station(config)
    try:
        assert second.wait(timeout=180) == 0, second.stderr.read()  # type: ignore[union-attr]
    finally:
        if second.poll() is None:
            second.kill()
        second.stderr.close()  # type: ignore[union-attr]

    parts = logged_parts(db)
    assert len({run for run, _ in parts}) == 2 and len(parts) > FRAMES
    wait_for(lambda: len(subscriber.results()) == len(parts), 20, "every logged result")
    results = subscriber.results()
    assert [(doc["run_id"], doc["seq"]) for doc in results] == parts  # in log order
    assert [doc["msg_seq"] for doc in results] == list(range(1, len(parts) + 1))
    after = subscriber.docs("status")[seen_before_restart:]
    assert any(doc["status"] == "online" for doc in after)  # online again after the restart
    wait_for(lambda: last_status().get("reason") == "stopped", 10, "offline on a clean stop")
