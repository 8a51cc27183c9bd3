"""A model that answers NaN, infinity or nothing never passes a part.

Tiny hand-made ONNX graphs with Ultralytics-like metadata stand in for broken models:
finite on the factory's blank warm-up frame, broken on real frames. The station rejects
every such part (NO_DECISION), raises the MODEL fault once (one event, one log line), the
PLC sees ERROR with ERROR_CODE MODEL and no READY, and the PLC's ERROR_RESET clears it.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from pydantic import Field

from inspector.config import parse_config
from inspector.detect.config import OnnxRuntimeConfig
from inspector.detect.onnxruntime import OnnxRuntimeDetector
from inspector.detect.registry import BACKENDS
from inspector.factory import build_station
from inspector.plc.registers import Control, ErrorCode, Status
from inspector.sinks.base import Sink
from inspector.station import StationState
from inspector.types import RESULT_NO_DECISION, EventKind, Inspection, StationEvent, Verdict
from tests.camera.media import wait_until, write_folder
from tests.conftest import ROOT
from tests.plc.harness import PlcProgram

META = {"names": "{0: 'defect'}", "imgsz": "[32, 32]", "stride": "32"}
ANCHORS = 21  # 32x32 at strides 8, 16, 32


def fault_model(path: Path, kind: str) -> Path:
    """(1, 3, 32, 32) -> (1, 5, 21): boxes (cx, cy, w, h) and one class score, from the
    input's mean m (0 on the blank warm-up frame, above 0 on any real frame):
    - nan_on_real: score sqrt(-m): 0 on a blank frame, NaN on a real one;
    - inf_boxes: score 0.9 sign(m) and boxes at infinity: a blank frame finds nothing;
    - nan_always: score sqrt(m - 1): NaN even on a blank frame;
    - healthy: score 0 on every frame."""
    boxes = np.tile(np.array([16, 16, 8, 8], np.float32)[:, None], (1, ANCHORS))[None]
    if kind == "inf_boxes":
        boxes[0, 0, :] = np.inf
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m4"], keepdims=1),
        helper.make_node("Reshape", ["m4", "shape3"], ["m"]),
    ]
    if kind == "nan_on_real":
        nodes += [helper.make_node("Neg", ["m"], ["neg"]), helper.make_node("Sqrt", ["neg"], ["s"])]
    elif kind == "nan_always":
        nodes += [
            helper.make_node("Sub", ["m", "one"], ["sub"]),
            helper.make_node("Sqrt", ["sub"], ["s"]),
        ]
    elif kind == "inf_boxes":
        nodes += [
            helper.make_node("Sign", ["m"], ["sign"]),
            helper.make_node("Mul", ["sign", "point9"], ["s"]),
        ]
    else:
        nodes += [helper.make_node("Mul", ["m", "zero"], ["s"])]
    nodes += [
        helper.make_node("Add", ["s", "zeros"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]

    def const(name: str, value: np.ndarray) -> onnx.TensorProto:
        return helper.make_tensor(name, TensorProto.FLOAT, value.shape, value.flatten())

    initializer = [
        helper.make_tensor("shape3", TensorProto.INT64, [3], [1, 1, 1]),
        const("one", np.ones((1, 1, 1), np.float32)),
        const("zero", np.zeros((1, 1, 1), np.float32)),
        const("point9", np.full((1, 1, 1), 0.9, np.float32)),
        const("zeros", np.zeros((1, 1, ANCHORS), np.float32)),
        const("boxes", boxes),
    ]
    graph = helper.make_graph(
        nodes,
        "fault",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 5, ANCHORS])],
        initializer=initializer,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, META)
    onnx.save(model, str(path))
    return path


class Collect(Sink):
    """Records and station events, as an event-taking sink sees them."""

    name = "collect"
    wants_events = True

    def __init__(self) -> None:
        self.records: list[Inspection] = []
        self.events: list[StationEvent] = []

    def handle(self, record: Inspection) -> None:
        self.records.append(record)

    def handle_event(self, event: StationEvent) -> None:
        self.events.append(event)

    def kinds(self, kind: EventKind) -> list[StationEvent]:
        return [event for event in self.events if event.kind is kind]


def station_config(tmp_path: Path, path: Path | str, trigger: dict, camera: dict, **extra):
    return parse_config(
        {
            "camera": camera,
            "trigger": trigger,
            "model": {"path": str(path), **extra.pop("model_options", {})},
            "judge": {"min_confidence": 0.5},
            "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "i")},
            **extra,
        },
        "test",
    )


def line_config(tmp_path: Path, path: Path | str, frames: int = 6, **extra):
    camera = {"kind": "folder", "path": str(write_folder(tmp_path / "f", frames)), "pace": "fast"}
    return station_config(tmp_path, path, {"kind": "line"}, camera, **extra)


def run_to_end(cfg, collect: Collect):
    station = build_station(cfg, extra_sinks=[collect]).station
    station.start()
    try:
        assert station.wait(60), "station did not finish"
    finally:
        station.stop()
    return station


def fault_log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "model fault:" in r.getMessage()]


def plc_part(plc: PlcProgram, trigger_id: int):
    plc.wait_status(Status.READY, Status.BUSY, timeout=10)
    plc.trigger(trigger_id)
    plc.wait_status(Status.TRIGGER_ACK)
    plc.drop_bits(Control.TRIGGER)
    block = plc.wait_status(Status.RESULT_VALID, timeout=10)
    plc.acknowledge()
    return block


def test_nan_on_real_frames_rejects_faults_once_and_resets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    model = fault_model(tmp_path / "nan.onnx", "nan_on_real")
    camera = {"kind": "folder", "path": str(write_folder(tmp_path / "f", 10)), "loop": True}
    cfg = station_config(tmp_path, model, {"kind": "plc"}, camera, plc={"enabled": True, "port": 0})
    collect = Collect()
    parts = build_station(cfg, extra_sinks=[collect])
    station = parts.station
    station.start()
    plc = PlcProgram(parts.plc.transport.endpoint.port)
    try:
        block = plc_part(plc, 7)
        assert (block.trigger_id_echo, block.result_code) == (7, RESULT_NO_DECISION)
        assert Status.FAIL in block.status and Status.PASS not in block.status
        faulted = plc.wait_status(Status.ERROR, Status.READY)
        assert faulted.error_code == ErrorCode.MODEL
        assert wait_until(lambda: station.state is StationState.FAULT)
        assert wait_until(lambda: collect.records and collect.kinds(EventKind.MODEL_FAULT))
        time_enough = plc.status().heartbeat
        assert wait_until(lambda: plc.status().heartbeat != time_enough)  # still beating
        assert len(collect.kinds(EventKind.MODEL_FAULT)) == 1
        assert len(fault_log_lines(caplog)) == 1
        assert "NaN" in collect.kinds(EventKind.MODEL_FAULT)[0].message

        plc.reset_errors()
        back = plc.wait_status(Status.READY, Status.ERROR)
        assert back.error_code == ErrorCode.NONE
        assert wait_until(lambda: station.state is StationState.READY)
        assert wait_until(lambda: collect.kinds(EventKind.MODEL_BACK))

        block = plc_part(plc, 8)  # still broken: rejected, and the fault is back
        assert (block.trigger_id_echo, block.result_code) == (8, RESULT_NO_DECISION)
        assert plc.wait_status(Status.ERROR, Status.READY).error_code == ErrorCode.MODEL
    finally:
        plc.close()
        station.stop()
    records = collect.records
    assert [r.trigger_id for r in records] == [7, 8]
    assert {r.verdict for r in records} == {Verdict.NO_DECISION}
    assert [r.judgement.reason for r in records] == ["model output invalid"] * 2
    assert len(collect.kinds(EventKind.MODEL_FAULT)) == 2  # one per fault, none per part
    assert len(fault_log_lines(caplog)) == 2


def test_infinite_boxes_reject_every_part(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    collect = Collect()
    cfg = line_config(tmp_path, fault_model(tmp_path / "inf.onnx", "inf_boxes"))
    station = run_to_end(cfg, collect)
    assert len(collect.records) == 6
    assert {r.verdict for r in collect.records} == {Verdict.NO_DECISION}
    reasons = [r.judgement.reason for r in collect.records]
    assert reasons == ["model output invalid"] + ["model fault"] * 5  # latched after one
    faults = collect.kinds(EventKind.MODEL_FAULT)
    assert len(faults) == 1 and "infinite boxes" in faults[0].message
    assert len(fault_log_lines(caplog)) == 1
    assert station.stats.no_decision == 6


def test_a_healthy_hand_made_model_decides(tmp_path: Path):
    """The control: the same graph with finite output passes every part."""
    collect = Collect()
    run_to_end(line_config(tmp_path, fault_model(tmp_path / "ok.onnx", "healthy")), collect)
    assert {r.verdict for r in collect.records} == {Verdict.PASS}
    assert collect.kinds(EventKind.MODEL_FAULT) == []


class ExplodingConfig(OnnxRuntimeConfig):
    kind: Literal["exploding"] = Field(description="Raises on every inference after warm-up.")


class ExplodingDetector(OnnxRuntimeDetector):
    backend = "exploding"

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls > 1:  # the factory's warm-up passes
            raise RuntimeError("accelerator fell off the bus")
        return super().infer(tensor)


@pytest.fixture
def exploding_backend():
    BACKENDS.register("exploding", ExplodingConfig, ExplodingDetector)
    yield "exploding"
    BACKENDS.unregister("exploding")


def test_failing_inference_faults_after_max_failures(
    tmp_path: Path, exploding_backend: str, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    model = fault_model(tmp_path / "ok.onnx", "healthy")
    cfg = line_config(
        tmp_path, model, model_options={"backend": {"kind": exploding_backend}, "max_failures": 3}
    )
    collect = Collect()
    run_to_end(cfg, collect)
    reasons = [r.judgement.reason for r in collect.records]
    assert reasons == ["inference failed"] * 3 + ["model fault"] * 3
    assert {r.verdict for r in collect.records} == {Verdict.NO_DECISION}
    faults = collect.kinds(EventKind.MODEL_FAULT)
    assert len(faults) == 1 and "3 inferences in a row failed" in faults[0].message
    assert len(fault_log_lines(caplog)) == 1
    warned = [r for r in caplog.records if r.getMessage().startswith("inference failed")]
    assert len(warned) == 1  # the first failure, not every one


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_eval_of_a_nan_model_fails_with_one_line(tmp_path: Path):
    model = fault_model(tmp_path / "nan.onnx", "nan_on_real")
    images, labels = tmp_path / "ds/images/val", tmp_path / "ds/labels/val"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i in range(3):
        image = np.full((64, 64, 3), 40 + 50 * i, np.uint8)
        cv2.imwrite(str(images / f"{i}.png"), image)
        (labels / f"{i}.txt").write_text("0 0.5 0.5 0.2 0.2\n" if i else "")
    data = tmp_path / "ds/data.yaml"
    data.write_text("path: .\ntrain: images/val\nval: images/val\nnames: {0: defect}\n")
    result = run_cli("eval", "--model", str(model), "--data", str(data), "--json")
    assert result.returncode != 0
    assert "NaN" in one_line_error(result)


def test_a_model_broken_on_a_blank_frame_fails_at_start(tmp_path: Path):
    model = fault_model(tmp_path / "nan.onnx", "nan_always")
    folder = write_folder(tmp_path / "f", 2)
    config = tmp_path / "station.yaml"
    config.write_text(
        f"camera: {{kind: folder, path: {folder}}}\n"
        "trigger: {kind: line}\n"
        f"model: {{path: {model}}}\n"
        "judge: {min_confidence: 0.5}\n"
        f"storage: {{database: {tmp_path / 'log.db'}, images_dir: {tmp_path / 'i'}}}\n"
    )
    result = run_cli("run", "--config", str(config), "--quiet")
    assert result.returncode == 1
    line = one_line_error(result)
    assert "nan.onnx" in line and "blank frame" in line
    assert not (tmp_path / "log.db").exists()  # nothing opened before the model failed
