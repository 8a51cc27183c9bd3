"""The result payload's `camera` object: the inspected frame's origin, or null."""

from __future__ import annotations

import dataclasses
import json

import jsonschema
import pytest

from inspector.mqtt.payloads import PayloadBuilder, load_schema
from inspector.types import FrameOrigin, Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection

BUILDER = PayloadBuilder("station-1", "line-1", "0123456789abcdef", CLASS_NAMES, 262_144)


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        (None, None),
        (
            FrameOrigin("Aravis-Fake-GV01", 65535, 1_796_395_292_977_509_000, "BayerRG8"),
            {
                "id": "Aravis-Fake-GV01",
                "frame_id": 65535,
                "timestamp_ns": 1_796_395_292_977_509_000,
                "pixel_format": "BayerRG8",
            },
        ),
        (
            FrameOrigin("rtsp://***@cam/x"),
            {
                "id": "rtsp://***@cam/x",
                "frame_id": None,
                "timestamp_ns": None,
                "pixel_format": "BGR8",
            },
        ),
    ],
)
def test_the_frame_origin_is_published(origin: FrameOrigin | None, expected: object) -> None:
    record = dataclasses.replace(make_inspection(3, Verdict.PASS), camera=origin)
    doc = json.loads(BUILDER.result(record, msg_seq=1))
    jsonschema.Draft202012Validator(load_schema("result")).validate(doc)
    assert doc["camera"] == expected


def test_a_camera_object_missing_a_field_is_refused() -> None:
    doc = json.loads(BUILDER.result(make_inspection(3, Verdict.PASS), msg_seq=1))
    doc["camera"] = {"id": "cam", "frame_id": 1, "pixel_format": "Mono8"}
    with pytest.raises(jsonschema.ValidationError, match="timestamp_ns"):
        jsonschema.Draft202012Validator(load_schema("result")).validate(doc)
