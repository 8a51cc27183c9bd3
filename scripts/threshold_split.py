#!/usr/bin/env python3
"""Write a data.yaml of the magnetic-tile val split *without* the demo recording's parts.

The shipped model's pass/fail threshold is chosen on these images, so the demo's figures
come from parts that neither training nor the threshold choice ever saw.

Usage (from the repository root):
    python scripts/threshold_split.py --dataset .work/magnetic-tile \
        --recording models/magnetic-tile/demo/conveyor.parts.csv --out .work/mt-threshold
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--recording", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    with args.recording.open() as handle:
        on_demo = {row["source"].replace("/", "__") for row in csv.DictReader(handle)}
    val = sorted((args.dataset / "images" / "val").iterdir())
    kept = [p.resolve() for p in val if p.name not in on_demo]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "val.txt").write_text("".join(f"{p}\n" for p in kept))
    source = yaml.safe_load((args.dataset / "data.yaml").read_text())
    doc = {"path": str(args.out.resolve()), "val": "val.txt", "names": source["names"]}
    (args.out / "data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    print(f"{args.out}/data.yaml: {len(kept)} of {len(val)} val images (demo parts left out)")


if __name__ == "__main__":
    main()
