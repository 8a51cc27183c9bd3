"""The station wired for real: files as cameras, the shipped model, the SQLite log."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.config import parse_config
from inspector.factory import build_station
from inspector.sinks.base import Sink
from inspector.station import StationState
from inspector.types import RESULT_NO_DECISION, Inspection, Verdict
from tests.camera.media import wait_until, write_folder, write_video
from tests.conftest import shipped_model


class Collect(Sink):
    name = "collect"

    def __init__(self) -> None:
        self.records: list[Inspection] = []

    def handle(self, record: Inspection) -> None:
        self.records.append(record)


class Broken(Sink):
    """A sink that fails on every record: inspection must not notice."""

    name = "broken"

    def handle(self, record: Inspection) -> None:
        raise OSError("disk on fire")


OVERLAP = pytest.mark.parametrize("overlap", ["off", "on"])


def config(tmp_path: Path, camera: dict, trigger: dict, overlap: str = "off", **extra):
    tmp_path.mkdir(exist_ok=True)
    return parse_config(
        {
            "camera": camera,
            "trigger": trigger,
            "model": {"path": str(shipped_model("magnetic-tile")), "overlap": overlap},
            "judge": {"min_confidence": 0.5},
            "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "img")},
            **extra,
        },
        "test",
    )


def with_deadline(cfg, deadline_ms: float, overlap: str):
    """A deadline no config may set (station.yaml needs 10 ms or more), past validation:
    the station must reject late parts whatever it is given."""
    trigger = cfg.trigger.model_copy(update={"deadline_ms": deadline_ms})
    model = cfg.model.model_copy(update={"overlap": overlap})
    return cfg.model_copy(update={"trigger": trigger, "model": model})


def line_config(tmp_path: Path, folder: Path, overlap: str):
    """Every image of `folder` a part, as fast as the station takes them."""
    return config(
        tmp_path, {"kind": "folder", "path": str(folder), "pace": "fast"}, {"kind": "line"}, overlap
    )


def run_to_end(cfg, sinks, timeout=60.0):
    station = build_station(cfg, extra_sinks=sinks).station
    station.start()
    try:
        assert station.wait(timeout), "station did not finish"
    finally:
        station.stop()
    assert station.state is StationState.STOPPED
    return station


def db_rows(tmp_path: Path) -> list[tuple]:
    with sqlite3.connect(tmp_path / "log.db") as conn:
        return conn.execute(
            "SELECT seq, verdict, result_code FROM inspections ORDER BY seq"
        ).fetchall()


@OVERLAP
def test_every_frame_of_a_triggered_file_is_one_record(tmp_path: Path, overlap: str):
    folder = write_folder(tmp_path / "frames", 24)
    collect = Collect()
    cfg = line_config(tmp_path, folder, overlap)
    station = run_to_end(cfg, [collect])
    assert [r.frame_seq for r in collect.records] == list(range(24))
    assert [r.seq for r in collect.records] == list(range(1, 25))
    assert len(db_rows(tmp_path)) == 24
    assert station.stats.parts == 24
    record = collect.records[0]
    assert record.model_sha256 == station.pipeline.detector.info.sha256
    assert record.times.trigger <= record.times.detect_start <= record.times.detect_end
    assert record.times.detect_end <= record.times.judged


@OVERLAP
def test_missed_deadline_is_no_decision_and_rejects(tmp_path: Path, overlap: str):
    video = write_video(tmp_path / "v.avi", "MJPG", count=10)
    collect = Collect()
    cfg = config(tmp_path, {"kind": "video", "path": str(video), "pace": "fast"}, {"kind": "line"})
    cfg = with_deadline(cfg, 0.001, overlap)
    run_to_end(cfg, [collect])
    assert len(collect.records) == 10
    assert {r.verdict for r in collect.records} == {Verdict.NO_DECISION}
    assert {r.result_code for r in collect.records} == {RESULT_NO_DECISION}
    assert all(r.judgement.reason.startswith("late") for r in collect.records)
    assert all(r.verdict.rejects for r in collect.records)


@OVERLAP
def test_a_failing_sink_never_stalls_inspection(tmp_path: Path, overlap: str):
    folder = write_folder(tmp_path / "frames", 15)
    broken = Broken()
    cfg = line_config(tmp_path, folder, overlap)
    station = run_to_end(cfg, [broken])
    runner = next(r for r in station.sinks if r.sink is broken)
    assert runner.failures == 15
    assert len(db_rows(tmp_path)) == 15


@OVERLAP
def test_interval_trigger_takes_a_frame_captured_after_it(tmp_path: Path, overlap: str):
    folder = write_folder(tmp_path / "frames", 60)
    collect = Collect()
    cfg = config(
        tmp_path,
        {"kind": "folder", "path": str(folder), "fps": 30},
        {"kind": "interval", "period_s": 0.25},
        overlap,
    )
    run_to_end(cfg, [collect])
    assert 5 <= len(collect.records) <= 9  # 2 s of frames, a trigger every 0.25 s
    decided = [r for r in collect.records if r.verdict is not Verdict.NO_DECISION]
    assert decided, "no trigger found a frame"
    assert all(r.times.capture >= r.times.trigger for r in decided)


@OVERLAP
def test_manual_trigger_and_stop_finish_every_part(tmp_path: Path, overlap: str):
    folder = write_folder(tmp_path / "frames", 40)
    collect = Collect()
    cfg = config(
        tmp_path,
        {"kind": "folder", "path": str(folder), "fps": 20, "loop": True},
        {"kind": "manual"},
        overlap,
    )
    station = build_station(cfg, extra_sinks=[collect]).station
    station.start()
    try:
        assert wait_until(lambda: station.capture.frames_read > 3)
        for _ in range(3):
            assert station.trigger.fire(part_serial="SN-1")
            time.sleep(0.1)
    finally:
        station.stop()
    assert len(collect.records) == 3
    assert {r.part_serial for r in collect.records} == {"SN-1"}
    assert len(db_rows(tmp_path)) == 3


@OVERLAP
def test_stopping_mid_run_finishes_every_part_in_flight(tmp_path: Path, overlap: str):
    folder = write_folder(tmp_path / "frames", 400)
    collect = Collect()
    cfg = line_config(tmp_path, folder, overlap)
    station = build_station(cfg, extra_sinks=[collect]).station
    station.start()
    try:
        assert wait_until(lambda: station.stats.parts >= 10, timeout=30)
    finally:
        station.stop()
    parts = station.capture.frames_read - station.capture.dropped_frames
    assert 10 <= parts < 400, "the station finished the file: the test proves nothing"
    assert [r.frame_seq for r in collect.records] == list(range(parts))
    assert len(db_rows(tmp_path)) == parts


@OVERLAP
def test_a_live_camera_that_outpaces_the_worker_overruns_but_loses_nothing(
    tmp_path: Path, overlap: str
):
    folder = write_folder(tmp_path / "frames", 40)
    collect = Collect()
    cfg = line_config(tmp_path, folder, overlap)
    parts = build_station(cfg, extra_sinks=[collect], max_pending_frames=1)
    station = parts.station
    # behave as a live camera would: never wait for the worker
    station.options = dataclasses.replace(station.options, wait_for_worker=False)
    station.start()
    try:
        assert station.wait(60)
    finally:
        station.stop()
    assert len(collect.records) == 40
    overruns = [r for r in collect.records if r.judgement.reason == "overrun"]
    assert overruns, "the worker kept up: the test proves nothing"
    assert all(r.verdict is Verdict.NO_DECISION for r in overruns)


def demo_frames(folder: Path, count: int, step: int) -> Path:
    """Every `step`-th frame of the demo recording: tiles, good and defective, at every
    position on the belt."""
    folder.mkdir()
    capture = cv2.VideoCapture(str(shipped_model("magnetic-tile").parent / "demo" / "conveyor.mp4"))
    index = 0
    while index < count * step:
        ok, image = capture.read()
        assert ok, "the demo recording is shorter than the test needs"
        if index % step == 0:
            cv2.imwrite(str(folder / f"f{index:05d}.png"), image)
        index += 1
    capture.release()
    return folder


def test_overlapped_inference_judges_every_part_as_the_worker_alone_does(tmp_path: Path):
    folder = demo_frames(tmp_path / "frames", count=40, step=7)
    results = {}
    for overlap in ("off", "on"):
        collect = Collect()
        cfg = config(
            tmp_path / overlap,
            {"kind": "folder", "path": str(folder), "pace": "fast"},
            # what is compared is the verdicts, not the time: no part may be late
            {"kind": "line", "deadline_ms": 60_000},
            overlap,
            judge={"min_confidence": 0.05},
        )
        run_to_end(cfg, [collect])
        results[overlap] = collect.records
    off, on = results["off"], results["on"]
    assert [r.frame_seq for r in on] == [r.frame_seq for r in off] == list(range(40))
    assert sum(len(r.detections) for r in off) > 0, "no detections: the test proves nothing"
    for a, b in zip(off, on, strict=True):
        assert (b.verdict, b.result_code) == (a.verdict, a.result_code)
        np.testing.assert_allclose(b.detections.xyxy, a.detections.xyxy, atol=1e-3)
        np.testing.assert_array_equal(b.detections.class_id, a.detections.class_id)


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"model": {"path": "/nowhere/m.onnx"}}, "m.onnx: model file not found"),
        ({"camera": {"kind": "video", "path": "/nowhere/v.mp4"}}, "v.mp4"),
        (
            {"judge": {"min_confidence": 0.5, "classes": {"scratch": {}}}},
            "judge.classes.scratch: not a class of the model",
        ),
        (
            {"model": {"path": str(shipped_model("magnetic-tile")), "conf": 0.9}},
            "model.conf: 0.9 drops detections the judge would count",
        ),
    ],
)
def test_start_up_errors_name_what_and_where(tmp_path: Path, change, error):
    folder = write_folder(tmp_path / "frames", 2)
    cfg = config(tmp_path, {"kind": "folder", "path": str(folder)}, {"kind": "line"})
    bad = parse_config(cfg.model_dump(mode="json") | change, "test")
    from inspector.errors import InspectorError

    with pytest.raises(InspectorError, match=error):
        build_station(bad)
