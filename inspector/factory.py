"""Build a ready station from a validated config: every piece of I/O happens here.

Each step's resources go on one `ExitStack`: when a later step fails (a bad images_dir,
a port in use, a camera that will not open) everything opened before it is closed
again, so a failed start leaves no thread, port or open file behind. A station that
starts owns the stack and closes it on `stop()`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from inspector.calibrate.profile import Profile, load_flat_gain, station_profile
from inspector.camera.base import FrameShape, FrameSource, open_source
from inspector.camera.capture import Capture, CaptureState, FramePool
from inspector.config import StationConfig, config_hash, recipe_config
from inspector.detect.base import DecodeParams, Detector, ModelOverrides, open_detector
from inspector.errors import ConfigError, ModelError, ModelOutputError
from inspector.judge import Judge
from inspector.modelcard import load_card
from inspector.plc.link import PlcLink, open_plc
from inspector.recipes import Recipe, RecipeBook, Requester
from inspector.registry import OpenContext
from inspector.sdnotify import SystemdNotifier
from inspector.sinks.base import Sink, SinkRunner
from inspector.sinks.config import SinkConfig
from inspector.sinks.registry import SINKS
from inspector.spc.config import IMAGE_MEASURES, SpcConfig
from inspector.spc.health import measure_image
from inspector.spc.monitor import SpcEngine, SpcSink, monitor_specs
from inspector.station import Pipeline, RecordIdentity, Station, StationOptions
from inspector.store.archive import ImageArchive
from inspector.store.audit import AuditEntry, AuditKind, audit_start
from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.link import StoreLink
from inspector.store.recipe import last_recipe
from inspector.store.sink import StoreSink
from inspector.trigger.base import Trigger, open_trigger
from inspector.types import EventKind, Frame, Region, StationListener
from inspector.vision.config import Roi
from inspector.vision.parts import PartLocator
from inspector.vision.rectify import Rectifier

if TYPE_CHECKING:  # the web extra is imported only when `web:` is enabled
    from inspector.web.live import Dashboard
    from inspector.web.server import WebServer

__all__ = ["StationParts", "build_station", "open_model"]

POOL_SLACK = 5  # frame buffers beyond the pending-part limit: capture, latest, in flight


@dataclass
class StationParts:
    """The station and the pieces callers may want to look at (the demo, bench)."""

    station: Station
    detector: Detector
    judge: Judge
    log: StoreSink
    plc: PlcLink | None = None
    web: WebServer | None = None  # the dashboard, with `web.enabled`


def open_model(config: StationConfig) -> tuple[Detector, Judge]:
    """Load the detector, compile the judge's rules (default threshold: the card's) and
    check the model answers a blank frame with finite output."""
    detector = open_detector(
        config.model.path,
        config.model.backend,
        overrides=ModelOverrides(imgsz=config.model.imgsz),
        threads=config.model.threads,
    )
    with contextlib.ExitStack() as undo:
        undo.callback(detector.close)
        card = load_card(config.model.path)
        card_threshold = card.pass_fail.threshold if card and card.pass_fail else None
        judge = Judge(detector.info.names, config.judge, card_threshold, _mm_per_px(config))
        conf = config.model.conf if config.model.conf is not None else judge.lowest_confidence
        if conf > judge.lowest_confidence:
            raise ConfigError(
                f"model.conf: {conf} drops detections the judge would count "
                f"(lowest rule {judge.lowest_confidence:.3f})"
            )
        detector.with_params(DecodeParams(conf=conf, iou=config.model.iou))
        _warm_up(detector)
        undo.pop_all()
    return detector, judge


def _mm_per_px(config: StationConfig) -> tuple[float, float] | None:
    profile = station_profile(config.calibration)
    if profile is None or profile.scale is None:
        return None
    return profile.scale.mm_per_px_x, profile.scale.mm_per_px_y


def _warm_up(detector: Detector) -> None:
    """One inference on a blank frame: the first part does not pay for the runtime's
    lazy set-up, and a model whose output is NaN or infinite fails here, loudly."""
    h, w = detector.info.input_hw
    try:
        detector.detect(np.zeros((h, w, 3), np.uint8))
    except ModelOutputError as exc:
        raise ModelError(f"{detector.info.path}: {exc} on a blank frame") from None


def overlap_inference(setting: str, detector: Detector) -> bool:
    """`model.overlap` for this detector: auto overlaps where inference spares a core."""
    return setting == "on" or (setting == "auto" and detector.spare_cpu)


def build_station(
    config: StationConfig,
    model: tuple[Detector, Judge] | None = None,
    extra_sinks: Sequence[Sink] | None = None,
    max_pending_frames: int = 4,
    source: FrameSource | None = None,
    command: str = "inspector run",
    recipe: int | None = None,
) -> StationParts:
    """Open model (unless given), source (unless given), PLC link, trigger, log and
    sinks, and wire the station. On any failure everything opened is closed again.
    With recipes, the model is the start recipe's (`recipe`, else the last active one,
    else the configured one) and `config` is that recipe's merged config."""
    station_config = config  # every recipe's sections (SPC opens each recipe's monitors)
    with contextlib.ExitStack() as stack:
        book: RecipeBook | None = None
        opened = _own_source(config, source, stack) if config.recipes else None
        if opened is not None:
            book, first, why = _open_recipes(config, recipe, opened.frame_shape, stack)
            config = recipe_config(config, first.number)
            model = (first.detector, first.judge)  # the book closes it
        detector, judge = model or open_model(config)
        if book is None:
            stack.callback(detector.close)
        source = opened or _own_source(config, source, stack)
        check_rois(config, source.frame_shape)
        profile = station_profile(config.calibration)
        calibration_id = check_calibration(profile, config, source.frame_shape)
        preprocess = calibration_stage(profile, config, detector, source.frame_shape)
        link = _open_plc(config, stack)
        store, changes = _open_store(config, detector, judge, stack, command, calibration_id)
        context = OpenContext(
            config.station.name,
            config.station.line,
            detector.info.names,
            link,
            store,
            _spc_enabled(station_config),
        )
        trigger = open_trigger(config.trigger, context)
        runners = [_run(SinkRunner(store.events, config.storage.queue_size, critical=True), stack)]
        start = book.loaded()[0] if book else None
        spc = _open_spc(station_config, start, store, detector.info.names, command)
        if spc is not None:
            runners.append(_run(SinkRunner(spc), stack))
        for sink_config in config.sinks:
            runners.append(_run(_open_sink(sink_config, context), stack))
        runners += [_run(SinkRunner(sink), stack) for sink in extra_sinks or []]
        dashboard = _web_listener(config, detector.info.names)
        if dashboard is not None:
            runners.append(_run(SinkRunner(dashboard, config.web.queue_size), stack))
        parts = _Opened(
            detector,
            judge,
            source,
            trigger,
            runners,
            link,
            store.writer,
            spc,
            calibration_id,
            *preprocess,
            recipes=book,
        )
        station = _wire(config, parts, max_pending_frames)
        web = _open_web(config, dashboard, station, store, link, stack)
        for change in changes:
            if change.old_hash or change.new_hash:  # no calibration before or now: no news
                station.note_change(_CHANGE_EVENTS[change.kind], _change_message(change))
        if book is not None:
            _note_start_recipe(station, first, why)
        station_stack = stack.pop_all()
    station.adopt(station_stack)
    return StationParts(station, detector, judge, store.events, link, web)


