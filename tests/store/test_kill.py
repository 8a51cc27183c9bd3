"""kill -9 of a station mid-write leaves a consistent store: whole rows, no gaps, no
damage, and after the restart every archived file tracked and every tracked file there."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inspector.errors import DataError
from inspector.store.archive import ImageArchive
from inspector.store.db import open_readonly, open_store
from inspector.store.read import tail
from tests.store.helpers import count_rows, read_table

ROOT = Path(__file__).resolve().parents[2]

# Commits each part's row as the inspection worker does, then archives its image as the
# store sink does, as fast as it can until it is killed; every other part is rejected and
# archived, so image writes are interrupted too. (One thread here; in the station the
# sink runs on the log thread, after the worker's commit, which is the same order.)
WRITER = """
import sys
from pathlib import Path

from inspector.store.archive import ImageArchive
from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.sink import StoreSink
from inspector.types import Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection, part_image

db, images, first_seq = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
store = open_store(db, images_dir=images)
writer = InspectionWriter(store.connect(), CLASS_NAMES)
conn = store.connect()
sink = StoreSink(conn, ImageArchive.open(conn, images, 10**9), 0.1)
verdicts = [Verdict.PASS, Verdict.FAIL, Verdict.PASS, Verdict.NO_DECISION]
seq = first_seq
while True:
    record = make_inspection(seq, verdicts[seq % 4], image=part_image(seq))
    writer.commit(record)
    sink.handle(record)
    seq += 1
"""

REQUIRED = (
    "seq",
    "trigger_id",
    "origin",
    "wall_time",
    "iso_time",
    "verdict",
    "result_code",
    "reason",
    "defect_count",
    "max_score",
    "classes",
    "detections",
    "latency_ms",
    "capture_ms",
    "detect_ms",
    "judge_ms",
    "model_id",
    "model_sha256",
    "config_hash",
    "part_serial",
    "frame_seq",
)


def rows_so_far(db: Path) -> int:
    try:
        return count_rows(db)
    except (sqlite3.Error, DataError):
        return 0  # not created yet


def kill_after(db: Path, images: Path, more_than: int, first_seq: int) -> int:
    """Run the writer until the log holds > `more_than` rows, SIGKILL it; its exit status."""
    script = db.parent / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(script), str(db), str(images), str(first_seq)]
    writer = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while rows_so_far(db) <= more_than:
            if writer.poll() is not None:
                pytest.fail(f"writer exited early: {writer.stderr.read()}")
            if time.monotonic() > deadline:
                pytest.fail("writer wrote too slowly")
            time.sleep(0.02)
        os.kill(writer.pid, signal.SIGKILL)
        return writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=30)
        writer.stderr.close()


def check_consistent(db: Path, images: Path) -> int:
    store = open_store(db, images_dir=images)  # as the restarted station would
    conn = store.connect()
    ImageArchive.open(conn, images, 10**9)  # finishes or clears interrupted image writes
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        incomplete = " OR ".join(f"{column} IS NULL" for column in REQUIRED)
        assert conn.execute(f"SELECT count(*) FROM inspections WHERE {incomplete}").fetchone() == (
            0,
        )
        ids = [row[0] for row in conn.execute("SELECT id FROM inspections ORDER BY id")]
        assert ids == list(range(1, len(ids) + 1))
    finally:
        store.close()
    reader = open_readonly(db)
    try:
        rows = tail(reader, len(ids))
    finally:
        reader.close()
    assert [row["seq"] for row in rows] == ids  # seq k went into row k, none skipped
    for row in rows:
        assert len(row["classes"]) == (2 if row["verdict"] == "FAIL" else 0)
        json.dumps(row["detections"])
        if row["image_path"] is not None:  # a linked image is there once restarted
            assert (images / row["image_path"]).is_file()
    files = sorted(p.relative_to(images).as_posix() for p in images.rglob("*") if p.is_file())
    assert files == sorted(row["path"] for row in read_table(db, "images"))  # all ours, tracked
    return len(ids)


def test_kill_9_mid_write_leaves_a_consistent_log(tmp_path: Path):
    db, images = tmp_path / "inspections.db", tmp_path / "images"
    written = 0
    for target in (50, 150, 250):  # kill, restart on the same log, kill again
        status = kill_after(db, images, more_than=target, first_seq=written + 1)
        assert status == -signal.SIGKILL
        written = check_consistent(db, images)
        assert written > target

    leftovers = [p for p in images.rglob("*") if p.is_file() and p.suffix != ".png"]
    assert leftovers == []  # the restart cleared the temp file of an interrupted write
