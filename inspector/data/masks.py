"""Convert image + binary-mask pairs into a YOLO detection dataset.

Source layout (that of the magnetic-tile dataset): one folder per category, each image
`NAME.jpg` with its mask `NAME.png` beside it, white where the defect is. A category whose
masks are all black (defect-free parts) contributes images with empty label files: good
parts are real training data.
"""

from __future__ import annotations

import csv
import random
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from inspector.errors import DataError, OutputExistsError

__all__ = [
    "ConversionReport",
    "MaskPair",
    "SplitSpec",
    "class_map",
    "convert_masks",
    "find_pairs",
    "mask_to_boxes",
    "read_image_list",
    "split_pairs",
    "stratified_split",
]

MASK_SUFFIX = ".png"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass(frozen=True)
class MaskPair:
    """One source image, its mask, and the category folder it came from."""

    image: Path
    mask: Path
    category: str

    @property
    def key(self) -> str:
        """`Category/name.jpg`: how exclude lists and split files name the image."""
        return f"{self.category}/{self.image.name}"


@dataclass(frozen=True)
class SplitSpec:
    """How images are dealt into train and val: the share of each category for val,
    the shuffle's seed, the images (`Category/name.jpg`) kept out of both, and, when
    `only` names any, the images kept (all others left out)."""

    val_fraction: float = 0.2
    seed: int = 0
    exclude: tuple[str, ...] = ()
    only: tuple[str, ...] = ()


@dataclass
class ConversionReport:
    """What a conversion wrote: image counts per split and boxes per class."""

    dst: Path
    names: tuple[str, ...]
    images: dict[str, int] = field(default_factory=dict)
    defective: dict[str, int] = field(default_factory=dict)
    boxes: dict[str, int] = field(default_factory=dict)
    dropped_specks: int = 0


def find_pairs(src: Path) -> list[MaskPair]:
    """Every image with a mask beside it, one category per sub-folder of `src`."""
    if not src.is_dir():
        raise DataError(f"{src}: source folder not found")
    pairs = []
    for folder in sorted(p for p in src.iterdir() if p.is_dir()):
        for image in sorted(folder.iterdir()):
            if image.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            mask = image.with_suffix(MASK_SUFFIX)
            if not mask.is_file():
                raise DataError(f"{image}: no mask {mask.name} beside it")
            pairs.append(MaskPair(image, mask, folder.name))
    if not pairs:
        raise DataError(f"{src}: no image + mask pairs in its sub-folders")
    return pairs


def mask_to_boxes(mask: np.ndarray, min_area: int) -> tuple[np.ndarray, int]:
    """Boxes (N, 4: x, y, w, h in pixels) of the mask's 8-connected white regions.

    Regions smaller than `min_area` pixels are annotation specks, not defects; the
    second value counts how many were dropped.
    """
    binary = (mask > 127).astype(np.uint8)
    count, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    regions = stats[1:count]  # row 0 is the background
    keep = regions[:, cv2.CC_STAT_AREA] >= min_area
    return regions[keep, :4].astype(np.float64), int((~keep).sum())


def class_map(
    pairs: list[MaskPair], single_class: str | None
) -> tuple[tuple[str, ...], dict[str, int]]:
    """Class names, and the class id of each category that has any defect mask.

    Names are the folder names less their shared prefix, lower-cased ("MT_Crack" -> "crack");
    `single_class` merges every defect category into one class of that name.
    """
    defect_categories = sorted({p.category for p in pairs if _mask_has_defect(p.mask)})
    if not defect_categories:
        raise DataError("no mask in the source has any white (defect) pixel")
    if single_class:
        return (single_class,), dict.fromkeys(defect_categories, 0)
    prefix = _common_prefix(sorted({p.category for p in pairs}))
    names = tuple(c[len(prefix) :].lower() or c.lower() for c in defect_categories)
    return names, {c: i for i, c in enumerate(defect_categories)}


def _common_prefix(words: list[str]) -> str:
    """Shared leading characters ("MT_Crack", "MT_Free" -> "MT_")."""
    first, last = min(words), max(words)
    size = next(
        (i for i, (a, b) in enumerate(zip(first, last, strict=False)) if a != b), len(first)
    )
    return first[:size]


def _mask_has_defect(mask_path: Path) -> bool:
    mask = _read_gray(mask_path)
    return bool((mask > 127).any())


