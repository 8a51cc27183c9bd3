"""Home Assistant MQTT discovery: retained config messages under
`<discovery prefix>/<component>/<node>/<object>/config`, so the station's state, last
verdict, part and fail counters and SPC alarm appear as entities of one device with
no hand set-up. Every entity reads the retained `summary` topic, and is available
while the retained `status` says online (the last will turns them unavailable).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from inspector.mqtt.payloads import encode
from inspector.mqtt.topics import Topics

__all__ = ["ENTITIES", "Entity", "discovery_messages"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")  # Home Assistant's node and object ids


@dataclass(frozen=True, slots=True)
class Entity:
    object_id: str
    component: str  # sensor, binary_sensor
    name: str
    template: str  # Jinja over the summary's JSON
    extra: tuple[tuple[str, Any], ...] = ()


ENTITIES = (
    Entity("state", "sensor", "State", "{{ value_json.state }}", (("icon", "mdi:state-machine"),)),
    Entity(
        "last_verdict",
        "sensor",
        "Last verdict",
        "{{ value_json.last_verdict or 'none' }}",
        (("icon", "mdi:check-decagram"),),
    ),
    Entity(
        "parts",
        "sensor",
        "Parts",
        "{{ value_json.parts }}",
        (("state_class", "total_increasing"), ("unit_of_measurement", "parts")),
    ),
    Entity(
        "fails",
        "sensor",
        "Fails",
        "{{ value_json.fails }}",
        (("state_class", "total_increasing"), ("unit_of_measurement", "parts")),
    ),
    Entity(
        "spc_alarm",
        "binary_sensor",
        "SPC alarm",
        "{{ 'ON' if value_json.spc_active_mask else 'OFF' }}",
        (("device_class", "problem"),),
    ),
)


def discovery_messages(
    discovery_prefix: str, topics: Topics, version: str
) -> list[tuple[str, bytes]]:
    """(topic, payload) of every entity's retained discovery config."""
    node = _UNSAFE.sub("_", f"inspector_{topics.line}_{topics.station}")
    device = {
        "identifiers": [node],
        "name": f"inspector {topics.line}/{topics.station}",
        "manufacturer": "inspector",
        "model": "edge inspection station",
        "sw_version": version,
    }
    messages = []
    for entity in ENTITIES:
        doc = {
            "name": entity.name,
            "unique_id": f"{node}_{entity.object_id}",
            "object_id": f"{node}_{entity.object_id}",
            "state_topic": topics.summary,
            "value_template": entity.template,
            "availability_topic": topics.status,
            "availability_template": "{{ value_json.status }}",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": {"name": "inspector", "sw_version": version},
            **dict(entity.extra),
        }
        topic = f"{discovery_prefix}/{entity.component}/{node}/{entity.object_id}/config"
        messages.append((topic, encode(doc)))
    return messages
