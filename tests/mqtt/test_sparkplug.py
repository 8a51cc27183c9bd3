"""Sparkplug B against a real Mosquitto, decoded with the official schema (Eclipse
Tahu's sparkplug_b.proto, carried beside this test): NBIRTH with bdSeq, DBIRTH and
DDATA of the camera with seq numbering, a rebirth on NCMD, NDEATH on stop and as the
last will."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from inspector.types import Verdict
from tests.mqtt.broker import LINE, STATION, Rig, wait_for
from tests.mqtt.protoparse import message_classes

PAYLOAD = message_classes(Path(__file__).with_name("sparkplug_b.proto"))["Payload"]
NODE = f"spBv1.0/{LINE}"


def decode(message) -> tuple[int | None, dict[str, object]]:
    """(seq, {metric name: value}) of a Sparkplug B payload, by the official schema."""
    payload = PAYLOAD()
    payload.ParseFromString(message.payload)
    values = {}
    for metric in payload.metrics:
        field = metric.WhichOneof("value")
        values[metric.name] = None if metric.is_null else getattr(metric, field)
    return (payload.seq if payload.HasField("seq") else None), values


def on(subscriber, kind: str) -> list:
    return [m for m in subscriber.messages if f"/{kind}/" in m.topic]


@pytest.fixture
def node(tmp_path: Path, brokers, subscribers):
    broker = brokers()
    subscriber = subscribers(broker, "spBv1.0/#")
    doc = {"host": "127.0.0.1", "port": broker.port, "sparkplug": {"enabled": True}}
    rig = Rig(tmp_path / "station", doc)
    yield broker, subscriber, rig
    rig.close()


# (metric, value after the parts PASS, FAIL, NO_DECISION)
DDATA = [
    ("Inspection/Seq", 3),
    ("Inspection/Verdict", "NO_DECISION"),
    ("Inspection/Result Code", 0xFFFF),
    ("Inspection/Part Serial", "SN00003"),
    ("Counters/Parts", 3),
    ("Counters/Fails", 2),
]


def test_birth_data_rebirth_and_death(node):
    broker, subscriber, rig = node
    wait_for(lambda: on(subscriber, "DBIRTH"), 10, "NBIRTH and DBIRTH")
    nbirth, dbirth = on(subscriber, "NBIRTH")[0], on(subscriber, "DBIRTH")[0]
    assert nbirth.topic == f"{NODE}/NBIRTH/{STATION}"
    assert dbirth.topic == f"{NODE}/DBIRTH/{STATION}/camera"
    seq, metrics = decode(nbirth)
    assert (seq, metrics["bdSeq"], metrics["Node Control/Rebirth"]) == (0, 0, False)
    seq, metrics = decode(dbirth)
    assert (seq, metrics["Inspection/Verdict"], metrics["Counters/Parts"]) == (1, None, 0)

    for verdict in (Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION):
        rig.part(verdict)
    wait_for(lambda: len(on(subscriber, "DDATA")) == 3, 10, "three DDATA")
    decoded = [decode(m) for m in on(subscriber, "DDATA")]
    assert [seq for seq, _ in decoded] == [2, 3, 4]
    last = decoded[-1][1]
    assert [(name, last[name]) for name, _ in DDATA] == DDATA
    assert decoded[1][1]["Inspection/Verdict"] == "FAIL"

    rebirth(broker.port)
    wait_for(lambda: len(on(subscriber, "DBIRTH")) == 2, 10, "the rebirth")
    seq, metrics = decode(on(subscriber, "NBIRTH")[1])
    assert (seq, metrics["bdSeq"]) == (0, 0)  # same connection, same bdSeq
    seq, metrics = decode(on(subscriber, "DBIRTH")[1])
    assert (seq, metrics["Counters/Parts"]) == (1, 3)

    rig.close()  # a clean stop says NDEATH itself
    wait_for(lambda: on(subscriber, "NDEATH"), 10, "NDEATH")
    seq, metrics = decode(on(subscriber, "NDEATH")[0])
    assert (seq, metrics) == (None, {"bdSeq": 0})


def rebirth(port: int, metric: str = "Node Control/Rebirth") -> None:
    """A host application's NCMD, encoded with the official schema."""
    payload = PAYLOAD(timestamp=1)
    command = payload.metrics.add(name=metric, datatype=11)
    command.boolean_value = True
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-host")
    client.connect("127.0.0.1", port)
    client.loop_start()
    client.publish(f"{NODE}/NCMD/{STATION}", payload.SerializeToString(), qos=1).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


STATION_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tests.mqtt.broker import Rig
    rig = Rig(Path(sys.argv[1]), {"host": "127.0.0.1", "port": int(sys.argv[2]),
              "sparkplug": {"enabled": True}})
    print("up", flush=True)
    time.sleep(60)
    """
)


def start_station(folder: Path, port: int) -> subprocess.Popen:
    root = Path(__file__).parents[2]
    return subprocess.Popen(
        [sys.executable, "-c", STATION_SCRIPT, str(folder), str(port)],
        stdout=subprocess.DEVNULL,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )


def test_ndeath_is_the_last_will_and_a_restart_takes_the_next_bdseq(
    tmp_path: Path, brokers, subscribers
):
    broker = brokers()
    subscriber = subscribers(broker, "spBv1.0/#")
    folder = tmp_path / "station"
    for run in (1, 2):  # killed twice, on the same store
        station = start_station(folder, broker.port)
        try:
            wait_for(lambda n=run: len(on(subscriber, "DBIRTH")) == n, 20, "the station's births")
            station.send_signal(signal.SIGKILL)
            station.wait(10)
            wait_for(lambda n=run: len(on(subscriber, "NDEATH")) == n, 10, "NDEATH from the broker")
        finally:
            station.kill()
            station.wait()
    births = [decode(m)[1]["bdSeq"] for m in on(subscriber, "NBIRTH")]
    deaths = [decode(m)[1] for m in on(subscriber, "NDEATH")]
    assert births == [0, 1]
    assert deaths == [{"bdSeq": 0}, {"bdSeq": 1}]
