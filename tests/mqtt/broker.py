"""Real MQTT peers for the tests: Mosquitto processes on free loopback ports, a paho
subscriber that records what arrives, certificates made with openssl, and a rig that
wires the MQTT sink beside the store sink as the station does.

- `Mosquitto`: one broker process with its own config, persistence file and log in a
  temporary folder; `stop()` (SIGTERM, persistence written) and `start()` again on the
  same port, so subscribers with a persistent session get what was published while
  they were away.
- `Subscriber`: paho (MQTT 3.1.1, persistent session, QoS 1) on `<prefix>/#`, every
  message kept in order; it reconnects by itself after a broker restart.
- `make_certificates`: a CA, a server certificate for 127.0.0.1 and a client
  certificate, and a second CA that signed nothing the broker has.
- `Rig`: store, inspection writer, store sink and MQTT sink on their runners (and the
  SPC sink, given an `spc:` section), with an `announce` that does what
  `Station._announce` does (event to every runner), so tests drive parts at the rate
  they choose.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from inspector.mqtt.config import MqttSinkConfig
from inspector.mqtt.payloads import load_schema
from inspector.registry import OpenContext
from inspector.sinks.base import SinkRunner
from inspector.sinks.mqtt import MqttSink
from inspector.spc.config import SpcConfig
from inspector.spc.monitor import SpcEngine, SpcSink, monitor_specs
from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.link import StoreLink
from inspector.store.sink import StoreSink
from inspector.types import (
    Detections,
    EventKind,
    Inspection,
    Severity,
    StationEvent,
    StationState,
    Verdict,
)
from tests.sinks.records import CLASS_NAMES, make_inspection

__all__ = [
    "Certificates",
    "Message",
    "Mosquitto",
    "Rig",
    "Subscriber",
    "free_port",
    "make_certificates",
    "mosquitto_binary",
    "password_file",
    "validate",
    "wait_for",
]

LINE, STATION = "line-1", "station-1"
BASE = f"inspector/{LINE}/{STATION}"
STATION_LOG = logging.getLogger("inspector.station")
LEVELS = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
}
VALIDATORS = {
    name: jsonschema.Draft202012Validator(load_schema(name))
    for name in ("result", "event", "status", "spc", "summary")
}


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.01)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def mosquitto_binary() -> str:
    path = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(path, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail("mosquitto is not installed (make system-deps); CI must have it")
        pytest.skip("mosquitto is not installed (make system-deps)")
    return path


def validate(message: Message) -> dict[str, Any]:
    """The payload, checked against the JSON Schema of its topic."""
    doc = json.loads(message.payload)
    VALIDATORS[message.topic.rsplit("/", 1)[1]].validate(doc)
    return doc


# ---------------------------------------------------------------- the broker


class Mosquitto:
    """A Mosquitto process on a free loopback port, configured by `lines`."""

    def __init__(self, folder: Path, lines: tuple[str, ...] = (), tls: bool = False) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.log = folder / "mosquitto.log"
        self.config.write_text(
            "\n".join(
                (
                    f"listener {self.port} 127.0.0.1",
                    # as root Mosquitto would become user mosquitto, who may not write here
                    f"user {getpass.getuser()}",
                    "persistence true",
                    f"persistence_location {folder}/",
                    "autosave_interval 0",
                    f"log_dest file {self.log}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    "log_type information",
                    "log_type subscribe",
                    *lines,
                    "",
                )
            )
        )
        if not any(line.startswith(("allow_anonymous", "password_file")) for line in lines):
            with self.config.open("a") as handle:
                handle.write("allow_anonymous true\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Mosquitto:
        self.process = subprocess.Popen(
            [mosquitto_binary(), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        end = time.monotonic() + 10
        while not self._accepting():
            if self.process.poll() is not None:
                raise AssertionError(f"mosquitto exited: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            if time.monotonic() > end:
                raise AssertionError("mosquitto did not listen within 10 s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """SIGTERM: Mosquitto writes its persistence file and exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=10)
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def _accepting(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0


# ---------------------------------------------------------------- the subscriber


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


class Subscriber:
    """A consumer with a persistent session: a broker restart loses nothing for it."""

    def __init__(self, broker: Mosquitto, topic: str = "inspector/#", **tls: Any) -> None:
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            # one id per topic filter: a second subscriber must not take over the first's
            # session, and the same one reconnecting must resume it
            client_id=f"test-subscriber-{broker.port}-{zlib.crc32(topic.encode()):08x}",
            protocol=mqtt.MQTTv311,
            clean_session=False,
        )
        if tls:
            self.client.tls_set(**tls)
        self.client.reconnect_delay_set(0.05, 0.2)  # type: ignore[arg-type]
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(5):
            raise AssertionError("subscriber: no SUBACK within 5 s")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(Message(message.topic, bytes(message.payload), message.retain))

    def on(self, kind: str) -> list[Message]:
        """What arrived on topics ending in /`kind` (result, event, status), in order."""
        with self._lock:
            return [m for m in self.messages if m.topic.endswith(f"/{kind}")]

    def docs(self, kind: str) -> list[dict[str, Any]]:
        """Payloads of `kind`, each validated against its schema."""
        return [validate(m) for m in self.on(kind)]

    def results(self) -> list[dict[str, Any]]:
        """Results de-duplicated by msg_seq, in arrival order (QoS 1 may repeat one)."""
        seen: set[int] = set()
        unique = []
        for doc in self.docs("result"):
            if doc["msg_seq"] not in seen:
                seen.add(doc["msg_seq"])
                unique.append(doc)
        return unique

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# ---------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing the broker or the station has


