"""`inspector demo`: the whole station on a bundled recording, with no hardware.

A recording of magnetic tiles on a conveyor (built by scripts/build_demo_recording.py
from validation images the shipped model never trained on) replays through the real
station: video source, presence trigger, the shipped model through ONNX Runtime, the
judge, the SQLite inspection log. Each part is compared with the recording's ground
truth, and a summary gives escapes, false rejects and latency percentiles.

`--recipes` replays a mixed line instead (scripts/build_mixed_recording.py): magnetic
tiles (recipe 1) and NEU-DET steel patches (recipe 2), with a simulated PLC that
switches recipes at each product change; the summary gives escapes and false rejects
per product.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from inspector.config import StationConfig, parse_config, recipe_config
from inspector.errors import ConfigError, DataError, InspectorError
from inspector.factory import build_station, open_model
from inspector.mqtt.config import parse_broker
from inspector.plc.simulate import SimulationPlan, simulate
from inspector.sinks.base import Sink
from inspector.sinks.console import ConsoleSink
from inspector.sinks.display import display_available
from inspector.types import Inspection, Verdict

__all__ = ["DEMO_MODEL", "DEMO_VIDEO", "DemoOptions", "DemoSummary", "run_demo"]

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
DEMO_MODEL = REPO / "models" / "magnetic-tile" / "magnetic-tile.onnx"
DEMO_VIDEO = REPO / "models" / "magnetic-tile" / "demo" / "conveyor.mp4"
MIXED_VIDEO = REPO / "models" / "mixed-line" / "mixed.mp4"
STEEL_MODEL = REPO / "models" / "neu-det" / "neu-det.onnx"


@dataclass(frozen=True)
class DemoOptions:
    video: Path = DEMO_VIDEO
    model: Path = DEMO_MODEL
    parts: int | None = None
    fast: bool = False
    as_json: bool = False
    backend: str = "onnxruntime"
    window: bool = True
    log_dir: Path | None = None
    plc: bool = False  # a simulated PLC triggers each part over Modbus TCP
    plc_port: int = 5020
    mqtt: str | None = None  # HOST:PORT of a broker to publish results, events, status to
    web_port: int | None = 8080  # the dashboard on 127.0.0.1 (None: no dashboard)
    recipes: bool = False  # a mixed line: two recipes, the PLC switching between them


def truth_path(video: Path) -> Path:
    return video.with_suffix(".parts.csv")


def load_products(video: Path) -> list[tuple[int, str]] | None:
    """(recipe, product) of each part of a mixed recording, None for one product."""
    path = truth_path(video)
    if not path.is_file():
        return None
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "recipe" not in rows[0]:
        return None
    return [(int(row["recipe"]), row["product"]) for row in rows]


def load_truth(video: Path) -> list[bool] | None:
    """Defective flag of each part in belt order, or None for a recording without one."""
    path = truth_path(video)
    if not path.is_file():
        return None
    with path.open() as handle:
        try:
            return [row["defective"] == "1" for row in csv.DictReader(handle)]
        except KeyError:
            raise DataError(f"{path}: no 'defective' column") from None


BELT = {"threshold": 30, "min_length_px": 40}  # tiles against the demo's dark belt


def demo_config(options: DemoOptions, log_dir: Path) -> StationConfig:
    # the window shows every part (so every part's region is copied for it)
    sinks: list[dict[str, Any]] = (
        [{"kind": "display"}] if options.window and display_available() else []
    )
    if options.mqtt is not None:  # results, events and status under the default prefix
        host, port = parse_broker(options.mqtt)
        sinks.append({"kind": "mqtt", "host": host, "port": port})
    doc = {
        "station": {"name": "demo", "line": "demo-line"},
        "camera": {
            "kind": "video",
            "path": str(options.video),
            "pace": "fast" if options.fast else "realtime",
        },
        "trigger": {"kind": "presence", "fire_at": 0.5, "deadline_ms": 1000, **BELT},
        "model": {"path": str(options.model), "backend": options.backend},
        "storage": {
            "database": str(log_dir / "inspections.db"),
            "images_dir": str(log_dir / "images"),
            "images_quota_mb": 200,
        },
        "sinks": sinks,
    }
    if options.web_port is not None and _port_free(options.web_port):
        doc["web"] = {"enabled": True, "port": options.web_port}
    if options.plc or options.recipes:
        if options.fast:
            raise ConfigError(
                "--plc and --recipes run in real time (the PLC's photo-eye follows the belt)"
            )
        # the PLC says when a part is at the camera; the locator finds it in the frame
        doc |= {
            "trigger": {"kind": "plc", "deadline_ms": 1000},
            "plc": {"enabled": True, "host": "127.0.0.1", "port": options.plc_port},
            "locate": {"position": 0.5, **BELT},
        }
    if options.recipes:  # the PLC asks for each product's recipe before its first part
        doc |= {
            "recipes": [
                {"number": 1, "name": "tile"},
                {
                    "number": 2,
                    "name": "steel",
                    "model": {"path": str(STEEL_MODEL)},
                    # its card gives no pass/fail threshold; docs/recipes.md's example's
                    "judge": {"min_confidence": 0.3},
                },
            ],
            "recipe": 1,
        }
    return parse_config(doc, "demo config")


def _port_free(port: int) -> bool:
    """Whether the dashboard's port is free on 127.0.0.1: a demo whose port is taken
    runs without its dashboard (and says so) rather than not at all."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            log.warning("dashboard: port %d is in use; no dashboard (try --web-port)", port)
            return False
    return True


