"""Sparkplug B: the station as an edge node, beside the plain JSON topics.

- The edge node `spBv1.0/<group>/N.../<edge_node>` is born (NBIRTH, with `bdSeq` and
  `Node Control/Rebirth`) on every connect, after subscribing to its NCMD topic; its
  NDEATH, with the same `bdSeq`, is the connection's last will, and is also sent on a
  clean stop. `bdSeq` rises by one (0..255) per connection, across restarts too (the
  next one is kept in the store), so a host application can tell which death belongs
  to which birth, even a late will of the station's previous run.
- The camera device (`device_id`) is born (DBIRTH: every metric with its name, type and
  last value) right after the node; each part is one DDATA. Every message after the
  NBIRTH carries `seq`, 0..255 wrapping, restarting at 0 with each NBIRTH.
- An NCMD `Node Control/Rebirth` = true makes the node and the device be born again.

Sparkplug B is state for SCADA, not the quality record: its messages are QoS 0 (as the
specification has NBIRTH, DBIRTH and DDATA) on a connection of its own (one
connection has one will: the JSON status has the other), owned by paho's network
thread. What must not be lost goes through the JSON `result` topic and the outbox.

The payload is the official Sparkplug B protobuf schema (Eclipse Tahu's
`sparkplug_b.proto`, `org.eclipse.tahu.protobuf.Payload`), of which this module
declares the fields it writes and reads, with the same names, numbers and types, to
protobuf's runtime descriptor API: no generated code, no protoc. protobuf is imported
here only (the `sparkplug` extra).
"""

from __future__ import annotations

import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from paho.mqtt.reasoncodes import ReasonCode

from inspector.types import Inspection, Verdict

__all__ = [
    "BDSEQ",
    "REBIRTH",
    "DataType",
    "Metric",
    "NodeBroker",
    "SparkplugCodec",
    "SparkplugNode",
    "SparkplugTopics",
    "result_metrics",
]

log = logging.getLogger(__name__)

NAMESPACE = "spBv1.0"
BDSEQ = "bdSeq"
REBIRTH = "Node Control/Rebirth"
SEQ_MODULO = 256  # seq and bdSeq are 0..255


class DataType(enum.IntEnum):
    """The Sparkplug B data types this node uses (their numbers in the specification)."""

    INT64 = 4
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12


# Which field of Metric's `value` oneof holds each type.
_VALUE_FIELD: dict[DataType, str] = {
    DataType.INT64: "long_value",
    DataType.UINT16: "int_value",
    DataType.UINT32: "int_value",
    DataType.UINT64: "long_value",
    DataType.DOUBLE: "double_value",
    DataType.BOOLEAN: "boolean_value",
    DataType.STRING: "string_value",
}
_U64 = (1 << 64) - 1  # Int64 travels as its two's complement in long_value


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric: None is sent as is_null (a part with no serial, no latency)."""

    name: str
    datatype: DataType
    value: int | float | bool | str | None


@dataclass(frozen=True, slots=True)
class SparkplugTopics:
    group: str
    edge_node: str
    device: str

    def node(self, kind: str) -> str:
        """NBIRTH, NDEATH, NCMD of the edge node."""
        return f"{NAMESPACE}/{self.group}/{kind}/{self.edge_node}"

    def device_topic(self, kind: str) -> str:
        """DBIRTH, DDATA of the camera device."""
        return f"{NAMESPACE}/{self.group}/{kind}/{self.edge_node}/{self.device}"


# ---------------------------------------------------------------- the payload

# (message, field, number, label, type (a message's full name), in the `value` oneof)
_OPTIONAL, _REPEATED = 1, 3
_FIELDS: tuple[tuple[str, str, int, int, str, bool], ...] = (
    ("Payload", "timestamp", 1, _OPTIONAL, "uint64", False),
    ("Payload", "metrics", 2, _REPEATED, ".org.eclipse.tahu.protobuf.Payload.Metric", False),
    ("Payload", "seq", 3, _OPTIONAL, "uint64", False),
    ("Metric", "name", 1, _OPTIONAL, "string", False),
    ("Metric", "alias", 2, _OPTIONAL, "uint64", False),
    ("Metric", "timestamp", 3, _OPTIONAL, "uint64", False),
    ("Metric", "datatype", 4, _OPTIONAL, "uint32", False),
    ("Metric", "is_null", 7, _OPTIONAL, "bool", False),
    ("Metric", "int_value", 10, _OPTIONAL, "uint32", True),
    ("Metric", "long_value", 11, _OPTIONAL, "uint64", True),
    ("Metric", "float_value", 12, _OPTIONAL, "float", True),
    ("Metric", "double_value", 13, _OPTIONAL, "double", True),
    ("Metric", "boolean_value", 14, _OPTIONAL, "bool", True),
    ("Metric", "string_value", 15, _OPTIONAL, "string", True),
    ("Metric", "bytes_value", 16, _OPTIONAL, "bytes", True),
)


def _file_descriptor() -> Any:
    """The part of sparkplug_b.proto this node writes and reads, as a descriptor."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="inspector/sparkplug_b.proto", package="org.eclipse.tahu.protobuf", syntax="proto2"
    )
    payload = proto.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    metric.oneof_decl.add(name="value")
    messages = {"Payload": payload, "Metric": metric}
    for message, name, number, label, kind, in_oneof in _FIELDS:
        field = messages[message].field.add(name=name, number=number, label=label)
        if kind.startswith("."):
            field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
            field.type_name = kind
        else:
            field.type = getattr(descriptor_pb2.FieldDescriptorProto, f"TYPE_{kind.upper()}")
        if in_oneof:
            field.oneof_index = 0
    return proto


