"""MQTT sink: results, events and status to a broker, never lost, never in the way.

What reaches the broker goes through the outbox in the station's store: each part's
result row is added in the part's own transaction (on the inspection worker, before
the PLC sees the verdict) and each event's in the event's (on the log thread). The
publisher (`inspector.mqtt.publisher`), on a thread of its own, sends them oldest
first and deletes each on the broker's acknowledgement. The sink's own queue only
wakes the publisher and tells it the station's state for the retained status; it has
nothing to lose, so a full queue costs a little latency, never a message.

Beside the outbox, on this sink's thread and off the PLC's path, it keeps the
retained state topics up to date through `Publisher.retain`: the SPC state after
each SPC event (`mqtt.spcstate`), the `summary` (`mqtt.summary`; its counters miss a
record this queue dropped until the next start counts the log again) and, with
`home_assistant`, the discovery configs that point Home Assistant's entities at it
(`mqtt.homeassistant`). With `sparkplug.enabled` it also feeds each part to the
Sparkplug B edge node (`mqtt.sparkplug`), which has a connection of its own.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING

from inspector import __version__
from inspector.errors import ConfigError, DataError
from inspector.mqtt.config import MqttSinkConfig
from inspector.mqtt.connection import Will, make_client
from inspector.mqtt.homeassistant import discovery_messages
from inspector.mqtt.outbox import Outbox, OutboxWriter, store_id
from inspector.mqtt.payloads import PayloadBuilder, StatusBuilder
from inspector.mqtt.publisher import Broker, Publisher, PublisherOptions
from inspector.mqtt.spcstate import SPC_EVENTS, SpcStateBuilder
from inspector.mqtt.summary import Summary, SummaryBuilder, SummaryTopic, log_counts
from inspector.mqtt.topics import Topics
from inspector.registry import OpenContext
from inspector.sinks.base import Announce, Sink
from inspector.store.db import transaction
from inspector.types import EventKind, Inspection, StationEvent

if TYPE_CHECKING:  # protobuf is the `sparkplug` extra: imported only where enabled
    from inspector.mqtt.sparkplug import SparkplugNode

__all__ = ["FIELD", "MqttSink"]

log = logging.getLogger(__name__)

FIELD = "sinks.mqtt"  # how messages about this sink's config name it
BDSEQ_KEY = "sparkplug_next_bdseq"  # in the store's meta table


class MqttSink(Sink):
    name = "mqtt"
    wants_events = True
    tick_s = 1.0  # a summary held back by its interval goes out on the tick

    def __init__(
        self,
        publisher: Publisher,
        spc: SpcState | None = None,
        sparkplug: SparkplugNode | None = None,
        summary: SummaryTopic | None = None,
        discovery: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        self.publisher = publisher
        self._spc = spc
        self._sparkplug = sparkplug
        self._summary = summary
        self._discovery = tuple(discovery)  # Home Assistant's configs, retained

    @classmethod
    def open(cls, config: MqttSinkConfig, context: OpenContext) -> MqttSink:
        """Read the secrets and certificates, make the client, hook the outbox into the
        part's and the event's transactions. Nothing connects until `start`."""
        link = context.require_store(FIELD)
        topics = Topics(config.topic_prefix, context.line, context.station_name)
        client_id = config.default_client_id(context.line, context.station_name)
        status = StatusBuilder(context.line, context.station_name, client_id, __version__)
        will = Will(topics.status, status.will(), config.qos)
        client = make_client(config, client_id, FIELD, will)
        conn = link.store.connect()
        try:
            identity = store_id(conn)
        except Exception as exc:
            raise DataError(f"{link.store.path}: cannot read the outbox ({exc})") from None
        builder = PayloadBuilder(
            context.station_name,
            context.line,
            identity,
            context.class_names,
            config.max_payload_bytes,
        )
        writer = OutboxWriter(builder, topics)
        link.writer.add_hook(writer.add_result)
        link.events.add_event_hook(writer.add_event)
        broker = Broker(config.host, config.port, config.keepalive_s, config.tls is not None)
        publisher = Publisher(client, Outbox(conn), broker, topics.status, status, _options(config))
        spc_builder = SpcStateBuilder(
            context.line, context.station_name, identity, context.spc, config.max_payload_bytes
        )
        reader = link.store.connect()  # this sink's thread's: SPC state, counts
        spc = SpcState(spc_builder, reader, topics.spc)
        node = None
        if config.sparkplug.enabled:
            node = _sparkplug_node(config, context, client_id, link.store.connect())
        summary = SummaryTopic(
            SummaryBuilder(context.line, context.station_name),
            Summary(*log_counts(reader)),
            topics.summary,
            publisher.retain,
        )
        discovery = []
        if config.home_assistant:
            discovery = discovery_messages(config.home_assistant_prefix, topics, __version__)
        return cls(publisher, spc, node, summary, discovery)

    @property
    def healthy(self) -> bool:
        return self.publisher.link_up

    def bind(self, announce: Announce) -> None:
        self.publisher.announce = announce

    def start(self) -> None:
        for topic, payload in self._discovery:
            self.publisher.retain(topic, payload)
        if self._summary is not None:
            self._summary.flush(now=True)
        if self._spc is not None:
            try:  # before the first connect: sent on CONNACK
                self._spc.publish(self.publisher)
            except sqlite3.Error as exc:  # the next SPC event tries again
                log.warning("mqtt: cannot read the SPC state for the spc topic: %s", exc)
        self.publisher.start()
        if self._sparkplug is not None:
            self._sparkplug.start()

    def handle(self, record: Inspection) -> None:
        self.handle_batch([record])

    def handle_batch(self, records: Sequence[Inspection]) -> list[Exception]:
        self.publisher.notify()  # their rows are in the outbox already (the parts' commits)
        if self._summary is not None:
            self._summary.count(records)
        if self._sparkplug is not None:
            for record in records:
                self._sparkplug.result(record)
        return []

    def handle_event(self, event: StationEvent) -> None:
        # the log thread writes the event's outbox row; this only wakes the publisher
        if event.kind is EventKind.STATE:
            self.publisher.set_state(event.state)
        if event.kind in SPC_EVENTS and self._spc is not None:
            self._spc.publish(self.publisher)
        if self._summary is not None:
            self._summary.note_event(event)
        self.publisher.notify()

    def tick(self) -> None:
        if self._summary is not None:
            self._summary.flush()

    def close(self) -> None:
        if self._sparkplug is not None:
            self._sparkplug.stop()
        self.publisher.stop()


class SpcState:
    """The retained `spc` message, read on the sink's own connection to the store."""

    def __init__(self, builder: SpcStateBuilder, conn: sqlite3.Connection, topic: str) -> None:
        self._builder = builder
        self._conn = conn
        self._topic = topic

    def publish(self, publisher: Publisher) -> None:
        """Read the state and hand it over; an unreadable store is this sink's failure
        (counted by its runner), never the station's."""
        publisher.retain(self._topic, self._builder(self._conn))


