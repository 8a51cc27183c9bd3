"""CLI of `inspector calibrate`: target, intrinsics, scale, lighting, check."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from inspector.cli.common import console, err_console, print_json

if TYPE_CHECKING:
    from inspector.calibrate.boards import BoardSpec
    from inspector.calibrate.intrinsics import Intrinsics, View

__all__ = ["calibrate_app"]

calibrate_app = typer.Typer(
    help="Camera, scale and lighting set-up: printable boards, the station's calibration "
    "profile, and drift checks against its golden baseline.",
    no_args_is_help=True,
)

KindOption = Annotated[str, typer.Option("--kind", help="charuco or checkerboard.")]
SquaresOption = Annotated[str, typer.Option("--squares", help="Squares across x down, e.g. 9x6.")]
SquareMmOption = Annotated[float, typer.Option("--square-mm", help="Side of one square, mm.")]
MarkerMmOption = Annotated[float, typer.Option("--marker-mm", help="ChArUco marker side, mm.")]
DictionaryOption = Annotated[str, typer.Option("--dictionary", help="ChArUco ArUco dictionary.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
ReportOption = Annotated[Path | None, typer.Option("--report", help="Write a report image.")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who measured it (default: the login name).")
]


def _board(
    kind: str, squares: str, square_mm: float, marker_mm: float, dictionary: str
) -> BoardSpec:
    from inspector.calibrate.boards import BoardKind, BoardSpec, parse_squares
    from inspector.errors import ConfigError

    try:
        board_kind = BoardKind(kind)
    except ValueError:
        raise ConfigError(f"--kind: {kind!r} is not charuco or checkerboard") from None
    cols, rows = parse_squares(squares)
    return BoardSpec(board_kind, cols, rows, square_mm, marker_mm, dictionary)


def _measured_by(by: str | None, command: str) -> str:
    from inspector import __version__

    return f"{by or getpass.getuser()}; inspector {__version__} calibrate {command}"


@calibrate_app.command("target")
def calibrate_target(
    out: Annotated[Path, typer.Option("--out", help="board.pdf or board.png")],
    kind: KindOption = "charuco",
    squares: SquaresOption = "9x6",
    square_mm: SquareMmOption = 25.0,
    marker_mm: MarkerMmOption = 18.0,
    dictionary: DictionaryOption = "DICT_5X5_100",
    dpi: Annotated[int, typer.Option("--dpi", help="Resolution of the rendering.")] = 600,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out.")] = False,
) -> None:
    """Print a board at true scale (PDF page or PNG with its DPI); print it at 100 %."""
    from inspector.calibrate.boards import write_target

    spec = _board(kind, squares, square_mm, marker_mm, dictionary)
    path = write_target(spec, out, dpi, force)
    width, height = spec.size_mm
    console.print(
        f"{path}: {spec.describe()}; the squares measure {width:g} x {height:g} mm printed"
    )


@calibrate_app.command("intrinsics")
def calibrate_intrinsics(
    images: Annotated[Path | None, typer.Option("--images", help="Folder of board images.")] = None,
    source: Annotated[
        Path | None,
        typer.Option("--source", help="station.yaml: take views from its camera instead."),
    ] = None,
    views: Annotated[int, typer.Option("--views", help="With --source: views to keep.")] = 20,
    keep: Annotated[
        Path | None, typer.Option("--keep", help="With --source: save kept frames here.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="calibration/STATION.yaml")] = None,
    kind: KindOption = "charuco",
    squares: SquaresOption = "9x6",
    square_mm: SquareMmOption = 25.0,
    marker_mm: MarkerMmOption = 18.0,
    dictionary: DictionaryOption = "DICT_5X5_100",
    fit_k3: Annotated[bool, typer.Option("--fit-k3", help="Fit k3 (wide-angle lenses).")] = False,
    station: Annotated[
        str | None, typer.Option("--station", help="Station name (default: --out's stem).")
    ] = None,
    by: ByOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Camera matrix and distortion from a folder of board views, judged pass or fail."""
    from inspector.calibrate.intrinsics import calibrate
    from inspector.calibrate.workflow import run_intrinsics

    spec = _board(kind, squares, square_mm, marker_mm, dictionary)
    if (images is None) == (source is None):
        from inspector.errors import ConfigError

        raise ConfigError("give --images DIR or --source station.yaml (one of them)")
    if images is not None:
        result, found = run_intrinsics(spec, images, fit_k3)
    else:
        assert source is not None  # checked above
        found, size = _live_views(spec, source, views, keep)
        result = calibrate(found, size, fit_k3=fit_k3)
    if report is not None:
        from inspector.calibrate.report import intrinsics_report

        intrinsics_report(result, found, report)
    if out is not None:
        from inspector.calibrate.workflow import profile_with_intrinsics

        by_text = _measured_by(by, "intrinsics")
        profile_with_intrinsics(result, spec, out, station or out.stem, by_text)
    if as_json:
        print_json(result.to_json())
    else:
        _print_intrinsics(result)
    if result.problems:  # the figures are printed (and saved) either way
        raise typer.Exit(1)


