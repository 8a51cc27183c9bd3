"""The MQTT sink's config: what station.yaml may say, and the one line for what not."""

from __future__ import annotations

from pathlib import Path

import pytest

from inspector.config import parse_config
from inspector.errors import ConfigError
from inspector.mqtt.config import parse_broker
from inspector.mqtt.connection import read_password, tls_context
from inspector.mqtt.topics import Topics

BASE = {
    "camera": {"kind": "folder", "path": "frames"},
    "trigger": {"kind": "line"},
    "model": {"path": "m.onnx"},
}
SINK = "station.yaml: sinks.0.mqtt"


def sink(**fields) -> dict:
    return BASE | {"sinks": [{"kind": "mqtt", "host": "broker.plant"} | fields]}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({}, None),
        ({"topic_prefix": "plant-1/quality", "qos": 2, "protocol": "3.1.1"}, None),
        ({"username": "u", "password_env": "MQTT_PASSWORD"}, None),
        ({"topic_prefix": "plant/+"}, f"{SINK}.topic_prefix: '+' is a wildcard"),
        ({"topic_prefix": "plant/#"}, f"{SINK}.topic_prefix: '#' is a wildcard"),
        ({"topic_prefix": "plant//x"}, f"{SINK}.topic_prefix: a topic level may not be empty"),
        ({"topic_prefix": "plant/"}, f"{SINK}.topic_prefix: a topic level may not be empty"),
        ({"topic_prefix": "$SYS"}, f"{SINK}.topic_prefix: a topic may not start with '$'"),
        ({"topic_prefix": "a\nb"}, f"{SINK}.topic_prefix: control characters"),
        ({"topic_prefix": ""}, f"{SINK}.topic_prefix: must be at least"),
        (
            {"username": "u", "password": "secret"},
            f"{SINK}.password: a password is never written in station.yaml: "
            "use password_file or password_env",
        ),
        ({"password_env": "X"}, f"{SINK}: a password needs a username"),
        (
            {"username": "u", "password_env": "X", "password_file": "p"},
            f"{SINK}: give password_file or password_env, not both",
        ),
        ({"username": "u", "password_env": "1X"}, f"{SINK}.password_env: '1X' is not"),
        ({"qos": 0}, f"{SINK}.qos: must be one of 1 or 2"),
        ({"port": 70000}, f"{SINK}.port: must be at most 65535"),
        ({"host": "a b"}, f"{SINK}.host: 'a b' is not a host name"),
        (
            {"tls": {"ca_file": "ca.pem", "cert_file": "c.pem"}},
            f"{SINK}.tls: cert_file and key_file go together",
        ),
        ({"tls": {}}, f"{SINK}.tls.ca_file: required"),
        ({"outbox": {"max_rows": 5}}, f"{SINK}.outbox.max_rows: must be at least 10"),
        (
            {"reconnect": {"initial_s": 5, "max_s": 1}},
            f"{SINK}.reconnect: max_s must be >= initial_s",
        ),
        ({"sparkplug": {"enabled": True, "group_id": "plant-1", "device_id": "cam-2"}}, None),
        ({"home_assistant": True, "home_assistant_prefix": "ha/discovery"}, None),
        ({"home_assistant_prefix": "ha/#"}, f"{SINK}.home_assistant_prefix: '#' is a wildcard"),
        ({"sparkplug": {"group_id": "a/b"}}, f"{SINK}.sparkplug.group_id: '/' is a level"),
        ({"sparkplug": {"edge_node_id": "+"}}, f"{SINK}.sparkplug.edge_node_id: '+' is a wildcard"),
        ({"sparkplug": {"device_id": "$cam"}}, f"{SINK}.sparkplug.device_id: '$cam': a Sparkplug"),
        ({"sparkplug": {"host_id": "x"}}, f"{SINK}.sparkplug.host_id: unknown key"),
    ],
)
def test_config_table(fields, error):
    if error is None:
        parse_config(sink(**fields), "station.yaml")
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(sink(**fields), "station.yaml")
    assert error in str(caught.value)


def test_paths_resolve_against_the_config_folder(tmp_path: Path):
    doc = sink(tls={"ca_file": "pki/ca.pem"}, username="u", password_file="secret")
    config = parse_config(doc, "station.yaml", base=tmp_path).sinks[0]
    assert config.tls.ca_file == tmp_path / "pki" / "ca.pem"
    assert config.password_file == tmp_path / "secret"


def test_a_missing_ca_file_is_named_at_open(tmp_path: Path):
    config = parse_config(sink(tls={"ca_file": "nowhere.pem"}), "s", base=tmp_path).sinks[0]
    with pytest.raises(ConfigError) as caught:
        tls_context(config.tls, "sinks.mqtt.tls")
    assert str(caught.value) == f"sinks.mqtt.tls.ca_file: {tmp_path / 'nowhere.pem'}: not found"


def test_a_file_that_is_no_certificate_is_named(tmp_path: Path):
    (tmp_path / "ca.pem").write_text("not a certificate\n")
    config = parse_config(sink(tls={"ca_file": "ca.pem"}), "s", base=tmp_path).sinks[0]
    with pytest.raises(ConfigError, match=r"^sinks.mqtt.tls.ca_file: .*not a PEM CA certificate"):
        tls_context(config.tls, "sinks.mqtt.tls")


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ({"file": "s3cret\nignored second line\n"}, "s3cret"),
        ({"file": ""}, "sinks.mqtt.password_file: {dir}/pw: empty"),
        ({"env": "s3cret"}, "s3cret"),
        ({"env": None}, "sinks.mqtt.password_env: environment variable MQTT_PW is not set"),
    ],
)
def test_the_password_comes_from_a_file_or_the_environment(
    tmp_path: Path, monkeypatch, setup, expected
):
    fields = {"username": "u"}
    if "file" in setup:
        (tmp_path / "pw").write_text(setup["file"])
        fields["password_file"] = "pw"
    else:
        fields["password_env"] = "MQTT_PW"
        if setup["env"] is None:
            monkeypatch.delenv("MQTT_PW", raising=False)
        else:
            monkeypatch.setenv("MQTT_PW", setup["env"])
    config = parse_config(sink(**fields), "s", base=tmp_path).sinks[0]
    expected = expected.format(dir=tmp_path)
    if expected.startswith("sinks."):
        with pytest.raises(ConfigError) as caught:
            read_password(config, "sinks.mqtt")
        assert str(caught.value) == expected
    else:
        assert read_password(config, "sinks.mqtt") == expected


def test_topics():
    topics = Topics("plant/quality", "line-1", "station-7")
    assert topics.result == "plant/quality/line-1/station-7/result"
    assert (topics.status, topics.event, topics.spc) == (
        "plant/quality/line-1/station-7/status",
        "plant/quality/line-1/station-7/event",
        "plant/quality/line-1/station-7/spc",
    )
    with pytest.raises(ConfigError, match=r"station\.name: '/' is a level separator"):
        Topics("inspector", "line-1", "a/b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("broker", ("broker", 1883)),
        ("127.0.0.1:18830", ("127.0.0.1", 18830)),
        ("[::1]:1884", ("::1", 1884)),
        ("[::1]", ("::1", 1883)),
        ("broker:x", None),
        ("broker:0", None),
        (":1883", None),
    ],
)
def test_parse_broker(text, expected):
    if expected is None:
        with pytest.raises(ConfigError, match="expected HOST or HOST:PORT"):
            parse_broker(text)
    else:
        assert parse_broker(text) == expected