def _sparkplug_node(
    config: MqttSinkConfig, context: OpenContext, client_id: str, conn: sqlite3.Connection
) -> SparkplugNode:
    """The Sparkplug B edge node on a client of its own (its will is the NDEATH), its
    bdSeq carried across restarts in the store (`conn`, used on paho's thread only)."""
    try:
        from inspector.mqtt import sparkplug
    except ImportError as exc:
        raise ConfigError(
            f"{FIELD}.sparkplug.enabled: needs protobuf ({exc}); pip install 'inspector[sparkplug]'"
        ) from None
    spb = config.sparkplug
    topics = sparkplug.SparkplugTopics(
        spb.group_id or context.line, spb.edge_node_id or context.station_name, spb.device_id
    )
    client = make_client(config, f"{client_id}-spb", FIELD)
    backoff = config.reconnect
    client.reconnect_delay_set(max(1, round(backoff.initial_s)), max(1, round(backoff.max_s)))
    broker = sparkplug.NodeBroker(config.host, config.port, config.keepalive_s)
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (BDSEQ_KEY,)).fetchone()

    def keep(next_bdseq: int) -> None:
        with transaction(conn):
            conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                (BDSEQ_KEY, str(next_bdseq)),
            )

    codec = sparkplug.SparkplugCodec()
    bdseq = int(row[0]) if row else 0
    return sparkplug.SparkplugNode(client, codec, topics, broker, bdseq, keep)


def _options(config: MqttSinkConfig) -> PublisherOptions:
    return PublisherOptions(
        qos=config.qos,
        window=config.max_in_flight,
        backoff=config.reconnect,
        connect_timeout_s=config.connect_timeout_s,
        max_rows=config.outbox.max_rows,
        max_age_s=config.outbox.max_age_h * 3600.0,
        drain_s=config.drain_s,
    )
