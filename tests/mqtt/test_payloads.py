"""Payloads: every kind of record and event builds a message its JSON Schema accepts,
and the schemas the docs publish are the ones in the package."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import MappingProxyType

import jsonschema
import numpy as np
import pytest

from inspector.mqtt.payloads import SCHEMAS, PayloadBuilder, StatusBuilder, iso_utc, load_schema
from inspector.types import Detections, EventKind, Severity, StationEvent, StationState, Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection

ROOT = Path(__file__).resolve().parents[2]
BUILDER = PayloadBuilder("station-1", "line-1", "0123456789abcdef", CLASS_NAMES, 262_144)


def valid(kind: str, payload: bytes) -> dict:
    doc = json.loads(payload)
    jsonschema.Draft202012Validator(load_schema(kind)).validate(doc)
    return doc


@pytest.mark.parametrize("verdict", list(Verdict))
def test_results_of_every_verdict_match_the_schema(verdict):
    doc = valid("result", BUILDER.result(make_inspection(7, verdict), msg_seq=42))
    assert (doc["msg_seq"], doc["seq"], doc["verdict"]) == (42, 7, verdict.value)
    assert doc["model"] == {"id": "neu-det@test", "sha256": "ab" * 32}
    assert len(doc["defects"]) == (2 if verdict is Verdict.FAIL else 0)


def test_a_stage_that_never_happened_is_null():
    record = make_inspection(1, Verdict.NO_DECISION)
    times = dataclasses.replace(record.times, capture=math.nan, detect_start=math.nan)
    doc = valid("result", BUILDER.result(dataclasses.replace(record, times=times), 1))
    assert doc["latency_ms"] == {
        "total": 14.0,
        "capture": None,
        "queue": None,
        "detect": None,
        "judge": 1.0,
    }


def test_the_time_is_utc_with_milliseconds():
    assert iso_utc(1_700_000_000.1234) == "2023-11-14T22:13:20.123Z"


def test_an_unknown_class_id_still_has_a_name():
    defects = Detections.from_arrays([[0, 0, 1, 1]], [0.5], [9])
    record = make_inspection(1, Verdict.FAIL)
    record = dataclasses.replace(
        record, judgement=dataclasses.replace(record.judgement, defects=defects)
    )
    assert valid("result", BUILDER.result(record, 1))["defects"][0]["class"] == "#9"


def test_a_result_too_large_keeps_its_first_defects():
    count = 500
    defects = Detections.from_arrays(
        np.tile([[1.25, 2.5, 3.75, 4.0]], (count, 1)), np.full(count, 0.75), np.zeros(count)
    )
    record = make_inspection(1, Verdict.FAIL)
    record = dataclasses.replace(
        record, judgement=dataclasses.replace(record.judgement, defects=defects)
    )
    small = dataclasses.replace(BUILDER, max_bytes=4096)
    payload = small.result(record, 1)
    doc = valid("result", payload)
    assert len(payload) <= 4096
    assert doc["defects_truncated"] + len(doc["defects"]) == count
    assert doc["defects_truncated"] > 0 and len(doc["defects"]) > 10


def test_events_match_the_schema():
    event = StationEvent(
        EventKind.MESSAGES_DROPPED,
        Severity.WARNING,
        "mqtt: dropped 3 result message(s)",
        1_700_000_000.0,
        StationState.READY,
        MappingProxyType({"sink": "mqtt", "dropped": 3, "first_msg_seq": 1, "last_msg_seq": 3}),
    )
    doc = valid("event", BUILDER.event(event, 5))
    assert (doc["kind"], doc["msg_seq"], doc["detail"]["dropped"]) == ("messages_dropped", 5, 3)


def test_every_event_kind_is_in_the_schema():
    kinds = load_schema("event")["properties"]["kind"]["enum"]
    assert set(kinds) == {kind.value for kind in EventKind}


def test_status_and_will_match_the_schema():
    status = StatusBuilder("line-1", "station-1", "inspector-line-1-station-1", "0.1.0")
    online = valid("status", status(True, "connected", StationState.READY))
    assert (online["status"], online["state"]) == ("online", "ready")
    will = valid("status", status.will())
    assert (will["status"], will["state"], will["time"]) == ("offline", None, None)


def test_the_docs_publish_the_schemas():
    doc = (ROOT / "docs" / "mqtt.md").read_text()
    for name, path in SCHEMAS.items():
        assert path.read_text().strip() in doc, f"docs/mqtt.md lacks the {name} schema as it is"
