"""The `spc` payload read from a real store: valid against spc.v1, an alarm storm cut
to fit max_payload_bytes with the rest counted."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from inspector.mqtt.payloads import load_schema
from inspector.mqtt.spcstate import SpcStateBuilder
from inspector.spc import store
from inspector.store.db import open_store, transaction

VALIDATOR = jsonschema.Draft202012Validator(load_schema("spc"))


def state(tmp_path: Path, alarms: int, max_bytes: int) -> dict:
    with open_store(tmp_path / "station.db") as opened:
        conn = opened.connect()
        with transaction(conn):
            store.save_monitors(conn, [("fails", '{"name": "fails", "measure": "fail_fraction"}')])
            subgroup = store.insert_subgroup(conn, 1, 5, 5)
            for _ in range(alarms):
                store.insert_alarm(conn, "fails", subgroup, "we1", 1, [subgroup], 1.0)
        builder = SpcStateBuilder("line-1", "station-1", "abc", True, max_bytes)
        payload = builder(conn)
    assert len(payload) <= max_bytes
    doc = json.loads(payload)
    VALIDATOR.validate(doc)
    return doc


@pytest.mark.parametrize(
    ("alarms", "max_bytes", "shown", "truncated"),
    [
        (0, 1024, 0, 0),
        (3, 4096, 3, 0),
        (200, 4096, None, None),  # cut: some shown, the rest counted
        (50, 1024, None, None),
    ],
)
def test_open_alarms_fit_the_payload(tmp_path, alarms, max_bytes, shown, truncated):
    doc = state(tmp_path, alarms, max_bytes)
    assert len(doc["alarms"]) + doc["alarms_truncated"] == alarms
    if shown is not None:
        assert (len(doc["alarms"]), doc["alarms_truncated"]) == (shown, truncated)
    else:
        assert doc["alarms_truncated"] > 0
    assert [a["alarm_id"] for a in doc["alarms"]] == list(range(1, len(doc["alarms"]) + 1))
    assert doc["monitors"][0]["chart"] == "p" and doc["monitors"][0]["limits"] is None
    assert doc["active_mask"] == (1 if alarms else 0)


@pytest.mark.parametrize(
    ("definitions", "names"),
    [
        ([("fails", '{"name": "fails", "measure": "fail_fraction"}')], ["fails"]),
        ([("old", '{"name": "old", "measure": "gone"}')], []),  # another release's
        ([("bad", "not json"), ("u", '{"name": "u", "measure": "defects"}')], ["u"]),
    ],
)
def test_monitors_that_no_longer_parse_are_left_out(tmp_path, definitions, names):
    with open_store(tmp_path / "station.db") as opened:
        conn = opened.connect()
        with transaction(conn):
            store.save_monitors(conn, definitions)
        doc = json.loads(SpcStateBuilder("line-1", "station-1", "abc", False, 4096)(conn))
    VALIDATOR.validate(doc)
    assert [m["name"] for m in doc["monitors"]] == names
    assert doc["enabled"] is False
