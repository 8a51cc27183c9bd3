"""`inspector data check`: what a dataset holds and what is wrong with it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from inspector.data.yolo import label_path_for, load_dataset, read_labels
from inspector.errors import DataError

__all__ = ["DatasetReport", "SplitReport", "check_dataset"]


@dataclass
class SplitReport:
    images: int = 0
    empty_images: int = 0
    missing_labels: int = 0
    boxes: Counter[str] = field(default_factory=Counter)
    images_per_class: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


@dataclass
class DatasetReport:
    yaml_path: Path
    names: tuple[str, ...]
    splits: dict[str, SplitReport]

    @property
    def problems(self) -> list[str]:
        return [p for s in self.splits.values() for p in s.problems]

    def as_json(self) -> dict[str, object]:
        return {
            "data": str(self.yaml_path),
            "names": list(self.names),
            "splits": {
                name: {
                    "images": s.images,
                    "empty_images": s.empty_images,
                    "missing_labels": s.missing_labels,
                    "boxes": {n: s.boxes[n] for n in self.names},
                    "images_per_class": {n: s.images_per_class[n] for n in self.names},
                    "problems": s.problems,
                }
                for name, s in self.splits.items()
            },
            "ok": not self.problems,
        }


def check_dataset(yaml_path: Path) -> DatasetReport:
    """Read every label of every split; collect problems instead of stopping at one."""
    spec = load_dataset(yaml_path)
    report = DatasetReport(Path(yaml_path), spec.names, {})
    for split in spec.splits:
        result = SplitReport()
        for image in spec.images(split):
            result.images += 1
            label = label_path_for(image)
            if not label.is_file():
                result.missing_labels += 1
            try:
                labels = read_labels(label, len(spec.names))
            except DataError as exc:
                result.problems.append(str(exc))
                continue
            if not len(labels.class_id):
                result.empty_images += 1
            names = [spec.names[c] for c in labels.class_id]
            result.boxes.update(names)
            result.images_per_class.update(set(names))
        report.splits[split] = result
    return report
