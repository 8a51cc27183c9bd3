import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from inspector.data import masks
from inspector.data.masks import SplitSpec, convert_masks, find_pairs, mask_to_boxes
from inspector.errors import DataError, OutputExistsError

DEMO_PARTS = Path(__file__).resolve().parents[2] / "models/magnetic-tile/demo/conveyor.parts.csv"


def blank(h=40, w=60):
    return np.zeros((h, w), np.uint8)


def with_rects(*rects, h=40, w=60):
    mask = blank(h, w)
    for x, y, rw, rh in rects:
        mask[y : y + rh, x : x + rw] = 255
    return mask


@pytest.mark.parametrize(
    ("mask", "min_area", "boxes", "dropped"),
    [
        (blank(), 9, [], 0),
        (with_rects((5, 5, 10, 4)), 9, [[5, 5, 10, 4]], 0),
        (with_rects((5, 5, 10, 4), (30, 20, 3, 3)), 9, [[5, 5, 10, 4], [30, 20, 3, 3]], 0),
        (with_rects((5, 5, 10, 4), (30, 20, 2, 2)), 9, [[5, 5, 10, 4]], 1),
        (with_rects((5, 5, 2, 2)), 1, [[5, 5, 2, 2]], 0),
        # diagonal neighbours are one region (8-connectivity)
        (with_rects((5, 5, 3, 3), (8, 8, 3, 3)), 1, [[5, 5, 6, 6]], 0),
    ],
)
def test_mask_to_boxes(mask, min_area, boxes, dropped):
    found, n_dropped = mask_to_boxes(mask, min_area)
    assert sorted(found.tolist()) == sorted(boxes)
    assert n_dropped == dropped


def write_pair(folder: Path, name: str, mask: np.ndarray, image_shape=None):
    folder.mkdir(parents=True, exist_ok=True)
    image = np.full(image_shape or mask.shape, 128, np.uint8)
    cv2.imwrite(str(folder / f"{name}.jpg"), image)
    cv2.imwrite(str(folder / f"{name}.png"), mask)


@pytest.fixture
def synthetic(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for i in range(10):
        write_pair(src / "MT_Free", f"f{i}", blank())
    for i in range(5):
        write_pair(src / "MT_Crack", f"c{i}", with_rects((10, 10, 20, 3)))
        write_pair(src / "MT_Hole", f"h{i}", with_rects((2, 2, 5, 5), (40, 30, 6, 6)))
    return src


def labels_of(dst: Path) -> dict[str, list[str]]:
    return {p.name: p.read_text().splitlines() for p in dst.glob("labels/*/*.txt")}


def test_convert_masks_layout_and_split(synthetic: Path, tmp_path: Path):
    report = convert_masks(synthetic, tmp_path / "out", split=SplitSpec(0.2, 1))
    assert report.names == ("crack", "hole")
    assert report.images == {"train": 16, "val": 4}  # 2 free + 1 crack + 1 hole in val
    assert report.defective == {"train": 8, "val": 2}
    assert report.boxes == {"crack": 5, "hole": 10}
    doc = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert doc["names"] == {0: "crack", 1: "hole"}
    labels = labels_of(tmp_path / "out")
    assert labels["MT_Free__f0.txt"] == []
    assert [line.split()[0] for line in labels["MT_Hole__h0.txt"]] == ["1", "1"]
    cx, cy, w, h = map(float, labels["MT_Crack__c0.txt"][0].split()[1:])
    assert (cx, cy, w, h) == pytest.approx((20 / 60, 11.5 / 40, 20 / 60, 3 / 40), abs=1e-6)


def test_convert_masks_is_seeded(synthetic: Path, tmp_path: Path):
    convert_masks(synthetic, tmp_path / "a", split=SplitSpec(seed=3))
    convert_masks(synthetic, tmp_path / "b", split=SplitSpec(seed=3))
    convert_masks(synthetic, tmp_path / "c", split=SplitSpec(seed=4))
    val = {d: sorted(p.name for p in (tmp_path / d / "images" / "val").iterdir()) for d in "abc"}
    assert val["a"] == val["b"]
    assert val["a"] != val["c"]


@pytest.mark.parametrize(("fraction", "train", "val"), [(0.0, 20, 0), (1.0, 0, 20)])
def test_convert_masks_extreme_fractions(synthetic: Path, tmp_path: Path, fraction, train, val):
    report = convert_masks(synthetic, tmp_path / "out", split=SplitSpec(fraction))
    assert report.images == {"train": train, "val": val}
    doc = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    assert (tmp_path / "out" / doc["train"]).is_dir()


def test_single_class_merges_categories(synthetic: Path, tmp_path: Path):
    report = convert_masks(synthetic, tmp_path / "out", single_class="defect")
    assert report.names == ("defect",)
    assert report.boxes == {"defect": 15}


def test_refuses_to_overwrite_without_force(synthetic: Path, tmp_path: Path):
    convert_masks(synthetic, tmp_path / "out")
    with pytest.raises(OutputExistsError, match="use --force"):
        convert_masks(synthetic, tmp_path / "out")
    convert_masks(synthetic, tmp_path / "out", force=True, split=SplitSpec(1.0))
    assert not any((tmp_path / "out" / "images" / "train").iterdir())


def test_mask_size_mismatch_names_the_file(synthetic: Path, tmp_path: Path):
    write_pair(synthetic / "MT_Crack", "bad", with_rects((1, 1, 4, 4)), image_shape=(41, 60))
    with pytest.raises(DataError, match=r"bad\.png: mask is 60x40 but its image is 60x41"):
        convert_masks(synthetic, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.*")), "staging folder left behind"


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda src: None, "source folder not found"),
        (lambda src: (src / "A").mkdir(parents=True), "no image \\+ mask pairs"),
        (lambda src: write_pair(src / "A", "x", blank()), "no mask in the source has any white"),
    ],
)
def test_bad_sources(tmp_path: Path, setup, error):
    src = tmp_path / "src"
    setup(src)
    with pytest.raises(DataError, match=error):
        convert_masks(src, tmp_path / "out")


