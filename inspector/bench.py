"""`inspector bench`: the raw backend and the whole pipeline, same model, same run.

- raw: the preprocessed tensor in, the raw output out, nothing else (`Detector.infer`);
  preprocessing and decoding are timed on their own beside it. Twice: back to back (the
  backend's throughput), and once per frame period of the recording, as the paced
  pipeline sees it: a runtime idle between parts is slower to answer than one kept hot
  (caches, sleeping worker threads), and the pipeline's own cost is the difference
  between its latency and that of the runtime at the same cadence.
- pipeline throughput: the station on the recording, every frame a part (line trigger),
  as fast as the file decodes; parts per second from the first trigger to the last
  verdict. Twice: decoding the recording as it goes (as the demo does: the decoder
  shares the cores with inference), and from a stretch of it decoded into memory
  beforehand (as a camera driver hands over decoded frames): the pipeline's own cost.
- pipeline latency: the same station with the recording paced at its frame rate, so a
  part never waits for the previous one: trigger to verdict, and its stages.
- PLC (with --plc-cycles): a simulated PLC drives the Modbus handshake on loopback; the
  PLC's trigger edge -> RESULT_VALID, against the station's own trigger -> verdict for
  the same parts: the difference is what the PLC link costs. The PLC runs in a process
  of its own, as a real PLC is a machine of its own: in the station's process its
  polling would contend for the station's interpreter lock and be measured as link
  cost. It polls every `plc_poll_ms`, as a PLC's Modbus client polls on its scan.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.camera.memory import MemorySource
from inspector.config import StationConfig, parse_config
from inspector.detect.base import DecodeParams, ModelOverrides, open_detector
from inspector.errors import DataError
from inspector.factory import build_station
from inspector.plc.simulate import SimulationPlan, simulate
from inspector.sinks.base import Sink
from inspector.types import Inspection
from inspector.versions import runtime_versions

__all__ = ["BenchOptions", "CpuTimes", "run_bench"]


@dataclass(frozen=True)
class BenchOptions:
    model: Path
    video: Path
    backend: str = "onnxruntime"
    threads: int | None = None
    imgsz: int | None = None
    raw_iterations: int = 300
    pipeline_parts: int = 300
    latency_parts: int = 150
    plc_cycles: int = 0
    plc_poll_ms: float = 1.0


def percentiles(values_ms: list[float] | np.ndarray) -> dict[str, float]:
    v = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(v, 50)), 3),
        "p99": round(float(np.percentile(v, 99)), 3),
        "max": round(float(v.max()), 3),
    }


def _timed(fn: Callable[[], object], n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t
    return out * 1000.0


def _paced(fn: Callable[[], object], n: int, period_s: float) -> np.ndarray:
    """`_timed`, one call per period, as parts arrive on a line."""
    out = np.empty(n)
    for i in range(n):
        time.sleep(period_s)
        t = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t
    return out * 1000.0


def first_frame(video: Path) -> np.ndarray:
    capture = cv2.VideoCapture(str(video))
    ok, frame = capture.read()
    capture.release()
    if not ok:
        raise DataError(f"{video}: cannot be read as a video")
    return frame


def frame_period_s(video: Path) -> float:
    """The recording's frame period (1/30 s where the file does not say)."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return 1.0 / fps if fps > 0 else 1.0 / 30


def measure_raw(options: BenchOptions) -> dict[str, Any]:
    frame = first_frame(options.video)
    with open_detector(
        options.model,
        options.backend,
        DecodeParams(conf=0.25),
        ModelOverrides(imgsz=options.imgsz),
        threads=options.threads,
    ) as detector:
        tensor, geometry = detector.letterbox(frame)
        for _ in range(20):
            output = detector.infer(tensor)
        infer = _timed(lambda: detector.infer(tensor), options.raw_iterations)
        period_s = frame_period_s(options.video)
        paced = _paced(lambda: detector.infer(tensor), options.latency_parts, period_s)
        pre = _timed(lambda: detector.letterbox(frame), 100)
        decode = _timed(lambda: detector.decoder(output, geometry), 100)
        info = detector.info
    return {
        "raw_fps": round(1000.0 / float(infer.mean()), 2),
        "raw_latency_ms": percentiles(infer),
        "raw_paced_latency_ms": percentiles(paced),
        "preprocess_ms": round(float(np.median(pre)), 3),
        "decode_ms": round(float(np.median(decode)), 3),
        "imgsz": list(info.input_hw),
        "model_sha256": info.sha256,
    }


class _Collector(Sink):
    name = "bench"

    def __init__(self) -> None:
        self.records: list[Inspection] = []

    def handle(self, record: Inspection) -> None:
        self.records.append(record)


def _config(options: BenchOptions, pace: str, log_dir: Path) -> StationConfig:
    return parse_config(
        {
            "camera": {"kind": "video", "path": str(options.video), "pace": pace, "loop": True},
            "trigger": {"kind": "line", "deadline_ms": 10_000},
            "model": {
                "path": str(options.model),
                "backend": options.backend,
                "threads": options.threads,
                "imgsz": options.imgsz,
            },
            "judge": {"min_confidence": 0.25},
            "storage": {
                "database": str(log_dir / "bench.db"),
                "images_dir": str(log_dir / "img"),
                "save_failed": False,
                "save_pass_fraction": 0,
            },
        },
        "bench config",
    )


