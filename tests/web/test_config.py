"""`web:` in station.yaml: validated at load, the token only from a file or the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inspector.errors import ConfigError
from inspector.web.config import WebConfig
from inspector.web.server import read_token


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({}, None),
        ({"enabled": True, "host": "0.0.0.0", "port": 0}, None),
        ({"token": "plain"}, "never written in station.yaml"),
        ({"token_file": "t", "token_env": "T"}, "not both"),
        ({"token_env": "NOT A NAME"}, "not an environment variable name"),
        ({"port": 70000}, "less than or equal to 65535"),
        ({"live_fps": 0}, "greater than 0"),
        ({"max_streams": 0}, "greater than or equal to 1"),
        ({"bind": "x"}, "Extra inputs are not permitted"),
    ],
)
def test_section(section: dict, error: str | None):
    if error is None:
        assert WebConfig.model_validate(section)
        return
    with pytest.raises(ValidationError, match=error):
        WebConfig.model_validate(section)


@pytest.mark.parametrize(
    ("file_text", "env", "expected", "error"),
    [
        (None, None, None, None),
        ("tok\nignored\n", None, "tok", None),
        ("\n", None, None, "is empty"),
        (None, "from-env", "from-env", None),
        (None, "", None, "is not set or empty"),
    ],
)
def test_read_token(tmp_path, monkeypatch, file_text, env, expected, error):
    section: dict = {}
    if file_text is not None:
        (tmp_path / "token").write_text(file_text)
        section["token_file"] = tmp_path / "token"
    if env is not None:
        monkeypatch.setenv("WEB_TOKEN_TEST", env)
        section["token_env"] = "WEB_TOKEN_TEST"
    config = WebConfig.model_validate(section)
    if error is None:
        assert read_token(config) == expected
        return
    with pytest.raises(ConfigError, match=error):
        read_token(config)


def test_missing_token_file_names_the_field(tmp_path):
    config = WebConfig.model_validate({"token_file": tmp_path / "absent"})
    with pytest.raises(ConfigError, match=r"web\.token_file"):
        read_token(config)
