"""Home Assistant discovery and the `summary` topic against a real Mosquitto: retained
configs whose entities read fields the summary has, from the topics the station
publishes, and a summary (valid against summary.v1) that follows the parts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from inspector.mqtt.payloads import load_schema
from inspector.types import Verdict
from tests.mqtt.broker import BASE, Rig, wait_for

NODE = "inspector_line-1_station-1"
SUMMARY_FIELDS = set(load_schema("summary")["properties"])

# (config topic, its entity's extra fields)
ENTITIES = [
    (f"homeassistant/sensor/{NODE}/state/config", {}),
    (f"homeassistant/sensor/{NODE}/last_verdict/config", {}),
    (f"homeassistant/sensor/{NODE}/parts/config", {"state_class": "total_increasing"}),
    (f"homeassistant/sensor/{NODE}/fails/config", {"state_class": "total_increasing"}),
    (f"homeassistant/binary_sensor/{NODE}/spc_alarm/config", {"device_class": "problem"}),
]


@pytest.fixture
def station(tmp_path: Path, brokers, subscribers):
    broker = brokers()
    subscriber = subscribers(broker, "#")
    made: list[Rig] = []

    def make(**doc) -> Rig:
        rig = Rig(tmp_path / "station", {"host": "127.0.0.1", "port": broker.port} | doc)
        made.append(rig)
        return rig

    yield broker, subscriber, make, subscribers
    for rig in made:
        rig.close()


def parts(subscriber) -> int | None:
    """The part count of the newest summary; None before the first."""
    docs = subscriber.docs("summary")
    return docs[-1]["parts"] if docs else None


def configs(subscriber) -> dict[str, dict]:
    return {
        m.topic: json.loads(m.payload)
        for m in subscriber.messages
        if m.topic.startswith("homeassistant/")
    }


@pytest.mark.parametrize(("topic", "extra"), ENTITIES)
def test_discovery_points_each_entity_at_the_summary(station, topic, extra):
    _, subscriber, make, _ = station
    make(home_assistant=True)
    wait_for(lambda: topic in configs(subscriber), 10, topic)
    doc = configs(subscriber)[topic]
    assert doc["state_topic"] == f"{BASE}/summary"
    assert doc["availability_topic"] == f"{BASE}/status"
    assert (doc["payload_available"], doc["payload_not_available"]) == ("online", "offline")
    assert doc["unique_id"] == f"{NODE}_{topic.split('/')[3]}"
    assert doc["device"]["identifiers"] == [NODE]
    assert set(re.findall(r"value_json\.(\w+)", doc["value_template"])) <= SUMMARY_FIELDS
    assert extra.items() <= doc.items()


def test_no_discovery_unless_asked(station):
    _, subscriber, make, _ = station
    make()
    wait_for(lambda: subscriber.on("summary"), 10, "the summary")
    assert not configs(subscriber)


def test_the_summary_follows_the_parts(station):
    broker, subscriber, make, subscribers = station
    rig = make(home_assistant=True)
    wait_for(lambda: subscriber.on("summary"), 10, "the first summary")
    first = subscriber.docs("summary")[0]
    assert (first["parts"], first["fails"], first["last_verdict"]) == (0, 0, None)
    for verdict in (Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION):
        rig.part(verdict)
    wait_for(lambda: parts(subscriber) == 3, 10, "3 parts counted")
    last = subscriber.docs("summary")[-1]
    assert (last["fails"], last["no_decision"], last["last_verdict"]) == (2, 1, "NO_DECISION")
    assert (last["state"], last["last_seq"], last["last_part_serial"]) == ("ready", 3, "SN00003")
    late = subscribers(broker, f"{BASE}/summary")  # a dashboard opened later
    wait_for(lambda: late.on("summary"), 5, "the retained summary")
    assert late.on("summary")[0].retain and late.docs("summary")[0]["parts"] == 3


def test_counters_cover_the_whole_log_after_a_restart(station):
    _, subscriber, make, _ = station
    rig = make()
    for verdict in (Verdict.FAIL, Verdict.PASS):
        rig.part(verdict)
    wait_for(lambda: parts(subscriber) == 2, 10, "2 parts")
    rig.close()
    rig = make()  # the same store: counted again from the log at open
    rig.part(Verdict.PASS)
    wait_for(lambda: parts(subscriber) == 3, 10, "3 parts after restart")
    assert subscriber.docs("summary")[-1]["fails"] == 1
