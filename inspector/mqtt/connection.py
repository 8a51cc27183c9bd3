"""The paho-mqtt client of a station (or of `mqtt tail`): TLS, credentials, last will,
and the words for why a connection failed.

Files and secrets are read here, when the sink opens, and a problem with one is a
`ConfigError` naming its field: a CA file that is missing or not PEM, a key that does
not match its certificate, an unset password variable.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from inspector.errors import ConfigError
from inspector.mqtt.config import MqttSinkConfig, MqttTls

__all__ = [
    "Will",
    "describe_connect_error",
    "make_client",
    "read_password",
    "tls_context",
]

PROTOCOLS = {"5": MQTTProtocolVersion.MQTTv5, "3.1.1": MQTTProtocolVersion.MQTTv311}


@dataclass(frozen=True)
class Will:
    """What the broker publishes for the station when its connection dies."""

    topic: str
    payload: bytes
    qos: int


def make_client(
    config: MqttSinkConfig, client_id: str, field: str, will: Will | None = None
) -> mqtt.Client:
    """A paho client set up from `config` (not connected yet)."""
    protocol = PROTOCOLS[config.protocol]
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=protocol,
        # 3.1.1: a clean session; the outbox, not the broker, keeps what is unsent
        clean_session=True if protocol is MQTTProtocolVersion.MQTTv311 else None,
    )
    if config.tls is not None:
        client.tls_set_context(tls_context(config.tls, f"{field}.tls"))
    if config.username is not None:
        client.username_pw_set(config.username, read_password(config, field))
    if will is not None:
        client.will_set(will.topic, will.payload, qos=will.qos, retain=True)
    client.connect_timeout = config.connect_timeout_s
    client.max_inflight_messages_set(config.max_in_flight)
    client.max_queued_messages_set(0)  # the window is the publisher's; paho holds no queue
    return client


def tls_context(tls: MqttTls, field: str) -> ssl.SSLContext:
    """A client TLS context: the broker's certificate must chain to `ca_file` (and name
    the host, unless check_hostname is off); our certificate, if given, is offered."""
    _must_exist(tls.ca_file, f"{field}.ca_file")
    try:
        context = ssl.create_default_context(cafile=str(tls.ca_file))
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"{field}.ca_file: {tls.ca_file}: not a PEM CA certificate ({_ssl_words(exc)})"
        ) from None
    context.check_hostname = tls.check_hostname
    if tls.cert_file is not None and tls.key_file is not None:
        _must_exist(tls.cert_file, f"{field}.cert_file")
        _must_exist(tls.key_file, f"{field}.key_file")
        try:
            context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"{field}.cert_file: {tls.cert_file} with key_file {tls.key_file}: "
                f"not a PEM certificate and its key ({_ssl_words(exc)})"
            ) from None
    return context


def read_password(config: MqttSinkConfig, field: str) -> str | None:
    """The password from its file (first line) or environment variable; None if neither."""
    if config.password_file is not None:
        path = config.password_file
        _must_exist(path, f"{field}.password_file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{field}.password_file: {path}: cannot read ({exc})") from None
        password = text.splitlines()[0] if text else ""
        if not password:
            raise ConfigError(f"{field}.password_file: {path}: empty")
        return password
    if config.password_env is not None:
        value = os.environ.get(config.password_env)
        if not value:
            raise ConfigError(
                f"{field}.password_env: environment variable {config.password_env} is not set"
            )
        return value
    return None


def describe_connect_error(exc: BaseException, timeout_s: float) -> str:
    """One plain line for why a connection attempt failed."""
    for kind, words in _CONNECT_ERRORS:
        if isinstance(exc, kind):
            return words(exc, timeout_s)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# Most specific first: SSLCertVerificationError is an SSLError, every one an OSError.
_CONNECT_ERRORS: tuple[tuple[type[BaseException], Callable[[Any, float], str]], ...] = (
    (
        ssl.SSLCertVerificationError,
        lambda e, _: f"TLS: the broker's certificate was not accepted ({e.verify_message})",
    ),
    (ssl.SSLError, lambda e, _: f"TLS handshake failed ({_ssl_words(e)})"),
    (ConnectionRefusedError, lambda e, _: "connection refused (no broker on that port?)"),
    (TimeoutError, lambda e, t: f"no answer within {t:g} s"),
    (socket.gaierror, lambda e, _: f"host name not found ({e.strerror})"),
)


def _ssl_words(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc).replace("_", " ").lower()


def _must_exist(path: Path, field: str) -> None:
    if not path.is_file():
        raise ConfigError(f"{field}: {path}: not found")
