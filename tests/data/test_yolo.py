from pathlib import Path

import numpy as np
import pytest

from inspector.data.yolo import label_path_for, load_dataset, read_labels
from inspector.errors import DataError


@pytest.mark.parametrize(
    ("text", "expected_classes", "error"),
    [
        ("", [], None),
        ("0 0.5 0.5 0.2 0.2\n", [0], None),
        ("1 0.5 0.5 0.2 0.2\n0 0.1 0.1 0.1 0.1\n", [1, 0], None),
        ("0 0.5 0.5 0.2\n", None, "expected 'class cx cy w h'"),
        ("x 0.5 0.5 0.2 0.2\n", None, "non-numeric"),
        ("2 0.5 0.5 0.2 0.2\n", None, "class 2 outside 0..1"),
        ("0 1.5 0.5 0.2 0.2\n", None, "outside 0..1 or empty"),
        ("0 0.5 0.5 0 0.2\n", None, "outside 0..1 or empty"),
        ("0.5 0.5 0.5 0.2 0.2\n", None, "class 0.5 outside"),
    ],
)
def test_read_labels(tmp_path: Path, text, expected_classes, error):
    path = tmp_path / "a.txt"
    path.write_text(text)
    if error:
        with pytest.raises(DataError, match=error) as info:
            read_labels(path, num_classes=2)
        assert str(path) in str(info.value)
    else:
        assert read_labels(path, num_classes=2).class_id.tolist() == expected_classes


def test_missing_label_file_is_a_good_part(tmp_path: Path):
    assert len(read_labels(tmp_path / "none.txt", 3).class_id) == 0


def test_xyxy_pixels():
    labels = read_labels_from("0 0.5 0.5 0.5 0.25\n")
    assert np.allclose(labels.xyxy_pixels(200, 100), [[50, 37.5, 150, 62.5]])


def read_labels_from(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "l.txt"
        path.write_text(text)
        return read_labels(path, 1)


@pytest.mark.parametrize(
    ("image", "label"),
    [
        ("/d/images/train/a.jpg", "/d/labels/train/a.txt"),
        ("/images/x/images/b.png", "/images/x/labels/b.txt"),
        ("/d/c.jpg", "/d/c.txt"),
    ],
)
def test_label_path_for(image, label):
    assert label_path_for(Path(image)) == Path(label)


@pytest.mark.parametrize(
    ("yaml_text", "error"),
    [
        ("names: [a]\ntrain: images\n", None),
        ("names: {0: a, 1: b}\ntrain: images\n", None),
        ("train: images\n", "'names' is missing"),
        ("names: {0: a, 2: b}\ntrain: images\n", "ids must be 0..1"),
        ("path: nowhere\nnames: [a]\ntrain: images\n", "is not a folder"),
        ("names: [a\n", "not valid YAML"),
        ("- 1\n", "expected a mapping"),
    ],
)
def test_load_dataset(tmp_path: Path, yaml_text, error):
    (tmp_path / "images").mkdir()
    (tmp_path / "data.yaml").write_text(yaml_text)
    if error:
        with pytest.raises(DataError, match=error):
            load_dataset(tmp_path / "data.yaml")
    else:
        assert load_dataset(tmp_path / "data.yaml").root == tmp_path


def test_split_entry_that_points_nowhere(tmp_path: Path):
    (tmp_path / "data.yaml").write_text("names: [a]\nval: images/val\n")
    spec = load_dataset(tmp_path / "data.yaml")
    with pytest.raises(DataError, match="split entry 'images/val' does not exist"):
        spec.images("val")
    with pytest.raises(DataError, match="no split 'train'"):
        spec.images("train")
