"""The publisher thread: the outbox into the broker, oldest first, never in the way.

One thread owns the paho client (driven by `loop_read`/`loop_write`/`loop_misc` around
its own `select`, so callbacks run here and nothing is shared with paho's threads) and
the outbox's connection. It keeps up to `window` messages in flight and deletes a row
only when the broker has acknowledged it (PUBACK for QoS 1, PUBCOMP for QoS 2). When
the connection drops, what was in flight is forgotten and read again from the outbox
after the reconnect: the outbox is the only queue, so a restart of the station
replays exactly what a reconnect would.

It also keeps the outbox within its bounds (once a second, connected or not), and
publishes the retained status: online with the station's state on connect and on
every state change, offline on a clean stop (the last will says so on a dirty one).
Other retained messages (`retain`: the SPC state, discovery configs) are state, not
history: only the newest per topic matters, so they wait in memory, not in the
outbox, and go out again on every connect (a broker that lost its retained store
gets them back).

Every change of the link and every drop is announced (`Announce`): the station turns
that into one log line and an event, which reaches the broker through the outbox.

A message the broker keeps refusing without a word (one over its size limit makes
some brokers close the connection) would otherwise block everything behind it: after
two connections lost with no acknowledgement, the oldest message is sent alone, and
if the connection dies with it a third time it is dropped and announced.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from inspector.configbase import Backoff
from inspector.mqtt.connection import describe_connect_error
from inspector.mqtt.outbox import Dropped, Outbox, OutboxRow
from inspector.sinks.base import Announce
from inspector.types import EventKind, Severity, StationState

__all__ = ["Broker", "LinkState", "Publisher", "PublisherOptions", "StatusFormat"]

log = logging.getLogger(__name__)

_TLS_ALERT = re.compile(r"\[SSL: ([A-Z0-9_]+)\]")
MAINTAIN_S = 1.0  # outbox bounds are checked this often
DROP_EVENT_S = 10.0  # drops are announced at most this often (with their count)
SUSPECT_LOSSES = 2  # connections lost with no ack before the oldest is sent alone
POISON_LOSSES = 3  # ... and before that message is dropped
STATUS_ACK_S = 1.0  # on stop, how long to wait for the offline status to be acknowledged


class LinkState(enum.Enum):
    DOWN = "down"
    CONNECTING = "connecting"  # TCP (and TLS) up, CONNECT sent, no CONNACK yet
    UP = "up"


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    keepalive_s: int
    tls: bool = False

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PublisherOptions:
    qos: int = 1
    window: int = 100
    backoff: Backoff = field(default_factory=Backoff)
    connect_timeout_s: float = 5.0
    max_rows: int = 100_000
    max_age_s: float = 7 * 24 * 3600.0
    drain_s: float = 2.0


# (online, reason, state) -> the retained status payload
StatusFormat = Callable[[bool, str, StationState | None], bytes]


@dataclass
class PublisherStats:
    sent: int = 0
    acked: int = 0
    dropped: int = 0  # by the bounds, refused by the broker, or too large for it
    connects: int = 0


class Publisher:
    """Owns `client` and `outbox` (on its thread once started). `announce` may be
    replaced before `start` (the sink binds the station's)."""

    def __init__(
        self,
        client: mqtt.Client,
        outbox: Outbox,
        broker: Broker,
        status_topic: str,
        status: StatusFormat,
        options: PublisherOptions,
    ) -> None:
        self._client = client
        self._outbox = outbox
        self._broker = broker
        self._status_topic = status_topic
        self._status = status
        self.options = options
        self.announce: Announce = _log_only
        self.stats = PublisherStats()
        self.state = LinkState.DOWN
        self._station_state = StationState.STARTING  # the sink starts with the station
        self._status_due = False
        self._retained: dict[str, bytes] = {}  # topic -> newest payload (`retain`)
        self._retained_due: set[str] = set()
        self._retained_lock = threading.Lock()
        self._in_flight: dict[int, OutboxRow] = {}  # mid -> row, in send order
        self._cursor = 0  # id of the newest row handed to paho on this connection
        self._acks: list[tuple[int, ReasonCode]] = []  # filled by on_publish
        self._acks_this_connection = 0
        self._max_packet: int | None = None  # the broker's, from its CONNACK (MQTT 5)
        self._connack: ReasonCode | None = None
        self._lost: str | None = None  # why the connection dropped, until handled
        self._socket_error: str | None = None  # paho's last error line, for that why
        self._connect_deadline = 0.0
        self._problem: str | None = None  # the last announced link problem
        self._suspect: tuple[int, int] = (0, 0)  # (row id, connections lost with it)
        self._drops = _DropTally()
        self._next_maintain = 0.0
        self._stop = threading.Event()
        self._drain_until: float | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="mqtt-publisher", daemon=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_log = self._on_log

    # ---------------------------------------------------------------- any thread

    @property
    def link_up(self) -> bool:
        return self.state is LinkState.UP

    def start(self) -> None:
        self._thread.start()

    def notify(self) -> None:
        """New rows may be in the outbox: look now, not at the next tick."""
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"\0")

    def set_state(self, state: StationState) -> None:
        """The station's state changed: the retained status follows."""
        if state is not self._station_state:
            self._station_state = state
            self._status_due = True
            self.notify()

    def retain(self, topic: str, payload: bytes) -> None:
        """Publish `payload` retained on `topic` as soon as connected, and again after
        every reconnect; a newer payload for the topic replaces one not sent yet."""
        with self._retained_lock:
            self._retained[topic] = payload
            self._retained_due.add(topic)
        self.notify()

    def stop(self) -> None:
        """Send what is queued for up to `drain_s` (if connected), say offline, disconnect."""
        if self._thread.ident is not None:
            self._drain_until = time.monotonic() + self.options.drain_s
            self._stop.set()
            self.notify()
            self._thread.join()
        self._wake_r.close()
        self._wake_w.close()

    # ---------------------------------------------------------------- publisher thread

    def _run(self) -> None:
        delays = self.options.backoff.delays()
        try:
            while not self._finished():
                if self.state is LinkState.DOWN:
                    if not self._connect():
                        self._wait(next(delays))
                    continue
                self._pump()
                if self._lost is not None:
                    self._handle_lost()
                    self._wait(next(delays))
                elif self.state is LinkState.UP and self._acks_this_connection:
                    delays = self.options.backoff.delays()  # a working link: start afresh
            self._say_offline()
        except Exception as exc:  # a bug here must not take the station down: say so, stop
            log.exception("mqtt publisher failed")
            self.state = LinkState.DOWN  # healthy no more: the station's health shows it
            self.announce(
                EventKind.LINK_DOWN,
                Severity.ERROR,
                f"mqtt: the publisher stopped ({exc!r}); results stay in the outbox "
                "until the station restarts",
                sink="mqtt",
            )

    def _finished(self) -> bool:
        if not self._stop.is_set():
            return False
        if self.state is not LinkState.UP or self._drain_until is None:
            return True
        if time.monotonic() >= self._drain_until:
            return True
        return not self._in_flight and not self._outbox.after(self._cursor, 1)

    def _wait(self, seconds: float) -> None:
        """Sleep between attempts (stop ends it), keeping the outbox within its bounds."""
        end = time.monotonic() + seconds
        while not self._stop.is_set():
            self._maintain()
            remaining = end - time.monotonic()
            if remaining <= 0:
                return
            self._stop.wait(min(remaining, MAINTAIN_S))

    def _connect(self) -> bool:
        """Open TCP (and TLS) and send CONNECT; False (announced) when that failed."""
        broker = self._broker
        self._connack = None
        self._lost = None
        self._socket_error = None
        try:
            self._client.connect(broker.host, broker.port, broker.keepalive_s)
        except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
            self._link_problem(describe_connect_error(exc, self.options.connect_timeout_s))
            return False
        self.state = LinkState.CONNECTING
        self._connect_deadline = time.monotonic() + self.options.connect_timeout_s
        return True

    def _pump(self) -> None:
        """One round: network I/O and callbacks, acknowledgements, new messages, bounds."""
        self._io(self._timeout())
        if self.state is LinkState.CONNECTING:
            self._check_connack()
        if self.state is LinkState.UP and self._lost is None:
            self._apply_acks()
            self._publish_status_if_due()
            self._publish_retained_if_due()
            self._fill()
        self._maintain()

    def _timeout(self) -> float:
        if self.state is LinkState.CONNECTING:
            return max(0.0, min(self._connect_deadline - time.monotonic(), MAINTAIN_S))
        return MAINTAIN_S

    def _io(self, timeout: float) -> None:
        sock = self._client.socket()
        if sock is None:
            self._lost = self._lost or self._lost_words("closed")
            return
        wants_write = [sock] if self._client.want_write() else []
        try:
            readable, writable, _ = select.select([sock, self._wake_r], wants_write, [], timeout)
        except (OSError, ValueError):  # the socket closed under us
            self._lost = self._lost or self._lost_words("closed")
            return
        if self._wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(4096)
        steps: list[Callable[[], MQTTErrorCode]] = []
        if sock in readable:
            steps.append(self._client.loop_read)
        if sock in writable:
            steps.append(self._client.loop_write)
        steps.append(self._client.loop_misc)
        for step in steps:
            rc = step()
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost = self._lost or self._lost_words(mqtt.error_string(rc))
                return

    def _lost_words(self, fallback: str) -> str:
        """Why the connection dropped: a TLS alert from the broker (it did not accept
        our certificate) in words, else paho's last error line, else `fallback`."""
        detail = self._socket_error or fallback
        alert = _TLS_ALERT.search(detail)
        if alert is not None:
            return f"TLS: the broker ended the connection ({alert[1].replace('_', ' ').lower()})"
        if self.state is LinkState.CONNECTING and self._broker.tls:
            # the alert does not always arrive before the socket closes
            return (
                "TLS: the broker ended the connection before accepting it (does it want a "
                f"client certificate, or another one?): {detail}"
            )
        words = f"connection lost ({detail})"
        if self.state is LinkState.CONNECTING:
            words += " before the broker accepted it"
        return words

    def _check_connack(self) -> None:
        reason = self._connack
        if reason is None:
            if time.monotonic() >= self._connect_deadline and self._lost is None:
                self._lost = f"no answer to CONNECT within {self.options.connect_timeout_s:g} s"
            return
        if reason.is_failure:
            self._lost = f"the broker refused the connection: {reason.getName()}"
            return
        self.state = LinkState.UP
        self.stats.connects += 1
        self._acks_this_connection = 0
        self._cursor = 0  # replay everything still in the outbox, oldest first
        self._status_due = True
        with self._retained_lock:
            self._retained_due = set(self._retained)
        self._problem = None
        self.announce(
            EventKind.LINK_UP, Severity.INFO, f"mqtt: connected to {self._broker}", sink="mqtt"
        )

    def _handle_lost(self) -> None:
        """Forget what was in flight (the outbox still has it), close, announce."""
        why = self._lost or "connection lost"
        self._note_suspect()
        self._client.drop_out_messages()
        self._in_flight.clear()
        self._acks.clear()
        with contextlib.suppress(Exception):
            self._client.disconnect()
        with contextlib.suppress(Exception):
            self._client.loop_misc()
        self.state = LinkState.DOWN
        self._lost = None
        self._link_problem(why)

    def _link_problem(self, why: str) -> None:
        """Announce an outage once: its first reason, then only a refusal (wrong
        credentials, a certificate) that differs from what was said, never the same
        refused connection on every attempt."""
        self.state = LinkState.DOWN
        refused = "refused the connection" in why or why.startswith("TLS")
        if why == self._problem or (self._problem is not None and not refused):
            return
        self._problem = why
        self.announce(
            EventKind.LINK_DOWN,
            Severity.ERROR if refused else Severity.WARNING,
            f"mqtt: broker {self._broker}: {why}; results wait in the outbox",
            sink="mqtt",
        )

    # ---------------------------------------------------------------- sending

    def _window(self) -> int:
        return 1 if self._suspect[1] >= SUSPECT_LOSSES else self.options.window

    def _fill(self) -> None:
        room = self._window() - len(self._in_flight)
        if room <= 0:
            return
        for row in self._outbox.after(self._cursor, room):
            self._cursor = row.id
            if self._too_large(row):
                self._drop([row], f"larger than the broker's maximum packet ({self._max_packet} B)")
                continue
            info = self._client.publish(row.topic, row.payload, qos=self.options.qos)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                self._lost = f"publish failed ({mqtt.error_string(info.rc)})"
                return
            self._in_flight[info.mid] = row
            self.stats.sent += 1

    def _too_large(self, row: OutboxRow) -> bool:
        if self._max_packet is None:
            return False
        # fixed header (<= 5) + topic (2 + len) + packet id (2) + properties (1)
        size = 10 + len(row.topic.encode()) + len(row.payload)
        return size > self._max_packet

    def _apply_acks(self) -> None:
        acks, self._acks = self._acks, []
        delivered: list[OutboxRow] = []
        refused: dict[str, list[OutboxRow]] = {}
        for mid, reason in acks:
            row = self._in_flight.pop(mid, None)
            if row is None:
                continue  # a status message: not from the outbox
            if reason.is_failure:
                refused.setdefault(reason.getName(), []).append(row)
            else:
                delivered.append(row)
        if delivered:
            self._outbox.delete([row.id for row in delivered])
            self.stats.acked += len(delivered)
            self._acks_this_connection += len(delivered)
            self._suspect = (0, 0)
        for why, rows in refused.items():
            self._drop(rows, f"refused by the broker: {why}")

    def _publish_status_if_due(self) -> None:
        if not self._status_due:
            return
        self._status_due = False
        payload = self._status(True, "connected", self._station_state)
        self._client.publish(self._status_topic, payload, qos=self.options.qos, retain=True)

    def _publish_retained_if_due(self) -> None:
        with self._retained_lock:
            due = [(topic, self._retained[topic]) for topic in sorted(self._retained_due)]
            self._retained_due.clear()
        for topic, payload in due:
            self._client.publish(topic, payload, qos=self.options.qos, retain=True)

    def _say_offline(self) -> None:
        """On a clean stop: the retained status says offline (the will only fires on a
        dirty one), then a clean disconnect."""
        if self.state is not LinkState.UP:
            return
        payload = self._status(False, "stopped", StationState.STOPPED)
        info = self._client.publish(self._status_topic, payload, qos=self.options.qos, retain=True)
        end = time.monotonic() + STATUS_ACK_S
        while not info.is_published() and self._lost is None and time.monotonic() < end:
            self._io(0.05)
        with contextlib.suppress(Exception):
            self._client.disconnect()
            self._io(0.0)
        self.state = LinkState.DOWN

    # ---------------------------------------------------------------- bounds and drops

    def _maintain(self) -> None:
        now = time.monotonic()
        if now < self._next_maintain:
            return
        self._next_maintain = now + MAINTAIN_S
        options = self.options
        for dropped in self._outbox.trim(options.max_rows, options.max_age_s):
            reason = f"outbox over its bounds ({options.max_rows} rows, {options.max_age_s:g} s)"
            self._drops.add(dropped, reason)
        self._announce_drops()

    def _drop(self, rows: list[OutboxRow], reason: str) -> None:
        """Messages that will never be delivered: delete, count, announce."""
        self._outbox.delete([row.id for row in rows])
        for row in rows:
            self._in_flight = {m: r for m, r in self._in_flight.items() if r.id != row.id}
            self._drops.add(Dropped(row.stream, 1, row.msg_seq, row.msg_seq), reason, row.topic)
        self._announce_drops()

    def _announce_drops(self) -> None:
        for tally in self._drops.due():
            self.stats.dropped += tally.count
            self.announce(
                EventKind.MESSAGES_DROPPED,
                Severity.WARNING,
                f"mqtt: dropped {tally.count} {tally.stream} message(s) "
                f"(msg_seq {tally.first}-{tally.last}): {tally.reason}",
                sink="mqtt",
                stream=tally.stream,
                dropped=tally.count,
                first_msg_seq=tally.first,
                last_msg_seq=tally.last,
                reason=tally.reason,
            )

    def _note_suspect(self) -> None:
        """A connection lost with messages in flight and none acknowledged: the oldest
        may be what the broker will not take. Sent alone after SUSPECT_LOSSES such
        losses, dropped after POISON_LOSSES."""
        if not self._in_flight or self._acks_this_connection:
            self._suspect = (0, 0)
            return
        oldest = min(self._in_flight.values(), key=lambda row: row.id)
        row_id, losses = self._suspect
        losses = losses + 1 if row_id == oldest.id else 1
        self._suspect = (oldest.id, losses)
        if losses >= POISON_LOSSES and len(self._in_flight) == 1:
            self._suspect = (0, 0)
            size = len(oldest.payload)
            self._drop([oldest], f"the broker closed the connection each time ({size} B payload)")

    # ---------------------------------------------------------------- paho callbacks

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        self._connack = reason
        self._max_packet = getattr(properties, "MaximumPacketSize", None)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, properties: Any
    ) -> None:
        if self.state is not LinkState.DOWN and not self._stop.is_set():
            self._lost = self._lost or self._lost_words(reason.getName())

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Any
    ) -> None:
        self._acks.append((mid, reason))

    def _on_log(self, client: mqtt.Client, userdata: Any, level: int, message: str) -> None:
        # paho reports a failed socket read (a TLS alert: the broker did not accept our
        # certificate) only as a log line; it is the best 'why' of the lost connection
        if level == mqtt.MQTT_LOG_ERR:
            self._socket_error = message


