"""`inspector demo` end to end on the committed recording, the shipped model, real threads."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import pytest

from inspector.demo import DEMO_VIDEO, MIXED_VIDEO, per_product, truth_path
from inspector.types import Verdict

# Measured with the shipped model on the committed recording (models/README.md):
# the verdicts of MEASURED_AGREEMENT of the parts agree with the ground truth.
MEASURED_AGREEMENT = 0.9667
MARGIN = 0.05


def demo(*args: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "inspector", "demo", "--json", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def fast_run() -> list[dict]:
    return demo("--fast")


def ground_truth() -> list[dict]:
    with truth_path(DEMO_VIDEO).open() as handle:
        return list(csv.DictReader(handle))


def test_every_part_is_found_exactly_once(fast_run: list[dict]):
    parts, summary = fast_run[:-1], fast_run[-1]
    truth = ground_truth()
    assert summary["summary"] is True
    assert len(parts) == len(truth) == summary["parts"] == 60
    assert [p["seq"] for p in parts] == list(range(1, 61))
    # each part fired on the frame where its centre crossed the middle, give or take one
    crossings = [int(row["crossing_frame"]) for row in truth]
    assert all(abs(p["frame_seq"] - c) <= 1 for p, c in zip(parts, crossings, strict=True))


def test_verdicts_agree_with_the_ground_truth(fast_run: list[dict]):
    summary = fast_run[-1]
    assert summary["agreement"] >= MEASURED_AGREEMENT - MARGIN
    assert summary["escapes"] + summary["false_rejects"] == round((1 - summary["agreement"]) * 60)
    assert summary["no_decision"] == 0


def test_parts_limit(tmp_path):
    lines = demo("--fast", "--parts", "5", "--log-dir", str(tmp_path))
    assert [doc.get("seq") for doc in lines[:-1]] == [1, 2, 3, 4, 5]
    assert lines[-1]["parts"] == 5
    assert (tmp_path / "inspections.db").is_file()


def test_missing_recording_is_one_clear_line(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "inspector", "demo", "--video", str(tmp_path / "none.mp4")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "none.mp4: demo recording not found" in result.stderr
    assert "Traceback" not in result.stderr


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_with_a_simulated_plc_closes_the_loop():
    lines = demo("--plc", "--plc-port", str(free_port()), "--parts", "4")
    parts, summary = lines[:-1], lines[-1]
    assert [p["origin"] for p in parts] == ["plc"] * 4
    plc = summary["plc"]
    assert plc["cycles"] == 4
    assert plc["pass"] + plc["fail"] + plc["no_decision"] == 4
    assert (plc["missed_triggers"], plc["id_mismatches"], plc["unearned_pass"]) == (0, 0, 0)
    # the PLC's verdicts are the station's
    assert plc["pass"] == sum(p["verdict"] == "PASS" for p in parts)


def test_demo_of_a_mixed_line_switches_recipes_at_each_product_change(tmp_path):
    """The first 10 parts of the mixed recording: 8 tiles, then 2 steel patches."""
    lines = demo(
        "--recipes", "--no-web", "--plc-port", str(free_port()), "--parts", "10",
        "--log-dir", str(tmp_path),
    )  # fmt: skip
    parts, summary = lines[:-1], lines[-1]
    with truth_path(MIXED_VIDEO).open() as handle:
        truth = list(csv.DictReader(handle))[:10]
    assert [(p["recipe"], p["product"]) for p in parts] == [
        (int(t["recipe"]), t["product"]) for t in truth
    ]
    assert len({p["model_sha256"] for p in parts if p["recipe"] == 2}) == 1
    assert {p["model_sha256"] for p in parts if p["recipe"] == 1}.isdisjoint(
        p["model_sha256"] for p in parts if p["recipe"] == 2
    )
    products = summary["products"]
    assert {name: row["parts"] for name, row in products.items()} == {"tile": 8, "steel": 2}
    assert sum(row["escapes"] for row in products.values()) == summary["escapes"]
    assert sum(row["false_rejects"] for row in products.values()) == summary["false_rejects"]
    plc = summary["plc"]
    assert plc["recipe_switches"]["count"] == 1
    assert (plc["missed_triggers"], plc["unearned_pass"]) == (0, 0)


# verdicts, ground truth (defective) and product of each part; each product's counts
@pytest.mark.parametrize(
    ("verdicts", "truth", "products", "expected"),
    [
        ("FP", [True, True], ["tile", "tile"], {"tile": (2, 2, 0, 1, 0)}),
        (
            "FFP",
            [False, True, True],
            ["tile", "steel", "steel"],
            {"tile": (1, 0, 1, 0, 1), "steel": (2, 2, 0, 1, 0)},
        ),
        ("", [True], ["tile"], {}),  # a part never judged counts nowhere
    ],
)
def test_escapes_and_false_rejects_per_product(verdicts, truth, products, expected):
    judged = [Verdict.FAIL if v == "F" else Verdict.PASS for v in verdicts]
    recipes = [(1 if p == "tile" else 2, p) for p in products]
    counts = {
        name: (r["parts"], r["defective"], r["good"], r["escapes"], r["false_rejects"])
        for name, r in per_product(judged, truth, recipes).items()
    }
    assert counts == expected
