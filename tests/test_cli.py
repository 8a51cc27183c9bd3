"""Errors reach the user as one line naming what and where, with a non-zero exit."""

import subprocess
import sys
from pathlib import Path

import pytest


def inspector(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["eval", "--model", "{tmp}/none.onnx", "--data", "{tmp}/d.yaml"],
            1,
            "d.yaml: dataset file not found",
        ),
        (["data", "check", "{tmp}/d.yaml"], 1, "d.yaml: dataset file not found"),
        (
            ["data", "convert-masks", "{tmp}/nowhere", "{tmp}/out"],
            1,
            "nowhere: source folder not found",
        ),
        (["export", "--weights", "{tmp}/w.pt"], 1, "w.pt: weights file not found"),
        (
            ["export", "--weights", "{tmp}/w.pt", "--format", "tflite"],
            1,
            "unknown export format 'tflite'",
        ),
        (["train", "--data", "{tmp}/d.yaml"], 1, "d.yaml: dataset file not found"),
        (["train", "--data", "{tmp}/d.yaml", "--set", "lr0"], 2, "--set lr0: expected KEY=VALUE"),
    ],
)
def test_one_line_errors(tmp_path: Path, args, code, message):
    result = inspector(*(a.format(tmp=tmp_path) for a in args))
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_debug_shows_the_traceback(tmp_path: Path):
    result = inspector("--debug", "data", "check", str(tmp_path / "d.yaml"))
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_data_check_json_flags_problems(tmp_path: Path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"")
    (tmp_path / "labels" / "a.txt").write_text("3 0.5 0.5 0.1 0.1\n")
    (tmp_path / "d.yaml").write_text("names: [x]\nval: images\n")
    result = inspector("data", "check", str(tmp_path / "d.yaml"), "--json")
    assert result.returncode == 1
    assert '"ok": false' in result.stdout