def run_station(
    options: BenchOptions, pace: str, parts: int, from_memory: bool = False
) -> list[Inspection]:
    collector = _Collector()
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        config = _config(options, pace, Path(tmp))
        source = MemorySource.open(config.camera) if from_memory else None
        station = build_station(config, extra_sinks=[collector], source=source).station
        station.start()
        try:
            while station.stats.parts < parts and not station.wait(0.05):
                pass
        finally:
            station.stop()
    return collector.records[:parts]


def _parts_per_second(records: list[Inspection]) -> float | None:
    span = records[-1].times.judged - records[0].times.trigger
    return round((len(records) - 1) / span, 2) if span > 0 else None


def measure_pipeline(options: BenchOptions) -> dict[str, Any]:
    fast = run_station(options, "fast", options.pipeline_parts)[10:]  # skip warm-up
    from_memory = run_station(options, "fast", options.pipeline_parts, from_memory=True)[10:]
    paced = run_station(options, "realtime", options.latency_parts)[5:]
    latency = [r.latency_ms for r in paced]
    return {
        "pipeline_fps": _parts_per_second(fast),
        "pipeline_from_memory_fps": _parts_per_second(from_memory),
        "latency_ms": percentiles(latency),
        "stages_ms": {
            "queue": percentiles([r.times.ms("trigger", "detect_start") for r in paced]),
            "detect": percentiles([r.times.ms("detect_start", "detect_end") for r in paced]),
            "judge": percentiles([r.times.ms("detect_end", "judged") for r in paced]),
        },
        "parts": {"throughput": len(fast), "latency": len(paced)},
    }


def measure_plc(options: BenchOptions) -> dict[str, Any]:
    """PLC-seen cycle vs the station's own latency, matched part by part (trigger id)."""
    collector = _Collector()
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        doc = _config(options, "realtime", Path(tmp)).model_dump(mode="json")
        doc["trigger"] = {"kind": "plc", "deadline_ms": 10_000}
        doc["plc"] = {"enabled": True, "host": "127.0.0.1", "port": 0}
        parts = build_station(parse_config(doc, "bench config"), extra_sinks=[collector])
        endpoint = parts.plc.transport.endpoint
        plan = SimulationPlan(
            cycles=options.plc_cycles, rate_hz=10_000, poll_interval_s=options.plc_poll_ms / 1000
        )
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as plc_process:
            plc_process.submit(int).result()  # the PLC process is up before the station
            parts.station.start()
            try:
                report = plc_process.submit(
                    simulate, endpoint.host, endpoint.port, 1, plan
                ).result()
            finally:
                parts.station.stop()
    station_ms = {r.trigger_id: r.latency_ms for r in collector.records}
    cycles = [c for c in report.results if c.cycle_ms is not None and c.trigger_id in station_ms]
    plc_ms = [c.cycle_ms for c in cycles]
    own_ms = [station_ms[c.trigger_id] for c in cycles]
    overhead = [p - o for p, o in zip(plc_ms, own_ms, strict=True)]
    summary = report.as_json()
    return {
        "plc": {
            "cycles": len(cycles),
            "trigger_to_result_valid_ms": percentiles(plc_ms),
            "station_trigger_to_verdict_ms": percentiles(own_ms),
            "overhead_ms": percentiles(overhead),
            "plc_poll_ms": options.plc_poll_ms,
            **{k: summary[k] for k in ("missed_triggers", "id_mismatches", "unearned_pass")},
        }
    }


@dataclass(frozen=True)
class CpuTimes:
    """The host's CPU time counters (Linux /proc/stat): all of it, and what the
    hypervisor stole for other guests. On a virtual machine stolen time comes in bursts
    that no code of ours causes, so every figure says how much of it there was."""

    total: int
    steal: int

    @classmethod
    def now(cls) -> CpuTimes | None:
        try:
            ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        except (OSError, ValueError):
            return None
        return cls(sum(ticks), ticks[7]) if len(ticks) == 8 else None

    def steal_fraction_since(self, before: CpuTimes | None) -> float | None:
        if before is None or self.total <= before.total:
            return None
        return round((self.steal - before.steal) / (self.total - before.total), 3)


def _leg(
    name: str,
    measure: Callable[[BenchOptions], dict[str, Any]],
    options: BenchOptions,
    steal: dict[str, float | None],
) -> dict[str, Any]:
    before = CpuTimes.now()
    figures = measure(options)
    after = CpuTimes.now()
    steal[name] = after.steal_fraction_since(before) if after else None
    return figures


def run_bench(options: BenchOptions) -> dict[str, Any]:
    if not options.video.is_file():
        raise DataError(f"{options.video}: video not found")
    steal: dict[str, float | None] = {}
    raw = _leg("raw", measure_raw, options, steal)
    pipeline = _leg("pipeline", measure_pipeline, options, steal)
    doc: dict[str, Any] = {
        "model": str(options.model),
        "backend": options.backend,
        **raw,
        **pipeline,
    }
    if options.plc_cycles:
        doc |= _leg("plc", measure_plc, options, steal)
    doc["host_cpu_steal"] = steal
    for key, fps_key in (
        ("pipeline_over_raw", "pipeline_fps"),
        ("pipeline_from_memory_over_raw", "pipeline_from_memory_fps"),
    ):
        if doc[fps_key]:
            doc[key] = round(doc[fps_key] / doc["raw_fps"], 3)
    for key, raw_key in (
        ("latency_over_raw_p99_ms", "raw_latency_ms"),
        ("latency_over_raw_paced_p99_ms", "raw_paced_latency_ms"),
    ):
        doc[key] = round(doc["latency_ms"]["p99"] - doc[raw_key]["p99"], 3)
    doc["machine"] = {
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": runtime_versions(),
    }
    return doc
