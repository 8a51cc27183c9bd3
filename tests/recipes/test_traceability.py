"""Every record names its recipe, and its classes by its own model's names, in the log,
the console's JSON and the MQTT result (valid against the published schema)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from inspector.mqtt.payloads import PayloadBuilder
from inspector.sinks.console import record_json
from inspector.store.inspections import inspection_row
from inspector.types import Verdict
from tests.mqtt.test_payloads import valid
from tests.sinks.records import CLASS_NAMES, make_inspection

STEEL = ("crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches")


@pytest.mark.parametrize(
    ("recipe", "names", "mqtt_recipe", "classes"),
    [
        (None, None, None, ["crack", "pit"]),  # a station without recipes
        ((2, "steel"), STEEL, {"number": 2, "name": "steel"}, ["crazing", "patches"]),
    ],
)
def test_records_carry_their_recipe_and_class_names(recipe, names, mqtt_recipe, classes):
    record = make_inspection(1, Verdict.FAIL)  # defects of class 0 and 2
    if recipe is not None:
        record = dataclasses.replace(
            record, recipe=recipe[0], recipe_name=recipe[1], class_names=names
        )
    row = inspection_row(record, record.names(CLASS_NAMES))
    assert (row["recipe"], row["recipe_name"]) == (recipe or (None, None))
    assert sorted(json.loads(row["classes"])) == classes
    builder = PayloadBuilder("station-1", "line-1", "store", CLASS_NAMES, 65536)
    doc = valid("result", builder.result(record, 1))
    assert doc["recipe"] == mqtt_recipe
    assert sorted({d["class"] for d in doc["defects"]}) == classes
    assert record_json(record, CLASS_NAMES).get("recipe") == (recipe[0] if recipe else None)