def _live_views(
    spec: BoardSpec, station_yaml: Path, views: int, keep: Path | None
) -> tuple[list[View], tuple[int, int]]:
    from inspector.calibrate.live import LiveCapture, capture_views
    from inspector.camera.base import open_source
    from inspector.config import load_config

    camera = load_config(station_yaml).camera
    with open_source(camera) as opened:
        plan = LiveCapture(views=views, min_gap_s=0.5 if opened.live else 0.0, keep=keep)
        return capture_views(spec, opened, plan, lambda line: err_console.print(line))


def _print_intrinsics(result: Intrinsics) -> None:
    matrix = result.camera_matrix
    console.print(
        f"{result.verdict.upper()}: RMS {result.rms:.3f} px over {len(result.view_errors)} "
        f"views ({len(result.rejected)} rejected), coverage {result.coverage:.0%}"
    )
    console.print(
        f"fx {matrix[0, 0]:.2f}  fy {matrix[1, 1]:.2f}  cx {matrix[0, 2]:.2f}  "
        f"cy {matrix[1, 2]:.2f}  (1 sigma: "
        + ", ".join(f"{s:.2f}" for s in result.std_intrinsics[:4])
        + ")"
    )
    console.print("dist " + " ".join(f"{d:.5f}" for d in result.dist_coeffs))
    for name, error in result.rejected.items():
        console.print(f"rejected {name}: {error:.3f} px")
    for problem in result.problems:
        console.print(f"- {problem}")