def photo_eye_schedule(video: Path) -> tuple[float, ...]:
    """When each part of the recording reaches the camera's centre (s from its start):
    what a PLC's photo-eye would report, from the ground truth's crossing frames."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 15.0
    capture.release()
    with truth_path(video).open() as handle:
        frames = [int(row["crossing_frame"]) for row in csv.DictReader(handle)]
    return tuple(frame / fps + PHOTO_EYE_DELAY_S for frame in frames)


PHOTO_EYE_DELAY_S = 0.02


@dataclass
class DemoSummary:
    """Verdicts against the ground truth, and latency percentiles."""

    truth: list[bool] | None
    products: list[tuple[int, str]] | None = None  # (recipe, product) of a mixed line's parts
    verdicts: list[Verdict] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    plc: dict[str, Any] | None = None  # the simulated PLC's report, with --plc
    log: Path | None = None  # the inspection log the demo wrote
    source_problems: list[str] = field(default_factory=list)  # frames that could not be read

    def add(self, record: Inspection) -> dict[str, Any]:
        """Count a record; the ground-truth comparison for its line, if there is one."""
        self.verdicts.append(record.verdict)
        self.latencies_ms.append(record.latency_ms)
        index = len(self.verdicts) - 1
        if self.truth is None or index >= len(self.truth):
            return {}
        defective = self.truth[index]
        extra: dict[str, Any] = {}
        if self.products is not None and index < len(self.products):
            extra["product"] = self.products[index][1]
        return extra | {
            "truth": "defective" if defective else "good",
            "agrees": record.verdict.rejects == defective,
        }

    def as_json(self) -> dict[str, Any]:
        lat = np.array(self.latencies_ms or [np.nan])
        doc: dict[str, Any] = {
            "summary": True,
            "parts": len(self.verdicts),
            "pass": sum(v is Verdict.PASS for v in self.verdicts),
            "fail": sum(v is Verdict.FAIL for v in self.verdicts),
            "no_decision": sum(v is Verdict.NO_DECISION for v in self.verdicts),
            "latency_ms": {
                k: round(float(np.percentile(lat, q)), 2)
                for k, q in (("p50", 50), ("p95", 95), ("p99", 99), ("max", 100))
            },
        }
        if self.truth is not None:
            pairs = list(zip(self.verdicts, self.truth, strict=False))
            doc |= {
                "expected_parts": len(self.truth),
                "defective": sum(d for _, d in pairs),
                "good": sum(not d for _, d in pairs),
                "escapes": sum(not v.rejects and d for v, d in pairs),
                "false_rejects": sum(v.rejects and not d for v, d in pairs),
                "agreement": round(sum(v.rejects == d for v, d in pairs) / max(len(pairs), 1), 4),
            }
        if self.truth is not None and self.products is not None:
            doc["products"] = per_product(self.verdicts, self.truth, self.products)
        if self.plc is not None:
            doc["plc"] = self.plc
        if self.log is not None:
            doc["log"] = str(self.log)
        doc["source_problems"] = self.source_problems
        return doc


def per_product(
    verdicts: list[Verdict], truth: list[bool], products: list[tuple[int, str]]
) -> dict[str, dict[str, Any]]:
    """Escapes and false rejects of each product of a mixed line against its own
    ground truth (parts in belt order)."""
    out: dict[str, dict[str, Any]] = {}
    for verdict, defective, (recipe, product) in zip(verdicts, truth, products, strict=False):
        row = out.setdefault(
            product,
            {"recipe": recipe, "parts": 0, "defective": 0, "good": 0, "escapes": 0,
             "false_rejects": 0},
        )  # fmt: skip
        row["parts"] += 1
        row["defective" if defective else "good"] += 1
        row["escapes"] += int(defective and not verdict.rejects)
        row["false_rejects"] += int(verdict.rejects and not defective)
    return out


class DemoReporter(ConsoleSink):
    """Prints each part with its ground truth, up to the --parts limit, and counts them."""

    name = "demo"

    def __init__(
        self, names: tuple[str, ...], summary: DemoSummary, as_json: bool, limit: int | None
    ) -> None:
        super().__init__(names, as_json=as_json, annotate=summary.add)
        self.limit = limit
        self.reached = threading.Event()

    def handle(self, record: Inspection) -> None:
        if self.reached.is_set():
            return  # parts already in flight when the limit was hit
        super().handle(record)
        if self.limit is not None and record.seq >= self.limit:
            self.reached.set()


def run_demo(
    options: DemoOptions,
    extra_sinks: list[Sink] | None = None,
    on_dashboard: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Run the station on the recording until it ends, --parts are done, or Ctrl-C;
    `on_dashboard` hears the dashboard's URL once it serves."""
    if not options.video.is_file():
        raise DataError(f"{options.video}: demo recording not found")
    log_dir = options.log_dir or default_log_dir()
    summary = DemoSummary(
        truth=load_truth(options.video),
        products=load_products(options.video) if options.recipes else None,
        log=log_dir / "inspections.db",
    )
    if options.recipes and summary.products is None:
        raise DataError(f"{truth_path(options.video)}: no recipe column (not a mixed line)")
    config = demo_config(options, log_dir)
    # with recipes the station opens every recipe's model itself (its book owns them)
    model = None if options.recipes else open_model(config)
    names = model[0].info.names if model else _model_names(config)
    reporter = DemoReporter(names, summary, options.as_json, options.parts)
    sinks: list[Sink] = [reporter, *(extra_sinks or [])]
    built = build_station(config, model=model, extra_sinks=sinks, command="inspector demo")
    station = built.station
    if built.web is not None and on_dashboard is not None:
        on_dashboard(built.web.url)
    with _sigint_sets(threading.Event()) as interrupted:
        station.start()
        plc = _start_plc(options, summary, interrupted) if options.plc or options.recipes else None
        try:
            while not (reporter.reached.is_set() or interrupted.is_set()):
                if plc is not None and not plc.is_alive():
                    break
                if station.wait(0.1) and plc is None:
                    break
        finally:
            interrupted.set()  # ends a simulated PLC after its current cycle
            if plc is not None:
                plc.join()
            station.stop()
    summary.source_problems = list(station.source_report().problems)
    return summary


