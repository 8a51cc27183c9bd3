"""`inspector bench --source`: the cost of acquisition, on a folder and on the simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.camera.bench import bench_source
from inspector.camera.config import FolderCamera
from inspector.errors import DataError
from tests.camera.media import write_folder
from tests.camera.simulator import ADDRESS, fake_camera


@pytest.mark.parametrize(("images", "frames", "error"), [(5, 3, None), (3, 5, "ended after")])
def test_bench_a_folder(tmp_path: Path, images: int, frames: int, error: str | None) -> None:
    folder = write_folder(tmp_path / "frames", images)
    config = FolderCamera(kind="folder", path=folder, pace="fast")
    if error is not None:
        with pytest.raises(DataError, match=error):
            bench_source(config, frames, warmup=0)
        return
    doc = bench_source(config, frames, warmup=1)
    assert doc["frames"] == frames and doc["written_in_place"] is True
    assert doc["cpu_ms_per_frame"] > 0


@pytest.mark.parametrize(
    ("pixel_format", "mono", "channels"),
    [("Mono8", True, 1), ("BayerRG8", False, 3)],
)
def test_bench_source_command_on_the_simulator(
    tmp_path: Path, pixel_format: str, mono: bool, channels: int
) -> None:
    station = tmp_path / "station.yaml"
    station.write_text(
        f"camera: {{kind: aravis, camera: {ADDRESS}, pixel_format: {pixel_format}, "
        f"mono: {str(mono).lower()}, roi: {{width: 640, height: 480}}, frame_rate: 200}}\n"
        "trigger: {kind: line}\nmodel: {path: m.onnx}\n"
    )
    with fake_camera():
        command = [sys.executable, "-m", "inspector", "bench", "--source", str(station)]
        result = subprocess.run(
            [*command, "--source-frames", "50", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["pixel_format"] == pixel_format
    assert doc["frame"] == {"width": 640, "height": 480, "channels": channels}
    assert doc["written_in_place"] is True
