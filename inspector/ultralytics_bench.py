"""`inspector bench --versus-ultralytics`: the whole station against Ultralytics predict on
its own OpenVINO export of the same model, over the same frames, in the same run.

- The model: a YOLO model whose card names its Ultralytics weights (`source_weights`, a
  .pt). A model with no such weights (the magnetic-tile defect map) cannot be compared.
- Ultralytics' side: the .pt exported with `YOLO(pt).export(format="openvino",
  imgsz=<card imgsz>)` into a temporary folder (offline: nothing is downloaded), then
  `YOLO(export).predict(frame, imgsz=..., verbose=False)` one frame at a time, at the
  precision Ultralytics leaves OpenVINO to choose (reported: on a CPU with AMX or
  AVX512-BF16, OpenVINO's CPU plugin picks bf16 by itself).
- The station's side: one station fed from the same frames held in memory (the bench's
  pipeline-from-memory machinery), every frame a part, with `versus_backend` (auto: bf16
  where the model's card records a passed bf16 check, as the shipped neu-det card does).
- The two alternate in blocks of `block_parts` frames, so that a slow spell of a shared
  machine falls on both alike; `ratio_block_pairs` is the ratio block by block (each
  station block against the Ultralytics block beside it), its median the figure a spell
  over a few blocks moves least. Frames per second are frames over the time the blocks
  took (the station: first trigger to last verdict); the median is the typical frame
  (the station: verdict-to-verdict intervals). Latency is per predict call on
  Ultralytics' side, and trigger to verdict with parts let through one at a time on the
  station's, alternating one and one.
- Ultralytics sets OpenCV to one thread when imported; each side runs with OpenCV's
  threads as it has them on its own (the station's as before the import).

Ultralytics (with torch) belongs to the `train` extra; outside `inspector/train/` it is
imported here only, and only when the leg runs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.bench import (
    WARM_UP_PARTS,
    BenchOptions,
    Throughput,
    _Collector,
    _config,
    percentiles,
)
from inspector.camera.config import VideoCamera
from inspector.camera.memory import MemorySource
from inspector.detect.base import file_sha256
from inspector.errors import InspectorError, ModelError
from inspector.factory import build_station
from inspector.modelcard import card_path_for, load_card

__all__ = [
    "TARGET_RATIO",
    "check_ultralytics",
    "measure_versus_ultralytics",
    "ultralytics_weights",
]

TARGET_RATIO = 1.2  # the station's frames/s over Ultralytics predict's (issue: edge backends)
WARM_UP_FRAMES = 10  # each side's first frames, left out
REPO = Path(__file__).resolve().parents[1]
TRAIN_EXTRA_HINT = (
    "bench --versus-ultralytics needs Ultralytics, which comes with the train extra: "
    "pip install 'inspector[train]'"
)


def ultralytics_weights(model: Path) -> tuple[Path, tuple[int, int]]:
    """The Ultralytics .pt the model was exported from (its card's `source_weights`) and
    the card's input size; ModelError, in one line, for a model that has none."""
    card = load_card(model)
    refuse = f"bench --versus-ultralytics: {model} cannot be compared with Ultralytics"
    if card is None:
        raise ModelError(
            f"{refuse}: it has no model card ({card_path_for(model).name}) to name its "
            "Ultralytics weights"
        )
    if card.task != "detect":
        raise ModelError(
            f"{refuse}: it is a {card.task} model, not an Ultralytics YOLO model, and its "
            f"weights ({card.source_weights}) are no Ultralytics .pt; compare a YOLO model "
            "such as models/neu-det/neu-det.onnx"
        )
    named = Path(card.source_weights)
    candidates = [named] if named.is_absolute() else [Path.cwd() / named, REPO / named]
    candidates.append(model.parent / named.name)
    weights = next((p for p in candidates if p.is_file()), None)
    if weights is None or weights.suffix != ".pt":
        raise ModelError(
            f"{refuse}: its card's source_weights {card.source_weights} is no Ultralytics "
            ".pt found here"
        )
    if file_sha256(weights) != card.source_weights_sha256:
        raise ModelError(f"{refuse}: {weights} is not the file its card names (sha256 differs)")
    height, width = card.imgsz
    return weights, (height, width)


def check_ultralytics(model: Path) -> None:
    """Refuse, in one line, a model with no Ultralytics weights or a venv without
    Ultralytics, without importing it."""
    import importlib.util

    ultralytics_weights(model)
    if importlib.util.find_spec("ultralytics") is None:
        raise InspectorError(TRAIN_EXTRA_HINT)


def _import_ultralytics() -> Any:
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no update checks, no downloads
    try:
        import ultralytics
        from ultralytics.utils import LOGGER
    except ImportError:
        raise InspectorError(TRAIN_EXTRA_HINT) from None
    # its progress lines go to stdout, which is the bench's JSON
    LOGGER.setLevel(logging.WARNING)
    return ultralytics


@contextmanager
def _cv2_threads(count: int) -> Iterator[None]:
    before = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


class _Ultralytics:
    """Ultralytics predict on its own OpenVINO export of `weights`."""

    def __init__(self, weights: Path, imgsz: tuple[int, int], folder: Path) -> None:
        station_threads = cv2.getNumThreads()
        ultralytics = _import_ultralytics()
        # what Ultralytics leaves OpenCV with, for its own side; the station keeps its own
        self.cv2_threads = cv2.getNumThreads()
        cv2.setNumThreads(station_threads)
        self.version = ultralytics.__version__
        pt = folder / weights.name  # Ultralytics exports beside the weights
        shutil.copyfile(weights, pt)
        start = time.perf_counter()
        try:
            model = ultralytics.YOLO(str(pt))
        except Exception as exc:  # not an Ultralytics checkpoint: whatever torch.load says
            raise ModelError(
                f"bench --versus-ultralytics: {weights} is no Ultralytics checkpoint ({exc})"
            ) from None
        with _cv2_threads(self.cv2_threads), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.trace's deprecation
            exported = model.export(format="openvino", imgsz=list(imgsz), verbose=False)
        self.export_s = round(time.perf_counter() - start, 2)
        self.imgsz = list(imgsz)
        self.model = ultralytics.YOLO(str(exported), task="detect")

    def predict(self, frame: np.ndarray) -> Any:
        return self.model.predict(frame, imgsz=self.imgsz, verbose=False)

    def timed(self, frames: list[np.ndarray]) -> np.ndarray:
        """Milliseconds of each frame's predict call."""
        out = np.empty(len(frames))
        with _cv2_threads(self.cv2_threads):
            for i, frame in enumerate(frames):
                start = time.perf_counter()
                self.predict(frame)
                out[i] = time.perf_counter() - start
        return out * 1000.0

    def runtime(self) -> dict[str, Any]:
        """What OpenVINO compiled Ultralytics' model with."""
        compiled = self.model.predictor.model.backend.ov_compiled_model
        return {
            "precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "performance_hint": str(compiled.get_property("PERFORMANCE_HINT")),
        }


@dataclasses.dataclass
class _Sides:
    """What the two sides measured."""

    theirs_ms: list[np.ndarray] = dataclasses.field(default_factory=list)
    ours: Throughput = dataclasses.field(default_factory=Throughput)
    ours_block_s: list[float] = dataclasses.field(default_factory=list)
    theirs_one_ms: list[float] = dataclasses.field(default_factory=list)
    ours_one_ms: list[float] = dataclasses.field(default_factory=list)
    backend: dict[str, Any] = dataclasses.field(default_factory=dict)


def _race(
    options: BenchOptions, ultra: _Ultralytics, memory: MemorySource, log_dir: Path
) -> _Sides:
    """Blocks of frames through each side in turn, then single frames in turn, the
    station replaying the frames in the same order Ultralytics is given them."""
    frames = memory.frames
    block = options.block_parts
    sides = _Sides()
    collector = _Collector()
    replay = memory.gated()
    config = _config(dataclasses.replace(options, backend=options.versus_backend), "fast", log_dir)
    station = build_station(config, extra_sinks=[collector], source=replay).station
    station.start()
    try:
        replay.let_through(WARM_UP_PARTS)
        collector.take(WARM_UP_PARTS)
        position = WARM_UP_PARTS  # the replay's next frame

        def chunk(count: int) -> list[np.ndarray]:
            return [frames[(position + i) % len(frames)] for i in range(count)]

        for index in range(max(1, -(-options.versus_frames // block))):
            if index % 2:
                sides.theirs_ms.append(ultra.timed(chunk(block)))
            replay.let_through(block)
            records = collector.take(block)
            sides.ours.add(records)
            sides.ours_block_s.append(records[-1].times.judged - records[0].times.trigger)
            if not index % 2:
                sides.theirs_ms.append(ultra.timed(chunk(block)))
            position += block
        for _ in range(options.versus_frames):
            sides.theirs_one_ms.extend(ultra.timed(chunk(1)).tolist())
            replay.let_through(1)
            sides.ours_one_ms.append(collector.take(1)[0].latency_ms)
            position += 1
        detector = station.detector
        compiled = getattr(detector, "compiled", None)  # an OpenVINO detector's
        sides.backend = {
            "name": detector.backend,
            "selection": detector.selection or None,
            "precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
            if compiled
            else None,
        }
    finally:
        station.stop()
    return sides


def measure_versus_ultralytics(options: BenchOptions) -> dict[str, Any]:
    weights, imgsz = ultralytics_weights(options.model)
    memory = MemorySource.open(VideoCamera(kind="video", path=options.video, pace="fast"))
    with tempfile.TemporaryDirectory(prefix="inspector-ultralytics-") as tmp:
        ultra = _Ultralytics(weights, imgsz, Path(tmp))
        ultra.timed([memory.frames[i % len(memory.frames)] for i in range(WARM_UP_FRAMES)])
        sides = _race(options, ultra, memory, Path(tmp))
        runtime = ultra.runtime()
    theirs = np.concatenate(sides.theirs_ms)
    ours = sides.ours
    theirs_fps = round(1000.0 * len(theirs) / float(theirs.sum()), 2)
    theirs_median_fps = round(1000.0 / float(np.median(theirs)), 2)
    doc: dict[str, Any] = {
        "weights": str(weights),
        "frames": len(theirs),
        "distinct_frames": len(memory.frames),
        "block_frames": options.block_parts,
        "target_ratio": TARGET_RATIO,
        "ultralytics": {
            "version": ultra.version,
            "export": "openvino",
            "export_s": ultra.export_s,
            "imgsz": list(imgsz),
            **runtime,
            "fps": theirs_fps,
            "median_fps": theirs_median_fps,
            "latency_ms": percentiles(theirs),
            "one_at_a_time_latency_ms": percentiles(sides.theirs_one_ms),
        },
        "station": {
            "backend": sides.backend,
            "fps": ours.fps,
            "median_fps": ours.median_fps,
            "one_at_a_time_latency_ms": percentiles(sides.ours_one_ms),
        },
    }
    if ours.fps and ours.median_fps:
        doc["ratio"] = round(ours.fps / theirs_fps, 3)
        doc["ratio_median"] = round(ours.median_fps / theirs_median_fps, 3)
        doc["meets_target"] = doc["ratio"] >= TARGET_RATIO
    # each station block against the Ultralytics block beside it: a slow spell of a shared
    # machine that falls on a few blocks moves this median little
    theirs_block_s = [float(ms.sum()) / 1000.0 for ms in sides.theirs_ms]
    pairs = [t / o for t, o in zip(theirs_block_s, sides.ours_block_s, strict=True) if o > 0]
    if pairs:
        doc["ratio_block_pairs"] = {
            "p50": round(float(np.median(pairs)), 3),
            "min": round(min(pairs), 3),
            "max": round(max(pairs), 3),
        }
    return doc
