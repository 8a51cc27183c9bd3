"""Shared fixtures: real datasets from ../shared/datasets, shipped models, tiny trained models."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("INSPECTOR_DATASETS", ROOT.parent / "shared" / "datasets"))
MODELS = ROOT / "models"


def shipped_model(name: str) -> Path:
    path = MODELS / name / f"{name}.onnx"
    if not path.is_file():
        pytest.fail(f"shipped model {path} is missing")
    return path


@pytest.fixture(scope="session", autouse=True)
def state_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo keeps its log in the user's state folder: a temporary one under test
    (subprocesses inherit it), so tests never write into the home folder."""
    folder = tmp_path_factory.mktemp("state")
    os.environ["XDG_STATE_HOME"] = str(folder)
    return folder


@pytest.fixture(scope="session", autouse=True)
def openvino_imported_first() -> None:
    """OpenVINO's import starts a telemetry thread that lives as long as the process;
    `backend: auto` picks OpenVINO wherever it is installed, so any station test may be
    the first to import it. Imported once before every test, no test is blamed for it."""
    with contextlib.suppress(ImportError):
        import openvino  # noqa: F401


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """A test must stop every thread it starts."""
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    for thread in leftover:
        thread.join(timeout=2.0)
    alive = [t.name for t in leftover if t.is_alive()]
    assert not alive, f"test left threads running: {alive}"


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not (DATASETS / "magnetic-tile").is_dir():
        pytest.fail(f"datasets not found at {DATASETS} (set INSPECTOR_DATASETS)")
    return DATASETS


@pytest.fixture(scope="session")
def small_tiles(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few real magnetic-tile image+mask pairs per category, in a temp folder."""
    src = tmp_path_factory.mktemp("tiles-src")
    for category in ("MT_Blowhole", "MT_Crack", "MT_Free"):
        (src / category).mkdir()
        images = sorted((datasets / "magnetic-tile" / category).glob("*.jpg"))[:6]
        for image in images:
            shutil.copy(image, src / category / image.name)
            shutil.copy(image.with_suffix(".png"), src / category / image.with_suffix(".png").name)
    return src


@pytest.fixture(scope="session")
def neu_split(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's NEU-DET 80/20 split (seed 0), as the shipped model was trained on."""
    from inspector.data.split import split_dataset

    dst = tmp_path_factory.mktemp("neu-split")
    split_dataset(datasets / "neu-det" / "data.yaml", dst, val_fraction=0.2, seed=0)
    return dst / "data.yaml"


@pytest.fixture(scope="session")
def tile_split(datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's magnetic-tile conversion (one 'defect' class, 80/20, seed 0)."""
    from inspector.data.masks import SplitSpec, convert_masks

    dst = tmp_path_factory.mktemp("tiles") / "mt"
    convert_masks(datasets / "magnetic-tile", dst, split=SplitSpec(0.2, 0), single_class="defect")
    return dst / "data.yaml"
