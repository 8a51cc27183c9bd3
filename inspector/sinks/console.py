"""Console sink: one line (or one JSON object) per part, for the demo and `run`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from inspector.registry import OpenContext
from inspector.sinks.base import Sink
from inspector.sinks.config import ConsoleSinkConfig
from inspector.types import Inspection

__all__ = ["ConsoleSink", "record_json"]


def record_json(record: Inspection, names: tuple[str, ...]) -> dict[str, Any]:
    """The JSON form of a record (demo --json, and later MQTT results)."""
    defects = record.judgement.defects
    names = record.names(names)
    return {
        "seq": record.seq,
        "trigger_id": record.trigger_id,
        "origin": record.origin,
        "part_serial": record.part_serial,
        "time": record.wall_time,
        "verdict": record.verdict.value,
        "result_code": record.result_code,
        "reason": record.judgement.reason,
        "defects": [
            {
                "class": names[int(c)],
                "score": round(float(s), 4),
                "xyxy": [round(float(v), 1) for v in box],
            }
            for box, s, c in zip(defects.xyxy, defects.score, defects.class_id, strict=True)
        ],
        "max_score": round(record.detections.max_score(), 4),
        "latency_ms": round(record.latency_ms, 3),
        "detect_ms": round(record.times.ms("detect_start", "detect_end"), 3),
        "frame_seq": record.frame_seq,
        "model_sha256": record.model_sha256,
        "config_hash": record.config_hash,
        **({"recipe": record.recipe} if record.recipe is not None else {}),
    }


class ConsoleSink(Sink):
    """Prints each record; `annotate` may add a suffix (the demo's ground-truth check)."""

    name = "console"

    def __init__(
        self,
        names: tuple[str, ...],
        as_json: bool = False,
        stream: TextIO | None = None,
        annotate: Callable[[Inspection], dict[str, Any]] | None = None,
    ) -> None:
        self.names = names
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.annotate = annotate

    @classmethod
    def open(cls, config: ConsoleSinkConfig, context: OpenContext) -> ConsoleSink:
        return cls(context.class_names, as_json=config.json_lines)

    def handle(self, record: Inspection) -> None:
        extra = self.annotate(record) if self.annotate else {}
        if self.as_json:
            self.stream.write(json.dumps(record_json(record, self.names) | extra) + "\n")
        else:
            self.stream.write(self._line(record, extra) + "\n")
        self.stream.flush()

    def _line(self, record: Inspection, extra: dict[str, Any]) -> str:
        reason = record.judgement.reason or "-"
        truth = ""
        if "truth" in extra:
            mark = "ok" if extra["agrees"] else "WRONG"
            truth = f"  truth {extra['truth']:<9} {mark}"
        return (
            f"part {record.seq:>4}  {record.verdict.value:<11} code {record.result_code:>5}  "
            f"{reason:<22} latency {record.latency_ms:7.1f} ms{truth}"
        )
