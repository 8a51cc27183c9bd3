"""Read the metadata Ultralytics stores in an ONNX file, without running it."""

from __future__ import annotations

from pathlib import Path

import onnx

from inspector.errors import ModelError

__all__ = ["read_onnx_metadata"]


def read_onnx_metadata(path: Path) -> dict[str, str]:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf decode errors have no common type
        # worded as ONNX Runtime words it: `auto` may open an ONNX model with either
        reason = "Protobuf parsing failed." if type(exc).__name__ == "DecodeError" else str(exc)
        raise ModelError(f"{path}: not a loadable ONNX model ({reason[:160]})") from None
    return {prop.key: prop.value for prop in model.metadata_props}
