"""Export a defect-map checkpoint to ONNX with the metadata the runtime reads, and its card.

The graph takes the runtime's letterbox tensor as it is (1, 3, S, S, RGB 0..1, grey
padding) and gives per-cell defect probabilities (1, 1, S/16, S/16): the ImageNet
normalisation and the sigmoid are inside it, so every backend, and any other program
that letterboxes the way Ultralytics does, feeds it the same input as a YOLO model.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inspector.detect.base import file_sha256
from inspector.errors import ModelError, OutputExistsError
from inspector.modelcard import ModelCard, card_path_for, save_card
from inspector.train.defectmap import (
    BACKBONES,
    IMAGENET_MEAN,
    IMAGENET_STD,
    STRIDE,
    DefectMapConfig,
    load_weights,
)
from inspector.train.onnxgraph import OPSET, add_metadata, export_graph
from inspector.versions import runtime_versions

try:
    import torch
except ImportError:  # pragma: no cover - defectmap above already says so
    raise

__all__ = ["DEFECT_MAP_KIND", "OPSET", "defectmap_metadata", "export_defectmap"]

DEFECT_MAP_KIND = "defect-map"
OUTPUT_NAME = "defect_map"


def defectmap_metadata(config: DefectMapConfig) -> dict[str, str]:
    """The ONNX metadata props: what `inspector.detect` needs to run the model."""
    normalization = {
        "in_graph": True,
        "input": "RGB, 0..1 (pixel / 255), letterboxed with grey (114) padding",
        "grey": "a grey frame is replicated to the three channels",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
    }
    return {
        "kind": DEFECT_MAP_KIND,
        "task": DEFECT_MAP_KIND,
        "imgsz": json.dumps([config.imgsz, config.imgsz]),
        "stride": str(STRIDE),
        "channels": "3",
        "names": json.dumps(dict(enumerate(config.names))),
        "output": "per-cell defect probability (1, 1, H/stride, W/stride), sigmoid applied",
        "normalization": json.dumps(normalization),
        "backbone": config.backbone,
        "author": "inspector",
    }


def _export_graph(model: torch.nn.Module, imgsz: int, target: Path) -> None:
    export_graph(torch.nn.Sequential(model, torch.nn.Sigmoid()), imgsz, target, OUTPUT_NAME)


def export_defectmap(
    weights: Path, output: Path | None = None, force: bool = False, notes: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """weights (best.pt / last.pt) -> ONNX beside them (or `output`) and its card."""
    weights = Path(weights)
    target = Path(output) if output else weights.with_suffix(".onnx")
    if (target.exists() or card_path_for(target).exists()) and not force:
        raise OutputExistsError(f"{target}: already exists (use --force)")
    model, config, ckpt = load_weights(weights)
    try:
        _export_graph(model, config.imgsz, target)
    except Exception as exc:  # the exporter raises many types
        raise ModelError(f"{weights}: ONNX export failed ({exc})") from None
    add_metadata(target, defectmap_metadata(config))
    card = build_card(weights, target, config, ckpt, notes)
    return target, save_card(card, target)


def build_card(
    weights: Path,
    target: Path,
    config: DefectMapConfig,
    ckpt: dict[str, Any],
    notes: tuple[str, ...],
) -> ModelCard:
    backbone = BACKBONES[config.backbone]
    history = list(ckpt.get("history") or [])
    training: dict[str, Any] = {
        "kind": DEFECT_MAP_KIND,
        "epochs": config.epochs,
        "epoch": ckpt.get("epoch"),
        "imgsz": config.imgsz,
        "batch": f"{config.batch_defective} defective + {config.batch_good} good",
        "optimizer": f"AdamW, one-cycle to lr {config.lr}, weight decay {config.weight_decay}",
        "loss": f"BCE on the map vs max-pooled masks (pos weight {config.pos_weight}) "
        "+ BCE on the map's max vs the image label",
        "augmentation": "flips, 90-degree rotations, brightness jitter",
        "seed": config.seed,
        "seconds": round(sum(float(r.get("seconds", 0.0)) for r in history), 1),
        "machines": list(ckpt.get("machines") or ["not recorded in the weights"]),
    }
    metrics: dict[str, Any] = {}
    if ckpt.get("val_auroc") is not None:
        metrics["torch_val"] = {"image_auroc": ckpt["val_auroc"]}
    return ModelCard(
        name=target.stem,
        model_file=target.name,
        model_sha256=file_sha256(target),
        format="onnx",
        task=DEFECT_MAP_KIND,
        classes=list(config.names),
        imgsz=[config.imgsz, config.imgsz],
        source_weights=str(weights),
        source_weights_sha256=file_sha256(weights),
        architecture=f"{config.backbone} to stride {STRIDE} + 1x1 conv defect map",
        pretrained={
            "backbone": backbone.name,
            "package": backbone.package,
            "file": backbone.weights_file,
            "licence": backbone.licence,
            "origin": backbone.origin,
            "used": str(config.pretrained).lower(),
        },
        dataset={
            "data": config.data,
            "val_fraction": config.val_fraction,
            "seed": config.seed,
            "excluded_images": len(config.exclude),
        },
        training=training,
        metrics=metrics,
        runtime_versions=runtime_versions(),
        notes=list(notes),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
