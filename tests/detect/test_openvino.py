"""OpenVINO backend options: compile properties and device checks, as tables."""

from __future__ import annotations

import pytest

pytest.importorskip("openvino")

from inspector.detect import open_detector
from inspector.detect.config import OpenVinoConfig
from inspector.detect.openvino import check_device, compile_config
from inspector.errors import ModelError
from tests.conftest import shipped_model


@pytest.mark.parametrize(
    ("options", "threads", "expected"),
    [
        (
            {},
            None,
            {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"},
        ),
        (
            {"precision": "bf16"},
            2,
            {
                "INFERENCE_PRECISION_HINT": "bf16",
                "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": 2,
            },
        ),
        (
            {"mode": "throughput", "requests": 4},
            None,
            {
                "INFERENCE_PRECISION_HINT": "f32",
                "PERFORMANCE_HINT": "THROUGHPUT",
                "PERFORMANCE_HINT_NUM_REQUESTS": 4,
            },
        ),
    ],
)
def test_compile_config(options, threads, expected):
    assert compile_config(OpenVinoConfig(kind="openvino", **options), threads) == expected


ONE_CPU = ["CPU"]
CPU_TWO_GPUS = ["CPU", "GPU.0", "GPU.1"]


@pytest.mark.parametrize(
    ("device", "available", "error"),
    [
        ("CPU", ONE_CPU, None),
        ("AUTO", ONE_CPU, None),
        ("AUTO:CPU", ONE_CPU, None),
        ("GPU", CPU_TWO_GPUS, None),
        ("GPU.1", CPU_TWO_GPUS, None),
        ("AUTO:GPU.1,CPU", CPU_TWO_GPUS, None),
        ("NPU", ONE_CPU, "OpenVINO has no device 'NPU' here (available: CPU; or AUTO"),
        ("GPU.2", CPU_TWO_GPUS, "no device 'GPU.2' here (available: CPU, GPU.0, GPU.1;"),
        ("AUTO:GPU,CPU", ONE_CPU, "no device 'GPU' here"),
        ("TPU", [], "no device 'TPU' here (available: none;"),
    ],
)
def test_check_device(device, available, error):
    if error is None:
        check_device(device, available)
    else:
        with pytest.raises(ModelError, match=r"^model\.backend\.device: ") as raised:
            check_device(device, available)
        assert error in str(raised.value)


def test_an_unknown_device_fails_at_load_in_one_line():
    options = OpenVinoConfig(kind="openvino", device="NPU9")
    with pytest.raises(ModelError) as raised:
        open_detector(shipped_model("magnetic-tile"), options)
    assert str(raised.value).startswith("model.backend.device: OpenVINO has no device 'NPU9'")
    assert "\n" not in str(raised.value)


def test_an_ir_without_its_bin_fails_in_one_line(tmp_path):
    xml = tmp_path / "model.xml"
    xml.write_text("<net/>")
    with pytest.raises(ModelError) as raised:
        open_detector(xml, OpenVinoConfig(kind="openvino"))
    assert str(raised.value) == f"{xml}: no weights file model.bin beside the IR"
