"""The many-stations script at a small scale: distinct stations into one real
Mosquitto, every msg_seq of every station received once (docs/scaling.md has the
figures at 20 stations x 1000 parts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mqtt.broker import mosquitto_binary

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("stations", "parts"), [(3, 50)])
def test_every_station_every_result_once(stations: int, parts: int):
    mosquitto_binary()  # skips (or fails on CI) without Mosquitto
    command = ["-m", "tests.mqtt.scale", "--stations", str(stations), "--parts", str(parts)]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    expected = stations * parts
    assert (figures["expected"], figures["received"]) == (expected, expected)
    assert (figures["missing"], figures["duplicated"]) == (0, 0)
