"""`inspector bench`: the figures it reports, on the shipped model and recording.

Only what the figures mean is asserted (keys, counts, consistency); how fast they are
is the benchmark's business, not a test's.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from inspector.bench import CpuTimes
from tests.conftest import shipped_model

SMALL = [
    "--rounds",
    "2",
    "--raw-iterations",
    "6",
    "--pipeline-parts",
    "20",
    "--latency-parts",
    "10",
    "--blocks",
    "2",
    "--block-parts",
    "5",
]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "bench", "--json", *SMALL, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def report() -> dict:
    result = bench("--plc-cycles", "30")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_reports_the_issue_keys(report: dict):
    for key in ("raw_fps", "pipeline_fps", "latency_ms", "stages_ms", "backend", "model"):
        assert key in report
    assert report["backend"] == "onnxruntime"
    for key in ("latency_ms", "raw_latency_ms", "raw_paced_latency_ms"):
        assert set(report[key]) == {"p50", "p99", "max"}
    assert set(report["stages_ms"]) == {"queue", "detect", "judge"}


def test_figures_are_consistent(report: dict):
    latency = report["latency_ms"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert report["raw_fps"] > 0 and report["pipeline_fps"] > 0
    for ratio, fps, raw in (
        ("pipeline_over_raw", "pipeline_fps", "raw_fps"),
        ("pipeline_from_memory_over_raw", "pipeline_from_memory_fps", "raw_interleaved_fps"),
        ("pipeline_over_raw_median", "pipeline_median_fps", "raw_median_fps"),
        (
            "pipeline_from_memory_over_raw_median",
            "pipeline_from_memory_median_fps",
            "raw_interleaved_median_fps",
        ),
    ):
        assert report[fps] > 0
        assert report[ratio] == pytest.approx(report[fps] / report[raw], abs=1e-3)
    assert report["parts"] == {"throughput": 20, "latency": 10}  # warm-up parts left out
    assert report["rounds"] == 2
    interleaved = report["interleaved"]
    assert (interleaved["blocks"], interleaved["block_parts"]) == (2, 5)
    for key in ("raw_ms", "pipeline_detect_ms"):
        assert 0 < interleaved[key]["p50"] <= interleaved[key]["p99"] <= interleaved[key]["max"]
    assert report["imgsz"] == [224, 224]


def test_reports_what_spc_costs_per_part(report: dict):
    spc = report["spc"]
    assert spc["image_health_us"] > 0 and spc["monitors_us_per_part"] > 0
    assert spc["monitors"] == 7 and spc["subgroup_size"] == 50 and spc["parts"] == 2000
    assert spc["image_health_frame"] == [320, 1024]


def test_auto_keeps_inference_in_line_where_it_uses_every_core(report: dict):
    assert report["overlap"] is False


def test_overlapped_inference_is_benched_as_asked():
    result = bench("--overlap", "on", "--threads", "1")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["overlap"] is True
    assert doc["parts"] == {"throughput": 20, "latency": 10}
    assert doc["pipeline_from_memory_fps"] > 0


def test_every_leg_says_how_much_cpu_the_host_stole(report: dict):
    steal = report["host_cpu_steal"]
    assert set(steal) == {"raw_and_pipeline", "plc", "spc"}
    assert all(v is None or 0.0 <= v <= 1.0 for v in steal.values())


@pytest.mark.parametrize(
    ("before", "after", "fraction"),
    [
        (CpuTimes(1000, 100), CpuTimes(1400, 140), 0.1),
        (CpuTimes(1000, 100), CpuTimes(1000, 100), None),  # no time passed
        (None, CpuTimes(1000, 100), None),  # no /proc/stat at the start
    ],
)
def test_steal_fraction(before, after, fraction):
    assert after.steal_fraction_since(before) == fraction


def test_plc_leg_matches_every_cycle_and_earns_every_pass(report: dict):
    plc = report["plc"]
    assert plc["cycles"] == 30
    assert plc["unearned_pass"] == 0
    assert plc["id_mismatches"] == 0
    assert plc["plc_poll_ms"] == 1.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--video", "missing.mp4"], "missing.mp4: video not found"),
        (["--model", "missing.onnx"], "missing.onnx: model file not found"),
        (["--imgsz", "256"], "input is (224, 224) but metadata says (256, 256)"),
        (["--rounds", "0"], "bench: rounds must be >= 1, got 0"),
        (["--block-parts", "1"], "bench: block_parts must be >= 2, got 1"),
        (["--rounds", "6"], "bench: raw_iterations must be at least 2 per round (12), got 6"),
        (["--overlap", "maybe"], "bench: overlap must be one of auto, on, off"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str):
    if "--model" not in args:
        args = [*args, "--model", str(shipped_model("magnetic-tile"))]
    result = bench(*args)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
