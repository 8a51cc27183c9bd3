"""`inspector mqtt tail` and `inspector demo --mqtt`, as a person runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.mqtt.tail import format_message
from inspector.types import Verdict
from tests.conftest import ROOT
from tests.mqtt.broker import Message, Rig, validate, wait_for


def inspector(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def published(tmp_path: Path, port: int) -> None:
    """A station that has published its status and three results (retained status)."""
    rig = Rig(tmp_path / "station", {"host": "127.0.0.1", "port": port})
    try:
        for verdict in (Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION):
            rig.part(verdict)
        wait_for(lambda: rig.outbox_rows() == 0, 10, "the station's messages delivered")
    finally:
        rig.close()


def test_tail_prints_what_a_station_publishes(tmp_path: Path, brokers):
    broker = brokers()
    tail = subprocess.Popen(
        [sys.executable, "-m", "inspector", "mqtt", "tail", "--broker",
         f"127.0.0.1:{broker.port}", "--timeout", "30", "--count", "9"],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    # 9 arrive whatever the timing: status online, summary, spc, the state and link_up
    # events, 3 results, status offline
    try:
        wait_for(lambda: _subscribed(broker), 20, "tail's subscription")
        published(tmp_path, broker.port)
        out, err = tail.communicate(timeout=30)
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.communicate()
    assert tail.returncode == 0, err
    lines = out.splitlines()
    assert "line-1/station-1 status online" in lines[0] or "line-1/station-1 event" in lines[0]
    results = [line for line in lines if " result #" in line]
    assert results and results[0].startswith("line-1/station-1 result #1 ")
    assert "PASS" in results[0] and "part SN00001" in results[0]


def _subscribed(broker) -> bool:
    """Mosquitto logs each subscription as '<client id> <qos> <filter>'."""
    return any(
        "inspector-tail-" in line and line.endswith(" inspector/#")
        for line in broker.log_text().splitlines()
    )


def test_tail_json_prints_the_raw_payloads(tmp_path: Path, brokers):
    broker = brokers()
    published(tmp_path, broker.port)  # the retained status is there for tail at once
    result = inspector(
        "mqtt", "tail", "--broker", f"127.0.0.1:{broker.port}", "--json", "--count", "1"
    )
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    doc = validate(Message("inspector/line-1/station-1/status", line.encode(), True))
    assert doc["status"] == "offline" and doc["reason"] == "stopped"


def test_tail_names_a_bad_prefix():
    result = inspector("mqtt", "tail", "--prefix", "plant/#", "--count", "1")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: --prefix: '#' is a wildcard; not allowed in a topic level ('#')"
    )


def test_demo_publishes_under_the_default_prefix(tmp_path: Path, brokers, subscribers):
    broker = brokers()
    subscriber = subscribers(broker)
    result = inspector(
        "demo", "--fast", "--parts", "3", "--json", "--no-window",
        "--log-dir", str(tmp_path), "--mqtt", f"127.0.0.1:{broker.port}", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = [json.loads(line) for line in result.stdout.splitlines()][:-1]
    wait_for(lambda: len(subscriber.results()) >= 3, 10, "the demo's results")
    results = subscriber.results()
    assert {m.topic for m in subscriber.on("result")} == {"inspector/demo-line/demo/result"}
    assert [doc["verdict"] for doc in results[:3]] == [doc["verdict"] for doc in printed[:3]]
    assert subscriber.docs("status")[-1]["status"] == "offline"  # a clean stop says so


@pytest.mark.parametrize(
    ("topic", "doc", "line"),
    [
        (
            "inspector/line-1/station-1/summary",
            dict(state="ready", parts=3, fails=2, last_verdict="FAIL", spc_active_mask=0),
            "line-1/station-1 summary ready    parts 3  fails 2  last FAIL  spc mask 0",
        ),
        (
            "inspector/line-1/station-1/spc",
            {
                "monitors": [{"limits": None}, {"limits": {"version": 1}}],
                "alarms": [{"monitor": "fails", "rule": "we1"}],
                "alarms_truncated": 0,
                "active_mask": 1,
            },
            "line-1/station-1 spc     2 monitors (1 with limits)  1 open alarm(s): fails:we1  "
            "mask 1",
        ),
        (
            "inspector/line-1/station-1/spc",
            {"monitors": []},  # not an spc.v1 payload: shown as it came
            'inspector/line-1/station-1/spc {"monitors": []}',
        ),
    ],
)
def test_tail_formats_the_state_topics(topic, doc, line):
    assert format_message(topic, json.dumps(doc).encode()) == line
