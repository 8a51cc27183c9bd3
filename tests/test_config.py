from pathlib import Path

import pytest

from inspector.config import config_hash, load_config, parse_config
from inspector.errors import ConfigError

BASE = {
    "camera": {"kind": "folder", "path": "frames"},
    "trigger": {"kind": "line"},
    "model": {"path": "m.onnx"},
}


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({}, None),
        ({"camera": {"kind": "opencv", "device": "rtsp://cam/1"}}, None),
        ({"trigger": {"kind": "presence", "roi": {"x": 0, "y": 0, "width": 9, "height": 9}}}, None),
        ({"camera": {"kind": "usb"}}, "camera: unknown kind 'usb'"),
        ({"camera": {"kind": "folder"}}, "camera.folder.path: required"),
        ({"trigger": {"kind": "interval"}}, "trigger.interval.period_s: required"),
        ({"trigger": {"kind": "interval", "period_s": -1}}, "trigger.interval.period_s"),
        ({"model": {"path": "m.onnx", "treads": 2}}, "model.treads: unknown key"),
        (
            {"judge": {"include_zones": [{"x0": 5, "y0": 0, "x1": 1, "y1": 9}]}},
            "judge.include_zones.0: zone needs x1 > x0",
        ),
        ({"calibration": {"enabled": True}}, "calibration.profile: required when calibration"),
        ({"calibration": {"enabled": True, "profile": "c.yaml"}}, None),
        ({"spc": {"subgroup_size": 0}}, "spc.subgroup_size: must be at least 1"),
        ({"mqtt": {"enabled": False}}, "mqtt: MQTT is configured as a sink now"),
        ({"sinks": [{"kind": "mqtt"}]}, "sinks.0.mqtt.host: required"),
        ({"trigger": {"kind": "plc"}}, "trigger.kind 'plc' needs plc.enabled: true"),
        ({"plc": {"enabled": True, "mode": "master"}}, "plc.mode"),
        ({"storage": {"save_pass_fraction": 2}}, "storage.save_pass_fraction"),
    ],
)
def test_parse_config_table(change, error):
    doc = BASE | change
    if error is None:
        parse_config(doc, "station.yaml")
        return
    with pytest.raises(ConfigError, match=error) as info:
        parse_config(doc, "station.yaml")
    assert str(info.value).startswith("station.yaml: ")


def test_load_resolves_paths_against_the_file(tmp_path: Path):
    (tmp_path / "station.yaml").write_text(
        "camera: {kind: folder, path: frames}\ntrigger: {kind: line}\nmodel: {path: m.onnx}\n"
    )
    config = load_config(tmp_path / "station.yaml")
    assert config.camera.path == tmp_path / "frames"
    assert config.model.path == tmp_path / "m.onnx"
    assert config.storage.database == tmp_path / "inspections.db"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (None, "config file not found"),
        ("camera: [\n", "line 2: not valid YAML"),
        ("- 1\n", "expected a mapping"),
    ],
)
def test_load_errors(tmp_path: Path, text, error):
    path = tmp_path / "station.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_config(path)


def test_config_hash_follows_the_content():
    a = parse_config(BASE, "a")
    b = parse_config(BASE | {"judge": {"min_confidence": 0.4}}, "b")
    assert config_hash(a) == config_hash(parse_config(dict(BASE), "c"))
    assert config_hash(a) != config_hash(b)
