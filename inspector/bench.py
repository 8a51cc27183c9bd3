"""`inspector bench`: the raw backend and the whole pipeline, same model, same run.

- raw: the preprocessed tensor in, the raw output out, nothing else (`Detector.infer`);
  preprocessing and decoding are timed on their own beside it.
- pipeline throughput: the station on the recording, every frame a part (line trigger),
  as fast as frames come; parts per second from the first trigger to the last verdict.
  Twice: decoding the recording as it goes (as the demo does: the decoder shares the
  cores with inference), in `rounds` alternating with blocks of raw calls; and from a
  stretch of it decoded into memory beforehand (as a camera driver hands over decoded
  frames): the pipeline's own cost. The second runs interleaved: one station, let
  through a block of parts at a time, and between blocks the raw backend on the
  station's own loaded model, so that both sides of the ratio come from the same
  session within a second of each other.
- pipeline latency: on that station, parts one at a time at the recording's frame rate
  (a part never waits for the previous one), each followed half a period later by one
  raw call: trigger to verdict and its stages, against the runtime at the same cadence
  (a runtime idle between parts answers later than one kept hot: caches, sleeping
  worker threads), so the difference is the pipeline's own.
- Throughput twice over: mean (all the time the parts took, stalls included) and median
  (the typical part: verdict-to-verdict intervals, single calls for the raw backend).
- Why alternate at all: this machine's speed drifts (a virtual machine's stolen time
  comes in spells of seconds); alternating slows the raw and the pipeline figures alike,
  and their ratio holds.
- SPC: what the monitors cost per part on their own thread, and what measuring a
  part's image health costs the inspection worker (`inspector.spc.bench`).
- Calibration (with --calibration PROFILE): undistortion, ROI, letterbox and
  flat-field in one remap per part, against the letterbox alone
  (`inspector.calibrate.bench`).
- Ultralytics (with --versus-ultralytics): the station against Ultralytics predict on
  its own OpenVINO export of the same model over the same frames
  (`inspector.ultralytics_bench`).
- PLC (with --plc-cycles): a simulated PLC drives the Modbus handshake on loopback; the
  PLC's trigger edge -> RESULT_VALID, against the station's own trigger -> verdict for
  the same parts: the difference is what the PLC link costs. The PLC runs in a process
  of its own, as a real PLC is a machine of its own: in the station's process its
  polling would contend for the station's interpreter lock and be measured as link
  cost. It polls every `plc_poll_ms`, as a PLC's Modbus client polls on its scan.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.camera.memory import GatedReplay, MemorySource
from inspector.config import StationConfig, VideoCamera, parse_config
from inspector.detect.base import (
    DecodeParams,
    Detector,
    ModelOverrides,
    backend_options,
    open_detector,
)
from inspector.errors import ConfigError, DataError, InspectorError
from inspector.factory import build_station
from inspector.plc.server import PlcServer
from inspector.plc.simulate import SimulationPlan, simulate
from inspector.sinks.base import Sink
from inspector.types import Inspection
from inspector.versions import runtime_versions

__all__ = ["BenchOptions", "CpuTimes", "run_bench"]


OVERLAP_SETTINGS = ("auto", "on", "off")


@dataclass(frozen=True)
class BenchOptions:
    model: Path
    video: Path
    backend: str = "onnxruntime"
    threads: int | None = None
    overlap: str = "auto"
    imgsz: int | None = None
    raw_iterations: int = 300
    pipeline_parts: int = 300
    latency_parts: int = 300
    plc_cycles: int = 0
    plc_poll_ms: float = 1.0
    rounds: int = 5
    blocks: int = 40
    block_parts: int = 20
    mqtt: str | None = None  # HOST:PORT: also measure the MQTT sink (inspector.mqtt.bench)
    mqtt_backlog: int = 20_000
    calibration: Path | None = None
    web: bool = False  # also: the pipeline with a browser watching the dashboard
    recipe_switches: int = 0  # also: recipe changeovers over the PLC (inspector.recipes_bench)
    recipe_model: Path | None = None  # the second recipe's model (default: `model`)
    # also: the station against Ultralytics predict on its own OpenVINO export over this
    # many frames a side (inspector.ultralytics_bench), the station with `versus_backend`
    versus_frames: int = 0
    versus_backend: str = "auto"

    def __post_init__(self) -> None:
        if self.overlap not in OVERLAP_SETTINGS:
            raise ConfigError(f"bench: overlap must be one of {', '.join(OVERLAP_SETTINGS)}")
        for name, least in (("rounds", 1), ("blocks", 1), ("block_parts", 2), ("latency_parts", 2)):
            if getattr(self, name) < least:
                raise ConfigError(f"bench: {name} must be >= {least}, got {getattr(self, name)}")
        for name in ("raw_iterations", "pipeline_parts"):
            if getattr(self, name) < 2 * self.rounds:
                raise ConfigError(
                    f"bench: {name} must be at least 2 per round ({2 * self.rounds}), "
                    f"got {getattr(self, name)}"
                )

    def share(self, total: int, round_index: int) -> int:
        """Round `round_index`'s part of `total`."""
        return total // self.rounds + (1 if round_index < total % self.rounds else 0)


