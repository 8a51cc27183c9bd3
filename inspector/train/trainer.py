"""`inspector train`: Ultralytics training from an architecture YAML, offline, resumable."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inspector.errors import DataError, InspectorError, OutputExistsError
from inspector.train.offline import import_ultralytics

__all__ = ["TrainRequest", "resume_training", "run_training"]


@dataclass(frozen=True)
class TrainRequest:
    """Everything one training run needs; `overrides` go to Ultralytics as they are."""

    data: Path
    model: str = "yolo11n.yaml"
    epochs: int = 100
    hours: float | None = None
    imgsz: int = 320
    batch: int = 16
    threads: int = 2
    project: Path = Path("runs")
    name: str = "train"
    seed: int = 0
    patience: int = 100
    force: bool = False
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.project / self.name


def _thread_callback(threads: int):
    def set_threads(trainer: Any) -> None:
        # Ultralytics pins torch to cpu_count - 1 threads (1 on a 2-core box); on CPU the
        # forward/backward pass is the bottleneck, so give it every core we were told to.
        import torch

        torch.set_num_threads(threads)

    return set_threads


def run_training(request: TrainRequest) -> Path:
    """Train from scratch (architecture YAML) or from weights; returns the run folder."""
    if not request.data.is_file():
        raise DataError(f"{request.data}: dataset file not found")
    run_dir = request.run_dir.resolve()
    if run_dir.exists():
        if not request.force:
            raise OutputExistsError(f"{run_dir}: run folder exists (use --force or --resume)")
        shutil.rmtree(run_dir)
    ultralytics = import_ultralytics()
    model = ultralytics.YOLO(request.model)
    model.add_callback("on_train_start", _thread_callback(request.threads))
    args: dict[str, Any] = {
        "data": str(request.data.resolve()),
        "epochs": request.epochs,
        "imgsz": request.imgsz,
        "batch": request.batch,
        "project": str(run_dir.parent),
        "name": run_dir.name,
        "exist_ok": False,
        "seed": request.seed,
        "patience": request.patience,
        "device": "cpu",
        "workers": 0,
        "plots": False,  # plots fetch a font from the network
        "amp": False,  # the AMP check downloads weights; CPU training does not use AMP
        "pretrained": request.model.endswith(".pt"),
    }
    if request.hours:
        args["time"] = request.hours
    args.update(request.overrides)
    model.train(**args)
    return run_dir


def resume_training(run_dir: Path, threads: int = 2) -> Path:
    """Continue an interrupted run from its last.pt, with its original arguments."""
    last = Path(run_dir) / "weights" / "last.pt"
    if not last.is_file():
        raise InspectorError(f"{last}: no checkpoint to resume from")
    ultralytics = import_ultralytics()
    model = ultralytics.YOLO(str(last))
    model.add_callback("on_train_start", _thread_callback(threads))
    model.train(resume=True)
    return Path(run_dir)
