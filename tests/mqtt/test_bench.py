"""`inspector bench --mqtt`: the MQTT leg's figures on the shipped model and recording,
against a real Mosquitto. What the figures mean is asserted, not how fast they are
(docs/performance.md has the measurements)."""

from __future__ import annotations

import pytest

from inspector.bench import BenchOptions
from inspector.demo import DEMO_MODEL, DEMO_VIDEO
from inspector.errors import ConfigError
from inspector.mqtt.bench import measure_mqtt
from tests.mqtt.broker import free_port


def options(broker: str | None, backlog: int = 50) -> BenchOptions:
    return BenchOptions(
        model=DEMO_MODEL,
        video=DEMO_VIDEO,
        blocks=2,
        block_parts=4,
        latency_parts=4,
        mqtt=broker,
        mqtt_backlog=backlog,
    )


def test_sink_on_and_off_and_the_backlog(brokers):
    broker = brokers()
    doc = measure_mqtt(options(f"127.0.0.1:{broker.port}"))
    for leg in ("off", "on"):
        assert doc[leg]["parts"] == 8  # 2 blocks of 4
        latency = doc[leg]["trigger_to_verdict_ms"]
        assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert doc["on_over_off_fps"] == pytest.approx(doc["on"]["fps"] / doc["off"]["fps"], abs=1e-3)
    assert doc["undelivered_after_run"] == 0  # every result of the 'on' station acknowledged
    assert doc["backlog"]["results"] == 50 and doc["backlog"]["results_per_s"] > 0


@pytest.mark.parametrize(
    ("broker", "error"),
    [
        (None, "bench: --mqtt HOST:PORT is needed"),
        ("127.0.0.1:PORT", "no broker answers"),
        ("localhost:99999", "bench --mqtt 'localhost:99999': expected HOST or HOST:PORT"),
    ],
)
def test_bad_broker(broker, error):
    if broker is not None:
        broker = broker.replace("PORT", str(free_port()))
    with pytest.raises(ConfigError, match=error):
        measure_mqtt(options(broker))