def percentiles(values_ms: list[float] | np.ndarray) -> dict[str, float]:
    v = np.asarray(values_ms, dtype=np.float64)
    return {
        "p50": round(float(np.percentile(v, 50)), 3),
        "p99": round(float(np.percentile(v, 99)), 3),
        "max": round(float(v.max()), 3),
    }


def _timed(fn: Callable[[], object], n: int) -> np.ndarray:
    """Milliseconds of each of `n` calls."""
    out = np.empty(n)
    for i in range(n):
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


class RawBackend:
    """The backend alone, opened once for the run: blocks of timed inference calls on the
    recording's first frame, letterboxed once."""

    def __init__(self, detector: Detector, frame: np.ndarray) -> None:
        self.detector = detector
        self.frame = frame
        self.tensor, self.geometry = detector.letterbox(frame)
        for _ in range(20):
            self.output = detector.infer(self.tensor)

    def hot(self, n: int) -> np.ndarray:
        return _timed(lambda: self.detector.infer(self.tensor), n)

    def side_stages(self) -> dict[str, float]:
        pre = _timed(lambda: self.detector.letterbox(self.frame), 100)
        decode = _timed(lambda: self.detector.decoder(self.output, self.geometry), 100)
        return {
            "preprocess_ms": round(float(np.median(pre)), 3),
            "decode_ms": round(float(np.median(decode)), 3),
        }


