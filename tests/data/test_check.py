from pathlib import Path

from inspector.data.check import check_dataset
from inspector.data.masks import SplitSpec, convert_masks
from inspector.data.split import split_dataset


def test_check_counts_a_converted_dataset(small_tiles: Path, tmp_path: Path):
    convert_masks(small_tiles, tmp_path / "ds", split=SplitSpec(0.5, 0))
    report = check_dataset(tmp_path / "ds" / "data.yaml")
    assert not report.problems
    total = sum(s.images for s in report.splits.values())
    empty = sum(s.empty_images for s in report.splits.values())
    assert (total, empty) == (18, 6)


def test_check_collects_every_broken_label(small_tiles: Path, tmp_path: Path):
    convert_masks(small_tiles, tmp_path / "ds", split=SplitSpec(0.5, 0))
    labels = sorted((tmp_path / "ds" / "labels" / "val").glob("*.txt"))
    labels[0].write_text("7 0.5 0.5 0.1 0.1\n")
    labels[1].write_text("0 0.5 0.5 0.1\n")
    labels[2].unlink()
    report = check_dataset(tmp_path / "ds" / "data.yaml")
    assert len(report.problems) == 2
    assert "class 7 outside" in report.problems[0] or "class 7 outside" in report.problems[1]
    assert report.splits["val"].missing_labels == 1
    assert report.as_json()["ok"] is False


def test_split_is_stratified_and_copies_nothing(datasets: Path, tmp_path: Path):
    counts = split_dataset(datasets / "neu-det" / "data.yaml", tmp_path / "s", seed=0)
    assert counts == {"train": 1153, "val": 287}
    report = check_dataset(tmp_path / "s" / "data.yaml")
    val = report.splits["val"].images_per_class
    assert all(40 <= val[name] <= 60 for name in report.names), val
    assert not list((tmp_path / "s").glob("*.jpg"))
