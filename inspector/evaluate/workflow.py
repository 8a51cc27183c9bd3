"""`inspector eval`: load, score, pick or apply the pass/fail threshold, update the card."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inspector.data.yolo import load_dataset
from inspector.detect.base import DecodeParams, ModelOverrides, open_detector
from inspector.detect.defectmap import DEFECT_MAP_KIND
from inspector.errors import InspectorError
from inspector.evaluate.bootstrap import Bootstrap, paired_difference, percentile_intervals
from inspector.evaluate.passfail import (
    OperatingPoint,
    choose_threshold,
    cross_validate_threshold,
    operating_point,
)
from inspector.evaluate.runner import EvalReport, evaluate
from inspector.modelcard import PassFail, load_card, save_card

__all__ = ["EVAL_PARAMS", "EvalOptions", "run_eval"]

# What Ultralytics' validator uses: every box above 0.001 counts towards the PR curve.
EVAL_PARAMS = DecodeParams(conf=0.001, iou=0.7, max_det=300)


@dataclass(frozen=True)
class EvalOptions:
    model: Path
    data: Path
    split: str = "val"
    backend: str = "onnxruntime"
    pass_fail: bool = False
    threshold: float | None = None
    max_escape: float | None = None
    save_card: bool = False
    threads: int | None = None
    names: tuple[str, ...] | None = None
    imgsz: int | None = None
    stride: int | None = None
    cv_folds: int = 0  # with max_escape: cross-validate the threshold rule
    bootstrap: int = 0  # resamples of the images for 95% intervals of mAP (0: none)
    seed: int = 0  # of the bootstrap's draws
    compare: Path | None = None  # another model scored on the same images, paired


def run_eval(
    options: EvalOptions,
    on_total: Callable[[int], None] | None = None,
    on_image: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Evaluate and return the JSON document `inspector eval --json` prints."""
    spec = load_dataset(options.data)
    card = load_card(options.model)
    boot = Bootstrap(options.bootstrap, options.seed) if options.bootstrap else None
    overrides = ModelOverrides(options.names, options.imgsz, options.stride)
    with ExitStack() as stack:
        detector = stack.enter_context(
            open_detector(options.model, options.backend, EVAL_PARAMS, overrides, options.threads)
        )
        other = None
        if options.compare is not None:
            other = stack.enter_context(
                open_detector(
                    options.compare,
                    options.backend,
                    EVAL_PARAMS,
                    ModelOverrides(options.names, None, None),
                    options.threads,
                )
            )
            if tuple(other.info.names) != tuple(detector.info.names):
                raise InspectorError(
                    f"--compare {options.compare}: classes {list(other.info.names)} differ "
                    f"from {options.model}'s {list(detector.info.names)}"
                )
        kinds = {detector.info.kind, other.info.kind if other else None}
        if (boot or other) and DEFECT_MAP_KIND in kinds:
            raise InspectorError("--bootstrap and --compare score boxes; a defect map has none")
        if on_total:
            on_total(len(spec.images(options.split)) * (2 if other else 1))
        report = evaluate(detector, spec, options.split, on_image)
        other_report = evaluate(other, spec, options.split, on_image) if other else None
    point = _operating_point(options, report, card) if options.pass_fail else None
    doc = report.as_json(point)
    if boot is not None or other_report is not None:
        doc |= _resampled(report, other_report, boot)
    cv = None
    if options.cv_folds:
        if options.max_escape is None:
            raise InspectorError("--cv-folds cross-validates --max-escape: give both")
        cv = cross_validate_threshold(
            report.part_score, report.defective, options.max_escape, options.cv_folds
        )
        doc["cross_validation"] = cv
    if options.save_card:
        _record(options, report, point, cv)
    return doc


def _resampled(
    report: EvalReport, other: EvalReport | None, boot: Bootstrap | None
) -> dict[str, Any]:
    """The bootstrap's intervals and, with another model, its figures and the paired
    difference (this model minus the other) on the same draws of images."""
    doc: dict[str, Any] = {}
    samples = other_samples = None
    if boot is not None:
        draws = boot.draws(report.images)
        samples = boot.metrics(report.matches, draws)
        doc["intervals"] = percentile_intervals(samples)
        doc["bootstrap"] = boot.as_json()
        if other is not None:
            other_samples = boot.metrics(other.matches, draws)
    if other is not None:
        doc["compare"] = other.as_json()
        if other_samples is not None:
            doc["compare"]["intervals"] = percentile_intervals(other_samples)
        doc["difference"] = paired_difference(report.metrics, other.metrics, samples, other_samples)
    return doc


def _operating_point(options: EvalOptions, report: EvalReport, card) -> OperatingPoint:
    if options.max_escape is not None:
        return choose_threshold(report.part_score, report.defective, options.max_escape)
    threshold = options.threshold
    if threshold is None and card is not None and card.pass_fail is not None:
        threshold = card.pass_fail.threshold
    if threshold is None:
        raise InspectorError(
            f"{options.model}: no pass/fail threshold in its model card; "
            "give --threshold or --max-escape"
        )
    return operating_point(report.part_score, report.defective, threshold)


def _record(
    options: EvalOptions,
    report: EvalReport,
    point: OperatingPoint | None,
    cv: dict[str, object] | None,
) -> None:
    card = load_card(options.model)
    if card is None:
        raise InspectorError(f"{options.model}: no model card to update (export writes one)")
    card.metrics[f"deployed_{report.backend}"] = {"data": str(options.data), **report.summary()}
    if point is not None:
        card.pass_fail = PassFail(
            threshold=point.threshold,  # unrounded: rounding could cross a part score
            escape_rate=round(point.escape_rate, 5),
            false_reject_rate=round(point.false_reject_rate, 5),
            escape_rate_ci95=[round(v, 4) for v in point.escape_ci95],
            false_reject_rate_ci95=[round(v, 4) for v in point.false_reject_ci95],
            max_escape=options.max_escape,
            data=str(options.data),
            split=report.split,
            images=report.images,
            cross_validation=cv,
        )
    save_card(card, options.model)
