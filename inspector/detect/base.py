"""The `Detector` ABC, the model description it carries, and the backend registry."""

from __future__ import annotations

import ast
import hashlib
import json
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import yaml
from pydantic import ValidationError

from inspector.detect.config import BackendConfig
from inspector.detect.decoder import Decoder
from inspector.detect.defectmap import DEFECT_MAP_KIND, DefectMapDecoder, check_map_shape
from inspector.detect.registry import BACKENDS
from inspector.detect.yolo import DecodeParams, Layout, YoloDecoder, detect_layout
from inspector.errors import ConfigError, ModelError
from inspector.types import Detections
from inspector.vision.letterbox import Letterbox

__all__ = [
    "BACKENDS",
    "KINDS",
    "DecodeParams",
    "Decoder",
    "Detector",
    "ModelInfo",
    "ModelOverrides",
    "backend_options",
    "file_sha256",
    "make_decoder",
    "open_detector",
    "usable_cores",
]

DETECT_KIND = "detect"
KINDS = (DETECT_KIND, DEFECT_MAP_KIND)  # what a model's metadata `kind` may say

# The options a backend's `open` takes: the kind's own model (the registry dispatches on kind).
OptionsT = TypeVar("OptionsT", bound=BackendConfig)


@dataclass(frozen=True)
class ModelOverrides:
    """Values given on the command line for a model that lacks Ultralytics metadata."""

    names: tuple[str, ...] | None = None
    imgsz: int | None = None
    stride: int | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What the runtime knows about a model: its file, classes and input geometry."""

    path: Path
    sha256: str
    names: tuple[str, ...]
    input_hw: tuple[int, int]
    stride: int
    channels: int = 3
    kind: str = DETECT_KIND

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @classmethod
    def from_metadata(
        cls,
        path: Path,
        sha256: str,
        metadata: Mapping[str, str],
        overrides: ModelOverrides,
    ) -> ModelInfo:
        """Parse the metadata Ultralytics writes (names, imgsz, stride, channels)."""
        names = overrides.names or _parse_names(metadata.get("names"), path)
        imgsz = overrides.imgsz or _parse_literal(metadata.get("imgsz"), "imgsz", path)
        stride = overrides.stride or _parse_literal(metadata.get("stride"), "stride", path)
        input_hw = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))
        channels = int(_parse_literal(metadata.get("channels", "3"), "channels", path))
        kind = _parse_kind(metadata, path)
        return cls(path, sha256, tuple(names), input_hw, int(stride), channels, kind)


def _parse_kind(metadata: Mapping[str, str], path: Path) -> str:
    """The model kind (Ultralytics writes none: a detector), and a check that the model
    takes the letterbox's 0..1 RGB as it is: the runtime applies no normalisation."""
    kind = metadata.get("kind") or DETECT_KIND
    if kind not in KINDS:
        raise ModelError(f"{path}: metadata kind '{kind}' is unknown (known: {', '.join(KINDS)})")
    raw = metadata.get("normalization")
    if raw:
        try:
            in_graph = json.loads(raw).get("in_graph")
        except (json.JSONDecodeError, AttributeError):
            raise ModelError(f"{path}: metadata 'normalization' is unreadable") from None
        if in_graph is not True:
            raise ModelError(
                f"{path}: the model wants its input normalised outside the graph; the runtime "
                "feeds 0..1 RGB only (export with the normalisation inside)"
            )
    return kind


def _missing(field: str, path: Path) -> ModelError:
    return ModelError(
        f"{path}: no '{field}' in the model metadata (not exported by Ultralytics?); "
        f"give it with --{field}"
    )


def _parse_names(raw: str | None, path: Path) -> tuple[str, ...]:
    if not raw:
        raise _missing("names", path)
    value = _parse_literal(raw, "names", path)
    if isinstance(value, dict):
        return tuple(str(value[k]) for k in sorted(value, key=int))
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise ModelError(f"{path}: metadata 'names' is neither a dict nor a list: {raw[:60]}")


def _parse_literal(raw: object, field: str, path: Path) -> Any:
    """A Python literal or JSON value: whatever the exporter wrote, checked by the caller."""
    if raw is None or raw == "":
        raise _missing(field, path)
    if not isinstance(raw, str):
        return raw
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            raise ModelError(f"{path}: metadata '{field}' is unreadable: {raw[:60]}") from None


