"""`inspector camera list | features | grab` against Aravis's GigE camera simulator."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import pytest

from tests.camera.simulator import ADDRESS, CAMERA_ID, SERIAL, FakeCamera, fake_camera


@pytest.fixture(scope="module")
def simulator() -> Iterator[FakeCamera]:
    with fake_camera() as camera:
        yield camera


def inspector(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "camera", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def station_yaml(tmp_path: Path, camera: str) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(f"camera: {camera}\ntrigger: {{kind: line}}\nmodel: {{path: m.onnx}}\n")
    return path


def test_list_json_names_the_simulator(simulator: FakeCamera) -> None:
    result = inspector("list", "--json")
    assert result.returncode == 0, result.stderr
    [camera] = [c for c in json.loads(result.stdout) if c["serial"] == SERIAL]
    assert camera == {
        "id": CAMERA_ID,
        "vendor": "Aravis",
        "model": "Fake",
        "serial": SERIAL,
        "address": ADDRESS,
        "protocol": "GigEVision",
    }


def test_features_json_has_current_values(simulator: FakeCamera) -> None:
    result = inspector("features", ADDRESS, "--json")
    assert result.returncode == 0, result.stderr
    features = {f["name"]: f for f in json.loads(result.stdout)}
    assert features["DeviceID"]["value"] == SERIAL
    assert features["PixelFormat"]["kind"] == "Enumeration"
    assert int(features["SensorWidth"]["value"]) == 2048


@pytest.mark.parametrize(
    ("camera", "shape"),
    [
        (None, (512, 512)),  # the camera's own settings
        (
            "{kind: aravis, pixel_format: BayerRG8, roi: {width: 320, height: 240}, "
            "exposure_us: 5000, trigger: {source: Software}}",
            (240, 320, 3),
        ),
        (
            "{kind: aravis, pixel_format: Mono8, mono: true, roi: {width: 64, height: 48}}",
            (48, 64),
        ),
    ],
)
def test_grab_writes_pngs(
    simulator: FakeCamera, tmp_path: Path, camera: str | None, shape: tuple[int, ...]
) -> None:
    args = ["grab", SERIAL, "--frames", "3", "--out", str(tmp_path / "out")]
    if camera is not None:
        args += ["--config", str(station_yaml(tmp_path, camera))]
    if camera is None:
        # the simulator keeps what the last test set: start from its defaults
        simulator.kill()
        simulator.start()
    result = inspector(*args)
    assert result.returncode == 0, result.stderr
    frames = sorted((tmp_path / "out").glob("*.png"))
    assert [f.name for f in frames] == ["frame-0001.png", "frame-0002.png", "frame-0003.png"]
    image = cv2.imread(str(frames[0]), cv2.IMREAD_UNCHANGED)
    assert image.shape[: len(shape)] == shape


@pytest.mark.parametrize(
    ("camera", "code", "message"),
    [
        ("{kind: folder, path: frames}", 2, "camera.kind is folder, not aravis"),
        ("{kind: aravis, roi: {width: 4096, height: 8}}", 1, "camera.roi: 4096x8 at (0, 0)"),
    ],
)
def test_grab_errors(
    simulator: FakeCamera, tmp_path: Path, camera: str, code: int, message: str
) -> None:
    config = station_yaml(tmp_path, camera)
    result = inspector("grab", SERIAL, "--out", str(tmp_path / "o"), "--config", str(config))
    assert result.returncode == code
    assert message in result.stderr


def test_grab_times_out_waiting_for_a_line_trigger(simulator: FakeCamera, tmp_path: Path) -> None:
    config = station_yaml(tmp_path, "{kind: aravis, trigger: {source: Line0}}")
    result = inspector(
        "grab", SERIAL, "--out", str(tmp_path / "o"), "--config", str(config), "--timeout", "0.5"
    )
    assert result.returncode == 1
    assert "no frame within 0.5 s (0 saved)" in result.stderr