def _own_source(
    config: StationConfig, source: FrameSource | None, stack: contextlib.ExitStack
) -> FrameSource:
    """The given source or a newly opened one, closed with the station either way."""
    source = source or open_source(config.camera)
    stack.callback(source.close)
    return source


def _run(runner: SinkRunner, stack: contextlib.ExitStack) -> SinkRunner:
    """A runner that the stack stops (closing a sink whose thread never started) as
    soon as it exists, so a later sink that fails to open leaves none open."""
    stack.callback(runner.stop)
    return runner


@dataclass(frozen=True)
class _Opened:
    """What the factory opened, ready to be wired into a station."""

    detector: Detector
    judge: Judge
    source: FrameSource
    trigger: Trigger
    runners: list[SinkRunner]
    link: PlcLink | None
    writer: InspectionWriter
    spc: SpcSink | None = None
    calibration_id: str | None = None
    rectifier: Rectifier | None = None
    roi: Region | None = None
    recipes: RecipeBook | None = None


def _wire(config: StationConfig, parts: _Opened, max_pending: int) -> Station:
    detector, source, link = parts.detector, parts.source, parts.link
    pool = FramePool(source.frame_shape, max_pending + POOL_SLACK)
    camera = config.camera
    reopen = (lambda: open_source(camera)) if source.live else None
    backoff = getattr(camera, "reconnect", None)

    def capture_factory(
        on_frame: Callable[[Frame], None], on_state: Callable[[CaptureState, str], None]
    ) -> Capture:
        return Capture(source, pool, on_frame, reopen=reopen, backoff=backoff, on_state=on_state)

    identity = RecordIdentity(
        model_id=config.model.path.name,
        model_sha256=detector.info.sha256,
        config_hash=config_hash(config),
        run_id=uuid.uuid4().hex[:12],
        calibration_id=parts.calibration_id,
    )
    first = _first_recipe(parts.recipes)
    if first is not None:
        identity = dataclasses.replace(
            identity, model_id=first.model_id, recipe=first.number, recipe_name=first.name
        )
    listeners: tuple[StationListener, ...] = (link.monitor,) if link else ()
    notifier = SystemdNotifier.from_environment()  # under systemd's Type=notify
    listeners += (notifier,) if notifier else ()
    locate = PartLocator(config.locate) if config.locate else None
    station = Station(
        Pipeline(
            parts.trigger,
            detector,
            parts.judge,
            identity,
            recorder=parts.writer,
            hot_sinks=(link.result_sink,) if link else (),
            locate=locate,
            measure=measure_image if parts.spc and parts.spc.wants_image_health else None,
            rectifier=parts.rectifier,
            roi=parts.roi,
        ),
        capture_factory,
        parts.runners,
        StationOptions(
            max_pending,
            not source.live,
            overlap=overlap_inference(config.model.overlap, detector),
            max_model_failures=config.model.max_failures,
        ),
        listeners=listeners,
        recipes=parts.recipes,
    )
    if link is not None:
        link.handshake.set_reset_listener(station.reset_faults)
    if link is not None and first is not None:
        link.handshake.set_recipe(first.number)
        link.handshake.set_recipe_listener(
            lambda request: station.request_recipe(request.number, Requester.PLC)
        )
    if parts.spc is not None and link is not None:
        link.handshake.set_spc_ack_listener(parts.spc.request_ack)
    return station


