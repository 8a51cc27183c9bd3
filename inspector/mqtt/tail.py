"""`inspector mqtt tail`: subscribe to what stations publish and print it, for
commissioning (is the station online, do its results arrive, what does it say).

One line per message; with `--json` the raw payload (each is one line of JSON). It
keeps reconnecting while the broker is away, saying so on stderr, until Ctrl-C,
`--count` messages or `--timeout` seconds.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from inspector.errors import ConfigError, InspectorError
from inspector.mqtt.config import MqttSinkConfig, check_topic_prefix
from inspector.mqtt.connection import describe_connect_error, make_client

__all__ = ["TailOptions", "format_message", "tail"]

RETRY_S = 1.0


@dataclass(frozen=True)
class TailOptions:
    host: str = "localhost"
    port: int = 1883
    prefix: str = "inspector"
    as_json: bool = False
    count: int | None = None  # stop after this many messages
    timeout_s: float | None = None  # stop after this long
    station: MqttSinkConfig | None = None  # a station's sink: its TLS and credentials


def format_message(topic: str, payload: bytes | bytearray) -> str:
    """One readable line for a station's message; anything else shown as it came."""
    levels = topic.split("/")
    try:
        doc = json.loads(payload)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or len(levels) < 3:
        return f"{topic} {payload[:200]!r}"
    where = "/".join(levels[-3:-1])
    formatter = _FORMATS.get(levels[-1])
    if formatter is None:
        return f"{topic} {json.dumps(doc)[:200]}"
    try:
        return f"{where} {formatter(doc)}"
    except (KeyError, TypeError, ValueError):
        return f"{topic} {json.dumps(doc)[:200]}"


def _result(doc: dict[str, Any]) -> str:
    total = doc["latency_ms"]["total"]
    latency = f"{total:.1f} ms" if total is not None else "- ms"
    return (
        f"result #{doc['msg_seq']:<6} {doc['verdict']:<11} code {doc['result_code']:>5}  "
        f"part {doc['part_serial'] or '-'}  defects {len(doc['defects'])}  {latency}  "
        f"{doc['time']}"
    )


def _status(doc: dict[str, Any]) -> str:
    return f"status {doc['status']} ({doc['state'] or '-'}): {doc['reason']}"


def _event(doc: dict[str, Any]) -> str:
    return f"event  #{doc['msg_seq']:<6} {doc['severity']:<7} {doc['kind']}: {doc['message']}"


def _summary(doc: dict[str, Any]) -> str:
    return (
        f"summary {doc['state']:<8} parts {doc['parts']}  fails {doc['fails']}  "
        f"last {doc['last_verdict'] or '-'}  spc mask {doc['spc_active_mask']}"
    )


def _spc(doc: dict[str, Any]) -> str:
    frozen = sum(m["limits"] is not None for m in doc["monitors"])
    alarms = len(doc["alarms"]) + doc["alarms_truncated"]
    rules = ", ".join(f"{a['monitor']}:{a['rule']}" for a in doc["alarms"][:5])
    return (
        f"spc     {len(doc['monitors'])} monitors ({frozen} with limits)  "
        f"{alarms} open alarm(s){': ' + rules if rules else ''}  mask {doc['active_mask']}"
    )


_FORMATS: dict[str, Callable[[dict[str, Any]], str]] = {
    "result": _result,
    "status": _status,
    "event": _event,
    "summary": _summary,
    "spc": _spc,
}


def tail(
    options: TailOptions,
    out: Callable[[str], None],
    note: Callable[[str], None],
    stop: threading.Event,
) -> int:
    """Print messages under `<prefix>/#` until `stop`, the count or the timeout; how
    many were printed. `note` gets the connection news (stderr)."""
    try:
        check_topic_prefix(options.prefix)
    except ValueError as exc:
        raise ConfigError(f"--prefix: {exc}") from None
    client = _client(options)
    printed = [0]

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if options.as_json:  # as published: one compact JSON document a line
            out(bytes(message.payload).decode("utf-8", "replace"))
        else:
            out(format_message(message.topic, message.payload))
        printed[0] += 1
        if options.count is not None and printed[0] >= options.count:
            stop.set()

    client.on_message = on_message
    end = None if options.timeout_s is None else time.monotonic() + options.timeout_s
    _follow(client, options, note, stop, end)
    return printed[0]


def _client(options: TailOptions) -> mqtt.Client:
    client_id = f"inspector-tail-{uuid.uuid4().hex[:8]}"
    if options.station is not None:
        return make_client(options.station, client_id, "--config: sinks.mqtt")
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)


def _follow(
    client: mqtt.Client,
    options: TailOptions,
    note: Callable[[str], None],
    stop: threading.Event,
    end: float | None,
) -> None:
    subscription = f"{options.prefix}/#"
    client.on_connect = lambda c, u, f, reason, p: _subscribed(c, reason, subscription, note)
    connected = False
    try:
        while not stop.is_set() and (end is None or time.monotonic() < end):
            if not connected:
                connected = _connect(client, options, note)
                if not connected:
                    stop.wait(RETRY_S)
                continue
            if client.loop(0.2) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                note(f"lost the broker {options.host}:{options.port}; reconnecting")
                connected = False
                stop.wait(RETRY_S)
    finally:
        client.disconnect()


def _connect(client: mqtt.Client, options: TailOptions, note: Callable[[str], None]) -> bool:
    try:
        client.connect(options.host, options.port, keepalive=30)
    except (OSError, ValueError) as exc:
        note(f"broker {options.host}:{options.port}: {describe_connect_error(exc, 5.0)}")
        return False
    return True


def _subscribed(
    client: mqtt.Client, reason: Any, subscription: str, note: Callable[[str], None]
) -> None:
    if reason.is_failure:
        raise InspectorError(f"the broker refused the connection: {reason.getName()}")
    client.subscribe(subscription, qos=1)
    note(f"subscribed to {subscription}")
