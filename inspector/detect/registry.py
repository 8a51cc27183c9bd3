"""The detector backend registry: `model.backend` -> (config model, detector class)."""

from __future__ import annotations

from inspector.detect.config import (
    AutoConfig,
    BackendConfig,
    OnnxRuntimeConfig,
    OpenVinoConfig,
    TensorRtConfig,
)
from inspector.registry import Registry

__all__ = ["BACKENDS"]

BACKENDS: Registry[BackendConfig] = Registry("model.backend", BackendConfig)
BACKENDS.register("auto", AutoConfig, "inspector.detect.select:AutoBackend")
BACKENDS.register(
    "onnxruntime", OnnxRuntimeConfig, "inspector.detect.onnxruntime:OnnxRuntimeDetector"
)
BACKENDS.register("openvino", OpenVinoConfig, "inspector.detect.openvino:OpenVinoDetector")
BACKENDS.register("tensorrt", TensorRtConfig, "inspector.detect.tensorrt:TensorRtDetector")
