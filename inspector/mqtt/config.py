"""The MQTT sink's section of station.yaml (`sinks: [{kind: mqtt, ...}]`); no runtime here.

Secrets never live in station.yaml: the password comes from a file or an environment
variable named here, and a literal `password:` is refused. Topic levels are checked at
load, so a wildcard or an empty level is a config error naming the field, never a
publish that the broker refuses at run time.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from inspector.configbase import Backoff, ConfigPath, Section
from inspector.errors import ConfigError
from inspector.sinks.config import SinkConfig

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "MqttSinkConfig",
    "MqttTls",
    "OutboxLimits",
    "SparkplugConfig",
    "check_topic_level",
    "check_topic_prefix",
    "parse_broker",
]

MAX_PAYLOAD_BYTES = 268_435_455  # the MQTT maximum (a 4-byte remaining length)

_HOST = re.compile(r"[A-Za-z0-9.:\[\]_-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_topic_level(level: str) -> str:
    """One level of a topic we publish to: not empty, no wildcard, no '/' inside, no
    control character; ValueError saying which, for the field's message."""
    if not level:
        raise ValueError("a topic level may not be empty")
    for bad, why in (("+", "a wildcard"), ("#", "a wildcard"), ("/", "a level separator")):
        if bad in level:
            raise ValueError(f"'{bad}' is {why}; not allowed in a topic level ({level!r})")
    if _CONTROL.search(level) or "\ufffe" in level or "\uffff" in level:
        raise ValueError(f"control characters are not allowed in a topic level ({level!r})")
    return level


def check_topic_prefix(prefix: str) -> str:
    """The levels above `<line>/<station>/`: one or more checked levels joined by '/';
    none may start with '$' (the broker's own topics, $SYS, $share)."""
    levels = prefix.split("/")
    for level in levels:
        check_topic_level(level)
    if levels[0].startswith("$"):
        raise ValueError(f"a topic may not start with '$' ({prefix!r}: reserved for the broker)")
    return prefix


def _host(value: str) -> str:
    if not _HOST.fullmatch(value):
        raise ValueError(f"{value!r} is not a host name or IP address")
    return value


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name")
    return value


def _client_id(value: str) -> str:
    if not value or _CONTROL.search(value) or len(value.encode()) > 128:
        raise ValueError("1 to 128 bytes of printable text")
    return value


TopicLevel = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(check_topic_level)]

TopicPrefix = Annotated[
    str, Field(min_length=1, max_length=200), AfterValidator(check_topic_prefix)
]


class MqttTls(Section):
    """TLS to the broker: the CA that signed its certificate, and optionally this
    station's own certificate and key (for brokers that require client certificates)."""

    ca_file: ConfigPath = Field(description="PEM file of the CA(s) that signed the broker's cert.")
    cert_file: ConfigPath | None = Field(
        None, description="PEM client certificate (with key_file), for mutual TLS."
    )
    key_file: ConfigPath | None = Field(None, description="PEM private key of cert_file.")
    check_hostname: bool = Field(
        True,
        description="Check that the broker's certificate names `host`; turn off only for a "
        "broker addressed by an IP its certificate does not list.",
    )

    @model_validator(mode="after")
    def _cert_with_key(self) -> MqttTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together: give both or neither")
        return self


class OutboxLimits(Section):
    """How much the outbox keeps while the broker cannot be reached. The oldest rows
    beyond either bound are dropped (checked every second), counted, and announced as
    a `messages_dropped` event."""

    max_rows: int = Field(
        100_000, ge=10, le=100_000_000, description="Most messages kept for delivery."
    )
    max_age_h: float = Field(
        168.0, gt=0, le=24 * 365, description="Messages older than this many hours are dropped."
    )


class SparkplugConfig(Section):
    """The station as a Sparkplug B edge node beside the plain JSON topics, on a
    connection of its own (its last will is the NDEATH). Needs the `sparkplug` extra
    (protobuf)."""

    enabled: bool = Field(False, description="Publish Sparkplug B (spBv1.0/...) as well.")
    group_id: TopicLevel | None = Field(
        None, description="Sparkplug group id (None: station.line)."
    )
    edge_node_id: TopicLevel | None = Field(
        None, description="Sparkplug edge node id (None: station.name)."
    )
    device_id: TopicLevel = Field(
        "camera", description="The device whose DBIRTH/DDATA carry the results."
    )

    @field_validator("group_id", "edge_node_id", "device_id")
    @classmethod
    def _no_dollar(cls, value: str | None) -> str | None:
        if value is not None and value.startswith("$"):
            raise ValueError(f"{value!r}: a Sparkplug id may not start with '$'")
        return value


