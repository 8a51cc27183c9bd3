"""What SPC costs per part, for `inspector bench`.

- `image_health_us`: measuring one part's brightness and focus (`spc.health`), which
  the inspection worker does while the model infers: the only SPC work on the worker.
- `monitors_us_per_part`: the SPC sink's thread, the default monitors (fail fraction,
  defects, three classes, brightness, focus) on parts of a recorded run, subgroups of
  50 and their commits included (spread over the parts of each subgroup). Off the
  PLC's path: it says how much of a core SPC takes, not how long a part waits.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from inspector.spc.config import SpcConfig
from inspector.spc.health import measure_image
from inspector.spc.monitor import SpcEngine, SpcSink, monitor_specs
from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.types import (
    Detections,
    Inspection,
    Judgement,
    StageTimes,
    Verdict,
)

__all__ = ["measure_spc"]

CLASS_NAMES = ("crack", "blowhole", "break")
SUBGROUP = 50


def measure_spc(frame: np.ndarray, parts: int = 2000) -> dict[str, Any]:
    calls = np.empty(200)
    for i in range(len(calls)):
        start = time.perf_counter()
        measure_image(frame)
        calls[i] = time.perf_counter() - start
    return {
        "image_health_us": round(float(np.median(calls)) * 1e6, 1),
        "image_health_frame": list(frame.shape[:2]),
        "monitors_us_per_part": round(_monitors_per_part(frame, parts) * 1e6, 1),
        "monitors": len(monitor_specs(SpcConfig(enabled=True), CLASS_NAMES)),
        "subgroup_size": SUBGROUP,
        "parts": parts,
    }


def _monitors_per_part(frame: np.ndarray, parts: int) -> float:
    """Seconds of the SPC sink per part, on a store of its own."""
    health = measure_image(frame)
    with tempfile.TemporaryDirectory(prefix="inspector-bench-spc-") as tmp:
        store = open_store(Path(tmp) / "spc.db")
        try:
            writer = InspectionWriter(store.connect(), CLASS_NAMES)
            config = SpcConfig(enabled=True, subgroup_size=SUBGROUP, baseline_subgroups=5)
            engine = SpcEngine(
                store.connect(), monitor_specs(config, CLASS_NAMES), SUBGROUP, 5
            ).open()
            sink = SpcSink(engine, CLASS_NAMES)
            sink.bind(lambda *args, **detail: None)
            records = [_record(seq, health) for seq in range(1, parts + 1)]
            for record in records:
                writer.commit(record)  # as the worker does, before the sink sees it
            start = time.perf_counter()
            sink.handle_batch(records)
            elapsed = time.perf_counter() - start
            sink.close()
        finally:
            store.close()
    return elapsed / parts


def _record(seq: int, health: Any) -> Inspection:
    """A part as the station records it: one in ten fails with one or two defects."""
    rng = np.random.default_rng(seq)
    failed = rng.random() < 0.1
    n = int(rng.integers(1, 3)) if failed else 0
    defects = Detections.from_arrays(
        np.tile([10.0, 10.0, 40.0, 40.0], (n, 1)), np.full(n, 0.9), rng.integers(0, 3, n)
    )
    verdict = Verdict.FAIL if failed else Verdict.PASS
    varied = dataclasses.replace(
        health, brightness=health.brightness + rng.normal(), focus=health.focus + rng.normal()
    )
    return Inspection(
        seq=seq,
        trigger_id=seq,
        origin="line",
        part_serial=None,
        times=StageTimes(0.0),
        wall_time=time.time(),
        detections=defects,
        judgement=Judgement(verdict, 1 if failed else 0, defects),
        model_id="bench",
        model_sha256="0" * 64,
        config_hash="0" * 16,
        run_id="bench",
        image_health=varied,
    )