def _first_recipe(book: RecipeBook | None) -> Recipe | None:
    """The recipe the book loaded first: the one the station starts with."""
    if book is None:
        return None
    return book.get(book.loaded()[0])


def _open_recipes(
    config: StationConfig, asked: int | None, frame_shape: FrameShape, stack: contextlib.ExitStack
) -> tuple[RecipeBook, Recipe, str]:
    """The recipe book with the start recipe loaded first, then the preloaded ones
    within `recipe_memory_mb`; and why the start recipe is the one it is."""
    book = RecipeBook(
        {r.number: r.name for r in config.recipes}, _recipe_loader(config, frame_shape)
    )
    stack.callback(book.close)
    number, why = _start_recipe(config, asked)
    first = book.get(number)
    budget = config.recipe_memory_mb * 1024 * 1024 - _model_bytes(config, number)
    for recipe in config.recipes:
        size = _model_bytes(config, recipe.number)
        if recipe.preload and recipe.number != number and size <= budget:
            book.get(recipe.number)
            budget -= size
    return book, first, why


def _start_recipe(config: StationConfig, asked: int | None) -> tuple[int, str]:
    if asked is not None:
        return asked, "asked for at start-up"
    last = last_recipe(config.storage.database)
    if last is not None and any(r.number == last for r in config.recipes):
        return last, "the last active recipe"
    if config.recipe is not None:
        return config.recipe, "the configured start recipe"
    return config.recipes[0].number, "the first configured recipe"


