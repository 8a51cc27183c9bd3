"""TensorRT backend for NVIDIA Jetson and dGPUs (the `tensorrt` extra: tensorrt, pycuda).

Reads the `.engine` files `inspector export --format engine` builds on the target, which
Ultralytics prefixes with its metadata (4-byte little-endian length, then JSON), or an
ONNX model, whose engine it builds through the TensorRT 10 API (fp16, or int8 with an
entropy calibrator and its cache) into the engine cache (`enginecache`: keyed by the
ONNX sha256, TensorRT version, GPU and precision) and reuses on the next start. Not
exercised in CI: there is no GPU here; deploy/jetson/selftest.sh is the on-device check.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import cv2
import numpy as np

from inspector.data.yolo import load_dataset
from inspector.detect.base import DecodeParams, Detector, ModelInfo, ModelOverrides, file_sha256
from inspector.detect.config import TensorRtConfig
from inspector.detect.enginecache import (
    CalibrationBatches,
    EngineKey,
    check_engine_key,
    engine_path,
    write_engine_file,
)
from inspector.detect.enginefile import split_engine_file
from inspector.detect.onnxmeta import read_onnx_metadata
from inspector.errors import DataError, ModelError
from inspector.vision.letterbox import Letterbox

try:
    import pycuda.autoinit  # creates the CUDA context, current on the importing thread only
    import pycuda.driver as cuda
    import tensorrt as trt
except ImportError as exc:
    raise ModelError(
        "the tensorrt backend needs an NVIDIA GPU with TensorRT and pycuda: "
        "pip install 'inspector[tensorrt]' on the target (see deploy/jetson/README.md)"
    ) from exc

__all__ = ["TensorRtDetector"]

_LOGGER = trt.Logger(trt.Logger.WARNING)
log = logging.getLogger(__name__)
CALIBRATION_IMAGES = 500  # at most, spread over the train split


class TensorRtDetector(Detector[TensorRtConfig]):
    backend = "tensorrt"

    def __init__(self, engine: trt.ICudaEngine, info: ModelInfo, params: DecodeParams):
        self._input_name, self._output_name = _io_names(engine)
        out_shape = tuple(engine.get_tensor_shape(self._output_name))
        super().__init__(info, out_shape, params)
        self.engine = engine
        self.context = engine.create_execution_context()
        self.stream = cuda.Stream()
        self._cuda_context = pycuda.autoinit.context
        self._host_out = cuda.pagelocked_empty(out_shape, np.float32)
        self._dev_in = cuda.mem_alloc(self.letterbox.tensor.nbytes)
        self._dev_out = cuda.mem_alloc(self._host_out.nbytes)
        self.context.set_tensor_address(self._input_name, int(self._dev_in))
        self.context.set_tensor_address(self._output_name, int(self._dev_out))

    @property
    def spare_cpu(self) -> bool:
        return True  # the GPU infers; the CPU waits on the stream

    def new_letterbox(self) -> Letterbox:
        # page-locked host memory: the letterbox writes straight into the DMA source
        letterbox = super().new_letterbox()
        letterbox.tensor = cuda.pagelocked_empty(letterbox.tensor.shape, np.float32)
        return letterbox

    @classmethod
    def open(
        cls,
        path: Path,
        options: TensorRtConfig,
        params: DecodeParams,
        overrides: ModelOverrides,
        threads: int | None,
    ) -> TensorRtDetector:
        if path.suffix.lower() == ".onnx":
            path = cached_engine(path, options)
        metadata, blob = split_engine_file(path)
        found = EngineKey.from_metadata(metadata)
        if found is not None:  # its ONNX and precision are its own; the rest must be here
            check_engine_key(path, found, here_key(found.onnx_sha256, found.precision, options))
        engine = trt.Runtime(_LOGGER).deserialize_cuda_engine(blob)
        if engine is None:
            raise ModelError(f"{path}: not a TensorRT engine for this GPU and TensorRT version")
        info = ModelInfo.from_metadata(path, file_sha256(path), metadata, overrides)
        return cls(engine, info, params)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        # the station infers on its worker or inference thread, not the importing one
        self._cuda_context.push()
        try:
            cuda.memcpy_htod_async(self._dev_in, tensor, self.stream)
            self.context.execute_async_v3(self.stream.handle)
            cuda.memcpy_dtoh_async(self._host_out, self._dev_out, self.stream)
            self.stream.synchronize()
        finally:
            self._cuda_context.pop()
        return self._host_out

    def close(self) -> None:
        self._dev_in.free()
        self._dev_out.free()


def _io_names(engine: trt.ICudaEngine) -> tuple[str, str]:
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
    if len(inputs) != 1 or not outputs:
        raise ModelError(f"engine has inputs {inputs} and outputs {outputs}; expected 1 and >=1")
    return inputs[0], outputs[0]


def here_key(onnx_sha256: str, precision: str, options: TensorRtConfig) -> EngineKey:
    """The key of an engine built here: this TensorRT, this GPU."""
    device = cuda.Device(options.device)
    major, minor = device.compute_capability()
    return EngineKey(onnx_sha256, trt.__version__, device.name(), f"{major}.{minor}", precision)


def cached_engine(onnx: Path, options: TensorRtConfig) -> Path:
    """The cached engine for this ONNX model here, built first where there is none."""
    key = here_key(file_sha256(onnx), options.precision, options)
    cache = options.cache_dir or Path(os.path.expanduser("~/.cache/inspector/engines"))
    path = engine_path(cache, onnx, key)
    if path.is_file():
        return path
    if not options.rebuild:
        raise ModelError(
            f"{onnx}: no engine for {key.describe()} in {cache}, and model.backend.rebuild is false"
        )
    log.warning("building the TensorRT engine for %s (%s): minutes on a Jetson", onnx, key)
    metadata = read_onnx_metadata(onnx)
    blob = build_engine(onnx, key, options, metadata, path.with_suffix(".calib"))
    return write_engine_file(path, key, metadata, blob)


def build_engine(
    onnx: Path, key: EngineKey, options: TensorRtConfig, metadata: dict[str, str], cache: Path
) -> bytes:
    builder = trt.Builder(_LOGGER)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, _LOGGER)
    if not parser.parse_from_file(str(onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"{onnx}: TensorRT cannot parse it ({errors[:160]})")
    config = builder.create_builder_config()
    config.progress_monitor = _Progress()
    if key.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # int8 falls back to fp16 where it must
    if key.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        shape = tuple(network.get_input(0).shape)
        batches = _calibration(onnx, options, metadata, max(int(shape[0]), 1))
        config.int8_calibrator = EntropyCalibrator(batches, cache)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"{onnx}: TensorRT could not build an engine ({key.describe()})")
    return bytes(serialized)


def _calibration(
    onnx: Path, options: TensorRtConfig, metadata: dict[str, str], batch: int
) -> CalibrationBatches:
    if options.calib_data is None:
        raise ModelError("model.backend.calib_data: an int8 build needs calibration images")
    images = load_dataset(options.calib_data).images("train")
    if not images:
        raise DataError(f"{options.calib_data}: calibration split 'train' has no images")
    images = images[:: max(len(images) // CALIBRATION_IMAGES, 1)][:CALIBRATION_IMAGES]
    info = ModelInfo.from_metadata(onnx, "", metadata, ModelOverrides())
    letterbox = Letterbox(info.input_hw, info.channels)

    def prepare(path: Path) -> np.ndarray:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(f"{path}: cannot be read as an image")
        return letterbox(frame)[0]

    return CalibrationBatches(images, batch, (info.channels, *info.input_hw), prepare)


class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
    """Feeds the calibration batches to TensorRT; its cache makes a rebuild skip them."""

    def __init__(self, batches: CalibrationBatches, cache: Path) -> None:
        trt.IInt8EntropyCalibrator2.__init__(self)
        self.batches = batches
        self.cache = cache
        self._next = iter(batches)
        self._device = cuda.mem_alloc(batches.array.nbytes)

    def get_batch_size(self) -> int:
        return self.batches.batch

    def get_batch(self, names: list[str]) -> list[int] | None:
        try:
            array = next(self._next)
        except StopIteration:
            return None
        cuda.memcpy_htod(self._device, array)
        return [int(self._device)]

    def read_calibration_cache(self) -> bytes | None:
        return self.cache.read_bytes() if self.cache.is_file() else None

    def write_calibration_cache(self, cache: bytes) -> None:
        self.cache.write_bytes(bytes(cache))


class _Progress(trt.IProgressMonitor):
    """A first build takes minutes on a Jetson: each phase's start and end, logged."""

    def __init__(self) -> None:
        trt.IProgressMonitor.__init__(self)

    def phase_start(self, phase_name: str, parent_phase: str | None, num_steps: int) -> None:
        log.info("TensorRT build: %s (%d steps)", phase_name, num_steps)

    def step_complete(self, phase_name: str, step: int) -> bool:
        return True  # never cancel

    def phase_finish(self, phase_name: str) -> None:
        log.info("TensorRT build: %s done", phase_name)