def _openssl(command: str, cwd: Path) -> None:
    subprocess.run(["openssl", *command.split()], cwd=cwd, check=True, capture_output=True)


def _signed(folder: Path, name: str, subject: str, ca: str, extensions: str = "") -> None:
    """A key and a certificate for `subject` (one word: no spaces), signed by `ca`."""
    _openssl(
        f"req -newkey rsa:2048 -nodes -keyout {name}.key -out {name}.csr -subj {subject}", folder
    )
    extra = ""
    if extensions:
        (folder / "ext.cnf").write_text(extensions)
        extra = " -extfile ext.cnf"
    _openssl(
        f"x509 -req -in {name}.csr -CA {ca}.crt -CAkey {ca}.key -CAcreateserial "
        f"-out {name}.crt -days 2{extra}",
        folder,
    )


def password_file(folder: Path, user: str, password: str) -> Path:
    """A Mosquitto password file (hashed by mosquitto_passwd) with one user."""
    path = folder / "passwords"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(path), user, password], check=True)
    return path


def make_certificates(folder: Path) -> Certificates:
    folder.mkdir(parents=True, exist_ok=True)
    for ca in ("ca", "other-ca"):
        _openssl(
            f"req -x509 -newkey rsa:2048 -nodes -keyout {ca}.key -out {ca}.crt -days 2 "
            f"-subj /CN=test-{ca}",
            folder,
        )
    _signed(folder, "server", "/CN=127.0.0.1", "ca", "subjectAltName=IP:127.0.0.1\n")
    _signed(folder, "client", "/CN=station-1", "ca")
    return Certificates(
        folder / "ca.crt",
        folder / "server.crt",
        folder / "server.key",
        folder / "client.crt",
        folder / "client.key",
        folder / "other-ca.crt",
    )


# ---------------------------------------------------------------- the station's side


@dataclass
class Rig:
    """The MQTT sink as the station runs it: parts committed with their outbox rows by
    the inspection writer, then handed to the runners; events announced to them."""

    folder: Path
    sink_doc: dict[str, Any]
    events: list[StationEvent] = field(default_factory=list)
    spc: SpcConfig | None = None

    def __post_init__(self) -> None:
        self.store = open_store(self.folder / "inspections.db")
        self.writer = InspectionWriter(self.store.connect(), CLASS_NAMES)
        log_sink = StoreSink(self.store.connect(), None, 0.0)
        config = MqttSinkConfig.model_validate(
            {"kind": "mqtt", **self.sink_doc}, context={"base": self.folder}
        )
        link = StoreLink(self.store, self.writer, log_sink)
        context = OpenContext(STATION, LINE, CLASS_NAMES, None, link, self.spc is not None)
        self.runners = [SinkRunner(log_sink, critical=True)]
        self.spc_sink: SpcSink | None = None
        if self.spc is not None:  # opened before the MQTT sink, as the factory does
            specs = monitor_specs(self.spc, CLASS_NAMES)
            engine = SpcEngine(
                self.store.connect(), specs, self.spc.subgroup_size, self.spc.baseline_subgroups
            )
            self.spc_sink = SpcSink(engine.open(), CLASS_NAMES)
            self.spc_sink.bind(self.announce)
            self.runners.append(SinkRunner(self.spc_sink))
        self.sink = MqttSink.open(config, context)
        self.runners.append(SinkRunner(self.sink))
        self.sink.bind(self.announce)
        self._lock = threading.Lock()
        self.seq = 0
        for runner in self.runners:
            runner.start()
        self.announce(EventKind.STATE, Severity.INFO, "ready: started")

    def announce(
        self, kind: EventKind, severity: Severity, message: str, **detail: str | int | float
    ) -> None:
        state = StationState.READY
        event = StationEvent(kind, severity, message, time.time(), state, MappingProxyType(detail))
        STATION_LOG.log(LEVELS[severity], "station %s", message)  # as Station._announce
        with self._lock:
            self.events.append(event)
        for runner in self.runners:
            runner.submit_event(event)

    def part(
        self, verdict: Verdict = Verdict.PASS, defects: Detections | None = None
    ) -> Inspection:
        """One part, committed (with its outbox row) and handed to the sinks; `defects`
        replaces a FAIL's two."""
        self.seq += 1
        record = make_inspection(self.seq, verdict)
        if defects is not None:
            judgement = dataclasses.replace(record.judgement, defects=defects)
            record = dataclasses.replace(record, detections=defects, judgement=judgement)
        self.writer.commit(record)
        for runner in self.runners:
            runner.submit(record)
        return record

    def announced(self, kind: EventKind) -> list[StationEvent]:
        with self._lock:
            return [event for event in self.events if event.kind is kind]

    def outbox_rows(self) -> int:
        conn = self.store.connect()
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def close(self) -> None:
        for runner in self.runners:
            runner.stop()
        self.store.close()