def _model_bytes(config: StationConfig, number: int) -> int:
    """What a recipe's model costs the memory budget: its file(s) on disk."""
    path = recipe_config(config, number).model.path
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def _recipe_loader(config: StationConfig, frame_shape: FrameShape) -> Callable[[int], Recipe]:
    """Open one recipe as a start would: its model and rules, its calibration checked
    against the camera's frame, its part locator."""
    names = {r.number: r.name for r in config.recipes}

    def load(number: int) -> Recipe:
        merged = recipe_config(config, number)
        detector, judge = open_model(merged)
        try:
            check_rois(merged, frame_shape)
            profile = station_profile(merged.calibration)
            calibration_id = check_calibration(profile, merged, frame_shape)
            rectifier, roi = calibration_stage(profile, merged, detector, frame_shape)
        except BaseException:
            detector.close()
            raise
        locate = PartLocator(merged.locate) if merged.locate else None
        return Recipe(
            number,
            names[number],
            detector,
            judge,
            merged.model.path.name,
            locate,
            rectifier,
            roi,
            calibration_id,
            merged.trigger,
        )

    return load


def _note_start_recipe(station: Station, recipe: Recipe, why: str) -> None:
    """The start recipe, in the log and the event log (which a restart resumes from)."""
    station.note_change(
        EventKind.RECIPE_CHANGED,
        f"recipe {recipe.number} ({recipe.name}) active at start-up: {why}",
        recipe=recipe.number,
        name=recipe.name,
        by=Requester.START.value,
        model_sha256=recipe.detector.info.sha256,
        load_ms=round(recipe.load_ms, 1),
        error="",
    )


def _open_plc(config: StationConfig, stack: contextlib.ExitStack) -> PlcLink | None:
    if not config.plc.enabled:
        return None
    link = open_plc(config.plc)
    stack.callback(link.close)
    return link


def _open_store(
    config: StationConfig,
    detector: Detector,
    judge: Judge,
    stack: contextlib.ExitStack,
    command: str,
    calibration_id: str | None,
) -> tuple[StoreLink, tuple[AuditEntry, ...]]:
    """The store (migrated forward), the worker's inspection writer, the log thread's
    image and event sink, and one audit row per thing that changed since the last start."""
    storage = config.storage
    store = open_store(storage.database, images_dir=storage.images_dir)
    stack.callback(store.close)
    writer = InspectionWriter(store.connect(), detector.info.names)
    log_conn = store.connect()
    quota = int(storage.images_quota_mb * 1024 * 1024)
    archive = ImageArchive.open(log_conn, storage.images_dir, quota)
    sink = StoreSink(log_conn, archive, storage.save_pass_fraction, storage.save_failed)
    changes = audit_start(
        writer.connection,
        config.station.name,
        config_hash(config),
        detector.info.sha256,
        judge.default_confidence,
        calibration_id,
        command,
    )
    return StoreLink(store, writer, sink), changes


# What a change the audit found at start is announced as.
_CHANGE_EVENTS = {
    AuditKind.CONFIG: EventKind.CONFIG_CHANGED,
    AuditKind.MODEL: EventKind.MODEL_CHANGED,
    AuditKind.THRESHOLD: EventKind.THRESHOLD_CHANGED,
    AuditKind.CALIBRATION: EventKind.CALIBRATION_CHANGED,
}


def _change_message(change: AuditEntry) -> str:
    old = change.old_hash or "none"
    return f"{change.kind.value} changed since the last start: {old} -> {change.new_hash}"


def _spc_enabled(config: StationConfig) -> bool:
    """Whether the station keeps SPC charts: its own section's or any recipe's."""
    return config.spc.enabled or any(r.spc is not None and r.spc.enabled for r in config.recipes)


def _open_spc(
    config: StationConfig,
    recipe: int | None,
    store: StoreLink,
    class_names: tuple[str, ...],
    command: str,
) -> SpcSink | None:
    """The SPC monitors on their own connection, with what the last run left finished
    from the log (the sink closes the connection). With recipes, the start recipe's
    engine opens now and each other recipe's with its first part, on the sink's thread
    (its model's class names come with that part's record)."""
    if not _spc_enabled(config):
        return None
    conn = store.store.connect()

    def opener(number: int, names: tuple[str, ...], before_row: int | None) -> SpcEngine | None:
        spc = recipe_config(config, number).spc
        if not spc.enabled:
            return None
        specs = monitor_specs(spc, names, number)
        engine = SpcEngine(conn, specs, spc.subgroup_size, spc.baseline_subgroups, command, number)
        return engine.open(before_row)

    try:
        if recipe is None:
            spc = config.spc
            specs = monitor_specs(spc, class_names)
            engine = SpcEngine(conn, specs, spc.subgroup_size, spc.baseline_subgroups, command)
            return SpcSink(engine.open(), class_names)
        image = any(
            measure in IMAGE_MEASURES
            for r in config.recipes
            for measure in _measures(recipe_config(config, r.number).spc)
        )
        start = opener(recipe, class_names, None)
        return SpcSink(start, class_names, opener, image, recipe=recipe, conn=conn)
    except BaseException:
        conn.close()
        raise


