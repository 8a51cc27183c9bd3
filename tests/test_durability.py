"""A verdict the PLC has read survives a kill -9 of the station at once.

The station runs as the real daemon (`python -m inspector run`) with the PLC trigger and
its Modbus server; a real Modbus client (the PLC program of `tests/plc/harness.py`)
triggers a part, polls until RESULT_VALID, reads the TRIGGER_ID echo and INSPECTION_SEQ,
and at once SIGKILLs the station. The part's row must be in the store afterwards: the
worker commits it before the PLC result is written.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from inspector.plc.registers import Control, Status
from inspector.store.db import open_readonly
from tests.camera.media import write_folder
from tests.conftest import ROOT, shipped_model
from tests.plc.harness import PlcProgram, free_port

TRIES = 20  # parts, each followed by an immediate kill -9
PARTS_PER_START = 4  # station starts cost seconds: every start kills right after its last part


def station_yaml(tmp_path: Path, port: int) -> Path:
    doc = {
        "camera": {
            "kind": "folder",
            "path": str(write_folder(tmp_path / "frames", 10)),
            "fps": 30,
            "loop": True,
        },
        "trigger": {"kind": "plc"},
        "model": {"path": str(shipped_model("magnetic-tile"))},
        "judge": {"min_confidence": 0.5},
        "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "img")},
        "plc": {"enabled": True, "port": port, "host": "127.0.0.1"},
    }
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def start_station(config: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "inspector", "run", "--config", str(config), "--quiet"]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def connect(port: int, station: subprocess.Popen, timeout: float = 30.0) -> PlcProgram:
    end = time.monotonic() + timeout
    while True:
        if station.poll() is not None:
            pytest.fail(f"station exited early: {station.stderr.read()}")
        try:
            return PlcProgram(port)
        except AssertionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.1)


def one_part(plc: PlcProgram, trigger_id: int) -> tuple[int, int]:
    """Trigger a part, wait for its result; (TRIGGER_ID echo, INSPECTION_SEQ)."""
    plc.wait_status(Status.READY, Status.BUSY, timeout=30)
    plc.trigger(trigger_id)
    plc.wait_status(Status.TRIGGER_ACK)
    plc.drop_bits(Control.TRIGGER)
    block = plc.wait_status(Status.RESULT_VALID, timeout=10)
    return block.trigger_id_echo, block.inspection_seq


def stored(db: Path) -> set[tuple[str, int, int]]:
    conn = open_readonly(db)
    try:
        return set(conn.execute("SELECT run_id, seq, trigger_id FROM inspections").fetchall())
    finally:
        conn.close()


def test_a_result_the_plc_read_survives_kill_9(tmp_path: Path):
    port = free_port()
    config = station_yaml(tmp_path, port)
    db = tmp_path / "log.db"
    read: list[tuple[int, int]] = []  # (trigger id, seq) the PLC read, for the last start
    survived = 0
    trigger_id = 100
    for _ in range(TRIES // PARTS_PER_START):
        station = start_station(config)
        plc = None
        try:
            plc = connect(port, station)
            read = []
            for _ in range(PARTS_PER_START):
                trigger_id += 1
                echo, seq = one_part(plc, trigger_id)
                read.append((echo, seq))
                if len(read) < PARTS_PER_START:
                    plc.acknowledge()
            os.kill(station.pid, signal.SIGKILL)  # right after the last RESULT_VALID
            assert station.wait(timeout=10) == -signal.SIGKILL
        finally:
            if plc is not None:
                plc.close()
            if station.poll() is None:
                station.kill()
                station.wait(timeout=10)
            station.stderr.close()
        first = trigger_id - PARTS_PER_START + 1
        assert [echo for echo, _ in read] == list(range(first, trigger_id + 1))
        rows = stored(db)
        by_trigger = {tid: (run, seq) for run, seq, tid in rows}
        for echo, seq in read:
            assert echo in by_trigger, f"trigger {echo} read by the PLC is not in the store"
            assert by_trigger[echo][1] == seq  # the very part the PLC read
        survived += len(read)
    assert survived == TRIES
