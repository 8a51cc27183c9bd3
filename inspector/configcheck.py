"""`inspector config check`: what a start would need, checked without starting.

Beyond validation (`load_config`): every file or folder the config names exists and can
be read (or, for what the station creates, can be created), the model opens with its
backend and its classes match the judge's rules, the calibration profile loads (its
checksum holds), and every ROI and the profile's image size fit the first frame of a
recorded camera source. Each problem is an `InspectorError` whose message names the
field; a live camera is never opened (that would take it from a running station).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from inspector.config import StationConfig, config_files, recipe_config
from inspector.errors import DataError, InspectorError, ModelError

__all__ = ["CREATED", "exit_code", "start_problems"]

# Paths the station creates when they do not exist yet: their nearest existing folder
# must be writable instead.
CREATED = {
    "storage.database": "file",
    "storage.images_dir": "folder",
    "model.backend.cache_dir": "folder",
}


def start_problems(config: StationConfig) -> list[InspectorError]:
    """Every problem a start would meet, one error per problem, in config order."""
    problems: list[tuple[str, InspectorError]] = []
    for field, path in config_files(config):
        error = _path_problem(field, path)
        if error is not None:
            problems.append((field, error))
    failed = {field.split(".")[0] for field, _ in problems}
    if "calibration" not in failed:
        problems += [("calibration", e) for e in _calibration_problems(config)]
        failed = {field.split(".")[0] for field, _ in problems}
    # the model's check reads the profile too (mm rules): one report of a bad profile
    if "model" not in failed and "calibration" not in failed:
        problems += [("model", e) for e in _model_problems(config)]
    if "camera" not in failed:
        with_profile = "calibration" not in failed
        problems += [("camera", e) for e in _camera_problems(config, with_profile)]
    if "recipes" not in failed:
        problems += [("recipes", e) for e in _recipe_problems(config)]
    return [error for _, error in problems]


def exit_code(problems: list[InspectorError]) -> int:
    """2 if any problem is the config's own, else 1 (a model or data problem), as `run`."""
    return max(problem.exit_code for problem in problems)


_RECIPE_FIELD = re.compile(r"recipes\.\d+\.")


def _path_problem(field: str, path: Path) -> InspectorError | None:
    section = _RECIPE_FIELD.sub("", field, count=1)  # a recipe's fields are the station's
    error = ModelError if section.startswith("model.") else DataError
    if section in CREATED:
        return _creatable_problem(field, path, CREATED[section])
    if not path.exists():
        return error(f"{field}: {path}: not found")
    if not os.access(path, os.R_OK | (os.X_OK if path.is_dir() else 0)):
        return error(f"{field}: {path}: no permission to read")
    return None


def _creatable_problem(field: str, path: Path, kind: str) -> InspectorError | None:
    """A path the station creates: fine if it is of the right kind and writable, or
    missing with a writable folder to create it in."""
    if path.exists():
        is_folder = path.is_dir()
        if is_folder != (kind == "folder"):
            wrong = "a folder" if is_folder else "a file"
            return DataError(f"{field}: {path}: is {wrong}, expected a {kind}")
        if not os.access(path, os.R_OK | os.W_OK):
            return DataError(f"{field}: {path}: no permission to write")
        return None
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return DataError(f"{field}: {path}: cannot be created ({parent} is not a writable folder)")
    return None


def _calibration_problems(config: StationConfig) -> list[InspectorError]:
    """The profile loads: present, its checksum and its flat field's hold."""
    from inspector.calibrate.profile import station_profile

    try:
        station_profile(config.calibration)
    except InspectorError as exc:
        return [exc]
    return []


def _model_problems(config: StationConfig) -> list[InspectorError]:
    """Open the model as `run` does (judge rules, model.conf, a warm-up), then close it."""
    from inspector.factory import open_model

    try:
        detector, _ = open_model(config)
    except ModelError as exc:
        return [ModelError(f"model.path: {exc}")]
    except InspectorError as exc:
        return [exc]
    detector.close()
    return []


def _recipe_problems(config: StationConfig) -> list[InspectorError]:
    """Each recipe's model opens with its own rules and its profile loads, as a switch
    to it would need; the messages name the recipe's field."""
    problems: list[InspectorError] = []
    for index, recipe in enumerate(config.recipes):
        merged = recipe_config(config, recipe.number)
        found = _calibration_problems(merged) or _model_problems(merged)
        for problem in found:
            problems.append(type(problem)(f"recipes.{index} ({recipe.name}): {problem}"))
    return problems


def _camera_problems(config: StationConfig, with_profile: bool) -> list[InspectorError]:
    """Open a recorded source, check the ROIs against its first frame, close it. A live
    camera is not opened: a running station may hold it."""
    from inspector.calibrate.profile import station_profile
    from inspector.camera.base import open_source, source_class
    from inspector.factory import check_calibration, check_rois

    try:
        if source_class(config.camera.kind).live:
            return []
        with open_source(config.camera) as source:
            shape = source.frame_shape
    except DataError as exc:
        return [DataError(f"camera.path: {exc}")]
    except InspectorError as exc:
        return [exc]
    try:
        check_rois(config, shape)
        if with_profile:
            check_calibration(station_profile(config.calibration), config, shape)
    except InspectorError as exc:
        return [exc]
    return []