def usable_cores() -> int:
    """CPU cores this process may run on: its affinity where the OS tells, which a
    container's cpuset narrows and `os.cpu_count()` does not."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Detector(ABC, Generic[OptionsT]):
    """Letterbox -> backend inference -> decoding (YOLO boxes or a defect map, as the
    model's metadata `kind` says), on reused buffers.

    Backends implement `infer` (the raw model call) and a `open` factory that does the
    I/O (reading the file, creating the runtime session) and calls the constructor.
    """

    backend: ClassVar[str]
    # the letterbox writes uint8 (1, H, W, C) pixels, the model converts them itself
    uint8_input = False
    selection = ""  # how the backend was picked, when `auto` picked it ("auto: openvino (...)")

    def __init__(self, info: ModelInfo, output_shape: tuple[int, ...], params: DecodeParams):
        self.info = info
        self.output_shape = output_shape
        self.decoder: Decoder = make_decoder(info, output_shape, params)
        # the YOLO head's layout; None for other kinds
        self.layout: Layout | None = getattr(self.decoder, "layout", None)
        self.letterbox = self.new_letterbox()

    @property
    def spare_cpu(self) -> bool:
        """Whether inference leaves a CPU core to the station's own work while it runs
        (an accelerator, or a CPU runtime given fewer threads than there are cores)."""
        return False

    def new_letterbox(self) -> Letterbox:
        """A letterbox with an input tensor of its own, in memory this runtime reads
        from best."""
        return Letterbox(self.info.input_hw, self.info.channels)

    @classmethod
    @abstractmethod
    def open(
        cls,
        path: Path,
        options: OptionsT,
        params: DecodeParams,
        overrides: ModelOverrides,
        threads: int | None,
    ) -> Detector[OptionsT]:
        """Load `path` with this backend's `options` into a ready detector; raises
        ModelError for a bad file."""

    @abstractmethod
    def infer(self, tensor: np.ndarray) -> np.ndarray:
        """Run the model on a tensor shaped as its `new_letterbox` makes them (most
        backends: (1, C, H, W) float32; OpenVINO with `preprocess: model`: (1, H, W, C)
        uint8); raw output."""

    @property
    def requests(self) -> int:
        """Inferences this backend runs at once (its own threads or device): above 1,
        `start` and `wait` drive them, and `AsyncLane` keeps that many parts in flight."""
        return 1

    def start(self, slot: int, tensor: np.ndarray) -> None:
        """Begin inference of `tensor` on request `slot` (0 <= slot < requests) and return
        at once; `tensor` must stay untouched until `wait(slot)` returns."""
        raise ModelError(f"the {self.backend} backend runs one inference at a time")

    def wait(self, slot: int) -> np.ndarray:
        """Request `slot`'s raw output, once its inference is done; valid until its next
        `start`."""
        raise ModelError(f"the {self.backend} backend runs one inference at a time")

    def detect(self, frame: np.ndarray) -> Detections:
        tensor, geometry = self.letterbox(frame)
        return self.decoder(self.infer(tensor), geometry)

    def with_params(self, params: DecodeParams) -> Detector:
        """The same loaded model with other decode parameters (eval wants conf 0.001)."""
        self.decoder = make_decoder(self.info, self.output_shape, params)
        return self

    def close(self) -> None:  # most runtimes free themselves
        """Release runtime resources."""

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_decoder(info: ModelInfo, output_shape: tuple[int, ...], params: DecodeParams) -> Decoder:
    """The decoder the model's kind calls for, checked against its output shape."""
    where = str(info.path)
    if info.kind == DEFECT_MAP_KIND:
        if info.num_classes != 1:
            raise ModelError(f"{where}: a defect map has one class, metadata names {info.names}")
        grid = check_map_shape(output_shape, info.input_hw, info.stride, where)
        return DefectMapDecoder(grid, info.stride, params)
    layout = detect_layout(output_shape, info.num_classes, where)
    return YoloDecoder(layout, info.num_classes, params)


def backend_class(name: str) -> type[Detector[Any]]:
    cls: type[Detector[Any]] = BACKENDS.plugin_class(name)
    return cls


def backend_options(spec: str) -> BackendConfig:
    """A backend by name (`openvino`), or a YAML mapping of its options as station.yaml
    takes them (`{kind: openvino, precision: bf16, mode: throughput}`), validated."""
    if not spec.lstrip().startswith("{"):
        return BACKENDS.default_config(spec)
    try:
        doc = yaml.safe_load(spec)
    except yaml.YAMLError:
        raise ConfigError(f"backend: '{spec}' is not a YAML mapping") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        raise ConfigError(f"backend: '{spec}' needs a kind (onnxruntime, openvino ...)")
    config = BACKENDS.default_config(doc["kind"]).__class__
    try:
        return config.model_validate(doc)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ConfigError(f"backend.{where}: {error['msg']}") from None


def open_detector(
    path: Path,
    backend: str | BackendConfig = "onnxruntime",
    params: DecodeParams | None = None,
    overrides: ModelOverrides | None = None,
    threads: int | None = None,
) -> Detector:
    """Load a model with a backend (by name with its default options, or its config);
    a backend that cannot load fails loudly."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: model file not found")
    if not os.access(path, os.R_OK):
        raise ModelError(f"{path}: model file not readable (permissions)")
    if path.is_dir() and path.suffix.lower() in (".onnx", ".engine"):  # whichever backend
        raise ModelError(f"{path}: is a folder, not an {path.suffix} file")
    options = backend_options(backend) if isinstance(backend, str) else backend
    return backend_class(options.kind).open(
        path, options, params or DecodeParams(), overrides or ModelOverrides(), threads
    )
