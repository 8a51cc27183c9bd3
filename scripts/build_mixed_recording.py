#!/usr/bin/env python3
"""Build the mixed-line recording: magnetic tiles and NEU-DET steel patches on one belt.

`inspector demo --recipes` replays it with a simulated PLC that switches recipes at each
product change. Only parts the shipped models never trained on are used, so the
per-product escape and false-reject figures are honest:

- tiles: the demo recording's own parts (models/magnetic-tile/demo/conveyor.parts.csv,
  from the magnetic-tile validation split), read from the dataset again;
- steel: NEU-DET images of the val split the shipped model was not trained on
  (`inspector data split ../shared/datasets/neu-det/data.yaml DIR --val-fraction 0.2
  --seed 0`, as models/README.md made it). Every NEU-DET image shows a defect, so every
  steel part is defective in the ground truth.

Writes mixed.mp4 (H.264, same belt, frame size and speed as the demo recording) and
mixed.parts.csv (part, recipe, product, source, category, defective, crossing_frame).

Usage (from the repository root):
    inspector data split ../shared/datasets/neu-det/data.yaml .work/neu-det \
        --val-fraction 0.2 --seed 0
    python scripts/build_mixed_recording.py --tiles ../shared/datasets/magnetic-tile \
        --steel .work/neu-det/val.txt --out models/mixed-line
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import random
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("demo_build", HERE / "build_demo_recording.py")
assert _spec is not None and _spec.loader is not None
belt = importlib.util.module_from_spec(_spec)
sys.modules["demo_build"] = belt  # its dataclasses look their module up
_spec.loader.exec_module(belt)  # the demo's belt: frame size, speed, rendering, encoding

TILE_CSV = HERE.parent / "models" / "magnetic-tile" / "demo" / "conveyor.parts.csv"
RECIPES = {"tile": 1, "steel": 2}
STEEL_SCALE = 1.0  # 200 px patches fit the 320 px belt as they are


def tile_parts(dataset: Path, n: int) -> list[dict]:
    with TILE_CSV.open() as handle:
        rows = list(csv.DictReader(handle))[:n]
    return [
        {
            "product": "tile",
            "path": dataset / row["source"],
            "source": row["source"],
            "category": row["category"],
            "defective": row["defective"] == "1",
            "scale": belt.SCALE,
        }
        for row in rows
    ]


def steel_parts(val_list: Path, n: int, seed: int) -> list[dict]:
    paths = [Path(line) for line in val_list.read_text().split() if line]
    chosen = random.Random(seed).sample(paths, n)
    return [
        {
            "product": "steel",
            "path": path,
            "source": f"neu-det-val/{path.name}",
            "category": path.stem.rsplit("_", 1)[0],
            "defective": True,  # every NEU-DET image is of a defect
            "scale": STEEL_SCALE,
        }
        for path in chosen
    ]


def interleave(tiles: list[dict], steel: list[dict], run: int) -> list[dict]:
    """Runs of `run` parts of each product in turn, as a line changes over."""
    out: list[dict] = []
    for start in range(0, max(len(tiles), len(steel)), run):
        out += tiles[start : start + run] + steel[start : start + run]
    return out


def lay_out(parts: list[dict], seed: int) -> tuple[list, int]:
    rng = random.Random(seed + 1)
    x = belt.WIDTH
    placed = []
    for part in parts:
        image = cv2.imread(str(part["path"]), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise SystemExit(f"{part['path']}: not readable")
        scale = part["scale"]
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        y = (belt.HEIGHT - image.shape[0]) // 2 + rng.randint(-8, 8)
        placed.append(belt.Placed(part["path"], part["category"], part["defective"], image, x, y))
        # gaps wide enough that no two parts touch: a changeover is a clean cut
        x += image.shape[1] + rng.randint(80, 200)
    return placed, x + belt.WIDTH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=Path, required=True, help="the magnetic-tile dataset")
    parser.add_argument("--steel", type=Path, required=True, help="NEU-DET val.txt")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tile-parts", type=int, default=24)
    parser.add_argument("--steel-parts", type=int, default=16)
    parser.add_argument("--run", type=int, default=8, help="parts per product run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    parts = interleave(
        tile_parts(args.tiles, args.tile_parts),
        steel_parts(args.steel, args.steel_parts, args.seed),
        args.run,
    )
    placed, belt_length = lay_out(parts, args.seed)
    rng = np.random.default_rng(args.seed)
    background = np.clip(rng.normal(belt.BELT_GREY, 2, (belt.HEIGHT, belt.WIDTH)), 0, 255)
    background = background.astype(np.uint8)
    args.out.mkdir(parents=True, exist_ok=True)
    frames_dir = args.out / ".frames"
    frames_dir.mkdir(exist_ok=True)
    n_frames = belt_length // belt.SPEED_PX
    for i in range(n_frames):
        frame = belt.render(placed, i * belt.SPEED_PX, background)
        cv2.imwrite(str(frames_dir / f"{i:05d}.png"), frame)
    belt.encode(frames_dir, args.out / "mixed.mp4")
    for png in frames_dir.iterdir():
        png.unlink()
    frames_dir.rmdir()
    with (args.out / "mixed.parts.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["part", "recipe", "product", "source", "category", "defective", "crossing_frame"]
        )
        for i, (part, place) in enumerate(zip(parts, placed, strict=True), start=1):
            writer.writerow(
                [
                    i,
                    RECIPES[part["product"]],
                    part["product"],
                    part["source"],
                    part["category"],
                    int(part["defective"]),
                    belt.crossing_frame(place),
                ]
            )
    print(f"{args.out}: {len(placed)} parts, {n_frames} frames at {belt.FPS} fps")


if __name__ == "__main__":
    main()
