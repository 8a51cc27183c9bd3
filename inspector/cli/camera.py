"""Commissioning a GenICam camera: `inspector camera list`, `features` and `grab`."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import cv2
import numpy as np
import typer
from rich.table import Table

from inspector.camera.config import AravisCamera
from inspector.cli.common import console, print_json
from inspector.errors import ConfigError, DataError, OutputExistsError

if TYPE_CHECKING:  # the aravis module loads PyGObject: only when a command runs
    from inspector.camera.aravis import AravisSource

__all__ = ["camera_app", "camera_features_command", "camera_grab", "camera_list"]

camera_app = typer.Typer(
    help="GigE Vision / USB3 Vision cameras through Aravis: find, inspect, grab frames.",
    no_args_is_help=True,
)

CameraArgument = Annotated[
    str, typer.Argument(help="The camera: its id (see `camera list`), serial number or IP.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@camera_app.command("list")
def camera_list(as_json: JsonOption = False) -> None:
    """The cameras Aravis finds (GigE by broadcast, USB3 on the bus). A GigE camera on
    another subnet may answer only when opened by its IP address."""
    from inspector.camera.aravis import discover

    found = discover()
    if as_json:
        print_json([vars(info) for info in found])
        return
    table = Table("id", "vendor", "model", "serial", "address", "protocol")
    for info in found:
        table.add_row(info.id, info.vendor, info.model, info.serial, info.address, info.protocol)
    console.print(table if found else "no cameras found")


@camera_app.command("features")
def camera_features_command(camera: CameraArgument, as_json: JsonOption = False) -> None:
    """Every GenICam feature the camera declares, with its current value."""
    from inspector.camera.aravis import aravis_module, camera_features, close_camera, open_camera

    opened = open_camera(aravis_module(), camera)
    try:
        features = camera_features(opened)
    finally:
        close_camera(opened)
    if as_json:
        print_json([vars(feature) for feature in features])
        return
    table = Table("feature", "type", "value")
    for feature in features:
        table.add_row(feature.name, feature.kind, feature.value)
    console.print(table)


@camera_app.command("grab")
def camera_grab(
    camera: CameraArgument,
    out: Annotated[Path, typer.Option("--out", help="Folder to write frame-NNNN.png into.")],
    frames: Annotated[int, typer.Option("--frames", min=1, max=100_000, help="Frames.")] = 1,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="station.yaml whose aravis camera section (format, exposure, trigger...) "
            "to grab with; the camera argument replaces its `camera`.",
        ),
    ] = None,
    timeout_s: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each frame.")
    ] = 10.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite frames in --out.")] = False,
) -> None:
    """Save N frames as PNG, as the station would see them (a line-triggered camera waits
    for its trigger, up to --timeout for each frame)."""
    from inspector.camera.aravis import AravisSource

    settings = _grab_config(camera, config)
    _prepare_folder(out, frames, force)
    source = AravisSource.open(settings)
    with source:
        for index in range(frames):
            image = _read_within(source, timeout_s)
            if image is None:
                raise DataError(f"{source.name}: no frame within {timeout_s} s ({index} saved)")
            path = out / f"frame-{index + 1:04d}.png"
            if not cv2.imwrite(str(path), image):
                raise DataError(f"{path}: cannot be written")
            origin = source.origin
            console.print(f"{path}  frame id {origin.frame_id}  {origin.pixel_format}")


def _grab_config(camera: str, path: Path | None) -> AravisCamera:
    if path is None:
        return AravisCamera(kind="aravis", camera=camera)
    from inspector.config import load_config

    section = load_config(path).camera
    if not isinstance(section, AravisCamera):
        raise ConfigError(f"{path}: camera.kind is {section.kind}, not aravis")
    return section.model_copy(update={"camera": camera})


def _prepare_folder(out: Path, frames: int, force: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    first = out / "frame-0001.png"
    if first.exists() and not force:
        raise OutputExistsError(f"{first}: exists (use --force to overwrite)")


def _read_within(source: AravisSource, timeout_s: float) -> np.ndarray | None:
    """One frame, or None when none came in time (`interrupt` ends the wait)."""
    timer = threading.Timer(timeout_s, source.interrupt)
    timer.start()
    try:
        return source.read(None)
    finally:
        timer.cancel()
        timer.join()