@dataclass
class _Tally:
    stream: str
    reason: str
    count: int = 0
    first: int = 0
    last: int = 0


class _DropTally:
    """Drops by (stream, reason) since they were last announced; announced at once the
    first time, then at most every DROP_EVENT_S, so an outbox that overflows for hours
    does not fill the event log."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], _Tally] = {}
        self._last_announced = -DROP_EVENT_S

    def add(self, dropped: Dropped, reason: str, topic: str = "") -> None:
        tally = self._open.setdefault((dropped.stream, reason), _Tally(dropped.stream, reason))
        if tally.count == 0:
            tally.first = dropped.first_msg_seq
        tally.count += dropped.count
        tally.first = min(tally.first, dropped.first_msg_seq)
        tally.last = max(tally.last, dropped.last_msg_seq)

    def due(self) -> Iterator[_Tally]:
        """The tallies to announce now (and forget). Refusals are rate-limited like the
        bounds: a drop event the broker refuses too must not feed a storm of them."""
        now = time.monotonic()
        if not self._open or now - self._last_announced < DROP_EVENT_S:
            return
        self._last_announced = now
        tallies, self._open = list(self._open.values()), {}
        yield from tallies


_LEVEL = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
}


def _log_only(
    kind: EventKind, severity: Severity, message: str, **detail: str | int | float
) -> None:
    """Where no station listens (the publisher on its own): the log line alone."""
    log.log(_LEVEL[severity], "%s", message)
