"""`inspector export --format openvino --int8`: post-training INT8 with NNCF, behind an
accuracy gate measured by our own `eval`.

From an ONNX model (no torch, no Ultralytics: what a station's machine has), NNCF
collects activation statistics on calibration images (the data's train split, each
letterboxed as the station does), the INT8 IR is written beside the model with the
metadata the OpenVINO backend reads, then FP32 and INT8 are scored on the val split.
The export is refused (removed again) unless --force when the headline metric drops by
more than `max_drop` (mAP50 for a detector, part AUROC for a defect map) or the escape
rate at the card's pass/fail threshold rises. The INT8 card records both evaluations.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from inspector.data.yolo import load_dataset
from inspector.detect.base import ModelInfo, ModelOverrides, file_sha256, open_detector
from inspector.detect.config import OpenVinoConfig
from inspector.detect.defectmap import DEFECT_MAP_KIND
from inspector.detect.onnxmeta import read_onnx_metadata
from inspector.detect.precision import BF16_GATE
from inspector.errors import DataError, InspectorError, ModelError, OutputExistsError
from inspector.evaluate.passfail import operating_point
from inspector.evaluate.runner import EvalReport, evaluate
from inspector.evaluate.workflow import EVAL_PARAMS
from inspector.modelcard import ModelCard, load_card, save_card
from inspector.vision.letterbox import Letterbox

__all__ = [
    "GateResult",
    "Int8Request",
    "check_bf16",
    "judge_gate",
    "quantize_openvino",
    "record_bf16_gate",
]

log = logging.getLogger(__name__)

# FP32 reference: the ONNX model through OpenVINO at f32, the precision the card's
# figures were measured at
FP32 = OpenVinoConfig(kind="openvino", precision="f32")


@dataclass(frozen=True)
class Int8Request:
    model: Path  # the ONNX model
    calib_data: Path | None  # data.yaml: calibration on `calib_split`, the gate on `val`
    max_drop: float = 0.02
    calib_split: str = "train"
    subset: int = 300  # calibration images at most
    force: bool = False


@dataclass(frozen=True)
class GateResult:
    """A lower precision (candidate) against f32 (reference) on the same val images."""

    metric: str  # map50 or part_auroc
    fp32: float
    candidate: float
    escape_fp32: float | None  # at the card's threshold; None without one
    escape_candidate: float | None
    reasons: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        return not self.reasons


def judge_gate(
    metric: str,
    fp32: float,
    candidate: float,
    escapes: tuple[float, float] | None,
    max_drop: float,
) -> GateResult:
    """Whether a lower precision (INT8, bf16) may replace FP32: the metric drops by at
    most `max_drop` and the escape rate (fp32, candidate) at the card's threshold does
    not rise."""
    reasons = []
    if fp32 - candidate > max_drop + 1e-9:  # exactly max_drop passes, float noise aside
        reasons.append(f"{metric} drops {fp32:.4f} -> {candidate:.4f} (more than {max_drop:g})")
    if escapes is not None and escapes[1] > escapes[0]:
        reasons.append(f"escape rate rises {escapes[0]:.4f} -> {escapes[1]:.4f}")
    fp32_escape, candidate_escape = escapes if escapes is not None else (None, None)
    return GateResult(metric, fp32, candidate, fp32_escape, candidate_escape, tuple(reasons))


def check_bf16(model: Path, data: Path, max_drop: float = 0.02) -> GateResult:
    """The ONNX model through OpenVINO at f32 and at bf16 on the data's val split, judged
    by the INT8 gate (the card's threshold, where it has one, for the escape rate)."""
    if model.suffix.lower() != ".onnx" or not model.is_file():
        raise ModelError(f"{model}: --check-bf16 takes an ONNX model file")
    spec = load_dataset(data)
    if "val" not in spec.splits or not spec.images("val"):
        raise DataError(f"{data}: no 'val' images to check bf16 against f32")
    fp32 = _score(model, FP32, data)
    bf16 = _score(model, OpenVinoConfig(kind="openvino", precision="bf16"), data)
    return _gate(fp32, bf16, load_card(model), max_drop)


def record_bf16_gate(model: Path, data: Path, gate: GateResult, max_drop: float) -> Path:
    """Write the check into the model's card, where `backend: auto` reads it
    (`inspector.detect.precision`); tied to this model file by its sha256."""
    card = load_card(model)
    if card is None:
        raise ModelError(f"{model}: no model card to record the bf16 check in")
    record = {
        "metric": gate.metric,
        "f32": round(gate.fp32, 5),
        "bf16": round(gate.candidate, 5),
        "max_drop": max_drop,
        "escape_rate_f32": gate.escape_fp32,
        "escape_rate_bf16": gate.escape_candidate,
        "passed": gate.passed,
        "reasons": list(gate.reasons),
        "data": f"{data} (val)",
        "model_sha256": file_sha256(model),
    }
    updated = card.model_copy(update={"metrics": {**card.metrics, BF16_GATE: record}})
    return save_card(updated, model)


def int8_output(model: Path) -> Path:
    """Where the INT8 IR goes: a folder beside the model, as Ultralytics names exports."""
    return model.with_name(f"{model.stem}_int8_openvino_model")


def quantize_openvino(request: Int8Request) -> tuple[Path, GateResult]:
    """Quantize, write the IR and its card, evaluate both, apply the gate; returns the
    IR's .xml and the gate's figures. Raises ModelError when the gate refuses."""
    calibration, val_data = _check(request)
    target = int8_output(request.model)
    if target.exists() and not request.force:
        raise OutputExistsError(f"{target}: already exists (use --force)")
    metadata = read_onnx_metadata(request.model)
    info = ModelInfo.from_metadata(request.model, "", metadata, ModelOverrides())
    log.info("INT8: calibrating on %d images of %s", len(calibration), request.calib_data)
    xml = _quantize(request, calibration, info, target, metadata)
    fp32 = _score(request.model, FP32, val_data)
    int8 = _score(xml, OpenVinoConfig(kind="openvino"), val_data)
    card = load_card(request.model)
    gate = _gate(fp32, int8, card, request.max_drop)
    if not gate.passed and not request.force:
        shutil.rmtree(target)
        raise ModelError(
            f"{request.model}: INT8 refused: {'; '.join(gate.reasons)} (--force keeps it)"
        )
    save_card(_int8_card(card, request, xml, info, fp32, int8, gate), xml)
    return xml, gate


def _check(request: Int8Request) -> tuple[list[Path], Path]:
    if request.calib_data is None:
        raise InspectorError("--int8 needs --calib-data DATA.yaml for calibration images")
    if request.model.suffix.lower() != ".onnx":
        raise ModelError(f"{request.model}: INT8 quantizes an ONNX model (.onnx)")
    if not request.model.is_file():
        raise ModelError(f"{request.model}: model file not found")
    spec = load_dataset(request.calib_data)
    images = spec.images(request.calib_split) if request.calib_split in spec.splits else []
    if not images:
        raise DataError(
            f"{request.calib_data}: calibration split '{request.calib_split}' has no images"
        )
    if "val" not in spec.splits or not spec.images("val"):
        raise DataError(f"{request.calib_data}: no 'val' images to check INT8 against FP32")
    step = max(len(images) // request.subset, 1)  # spread over the split, not its head
    return images[::step][: request.subset], request.calib_data


def _quantize(
    request: Int8Request,
    images: list[Path],
    info: ModelInfo,
    target: Path,
    metadata: dict[str, str],
) -> Path:
    try:
        import nncf  # type: ignore[import-untyped]
        import openvino as ov
    except ImportError:
        raise InspectorError(
            "--int8 needs the 'int8' extra (nncf, openvino): pip install 'inspector[int8]'"
        ) from None
    letterbox = Letterbox(info.input_hw, info.channels)

    def tensor(path: Path) -> np.ndarray:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise DataError(f"{path}: cannot be read as an image")
        return letterbox(frame)[0].copy()  # NNCF may keep it; the letterbox reuses its own

    model = ov.Core().read_model(str(request.model))
    quantized = nncf.quantize(
        model,
        nncf.Dataset(images, tensor),
        subset_size=len(images),
        # the scores' sigmoid and the box decoding stay in float: INT8 there costs accuracy
        # and saves nothing
        ignored_scope=nncf.IgnoredScope(types=["Sigmoid"], validate=False),
    )
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    xml = target / f"{request.model.stem}.xml"
    ov.save_model(quantized, str(xml), compress_to_fp16=False)
    (target / "metadata.yaml").write_text(yaml.safe_dump(dict(metadata), sort_keys=False))
    return xml


def _score(model: Path, options: OpenVinoConfig, data: Path) -> EvalReport:
    with open_detector(model, options, EVAL_PARAMS) as detector:
        return evaluate(detector, load_dataset(data), "val")


def _headline(report: EvalReport) -> tuple[str, float]:
    if report.kind == DEFECT_MAP_KIND:
        return "part_auroc", report.part_auroc
    return "map50", report.metrics["map50"]


def _gate(
    fp32: EvalReport, int8: EvalReport, card: ModelCard | None, max_drop: float
) -> GateResult:
    metric, before = _headline(fp32)
    _, after = _headline(int8)
    escapes = None
    if card is not None and card.pass_fail is not None:
        threshold = card.pass_fail.threshold
        escapes = (
            operating_point(fp32.part_score, fp32.defective, threshold).escape_rate,
            operating_point(int8.part_score, int8.defective, threshold).escape_rate,
        )
    return judge_gate(metric, before, after, escapes, max_drop)


def _int8_card(
    card: ModelCard | None,
    request: Int8Request,
    xml: Path,
    info: ModelInfo,
    fp32: EvalReport,
    int8: EvalReport,
    gate: GateResult,
) -> ModelCard:
    figures: dict[str, Any] = {
        "deployed_openvino_fp32": fp32.summary(),
        "deployed_openvino_int8": int8.summary(),
        "int8_gate": {
            "metric": gate.metric,
            "fp32": round(gate.fp32, 5),
            "int8": round(gate.candidate, 5),
            "max_drop": request.max_drop,
            "escape_rate_fp32": gate.escape_fp32,
            "escape_rate_int8": gate.escape_candidate,
            "passed": gate.passed,
            "forced": not gate.passed,
            "calibration": f"{request.calib_data} ({request.calib_split})",
        },
    }
    base: dict[str, Any] = (
        card.model_dump()
        if card is not None
        else {
            "name": request.model.stem,
            "classes": list(info.names),
            "imgsz": list(info.input_hw),
            "task": info.kind,
            "source_weights": request.model.name,
            "source_weights_sha256": file_sha256(request.model),
            "created": "",
        }
    )
    base |= {
        "model_file": xml.parent.name,
        "model_sha256": file_sha256(xml.with_suffix(".bin")),
        "format": "openvino",
        "int8": True,
        "metrics": {**base.get("metrics", {}), **figures},
    }
    return ModelCard.model_validate(base)
