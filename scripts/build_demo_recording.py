#!/usr/bin/env python3
"""Build the demo recording: magnetic tiles riding a conveyor past the camera.

Only images of the project's own validation split are used (the shipped model never
trained on them), so the demo's escape and false-reject figures are honest. Writes:

- conveyor.mp4: H.264 video (via the ffmpeg that the imageio-ffmpeg wheel carries)
- conveyor.parts.csv: one row per part in belt order: part, source image, category,
  defective (0/1), the frame where its centre crosses the middle of the frame
- README.md: what it is, the dataset's citation, the command that built it

Usage (from the repository root, after `inspector data convert-masks ... --seed 0`):
    python scripts/build_demo_recording.py --dataset .work/magnetic-tile \
        --out models/magnetic-tile/demo
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 1024, 320
FPS = 15
SPEED_PX = 24  # belt travel per frame
BELT_GREY = 10
SCALE = 0.7  # tile pixels per source pixel, so the largest tile fits the belt
TOUCHING_EVERY = 7  # every n-th gap is a touching pair with a 2 px seam
SEAM_PX = 2


@dataclass
class Placed:
    source: Path
    category: str
    defective: bool
    image: np.ndarray
    x: int  # left edge on the belt, in belt coordinates (px)
    y: int


def pick_parts(dataset: Path, n_defective: int, n_good: int, seed: int) -> list[dict]:
    with (dataset / "manifest.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["split"] == "val"]
    bad = [r for r in rows if int(r["boxes"]) > 0]
    good = [r for r in rows if int(r["boxes"]) == 0 and r["category"] == "MT_Free"]
    rng = random.Random(seed)
    chosen = rng.sample(bad, min(n_defective, len(bad))) + rng.sample(good, n_good)
    rng.shuffle(chosen)
    return chosen


def lay_out(rows: list[dict], seed: int) -> tuple[list[Placed], int]:
    rng = random.Random(seed + 1)
    x = WIDTH  # the first part enters from the left after a full frame of empty belt
    placed = []
    for i, row in enumerate(rows):
        tile = cv2.imread(str(row["source"]), cv2.IMREAD_GRAYSCALE)
        tile = cv2.resize(tile, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_AREA)
        if tile.shape[0] > HEIGHT - 20:
            raise SystemExit(f"{row['source']}: too tall for the belt")
        y = (HEIGHT - tile.shape[0]) // 2 + rng.randint(-8, 8)
        placed.append(
            Placed(Path(row["source"]), row["category"], int(row["boxes"]) > 0, tile, x, y)
        )
        touching = i % TOUCHING_EVERY == TOUCHING_EVERY - 1
        x += tile.shape[1] + (SEAM_PX if touching else rng.randint(60, 200))
    return placed, x + WIDTH


def render(placed: list[Placed], offset: int, belt: np.ndarray) -> np.ndarray:
    """The frame when the belt has moved `offset` px: parts move left to right."""
    frame = belt.copy()
    for part in placed:
        # belt coordinates grow against the travel direction: part at x is seen at
        # offset - x + WIDTH... parts further back enter later
        left = offset - (part.x - WIDTH) - part.image.shape[1]
        right = left + part.image.shape[1]
        if right <= 0 or left >= WIDTH:
            continue
        src0, dst0 = max(0, -left), max(0, left)
        src1 = part.image.shape[1] - max(0, right - WIDTH)
        frame[part.y : part.y + part.image.shape[0], dst0 : dst0 + (src1 - src0)] = part.image[
            :, src0:src1
        ]
    return frame


def crossing_frame(part: Placed) -> int:
    """Frame where the part's centre reaches the middle of the frame."""
    width = part.image.shape[1]
    # centre at frame i: i * SPEED - (x - WIDTH) - width / 2
    return int(np.ceil((WIDTH / 2 + part.x - WIDTH + width / 2) / SPEED_PX))


def encode(frames_dir: Path, out: Path) -> None:
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run(
        [
            ffmpeg,
            "-y",
            "-loglevel",
            "error",
            "-framerate",
            str(FPS),
            "-i",
            str(frames_dir / "%05d.png"),
            "-c:v",
            "libx264",
            "-preset",
            "slow",
            "-crf",
            "16",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            str(out),
        ],
        check=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--defective", type=int, default=20)
    parser.add_argument("--good", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = pick_parts(args.dataset, args.defective, args.good, args.seed)
    placed, belt_length = lay_out(rows, args.seed)
    rng = np.random.default_rng(args.seed)
    belt = np.clip(rng.normal(BELT_GREY, 2, (HEIGHT, WIDTH)), 0, 255).astype(np.uint8)
    args.out.mkdir(parents=True, exist_ok=True)
    frames_dir = args.out / ".frames"
    frames_dir.mkdir(exist_ok=True)
    n_frames = belt_length // SPEED_PX
    for i in range(n_frames):
        cv2.imwrite(str(frames_dir / f"{i:05d}.png"), render(placed, i * SPEED_PX, belt))
    encode(frames_dir, args.out / "conveyor.mp4")
    for png in frames_dir.iterdir():
        png.unlink()
    frames_dir.rmdir()
    with (args.out / "conveyor.parts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["part", "source", "category", "defective", "crossing_frame"])
        for i, part in enumerate(placed, start=1):
            source = f"{part.source.parent.name}/{part.source.name}"
            writer.writerow([i, source, part.category, int(part.defective), crossing_frame(part)])
    print(f"{args.out}: {len(placed)} parts, {n_frames} frames at {FPS} fps")


if __name__ == "__main__":
    main()
