"""`--backend` values: a name, or a YAML mapping of the backend's options."""

from __future__ import annotations

import pytest

from inspector.detect.base import backend_options
from inspector.errors import ConfigError


@pytest.mark.parametrize(
    ("spec", "expected", "error"),
    [
        ("onnxruntime", {"kind": "onnxruntime"}, None),
        ("auto", {"kind": "auto"}, None),
        (
            "{kind: openvino, precision: bf16, mode: throughput, requests: 3}",
            {"kind": "openvino", "precision": "bf16", "mode": "throughput", "requests": 3},
            None,
        ),
        ("{kind: openvino, device: 'AUTO:GPU,CPU'}", {"device": "AUTO:GPU,CPU"}, None),
        ("tflite", None, "model.backend: unknown 'tflite'"),
        ("{kind: openvino, precision: int4}", None, "backend.precision: Input should be"),
        ("{kind: openvino, requests: 1}", None, "backend.requests: Input should be greater"),
        ("{precision: bf16}", None, "needs a kind"),
        ("{kind: [", None, "is not a YAML mapping"),
    ],
)
def test_backend_options(spec, expected, error):
    if error is not None:
        with pytest.raises(ConfigError) as raised:
            backend_options(spec)
        assert error in str(raised.value)
        return
    options = backend_options(spec).model_dump()
    assert {k: options[k] for k in expected} == expected
