"""CLI commands of the model workflow: train, export, eval."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from inspector.cli.common import BackendOption, console, print_json, progress_bar
from inspector.errors import ConfigError

__all__ = ["eval_command", "export_command", "model_app", "train_command"]

model_app = typer.Typer()


KINDS = ("detect", "defect-map", "fcos")


@model_app.command("train")
def train_command(
    data: Annotated[
        Path,
        typer.Option(
            help="data.yaml of a YOLO dataset (fcos: trains on 'train', picks best.pt on "
            "'val'); for --kind defect-map, a folder of category sub-folders of image + mask "
            "pairs."
        ),
    ] = Path("data.yaml"),
    kind: Annotated[
        str,
        typer.Option(
            help="detect (Ultralytics, from scratch), defect-map or fcos (a box detector "
            "on a pretrained backbone)."
        ),
    ] = "detect",
    model: Annotated[str, typer.Option(help="Architecture YAML (from scratch) or .pt.")] = (
        "yolo11n.yaml"
    ),
    backbone: Annotated[
        str, typer.Option(help="defect-map and fcos: pretrained backbone.")
    ] = "efficientnet-lite0",
    epochs: Annotated[int, typer.Option(help="Epochs (ignored with --hours).")] = 100,
    hours: Annotated[
        float | None, typer.Option(help="Train for this long; the LR schedule fits it.")
    ] = None,
    imgsz: Annotated[
        int | None,
        typer.Option(help="Square training image size (detect 320, defect-map 224, fcos 256)."),
    ] = None,
    batch: Annotated[int, typer.Option(help="Batch size (defect-map: half defective).")] = 16,
    threads: Annotated[int, typer.Option(help="torch CPU threads.")] = 2,
    device: Annotated[
        str, typer.Option(help="fcos: torch device for the steps (cpu, cuda or cuda:N).")
    ] = "cpu",
    project: Annotated[Path, typer.Option(help="Folder of run folders.")] = Path("runs"),
    name: Annotated[str, typer.Option(help="Run folder name.")] = "train",
    seed: Annotated[int, typer.Option(help="Training (and defect-map split) seed.")] = 0,
    val_fraction: Annotated[
        float, typer.Option(help="defect-map: seeded per-category validation share.")
    ] = 0.2,
    exclude: Annotated[
        Path | None,
        typer.Option(
            help="defect-map: images kept out of training and validation (a CSV with a "
            "'source' column, such as the demo's parts list, or one Category/name a line)."
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue PROJECT/NAME from last.pt.")] = False,
    export: Annotated[bool, typer.Option(help="Export best.pt to ONNX at the end.")] = True,
    force: Annotated[bool, typer.Option(help="Replace an existing run folder.")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Extra Ultralytics argument KEY=VALUE (repeatable)."),
    ] = None,
) -> None:
    """Train a detector (Ultralytics, from an architecture YAML) or a defect-map model
    (pretrained backbone, image + mask pairs); export ONNX at the end."""
    if kind not in KINDS:
        raise ConfigError(f"--kind {kind}: expected one of {', '.join(KINDS)}")
    run_dir = project / name
    if kind == "fcos":
        if hours is not None or set_ or exclude is not None:
            raise ConfigError(
                "--hours, --set and --exclude are not for --kind fcos; give --epochs, and "
                "the train and val splits in the data.yaml"
            )
        _train_fcos(
            data,
            backbone,
            epochs,
            imgsz or 256,
            batch,
            threads,
            device,
            run_dir,
            seed,
            resume,
            force,
        )
        best = run_dir / "weights" / "best.pt"
        console.print(f"run folder: {run_dir}")
        if export and best.is_file():
            from inspector.train.fcos_export import export_fcos

            model_path, card = export_fcos(best, force=True)
            console.print(f"exported: {model_path}\ncard: {card}")
        return
    if kind == "defect-map":
        if hours is not None or set_:
            raise ConfigError("--hours and --set are for --kind detect; give --epochs")
        _train_defect_map(
            data,
            backbone,
            epochs,
            imgsz or 224,
            batch,
            threads,
            run_dir,
            seed,
            val_fraction,
            exclude,
            resume,
            force,
        )
        best = run_dir / "weights" / "best.pt"
        console.print(f"run folder: {run_dir}")
        if export and best.is_file():
            from inspector.train.defectmap_export import export_defectmap

            model_path, card = export_defectmap(best, force=True)
            console.print(f"exported: {model_path}\ncard: {card}")
        return
    if resume:
        from inspector.train.trainer import resume_training

        resume_training(run_dir, threads)
    else:
        from inspector.train.trainer import TrainRequest, run_training

        request = TrainRequest(
            data=data,
            model=model,
            epochs=epochs,
            hours=hours,
            imgsz=imgsz or 320,
            batch=batch,
            threads=threads,
            project=project,
            name=name,
            seed=seed,
            force=force,
            overrides=_parse_sets(set_ or []),
        )
        run_training(request)
    best = run_dir / "weights" / "best.pt"
    console.print(f"run folder: {run_dir}")
    if export and best.is_file():
        from inspector.train.export import ExportRequest, export_model

        model_path, card = export_model(ExportRequest(weights=best, format="onnx", force=force))
        console.print(f"exported: {model_path}\ncard: {card}")


def _train_defect_map(
    data: Path,
    backbone: str,
    epochs: int,
    imgsz: int,
    batch: int,
    threads: int,
    run_dir: Path,
    seed: int,
    val_fraction: float,
    exclude: Path | None,
    resume: bool,
    force: bool,
) -> None:
    from inspector.data.masks import read_image_list
    from inspector.train.defectmap import (
        DefectMapConfig,
        resume_defectmap,
        train_defectmap,
    )

    def log(line: str) -> None:
        print(line, flush=True)  # one line an epoch, readable in a nohup log

    if resume:
        resume_defectmap(run_dir, log=log)
        return
    config = DefectMapConfig(
        data=str(data),
        project=str(run_dir.parent),
        name=run_dir.name,
        backbone=backbone,
        imgsz=imgsz,
        epochs=epochs,
        batch_defective=batch // 2,
        batch_good=batch - batch // 2,
        threads=threads,
        seed=seed,
        val_fraction=val_fraction,
        exclude=read_image_list(exclude) if exclude else (),
    )
    train_defectmap(config, force=force, log=log)


def _train_fcos(
    data: Path,
    backbone: str,
    epochs: int,
    imgsz: int,
    batch: int,
    threads: int,
    device: str,
    run_dir: Path,
    seed: int,
    resume: bool,
    force: bool,
) -> None:
    from inspector.train.fcos import FcosConfig, resume_fcos, train_fcos

    def log(line: str) -> None:
        print(line, flush=True)  # one line an epoch, readable in a nohup log

    if resume:
        resume_fcos(run_dir, log=log, device=device)
        return
    config = FcosConfig(
        data=str(data),
        project=str(run_dir.parent),
        name=run_dir.name,
        backbone=backbone,
        imgsz=imgsz,
        epochs=epochs,
        batch=batch,
        threads=threads,
        seed=seed,
        device=device,
    )
    train_fcos(config, force=force, log=log)


def _parse_sets(pairs: list[str]) -> dict[str, object]:
    import yaml

    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair}: expected KEY=VALUE")
        overrides[key] = yaml.safe_load(value)
    return overrides


@model_app.command("export")
def export_command(
    weights: Annotated[
        Path,
        typer.Option(
            help="Trained .pt weights; or an .onnx model for --format openvino --int8 "
            "(NNCF, no torch needed) or --format engine (TensorRT on this GPU)."
        ),
    ],
    format: Annotated[str, typer.Option(help="onnx, openvino or engine.")] = "onnx",
    imgsz: Annotated[int | None, typer.Option(help="Input size (default: training's).")] = None,
    half: Annotated[bool, typer.Option(help="FP16 weights.")] = False,
    int8: Annotated[bool, typer.Option(help="INT8 quantisation (needs --calib-data).")] = False,
    calib_data: Annotated[Path | None, typer.Option(help="data.yaml for INT8.")] = None,
    end2end: Annotated[
        bool, typer.Option(help="NMS-free head where the model has one (YOLO26, YOLOv10).")
    ] = False,
    max_drop: Annotated[
        float,
        typer.Option(
            help="--int8 from ONNX: refuse when mAP50 (a defect map: part AUROC) drops by "
            "more than this on the val split, or the escape rate at the card's threshold rises."
        ),
    ] = 0.02,
    force: Annotated[
        bool, typer.Option(help="Replace an existing export; keep an INT8 the gate refused.")
    ] = False,
    note: Annotated[
        list[str] | None,
        typer.Option(help="A line for the card's notes, e.g. the training history (repeatable)."),
    ] = None,
) -> None:
    """Export weights for a runtime and write a model card beside the result."""
    if weights.suffix.lower() == ".onnx" and format == "engine":
        _engine_from_onnx(weights, int8, calib_data)
        return
    if weights.suffix.lower() == ".onnx":
        _quantize_onnx(weights, format, int8, calib_data, max_drop, force)
        return
    from inspector.train.export import ExportRequest, export_model

    request = ExportRequest(
        weights=weights,
        format=format,
        imgsz=imgsz,
        half=half,
        int8=int8,
        calib_data=calib_data,
        end2end=end2end,
        force=force,
        notes=tuple(note or ()),
    )
    model_path, card = export_model(request)
    console.print(f"exported: {model_path}\ncard: {card}")


def _engine_from_onnx(model: Path, int8: bool, calib_data: Path | None) -> None:
    """A TensorRT engine from an ONNX model, on this GPU, into the folder beside it (the
    engine cache the tensorrt backend reads: `cache_dir` there)."""
    from inspector.detect.config import TensorRtConfig
    from inspector.detect.tensorrt import cached_engine

    options = TensorRtConfig(
        kind="tensorrt",
        precision="int8" if int8 else "fp16",
        cache_dir=model.parent / "engines",
        calib_data=calib_data,
    )
    console.print(f"exported: {cached_engine(model, options)}", markup=False, highlight=False)


def _quantize_onnx(
    model: Path, format: str, int8: bool, calib_data: Path | None, max_drop: float, force: bool
) -> None:
    """INT8 OpenVINO IR from an ONNX model, behind the accuracy gate (inspector.quantize)."""
    from inspector.errors import InspectorError
    from inspector.quantize import Int8Request, quantize_openvino

    if format != "openvino" or not int8:
        raise InspectorError(
            f"{model}: from an ONNX model, export makes an INT8 OpenVINO IR only "
            "(--format openvino --int8 --calib-data DATA.yaml)"
        )
    xml, gate = quantize_openvino(Int8Request(model, calib_data, max_drop, force=force))
    verdict = "passed" if gate.passed else f"refused, kept by --force: {'; '.join(gate.reasons)}"
    console.print(
        f"exported: {xml}\n{gate.metric}: FP32 {gate.fp32:.4f}, INT8 {gate.candidate:.4f}; "
        f"escape rate at the card's threshold: FP32 {gate.escape_fp32}, INT8 "
        f"{gate.escape_candidate}; gate {verdict}",
        markup=False,
        highlight=False,
    )


@model_app.command("eval")
def eval_command(
    model: Annotated[Path, typer.Option(help="Exported model (.onnx, OpenVINO .xml, .engine).")],
    data: Annotated[Path, typer.Option(help="data.yaml of a YOLO dataset.")],
    split: Annotated[str, typer.Option(help="Split to score.")] = "val",
    backend: BackendOption = "onnxruntime",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    pass_fail: Annotated[bool, typer.Option(help="Also score each image as a part.")] = False,
    threshold: Annotated[
        float | None, typer.Option(help="Part reject threshold (default: the card's).")
    ] = None,
    max_escape: Annotated[
        float | None, typer.Option(help="Pick the threshold: lowest false-reject at escape<=X.")
    ] = None,
    cv_folds: Annotated[
        int, typer.Option(help="With --max-escape: cross-validate the threshold rule.")
    ] = 0,
    bootstrap: Annotated[
        int,
        typer.Option(
            help="Resample the images N times (with replacement) for 95% intervals of mAP; 0: off."
        ),
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the --bootstrap draws.")] = 0,
    compare: Annotated[
        Path | None,
        typer.Option(
            help="Another model with the same classes, scored on the same images: both "
            "figures and the difference (model minus this one), paired under --bootstrap."
        ),
    ] = None,
    check_bf16: Annotated[
        bool,
        typer.Option(
            "--check-bf16",
            help="Instead: score the ONNX model through OpenVINO at f32 and at bf16 and judge "
            "bf16 by the INT8 gate (--max-drop, escape rate at the card's threshold); with "
            "--save-card, `backend: auto` runs it at bf16 once it passed.",
        ),
    ] = False,
    max_drop: Annotated[
        float, typer.Option(help="--check-bf16: largest mAP50 (or part AUROC) drop allowed.")
    ] = 0.02,
    save_card: Annotated[
        bool, typer.Option(help="Record these metrics (and threshold) in the model card.")
    ] = False,
    threads: Annotated[int | None, typer.Option(help="Runtime CPU threads.")] = None,
    names: Annotated[str | None, typer.Option(help="Class names a,b,c if not in metadata.")] = None,
    imgsz: Annotated[int | None, typer.Option(help="Input size if not in metadata.")] = None,
    stride: Annotated[int | None, typer.Option(help="Stride if not in metadata.")] = None,
) -> None:
    """Score an exported model through inspector's own runtime: mAP, AP, P, R, pass/fail."""
    from inspector.evaluate.workflow import EvalOptions, run_eval

    if check_bf16:
        _check_bf16(model, data, max_drop, save_card, as_json)
        return
    if (max_escape is not None or threshold is not None) and not pass_fail:
        raise ConfigError("--threshold and --max-escape need --pass-fail")
    options = EvalOptions(
        model=model,
        data=data,
        split=split,
        backend=backend,
        pass_fail=pass_fail,
        threshold=threshold,
        max_escape=max_escape,
        save_card=save_card,
        threads=threads,
        names=tuple(names.split(",")) if names else None,
        imgsz=imgsz,
        stride=stride,
        cv_folds=cv_folds,
        bootstrap=bootstrap,
        seed=seed,
        compare=compare,
    )
    with progress_bar(disable=as_json) as bar:
        task = bar.add_task("evaluating", total=None)
        doc = run_eval(
            options,
            on_total=lambda n: bar.update(task, total=n),
            on_image=lambda: bar.advance(task),
        )
    if as_json:
        print_json(doc)
    else:
        _print_eval(doc)


