"""The image archive: the quota, only its own files deleted, restart, crash recovery."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from inspector.errors import ConfigError, DataError
from inspector.store.archive import ImageArchive
from inspector.store.db import open_store, transaction
from tests.sinks.records import part_image
from tests.store.helpers import read_table


@pytest.fixture
def store(tmp_path: Path):
    with open_store(tmp_path / "inspections.db") as opened:
        yield opened


def open_archive(store, quota_bytes: int = 10**9) -> ImageArchive:
    return ImageArchive.open(store.connect(), store.path.parent / "images", quota_bytes)


def every_file(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def tracked(store) -> list[str]:
    return [row["path"] for row in read_table(store.path, "images")]


@pytest.fixture
def png_size(tmp_path: Path) -> int:
    probe = tmp_path / "probe.png"
    cv2.imwrite(str(probe), part_image())
    return probe.stat().st_size


@pytest.mark.parametrize(
    ("quota_images", "saves", "left"),
    [
        (10, 4, 4),
        (2, 4, 2),
        (1, 3, 1),
        (0.5, 2, 1),  # one image over the quota: the newest stays, so its path is valid
    ],
)
def test_quota_table(store, png_size: int, quota_images: float, saves: int, left: int):
    archive = open_archive(store, int(quota_images * png_size))
    saved = [archive.save(part_image(), f"{seq:09d}-fail", "run-1", seq) for seq in range(saves)]
    assert every_file(archive.folder) == saved[-left:]
    assert tracked(store) == saved[-left:]
    assert archive.used_bytes == left * png_size
    assert [image.relative for image in archive.images] == saved[-left:]


def test_eviction_deletes_only_the_archives_own_files(store, png_size: int):
    folder = store.path.parent / "images"
    old_day = folder / "2001-02-03"
    old_day.mkdir(parents=True)
    foreign = [
        "2001-02-03/235959-000000-000000000-fail.png",  # looks like ours, is not tracked
        "2001-02-03/.notes.tmp",
        "2001-02-03/.235959-000000-x.png.tmp",  # the old release's temp pattern
        "keep-me/reference.png",
        "shared.png",
        ".notes.tmp",
    ]
    for relative in foreign:
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith(".png"):
            cv2.imwrite(str(folder / relative), part_image())
        else:
            (folder / relative).write_text("mine")

    archive = open_archive(store, quota_bytes=3 * png_size + png_size // 2)
    assert archive.used_bytes == 0  # what it did not write does not count
    saved = [archive.save(part_image(), f"{seq:09d}-fail") for seq in range(1, 6)]

    assert every_file(folder) == sorted([*saved[-3:], *foreign])
    assert tracked(store) == saved[-3:]
    assert archive.used_bytes == 3 * png_size <= archive.quota_bytes


def test_a_restart_reloads_what_the_archive_wrote(store, png_size: int):
    first = open_archive(store)
    saved = [first.save(part_image(), f"{seq:09d}-fail") for seq in range(4)]
    (first.folder / "theirs.png").write_bytes(b"not ours")

    again = open_archive(store, quota_bytes=2 * png_size)
    assert [image.relative for image in again.images] == saved
    assert again.used_bytes == 4 * png_size
    newest = again.save(part_image(), "000000009-fail")  # evicts the oldest three
    assert every_file(again.folder) == sorted([saved[3], newest, "theirs.png"])
    assert tracked(store) == [saved[3], newest]


def test_a_restart_finishes_or_clears_interrupted_writes(store, png_size: int):
    conn = store.connect()
    first = ImageArchive.open(conn, store.path.parent / "images", 10**9)
    kept = first.save(part_image(), "000000001-fail")
    day = first.folder / kept.split("/")[0]
    # Killed after its row committed, before the rename: finished on restart.
    committed = first.stage(part_image(), "000000002-fail", "run-1", 2)
    with transaction(conn):
        first.track(committed)
    # Killed before its row committed: cleared on restart.
    uncommitted = first.stage(part_image(), "000000003-fail", "run-1", 3)
    # Tracked, then deleted by hand: forgotten on restart.
    gone = first.save(part_image(), "000000004-fail")
    (first.folder / gone).unlink()
    (day / ".notes.tmp").write_text("someone's")
    (day / ".000000-000000-x.png.other-tmp").write_text("someone else's")

    again = open_archive(store)
    assert [image.relative for image in again.images] == [kept, committed.relative]
    assert again.used_bytes == 2 * png_size
    assert not uncommitted.temp.exists()
    assert every_file(again.folder) == sorted(
        [
            kept,
            committed.relative,
            f"{day.name}/.notes.tmp",
            f"{day.name}/.000000-000000-x.png.other-tmp",
        ]
    )
    assert tracked(store) == [kept, committed.relative]


def test_writes_leave_no_temp_files(store):
    archive = open_archive(store)
    saved = [archive.save(part_image(seq), f"{seq:09d}-pass") for seq in range(20)]
    assert every_file(archive.folder) == sorted(saved)


def test_a_saved_image_reads_back(store):
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    archive = open_archive(store)
    relative = archive.save(image, "000000001-fail", "run-1", 1)
    stored = cv2.imread(str(archive.folder / relative), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(stored, image)
    day, name = relative.split("/")
    assert len(day) == 10 and day[4] == day[7] == "-"  # YYYY-MM-DD
    assert name[:6].isdigit()  # starts with the time of day: sorts oldest first
    [row] = read_table(store.path, "images")
    assert (row["path"], row["run_id"], row["seq"]) == (relative, "run-1", 1)
    assert row["size"] == (archive.folder / relative).stat().st_size


@pytest.mark.parametrize(
    ("make_folder", "quota", "error", "message"),
    [
        (lambda tmp: tmp / "a-file" / "images", 10**6, DataError, "cannot create image folder"),
        (lambda tmp: tmp / "images", 0, ConfigError, "quota must be > 0"),
    ],
)
def test_archive_construction_errors(store, tmp_path: Path, make_folder, quota, error, message):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(error, match=message):
        ImageArchive.open(store.connect(), make_folder(tmp_path), quota)


@pytest.mark.parametrize(
    ("image", "name", "message"),
    [
        (part_image(), "../escape", "only letters, digits"),
        (part_image(), "", "only letters, digits"),
        (np.zeros((4, 4, 2), np.uint8), "two-channel", "cannot be PNG-encoded"),
        (np.zeros((0, 4), np.uint8), "empty", "cannot be PNG-encoded"),
    ],
)
def test_save_rejects_bad_input(store, image: np.ndarray, name: str, message: str):
    archive = open_archive(store)
    with pytest.raises(DataError, match=message):
        archive.save(image, name)
    assert every_file(archive.folder) == []
    assert tracked(store) == []
