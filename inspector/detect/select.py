"""`backend: auto`: which backend runs a model best on this machine, and why.

One pure function (`choose_backend`) decides from the facts a probe gathers
(`Platform.probe`), so the rule reads, and is tested, as a table:

- a TensorRT engine file can only run on TensorRT; an OpenVINO IR only on OpenVINO;
- an ONNX model runs on TensorRT where a usable NVIDIA GPU and TensorRT are present,
  else on OpenVINO on an x86 CPU where it is installed (1.46x ONNX Runtime's raw
  throughput on the shipped NEU-DET model, same mAP: docs/performance.md), else on
  ONNX Runtime, which runs anywhere;
- on OpenVINO's CPU, at bf16 where the model's card records a passed bf16 check for
  that file (`inspector.detect.precision`), else at f32.

The probe imports no runtime: it asks the import system whether one is installed.
"""

from __future__ import annotations

import importlib.util
import logging
import platform
from dataclasses import dataclass
from pathlib import Path

from inspector.detect.base import DecodeParams, Detector, ModelOverrides, backend_class
from inspector.detect.config import BackendConfig, OpenVinoConfig
from inspector.detect.precision import choose_precision
from inspector.detect.registry import BACKENDS

__all__ = ["AutoBackend", "Choice", "Platform", "choose_backend", "model_format"]

_LOG = logging.getLogger(__name__)

X86 = ("x86_64", "amd64", "i386", "i686")
# device nodes of the NVIDIA driver: a dGPU's, then a Jetson's (Tegra) integrated GPU's
NVIDIA_NODES = ("/dev/nvidia0", "/dev/nvhost-gpu", "/dev/nvgpu/igpu0/ctrl")


@dataclass(frozen=True)
class Platform:
    """What auto-selection looks at."""

    machine: str  # platform.machine(): x86_64, aarch64 ...
    nvidia_gpu: bool  # an NVIDIA driver device node is present
    tensorrt: bool  # the tensorrt and pycuda modules are installed
    openvino: bool  # the openvino module is installed

    @classmethod
    def probe(cls) -> Platform:
        return cls(
            machine=platform.machine().lower(),
            nvidia_gpu=any(Path(node).exists() for node in NVIDIA_NODES),
            tensorrt=_installed("tensorrt") and _installed("pycuda"),
            openvino=_installed("openvino"),
        )


@dataclass(frozen=True)
class Choice:
    backend: str
    reason: str

    def __str__(self) -> str:
        return f"{self.backend} ({self.reason})"


def model_format(path: Path) -> str:
    """'engine', 'openvino' or 'onnx', from the file's name (a folder is an OpenVINO
    export, as Ultralytics writes it)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".engine", ".plan"):
        return "engine"
    if suffix == ".xml" or Path(path).is_dir():
        return "openvino"
    return "onnx"


def choose_backend(fmt: str, where: Platform) -> Choice:
    """The backend for a model of format `fmt` on `where`, with the reason in words."""
    if fmt == "engine":
        return Choice("tensorrt", "the model is a TensorRT engine")
    if fmt == "openvino":
        return Choice("openvino", "the model is an OpenVINO IR")
    if where.nvidia_gpu and where.tensorrt:
        return Choice("tensorrt", "an NVIDIA GPU and TensorRT are present")
    missing = _why_not_tensorrt(where)
    if where.machine in X86 and where.openvino:
        return Choice("openvino", f"{missing}; OpenVINO is installed on this x86 CPU")
    if where.machine not in X86:
        return Choice("onnxruntime", f"{missing}; OpenVINO is for x86 ({where.machine} here)")
    return Choice("onnxruntime", f"{missing}; OpenVINO is not installed")


def _why_not_tensorrt(where: Platform) -> str:
    if not where.nvidia_gpu:
        return "no NVIDIA GPU"
    return "an NVIDIA GPU but no TensorRT (with pycuda)"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class AutoBackend:
    """`backend: auto` in the registry: opens the model with the backend `choose_backend`
    picks here, at its default options, and logs which and why. It is never a detector
    itself: `open` returns the chosen backend's."""

    backend = "auto"

    @classmethod
    def open(
        cls,
        path: Path,
        options: BackendConfig,
        params: DecodeParams,
        overrides: ModelOverrides,
        threads: int | None,
    ) -> Detector:
        choice = choose_backend(model_format(path), Platform.probe())
        # debug here: a start that fails later says one line; `run` logs the choice at
        # INFO once the station has started (`Detector.selection`)
        _LOG.debug("model.backend auto: %s", choice)
        chosen = BACKENDS.default_config(choice.backend)
        selection = f"auto: {choice}"
        if isinstance(chosen, OpenVinoConfig) and chosen.device == "CPU":
            from inspector.detect.openvino import cpu_has_bf16  # chosen: installed

            precision = choose_precision(path, cpu_has_bf16())
            chosen = chosen.model_copy(update={"precision": precision.precision})
            selection += f"; precision {precision}"
        detector: Detector = backend_class(choice.backend).open(
            path, chosen, params, overrides, threads
        )
        detector.selection = selection
        return detector
