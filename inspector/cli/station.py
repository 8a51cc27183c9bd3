"""CLI commands of the station: config, run, demo."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from inspector.config import StationConfig

from inspector.cli.common import (
    BackendOption,
    console,
    err_console,
    print_json,
    quiet_libraries,
    setup_logging,
)

if TYPE_CHECKING:
    from inspector.config import ModelConfig

__all__ = ["config_app", "demo_command", "run_command", "station_app"]

config_app = typer.Typer(help="station.yaml: check and schema.", no_args_is_help=True)
station_app = typer.Typer()

EXIT_OK = 0
EXIT_SOURCE_FAILED = 3  # the camera failed at run time and did not come back
EXIT_SOURCE_DAMAGED = 4  # the recording had frames that could not be read


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="station.yaml to check.")],
    schema_only: Annotated[
        bool,
        typer.Option(
            "--schema-only", help="Only validate the file; open no model, camera or folder."
        ),
    ] = False,
) -> None:
    """Check a station.yaml as a start would: validation, then every file and folder it
    names, the model (opened with its backend, its classes against the judge's) and the
    ROIs against a recorded camera's first frame. One line per problem, naming the field;
    exit 2 for config problems, 1 for a model or data problem."""
    from inspector.config import load_config
    from inspector.configcheck import exit_code, start_problems
    from inspector.errors import ConfigError

    try:
        config = load_config(file)
    except ConfigError as exc:
        for line in exc.problems:
            err_console.print(line, markup=False, highlight=False)
        raise typer.Exit(exc.exit_code) from None
    problems = [] if schema_only else start_problems(config)
    for problem in problems:
        err_console.print(f"{file}: {problem}", markup=False, highlight=False)
    if problems:
        raise typer.Exit(exit_code(problems))
    checked = "valid (schema only)" if schema_only else "ok"
    console.print(
        f"{file}: {checked} (camera {config.camera.kind}, trigger {config.trigger.kind}, "
        f"model {config.model.path.name} on {_backend_here(config.model)})",
        markup=False,
        highlight=False,
    )


def _backend_here(model: ModelConfig) -> str:
    """The configured backend; for auto, the one it picks on this machine and why."""
    if model.backend.kind != "auto":
        return model.backend.kind
    from inspector.detect.select import Platform, choose_backend, model_format

    choice = choose_backend(model_format(model.path), Platform.probe())
    if choice.backend != "openvino" or model_format(model.path) != "onnx":
        return f"auto: {choice}"
    from inspector.detect.openvino import cpu_has_bf16
    from inspector.detect.precision import choose_precision

    return f"auto: {choice}; precision {choose_precision(model.path, cpu_has_bf16())}"


@config_app.command("schema")
def config_schema(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="The readable reference (docs/config.md).")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file, not stdout.")
    ] = None,
) -> None:
    """Print the schema of station.yaml: JSON Schema, or with --markdown a reference of
    every section and field (type, default, allowed values, description)."""
    from inspector.config import config_model
    from inspector.configdoc import config_markdown, write_doc

    if markdown:
        text = config_markdown()
    else:
        text = json.dumps(config_model().model_json_schema(), indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    console.print(f"wrote {write_doc(output, text)}", markup=False, highlight=False)


@station_app.command("run")
def run_command(
    config: Annotated[Path, typer.Option("--config", "-c", help="station.yaml.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line per part.")] = False,
    quiet: Annotated[bool, typer.Option(help="Do not print parts (log only).")] = False,
    log_json: Annotated[bool, typer.Option(help="Structured JSON logs on stderr.")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning, error.")] = "info",
    recipe: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Start on this recipe (default: the last active one)."),
    ] = None,
) -> None:
    """The station daemon. SIGINT/SIGTERM stop it cleanly; SIGUSR1 fires a manual trigger.

    Exit codes: 0 stopped or the recording ended; 1 start-up error (missing model,
    camera, ...); 2 invalid config; 3 the camera failed at run time; 4 the recording
    had frames that could not be read (counted in the summary).
    """
    from inspector.config import load_config
    from inspector.errors import ConfigError
    from inspector.factory import build_station, open_model
    from inspector.sinks.console import ConsoleSink

    setup_logging(log_json, log_level)
    station_config = load_config(config)
    if recipe is not None and not station_config.recipes:
        raise ConfigError("--recipe: the config has no recipes")
    # with recipes the factory opens each recipe's model itself
    model = None if station_config.recipes else open_model(station_config)
    names = model[0].info.names if model else _recipe_class_names(station_config, recipe)
    sinks = [] if quiet else [ConsoleSink(names, as_json=as_json)]
    command = " ".join(["inspector", *sys.argv[1:]])
    built = build_station(station_config, model, sinks, command=command, recipe=recipe)
    station = built.station
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if station.can_fire:
        signal.signal(signal.SIGUSR1, lambda *_: station.fire())
    station.start()
    if built.detector.selection:
        logging.getLogger("inspector.station").info("model.backend %s", built.detector.selection)
    try:
        while not (stop.is_set() or station.wait(0.2)):
            pass
    finally:
        station.stop()
    summary = station.summary()
    if as_json and not quiet:
        print_json({"summary": True} | summary)
    else:
        err_console.print(_run_summary_line(station_config.station.name, summary), highlight=False)
    failed = station.camera_failed
    raise typer.Exit(_run_exit_code(failed, list(station.source_report().problems)))


def _recipe_class_names(config: StationConfig, recipe: int | None) -> tuple[str, ...]:
    """The class names the console prints with: those of the start recipe's model as
    configured (opened and closed again; the station opens its own)."""
    from inspector.config import recipe_config
    from inspector.factory import open_model

    number = recipe if recipe is not None else config.recipe
    merged = recipe_config(config, number if number is not None else config.recipes[0].number)
    detector, _ = open_model(merged)
    detector.close()
    return detector.info.names


def _run_exit_code(camera_failed: bool, source_problems: list[str]) -> int:
    for problem in source_problems:
        err_console.print(f"[bold red]error:[/] {problem}", highlight=False)
    if camera_failed:
        return EXIT_SOURCE_FAILED
    return EXIT_SOURCE_DAMAGED if source_problems else EXIT_OK


def _run_summary_line(name: str, summary: dict) -> str:
    reasons = ", ".join(f"{k} {v}" for k, v in summary["no_decision_reasons"].items())
    line = (
        f"station {name} stopped after {summary['parts']} parts: {summary['pass']} pass, "
        f"{summary['fail']} fail, {summary['no_decision']} no decision"
    )
    line += f" ({reasons})" if reasons else ""
    if summary["sink_records_dropped"]:
        line += f"; sinks dropped {summary['sink_records_dropped']} records"
    return line


@station_app.command("demo")
def demo_command(
    parts: Annotated[int | None, typer.Option(help="Stop after N parts.")] = None,
    fast: Annotated[bool, typer.Option(help="As fast as possible, not real time.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per part.")] = False,
    video: Annotated[Path | None, typer.Option(help="Replay another recording.")] = None,
    model: Annotated[Path | None, typer.Option(help="Another model.")] = None,
    backend: Annotated[str, typer.Option(help="onnxruntime or openvino.")] = "onnxruntime",
    window: Annotated[bool, typer.Option(help="Show annotated frames if a display exists.")] = (
        True
    ),
    log_dir: Annotated[Path | None, typer.Option(help="Keep the inspection log here.")] = None,
    plc: Annotated[
        bool, typer.Option(help="A simulated PLC triggers each part over Modbus TCP.")
    ] = False,
    plc_port: Annotated[int, typer.Option(help="Port of the station's Modbus server.")] = 5020,
    mqtt: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT of an MQTT broker: results, events and status go there "
            "(topics inspector/demo-line/demo/...; watch with `inspector mqtt tail`)."
        ),
    ] = None,
    web_port: Annotated[
        int, typer.Option(help="Serve the dashboard on 127.0.0.1:PORT (0: no dashboard).")
    ] = 8080,
    no_web: Annotated[bool, typer.Option("--no-web", help="No dashboard.")] = False,
    recipes: Annotated[
        bool,
        typer.Option(
            help="A mixed line: tiles and steel, the simulated PLC switching recipes at "
            "each product change (real time)."
        ),
    ] = False,
) -> None:
    """The whole station on a bundled conveyor recording: no hardware, nothing to start."""
    from inspector.demo import DEMO_MODEL, DEMO_VIDEO, MIXED_VIDEO, DemoOptions, run_demo

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    quiet_libraries()
    options = DemoOptions(
        video=video or (MIXED_VIDEO if recipes else DEMO_VIDEO),
        model=model or DEMO_MODEL,
        parts=parts,
        fast=fast,
        as_json=as_json,
        backend=backend,
        window=window,
        log_dir=log_dir,
        plc=plc,
        plc_port=plc_port,
        mqtt=mqtt,
        web_port=None if no_web or web_port == 0 else web_port,
        recipes=recipes,
    )
    summary = run_demo(options, on_dashboard=_print_dashboard).as_json()
    if as_json:
        print_json(summary)
    else:
        _print_summary(summary)
    if _run_exit_code(False, summary["source_problems"]):
        raise typer.Exit(EXIT_SOURCE_DAMAGED)


def _print_dashboard(url: str) -> None:
    err_console.print(f"dashboard: {url}  (metrics: {url}metrics)", markup=False, highlight=False)


def _print_summary(doc: dict) -> None:
    if "log" in doc:
        console.print(
            f"inspection log: {doc['log']}  (read it with: inspector log tail --db {doc['log']})",
            highlight=False,
        )
    lat = doc["latency_ms"]
    console.print(
        f"\n[bold]{doc['parts']} parts[/]: {doc['pass']} pass, {doc['fail']} fail, "
        f"{doc['no_decision']} no decision.  latency ms p50 {lat['p50']}  p95 {lat['p95']}  "
        f"p99 {lat['p99']}  max {lat['max']}"
    )
    if "plc" in doc:
        p = doc["plc"]
        if "error" in p:
            console.print(f"[red]simulated PLC:[/] {p['error']}")
        else:
            console.print(
                f"simulated PLC: {p['cycles']} cycles, {p['pass']} pass, {p['fail']} fail, "
                f"{p['no_decision']} no decision, {p['missed_triggers']} missed triggers, "
                f"{p['unearned_pass']} unearned passes; trigger to RESULT_VALID ms "
                f"p50 {p['cycle_ms']['p50']}  p99 {p['cycle_ms']['p99']}"
            )
    if "expected_parts" in doc:
        console.print(
            f"against the ground truth ({doc['expected_parts']} parts on the recording): "
            f"{doc['escapes']}/{doc['defective']} defective parts escaped, "
            f"{doc['false_rejects']}/{doc['good']} good parts rejected, "
            f"agreement {doc['agreement']:.1%}"
        )
    for product, row in doc.get("products", {}).items():
        console.print(
            f"  {product} (recipe {row['recipe']}): {row['escapes']}/{row['defective']} "
            f"escaped, {row['false_rejects']}/{row['good']} good parts rejected",
            highlight=False,
        )


@station_app.command("bench")
def bench_command(
    model: Annotated[Path | None, typer.Option(help="Model (default: the demo model).")] = None,
    backend: BackendOption = "onnxruntime",
    video: Annotated[Path | None, typer.Option(help="Recording (default: the demo's).")] = None,
    threads: Annotated[int | None, typer.Option(help="Runtime CPU threads.")] = None,
    overlap: Annotated[
        str, typer.Option(help="Infer beside the worker: auto, on or off (model.overlap).")
    ] = "auto",
    imgsz: Annotated[
        int | None, typer.Option(help="Input size, for a dynamic-input model (default: its own).")
    ] = None,
    raw_iterations: Annotated[int, typer.Option(help="Raw inference calls timed.")] = 300,
    pipeline_parts: Annotated[int, typer.Option(help="Parts for throughput.")] = 300,
    latency_parts: Annotated[int, typer.Option(help="Parts for paced latency.")] = 300,
    plc_cycles: Annotated[
        int, typer.Option(help="Also measure the PLC handshake over this many cycles (0: no).")
    ] = 0,
    rounds: Annotated[
        int, typer.Option(help="Alternating rounds of raw and pipeline, sharing the counts.")
    ] = 5,
    plc_poll_ms: Annotated[
        float, typer.Option(help="The simulated PLC's status poll period, ms (0: back to back).")
    ] = 1.0,
    blocks: Annotated[
        int, typer.Option(help="Interleaved blocks: pipeline from memory, then raw, in turn.")
    ] = 40,
    block_parts: Annotated[int, typer.Option(help="Parts (and raw calls) per block.")] = 20,
    mqtt: Annotated[
        str | None,
        typer.Option(help="HOST:PORT of a broker: also measure the MQTT sink on vs off."),
    ] = None,
    mqtt_backlog: Annotated[
        int, typer.Option(help="Results in the backlog replayed with --mqtt.")
    ] = 20_000,
    calibration: Annotated[
        Path | None,
        typer.Option(help="Also measure applying this calibration profile per part."),
    ] = None,
    web: Annotated[
        bool, typer.Option("--web", help="Also: the pipeline with a browser on the dashboard.")
    ] = False,
    recipes: Annotated[
        int,
        typer.Option(
            "--recipes", help="Also time this many recipe changeovers over the PLC (0: no)."
        ),
    ] = 0,
    recipe_model: Annotated[
        Path | None, typer.Option(help="With --recipes: the second recipe's model.")
    ] = None,
    versus_ultralytics: Annotated[
        bool,
        typer.Option(
            "--versus-ultralytics",
            help="Also: the station against Ultralytics predict on its own OpenVINO export of "
            "the model's .pt, same frames (a YOLO model with a card; needs the train extra).",
        ),
    ] = False,
    versus_frames: Annotated[
        int, typer.Option(min=1, help="With --versus-ultralytics: frames timed a side.")
    ] = 300,
    versus_backend: Annotated[
        str, typer.Option(help="With --versus-ultralytics: the station's backend.")
    ] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="Instead: the CPU cost per frame of acquiring from this station.yaml's camera "
            "(--source-frames frames); no model is loaded.",
        ),
    ] = None,
    source_frames: Annotated[int, typer.Option(min=1, help="Frames timed with --source.")] = 2000,
) -> None:
    """Raw backend vs whole pipeline: throughput, latency percentiles, stage breakdown."""
    if source is not None:
        _bench_source(source, source_frames, as_json)
        return
    from inspector.bench import BenchOptions, run_bench
    from inspector.demo import DEMO_MODEL, DEMO_VIDEO

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    quiet_libraries()
    options = BenchOptions(
        model=model or DEMO_MODEL,
        video=video or DEMO_VIDEO,
        backend=backend,
        threads=threads,
        overlap=overlap,
        imgsz=imgsz,
        raw_iterations=raw_iterations,
        pipeline_parts=pipeline_parts,
        latency_parts=latency_parts,
        plc_cycles=plc_cycles,
        plc_poll_ms=plc_poll_ms,
        rounds=rounds,
        blocks=blocks,
        block_parts=block_parts,
        mqtt=mqtt,
        mqtt_backlog=mqtt_backlog,
        calibration=calibration,
        web=web,
        recipe_switches=recipes,
        recipe_model=recipe_model,
        versus_frames=versus_frames if versus_ultralytics else 0,
        versus_backend=versus_backend,
    )
    doc = run_bench(options)
    if as_json:
        print_json(doc)
        return
    console.print_json(data=doc)


def _bench_source(path: Path, frames: int, as_json: bool) -> None:
    from inspector.camera.bench import bench_source
    from inspector.config import load_config

    doc = bench_source(load_config(path).camera, frames)
    if as_json:
        print_json(doc)
        return
    console.print_json(data=doc)