class _Collector(Sink):
    """The station's records, in order: all of them (`records`), or a block at a time as
    they arrive (`take`)."""

    name = "bench"

    def __init__(self) -> None:
        self.records: list[Inspection] = []
        self._arrived = threading.Condition()

    def handle(self, record: Inspection) -> None:
        with self._arrived:
            self.records.append(record)
            self._arrived.notify()

    def take(self, count: int, timeout_s: float = 60.0) -> list[Inspection]:
        """The first `count` records not taken yet, waiting for them to arrive."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.records) >= count, timeout_s):
                raise InspectorError(f"bench: the station judged no part for {timeout_s:.0f} s")
            block, self.records = self.records[:count], self.records[count:]
        return block


def _config(options: BenchOptions, pace: str, log_dir: Path) -> StationConfig:
    return parse_config(
        {
            "camera": {"kind": "video", "path": str(options.video), "pace": pace, "loop": True},
            "trigger": {"kind": "line", "deadline_ms": 10_000},
            "model": {
                "path": str(options.model),
                "backend": backend_options(options.backend).model_dump(mode="json"),
                "threads": options.threads,
                "overlap": options.overlap,
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


WARM_UP_PARTS = 10  # each station's first parts, left out


def run_station(options: BenchOptions, parts: int) -> list[Inspection]:
    """`parts` records of a fresh station on the recording, as fast as it decodes, after
    its warm-up parts."""
    collector = _Collector()
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        config = _config(options, "fast", Path(tmp))
        station = build_station(config, extra_sinks=[collector]).station
        station.start()
        try:
            while station.stats.parts < WARM_UP_PARTS + parts and not station.wait(0.05):
                pass
        finally:
            station.stop()
    return collector.records[WARM_UP_PARTS : WARM_UP_PARTS + parts]


@dataclass
class Throughput:
    """Parts and the time they took, summed over rounds, and each part's own interval
    (verdict to verdict): the median interval is the typical part, which a stall of the
    whole machine does not move."""

    parts: int = 0
    seconds: float = 0.0  # first trigger to last verdict, per block: the parts' own time
    part_intervals_s: list[float] = field(default_factory=list)

    def add(self, records: list[Inspection]) -> None:
        self.parts += len(records)
        self.seconds += records[-1].times.judged - records[0].times.trigger
        verdicts = np.array([r.times.judged for r in records])
        self.part_intervals_s.extend(np.diff(verdicts).tolist())

    @property
    def fps(self) -> float | None:
        return round(self.parts / self.seconds, 2) if self.seconds > 0 else None

    @property
    def median_fps(self) -> float | None:
        median = float(np.median(self.part_intervals_s)) if self.part_intervals_s else 0.0
        return round(1.0 / median, 2) if median > 0 else None


@dataclass
class Samples:
    """Everything the alternating rounds collect."""

    raw_hot: list[np.ndarray] = field(default_factory=list)
    decoding: Throughput = field(default_factory=Throughput)


def _one_round(options: BenchOptions, raw: RawBackend, index: int, samples: Samples) -> None:
    samples.raw_hot.append(raw.hot(options.share(options.raw_iterations, index)))
    samples.decoding.add(run_station(options, options.share(options.pipeline_parts, index)))


@dataclass
class Interleaved:
    """Blocks of parts through the station, and as many raw calls on its model."""

    pipeline: Throughput = field(default_factory=Throughput)
    raw_ms: list[np.ndarray] = field(default_factory=list)
    detect_ms: list[float] = field(default_factory=list)
    paced: list[Inspection] = field(default_factory=list)
    raw_paced_ms: list[float] = field(default_factory=list)
    overlap: bool = False  # whether the station inferred beside its worker

    def figures(self, options: BenchOptions) -> dict[str, Any]:
        raw = np.concatenate(self.raw_ms)
        paced = self.paced
        return {
            "raw_paced_latency_ms": percentiles(self.raw_paced_ms),
            "latency_ms": percentiles([r.latency_ms for r in paced]),
            "stages_ms": {
                "queue": percentiles([r.times.ms("trigger", "detect_start") for r in paced]),
                "detect": percentiles([r.times.ms("detect_start", "detect_end") for r in paced]),
                "judge": percentiles([r.times.ms("detect_end", "judged") for r in paced]),
            },
            "pipeline_from_memory_fps": self.pipeline.fps,
            "pipeline_from_memory_median_fps": self.pipeline.median_fps,
            "raw_interleaved_fps": round(1000.0 / float(raw.mean()), 2),
            "raw_interleaved_median_fps": round(1000.0 / float(np.median(raw)), 2),
            "overlap": self.overlap,
            "interleaved": {
                "blocks": options.blocks,
                "block_parts": options.block_parts,
                "raw_ms": percentiles(raw),
                "pipeline_detect_ms": percentiles(self.detect_ms),
            },
        }


def measure_interleaved(options: BenchOptions, memory: MemorySource) -> Interleaved:
    """The pipeline from memory and the raw backend in alternating blocks, then paced
    parts and raw calls in turn, on one station and its loaded model: a drifting
    machine moves both alike."""
    collector = _Collector()
    replay = memory.gated()
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        config = _config(options, "fast", Path(tmp))
        station = build_station(config, extra_sinks=[collector], source=replay).station
        station.start()
        try:
            detector = station.detector
            result = _alternate(options, detector, replay, collector)
            result.overlap = station.overlapped
            period_s = 1.0 / (memory.fps or 30.0)  # 1/30 s where the file gives no rate
            _alternate_paced(options, detector, replay, collector, period_s, result)
            return result
        finally:
            station.stop()


def _alternate(
    options: BenchOptions, detector: Detector, replay: GatedReplay, collector: _Collector
) -> Interleaved:
    result = Interleaved()
    # the station's input tensor, holding its last part: the time of a call does not
    # depend on the pixels
    tensor = detector.letterbox.tensor

    def pipeline_block() -> None:
        replay.let_through(options.block_parts)
        block = collector.take(options.block_parts)
        result.pipeline.add(block)
        result.detect_ms.extend(r.times.ms("detect_start", "detect_end") for r in block)

    def raw_block() -> None:
        result.raw_ms.append(_timed(lambda: detector.infer(tensor), options.block_parts))

    replay.let_through(WARM_UP_PARTS)
    collector.take(WARM_UP_PARTS)
    for index in range(options.blocks):
        # each goes first in every other block: neither always follows the idle wait
        for block in (raw_block, pipeline_block) if index % 2 else (pipeline_block, raw_block):
            block()
    return result


def _alternate_paced(
    options: BenchOptions,
    detector: Detector,
    replay: GatedReplay,
    collector: _Collector,
    period_s: float,
    result: Interleaved,
) -> None:
    """One part, half a period of rest, one raw call, half a period of rest: each meets
    a station (and runtime) idle since the other, as parts at the line's rate do."""
    tensor = detector.letterbox.tensor
    for _ in range(options.latency_parts):
        replay.let_through(1)
        result.paced.extend(collector.take(1))
        time.sleep(period_s / 2)
        result.raw_paced_ms.extend(_timed(lambda: detector.infer(tensor), 1))
        time.sleep(period_s / 2)


