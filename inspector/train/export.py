"""`inspector export`: weights -> ONNX, OpenVINO IR or a TensorRT engine, plus a model card."""

from __future__ import annotations

import importlib
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inspector.detect.base import file_sha256
from inspector.errors import InspectorError, ModelError, OutputExistsError
from inspector.modelcard import ModelCard, card_path_for, save_card
from inspector.train.offline import import_ultralytics
from inspector.versions import runtime_versions

__all__ = [
    "FORMATS",
    "ExportRequest",
    "checkpoint_kind",
    "export_model",
    "is_defectmap_weights",
]

# format -> how Ultralytics names the output beside the weights
FORMATS: dict[str, str] = {"onnx": ".onnx", "openvino": "_openvino_model", "engine": ".engine"}
VERSIONED_PACKAGES = (
    "ultralytics",
    "torch",
    "onnx",
    "onnxruntime",
    "onnxslim",
    "openvino",
    "tensorrt",
)


@dataclass(frozen=True)
class ExportRequest:
    weights: Path
    format: str = "onnx"
    imgsz: int | None = None
    half: bool = False
    int8: bool = False
    calib_data: Path | None = None
    end2end: bool = False  # the NMS-free head (YOLO26, YOLOv10): output (1, N, 6)
    force: bool = False
    notes: tuple[str, ...] = ()  # for the card: what the weights alone do not say


def output_path(weights: Path, fmt: str) -> Path:
    return weights.with_name(weights.stem + FORMATS[fmt])


def _check_request(request: ExportRequest) -> Path:
    if request.format not in FORMATS:
        raise InspectorError(f"unknown export format '{request.format}' (onnx, openvino, engine)")
    if not request.weights.is_file():
        raise ModelError(f"{request.weights}: weights file not found")
    if request.int8 and request.calib_data is None:
        raise InspectorError("--int8 needs --calib-data DATA.yaml for calibration images")
    if request.format == "engine":
        _require_tensorrt()
    target = output_path(request.weights, request.format)
    if (target.exists() or card_path_for(target).exists()) and not request.force:
        raise OutputExistsError(f"{target}: already exists (use --force)")
    return target


def _require_tensorrt() -> None:
    try:
        importlib.import_module("tensorrt")
    except ImportError:
        raise InspectorError(
            "--format engine needs TensorRT and an NVIDIA GPU: install the 'tensorrt' extra on "
            "the target (e.g. a Jetson) and build the engine there; see deploy/jetson/README.md"
        ) from None


def export_model(request: ExportRequest) -> tuple[Path, Path]:
    """Export and write the card; returns (model path, card path)."""
    kind = checkpoint_kind(request.weights)
    if kind is not None:
        return _export_own(request, kind)
    target = _check_request(request)
    if target.is_dir():
        shutil.rmtree(target)
    ultralytics = import_ultralytics()
    try:
        model = ultralytics.YOLO(str(request.weights))
    except Exception as exc:  # torch.load raises many types for a corrupt file
        raise ModelError(f"{request.weights}: not loadable weights ({exc})") from None
    args: dict[str, Any] = {"format": request.format, "half": request.half, "device": "cpu"}
    if request.imgsz:
        args["imgsz"] = request.imgsz
    if request.int8:
        args.update(int8=True, data=str(request.calib_data))
    if request.end2end:
        args["nms"] = False  # Ultralytics 8.4: nms=False selects the one-to-one head
    if request.format == "engine":
        args["device"] = 0
    produced = Path(model.export(**args))
    if produced.resolve() != target.resolve():
        target = produced
    card = build_card(request, model, target)
    return target, save_card(card, target)


def checkpoint_kind(weights: Path) -> str | None:
    """'defect-map' or 'fcos' for a checkpoint of inspector's own trainers (its run
    config names a backbone), None for anything else (Ultralytics weights)."""
    if not weights.is_file():
        return None
    import torch

    try:
        ckpt = torch.load(weights, map_location="cpu", weights_only=False)
    except Exception:  # not ours to judge here: Ultralytics says what is wrong with it
        return None
    if not isinstance(ckpt, dict) or "backbone" not in (ckpt.get("config") or {}):
        return None
    return "fcos" if ckpt.get("kind") == "fcos" else "defect-map"


def is_defectmap_weights(weights: Path) -> bool:
    """Whether `weights` is an `inspector train --kind defect-map` checkpoint."""
    return checkpoint_kind(weights) == "defect-map"


def _export_own(request: ExportRequest, kind: str) -> tuple[Path, Path]:
    if request.format != "onnx" or request.half or request.int8 or request.end2end:
        raise InspectorError(
            f"a {kind} model exports to plain ONNX only (OpenVINO reads the .onnx directly)"
        )
    if request.imgsz is not None:
        raise InspectorError(f"a {kind} model exports at its training size; drop --imgsz")
    if kind == "fcos":
        from inspector.train.fcos_export import export_fcos

        return export_fcos(request.weights, force=request.force, notes=request.notes)
    from inspector.train.defectmap_export import export_defectmap

    return export_defectmap(request.weights, force=request.force, notes=request.notes)


def build_card(request: ExportRequest, model: Any, target: Path) -> ModelCard:
    ckpt = getattr(model, "ckpt", None) or {}
    train_args = dict(ckpt.get("train_args") or {})
    imgsz = request.imgsz or train_args.get("imgsz") or 640
    metrics = {}
    if ckpt.get("train_metrics"):
        metrics["ultralytics_val"] = {
            k: round(float(v), 5) for k, v in ckpt["train_metrics"].items()
        }
    return ModelCard(
        name=target.stem.removesuffix("_openvino_model"),
        model_file=target.name,
        model_sha256=file_sha256(target) if target.is_file() else None,
        format=request.format,
        classes=[str(n) for n in model.names.values()],
        imgsz=[int(imgsz), int(imgsz)] if isinstance(imgsz, int) else [int(i) for i in imgsz],
        half=request.half,
        int8=request.int8,
        source_weights=str(request.weights),
        source_weights_sha256=file_sha256(request.weights),
        architecture=str(train_args.get("model")) if train_args.get("model") else None,
        dataset={"data": str(train_args.get("data"))} if train_args.get("data") else {},
        training=_training_summary(train_args, ckpt),
        metrics=metrics,
        runtime_versions=runtime_versions(),
        notes=list(request.notes),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _training_summary(train_args: dict[str, Any], ckpt: dict[str, Any]) -> dict[str, Any]:
    summary = {
        k: train_args[k]
        for k in ("model", "epochs", "imgsz", "batch", "seed", "time", "pretrained")
        if train_args.get(k) is not None
    }
    epoch = ckpt.get("epoch")
    if isinstance(epoch, int) and epoch >= 0:  # a finished run's stripped best.pt says -1
        summary["epoch"] = epoch
    return summary
