"""Part images in dated sub-folders under a disk quota, oldest deleted first.

The archive deletes only files it wrote itself: each is a row of the `images` table,
and nothing else in the folder (someone's reference PNGs, notes, another tool's files)
is counted against the quota or ever removed. A write is crash-exact:

1. `stage`: the PNG goes to a temp file whose name only the archive makes
   (`.<final name>.inspector-tmp`, in the day folder);
2. the caller's transaction `track`s it (the `images` row, with the part's row);
3. `publish`: the temp file is renamed to its final name.

A crash before 2 leaves a temp file that the next `open` deletes; a crash between 2 and
3, a tracked image whose temp file the next `open` renames into place. So every final
file the archive made is tracked, and every tracked file exists once it is open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from inspector.errors import ConfigError, DataError
from inspector.store.db import transaction

__all__ = ["ArchivedImage", "ImageArchive", "PendingImage"]

log = logging.getLogger(__name__)

_DAY_FOLDER = re.compile(r"\d{4}-\d{2}-\d{2}")
_TEMP = re.compile(r"\.(?P<final>\d{6}-\d{6}-[A-Za-z0-9_.-]+\.png)\.inspector-tmp")
_IMAGE_NAME = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class ArchivedImage:
    """A file the archive wrote: its path relative to the archive folder
    ("YYYY-MM-DD/HHMMSS-ffffff-<name>.png") and size in bytes."""

    relative: str
    size: int


@dataclass(frozen=True, slots=True)
class PendingImage:
    """A staged image: written to `temp`, not yet under its final name."""

    image: ArchivedImage
    temp: Path
    run_id: str | None
    seq: int | None

    @property
    def relative(self) -> str:
        return self.image.relative


class ImageArchive:
    """The station's own images under `folder`, `quota_bytes` in all. Built by `open`;
    uses `conn` on the caller's thread (the store sink's)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        folder: Path,
        quota_bytes: int,
        images: list[ArchivedImage],
    ) -> None:
        _check_quota(quota_bytes)
        self._conn = conn
        self.folder = Path(folder)
        self.quota_bytes = quota_bytes
        self._images: deque[ArchivedImage] = deque(images)  # oldest first
        self.used_bytes = sum(image.size for image in images)

    @classmethod
    def open(cls, conn: sqlite3.Connection, folder: Path, quota_bytes: int) -> ImageArchive:
        """Make the folder, finish or clear interrupted writes, load what is tracked."""
        _check_quota(quota_bytes)
        folder = Path(folder)
        _make_folder(folder)
        tracked = _tracked(conn)
        _recover_temp_files(folder, {image.relative for image in tracked})
        return cls(conn, folder, quota_bytes, _forget_missing(conn, folder, tracked))

    @property
    def images(self) -> tuple[ArchivedImage, ...]:
        """What the archive holds, oldest first."""
        return tuple(self._images)

    def stage(
        self, image: np.ndarray, name: str, run_id: str | None = None, seq: int | None = None
    ) -> PendingImage:
        """Write `image` as a PNG temp file in today's folder.

        `name` ([A-Za-z0-9_.-]) follows the time of day in the file name, so it only
        needs to tell apart images of the same microsecond (the sink uses the seq).
        """
        if not _IMAGE_NAME.fullmatch(name):
            raise DataError(f"image name {name!r}: only letters, digits, '_', '.', '-'")
        now = datetime.now().astimezone()
        day = self.folder / now.strftime("%Y-%m-%d")
        _make_folder(day)
        target = day / f"{now.strftime('%H%M%S-%f')}-{name}.png"
        temp = day / f".{target.name}.inspector-tmp"
        size = _write_new_file(_encode_png(image, target.name), temp, target)
        relative = target.relative_to(self.folder).as_posix()
        return PendingImage(ArchivedImage(relative, size), temp, run_id, seq)

    def track(self, pending: PendingImage) -> None:
        """Its `images` row, inside the caller's transaction."""
        self._conn.execute(
            "INSERT INTO images (path, size, created, run_id, seq) VALUES (?, ?, ?, ?, ?)",
            (pending.relative, pending.image.size, time.time(), pending.run_id, pending.seq),
        )

    def publish(self, pending: PendingImage) -> None:
        """Rename the tracked temp file into place; it now counts against the quota."""
        try:
            os.replace(pending.temp, self.folder / pending.relative)
        except OSError as exc:
            folder = pending.temp.parent
            raise DataError(f"{folder}: cannot write images ({exc.strerror})") from None
        self._images.append(pending.image)
        self.used_bytes += pending.image.size

    def discard(self, pending: PendingImage) -> None:
        """Remove the temp file of an image that will not be tracked."""
        with contextlib.suppress(OSError):
            pending.temp.unlink(missing_ok=True)

    def untrack(self, pending: PendingImage) -> None:
        """Undo `track` for an image that could not be published (caller's transaction)."""
        self.discard(pending)
        self._conn.execute("DELETE FROM images WHERE path = ?", (pending.relative,))

    def save(
        self, image: np.ndarray, name: str, run_id: str | None = None, seq: int | None = None
    ) -> str:
        """Stage, track (own transaction), publish and evict: the image's relative path."""
        pending = self.stage(image, name, run_id, seq)
        try:
            with transaction(self._conn):
                self.track(pending)
        except sqlite3.Error as exc:
            self.discard(pending)
            raise DataError(f"{self.folder}: cannot track image ({exc})") from None
        try:
            self.publish(pending)
        except DataError:
            with transaction(self._conn):
                self.untrack(pending)
            raise
        self.evict()
        return pending.relative

    def evict(self) -> list[str]:
        """Delete the oldest images until the total fits the quota; their paths. The
        newest always stays, so a path just returned is valid even over the quota."""
        evicted: list[str] = []
        while self.used_bytes > self.quota_bytes and len(self._images) > 1:
            oldest = self._images.popleft()
            self.used_bytes -= oldest.size
            path = self.folder / oldest.relative
            # File first, then row: a crash between leaves a row that `open` forgets,
            # never a file of ours that nothing tracks. One we cannot delete is out of
            # our hands; counting it would evict forever.
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            _remove_if_empty(path.parent)
            evicted.append(oldest.relative)
        if evicted:
            _forget(self._conn, evicted)
        return evicted