def measure_raw_and_pipeline(options: BenchOptions) -> dict[str, Any]:
    samples = Samples()
    with open_detector(
        options.model,
        options.backend,
        DecodeParams(conf=0.25),
        ModelOverrides(imgsz=options.imgsz),
        threads=options.threads,
    ) as detector:
        raw = RawBackend(detector, first_frame(options.video))
        # decoded once; the interleaved station replays the same frames
        memory = MemorySource.open(VideoCamera(kind="video", path=options.video, pace="fast"))
        for index in range(options.rounds):
            _one_round(options, raw, index, samples)
        side = raw.side_stages()
        info = detector.info
    interleaved = measure_interleaved(options, memory)
    hot = np.concatenate(samples.raw_hot)
    return {
        "raw_fps": round(1000.0 / float(hot.mean()), 2),
        "raw_median_fps": round(1000.0 / float(np.median(hot)), 2),
        "raw_latency_ms": percentiles(hot),
        **side,
        "imgsz": list(info.input_hw),
        "model_sha256": info.sha256,
        "pipeline_fps": samples.decoding.fps,
        "pipeline_median_fps": samples.decoding.median_fps,
        **interleaved.figures(options),
        "parts": {"throughput": samples.decoding.parts, "latency": len(interleaved.paced)},
        "rounds": options.rounds,
    }