def _model_names(config: StationConfig) -> tuple[str, ...]:
    """The start recipe's model's class names (records of another recipe name their
    own), from a model opened and closed again."""
    detector, _ = open_model(recipe_config(config, config.recipes[0].number))
    detector.close()
    return detector.info.names


def default_log_dir() -> Path:
    """Where the demo keeps its inspection log between runs: the user's state folder
    (XDG_STATE_HOME, else ~/.local/state), so `inspector log tail` can read it after."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "inspector" / "demo"


def _start_plc(
    options: DemoOptions, summary: DemoSummary, stop: threading.Event
) -> threading.Thread:
    """A simulated PLC in a thread: triggers each part as its photo-eye would."""
    schedule = photo_eye_schedule(options.video)
    recipes = tuple(r for r, _ in summary.products) if summary.products else None
    if options.parts is not None:
        schedule = schedule[: options.parts]
        recipes = recipes[: options.parts] if recipes else None
    plan = SimulationPlan(
        cycles=len(schedule), schedule_s=schedule, result_timeout_s=2.0, recipes=recipes
    )

    def run() -> None:
        try:
            report = simulate("127.0.0.1", options.plc_port, plan=plan, stop=stop)
            summary.plc = report.as_json()
        except InspectorError as exc:
            summary.plc = {"error": str(exc)}

    thread = threading.Thread(target=run, name="simulated-plc", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def _sigint_sets(event: threading.Event) -> Iterator[threading.Event]:
    """Ctrl-C ends the demo cleanly (the station finishes the part in hand)."""
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.signal(signal.SIGINT, lambda *_: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)
