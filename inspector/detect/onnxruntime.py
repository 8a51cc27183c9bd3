"""ONNX Runtime backend: the one that runs anywhere."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from inspector.detect.base import (
    DecodeParams,
    Detector,
    ModelInfo,
    ModelOverrides,
    file_sha256,
    usable_cores,
)
from inspector.detect.config import OnnxRuntimeConfig
from inspector.errors import ModelError

__all__ = ["OnnxRuntimeDetector"]


class OnnxRuntimeDetector(Detector[OnnxRuntimeConfig]):
    """Runs an ONNX model on the CPU with its input and output bound to fixed buffers."""

    backend = "onnxruntime"

    def __init__(self, session: ort.InferenceSession, info: ModelInfo, params: DecodeParams):
        output = session.get_outputs()[0]
        super().__init__(info, tuple(_dim(d) for d in output.shape), params)
        self.session = session
        self._input_name = session.get_inputs()[0].name
        self._output_name = output.name
        self._static = all(isinstance(d, int) for d in output.shape)
        if self._static:
            # bind once: every run reads the letterbox tensor and writes this buffer
            self._output = np.empty(output.shape, dtype=np.float32)
            self._binding = session.io_binding()
            self._bind(self.letterbox.tensor)
            self._binding.bind_ortvalue_output(
                self._output_name, ort.OrtValue.ortvalue_from_numpy(self._output)
            )

    @property
    def spare_cpu(self) -> bool:
        threads = self.session.get_session_options().intra_op_num_threads  # 0: one per core
        return 0 < threads < usable_cores()

    @classmethod
    def open(
        cls,
        path: Path,
        options: OnnxRuntimeConfig,
        params: DecodeParams,
        overrides: ModelOverrides,
        threads: int | None,
    ) -> OnnxRuntimeDetector:
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            session_options.intra_op_num_threads = threads
        session_options.log_severity_level = 3
        if path.is_dir():
            raise ModelError(f"{path}: is a folder, not an .onnx file")
        try:
            session = ort.InferenceSession(
                str(path), session_options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own untyped errors for bad files
            reason = str(exc).splitlines()[0].rpartition(" failed:")[2][:160]
            raise ModelError(f"{path}: not a loadable ONNX model ({reason})") from None
        metadata = session.get_modelmeta().custom_metadata_map
        info = ModelInfo.from_metadata(path, file_sha256(path), metadata, overrides)
        _check_input(session, info, path)
        return cls(session, info, params)

    def _bind(self, tensor: np.ndarray) -> None:
        self._bound = tensor
        self._binding.bind_cpu_input(self._input_name, tensor)

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        if not self._static:
            return self.session.run([self._output_name], {self._input_name: tensor})[0]
        if tensor is not self._bound:
            self._bind(np.ascontiguousarray(tensor, dtype=np.float32))
        self.session.run_with_iobinding(self._binding)
        return self._output


def _dim(d: object) -> int:
    return d if isinstance(d, int) else -1


def _check_input(session: ort.InferenceSession, info: ModelInfo, path: Path) -> None:
    shape = session.get_inputs()[0].shape
    if len(shape) != 4:
        raise ModelError(f"{path}: input shape {shape} is not (1, C, H, W)")
    fixed_hw = tuple(d for d in shape[2:] if isinstance(d, int))
    if len(fixed_hw) == 2 and fixed_hw != info.input_hw:
        raise ModelError(f"{path}: input is {fixed_hw} but metadata says {info.input_hw}")
    if isinstance(shape[1], int) and shape[1] != info.channels:
        raise ModelError(f"{path}: input has {shape[1]} channels, metadata says {info.channels}")