def _read_gray(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise DataError(f"{path}: cannot be read as an image")
    return image


def stratified_split(
    pairs: list[MaskPair], val_fraction: float, seed: int
) -> dict[str, list[MaskPair]]:
    """Per category, a seeded shuffle puts round(n * val_fraction) items into val."""
    if not 0.0 <= val_fraction <= 1.0:
        raise DataError(f"--val-fraction must be within 0..1, got {val_fraction}")
    by_category: dict[str, list[MaskPair]] = defaultdict(list)
    for pair in pairs:
        by_category[pair.category].append(pair)
    rng = random.Random(seed)
    split: dict[str, list[MaskPair]] = {"train": [], "val": []}
    for category in sorted(by_category):
        items = sorted(by_category[category], key=lambda p: p.image.name)
        rng.shuffle(items)
        n_val = round(len(items) * val_fraction)
        split["val"].extend(items[:n_val])
        split["train"].extend(items[n_val:])
    return split


def convert_masks(
    src: Path,
    dst: Path,
    *,
    split: SplitSpec = SplitSpec(),
    min_area: int = 9,
    single_class: str | None = None,
    force: bool = False,
) -> ConversionReport:
    """Write a YOLO dataset (images/, labels/, data.yaml, manifest.csv) at `dst`.

    With the same `split`, the val split is the one `inspector train --kind defect-map`
    validates on. The dataset is assembled in a temporary sibling folder and moved into
    place at the end, so an interrupted run never leaves a half-written dataset behind.
    """
    dst = Path(dst).resolve()
    if dst.exists() and any(dst.iterdir()) and not force:
        raise OutputExistsError(f"{dst}: already exists and is not empty (use --force)")
    pairs = find_pairs(Path(src))
    names, class_of = class_map(pairs, single_class)
    train, val = split_pairs(pairs, split)
    splits = {"train": train, "val": val}
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        report = _write_dataset(staging, splits, names, class_of, min_area)
        _write_data_yaml(staging / "data.yaml", dst, names, splits)
        if dst.exists():
            shutil.rmtree(dst)
        staging.rename(dst)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report.dst = dst
    return report


def _write_dataset(
    root: Path,
    split: dict[str, list[MaskPair]],
    names: tuple[str, ...],
    class_of: dict[str, int],
    min_area: int,
) -> ConversionReport:
    report = ConversionReport(dst=root, names=names, boxes=dict.fromkeys(names, 0))
    with (root / "manifest.csv").open("w", newline="") as handle:
        manifest = csv.writer(handle)
        manifest.writerow(["split", "image", "source", "category", "boxes"])
        for split_name, items in split.items():
            (root / "images" / split_name).mkdir(parents=True)
            (root / "labels" / split_name).mkdir(parents=True)
            report.images[split_name] = len(items)
            report.defective[split_name] = 0
            for pair in items:
                lines, dropped = _label_lines(pair, class_of, min_area)
                stem = f"{pair.category}__{pair.image.stem}"
                image_out = root / "images" / split_name / f"{stem}{pair.image.suffix.lower()}"
                shutil.copyfile(pair.image, image_out)
                label_out = root / "labels" / split_name / f"{stem}.txt"
                label_out.write_text("".join(lines))
                report.dropped_specks += dropped
                report.defective[split_name] += bool(lines)
                for line in lines:
                    report.boxes[names[int(line.split()[0])]] += 1
                source = pair.image.resolve()
                manifest.writerow(
                    [split_name, image_out.relative_to(root), source, pair.category, len(lines)]
                )
    return report


def _label_lines(pair: MaskPair, class_of: dict[str, int], min_area: int) -> tuple[list[str], int]:
    mask = _read_gray(pair.mask)
    image = cv2.imread(str(pair.image), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(f"{pair.image}: cannot be read as an image")
    if image.shape[:2] != mask.shape[:2]:
        raise DataError(
            f"{pair.mask}: mask is {mask.shape[1]}x{mask.shape[0]} but its image is "
            f"{image.shape[1]}x{image.shape[0]}"
        )
    height, width = mask.shape[:2]
    boxes, dropped = mask_to_boxes(mask, min_area)
    if len(boxes) and pair.category not in class_of:
        raise DataError(f"{pair.mask}: defect pixels in category '{pair.category}'")
    lines = [
        f"{class_of[pair.category]} {(x + w / 2) / width:.6f} {(y + h / 2) / height:.6f} "
        f"{w / width:.6f} {h / height:.6f}\n"
        for x, y, w, h in boxes
    ]
    return lines, dropped


def _write_data_yaml(
    path: Path, final_root: Path, names: tuple[str, ...], split: dict[str, list[MaskPair]]
) -> None:
    # An absolute `path`: Ultralytics resolves a relative one against its own datasets dir.
    doc = {
        "path": str(final_root),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(names)),
    }
    if not split["train"]:
        doc["train"] = "images/val"
    path.write_text(
        "# Written by `inspector data convert-masks`; see manifest.csv for the sources.\n"
        + yaml.safe_dump(doc, sort_keys=False)
    )


def read_image_list(path: Path) -> tuple[str, ...]:
    """Images as `Category/name.jpg`, for --exclude or --only: a CSV with a `source`
    column (the demo recording's parts list) or one path a line."""
    if not path.is_file():
        raise DataError(f"{path}: image list not found")
    text = path.read_text()
    first = text.splitlines()[0] if text else ""
    if "source" in first.split(","):
        rows = csv.DictReader(text.splitlines())
        return tuple(sorted({row["source"] for row in rows if row.get("source")}))
    return tuple(sorted({line.strip() for line in text.splitlines() if line.strip()}))


def split_pairs(pairs: list[MaskPair], spec: SplitSpec) -> tuple[list[MaskPair], list[MaskPair]]:
    """(train, val): the excluded images removed first, then the seeded per-category
    split, so the split of the rest does not depend on what was excluded's order."""
    excluded, only = set(spec.exclude), set(spec.only)
    unknown = sorted((excluded | only) - {p.key for p in pairs})
    if unknown:
        more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
        raise DataError(f"image list names images not in the data: {', '.join(unknown[:3])}{more}")
    keep = [p for p in pairs if p.key not in excluded and (not only or p.key in only)]
    split = stratified_split(keep, spec.val_fraction, spec.seed)
    return split["train"], split["val"]
