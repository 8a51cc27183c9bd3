"""Split an existing YOLO dataset into train and val lists without copying images."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from inspector.data.yolo import label_path_for, load_dataset, read_labels
from inspector.errors import DataError, OutputExistsError

__all__ = ["split_dataset"]


def split_dataset(
    data_yaml: Path,
    dst: Path,
    *,
    source_split: str = "train",
    val_fraction: float = 0.2,
    seed: int = 0,
    force: bool = False,
) -> dict[str, int]:
    """Write dst/train.txt, dst/val.txt and dst/data.yaml; returns images per split.

    Stratified by each image's most frequent class (or 'background' for an empty label),
    so every class keeps its share in both splits.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"--val-fraction must be between 0 and 1, got {val_fraction}")
    dst = Path(dst).resolve()
    out_yaml = dst / "data.yaml"
    if out_yaml.exists() and not force:
        raise OutputExistsError(f"{out_yaml}: already exists (use --force)")
    spec = load_dataset(data_yaml)
    strata: dict[str, list[Path]] = defaultdict(list)
    for image in spec.images(source_split):
        labels = read_labels(label_path_for(image), len(spec.names))
        top = Counter(labels.class_id.tolist()).most_common(1)
        strata[str(top[0][0]) if top else "background"].append(image)
    rng = random.Random(seed)
    lists: dict[str, list[Path]] = {"train": [], "val": []}
    for key in sorted(strata):
        items = sorted(strata[key])
        rng.shuffle(items)
        n_val = round(len(items) * val_fraction)
        lists["val"].extend(items[:n_val])
        lists["train"].extend(items[n_val:])
    dst.mkdir(parents=True, exist_ok=True)
    for name, items in lists.items():
        (dst / f"{name}.txt").write_text("".join(f"{p}\n" for p in sorted(items)))
    doc = {
        "path": str(dst),
        "train": "train.txt",
        "val": "val.txt",
        "names": dict(enumerate(spec.names)),
    }
    header = f"# Split of {spec.yaml_path.resolve()} by `inspector data split` (seed {seed}).\n"
    out_yaml.write_text(header + yaml.safe_dump(doc, sort_keys=False))
    return {name: len(items) for name, items in lists.items()}