def _check_bf16(model: Path, data: Path, max_drop: float, save: bool, as_json: bool) -> None:
    from inspector.quantize import check_bf16, record_bf16_gate

    gate = check_bf16(model, data, max_drop)
    card = record_bf16_gate(model, data, gate, max_drop) if save else None
    if as_json:
        print_json(
            {
                "metric": gate.metric,
                "f32": gate.fp32,
                "bf16": gate.candidate,
                "escape_rate_f32": gate.escape_fp32,
                "escape_rate_bf16": gate.escape_candidate,
                "passed": gate.passed,
                "reasons": list(gate.reasons),
                "card": str(card) if card else None,
            }
        )
        return
    verdict = "passed" if gate.passed else "failed: " + "; ".join(gate.reasons)
    escapes = "no pass/fail threshold on the card"
    if gate.escape_fp32 is not None and gate.escape_candidate is not None:
        escapes = (
            f"escape rate at the card's threshold f32 {gate.escape_fp32:.4f}, "
            f"bf16 {gate.escape_candidate:.4f}"
        )
    console.print(
        f"{model}: {gate.metric} f32 {gate.fp32:.4f}, bf16 {gate.candidate:.4f}; {escapes}; "
        f"bf16 {verdict}" + (f"\nrecorded in {card}" if card else ""),
        markup=False,
        highlight=False,
    )


