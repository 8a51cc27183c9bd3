"""TensorRT needs an NVIDIA GPU, which CI does not have: what can run without one."""

import json
from pathlib import Path

import pytest

from inspector.detect import open_detector
from inspector.detect.base import ModelInfo, ModelOverrides
from inspector.detect.enginefile import split_engine_file
from inspector.errors import ModelError


def engine_file(path: Path, metadata: dict | None, engine: bytes = b"\x00ENGINE\x01") -> Path:
    head = b""
    if metadata is not None:
        text = json.dumps(metadata).encode()
        head = len(text).to_bytes(4, "little") + text
    path.write_bytes(head + engine)
    return path


@pytest.mark.parametrize(
    ("metadata", "names"),
    [
        (
            {"names": {"0": "crack", "1": "hole"}, "imgsz": [320, 320], "stride": 32},
            ("crack", "hole"),
        ),
        (None, None),  # a bare engine from trtexec
    ],
)
def test_split_engine_file(tmp_path: Path, metadata, names):
    meta, engine = split_engine_file(engine_file(tmp_path / "m.engine", metadata))
    assert engine == b"\x00ENGINE\x01"
    if names is None:
        assert meta == {}
        return
    info = ModelInfo.from_metadata(tmp_path / "m.engine", "sha", meta, ModelOverrides())
    assert (info.names, info.input_hw, info.stride) == (names, (320, 320), 32)


def test_tensorrt_backend_without_tensorrt_says_what_is_missing(tmp_path: Path):
    path = engine_file(tmp_path / "m.engine", None)
    with pytest.raises(ModelError, match="needs an NVIDIA GPU with TensorRT and pycuda"):
        open_detector(path, backend="tensorrt")