def measure_plc(options: BenchOptions) -> dict[str, Any]:
    """PLC-seen cycle vs the station's own latency, matched part by part (trigger id)."""
    collector = _Collector()
    with tempfile.TemporaryDirectory(prefix="inspector-bench-") as tmp:
        doc = _config(options, "realtime", Path(tmp)).model_dump(mode="json")
        doc["trigger"] = {"kind": "plc", "deadline_ms": 10_000}
        doc["plc"] = {"enabled": True, "host": "127.0.0.1", "port": 0}
        parts = build_station(parse_config(doc, "bench config"), extra_sinks=[collector])
        # plc.enabled with a host: the station serves the PLC
        assert parts.plc is not None and isinstance(parts.plc.transport, PlcServer)
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
    matched = [
        (c.cycle_ms, station_ms[c.trigger_id])
        for c in report.results
        if c.cycle_ms is not None and c.trigger_id in station_ms
    ]
    plc_ms = [plc for plc, _ in matched]
    own_ms = [own for _, own in matched]
    overhead = [p - o for p, o in zip(plc_ms, own_ms, strict=True)]
    summary = report.as_json()
    return {
        "plc": {
            "cycles": len(matched),
            "trigger_to_result_valid_ms": percentiles(plc_ms),
            "station_trigger_to_verdict_ms": percentiles(own_ms),
            "overhead_ms": percentiles(overhead),
            "plc_poll_ms": options.plc_poll_ms,
            **{k: summary[k] for k in ("missed_triggers", "id_mismatches", "unearned_pass")},
        }
    }


def _measure_spc(options: BenchOptions) -> dict[str, Any]:
    from inspector.spc.bench import measure_spc

    return measure_spc(first_frame(options.video))


def _measure_mqtt(options: BenchOptions) -> dict[str, Any]:
    from inspector.mqtt.bench import measure_mqtt

    return measure_mqtt(options)


def _measure_calibration(options: BenchOptions) -> dict[str, Any]:
    from inspector.calibrate.bench import measure_calibration
    from inspector.detect.onnxmeta import read_onnx_metadata

    if options.calibration is None:
        return {}
    if options.imgsz is not None:
        input_hw = (options.imgsz, options.imgsz)
    else:  # the model's own input size, as the pipeline legs use it
        h, w = json.loads(read_onnx_metadata(options.model).get("imgsz", "[640, 640]"))
        input_hw = (int(h), int(w))
    return measure_calibration(first_frame(options.video), options.calibration, input_hw)


def _measure_recipes(options: BenchOptions) -> dict[str, Any]:
    from inspector.recipes_bench import measure_recipes

    return measure_recipes(options)


def _measure_versus_ultralytics(options: BenchOptions) -> dict[str, Any]:
    from inspector.ultralytics_bench import measure_versus_ultralytics

    return measure_versus_ultralytics(options)


def _measure_web(options: BenchOptions) -> dict[str, Any]:
    from inspector.web.bench import measure_web

    return measure_web(options)


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
    if options.versus_frames:  # refused before the other legs run, not after
        from inspector.ultralytics_bench import check_ultralytics

        check_ultralytics(options.model)
    steal: dict[str, float | None] = {}
    doc: dict[str, Any] = {
        "model": str(options.model),
        "backend": options.backend,
        **_leg("raw_and_pipeline", measure_raw_and_pipeline, options, steal),
    }
    if options.plc_cycles:
        doc |= _leg("plc", measure_plc, options, steal)
    doc["spc"] = _leg("spc", _measure_spc, options, steal)
    for name, asked, measure in (
        ("mqtt", bool(options.mqtt), _measure_mqtt),
        ("calibration", options.calibration is not None, _measure_calibration),
        ("web", options.web, _measure_web),
        ("recipes", bool(options.recipe_switches), _measure_recipes),
        ("versus_ultralytics", bool(options.versus_frames), _measure_versus_ultralytics),
    ):
        if asked:
            doc[name] = _leg(name, measure, options, steal)
    doc["host_cpu_steal"] = steal
    for key, fps_key, raw_key in (
        ("pipeline_over_raw", "pipeline_fps", "raw_fps"),
        ("pipeline_from_memory_over_raw", "pipeline_from_memory_fps", "raw_interleaved_fps"),
        ("pipeline_over_raw_median", "pipeline_median_fps", "raw_median_fps"),
        (
            "pipeline_from_memory_over_raw_median",
            "pipeline_from_memory_median_fps",
            "raw_interleaved_median_fps",
        ),
    ):
        if doc[fps_key]:
            doc[key] = round(doc[fps_key] / doc[raw_key], 3)
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
