"""What every command module shares: the consoles, JSON output, progress, logging."""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

__all__ = [
    "BackendOption",
    "JsonLogFormatter",
    "console",
    "err_console",
    "print_json",
    "progress_bar",
    "quiet_libraries",
    "setup_logging",
]

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

# `--backend` of eval and bench: a backend's name, or its options as YAML
BackendOption = Annotated[
    str,
    typer.Option(
        help="onnxruntime, openvino, tensorrt, auto, or options as YAML: "
        "'{kind: openvino, precision: bf16}'."
    ),
]


def progress_bar(disable: bool = False) -> Progress:
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=disable,
        transient=True,
    )


def print_json(doc: object) -> None:
    sys.stdout.write(json.dumps(doc) + "\n")
    sys.stdout.flush()


class JsonLogFormatter(logging.Formatter):
    """One JSON object per log line, for journald and log shippers."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc)


def setup_logging(as_json: bool, level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonLogFormatter()
        if as_json
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    quiet_libraries()


def quiet_libraries() -> None:
    """pymodbus logs each transport event (a bind failure, a PLC that hung up) with
    hex dumps; the PLC link reports the ones that matter in one line of its own."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
