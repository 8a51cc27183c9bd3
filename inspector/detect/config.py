"""Config models of the detector backends (`model.backend` in station.yaml).

Each backend's options live in its own model; none imports its runtime. In station.yaml
`backend: openvino` is short for `backend: {kind: openvino}` with every option default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from inspector.configbase import ConfigPath, PluginConfig

__all__ = ["AutoConfig", "BackendConfig", "OnnxRuntimeConfig", "OpenVinoConfig", "TensorRtConfig"]


class BackendConfig(PluginConfig):
    """Base of every backend's config."""


class AutoConfig(BackendConfig):
    kind: Literal["auto"] = Field(
        description="The best backend here: TensorRT where a usable NVIDIA GPU and TensorRT "
        "are present, else OpenVINO on x86 where installed, else ONNX Runtime (an .engine or "
        "OpenVINO IR picks its own runtime); `inspector config check` says which and why."
    )


class OnnxRuntimeConfig(BackendConfig):
    kind: Literal["onnxruntime"] = Field(description="ONNX Runtime on the CPU (any machine).")


class OpenVinoConfig(BackendConfig):
    kind: Literal["openvino"] = Field(description="OpenVINO (Intel CPU, GPU, NPU).")
    device: str = Field(
        "CPU",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Z][A-Z0-9_.:,()]*$",
        description="OpenVINO device: CPU, GPU, GPU.1, NPU, AUTO, AUTO:GPU,CPU ...",
    )
    precision: Literal["f32", "bf16", "f16"] = Field(
        "f32",
        description="Inference precision hint. f32 is what the model was evaluated at; "
        "bf16/f16 are faster where the device supports them: check accuracy with eval first.",
    )
    cache_dir: ConfigPath | None = Field(
        None, description="Folder where OpenVINO caches compiled models (faster restarts)."
    )
    mode: Literal["latency", "throughput"] = Field(
        "latency",
        description="latency: one inference at a time, on every core. throughput: "
        "`requests` inferences in flight at once on OpenVINO's own streams, so the station "
        "letterboxes and judges other parts meanwhile (more parts/s, a little more latency).",
    )
    requests: int = Field(
        2, ge=2, le=16, description="Infer requests in flight in throughput mode."
    )
    preprocess: Literal["host", "model"] = Field(
        "host",
        description="host: the letterbox (or calibration remap) writes the model's float "
        "RGB 0..1 NCHW tensor itself. model: it writes the frame's uint8 BGR pixels (NHWC) "
        "and OpenVINO's PrePostProcessor folds the conversion to float, the layout, the "
        "colour order and the 1/255 scale into the compiled model; same detections, but a "
        "calibration profile's flat-field gain is refused (uint8 cannot carry it). host is "
        "the default: model measured no faster beyond this machine's noise "
        "(docs/performance.md).",
    )


class TensorRtConfig(BackendConfig):
    kind: Literal["tensorrt"] = Field(description="TensorRT engine on an NVIDIA GPU (Jetson).")
    device: int = Field(0, ge=0, le=15, description="CUDA device index.")
    precision: Literal["fp16", "int8", "fp32"] = Field(
        "fp16",
        description="Precision an engine is built at from an ONNX model (int8 needs "
        "`calib_data`); an .engine file keeps the one it was built with.",
    )
    cache_dir: ConfigPath | None = Field(
        None,
        description="Folder of engines built from ONNX models, keyed by the model's sha256, "
        "TensorRT version, GPU and precision (None: ~/.cache/inspector/engines).",
    )
    rebuild: bool = Field(
        True,
        description="Build the engine when none in the cache fits this GPU and TensorRT "
        "(a first build takes minutes on a Jetson); false: fail with one line instead.",
    )
    calib_data: ConfigPath | None = Field(
        None, description="data.yaml whose train images calibrate an int8 build."
    )
