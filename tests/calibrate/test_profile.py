"""The profile: sealed on save, refused at load when missing, edited or damaged; the
station applies it (calibration id, audit event, size check against the camera)."""

from __future__ import annotations

import contextlib
import re
import sqlite3
from pathlib import Path

import cv2
import pytest

from inspector.calibrate.profile import (
    IntrinsicsSection,
    ScaleSection,
    load_profile,
    new_profile,
    save_profile,
)
from inspector.config import parse_config
from inspector.errors import ConfigError
from inspector.factory import build_station
from tests.plc.harness import free_port
from tests.test_factory import base

SCALE = ScaleSection(mm_per_px_x=0.5, mm_per_px_y=0.5, variation=0.01, tilt_deg=1.0, board="b")


# a distortion-free lens for a 1024 x 320 frame
PINHOLE_1024 = IntrinsicsSection(
    camera_matrix=((1400.0, 0.0, 512.0), (0.0, 1400.0, 160.0), (0.0, 0.0, 1.0)),
    dist_coeffs=(0.0, 0.0, 0.0, 0.0, 0.0),
    rms_px=0.1,
    views=10,
    board="b",
)


def write(tmp_path: Path, size=(640, 480)) -> Path:
    path = tmp_path / "calibration" / "st.yaml"
    save_profile(new_profile("st", size, "test").model_copy(update={"scale": SCALE}), path)
    return path


def tamper(path: Path) -> None:
    path.write_text(path.read_text().replace("mm_per_px_x: 0.5", "mm_per_px_x: 0.6"))


def flat_missing(path: Path) -> None:
    profile = load_profile(path).model_copy(update={"flat_field": "st.flat.png"})
    save_profile(profile, path)


@pytest.mark.parametrize(
    ("damage", "error"),
    [
        (None, None),
        (tamper, "checksum mismatch"),
        (lambda p: p.unlink(), "not found; run `inspector calibrate intrinsics"),
        (lambda p: p.write_text("station: [unclosed"), "not a readable profile"),
        (lambda p: p.write_text("station: st\n"), "image_size: Field required"),
        (flat_missing, "flat_field .* not found"),
    ],
)
def test_load(tmp_path: Path, damage, error):
    path = write(tmp_path)
    if damage:
        damage(path)
    if error:
        with pytest.raises(ConfigError, match=f"^calibration.profile: .*{error}"):
            load_profile(path, "calibration.profile")
    else:
        profile = load_profile(path)
        assert profile.scale == SCALE and profile.calibration_id == f"st-{profile.checksum[:12]}"


def video_size(path: str) -> tuple[int, int]:
    capture = cv2.VideoCapture(path)
    size = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    capture.release()
    return size


def test_the_station_audits_and_announces_a_new_profile(tmp_path: Path):
    doc = base(tmp_path, free_port())
    path = write(tmp_path, video_size(doc["camera"]["path"]))
    doc["calibration"] = {"enabled": True, "profile": str(path)}
    doc["judge"] = {"min_confidence": 0.5, "classes": {"defect": {"min_width_mm": 2.0}}}
    parts = build_station(parse_config(doc, "test"))
    parts.station.start()
    parts.station.stop()
    assert parts.judge.min_wh[parts.judge.names.index("defect")][0] == pytest.approx(4.0)
    with contextlib.closing(sqlite3.connect(tmp_path / "log.db")) as conn:
        kinds = [k for (k,) in conn.execute("SELECT kind FROM events ORDER BY id")]
        audited = conn.execute("SELECT new_hash FROM audit WHERE kind = 'calibration'").fetchall()
    assert "calibration_changed" in kinds
    assert audited == [(load_profile(path).calibration_id,)]


def test_a_profile_of_another_size_is_refused(tmp_path: Path):
    doc = base(tmp_path, free_port())
    path = write(tmp_path, (1920, 1080))
    doc["calibration"] = {"enabled": True, "profile": str(path)}
    with pytest.raises(ConfigError, match=r"calibration.profile: .* was measured at 1920x1080"):
        build_station(parse_config(doc, "test"))


def demo_folder(folder: Path, count: int = 8) -> Path:
    """Frames of the demo recording (1024 x 320), tiles at several places."""
    from tests.test_station import demo_frames

    return demo_frames(folder, count, 7)


