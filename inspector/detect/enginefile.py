"""The engine file Ultralytics writes: a 4-byte little-endian length, its metadata as
JSON, then the serialized TensorRT engine. Readable without TensorRT."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["split_engine_file"]


def split_engine_file(path: Path) -> tuple[dict[str, str], bytes]:
    """(metadata as strings, engine bytes); a bare engine (trtexec) has no metadata."""
    data = Path(path).read_bytes()
    length = int.from_bytes(data[:4], "little")
    if 0 < length < len(data) - 4:
        try:
            meta = json.loads(data[4 : 4 + length].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return {}, data
        if isinstance(meta, dict):
            as_text = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
            return as_text, data[4 + length :]
    return {}, data
