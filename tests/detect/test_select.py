"""`backend: auto`: (what is present, the model's format) -> (backend, reason)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.demo import DEMO_MODEL
from inspector.detect.base import Detector, open_detector
from inspector.detect.select import Platform, choose_backend, model_format

JETSON = Platform("aarch64", nvidia_gpu=True, tensorrt=True, openvino=False)
JETSON_NO_TRT = Platform("aarch64", nvidia_gpu=True, tensorrt=False, openvino=False)
X86_GPU_OV = Platform("x86_64", nvidia_gpu=True, tensorrt=True, openvino=True)
X86_GPU_NO_TRT = Platform("x86_64", nvidia_gpu=True, tensorrt=False, openvino=True)
X86_OV = Platform("x86_64", nvidia_gpu=False, tensorrt=False, openvino=True)
X86_TRT_NO_GPU = Platform("x86_64", nvidia_gpu=False, tensorrt=True, openvino=False)
X86_BARE = Platform("x86_64", nvidia_gpu=False, tensorrt=False, openvino=False)
ARM_OV = Platform("aarch64", nvidia_gpu=False, tensorrt=False, openvino=True)


@pytest.mark.parametrize(
    ("fmt", "where", "backend", "reason"),
    [
        ("onnx", JETSON, "tensorrt", "an NVIDIA GPU and TensorRT are present"),
        ("onnx", X86_GPU_OV, "tensorrt", "an NVIDIA GPU and TensorRT are present"),
        (
            "onnx",
            X86_GPU_NO_TRT,
            "openvino",
            "an NVIDIA GPU but no TensorRT (with pycuda); OpenVINO is installed on this x86 CPU",
        ),
        ("onnx", X86_OV, "openvino", "no NVIDIA GPU; OpenVINO is installed on this x86 CPU"),
        ("onnx", X86_TRT_NO_GPU, "onnxruntime", "no NVIDIA GPU; OpenVINO is not installed"),
        ("onnx", X86_BARE, "onnxruntime", "no NVIDIA GPU; OpenVINO is not installed"),
        ("onnx", ARM_OV, "onnxruntime", "no NVIDIA GPU; OpenVINO is for x86 (aarch64 here)"),
        (
            "onnx",
            JETSON_NO_TRT,
            "onnxruntime",
            "an NVIDIA GPU but no TensorRT (with pycuda); OpenVINO is for x86 (aarch64 here)",
        ),
        ("engine", X86_BARE, "tensorrt", "the model is a TensorRT engine"),
        ("openvino", JETSON, "openvino", "the model is an OpenVINO IR"),
    ],
)
def test_choose_backend(fmt: str, where: Platform, backend: str, reason: str) -> None:
    choice = choose_backend(fmt, where)
    assert (choice.backend, choice.reason) == (backend, reason)


@pytest.mark.parametrize(
    ("name", "is_dir", "fmt"),
    [
        ("best.onnx", False, "onnx"),
        ("best.engine", False, "engine"),
        ("best.PLAN", False, "engine"),
        ("best.xml", False, "openvino"),
        ("best_openvino_model", True, "openvino"),
    ],
)
def test_model_format(tmp_path: Path, name: str, is_dir: bool, fmt: str) -> None:
    path = tmp_path / name
    if is_dir:
        path.mkdir()
    assert model_format(path) == fmt


def test_probe_describes_this_machine() -> None:
    where = Platform.probe()
    assert where.machine  # and the rest are booleans a table row can hold
    assert {type(v) for v in (where.nvidia_gpu, where.tensorrt, where.openvino)} == {bool}


@pytest.fixture(scope="module")
def auto_opened() -> Iterator[tuple[Detector, list[str]]]:
    """The demo model opened with `auto`, and what auto-selection logged (module scope:
    OpenVINO starts a thread of its own on first use, which outlives a test)."""
    logged: list[str] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    log = logging.getLogger("inspector.detect.select")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    try:
        with open_detector(DEMO_MODEL, "auto") as detector:
            yield detector, logged
    finally:
        log.removeHandler(handler)
        log.setLevel(logging.NOTSET)


def test_auto_opens_the_chosen_backend(auto_opened: tuple[Detector, list[str]]) -> None:
    detector, logged = auto_opened
    choice = choose_backend("onnx", Platform.probe())
    assert detector.backend == choice.backend
    assert logged == [f"model.backend auto: {choice}"]
    assert detector.selection.startswith(f"auto: {choice}")  # what `run` logs once started
    if choice.backend == "openvino":  # the demo model's card records a failed bf16 check
        assert detector.selection.endswith(
            "; precision f32 (bf16 failed the card's check: escape rate rises 0.0172 -> 0.0345)"
        )
