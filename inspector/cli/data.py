"""`inspector data`: convert masks, split, check."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from inspector.cli.common import console, err_console, print_json

__all__ = ["data_app"]

data_app = typer.Typer(help="Datasets: convert masks, split, check.", no_args_is_help=True)


@data_app.command("convert-masks")
def data_convert_masks(
    src: Annotated[Path, typer.Argument(help="Folder of category sub-folders of image+mask.")],
    dst: Annotated[Path, typer.Argument(help="Dataset folder to write (with data.yaml).")],
    val_fraction: Annotated[float, typer.Option(help="Share of each category for val.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the stratified split.")] = 0,
    min_area: Annotated[int, typer.Option(help="Drop mask regions under this many px.")] = 9,
    single_class: Annotated[
        str | None, typer.Option(help="Merge all defect categories into this one class.")
    ] = None,
    exclude: Annotated[
        Path | None,
        typer.Option(
            help="Images kept out of both splits (a CSV with a 'source' column, such as "
            "the demo recording's parts list, or one Category/name.jpg a line)."
        ),
    ] = None,
    only: Annotated[
        Path | None,
        typer.Option(help="Only these images (a list like --exclude's), e.g. to score them."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing DST.")] = False,
) -> None:
    """Turn image + binary-mask pairs into a YOLO detection dataset.

    With the same --val-fraction, --seed and --exclude, its val split is the one
    `inspector train --kind defect-map` validates on."""
    from inspector.data.masks import SplitSpec, convert_masks, read_image_list

    report = convert_masks(
        src,
        dst,
        split=SplitSpec(
            val_fraction,
            seed,
            exclude=read_image_list(exclude) if exclude else (),
            only=read_image_list(only) if only else (),
        ),
        min_area=min_area,
        single_class=single_class,
        force=force,
    )
    table = Table(title=f"{report.dst}/data.yaml")
    table.add_column("split")
    table.add_column("images", justify="right")
    table.add_column("defective", justify="right")
    for split, count in report.images.items():
        table.add_row(split, str(count), str(report.defective[split]))
    console.print(table)
    console.print("boxes per class: " + ", ".join(f"{k} {v}" for k, v in report.boxes.items()))
    console.print(f"specks under {min_area} px dropped: {report.dropped_specks}")


@data_app.command("split")
def data_split(
    data: Annotated[Path, typer.Argument(help="data.yaml of the dataset to split.")],
    dst: Annotated[Path, typer.Argument(help="Folder for train.txt, val.txt, data.yaml.")],
    source_split: Annotated[str, typer.Option(help="Split of DATA to divide.")] = "train",
    val_fraction: Annotated[float, typer.Option(help="Share of each class for val.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the stratified split.")] = 0,
    force: Annotated[bool, typer.Option(help="Replace an existing split.")] = False,
) -> None:
    """Split a YOLO dataset into train/val image lists, stratified by class, no copies."""
    from inspector.data.split import split_dataset

    counts = split_dataset(
        data, dst, source_split=source_split, val_fraction=val_fraction, seed=seed, force=force
    )
    console.print(f"{dst}/data.yaml: " + ", ".join(f"{k} {v}" for k, v in counts.items()))


@data_app.command("check")
def data_check(
    data: Annotated[Path, typer.Argument(help="data.yaml to check.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Class counts, empty images, and broken or out-of-range labels."""
    from inspector.data.check import check_dataset

    report = check_dataset(data)
    if as_json:
        print_json(report.as_json())
    else:
        _print_check(report)
    if report.problems:
        raise typer.Exit(1)


def _print_check(report) -> None:
    table = Table(title=str(report.yaml_path))
    table.add_column("split")
    table.add_column("images", justify="right")
    table.add_column("empty", justify="right")
    table.add_column("no label file", justify="right")
    for name in report.names:
        table.add_column(f"{name} boxes/images", justify="right")
    for split, s in report.splits.items():
        table.add_row(
            split,
            str(s.images),
            str(s.empty_images),
            str(s.missing_labels),
            *(f"{s.boxes[n]}/{s.images_per_class[n]}" for n in report.names),
        )
    console.print(table)
    for problem in report.problems[:50]:
        err_console.print(f"[red]problem:[/] {problem}")
    if len(report.problems) > 50:
        err_console.print(f"... and {len(report.problems) - 50} more problems")
