"""Broken station.yaml files through the real CLI: each gives one exact line and exit code.

Every row is a real file in a temporary folder (a folder of 64x48 frames and the shipped
model beside it), run through `inspector config check FILE` or `inspector run --config
FILE` in a subprocess. stderr must be that one line: no traceback, no path twice, the
field or file named. `{dir}` in a row is the temporary folder, `{model}` the shipped model.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.camera.media import write_folder
from tests.conftest import ROOT, shipped_model

MODEL = shipped_model("magnetic-tile")
SECTIONS = {
    "camera": "{kind: folder, path: frames, pace: fast}",
    "trigger": "{kind: line}",
    "model": "{path: {model}}",
    "judge": "{min_confidence: 0.5}",
    "storage": "{database: log/i.db, images_dir: log/images}",
}


def doc(**sections: str) -> str:
    """The working config with some sections replaced (or added); a value None drops it."""
    merged = SECTIONS | sections
    return "".join(f"{name}: {value}\n" for name, value in merged.items() if value is not None)


CHECK, RUN = "check", "run"
DUP_TOP = doc() + "model: {path: other.onnx}\n"
DUP_NESTED = doc(camera="\n  kind: folder\n  path: frames\n  pace: fast\n  path: again")

# (id, yaml text or bytes, command, exit code, the one stderr line ("error: " is added for run))
ROWS = [
    # ---- the file itself
    ("not-utf8", b"camera: \xff\n", CHECK, 2, "{cfg}: not UTF-8 text (byte 8)"),
    ("empty", "", CHECK, 2, "{cfg}: empty (expected a mapping of sections: camera, trigger, ...)"),
    (
        "comments-only",
        "# nothing\n",
        RUN,
        2,
        "{cfg}: empty (expected a mapping of sections: camera, trigger, ...)",
    ),
    (
        "top-level-list",
        "- camera\n- trigger\n",
        CHECK,
        2,
        "{cfg}: expected a mapping of sections at the top level, got a list",
    ),
    (
        "top-level-string",
        "station\n",
        CHECK,
        2,
        "{cfg}: expected a mapping of sections at the top level, got a string",
    ),
    (
        "invalid-yaml",
        doc(judge="{min_confidence: [0.5}"),
        CHECK,
        2,
        "{cfg}: line 4: not valid YAML (expected ',' or ']', but got '}}')",
    ),
    (
        "tab-indent",
        doc() + "plc:\n\tenabled: false\n",
        CHECK,
        2,
        "{cfg}: line 7: not valid YAML (found character '\\t' that cannot start any token)",
    ),
    ("dup-top-key", DUP_TOP, CHECK, 2, "{cfg}: line 6: key 'model' given twice"),
    ("dup-nested-key", DUP_NESTED, CHECK, 2, "{cfg}: line 5: key 'path' given twice"),
    ("dup-key-run", DUP_TOP, RUN, 2, "{cfg}: line 6: key 'model' given twice"),
    # ---- numbers: finite and bounded
    (
        "fps-inf",
        doc(camera="{kind: folder, path: frames, fps: inf}"),
        CHECK,
        2,
        "{cfg}: camera.folder.fps: must be a finite number",
    ),
    (
        "fps-nan",
        doc(camera="{kind: folder, path: frames, fps: .nan}"),
        CHECK,
        2,
        "{cfg}: camera.folder.fps: must be a finite number",
    ),
    (
        "fps-1e308",
        doc(camera="{kind: folder, path: frames, fps: 1e308}"),
        CHECK,
        2,
        "{cfg}: camera.folder.fps: must be at most 1000",
    ),
    (
        "deadline-inf",
        doc(trigger="{kind: line, deadline_ms: .inf}"),
        CHECK,
        2,
        "{cfg}: trigger.line.deadline_ms: must be a finite number",
    ),
    (
        "deadline-tiny",
        doc(trigger="{kind: line, deadline_ms: 0.001}"),
        CHECK,
        2,
        "{cfg}: trigger.line.deadline_ms: must be at least 10",
    ),
    (
        "quota-1e308",
        doc(storage="{images_quota_mb: 1e308}"),
        CHECK,
        2,
        "{cfg}: storage.images_quota_mb: must be at most 16777216",
    ),
    (
        "quota-nan",
        doc(storage="{images_quota_mb: .nan}"),
        CHECK,
        2,
        "{cfg}: storage.images_quota_mb: must be a finite number",
    ),
    (
        "period-inf",
        doc(trigger="{kind: interval, period_s: inf}"),
        CHECK,
        2,
        "{cfg}: trigger.interval.period_s: must be a finite number",
    ),
    (
        "period-1e308",
        doc(trigger="{kind: interval, period_s: 1e308}"),
        CHECK,
        2,
        "{cfg}: trigger.interval.period_s: must be at most 86400",
    ),
    (
        "zone-1e308",
        doc(judge="{min_confidence: 0.5, include_zones: [{x0: 0, y0: 0, x1: 1e308, y1: 10}]}"),
        CHECK,
        2,
        "{cfg}: judge.include_zones.0.x1: must be at most 65535",
    ),
    (
        "zone-nan",
        doc(judge="{min_confidence: 0.5, exclude_zones: [{x0: .nan, y0: 0, x1: 5, y1: 10}]}"),
        CHECK,
        2,
        "{cfg}: judge.exclude_zones.0.x0: must be a finite number",
    ),
    (
        "threshold-inf",
        doc(judge="{min_confidence: .inf}"),
        CHECK,
        2,
        "{cfg}: judge.min_confidence: must be a finite number",
    ),
    (
        "class-threshold-1e308",
        doc(judge="{min_confidence: 0.5, classes: {defect: {min_confidence: 1e308}}}"),
        CHECK,
        2,
        "{cfg}: judge.classes.defect.min_confidence: must be at most 1",
    ),
    (
        "port-huge",
        doc(plc="{enabled: true, port: 1099511627776}"),
        CHECK,
        2,
        "{cfg}: plc.port: must be at most 65535",
    ),
    (
        "threads-2-to-40",
        doc(model="{path: {model}, threads: 1099511627776}"),
        CHECK,
        2,
        "{cfg}: model.threads: must be at most 256",
    ),
    (
        "threads-zero",
        doc(model="{path: {model}, threads: 0}"),
        RUN,
        2,
        "{cfg}: model.threads: must be at least 1",
    ),
    # ---- names
    (
        "name-newline",
        doc(station='{name: "a\\nb"}'),
        CHECK,
        2,
        "{cfg}: station.name: control characters and newlines are not allowed (names go into logs)",
    ),
    (
        "line-control",
        doc(station='{line: "line\\u0007"}'),
        CHECK,
        2,
        "{cfg}: station.line: control characters and newlines are not allowed (names go into logs)",
    ),
    (
        "name-slash",
        doc(station="{name: a/b}"),
        CHECK,
        2,
        "{cfg}: station.name: use letters, digits, '_', '.', '-' and start with a letter or "
        "digit (names go into logs, file names and MQTT topics)",
    ),
    # ---- unknown keys, kinds, types
    ("unknown-top", doc(modle="{}"), CHECK, 2, "{cfg}: modle: unknown key (misspelt?)"),
    (
        "unknown-section-key",
        doc(storage="{databse: x.db}"),
        CHECK,
        2,
        "{cfg}: storage.databse: unknown key (misspelt?)",
    ),
    (
        "unknown-plugin-key",
        doc(camera="{kind: folder, path: frames, pase: fast}"),
        CHECK,
        2,
        "{cfg}: camera.folder.pase: unknown key (misspelt?)",
    ),
    (
        "unknown-deep-key",
        doc(plc="{client: {backoff: {initial: 1}}}"),
        CHECK,
        2,
        "{cfg}: plc.client.backoff.initial: unknown key (misspelt?)",
    ),
    (
        "unknown-rule-key",
        doc(judge="{min_confidence: 0.5, classes: {defect: {ignored: true}}}"),
        CHECK,
        2,
        "{cfg}: judge.classes.defect.ignored: unknown key (misspelt?)",
    ),
    (
        "camera-kind",
        doc(camera="{kind: gige}"),
        CHECK,
        2,
        "{cfg}: camera: unknown kind 'gige' (known: 'video', 'folder', 'opencv', 'aravis')",
    ),
    (
        "trigger-kind",
        doc(trigger="{kind: laser}"),
        CHECK,
        2,
        "{cfg}: trigger: unknown kind 'laser' (known: 'presence', 'interval', 'manual', "
        "'line', 'plc')",
    ),
    (
        "backend-kind",
        doc(model="{path: {model}, backend: tflite}"),
        CHECK,
        2,
        "{cfg}: model.backend: unknown kind 'tflite' (known: 'auto', 'onnxruntime', 'openvino', "
        "'tensorrt')",
    ),
    (
        "sink-kind",
        doc(sinks="[{kind: mqtt2}]"),
        CHECK,
        2,
        "{cfg}: sinks.0: unknown kind 'mqtt2' (known: 'console', 'display', 'mqtt')",
    ),
    ("camera-no-kind", doc(camera="{path: frames}"), CHECK, 2, "{cfg}: camera: needs a `kind`"),
    ("sink-no-kind", doc(sinks="[{json_lines: true}]"), CHECK, 2, "{cfg}: sinks.0: needs a `kind`"),
    ("missing-section", doc(model=None), CHECK, 2, "{cfg}: model: required"),
    (
        "missing-field",
        doc(trigger="{kind: interval}"),
        CHECK,
        2,
        "{cfg}: trigger.interval.period_s: required",
    ),
    (
        "quota-string",
        doc(storage="{images_quota_mb: lots}"),
        CHECK,
        2,
        "{cfg}: storage.images_quota_mb: must be a number",
    ),
    (
        "threads-float",
        doc(model="{path: {model}, threads: 2.5}"),
        CHECK,
        2,
        "{cfg}: model.threads: must be a whole number",
    ),
    (
        "section-scalar",
        doc(judge="strict"),
        CHECK,
        2,
        "{cfg}: judge: must be a mapping of keys to values",
    ),
    ("sinks-mapping", doc(sinks="{kind: console}"), CHECK, 2, "{cfg}: sinks: must be a list"),
    (
        "bool-string",
        doc(storage="{save_failed: maybe}"),
        CHECK,
        2,
        "{cfg}: storage.save_failed: must be true or false",
    ),
    (
        "overlap-choice",
        doc(model="{path: {model}, overlap: sometimes}"),
        CHECK,
        2,
        "{cfg}: model.overlap: must be one of 'auto', 'on' or 'off'",
    ),
    (
        "zone-order",
        doc(judge="{min_confidence: 0.5, include_zones: [{x0: 9, y0: 0, x1: 5, y1: 10}]}"),
        CHECK,
        2,
        "{cfg}: judge.include_zones.0: zone needs x1 > x0 and y1 > y0",
    ),
    (
        "plc-trigger-without-plc",
        doc(trigger="{kind: plc}"),
        CHECK,
        2,
        "{cfg}: trigger.kind 'plc' needs plc.enabled: true",
    ),
    (
        "two-problems",
        doc(modle="{}", storage="{databse: x}"),
        RUN,
        2,
        "{cfg}: storage.databse: unknown key (misspelt?) (and 1 more)",
    ),
    # ---- files the config names
    (
        "model-missing",
        doc(model="{path: nope.onnx}"),
        CHECK,
        1,
        "{cfg}: model.path: {dir}/nope.onnx: not found",
    ),
    (
        "model-missing-run",
        doc(model="{path: nope.onnx}"),
        RUN,
        1,
        "{dir}/nope.onnx: model file not found",
    ),
    (
        "model-folder",
        doc(model="{path: folder.onnx}"),
        CHECK,
        1,
        "{cfg}: model.path: {dir}/folder.onnx: is a folder, not an .onnx file",
    ),
    (
        "model-not-onnx",
        doc(model="{path: text.onnx}"),
        CHECK,
        1,
        "{cfg}: model.path: {dir}/text.onnx: not a loadable ONNX model (Protobuf parsing failed.)",
    ),
    (
        "model-not-onnx-run",
        doc(model="{path: text.onnx}"),
        RUN,
        1,
        "{dir}/text.onnx: not a loadable ONNX model (Protobuf parsing failed.)",
    ),
    (
        "video-missing",
        doc(camera="{kind: video, path: clip.mp4}"),
        CHECK,
        1,
        "{cfg}: camera.path: {dir}/clip.mp4: not found",
    ),
    (
        "video-missing-run",
        doc(camera="{kind: video, path: clip.mp4}"),
        RUN,
        1,
        "{dir}/clip.mp4: video file not found",
    ),
    (
        "folder-empty",
        doc(camera="{kind: folder, path: folder.onnx}"),
        CHECK,
        1,
        "{cfg}: camera.path: {dir}/folder.onnx: no images (.png, .jpg, .jpeg, .bmp, .tif, "
        ".tiff) in the folder",
    ),
    (
        "database-is-folder",
        doc(storage="{database: frames}"),
        CHECK,
        1,
        "{cfg}: storage.database: {dir}/frames: is a folder, expected a file",
    ),
    (
        "images-dir-is-file",
        doc(storage="{images_dir: text.onnx}"),
        CHECK,
        1,
        "{cfg}: storage.images_dir: {dir}/text.onnx: is a file, expected a folder",
    ),
    (
        "images-dir-under-file",
        doc(storage="{images_dir: text.onnx/images}"),
        CHECK,
        1,
        "{cfg}: storage.images_dir: {dir}/text.onnx/images: cannot be created "
        "({dir}/text.onnx is not a writable folder)",
    ),
    # ---- the model against the judge, the frame against the ROIs
    (
        "judge-unknown-class",
        doc(judge="{min_confidence: 0.5, classes: {crack: {}}}"),
        CHECK,
        2,
        "{cfg}: judge.classes.crack: not a class of the model (defect)",
    ),
    (
        "judge-unknown-class-run",
        doc(judge="{min_confidence: 0.5, classes: {crack: {}}}"),
        RUN,
        2,
        "judge.classes.crack: not a class of the model (defect)",
    ),
    (
        "conf-above-judge",
        doc(model="{path: {model}, conf: 0.6}"),
        CHECK,
        2,
        "{cfg}: model.conf: 0.6 drops detections the judge would count (lowest rule 0.500)",
    ),
    (
        "trigger-roi-outside",
        doc(trigger="{kind: presence, roi: {x: 0, y: 0, width: 65, height: 10}}"),
        CHECK,
        2,
        "{cfg}: trigger.roi: x 0 + width 65, y 0 + height 10 lies outside the camera's 64x48 frame",
    ),
    (
        "locate-roi-outside",
        doc(trigger="{kind: manual}", locate="{roi: {x: 0, y: 40, width: 10, height: 10}}"),
        CHECK,
        2,
        "{cfg}: locate.roi: x 0 + width 10, y 40 + height 10 lies outside the camera's 64x48 frame",
    ),
    (
        "trigger-roi-outside-run",
        doc(trigger="{kind: presence, roi: {x: 60, y: 0, width: 10, height: 10}}"),
        RUN,
        2,
        "trigger.roi: x 60 + width 10, y 0 + height 10 lies outside the camera's 64x48 frame",
    ),
    # ---- only a start finds these
    (
        "display-headless",
        doc(sinks="[{kind: display}]"),
        RUN,
        2,
        "sinks.display: no display here (no DISPLAY, or an OpenCV without GUI)",
    ),
]


def inspector(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
    )


def station_folder(folder: Path) -> Path:
    """Frames, a text file named .onnx and a folder named .onnx beside the config."""
    write_folder(folder / "frames", 2)
    (folder / "text.onnx").write_text("not a model\n")
    (folder / "folder.onnx").mkdir()
    return folder


def command(kind: str, config: Path) -> list[str]:
    return ["config", "check", str(config)] if kind == CHECK else ["run", "--config", str(config)]


def assert_one_line(result: subprocess.CompletedProcess, code: int, line: str) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [line]


@pytest.mark.parametrize(
    ("text", "kind", "code", "line"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_broken_config_gives_one_line(tmp_path: Path, text, kind, code, line):
    folder = station_folder(tmp_path)
    config = folder / "station.yaml"
    if isinstance(text, bytes):
        config.write_bytes(text)
    else:
        config.write_text(text.replace("{model}", str(MODEL)), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    expected = line.format(cfg=config, dir=folder)
    result = inspector(*command(kind, config), env=env)
    assert_one_line(result, code, expected if kind == CHECK else f"error: {expected}")


def test_schema_only_opens_nothing(tmp_path: Path):
    config = station_folder(tmp_path) / "station.yaml"
    config.write_text(doc(model="{path: nope.onnx}"))
    result = inspector("config", "check", "--schema-only", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{config}: valid (schema only)")


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ("auto", "on auto: {choice})"),  # the default: which backend here, and why
        ("onnxruntime", "on onnxruntime)"),
    ],
)
def test_check_names_the_backend_it_would_pick(tmp_path: Path, backend: str, says: str):
    from inspector.detect.select import Platform, choose_backend

    config = station_folder(tmp_path) / "station.yaml"
    model = "{path: {model}}" if backend == "auto" else f"{{path: {{model}}, backend: {backend}}}"
    config.write_text(doc(model=model).replace("{model}", str(MODEL)))
    result = inspector("config", "check", "--schema-only", str(config))
    assert result.returncode == 0, result.stderr
    choice = choose_backend("onnx", Platform.probe())
    if backend == "auto" and choice.backend == "openvino":  # and at which precision
        says = says[:-1] + "; precision f32 (bf16 failed the card's check: escape rate rises "
        says += "0.0172 -> 0.0345))"
    assert result.stdout.strip().endswith(says.format(choice=choice))


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv to drop root")
def test_unreadable_model_named_by_check_and_run():
    """Root reads any file whatever its mode bits, so the CLI runs as nobody (65534)."""
    if os.geteuid() != 0:
        pytest.skip("drops privileges from root only")
    folder = Path(tempfile.mkdtemp(prefix="inspector-unreadable-"))
    try:
        folder.chmod(0o777)
        station_folder(folder)
        model = folder / "model.onnx"
        shutil.copy(MODEL, model)
        model.chmod(0o000)
        config = folder / "station.yaml"
        config.write_text(doc(model="{path: model.onnx}"))
        config.chmod(0o644)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        for kind, line in (
            (CHECK, f"{config}: model.path: {model}: no permission to read"),
            (RUN, f"error: {model}: model file not readable (permissions)"),
        ):
            result = subprocess.run(
                [*nobody, sys.executable, "-m", "inspector", *command(kind, config)],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=folder,
                env=env,
            )
            if "Permission denied" in result.stderr and "python" in result.stderr:
                pytest.skip("nobody cannot run this Python")
            assert_one_line(result, 1, line)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_table_has_forty_rows():
    assert len(ROWS) >= 40
    assert len({row[0] for row in ROWS}) == len(ROWS)