def test_missing_mask(tmp_path: Path):
    write_pair(tmp_path / "src" / "A", "x", with_rects((1, 1, 4, 4)))
    (tmp_path / "src" / "A" / "x.png").unlink()
    with pytest.raises(DataError, match=r"x\.jpg: no mask x\.png beside it"):
        convert_masks(tmp_path / "src", tmp_path / "out")


def test_real_tiles(small_tiles: Path, tmp_path: Path):
    report = convert_masks(small_tiles, tmp_path / "out", split=SplitSpec(0.5, 0))
    assert report.names == ("blowhole", "crack")
    assert report.images == {"train": 9, "val": 9}
    assert report.defective["train"] + report.defective["val"] == 12


def test_the_split_is_seeded_and_keeps_the_demo_parts_out(datasets: Path):
    exclude = masks.read_image_list(DEMO_PARTS)
    assert len(exclude) == 60
    pairs = find_pairs(datasets / "magnetic-tile")
    first = masks.split_pairs(pairs, SplitSpec(0.2, 0, exclude))
    again = masks.split_pairs(pairs, SplitSpec(0.2, 0, exclude))
    other = masks.split_pairs(pairs, SplitSpec(0.2, 1, exclude))
    names = [{p.key for p in side} for side in first]
    assert first == again and first != other
    assert not names[0] & names[1]
    assert not (names[0] | names[1]) & set(exclude)
    assert len(names[0]) + len(names[1]) == len(pairs) - 60


def test_convert_masks_makes_the_trainers_split(small_tiles: Path, tmp_path: Path):
    pairs = find_pairs(small_tiles)
    exclude = (pairs[0].key, pairs[-1].key)
    train, val = masks.split_pairs(pairs, SplitSpec(0.3, 0, exclude))
    convert_masks(small_tiles, tmp_path / "ds", split=SplitSpec(0.3, 0, exclude))
    with (tmp_path / "ds" / "manifest.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    written = {
        split: {Path(r["source"]).resolve() for r in rows if r["split"] == split}
        for split in ("train", "val")
    }
    assert written["train"] == {p.image.resolve() for p in train}
    assert written["val"] == {p.image.resolve() for p in val}
    assert len(rows) == len(pairs) - 2


@pytest.mark.parametrize(
    ("exclude", "only", "kept", "error"),
    [
        ((), (), 18, None),
        ((0, 1), (), 16, None),
        ((), (0, 5, 17), 3, None),
        ((0,), (0, 5), 1, None),
        (("MT_Free/nope.jpg",), (), None, "images not in the data: MT_Free/nope.jpg"),
        (
            (),
            ("a/1.jpg", "a/2.jpg", "a/3.jpg", "a/4.jpg"),
            None,
            "a/1.jpg, a/2.jpg, a/3.jpg and 1 more",
        ),
    ],
)
def test_split_exclude_and_only(small_tiles: Path, exclude, only, kept, error):
    pairs = sorted(find_pairs(small_tiles), key=lambda p: p.key)
    names = [[pairs[i].key if isinstance(i, int) else i for i in side] for side in (exclude, only)]
    spec = SplitSpec(0.5, 0, tuple(names[0]), tuple(names[1]))
    if error:
        with pytest.raises(DataError, match=error):
            masks.split_pairs(pairs, spec)
        return
    train, val = masks.split_pairs(pairs, spec)
    assert len(train) + len(val) == kept
    assert not {p.key for p in train + val} & set(names[0])