class MqttSinkConfig(SinkConfig):
    kind: Literal["mqtt"] = Field(
        description="Results, status and events to an MQTT broker, through a durable outbox."
    )
    host: Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)] = Field(
        description="Broker host name or IP address."
    )
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual with TLS).")
    protocol: Literal["5", "3.1.1"] = Field(
        "5",
        description="MQTT version. 5: the broker says why it refuses a message or a login; "
        "3.1.1 for brokers without 5 (they drop refused messages silently).",
    )
    client_id: Annotated[str, AfterValidator(_client_id)] | None = Field(
        None, description="MQTT client id (None: inspector-<line>-<station>)."
    )
    keepalive_s: int = Field(
        30, ge=5, le=3600, description="Seconds between pings; the last will fires after 1.5x."
    )
    topic_prefix: TopicPrefix = Field(
        "inspector",
        description="Topics are <topic_prefix>/<line>/<station>/{status,result,event,spc,summary}; "
        "levels joined by '/', no wildcard, no empty level.",
    )
    qos: Literal[1, 2] = Field(
        1,
        description="QoS of results and events (status too). 1: at least once, consumers "
        "de-duplicate by msg_seq; 2: exactly once, slower.",
    )
    tls: MqttTls | None = Field(None, description="TLS settings; None: plain TCP.")
    username: str | None = Field(
        None, min_length=1, max_length=256, description="User name for the broker."
    )
    password_file: ConfigPath | None = Field(
        None, description="File whose first line is the password (keep it mode 0600)."
    )
    password_env: Annotated[str, AfterValidator(_env_name)] | None = Field(
        None, description="Environment variable that holds the password."
    )
    password: Any = Field(
        None,
        description="Refused: a password is never written in station.yaml; use "
        "password_file or password_env.",
    )
    reconnect: Backoff = Field(
        default_factory=lambda: Backoff(initial_s=0.5, max_s=30.0),
        description="Backoff between connection attempts.",
    )
    connect_timeout_s: float = Field(
        5.0, gt=0, le=120, description="Seconds a connection attempt (TCP, TLS) may take."
    )
    max_in_flight: int = Field(
        100, ge=1, le=65_535, description="Messages sent and not yet acknowledged, at most."
    )
    max_payload_bytes: int = Field(
        262_144,
        ge=1024,
        le=MAX_PAYLOAD_BYTES,
        description="Largest payload the station writes; a result with more defects than "
        "fit lists the first ones and counts the rest (defects_truncated). Keep it at or "
        "below the broker's limit.",
    )
    drain_s: float = Field(
        2.0, ge=0, le=60, description="On stop, seconds to keep sending what is queued."
    )
    outbox: OutboxLimits = Field(
        default_factory=OutboxLimits, description="Bounds of the outbox (rows, age)."
    )
    home_assistant: bool = Field(
        False,
        description="Publish Home Assistant discovery configs (retained), so state, last "
        "verdict, part and fail counters and the SPC alarm appear as entities.",
    )
    home_assistant_prefix: TopicPrefix = Field(
        "homeassistant", description="Home Assistant's discovery prefix."
    )
    sparkplug: SparkplugConfig = Field(
        default_factory=SparkplugConfig,
        description="Sparkplug B: the station as an edge node (NBIRTH/NDEATH, DBIRTH/DDATA).",
    )

    @field_validator("password")
    @classmethod
    def _no_literal_password(cls, value: Any) -> None:
        if value is not None:
            raise ValueError(
                "a password is never written in station.yaml: use password_file or password_env"
            )

    @model_validator(mode="after")
    def _one_password_source(self) -> MqttSinkConfig:
        if self.password_file is not None and self.password_env is not None:
            raise ValueError("give password_file or password_env, not both")
        if (self.password_file or self.password_env) and self.username is None:
            raise ValueError("a password needs a username")
        return self

    def default_client_id(self, line: str, station: str) -> str:
        return self.client_id or f"inspector-{line}-{station}"


def parse_broker(text: str) -> tuple[str, int]:
    """'host', 'host:port', '[v6 address]' or '[v6 address]:port'."""
    host, port = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        number = int(port) if port else 1883
    except ValueError:
        number = 0
    if not host or not 1 <= number <= 65535:
        raise ConfigError(f"--broker {text!r}: expected HOST or HOST:PORT")
    return host, number
