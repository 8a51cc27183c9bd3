"""The retained `spc` topic against a real Mosquitto: the SPC state (monitors, limits,
open alarms) after each SPC event, valid against spc.v1, kept by the broker for a
dashboard that subscribes later."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.spc.config import SpcConfig, SpcMonitorConfig
from inspector.types import EventKind, Verdict
from tests.mqtt.broker import BASE, Rig, wait_for

N, K = 5, 5  # parts per subgroup, Phase I subgroups

SPC = SpcConfig(
    enabled=True,
    subgroup_size=N,
    baseline_subgroups=K,
    default_monitors=False,
    monitors=[SpcMonitorConfig(name="fails", measure="fail_fraction")],
)


@pytest.fixture
def rig(tmp_path: Path, brokers):
    broker = brokers()
    doc = {"host": "127.0.0.1", "port": broker.port, "reconnect": {"initial_s": 0.05, "max_s": 0.2}}
    made = Rig(tmp_path / "station", doc, spc=SPC)
    made.broker = broker  # type: ignore[attr-defined]
    yield made
    made.close()


def subgroups(rig: Rig, fails: list[int]) -> None:
    for count in fails:
        for i in range(N):
            rig.part(Verdict.FAIL if i < count else Verdict.PASS)


def latest_spc(subscriber) -> dict:
    return subscriber.docs("spc")[-1]


def settle(subscriber, predicate, what: str) -> dict:
    wait_for(lambda: subscriber.on("spc") and predicate(latest_spc(subscriber)), 10, what)
    return latest_spc(subscriber)


# (what happened, the state the retained message then holds)
STEPS = [
    ("start", lambda d: d["monitors"][0]["limits"] is None and d["alarms"] == []),
    ("limits", lambda d: d["monitors"][0]["limits"] is not None and d["active_mask"] == 0),
    ("alarm", lambda d: len(d["alarms"]) == 1 and d["active_mask"] != 0),
    ("ack", lambda d: d["alarms"] == [] and d["active_mask"] == 0),
]


def test_the_spc_state_follows_limits_alarms_and_acks(rig, subscribers):
    subscriber = subscribers(rig.broker)
    state = settle(subscriber, STEPS[0][1], "the state at connect")
    assert (state["enabled"], state["monitors"][0]["chart"]) == (True, "p")

    subgroups(rig, [1] * K)  # Phase I: p-bar 0.2, limits frozen as version 1
    state = settle(subscriber, STEPS[1][1], "the frozen limits")
    limits = state["monitors"][0]["limits"]
    assert (limits["version"], limits["source"], limits["center"]) == (1, "phase1", 0.2)
    assert limits["phase1_points"] == K

    subgroups(rig, [N])  # every part failed: beyond the upper limit
    state = settle(subscriber, STEPS[2][1], "the alarm")
    alarm = state["alarms"][0]
    point = state["monitors"][0]["last_point"]
    assert (alarm["monitor"], alarm["subgroup"], alarm["statistic"]) == ("fails", K + 1, 1.0)
    assert alarm["rule_bit"] == state["active_mask"] and K + 1 in alarm["points"]
    assert (point["subgroup"], point["statistic"], point["limits_version"]) == (K + 1, 1.0, 1)
    assert point["ucl"] < 1.0

    assert rig.spc_sink is not None
    rig.spc_sink.request_ack()  # as the PLC's SPC_ACK edge
    settle(subscriber, STEPS[3][1], "the acknowledgement")
    assert rig.announced(EventKind.SPC_ACKNOWLEDGED)
    assert {m.topic for m in subscriber.on("spc")} == {f"{BASE}/spc"}


def test_a_late_subscriber_gets_the_retained_state(rig, subscribers):
    subgroups(rig, [1] * K + [N])
    wait_for(lambda: rig.announced(EventKind.SPC_ALARM), 10, "the alarm event")
    first = subscribers(rig.broker)
    settle(first, STEPS[2][1], "the alarm state")
    late = subscribers(rig.broker, f"{BASE}/spc")
    wait_for(lambda: late.on("spc"), 5, "the retained spc message")
    message = late.on("spc")[0]
    assert message.retain
    assert STEPS[2][1](latest_spc(late))
