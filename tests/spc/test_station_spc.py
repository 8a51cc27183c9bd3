"""SPC in the real station: `inspector run` with the PLC trigger and a real Modbus TCP
client (the PLC program of `tests/plc/harness.py`).

- An alarm sets SPC_ALARM and SPC_RULE_MASK in the registers the PLC reads; the PLC's
  SPC_ACK clears them.
- kill -9 mid-subgroup: after the restart the subgroup is finished with the parts it
  had (one from before the kill), and the stored subgroups are exactly the ones the log
  alone gives: no point lost, none counted twice. Alarms left open survive the restart
  and are shown to the PLC again.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import yaml

from inspector.plc.registers import Control, SpcRule, Status
from inspector.store.db import open_readonly
from tests.camera.media import write_folder
from tests.conftest import shipped_model
from tests.plc.harness import PlcProgram, free_port
from tests.spc.test_monitor import offline_subgroups, stored_subgroups
from tests.test_durability import connect, one_part, start_station

SUBGROUP = 3


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
        "spc": {
            "enabled": True,
            "subgroup_size": SUBGROUP,
            "default_monitors": False,
            "monitors": [
                {"name": "fails", "measure": "fail_fraction"},
                # a standard no image can meet (brightness is at most 255): every
                # subgroup is an alarm, whatever the frames show
                {"name": "light", "measure": "brightness", "chart": "imr", "center": 1000,
                 "sigma": 1},
            ],
        },
    }  # fmt: skip
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def parts(plc: PlcProgram, first_id: int, count: int) -> None:
    for trigger_id in range(first_id, first_id + count):
        one_part(plc, trigger_id)
        plc.acknowledge()


def kill(station: subprocess.Popen) -> None:
    os.kill(station.pid, signal.SIGKILL)
    assert station.wait(timeout=10) == -signal.SIGKILL


def run_station(config: Path, port: int, script) -> None:
    """Start the station, run `script(plc)` against it, kill -9 it."""
    station = start_station(config)
    plc = None
    try:
        plc = connect(port, station)
        script(plc)
        kill(station)
    finally:
        if plc is not None:
            plc.close()
        if station.poll() is None:
            station.kill()
            station.wait(timeout=10)
        station.stderr.close()


BEYOND = int(SpcRule.BEYOND_LIMITS)


def first_start(plc: PlcProgram) -> None:
    parts(plc, 1, SUBGROUP)  # subgroup 1: the light monitor's alarm
    block = plc.wait_status(Status.SPC_ALARM, timeout=5)
    assert block.spc_rule_mask == BEYOND
    parts(plc, 10, 1)  # one part of subgroup 2, then the kill


def second_start(plc: PlcProgram) -> None:
    block = plc.wait_status(Status.SPC_ALARM, timeout=10)  # still open: shown again
    assert block.spc_rule_mask == BEYOND
    plc.raise_bits(Control.SPC_ACK)
    block = plc.wait_status(Status.READY, Status.SPC_ALARM, timeout=5)
    assert block.spc_rule_mask == 0
    plc.drop_bits(Control.SPC_ACK)
    parts(plc, 20, SUBGROUP - 1)  # completes subgroup 2 with the part from before
    plc.wait_status(Status.SPC_ALARM, timeout=5)


def test_alarm_reaches_the_plc_and_survives_kill_9_mid_subgroup(tmp_path: Path):
    port = free_port()
    config = station_yaml(tmp_path, port)
    run_station(config, port, first_start)
    run_station(config, port, second_start)
    conn = open_readonly(tmp_path / "log.db")
    try:
        subgroups = stored_subgroups(conn)
        assert len(subgroups) == 2
        assert subgroups == offline_subgroups(conn, 0, SUBGROUP)
        runs = conn.execute(
            "SELECT DISTINCT run_id FROM inspections WHERE id BETWEEN ? AND ?", subgroups[1]
        ).fetchall()
        assert len(runs) == 2  # subgroup 2 spans the kill
        for monitor in ("fails", "light"):
            points = conn.execute(
                "SELECT subgroup_id FROM spc_points WHERE monitor = ? ORDER BY subgroup_id",
                (monitor,),
            ).fetchall()
            assert [tuple(p) for p in points] == [(1,), (2,)]
        alarms = conn.execute("SELECT subgroup_id, acked_by FROM spc_alarms ORDER BY id")
        # subgroup 2 may add the moving range's alarm to the value's
        assert [tuple(a) for a in alarms][:2] == [(1, "plc"), (2, None)]
    finally:
        conn.close()
