"""`inspector bench --web`: the pipeline with a browser watching the dashboard, against
the same station with nobody watching, in alternating blocks on one station, so that
the slow spells of a shared machine fall on both alike.

The watcher is what a browser on the live page does: it reads the MJPEG stream as fast
as it comes and polls /api/status twice a second. Throughput is measured on blocks of
parts from memory as fast as the station takes them; trigger-to-verdict latency on
parts let through one at a time at the recording's rate."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

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
from inspector.factory import build_station
from inspector.web.config import WebConfig

__all__ = ["measure_web"]

_STATUS_PERIOD_S = 0.5  # how often the live page polls /api/status


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


@dataclass
class _Watcher:
    """A browser on the live page, on its own threads; counts what it received."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    frames: int = 0
    polls: int = 0

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        self.stop.clear()
        threads = [
            threading.Thread(target=self._stream, name="bench-watch-stream", daemon=True),
            threading.Thread(target=self._poll, name="bench-watch-status", daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            time.sleep(0.2)  # the stream is open before the block's parts come
            yield
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(5.0)

    def _stream(self) -> None:
        with (
            httpx.Client(timeout=10) as client,
            client.stream("GET", self.url + "live.mjpg") as response,
        ):
            for chunk in response.iter_raw():
                self.frames += chunk.count(b"Content-Type: image/jpeg")
                if self.stop.is_set():
                    return

    def _poll(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.wait(_STATUS_PERIOD_S):
                client.get(self.url + "api/status").raise_for_status()
                self.polls += 1


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
            built.station.stop()
    watched, alone = legs
    doc: dict[str, Any] = {"watched": watched.figures(), "alone": alone.figures()}
    doc["watched_over_alone_fps"] = _ratio(watched.throughput.fps, alone.throughput.fps)
    doc["watched_over_alone_p99"] = _ratio(
        doc["watched"]["latency_ms"]["p99"], doc["alone"]["latency_ms"]["p99"]
    )
    doc["watcher"] = {"frames_received": watcher.frames, "status_polls": watcher.polls}
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
