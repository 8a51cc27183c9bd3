"""`inspector spc analyze`: the JSON contract on published data, and bad CSVs, each
answered with one line naming the line and column."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.spc import published as pub


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "inspector", "spc", "analyze", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def csv_of(header: str, rows) -> str:
    return header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def analyze_json(*args: str) -> dict:
    result = run(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_p_chart_contract(tmp_path):
    data = write(tmp_path, csv_of("count,size", [(d, 50) for d in pub.ORANGEJUICE_D]))
    doc = analyze_json("--chart", "p", "--input", str(data), "--rules", "we1")
    assert doc["chart"] == "p" and doc["phase1"] == 30
    assert doc["center"] == pytest.approx(0.2313, abs=5e-5)
    assert (doc["lcl"], doc["ucl"]) == pytest.approx((0.0524, 0.4102), abs=5e-5)
    assert len(doc["statistic"]) == 30
    assert [(v["index"], v["rule"]) for v in doc["violations"]] == [(15, "we1"), (23, "we1")]


def test_variable_limits_are_lists(tmp_path):
    rows = zip(pub.PURCHASE_ORDERS_D, pub.PURCHASE_ORDERS_N, strict=True)
    doc = analyze_json("--chart", "np", "--input", str(write(tmp_path, csv_of("count,size", rows))))
    assert isinstance(doc["ucl"], list) and isinstance(doc["center"], list)
    assert len(doc["ucl"]) == 25


def test_pairs_are_keyed(tmp_path):
    header = ",".join(f"x{i}" for i in range(1, 6))
    data = write(tmp_path, csv_of(header, pub.PISTONRINGS))
    for chart, keys in (("xbar_r", ("xbar", "r")), ("xbar_s", ("xbar", "s"))):
        doc = analyze_json("--chart", chart, "--input", str(data))
        assert all(set(doc[k]) >= {"center", "ucl", "lcl", "statistic", "violations"} for k in keys)
    loans = write(tmp_path, csv_of("value", [(v,) for v in pub.LOAN_COSTS]), "loans.csv")
    doc = analyze_json("--chart", "imr", "--input", str(loans), "--rules", "nelson")
    assert doc["mr"]["statistic"][0] is None
    assert doc["i"]["ucl"] == pytest.approx(321.21, abs=1e-2)


def test_ewma_and_cusum_with_standards(tmp_path):
    nist = write(tmp_path, csv_of("value", [(v,) for v in pub.NIST_EWMA]))
    doc = analyze_json(
        "--chart", "ewma", "--input", str(nist), "--center", "50", "--sigma", "2.0539",
        "--lambda", "0.3", "--L", "3",
    )  # fmt: skip
    assert doc["statistic"] == pytest.approx(pub.NIST_EWMA_Z, abs=5e-3)
    assert doc["ucl"][-1] == pytest.approx(52.5884, abs=1e-4) and doc["phase1"] is None
    data = write(tmp_path, csv_of("value", [(v,) for v in pub.MONTGOMERY_9_1]), "m.csv")
    doc = analyze_json(
        "--chart", "cusum", "--input", str(data), "--center", "10", "--sigma", "1",
        "--k", "0.5", "--h", "5",
    )  # fmt: skip
    assert doc["violations"][0] == {"index": 29, "rule": "limit", "points": [29]}
    assert (doc["ucl"], doc["lcl"]) == (5.0, -5.0) and len(doc["lower_statistic"]) == 30


@pytest.mark.parametrize(
    ("chart", "text", "args", "message"),
    [
        ("p", "", (), "empty (expected a header line)"),
        ("p", "count,size\n", (), "no data rows"),
        ("p", "count,size\n3,10\n", (), "at least 2 points, got 1"),
        ("p", "defects,n\n3,10\n", (), "line 1: a p chart reads columns count,size, got defects,n"),
        ("imr", "count,size\n3,10\n", (), "reads columns value"),
        ("xbar_r", "x1,x2,y\n1,2,3\n", (), "reads columns x1,x2,x3"),
        ("p", "count,size\n3,10\n4,0\n", (), "line 3, column size: must be > 0, got 0"),
        ("u", "count,size\n3,10\n4,-2\n", (), "line 3, column size: must be > 0, got -2"),
        ("np", "count,size\n3,10\n12,10\n", (), "line 3, column count: 12 defective parts"),
        ("c", "count,size\n3,1\nnan,1\n", (), "line 3, column count: nan is not a finite"),
        ("imr", "value\n1\n\n2\nabc\n", (), "line 5, column value: 'abc' is not a number"),
        ("imr", "value\n1\n2\n", ("--phase1", "5"), "phase I of 5 points"),
        ("xbar_s", "x1,x2\n1,2\n3\n", (), "line 3: 1 cells, the header has 2"),
        ("xbar_s", "x1,x2\n1,2\n3,\n", (), "line 3, column x2: '(empty)' is not a number"),
        ("p", "count,size\n1,5\n2,5\n", ("--phase1", "2", "--center", "0.1"), "give one"),
        ("p", "count,size\n1,5\n2,5\n", ("--center", "0.1", "--sigma", "1"), "--sigma: a p"),
        ("imr", "value\n1\n2\n", ("--center", "0.1"), "--center needs --sigma"),
        ("ewma", "value\n1\n2\n", ("--rules", "we"), "only 'limit' applies"),
        ("imr", "value\n1\n2\n", ("--rules", "xyz"), "--rules: unknown rule 'xyz'"),
        ("ewma", "value\n1\n2\n", ("--lambda", "0"), "--lambda: must be in"),
        ("pp", "value\n1\n", (), "--chart: unknown 'pp'"),
    ],
)
def test_bad_input(tmp_path, chart, text, args, message):
    data = write(tmp_path, text)
    result = run("--chart", chart, "--input", str(data), *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_missing_file(tmp_path):
    result = run("--chart", "p", "--input", str(tmp_path / "nope.csv"))
    assert result.returncode == 1 and "nope.csv: not found" in result.stderr
