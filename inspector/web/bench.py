"""`inspector bench --web`: the pipeline with a browser watching the dashboard, against
the same station with nobody watching, in alternating blocks on one station, so that
the slow spells of a shared machine fall on both alike.

The watcher (`watch.py`) is what a browser on the live page does, in a process of its
own: it reads the MJPEG stream as fast as it comes and polls /api/status twice a
second. Throughput is measured on blocks of parts from memory as fast as the station
takes them; trigger-to-verdict latency on parts let through one at a time at the
recording's rate."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.bench import (
    WARM_UP_PARTS,
    BenchOptions,
    Throughput,
    _Collector,
    _config,
    percentiles,
)
from inspector.camera.config import VideoCamera
from inspector.camera.memory import GatedReplay, MemorySource
from inspector.errors import InspectorError
from inspector.factory import build_station
from inspector.web.config import WebConfig

__all__ = ["measure_web"]


@dataclass
class _Leg:
    """One side of the comparison: throughput blocks and paced latencies."""

    throughput: Throughput = field(default_factory=Throughput)
    latency_ms: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {
            "pipeline_fps": self.throughput.fps,
            "pipeline_median_fps": self.throughput.median_fps,
            "latency_ms": percentiles(self.latency_ms),
        }


class _Watcher:
    """A browser on the live page, in a process of its own (as a browser is: its work
    must not take the station's interpreter lock), switched on and off between blocks
    through its stdin; it reports what it received when told to end."""

    def __init__(self, url: str) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "inspector.web.watch", url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def _tell(self, line: str) -> str:
        stdin, stdout = self._process.stdin, self._process.stdout
        if stdin is None or stdout is None:
            raise InspectorError("bench: the watcher has no pipes")
        stdin.write(line + "\n")
        stdin.flush()
        return stdout.readline().strip()  # the watcher answers once it has done it

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        self._tell("on")
        try:
            yield
        finally:
            self._tell("off")

    def close(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self._tell("end")))
        finally:
            self._process.wait(10)


def measure_web(options: BenchOptions) -> dict[str, Any]:
    memory = MemorySource.open(VideoCamera(kind="video", path=options.video, pace="fast"))
    collector = _Collector()
    replay = memory.gated()
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        config = _config(options, "fast", Path(tmp))
        web = WebConfig(enabled=True, port=0)
        built = build_station(
            config.model_copy(update={"web": web}), extra_sinks=[collector], source=replay
        )
        watcher = _Watcher(built.web.url if built.web else "")
        built.station.start()
        try:
            legs = _alternate(options, replay, collector, watcher, 1.0 / (memory.fps or 30.0))
        finally:
            received = watcher.close()
            built.station.stop()
    watched, alone = legs
    doc: dict[str, Any] = {"watched": watched.figures(), "alone": alone.figures()}
    doc["watched_over_alone_fps"] = _ratio(watched.throughput.fps, alone.throughput.fps)
    doc["watched_over_alone_p99"] = _ratio(
        doc["watched"]["latency_ms"]["p99"], doc["alone"]["latency_ms"]["p99"]
    )
    doc["watcher"] = received
    return doc


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _alternate(
    options: BenchOptions,
    replay: GatedReplay,
    collector: _Collector,
    watcher: _Watcher,
    period_s: float,
) -> tuple[_Leg, _Leg]:
    """Blocks with and without the watcher, each first in every other pair."""
    watched, alone = _Leg(), _Leg()
    replay.let_through(WARM_UP_PARTS)
    collector.take(WARM_UP_PARTS)
    for index in range(options.blocks):
        order = ((True, watched), (False, alone))
        for watching, leg in order if index % 2 else order[::-1]:
            with watcher.watching() if watching else contextlib.nullcontext():
                replay.let_through(options.block_parts)
                leg.throughput.add(collector.take(options.block_parts))
                for _ in range(options.block_parts):  # paced: one part a period
                    replay.let_through(1)
                    leg.latency_ms.extend(r.latency_ms for r in collector.take(1))
                    time.sleep(period_s)
    return watched, alone
