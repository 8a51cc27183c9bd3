"""Brokers and subscribers the MQTT tests start, stopped again whatever happens."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.mqtt.broker import Mosquitto, Subscriber


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Start a Mosquitto with extra config lines; each is stopped at the end."""
    started: list[Mosquitto] = []

    def start(*lines: str, name: str = "broker") -> Mosquitto:
        broker = Mosquitto(tmp_path / name, lines).start()
        started.append(broker)
        return broker

    yield start
    for broker in started:
        broker.stop()


@pytest.fixture
def subscribers() -> Iterator[Callable[..., Subscriber]]:
    opened: list[Subscriber] = []

    def open_one(broker: Mosquitto, topic: str = "inspector/#", **tls) -> Subscriber:
        subscriber = Subscriber(broker, topic, **tls)
        opened.append(subscriber)
        return subscriber

    yield open_one
    for subscriber in opened:
        subscriber.close()
