"""The JSON payloads the station publishes, one builder per topic, no transport here.

Each payload carries `schema_version`; its JSON Schema is `schemas/<topic>.v<N>.json`
in this package (published in docs/mqtt.md, and every message the tests see is
validated against it). Results and events carry `msg_seq`: per station and topic, it
rises by one per message and never repeats, even across restarts, for as long as the
station keeps its store (`store_id` names that store), so consumers de-duplicate by
(station, store_id, msg_seq) and see a gap as a loss the station announced.

Builders return compact UTF-8 JSON bytes. The result builder runs on the inspection
worker inside the part's transaction (the outbox row), so it builds one dict and one
string and nothing else on the usual path.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inspector.types import Detections, FrameOrigin, Inspection, StationEvent, StationState

__all__ = [
    "SCHEMAS",
    "SCHEMA_VERSION",
    "PayloadBuilder",
    "StatusBuilder",
    "encode",
    "iso_utc",
    "load_schema",
]

SCHEMA_VERSION = 1
SCHEMA_DIR = Path(__file__).parent / "schemas"
SCHEMAS = {
    name: SCHEMA_DIR / f"{name}.v{SCHEMA_VERSION}.json"
    for name in ("result", "event", "status", "spc", "summary")
}

_COMPACT = {"separators": (",", ":"), "ensure_ascii": False, "allow_nan": False}


def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema of payload `name` (result, event, status, spc, summary)."""
    loaded: dict[str, Any] = json.loads(SCHEMAS[name].read_text(encoding="utf-8"))
    return loaded


def iso_utc(wall_time: float) -> str:
    """ISO 8601 in UTC with milliseconds and a Z: one form for every consumer."""
    moment = datetime.fromtimestamp(wall_time, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(doc: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON; NaN and infinity refused (JSON has neither)."""
    return json.dumps(doc, **_COMPACT).encode()  # type: ignore[arg-type]


def _camera(origin: FrameOrigin | None) -> dict[str, Any] | None:
    if origin is None:
        return None
    return {
        "id": origin.camera_id,
        "frame_id": origin.frame_id,
        "timestamp_ns": origin.timestamp_ns,
        "pixel_format": origin.pixel_format,
    }


def _ms(value: float) -> float | None:
    """A stage duration in ms, rounded to the microsecond; None for one that did not happen."""
    return round(value, 3) if math.isfinite(value) else None


@dataclass(frozen=True)
class PayloadBuilder:
    """Builds the result and event payloads of one station (its ids, class names and
    the largest payload it may write)."""

    station: str
    line: str
    store_id: str
    class_names: tuple[str, ...]
    max_bytes: int

    def result(self, record: Inspection, msg_seq: int) -> bytes:
        """One part's result. Defects that would make it larger than `max_bytes` are
        left out, the first ones kept, and counted in `defects_truncated`."""
        defects = self._defects(record.judgement.defects, record.names(self.class_names))
        doc = self._result_doc(record, msg_seq, defects)
        payload = encode(doc)
        if len(payload) > self.max_bytes:
            payload = self._fitted(doc, defects)
        return payload

    def event(self, event: StationEvent, msg_seq: int) -> bytes:
        doc = {
            "schema_version": SCHEMA_VERSION,
            "msg_seq": msg_seq,
            "store_id": self.store_id,
            "line": self.line,
            "station": self.station,
            "time": iso_utc(event.wall_time),
            "epoch_s": round(event.wall_time, 6),
            "kind": event.kind.value,
            "severity": event.severity.value,
            "message": event.message,
            "state": event.state.value,
            "detail": dict(event.detail),
        }
        payload = encode(doc)
        if len(payload) > self.max_bytes:  # a message of megabytes: keep its start
            doc["message"] = event.message[: self.max_bytes // 2] + "..."
            doc["detail"] = {}
            payload = encode(doc)
        return payload

    def _result_doc(
        self, record: Inspection, msg_seq: int, defects: list[dict[str, Any]]
    ) -> dict[str, Any]:
        times = record.times
        return {
            "schema_version": SCHEMA_VERSION,
            "msg_seq": msg_seq,
            "store_id": self.store_id,
            "line": self.line,
            "station": self.station,
            "run_id": record.run_id,
            "seq": record.seq,
            "time": iso_utc(record.wall_time),
            "epoch_s": round(record.wall_time, 6),
            "trigger_id": record.trigger_id,
            "origin": record.origin,
            "part_serial": record.part_serial,
            "verdict": record.verdict.value,
            "result_code": record.result_code,
            "reason": record.judgement.reason,
            "defects": defects,
            "defects_truncated": 0,
            "max_score": round(record.detections.max_score(), 4),
            "latency_ms": {
                "total": _ms(times.ms("trigger", "judged")),
                "capture": _ms(times.ms("trigger", "capture")),
                "queue": _ms(times.ms("capture", "detect_start")),
                "detect": _ms(times.ms("detect_start", "detect_end")),
                "judge": _ms(times.ms("detect_end", "judged")),
            },
            "model": {"id": record.model_id, "sha256": record.model_sha256},
            "config_hash": record.config_hash,
            "calibration_id": record.calibration_id,
            "frame_seq": record.frame_seq,
            "camera": _camera(record.camera),
            "recipe": _recipe(record),
        }

    def _defects(self, defects: Detections, names: tuple[str, ...]) -> list[dict[str, Any]]:
        return [
            {
                "class": names[c] if 0 <= c < len(names) else f"#{c}",
                "class_id": c,
                "score": round(float(s), 4),
                "box": [round(float(v), 1) for v in box],
            }
            for box, s, c in zip(
                defects.xyxy, defects.score, defects.class_id.tolist(), strict=True
            )
        ]

    def _fitted(self, doc: dict[str, Any], defects: Sequence[dict[str, Any]]) -> bytes:
        """The result with as many of its first defects as fit in `max_bytes`."""
        doc["defects"] = []
        doc["defects_truncated"] = len(defects)
        room = self.max_bytes - len(encode(doc))
        kept = 0
        for defect in defects:
            room -= len(encode(defect)) + 1  # and its comma
            if room < 0:
                break
            kept += 1
        doc["defects"] = list(defects[:kept])
        doc["defects_truncated"] = len(defects) - kept
        return encode(doc)


@dataclass(frozen=True)
class StatusBuilder:
    """The station's retained status (`<base>/status`): online with the station's
    state, or offline and why. `will()` is the one the broker publishes when the
    connection dies; written at connect time, it has no time in it."""

    line: str
    station: str
    client_id: str
    version: str

    def __call__(self, online: bool, reason: str, state: StationState | None) -> bytes:
        return self._payload(online, reason, state, time.time())

    def will(self) -> bytes:
        return self._payload(False, "connection lost", None, None)

    def _payload(
        self, online: bool, reason: str, state: StationState | None, wall_time: float | None
    ) -> bytes:
        return encode(
            {
                "schema_version": SCHEMA_VERSION,
                "line": self.line,
                "station": self.station,
                "client_id": self.client_id,
                "status": "online" if online else "offline",
                "state": state.value if state is not None else None,
                "reason": reason,
                "time": iso_utc(wall_time) if wall_time is not None else None,
                "epoch_s": round(wall_time, 6) if wall_time is not None else None,
                "inspector_version": self.version,
            }
        )


def _recipe(record: Inspection) -> dict[str, Any] | None:
    """The recipe that judged the part (null on a station without recipes)."""
    if record.recipe is None:
        return None
    return {"number": record.recipe, "name": record.recipe_name}
