"""Export an fcos checkpoint to ONNX that the runtime runs as an Ultralytics detector.

The graph takes the runtime's letterbox tensor as it is (1, 3, S, S, RGB 0..1, grey
padding), normalises it inside, and decodes the FCOS head inside with the fixed anchors
of that size into the Ultralytics raw layout (1, 4 + nc, N): cx, cy, w, h in input
pixels, then per-class scores sqrt(sigmoid(class) * sigmoid(centre-ness)). The runtime's
`YoloDecoder` (kind `detect`) does NMS and un-letterboxing unchanged.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from inspector.detect.base import file_sha256
from inspector.errors import ModelError, OutputExistsError
from inspector.modelcard import ModelCard, card_path_for, save_card
from inspector.train.defectmap import BACKBONES, IMAGENET_MEAN, IMAGENET_STD
from inspector.train.fcos import (
    FCOS_KIND,
    LITE0_TAPS,
    MAX_STRIDE,
    STRIDES,
    FcosConfig,
    FcosRaw,
    load_weights,
)
from inspector.train.onnxgraph import OPSET, add_metadata, export_graph
from inspector.versions import runtime_versions

__all__ = ["DETECT_KIND", "OPSET", "export_fcos", "fcos_metadata"]

DETECT_KIND = "detect"  # what the runtime sees: an Ultralytics-layout detector
OUTPUT_NAME = "output0"  # Ultralytics' name for the raw head


def fcos_metadata(config: FcosConfig) -> dict[str, str]:
    """The ONNX metadata props, the keys an Ultralytics export writes and the runtime
    reads (kind/task, names, imgsz, stride, channels), plus how the input is normalised."""
    normalization = {
        "in_graph": True,
        "input": "RGB, 0..1 (pixel / 255), letterboxed with grey (114) padding",
        "grey": "a grey frame is replicated to the three channels",
        "mean": list(IMAGENET_MEAN),
        "std": list(IMAGENET_STD),
    }
    return {
        "kind": DETECT_KIND,
        "task": DETECT_KIND,
        "imgsz": json.dumps([config.imgsz, config.imgsz]),
        "stride": str(MAX_STRIDE),
        "channels": "3",
        "batch": "1",
        "names": json.dumps(dict(enumerate(config.names))),
        "output": "raw (1, 4+nc, N): cx, cy, w, h in input pixels, then per-class "
        "sqrt(sigmoid(class) * sigmoid(centre-ness)); needs NMS",
        "normalization": json.dumps(normalization),
        "architecture": architecture(config),
        "backbone": config.backbone,
        "trainer": FCOS_KIND,
        "author": "inspector",
    }


def architecture(config: FcosConfig) -> str:
    levels = "-".join(f"P{s.bit_length() - 1}" for s in (STRIDES[0], STRIDES[-1]))
    return (
        f"torchvision FCOS: {config.backbone} (blocks {list(LITE0_TAPS)}, strides "
        f"{list(STRIDES)}) + FPN {levels} x {config.fpn_channels} + head of "
        f"{config.head_convs} conv(s) a branch; stem and first {config.freeze_blocks} "
        "blocks frozen"
    )


def export_fcos(
    weights: Path, output: Path | None = None, force: bool = False, notes: tuple[str, ...] = ()
) -> tuple[Path, Path]:
    """weights (best.pt / last.pt) -> ONNX beside them (or `output`) and its card."""
    weights = Path(weights)
    target = Path(output) if output else weights.with_suffix(".onnx")
    if (target.exists() or card_path_for(target).exists()) and not force:
        raise OutputExistsError(f"{target}: already exists (use --force)")
    model, config, ckpt = load_weights(weights)
    try:
        export_graph(FcosRaw(model, config.imgsz), config.imgsz, target, OUTPUT_NAME)
    except Exception as exc:  # the exporter raises many types
        raise ModelError(f"{weights}: ONNX export failed ({exc})") from None
    add_metadata(target, fcos_metadata(config))
    card = build_card(weights, target, config, ckpt, notes)
    return target, save_card(card, target)


def build_card(
    weights: Path,
    target: Path,
    config: FcosConfig,
    ckpt: dict[str, Any],
    notes: tuple[str, ...],
) -> ModelCard:
    backbone = BACKBONES[config.backbone]
    history = list(ckpt.get("history") or [])
    training: dict[str, Any] = {
        "kind": FCOS_KIND,
        "epochs": config.epochs,
        "epoch": ckpt.get("epoch"),
        "imgsz": config.imgsz,
        "batch": config.batch,
        "optimizer": f"AdamW, one-cycle to lr {config.lr}, weight decay {config.weight_decay}",
        "loss": "torchvision FCOS: sigmoid focal (classes) + GIoU (boxes) + BCE (centre-ness)",
        "augmentation": "horizontal and vertical flips"
        + (", 90-degree turns" if config.rot90 else "")
        + ", brightness/contrast jitter",
        "seed": config.seed,
        "seconds": round(sum(float(r.get("seconds", 0.0)) for r in history), 1),
        "machines": list(ckpt.get("machines") or ["not recorded in the weights"]),
    }
    metrics: dict[str, Any] = {}
    val = ckpt.get("val") or {}
    if val:
        metrics["torch_val"] = {
            "map50": val.get("val_map50"),
            "map50_95": val.get("val_map50_95"),
            "ap50": val.get("val_ap50"),
            "how": "the exported graph's output, the runtime's YoloDecoder (conf 0.001, "
            "iou 0.7), inspector.evaluate.metrics: what `inspector eval` reports",
        }
    return ModelCard(
        name=target.stem,
        model_file=target.name,
        model_sha256=file_sha256(target),
        format="onnx",
        task=DETECT_KIND,
        classes=list(config.names),
        imgsz=[config.imgsz, config.imgsz],
        source_weights=str(weights),
        source_weights_sha256=file_sha256(weights),
        architecture=architecture(config),
        pretrained={
            "backbone": backbone.name,
            "package": backbone.package,
            "file": backbone.weights_file,
            "licence": backbone.licence,
            "origin": backbone.origin,
            "used": str(config.pretrained).lower(),
        },
        dataset={"data": config.data, "train": "train split", "val": "val split"},
        training=training,
        metrics=metrics,
        runtime_versions=runtime_versions(),
        notes=list(notes),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