@calibrate_app.command("scale")
def calibrate_scale(
    image: Annotated[Path, typer.Option("--image", help="The board lying on the plane.")],
    profile: Annotated[
        Path | None,
        typer.Option("--profile", help="Profile to use (intrinsics) and write the scale to."),
    ] = None,
    roi: Annotated[
        str | None, typer.Option("--roi", help="x0,y0,x1,y1: the inspected area, px.")
    ] = None,
    kind: KindOption = "charuco",
    squares: SquaresOption = "9x6",
    square_mm: SquareMmOption = 25.0,
    marker_mm: MarkerMmOption = 18.0,
    dictionary: DictionaryOption = "DICT_5X5_100",
    by: ByOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """mm per pixel (x, y, and its spread over the field) and the plane's tilt."""
    from inspector.calibrate.workflow import parse_roi, profile_with_scale, run_scale

    spec = _board(kind, squares, square_mm, marker_mm, dictionary)
    scale, grey, _ = run_scale(spec, image, profile)
    size = (grey.shape[1], grey.shape[0])
    area = parse_roi(roi, size) if roi is not None else None
    if report is not None:
        from inspector.calibrate.report import scale_report

        scale_report(scale, grey, report)
    if profile is not None:
        profile_with_scale(scale, spec, profile, size, area, _measured_by(by, "scale"))
    if as_json:
        print_json(scale.to_json())
        return
    tilt = "unknown (no intrinsics)" if scale.tilt_deg is None else f"{scale.tilt_deg:.2f} deg"
    console.print(
        f"{scale.mm_per_px_x:.5f} mm/px in x, {scale.mm_per_px_y:.5f} mm/px in y; "
        f"varies {scale.variation:.2%} across the board; tilt {tilt}"
    )


@calibrate_app.command("lighting")
def calibrate_lighting(
    image: Annotated[
        Path, typer.Option("--image", help="A golden part (or the scene) as it should look.")
    ],
    flat: Annotated[
        Path | None,
        typer.Option("--flat", help="A plain grey or white target filling the view."),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option("--profile", help="Profile to record the baseline and flat field in."),
    ] = None,
    by: ByOption = None,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Focus, exposure, uniformity and glare; records the golden baseline and flat field."""
    from inspector.calibrate.workflow import profile_with_lighting, run_lighting

    quality, flat_quality, grey = run_lighting(image, flat, profile)
    if report is not None:
        from inspector.calibrate.report import lighting_report

        lighting_report(quality, grey, flat_quality, report)
    if profile is not None:
        profile_with_lighting(
            quality, grey, flat, flat_quality, profile, _measured_by(by, "lighting")
        )
    doc = quality.to_json()
    if flat_quality is not None:
        doc["uniformity"] = round(flat_quality.uniformity, 4)
    if as_json:
        print_json(doc)
        return
    console.print(
        f"focus: Laplacian variance {doc['focus_laplacian']}, Tenengrad {doc['tenengrad']}; "
        f"brightness {doc['brightness']} (clipped {quality.clipped_dark:.2%} dark, "
        f"{quality.clipped_bright:.2%} bright); uniformity {doc['uniformity']}; "
        f"glare {quality.glare:.2%}"
    )


@calibrate_app.command("check")
def calibrate_check(
    profile: Annotated[Path, typer.Option("--profile", help="The station's profile.")],
    images: Annotated[
        Path | None, typer.Option("--images", help="A frame, or a folder of recent frames.")
    ] = None,
    flat: Annotated[
        Path | None, typer.Option("--flat", help="The plain target again (uniformity).")
    ] = None,
    log: Annotated[
        Path | None,
        typer.Option("--log", help="The station's inspection log: its parts' image figures."),
    ] = None,
    parts: Annotated[int, typer.Option("--parts", help="Newest parts of --log compared.")] = 500,
    report: ReportOption = None,
    as_json: JsonOption = False,
) -> None:
    """Go/no-go: focus, brightness, glare, position (and uniformity) against the baseline."""
    from inspector.calibrate.workflow import CheckInput, run_check

    result, first = run_check(profile, CheckInput(images, flat, log, parts))
    if report is not None:
        from inspector.calibrate.report import check_report

        check_report(result, first, report)
    if as_json:
        print_json(result.to_json())
    else:
        console.print(
            f"{'GO' if result.go else 'NO-GO'} over {result.frames} frame(s) and "
            f"{result.parts} logged part(s)"
        )
        for item in result.items:
            mark = "ok " if item.ok else "BAD"
            console.print(
                f"{mark} {item.name}: {item.measured:.3f} (baseline {item.baseline:.3f}; "
                f"{item.limit})"
            )
    if not result.go:
        raise typer.Exit(1)


@calibrate_app.command("focus")
def calibrate_focus(
    source: Annotated[Path, typer.Option("--source", help="station.yaml: its camera.")],
    frames: Annotated[
        int, typer.Option("--frames", help="Frames to read (0: until stopped or the end).")
    ] = 0,
    every: Annotated[int, typer.Option("--every", help="Measure every Nth frame.", min=1)] = 5,
    as_json: JsonOption = False,
) -> None:
    """Live focus readout while turning the lens: each reading against the best so far."""
    from inspector.calibrate.live import watch_focus
    from inspector.camera.base import open_source
    from inspector.config import load_config

    with open_source(load_config(source).camera) as opened:
        last = watch_focus(opened, frames, every, lambda line: err_console.print(line))
    if as_json:
        print_json(
            {
                "focus_laplacian": round(last.focus_laplacian, 3),
                "tenengrad": round(last.tenengrad, 3),
                "best_laplacian": round(last.best_laplacian, 3),
                "of_best": round(last.of_best, 4),
            }
        )