class SparkplugCodec:
    """Encodes and decodes `org.eclipse.tahu.protobuf.Payload` (a private descriptor
    pool, so it never clashes with another copy of the schema in the process)."""

    def __init__(self) -> None:
        pool = descriptor_pool.DescriptorPool()
        pool.Add(_file_descriptor())
        self._payload = message_factory.GetMessageClass(
            pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")
        )

    def encode(self, metrics: Sequence[Metric], seq: int | None, millis: int) -> bytes:
        payload = self._payload(timestamp=millis)
        if seq is not None:
            payload.seq = seq
        for metric in metrics:
            _fill(payload.metrics.add(), metric, millis)
        data: bytes = payload.SerializeToString()
        return data

    def rebirth_requested(self, data: bytes) -> bool:
        """Whether an NCMD payload asks for `Node Control/Rebirth` = true; a payload
        that does not parse asks for nothing."""
        payload = self._payload()
        try:
            payload.ParseFromString(data)
        except Exception:  # protobuf's DecodeError; a stranger's bytes are no command
            return False
        return any(m.name == REBIRTH and m.boolean_value for m in payload.metrics)


def _fill(target: Any, metric: Metric, millis: int) -> None:
    target.name = metric.name
    target.timestamp = millis
    target.datatype = int(metric.datatype)
    value = metric.value
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        target.is_null = True
        return
    if metric.datatype is DataType.INT64:
        value = int(value) & _U64
    setattr(target, _VALUE_FIELD[metric.datatype], value)


# ---------------------------------------------------------------- the metrics


def result_metrics(record: Inspection | None, parts: int, fails: int) -> list[Metric]:
    """The camera device's metrics: the last part (None before the first: nulls) and
    the counters since the station started (fails as the PLC's FAIL_COUNT: FAIL and
    NO_DECISION)."""
    latency = record.latency_ms if record is not None else None
    return [
        Metric("Inspection/Seq", DataType.UINT64, record.seq if record else None),
        Metric("Inspection/Trigger ID", DataType.INT64, record.trigger_id if record else None),
        Metric("Inspection/Part Serial", DataType.STRING, record.part_serial if record else None),
        Metric("Inspection/Verdict", DataType.STRING, record.verdict.value if record else None),
        Metric("Inspection/Result Code", DataType.UINT16, record.result_code if record else None),
        Metric(
            "Inspection/Defect Count",
            DataType.UINT32,
            len(record.judgement.defects) if record else None,
        ),
        Metric(
            "Inspection/Max Score",
            DataType.DOUBLE,
            round(record.detections.max_score(), 4) if record else None,
        ),
        Metric("Inspection/Latency ms", DataType.DOUBLE, latency),
        Metric("Inspection/Model", DataType.STRING, record.model_id if record else None),
        Metric("Counters/Parts", DataType.UINT64, parts),
        Metric("Counters/Fails", DataType.UINT64, fails),
    ]


# ---------------------------------------------------------------- the edge node


@dataclass(frozen=True)
class NodeBroker:
    host: str
    port: int
    keepalive_s: int