def _check_quota(quota_bytes: int) -> None:
    if quota_bytes <= 0:
        raise ConfigError(f"image archive quota must be > 0 bytes, got {quota_bytes}")


def _tracked(conn: sqlite3.Connection) -> list[ArchivedImage]:
    rows = conn.execute("SELECT path, size FROM images ORDER BY id").fetchall()
    return [ArchivedImage(path, size) for path, size in rows]


def _recover_temp_files(folder: Path, tracked: set[str]) -> None:
    """A temp file whose image was tracked is renamed into place; any other is deleted.
    Only files of the archive's own temp pattern, in its day folders, are touched."""
    for day in sorted(d for d in folder.iterdir() if _DAY_FOLDER.fullmatch(d.name)):
        if not day.is_dir():
            continue
        for path in day.iterdir():
            match = _TEMP.fullmatch(path.name)
            if match is None:
                continue
            final = day / match["final"]
            relative = final.relative_to(folder).as_posix()
            with contextlib.suppress(OSError):
                if relative in tracked and not final.exists():
                    os.replace(path, final)
                else:
                    path.unlink()


def _forget_missing(
    conn: sqlite3.Connection, folder: Path, tracked: list[ArchivedImage]
) -> list[ArchivedImage]:
    present = [image for image in tracked if (folder / image.relative).is_file()]
    if len(present) < len(tracked):
        kept = {image.relative for image in present}
        _forget(conn, [image.relative for image in tracked if image.relative not in kept])
    return present


def _forget(conn: sqlite3.Connection, relatives: list[str]) -> None:
    try:
        with transaction(conn):
            conn.executemany("DELETE FROM images WHERE path = ?", [(r,) for r in relatives])
    except sqlite3.Error as exc:  # the files are gone; the next open forgets their rows
        log.warning("image archive: could not forget %d deleted images: %s", len(relatives), exc)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{folder}: cannot create image folder ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"{folder}: image folder is not writable")


def _write_new_file(data: bytes, temp: Path, target: Path) -> int:
    """`data` into a new temp file; never over a file that exists (ours or anyone's)."""
    if target.exists():
        raise DataError(f"{target}: already exists, not overwritten")
    try:
        with temp.open("xb") as handle:
            handle.write(data)
    except FileExistsError:
        raise DataError(f"{temp}: already exists, not overwritten") from None
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise DataError(f"{target.parent}: cannot write images ({exc.strerror})") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return len(data)


def _encode_png(image: np.ndarray, name: str) -> bytes:
    try:
        ok, encoded = cv2.imencode(".png", image)
    except cv2.error:
        ok = False
    if not ok:
        raise DataError(f"{name}: image {image.dtype} {image.shape} cannot be PNG-encoded")
    return encoded.tobytes()


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: older images, or someone else's files
        folder.rmdir()
