"""Reading YOLO-format datasets: data.yaml, image lists and label files."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from inspector.errors import DataError

__all__ = [
    "IMAGE_SUFFIXES",
    "DatasetSpec",
    "LabelFile",
    "label_path_for",
    "load_dataset",
    "read_labels",
]

IMAGE_SUFFIXES = frozenset({".bmp", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp"})


@dataclass(frozen=True)
class LabelFile:
    """Ground truth of one image: class ids (N,) and normalised cx, cy, w, h boxes (N, 4)."""

    class_id: np.ndarray
    cxcywh: np.ndarray

    def xyxy_pixels(self, width: int, height: int) -> np.ndarray:
        """Boxes as x1, y1, x2, y2 in pixels of a width x height image."""
        cx, cy, w, h = self.cxcywh.T
        scale = np.array([width, height, width, height], dtype=np.float32)
        return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1) * scale


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed data.yaml: class names and, per split, the image files it lists."""

    yaml_path: Path
    root: Path
    names: tuple[str, ...]
    splits: dict[str, tuple[str, ...]]

    def images(self, split: str) -> list[Path]:
        """Every image file of a split, sorted, checked to exist."""
        if split not in self.splits:
            raise DataError(f"{self.yaml_path}: no split '{split}' (has: {', '.join(self.splits)})")
        found: list[Path] = []
        for entry in self.splits[split]:
            found.extend(_expand(self.root, entry, self.yaml_path))
        return sorted(found)


def load_dataset(yaml_path: Path) -> DatasetSpec:
    """Parse a data.yaml, resolving `path` relative to the file itself."""
    yaml_path = Path(yaml_path)
    if not yaml_path.is_file():
        raise DataError(f"{yaml_path}: dataset file not found")
    try:
        doc = yaml.safe_load(yaml_path.read_text())
    except yaml.YAMLError as exc:
        raise DataError(f"{yaml_path}: not valid YAML ({exc.__class__.__name__})") from None
    if not isinstance(doc, dict):
        raise DataError(f"{yaml_path}: expected a mapping with 'names' and splits")
    root = Path(doc.get("path") or ".")
    if not root.is_absolute():
        root = (yaml_path.parent / root).resolve()
    if not root.is_dir():
        raise DataError(f"{yaml_path}: path '{doc.get('path')}' is not a folder ({root})")
    names = _parse_names(doc.get("names"), yaml_path)
    splits = {
        key: tuple(doc[key]) if isinstance(doc[key], list) else (str(doc[key]),)
        for key in ("train", "val", "test")
        if doc.get(key)
    }
    return DatasetSpec(yaml_path=yaml_path, root=root, names=names, splits=splits)


def _parse_names(raw: object, yaml_path: Path) -> tuple[str, ...]:
    if isinstance(raw, list) and raw:
        return tuple(str(n) for n in raw)
    if isinstance(raw, dict) and raw:
        keys = sorted(int(k) for k in raw)
        if keys != list(range(len(keys))):
            raise DataError(f"{yaml_path}: 'names' ids must be 0..{len(keys) - 1}")
        return tuple(str(raw[k]) for k in keys)
    raise DataError(f"{yaml_path}: 'names' is missing or empty")


def _expand(root: Path, entry: str, yaml_path: Path) -> Iterator[Path]:
    """An entry is a folder of images, a .txt list of image paths, or one image."""
    target = Path(entry) if Path(entry).is_absolute() else root / entry
    if target.is_dir():
        yield from (p for p in target.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    elif target.suffix == ".txt" and target.is_file():
        for line in target.read_text().splitlines():
            line = line.strip()
            if line:
                path = Path(line)
                yield path if path.is_absolute() else (target.parent / path).resolve()
    elif target.is_file():
        yield target
    else:
        raise DataError(f"{yaml_path}: split entry '{entry}' does not exist ({target})")


def label_path_for(image: Path) -> Path:
    """The label file Ultralytics pairs with an image: the last /images/ becomes /labels/."""
    parts = list(image.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts).with_suffix(".txt")
    return image.with_suffix(".txt")


def read_labels(path: Path, num_classes: int) -> LabelFile:
    """Parse one label file; a missing file means no objects (a good part)."""
    if not path.is_file():
        return LabelFile(np.zeros(0, np.int64), np.zeros((0, 4), np.float32))
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            rows.append(_parse_label_line(line, path, lineno, num_classes))
    if not rows:
        return LabelFile(np.zeros(0, np.int64), np.zeros((0, 4), np.float32))
    table = np.array(rows, dtype=np.float64)
    return LabelFile(table[:, 0].astype(np.int64), table[:, 1:5].astype(np.float32))


def _parse_label_line(line: str, path: Path, lineno: int, num_classes: int) -> list[float]:
    fields = line.split()
    if len(fields) != 5:
        raise DataError(f"{path}:{lineno}: expected 'class cx cy w h', got {len(fields)} fields")
    try:
        values = [float(f) for f in fields]
    except ValueError:
        raise DataError(f"{path}:{lineno}: non-numeric value in '{line.strip()}'") from None
    cls = values[0]
    if cls != int(cls) or not 0 <= cls < num_classes:
        raise DataError(f"{path}:{lineno}: class {fields[0]} outside 0..{num_classes - 1}")
    cx, cy, w, h = values[1:]
    if not (0 <= cx <= 1 and 0 <= cy <= 1 and 0 < w <= 1 and 0 < h <= 1):
        raise DataError(f"{path}:{lineno}: box {cx} {cy} {w} {h} outside 0..1 or empty")
    return values
