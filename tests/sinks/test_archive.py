"""The image archive: which parts are kept, the quota, atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.errors import ConfigError, DataError
from inspector.sinks.base import SinkRunner
from inspector.sinks.logread import open_log_readonly, tail
from inspector.sinks.store import ImageArchive, InspectionLog, open_log
from inspector.types import Verdict
from tests.sinks.records import CLASS_NAMES, make_inspection, part_image

PASS, FAIL, NO_DECISION = Verdict.PASS, Verdict.FAIL, Verdict.NO_DECISION


def log_with_archive(tmp_path: Path, fraction: float, save_failed: bool) -> InspectionLog:
    archive = ImageArchive(tmp_path / "images", quota_bytes=10**9)
    return InspectionLog(
        open_log(tmp_path / "inspections.db"), archive, CLASS_NAMES, fraction, save_failed
    )


def read_rows(tmp_path: Path) -> list[dict]:
    conn = open_log_readonly(tmp_path / "inspections.db")
    try:
        return tail(conn, 10_000)
    finally:
        conn.close()


def png_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))


def every_file(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("verdict", "save_failed", "fraction", "seqs", "kept"),
    [
        (FAIL, True, 0.0, range(1, 6), [1, 2, 3, 4, 5]),
        (NO_DECISION, True, 0.0, range(1, 4), [1, 2, 3]),
        (FAIL, False, 1.0, range(1, 4), []),
        (NO_DECISION, False, 0.5, range(1, 4), []),
        (PASS, True, 0.01, range(1, 301), [100, 200, 300]),
        (PASS, True, 0.25, range(1, 13), [4, 8, 12]),
        (PASS, True, 0.3, range(1, 11), [4, 7, 10]),  # 3 of 10, evenly spread
        (PASS, True, 0.0, range(1, 50), []),
        (PASS, False, 1.0, range(1, 4), [1, 2, 3]),
    ],
)
def test_which_images_are_archived(tmp_path: Path, verdict, save_failed, fraction, seqs, kept):
    sink = log_with_archive(tmp_path, fraction, save_failed)
    for seq in seqs:
        sink.handle(make_inspection(seq, verdict, image=part_image(seq)))
    sink.close()

    rows = read_rows(tmp_path)
    assert len(rows) == len(seqs)
    with_image = [row for row in rows if row["image_path"] is not None]
    assert [row["seq"] for row in with_image] == kept
    assert png_files(tmp_path / "images") == sorted(row["image_path"] for row in with_image)
    for row in with_image:
        assert row["image_path"].endswith(f"-{row['seq']:09d}-{verdict.value.lower()}.png")


@pytest.mark.parametrize(
    ("verdict", "seq", "archive", "save_failed", "expected"),
    [
        (FAIL, 1, True, True, True),
        (FAIL, 1, True, False, False),
        (FAIL, 1, False, True, False),  # no archive: the station need not copy the image
        (NO_DECISION, 3, True, True, True),
        (PASS, 10, True, True, True),
        (PASS, 11, True, True, False),
        (PASS, 10, False, True, False),
    ],
)
def test_wants_image(tmp_path: Path, verdict, seq: int, archive: bool, save_failed, expected):
    store = ImageArchive(tmp_path / "images", 10**6) if archive else None
    conn = open_log(tmp_path / "inspections.db")
    try:
        sink = InspectionLog(conn, store, CLASS_NAMES, 0.1, save_failed)
        assert sink.wants_image(make_inspection(seq, verdict)) is expected
    finally:
        conn.close()


def test_no_image_on_the_record_means_none_archived(tmp_path: Path):
    sink = log_with_archive(tmp_path, 1.0, True)
    sink.handle(make_inspection(1, FAIL, image=None))
    sink.close()
    assert read_rows(tmp_path)[0]["image_path"] is None
    assert png_files(tmp_path / "images") == []


def test_archived_image_reads_back_through_a_runner(tmp_path: Path):
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    runner = SinkRunner(log_with_archive(tmp_path, 0.0, True)).start()
    try:
        runner.submit(make_inspection(1, FAIL, image=image))
    finally:
        runner.stop()
    [row] = read_rows(tmp_path)
    stored = cv2.imread(str(tmp_path / "images" / row["image_path"]), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(stored, image)
    day, name = row["image_path"].split("/")
    assert len(day) == 10 and day[4] == day[7] == "-"  # YYYY-MM-DD
    assert name[:6].isdigit()  # starts with the time of day: sorts oldest first


def _png_size(tmp_path: Path) -> int:
    probe = ImageArchive(tmp_path / "probe", 10**9)
    return (probe.folder / probe.save(part_image(), "probe")).stat().st_size


def test_quota_deletes_the_oldest_first(tmp_path: Path):
    size = _png_size(tmp_path)
    folder = tmp_path / "images"
    old_day = folder / "2001-02-03"
    old_day.mkdir(parents=True)
    cv2.imwrite(str(old_day / "235959-000000-000000000-fail.png"), part_image())
    (folder / "keep-me").mkdir()  # not a dated folder: not the archive's to evict
    cv2.imwrite(str(folder / "keep-me" / "reference.png"), part_image())

    archive = ImageArchive(folder, quota_bytes=3 * size + size // 2)
    assert archive.used_bytes == size
    saved = [archive.save(part_image(), f"{seq:09d}-fail") for seq in range(1, 6)]

    assert not old_day.exists()  # its last image went first, then the emptied folder
    assert png_files(folder) == sorted([*saved[-3:], "keep-me/reference.png"])
    assert archive.used_bytes == 3 * size <= archive.quota_bytes


@pytest.mark.parametrize(
    ("quota_images", "saves", "left"),
    [
        (10, 4, 4),
        (2, 4, 2),
        (1, 3, 1),
        (0.5, 2, 1),  # one image over the quota: the newest stays, so its path is valid
    ],
)
def test_quota_table(tmp_path: Path, quota_images: float, saves: int, left: int):
    size = _png_size(tmp_path)
    archive = ImageArchive(tmp_path / "images", quota_bytes=int(quota_images * size))
    saved = [archive.save(part_image(), f"{seq:09d}-fail") for seq in range(saves)]
    assert png_files(archive.folder) == saved[-left:]
    assert archive.used_bytes == left * size


def test_a_new_archive_counts_what_is_there_and_clears_crashed_writes(tmp_path: Path):
    size = _png_size(tmp_path)
    first = ImageArchive(tmp_path / "images", quota_bytes=10**9)
    kept = [first.save(part_image(), f"{seq:09d}-fail") for seq in range(3)]
    day = tmp_path / "images" / kept[0].split("/")[0]
    (day / ".000000-000000-000000009-fail.abc.tmp").write_bytes(b"half a png")

    again = ImageArchive(tmp_path / "images", quota_bytes=10**9)
    assert again.used_bytes == 3 * size
    assert every_file(tmp_path / "images") == kept


def test_writes_leave_no_temp_files(tmp_path: Path):
    archive = ImageArchive(tmp_path / "images", quota_bytes=10**9)
    saved = [archive.save(part_image(seq), f"{seq:09d}-pass") for seq in range(20)]
    assert every_file(tmp_path / "images") == sorted(saved)


def test_a_failed_write_leaves_no_temp_file_and_the_row_is_kept(tmp_path: Path, monkeypatch):
    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    sink = log_with_archive(tmp_path, 0.0, True)
    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(DataError, match="No space left on device"):
        sink.handle(make_inspection(1, FAIL, image=part_image()))
    monkeypatch.undo()
    sink.close()

    [row] = read_rows(tmp_path)
    assert (row["seq"], row["verdict"], row["image_path"]) == (1, "FAIL", None)
    assert every_file(tmp_path / "images") == []


@pytest.mark.parametrize(
    ("make_folder", "error", "message"),
    [
        (lambda tmp: tmp / "a-file" / "images", DataError, "cannot create image folder"),
        (lambda tmp: tmp / "images", ConfigError, "quota must be > 0"),
    ],
)
def test_archive_construction_errors(tmp_path: Path, make_folder, error, message):
    (tmp_path / "a-file").write_text("")
    quota = 0 if error is ConfigError else 10**6
    with pytest.raises(error, match=message):
        ImageArchive(make_folder(tmp_path), quota)


@pytest.mark.parametrize(
    ("image", "name", "message"),
    [
        (part_image(), "../escape", "only letters, digits"),
        (part_image(), "", "only letters, digits"),
        (np.zeros((4, 4, 2), np.uint8), "two-channel", "cannot be PNG-encoded"),
        (np.zeros((0, 4), np.uint8), "empty", "cannot be PNG-encoded"),
    ],
)
def test_save_rejects_bad_input(tmp_path: Path, image: np.ndarray, name: str, message: str):
    archive = ImageArchive(tmp_path / "images", quota_bytes=10**6)
    with pytest.raises(DataError, match=message):
        archive.save(image, name)
    assert every_file(tmp_path / "images") == []