def _print_eval(doc: dict) -> None:
    head = (
        f"[bold]{doc['model']}[/] via {doc['backend']} on {doc['split']} ({doc['images']} images)"
    )
    if "part_auroc" in doc:
        head += f": part AUROC {doc['part_auroc']:.4f}"
    console.print(head)
    if "map50" in doc:
        _print_box_metrics(doc)
    else:
        console.print(f"box metrics do not apply to a {doc['kind']} model")
    if "compare" in doc:
        _print_comparison(doc)
    if "threshold" in doc:
        console.print(
            f"parts: threshold {doc['threshold']:.4f}  escape {doc['escape_rate']:.1%} "
            f"({doc['escapes']}/{doc['defective_parts']}, 95% CI "
            f"{_interval(doc['escape_rate_ci95'])})  false reject "
            f"{doc['false_reject_rate']:.1%} ({doc['false_rejects']}/{doc['good_parts']}, "
            f"95% CI {_interval(doc['false_reject_rate_ci95'])})"
        )
    if "cross_validation" in doc:
        cv = doc["cross_validation"]
        console.print(
            f"threshold rule cross-validated over {cv['folds']} folds: escape "
            f"{cv['escape_rate']:.1%} ({_interval(cv['escape_rate_ci95'])}), false reject "
            f"{cv['false_reject_rate']:.1%} ({_interval(cv['false_reject_rate_ci95'])}), "
            f"thresholds {cv['thresholds']}"
        )