def _measures(spc: SpcConfig) -> set[str]:
    """What a recipe's monitors measure (the defaults include the image figures)."""
    if not spc.enabled:
        return set()
    defaults = {"brightness", "focus"} if spc.default_monitors else set()
    return defaults | {m.measure for m in spc.monitors}


def _web_listener(config: StationConfig, class_names: tuple[str, ...]) -> Dashboard | None:
    if not config.web.enabled:
        return None
    from inspector.web.server import listener

    return listener(config.web, class_names)


def _open_web(
    config: StationConfig,
    dashboard: Dashboard | None,
    station: Station,
    store: StoreLink,
    link: PlcLink | None,
    stack: contextlib.ExitStack,
) -> WebServer | None:
    """The dashboard's server, serving from its own thread as soon as it is open (the
    station's `stop` closes it, after the sinks)."""
    if dashboard is None:
        return None
    from inspector.web.server import open_dashboard

    server = open_dashboard(config.web, dashboard, station, store, config.storage.images_dir, link)
    stack.callback(server.close)
    return server


def _open_sink(config: SinkConfig, context: OpenContext) -> SinkRunner:
    kind = config.kind
    sink: Sink = SINKS.plugin_class(kind).open(config, context)
    return SinkRunner(sink, config.queue_size)


def check_calibration(
    profile: Profile | None, config: StationConfig, frame_shape: FrameShape
) -> str | None:
    """The profile's id, once its image size is the camera's."""
    if profile is None:
        return None
    height, width = frame_shape[:2]
    if tuple(profile.image_size) != (width, height):
        w, h = profile.image_size
        raise ConfigError(
            f"calibration.profile: {config.calibration.profile} was measured at {w}x{h}, the "
            f"camera gives {width}x{height} frames; recalibrate at the camera's resolution"
        )
    return profile.calibration_id


def calibration_stage(
    profile: Profile | None,
    config: StationConfig,
    detector: Detector,
    frame_shape: FrameShape,
) -> tuple[Rectifier | None, Region | None]:
    """What the profile adds to preprocessing: the one-remap rectifier (with
    intrinsics) and the ROI inspected when a trigger gives no region."""
    if profile is None:
        return None, None
    path = config.calibration.profile
    assert path is not None  # enabled profiles have one (validated)
    roi = Region(*profile.roi) if profile.roi is not None else None
    height, width = frame_shape[:2]
    if roi is not None and (roi.x1 > width or roi.y1 > height):
        raise ConfigError(
            f"calibration.profile: its roi {profile.roi} leaves the camera's {width}x{height} frame"
        )
    if profile.intrinsics is None:
        return None, roi
    if detector.info.channels != 3:
        raise ConfigError(
            "calibration.profile: undistortion feeds 3-channel models; this one takes "
            f"{detector.info.channels}"
        )
    gain = load_flat_gain(profile, path)
    if gain is not None and detector.uint8_input:
        raise ConfigError(
            "model.backend.preprocess: 'model' feeds the model uint8 pixels, which cannot "
            "carry the calibration profile's flat-field gain at the float path's precision; "
            "use preprocess: host with this profile"
        )
    rectifier = Rectifier.build(
        profile.intrinsics.matrix(),
        profile.intrinsics.dist(),
        (width, height),
        gain,
        detector.info.input_hw,
    )
    return rectifier, roi


def check_rois(config: StationConfig, frame_shape: FrameShape) -> None:
    """Every ROI lies inside the camera's frame (checked against its first frame)."""
    height, width = frame_shape[:2]
    for field, roi in (
        ("trigger.roi", getattr(config.trigger, "roi", None)),
        ("locate.roi", config.locate.roi if config.locate else None),
    ):
        if isinstance(roi, Roi) and (roi.x + roi.width > width or roi.y + roi.height > height):
            raise ConfigError(
                f"{field}: x {roi.x} + width {roi.width}, y {roi.y} + height {roi.height} "
                f"lies outside the camera's {width}x{height} frame"
            )
