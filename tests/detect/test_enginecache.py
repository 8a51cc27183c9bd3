"""The TensorRT engine cache without a GPU: keys, file names, metadata, the stale-engine
check and calibration batching. The keys are made up (no TensorRT here): fakes, named so."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from inspector.detect.enginecache import (
    CalibrationBatches,
    EngineKey,
    check_engine_key,
    engine_path,
    write_engine_file,
)
from inspector.detect.enginefile import split_engine_file
from inspector.errors import DataError, ModelError

FAKE_ORIN = EngineKey("ab" * 32, "10.3.0", "Orin", "8.7", "fp16")


@pytest.mark.parametrize(
    ("change", "same_file"),
    [
        ({}, True),
        ({"onnx_sha256": "cd" * 32}, False),  # retrained model
        ({"tensorrt": "10.7.0"}, False),  # JetPack upgrade
        ({"gpu": "NVIDIA GeForce RTX 4090"}, False),
        ({"compute_capability": "8.9"}, False),
        ({"precision": "int8"}, False),
    ],
)
def test_every_key_field_names_its_own_engine(tmp_path: Path, change, same_file):
    other = dataclasses.replace(FAKE_ORIN, **change)
    first = engine_path(tmp_path, Path("m/best.onnx"), FAKE_ORIN)
    assert (engine_path(tmp_path, Path("m/best.onnx"), other) == first) is same_file
    assert first.parent == tmp_path and first.name.startswith("best.fp16.")


def test_an_unknown_precision_is_refused():
    with pytest.raises(ModelError, match="engine precision 'int4'"):
        dataclasses.replace(FAKE_ORIN, precision="int4")


def test_the_key_travels_in_the_engine_file(tmp_path: Path):
    path = write_engine_file(
        tmp_path / "cache" / "m.engine", FAKE_ORIN, {"names": "{0: 'crack'}"}, b"\x00PLAN"
    )
    metadata, blob = split_engine_file(path)
    assert blob == b"\x00PLAN"
    assert metadata["names"] == "{0: 'crack'}"
    assert EngineKey.from_metadata(metadata) == FAKE_ORIN
    assert not path.with_name("m.engine.partial").exists()


@pytest.mark.parametrize(
    ("metadata", "key"),
    [({}, None), ({"engine_key": "not json"}, None), ({"engine_key": '{"gpu": "x"}'}, None)],
)
def test_an_engine_without_a_readable_key(metadata, key):
    assert EngineKey.from_metadata(metadata) is key


@pytest.mark.parametrize(
    ("found", "error"),
    [
        (FAKE_ORIN, None),
        (None, None),  # built by trtexec: TensorRT itself refuses a foreign engine
        (
            dataclasses.replace(FAKE_ORIN, tensorrt="8.6.2"),
            "tensorrt 8.6.2 (here 10.3.0)",
        ),
        (
            dataclasses.replace(FAKE_ORIN, gpu="Xavier", compute_capability="7.2"),
            "gpu Xavier (here Orin); compute_capability 7.2 (here 8.7)",
        ),
    ],
)
def test_a_stale_engine_fails_in_one_line(found, error):
    path = Path("m.engine")
    if error is None:
        check_engine_key(path, found, FAKE_ORIN)
        return
    with pytest.raises(ModelError) as raised:
        check_engine_key(path, found, FAKE_ORIN)
    message = str(raised.value)
    assert message.startswith("m.engine: engine built for another setup: ")
    assert error in message and "model.backend.rebuild: true" in message
    assert "\n" not in message


def numbered(path: Path) -> np.ndarray:
    """A fake letterbox: the image's number everywhere."""
    return np.full((1, 3, 4, 4), float(path.stem), np.float32)


@pytest.mark.parametrize(
    ("images", "batch", "batches", "firsts"),
    [
        (5, 1, 5, [0, 1, 2, 3, 4]),
        (5, 2, 2, [0, 2]),  # the incomplete last batch is dropped
        (4, 4, 1, [0]),
    ],
)
def test_calibration_batches(images, batch, batches, firsts):
    paths = [Path(f"{i}.jpg") for i in range(images)]
    source = CalibrationBatches(paths, batch, (3, 4, 4), numbered)
    seen = [(array.shape, float(array[0, 0, 0, 0]), id(array)) for array in source]
    assert len(source) == batches == len(seen)
    assert [first for _, first, _ in seen] == firsts
    assert {shape for shape, _, _ in seen} == {(batch, 3, 4, 4)}
    assert len({ident for _, _, ident in seen}) == 1  # one array, refilled


@pytest.mark.parametrize(
    ("images", "batch", "error"),
    [(0, 1, "at least 1 images (one batch), got 0"), (3, 4, "got 3"), (3, 0, "must be >= 1")],
)
def test_calibration_batches_refuse(images, batch, error):
    paths = [Path(f"{i}.jpg") for i in range(images)]
    with pytest.raises(DataError, match=error.replace("(", r"\(").replace(")", r"\)")):
        CalibrationBatches(paths, batch, (3, 4, 4), numbered)
