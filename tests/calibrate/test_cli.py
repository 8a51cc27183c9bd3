"""`inspector calibrate` end to end on rendered images: the JSON contracts, the profile
each command fills, and one clear line with a non-zero exit for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from .test_lighting import scene


def inspector(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "calibrate", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_whole_set_up(tmp_path: Path, charuco_views: Path):
    profile = tmp_path / "calibration" / "st.yaml"
    done = inspector("target", "--out", str(tmp_path / "b.pdf"))
    assert done.returncode == 0 and "225 x 150 mm" in done.stdout
    done = inspector(
        "intrinsics", "--images", str(charuco_views), "--out", str(profile), "--json",
        "--report", str(tmp_path / "intrinsics.png"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["verdict"] == "pass" and doc["image_size"] == [640, 480]
    first = sorted(charuco_views.iterdir())[0]
    done = inspector("scale", "--image", str(first), "--profile", str(profile), "--json")
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) == {"mm_per_px_x", "mm_per_px_y", "variation", "tilt_deg"}
    golden, flat = tmp_path / "golden.png", tmp_path / "flat.png"
    cv2.imwrite(str(golden), (scene() * 0.8 + 20).astype(np.uint8))
    cv2.imwrite(str(flat), np.full((480, 640), 200, np.uint8))
    done = inspector(
        "lighting", "--image", str(golden), "--flat", str(flat), "--profile", str(profile),
        "--report", str(tmp_path / "lighting.png"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (profile.parent / "st.flat.png").exists()
    done = inspector("check", "--profile", str(profile), "--images", str(golden), "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["verdict"] == "go"
    cv2.imwrite(str(golden), cv2.GaussianBlur(cv2.imread(str(golden), 0), (0, 0), 3))
    done = inspector("check", "--profile", str(profile), "--images", str(golden))
    assert done.returncode == 1 and "NO-GO" in done.stdout
    for name in ("intrinsics.png", "lighting.png"):
        assert cv2.imread(str(tmp_path / name)) is not None


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["target", "--out", "{tmp}/b.svg"], 2, "--out: b.svg must end in .png or .pdf"),
        (["target", "--out", "{tmp}/b.png", "--kind", "dots"], 2, "--kind: 'dots' is not"),
        (["intrinsics", "--images", "{tmp}/none"], 1, "--images: {tmp}/none is not a folder"),
        (["scale", "--image", "{tmp}/none.png"], 1, "--image: {tmp}/none.png is not a readable"),
        (
            ["check", "--profile", "{tmp}/p.yaml", "--images", "{tmp}"],
            2,
            "--profile: {tmp}/p.yaml not found",
        ),
    ],
)
def test_one_line_errors(tmp_path: Path, args, code, message):
    done = inspector(*(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == code
    assert message.format(tmp=tmp_path) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def station_yaml(tmp_path: Path, frames: Path) -> Path:
    from tests.conftest import shipped_model

    path = tmp_path / "station.yaml"
    path.write_text(
        f"camera: {{kind: folder, path: {frames}, pace: fast}}\n"
        "trigger: {kind: line}\n"
        f"model: {{path: {shipped_model('magnetic-tile')}}}\n"
    )
    return path


def test_views_from_the_station_camera(tmp_path: Path, charuco_views: Path):
    frames = tmp_path / "frames"
    frames.mkdir()
    names = sorted(charuco_views.iterdir())
    for i, name in enumerate(names):
        (frames / f"{2 * i:03d}.png").write_bytes(name.read_bytes())
        (frames / f"{2 * i + 1:03d}.png").write_bytes(name.read_bytes())  # held still
    keep = tmp_path / "kept"
    done = inspector(
        "intrinsics", "--source", str(station_yaml(tmp_path, frames)), "--views", "30",
        "--keep", str(keep), "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["views_used"] == len(names)  # duplicates dropped
    assert len(list(keep.iterdir())) == len(names)
    assert "still needed" in done.stderr


def test_images_or_source(tmp_path: Path):
    done = inspector("intrinsics")
    assert done.returncode == 2 and "give --images DIR or --source" in done.stderr


def test_focus_readout_follows_the_lens(tmp_path: Path):
    frames = tmp_path / "frames"
    frames.mkdir()
    sharp = scene()
    for i, sigma in enumerate([3.0, 2.0, 1.0, 0.0, 1.5]):  # turned through best focus
        image = cv2.GaussianBlur(sharp, (0, 0), sigma) if sigma else sharp
        cv2.imwrite(str(frames / f"{i:03d}.png"), image)
    done = inspector(
        "focus", "--source", str(station_yaml(tmp_path, frames)), "--every", "1", "--json"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("of best") == 5
    last = json.loads(done.stdout)
    assert 0 < last["of_best"] < 1 and last["best_laplacian"] > last["focus_laplacian"]
