"""A broker that refuses the station: wrong credentials, a certificate one side does
not accept, a message over its size limit, an outbox over its bounds. Each gives one
clear log line and an event, and inspection goes on committing parts."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from inspector.types import Detections, EventKind, Severity, Verdict
from tests.mqtt.broker import (
    Certificates,
    Rig,
    make_certificates,
    password_file,
    wait_for,
)

USER, PASSWORD = "station-1", "right horse battery"


@pytest.fixture
def rigs(tmp_path: Path):
    made: list[Rig] = []

    def make(**sink_doc) -> Rig:
        doc = {"reconnect": {"initial_s": 0.05, "max_s": 0.2}, "drain_s": 0.5} | sink_doc
        rig = Rig(tmp_path / f"station-{len(made)}", doc)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.close()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("pki"))


def station_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "mqtt: broker" in r.getMessage()]


@pytest.fixture
def tls_broker(tmp_path, brokers, certificates, monkeypatch):
    """A broker that wants TLS with a client certificate, and a password; the right
    password in $MQTT_PASSWORD, a wrong one in $WRONG_PASSWORD."""
    passwords = password_file(tmp_path / "auth", USER, PASSWORD)
    monkeypatch.setenv("MQTT_PASSWORD", PASSWORD)
    monkeypatch.setenv("WRONG_PASSWORD", "wrong")
    return brokers(
        f"cafile {certificates.ca}",
        f"certfile {certificates.server_cert}",
        f"keyfile {certificates.server_key}",
        "require_certificate true",
        f"password_file {passwords}",
        "allow_anonymous false",
    )


# (id, what the station offers, the one line it logs, or None: it connects)
TLS_CASES = [
    ("right", {}, None),
    (
        "untrusted broker",
        {"tls": {"ca_file": "other-ca.crt"}},
        "TLS: the broker's certificate was not accepted (self-signed certificate in certif",
    ),
    (
        "no client certificate",
        {"tls": {"ca_file": "ca.crt"}},
        "TLS: the broker ended the connection",  # with the alert, when it arrives first
    ),
    ("wrong password", {"password_env": "WRONG_PASSWORD"}, "refused the connection: "),
]


@pytest.mark.parametrize(("name", "change", "line"), TLS_CASES, ids=[c[0] for c in TLS_CASES])
def test_tls_and_credentials(tls_broker, certificates, rigs, caplog, name, change, line):
    caplog.set_level(logging.INFO)
    tls = {
        "ca_file": str(certificates.ca),
        "cert_file": str(certificates.client_cert),
        "key_file": str(certificates.client_key),
    }
    if "tls" in change:
        tls = {"ca_file": str(certificates.ca.parent / change["tls"]["ca_file"])}
    doc = {"username": USER, "password_env": change.get("password_env", "MQTT_PASSWORD")}
    rig = rigs(host="127.0.0.1", port=tls_broker.port, tls=tls, **doc)
    if line is None:
        wait_for(lambda: rig.announced(EventKind.LINK_UP), 5, "the connection")
        for _ in range(5):
            rig.part()
        wait_for(lambda: rig.outbox_rows() == 0, 5, "every message acknowledged")
        assert rig.announced(EventKind.LINK_DOWN) == []
        return
    wait_for(lambda: rig.announced(EventKind.LINK_DOWN), 5, "the refusal")
    for _ in range(5):  # inspection goes on; the results wait in the outbox
        rig.part()
    wait_for(lambda: rig.outbox_rows() >= 5, 5, "the parts' rows")
    [down] = rig.announced(EventKind.LINK_DOWN)
    assert line in down.message
    assert down.severity is Severity.ERROR
    [logged] = station_lines(caplog)  # one line, however often it was retried
    assert line in logged
    assert rig.announced(EventKind.LINK_UP) == []


def big_defects(count: int) -> Detections:
    boxes = np.tile(np.array([[10.5, 20.5, 30.5, 40.5]], np.float32), (count, 1))
    return Detections.from_arrays(boxes, np.full(count, 0.9), np.zeros(count))


@pytest.mark.parametrize(
    ("limit", "reason"),
    [
        # MQTT 5 brokers say their limit in CONNACK: the station never sends more
        ("max_packet_size 2000", "larger than the broker's maximum packet (2000 B)"),
        # a limit Mosquitto does not announce: it refuses the message in a way paho
        # takes for a protocol error, closing the connection each time it is sent
        ("message_size_limit 2000", "the broker closed the connection each time"),
    ],
)
def test_a_message_over_the_brokers_limit_is_dropped_and_announced(
    brokers, subscribers, rigs, caplog, limit, reason
):
    broker = brokers(limit)
    subscriber = subscribers(broker)
    rig = rigs(host="127.0.0.1", port=broker.port)
    rig.part()
    rig.part(Verdict.FAIL, big_defects(60))  # about 5 kB of defects
    rig.part()
    wait_for(lambda: rig.announced(EventKind.MESSAGES_DROPPED), 15, "the drop")
    [dropped] = rig.announced(EventKind.MESSAGES_DROPPED)
    assert reason in dropped.message
    assert dict(dropped.detail) | {"reason": ""} == {
        "sink": "mqtt",
        "stream": "result",
        "dropped": 1,
        "first_msg_seq": 2,
        "last_msg_seq": 2,
        "reason": "",
    }
    wait_for(lambda: len(subscriber.results()) == 2, 10, "the other results")
    assert [doc["msg_seq"] for doc in subscriber.results()] == [1, 3]
    wait_for(
        lambda: any(doc["kind"] == "messages_dropped" for doc in subscriber.docs("event")),
        10,
        "the drop event on the event topic",
    )


def test_the_station_keeps_payloads_within_its_own_limit(brokers, subscribers, rigs):
    broker = brokers()
    subscriber = subscribers(broker)
    rig = rigs(host="127.0.0.1", port=broker.port, max_payload_bytes=2000)
    rig.part(Verdict.FAIL, big_defects(60))
    wait_for(lambda: subscriber.results(), 10, "the result")
    [message] = subscriber.on("result")
    [doc] = subscriber.results()
    assert len(message.payload) <= 2000
    assert doc["defects_truncated"] == 60 - len(doc["defects"]) > 0
    assert len(doc["defects"]) > 5  # the first ones that fit


def test_an_outbox_over_its_bounds_drops_the_oldest_and_says_so(
    tmp_path, brokers, subscribers, rigs
):
    broker = brokers()
    subscriber = subscribers(broker)
    broker.stop()
    rig = rigs(host="127.0.0.1", port=broker.port, outbox={"max_rows": 10})
    for _ in range(25):
        rig.part()
    wait_for(lambda: rig.announced(EventKind.MESSAGES_DROPPED), 5, "the drop")
    wait_for(lambda: rig.outbox_rows() <= 10, 3, "the bound kept (checked every second)")
    broker.start()

    def dropped_results() -> list[int]:
        drops = [dict(e.detail) for e in rig.announced(EventKind.MESSAGES_DROPPED)]
        seqs = [
            seq
            for d in drops
            if d["stream"] == "result"
            for seq in range(int(d["first_msg_seq"]), int(d["last_msg_seq"]) + 1)
        ]
        return sorted(seqs)

    def accounted() -> bool:
        """Every result either arrived or was announced as dropped; none twice."""
        received = [doc["msg_seq"] for doc in subscriber.results()]
        return sorted(received + dropped_results()) == list(range(1, 26))

    # a drop while the parts were still being committed is announced up to 10 s later
    wait_for(accounted, 15, "every result delivered or announced")
    assert dropped_results()[0] == 1  # the oldest go first
    received = [doc["msg_seq"] for doc in subscriber.results()]
    assert received == list(range(received[0], 26))
    wait_for(
        lambda: any(doc["kind"] == "messages_dropped" for doc in subscriber.docs("event")),
        10,
        "the drop event on the event topic",
    )
