"""The TensorRT engine cache: what an engine was built for, where it is kept, and the
calibration batches an INT8 build reads. Readable without TensorRT or a GPU.

An engine is specific to the ONNX model, the TensorRT version, the GPU (its name and
compute capability) and the precision it was built at; a JetPack upgrade or another
board must never load a stale one. Each of these goes into the engine's key, the key's
digest into its file name (`<model>.<precision>.<digest>.engine` in the cache folder),
and the key itself into the engine file's metadata (the layout Ultralytics writes:
a 4-byte little-endian length, JSON, then the serialized engine), so that an engine
given by path is checked too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from inspector.errors import DataError, ModelError

__all__ = [
    "ENGINE_KEY",
    "CalibrationBatches",
    "EngineKey",
    "check_engine_key",
    "engine_path",
    "write_engine_file",
]

ENGINE_KEY = "engine_key"  # the metadata entry that holds the key
PRECISIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class EngineKey:
    """What an engine was built from and for."""

    onnx_sha256: str
    tensorrt: str  # tensorrt.__version__
    gpu: str  # the CUDA device's name
    compute_capability: str  # "8.7" on Orin
    precision: str  # fp32, fp16 or int8

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ModelError(f"engine precision '{self.precision}' (known: {PRECISIONS})")

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def describe(self) -> str:
        return (
            f"TensorRT {self.tensorrt} on {self.gpu} (sm {self.compute_capability}), "
            f"{self.precision}, ONNX {self.onnx_sha256[:12]}"
        )

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str]) -> EngineKey | None:
        """The key an engine file records; None for an engine built elsewhere."""
        raw = metadata.get(ENGINE_KEY)
        if not raw:
            return None
        try:
            doc = json.loads(raw)
            return cls(**{f.name: str(doc[f.name]) for f in fields(cls)})
        except (json.JSONDecodeError, KeyError, TypeError):
            return None


def engine_path(cache_dir: Path, onnx: Path, key: EngineKey) -> Path:
    return Path(cache_dir) / f"{Path(onnx).stem}.{key.precision}.{key.digest()}.engine"


def check_engine_key(path: Path, found: EngineKey | None, expected: EngineKey) -> None:
    """One line naming what differs, when an engine was built for something else."""
    if found is None:
        return  # built by trtexec or Ultralytics: nothing recorded, TensorRT checks itself
    differs = [
        f"{f.name} {getattr(found, f.name)} (here {getattr(expected, f.name)})"
        for f in fields(EngineKey)
        if getattr(found, f.name) != getattr(expected, f.name)
    ]
    if differs:
        raise ModelError(
            f"{path}: engine built for another setup: {'; '.join(differs)}; rebuild it "
            "(model.backend.rebuild: true) or delete it"
        )


def write_engine_file(
    path: Path, key: EngineKey, metadata: Mapping[str, str], engine: bytes
) -> Path:
    """The engine with its model metadata and key in front, written atomically."""
    doc = dict(metadata) | {ENGINE_KEY: json.dumps(asdict(key), sort_keys=True)}
    head = json.dumps(doc).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(len(head).to_bytes(4, "little") + head + engine)
    partial.replace(path)
    return path


class CalibrationBatches:
    """Calibration images as fixed-size (batch, C, H, W) float32 batches, letterboxed
    as the station does, into one array reused for every batch; the last, incomplete
    batch is dropped (a calibrator's batch size is fixed)."""

    def __init__(
        self,
        images: list[Path],
        batch: int,
        shape: tuple[int, int, int],
        prepare: Callable[[Path], np.ndarray],
    ) -> None:
        if batch < 1:
            raise DataError(f"calibration batch size must be >= 1, got {batch}")
        if len(images) < batch:
            raise DataError(
                f"calibration needs at least {batch} images (one batch), got {len(images)}"
            )
        self.images = images
        self.batch = batch
        self.prepare = prepare  # image path -> (1, C, H, W) float32
        self.array = np.zeros((batch, *shape), np.float32)

    def __len__(self) -> int:
        return len(self.images) // self.batch

    def __iter__(self) -> Iterator[np.ndarray]:
        for start in range(0, len(self) * self.batch, self.batch):
            for row, path in enumerate(self.images[start : start + self.batch]):
                self.array[row] = self.prepare(path)[0]
            yield self.array
