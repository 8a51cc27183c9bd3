"""The MQTT sink against a real Mosquitto and a real subscriber: every result arrives,
in order, valid against its schema, through broker outages and refusals; inspection
never waits for any of it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from inspector.types import EventKind, Severity, Verdict
from tests.mqtt.broker import BASE, Rig, wait_for


@pytest.fixture
def rigs(tmp_path: Path):
    made: list[Rig] = []

    def make(**sink_doc) -> Rig:
        doc = {"reconnect": {"initial_s": 0.05, "max_s": 0.2}, "drain_s": 1.0} | sink_doc
        rig = Rig(tmp_path / f"station-{len(made)}", doc)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


def check_sequence(results: list[dict], count: int) -> None:
    """`count` results, msg_seq 1..count in order: nothing lost, nothing reordered."""
    assert [doc["msg_seq"] for doc in results] == list(range(1, count + 1))
    assert [doc["seq"] for doc in results] == list(range(1, count + 1))


def test_results_events_and_status_arrive_valid_and_in_order(brokers, subscribers, rigs):
    broker = brokers()
    subscriber = subscribers(broker)
    rig = rigs(host="127.0.0.1", port=broker.port)
    verdicts = [Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION] * 4
    for verdict in verdicts:
        rig.part(verdict)
    wait_for(lambda: len(subscriber.results()) == len(verdicts), 10, "12 results")
    results = subscriber.results()
    check_sequence(results, len(verdicts))
    assert [doc["verdict"] for doc in results] == [v.value for v in verdicts]
    fail = results[1]
    assert fail["defects"][0] == {
        "class": "crack",
        "class_id": 0,
        "score": 0.9,
        "box": [10, 20, 30, 40],
    }
    assert fail["latency_ms"] == {
        "total": 14.0,
        "capture": 2.0,
        "queue": 1.0,
        "detect": 10.0,
        "judge": 1.0,
    }
    assert fail["part_serial"] == "SN00002" and fail["calibration_id"] is None
    assert {m.topic for m in subscriber.on("result")} == {f"{BASE}/result"}

    wait_for(lambda: subscriber.docs("status"), 5, "the status")
    wait_for(lambda: subscriber.docs("status")[-1]["state"] == "ready", 5, "status ready")
    assert {doc["status"] for doc in subscriber.docs("status")} == {"online"}
    wait_for(lambda: len(subscriber.docs("event")) >= 2, 5, "the events")
    kinds = [doc["kind"] for doc in subscriber.docs("event")]
    assert set(kinds) == {"state", "link_up"}
    wait_for(lambda: rig.outbox_rows() == 0, 5, "every acknowledged row deleted")


def test_the_station_starts_while_the_broker_is_down_and_delivers_when_it_comes(
    brokers, subscribers, rigs
):
    broker = brokers()
    subscriber = subscribers(broker)  # its persistent session outlives the broker's restart
    broker.stop()
    rig = rigs(host="127.0.0.1", port=broker.port)
    wait_for(lambda: rig.announced(EventKind.LINK_DOWN), 5, "link_down")
    started = time.monotonic()
    for _ in range(20):
        rig.part()
    assert time.monotonic() - started < 1.0  # committing never waited for the broker
    assert not rig.sink.healthy
    time.sleep(0.5)  # several more attempts, all refused
    [down] = rig.announced(EventKind.LINK_DOWN)  # said once, not at every attempt
    assert "connection refused" in down.message and down.severity is Severity.WARNING
    broker.start()
    wait_for(lambda: len(subscriber.results()) == 20, 10, "the 20 results")
    check_sequence(subscriber.results(), 20)
    assert rig.sink.healthy and len(rig.announced(EventKind.LINK_UP)) == 1


def test_a_broker_outage_during_200_parts_loses_nothing(brokers, subscribers, rigs):
    broker = brokers()
    subscriber = subscribers(broker)
    rig = rigs(host="127.0.0.1", port=broker.port)
    worst_commit = 0.0
    for n in range(1, 201):
        if n == 50:
            broker.stop()
            stopped_at = time.monotonic()
        if n == 150:
            assert time.monotonic() - stopped_at >= 10.0
            broker.start()
        started = time.monotonic()
        rig.part(Verdict.FAIL if n % 7 == 0 else Verdict.PASS)
        worst_commit = max(worst_commit, time.monotonic() - started)
        time.sleep(0.1 if 50 <= n < 150 else 0.005)  # 10 s of parts while it is down
    wait_for(lambda: len(subscriber.results()) == 200, 30, "all 200 results")
    check_sequence(subscriber.results(), 200)
    assert worst_commit < 0.5  # the worker's commit never waited for the broker
    assert len(rig.announced(EventKind.LINK_DOWN)) == 1
    assert len(rig.announced(EventKind.LINK_UP)) == 2
    wait_for(lambda: rig.outbox_rows() == 0, 5, "an empty outbox")