class SparkplugNode:
    """One edge node with one device on its own paho client (not connected yet: `start`).

    Births and data are published under one lock, so `seq` follows the order the broker
    sees whichever thread publishes (paho's for births, the sink's for data)."""

    def __init__(
        self,
        client: mqtt.Client,
        codec: SparkplugCodec,
        topics: SparkplugTopics,
        broker: NodeBroker,
        bdseq: int = 0,
        keep_bdseq: Callable[[int], None] | None = None,
    ) -> None:
        self._client = client
        self._codec = codec
        self._topics = topics
        self._broker = broker
        self._lock = threading.Lock()
        self._bdseq = bdseq % SEQ_MODULO
        self._keep_bdseq = keep_bdseq  # stores the next connection's bdSeq
        self._seq = 0
        self._born = False
        self._last: Inspection | None = None
        self._parts = 0
        self._fails = 0
        self._problem: str | None = None
        self.births = 0  # NBIRTHs sent, for tests and the log
        self._set_will()
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message

    def start(self) -> None:
        """Connect in the background (paho's thread; it reconnects by itself)."""
        self._client.connect_async(self._broker.host, self._broker.port, self._broker.keepalive_s)
        self._client.loop_start()

    def result(self, record: Inspection) -> None:
        """One part: the counters, and a DDATA when the node is born."""
        with self._lock:
            self._parts += 1
            self._fails += record.verdict is not Verdict.PASS
            self._last = record
            if self._born:
                self._publish_device("DDATA")

    def stop(self, timeout_s: float = 1.0) -> None:
        """A clean stop sends no will: say NDEATH first, then disconnect."""
        with self._lock:
            born, self._born = self._born, False
        if born:
            info = self._client.publish(self._topics.node("NDEATH"), self._death(), qos=1)
            end = time.monotonic() + timeout_s
            while not info.is_published() and time.monotonic() < end:
                time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()

    # ---------------------------------------------------------------- paho's thread

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if reason.is_failure:
            self._say(f"the broker refused the connection: {reason.getName()}")
            return
        self._problem = None
        self._keep_next_bdseq()
        client.subscribe(self._topics.node("NCMD"), qos=0)  # before the birth, as specified
        self._birth()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        with self._lock:
            self._born = False
            # the next connection is a new life: its NBIRTH and NDEATH carry the next bdSeq
            self._bdseq = (self._bdseq + 1) % SEQ_MODULO
            self._set_will()
        if reason.is_failure:
            self._say(f"connection lost ({reason.getName()})")

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == self._topics.node("NCMD") and self._codec.rebirth_requested(
            bytes(message.payload)
        ):
            log.info("sparkplug: rebirth requested by a host application")
            self._birth()

    def _keep_next_bdseq(self) -> None:
        """Before this connection's birth: a restart must not reuse its bdSeq."""
        if self._keep_bdseq is None:
            return
        try:
            self._keep_bdseq((self._bdseq + 1) % SEQ_MODULO)
        except Exception as exc:  # the store's problem; the node still works
            self._say(f"cannot keep the next bdSeq ({exc})")

    # ---------------------------------------------------------------- messages

    def _birth(self) -> None:
        """NBIRTH (seq 0) then DBIRTH: on connect and on a rebirth request."""
        with self._lock:
            self._seq = 0
            node = [
                Metric(BDSEQ, DataType.UINT64, self._bdseq),
                Metric(REBIRTH, DataType.BOOLEAN, False),
            ]
            self._publish(self._topics.node("NBIRTH"), node)
            self._born = True
            self.births += 1
            self._publish_device("DBIRTH")

    def _publish_device(self, kind: str) -> None:
        metrics = result_metrics(self._last, self._parts, self._fails)
        self._publish(self._topics.device_topic(kind), metrics)

    def _publish(self, topic: str, metrics: list[Metric]) -> None:
        """One message with the next seq (the caller holds the lock)."""
        payload = self._codec.encode(metrics, self._seq, _millis())
        self._seq = (self._seq + 1) % SEQ_MODULO
        self._client.publish(topic, payload, qos=0)

    def _death(self) -> bytes:
        return self._codec.encode([Metric(BDSEQ, DataType.UINT64, self._bdseq)], None, _millis())

    def _set_will(self) -> None:
        self._client.will_set(self._topics.node("NDEATH"), self._death(), qos=1, retain=False)

    def _say(self, why: str) -> None:
        """Log a link problem once, not on every retry."""
        if why != self._problem:
            self._problem = why
            log.warning("sparkplug: broker %s:%d: %s", self._broker.host, self._broker.port, why)


def _millis() -> int:
    return int(time.time() * 1000)