def _print_box_metrics(doc: dict) -> None:
    console.print(f"{_maps(doc)}  P {doc['precision']:.3f}  R {doc['recall']:.3f}")
    if "bootstrap" in doc:
        boot = doc["bootstrap"]
        console.print(
            f"95% CI: percentile bootstrap, {boot['resamples']} resamples of the images, "
            f"seed {boot['seed']}"
        )
    table = Table()
    for column in ("class", "instances", "AP50", "AP50-95"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in doc["per_class"].items():
        table.add_row(name, str(row["instances"]), f"{row['ap50']:.3f}", f"{row['ap50_95']:.3f}")
    console.print(table)


def _maps(doc: dict) -> str:
    """mAP50 and mAP50-95, each with its interval where the document has one."""
    parts = []
    for key, label in (("map50", "mAP50"), ("map50_95", "mAP50-95")):
        text = f"{label} {doc[key]:+.3f}" if doc.get("signed") else f"{label} {doc[key]:.3f}"
        if key in doc.get("intervals", {}):
            lo, hi = doc["intervals"][key]
            sep = " to " if doc.get("signed") else "-"
            fmt = "+.3f" if doc.get("signed") else ".3f"
            text += f" (95% CI {lo:{fmt}}{sep}{hi:{fmt}})"
        parts.append(text)
    return "  ".join(parts)


def _print_comparison(doc: dict) -> None:
    other, diff = doc["compare"], doc["difference"]
    console.print(f"[bold]{other['model']}[/] on the same images: {_maps(other)}")
    line = f"difference (model minus compared): {_maps(diff | {'signed': True})}"
    if "share_at_or_below_zero" in diff:
        share = diff["share_at_or_below_zero"]
        line += (
            f"; resamples with difference <= 0: mAP50 {share['map50']:.1%}, "
            f"mAP50-95 {share['map50_95']:.1%}"
        )
    console.print(line)


def _interval(bounds: list[float]) -> str:
    return f"{bounds[0]:.1%}-{bounds[1]:.1%}"
