"""TensorRT backend for NVIDIA Jetson and dGPUs (the `tensorrt` extra: tensorrt, pycuda).

Reads the `.engine` files `inspector export --format engine` builds on the target, which
Ultralytics prefixes with its metadata (4-byte little-endian length, then JSON). Not
exercised in CI: there is no GPU here; deploy/jetson/README.md has the on-device check.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from inspector.detect.base import DecodeParams, Detector, ModelInfo, ModelOverrides, file_sha256
from inspector.detect.config import TensorRtConfig
from inspector.detect.enginefile import split_engine_file
from inspector.errors import ModelError
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
        metadata, blob = split_engine_file(path)
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