@pytest.mark.parametrize(
    "backend",
    [None, {"kind": "openvino", "preprocess": "model"}],
    ids=["default-backend", "openvino-preprocess-model"],
)
@pytest.mark.parametrize("overlap", ["off", "on"])
def test_the_station_inspects_through_the_profile(tmp_path: Path, overlap: str, backend):
    """The remap into each slot's tensor: float NCHW, or the uint8 NHWC pixels of an
    OpenVINO model with the conversion folded in."""
    from tests.test_station import Collect, config, run_to_end

    folder = demo_folder(tmp_path / "frames")
    lens = PINHOLE_1024
    path = tmp_path / "st.yaml"
    profile = new_profile("st", (1024, 320), "test").model_copy(
        update={"intrinsics": lens, "roi": (0, 0, 1024, 320)}
    )
    calibration_id = save_profile(profile, path).calibration_id
    camera = {"kind": "folder", "path": str(folder), "pace": "fast"}
    runs = {}
    for name, extra in (
        ("plain", {}),
        ("calibrated", {"calibration": {"enabled": True, "profile": str(path)}}),
    ):
        collect = Collect()
        cfg = config(tmp_path / name, camera, {"kind": "line"}, overlap, **extra)
        if backend is not None:
            doc = cfg.model_dump(mode="json", exclude_unset=True)
            doc["model"]["backend"] = backend
            cfg = parse_config(doc, "test")
            assert cfg.model.backend.model_dump(exclude_unset=True) == backend
        run_to_end(cfg, [collect])
        runs[name] = collect.records
    # a lens without distortion and the whole frame as ROI: the model sees the same
    assert [r.verdict for r in runs["calibrated"]] == [r.verdict for r in runs["plain"]]
    assert {r.calibration_id for r in runs["calibrated"]} == {calibration_id}
    assert {r.calibration_id for r in runs["plain"]} == {None}


@pytest.mark.parametrize(
    ("size", "damage", "error"),
    [
        ((1024, 320), None, None),
        ((1024, 320), tamper, r"calibration.profile: .* checksum mismatch"),
        ((1024, 320), lambda p: p.unlink(), r"calibration.profile: .*: not found"),
        ((640, 480), None, r"calibration.profile: .* was measured at 640x480"),
    ],
)
def test_config_check_reads_the_profile(tmp_path: Path, size, damage, error):
    from inspector.configcheck import start_problems
    from tests.test_station import config

    folder = demo_folder(tmp_path / "frames", 1)
    path = write(tmp_path, size)
    if damage:
        damage(path)
    cfg = config(
        tmp_path,
        {"kind": "folder", "path": str(folder)},
        {"kind": "line"},
        calibration={"enabled": True, "profile": str(path)},
    )
    messages = [str(p) for p in start_problems(cfg)]
    if error is None:
        assert messages == []
    else:
        assert len(messages) == 1 and re.search(error, messages[0]), messages


@pytest.mark.parametrize("uint8_input", [False, True])
def test_a_flat_field_gain_is_refused_to_a_model_fed_uint8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uint8_input: bool
):
    """OpenVINO with `preprocess: model` takes uint8 pixels: a flat-field gain, rounded to
    grey levels, would change what the model finds, so the station refuses the pair."""
    from types import SimpleNamespace

    import numpy as np

    from inspector import factory

    lens = PINHOLE_1024
    profile = new_profile("st", (1024, 320), "test").model_copy(update={"intrinsics": lens})
    monkeypatch.setattr(factory, "load_flat_gain", lambda *_: np.ones((320, 1024), np.float32))
    config = SimpleNamespace(calibration=SimpleNamespace(profile=tmp_path / "st.yaml"))
    info = SimpleNamespace(channels=3, input_hw=(224, 224))
    detector = SimpleNamespace(uint8_input=uint8_input, info=info)
    if uint8_input:
        with pytest.raises(ConfigError, match=r"preprocess: 'model' .* flat-field gain"):
            factory.calibration_stage(profile, config, detector, (320, 1024, 3))
    else:
        rectifier, _ = factory.calibration_stage(profile, config, detector, (320, 1024, 3))
        assert rectifier is not None and rectifier.scale is not None
