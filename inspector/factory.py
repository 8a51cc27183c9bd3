"""Build a ready station from a validated config: every piece of I/O happens here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inspector.camera.base import FrameSource, open_source
from inspector.camera.capture import Capture, CaptureState, FramePool
from inspector.config import StationConfig, config_hash
from inspector.detect.base import DecodeParams, Detector, ModelOverrides, open_detector
from inspector.errors import ConfigError, DataError
from inspector.judge import Judge
from inspector.modelcard import load_card
from inspector.plc.link import PlcLink, open_plc
from inspector.sinks.base import Sink, SinkRunner
from inspector.station import Pipeline, RecordIdentity, Station, StationOptions
from inspector.store.archive import ImageArchive
from inspector.store.db import open_store
from inspector.store.inspections import InspectionWriter
from inspector.store.sink import StoreSink
from inspector.trigger.base import open_trigger
from inspector.types import Frame, Inspection
from inspector.vision.parts import PartLocator

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


def open_model(config: StationConfig) -> tuple[Detector, Judge]:
    """Load the detector and compile the judge's rules (default threshold: the card's)."""
    detector = open_detector(
        config.model.path,
        config.model.backend,
        overrides=ModelOverrides(imgsz=config.model.imgsz),
        threads=config.model.threads,
    )
    card = load_card(config.model.path)
    card_threshold = card.pass_fail.threshold if card and card.pass_fail else None
    try:
        judge = Judge(detector.info.names, config.judge, card_threshold)
        conf = config.model.conf if config.model.conf is not None else judge.lowest_confidence
        if conf > judge.lowest_confidence:
            raise ConfigError(
                f"model.conf: {conf} drops detections the judge would count "
                f"(lowest rule {judge.lowest_confidence:.3f})"
            )
    except ConfigError:
        detector.close()
        raise
    detector.with_params(DecodeParams(conf=conf, iou=config.model.iou))
    return detector, judge


def overlap_inference(setting: str, detector: Detector) -> bool:
    """`model.overlap` for this detector: auto overlaps where inference spares a core."""
    return setting == "on" or (setting == "auto" and detector.spare_cpu)


class _RowsThenImages(StoreSink):
    """Interim, until the inspection worker commits each row itself: the log thread
    commits the row (`InspectionWriter`), then archives the image as `StoreSink` does."""

    def __init__(
        self,
        writer: InspectionWriter,
        archive: ImageArchive,
        save_pass_fraction: float,
        save_failed: bool,
    ) -> None:
        super().__init__(writer.connection, archive, save_pass_fraction, save_failed)
        self._writer = writer

    def handle_batch(self, records: Sequence[Inspection]) -> list[Exception]:
        committed, errors = [], []
        for record in records:
            try:
                self._writer.commit(record)
                committed.append(record)
            except DataError as exc:
                errors.append(exc)
        return errors + super().handle_batch(committed)


def build_station(
    config: StationConfig,
    model: tuple[Detector, Judge] | None = None,
    extra_sinks: list[Sink] | None = None,
    max_pending_frames: int = 4,
    source: FrameSource | None = None,
) -> StationParts:
    """Open model and source (unless given), trigger and log, and wire the station."""
    detector, judge = model or open_model(config)
    link = None
    try:
        source = source or open_source(config.camera)
        link = open_plc(config.plc) if config.plc.enabled else None
        trigger = (
            link.trigger(config.trigger.deadline_ms)
            if config.trigger.kind == "plc"
            else open_trigger(config.trigger)
        )
        storage = config.storage
        store = open_store(storage.database, images_dir=storage.images_dir)
        conn = store.connect()  # the log thread's
        try:
            quota = int(storage.images_quota_mb * 1024 * 1024)
            archive = ImageArchive.open(conn, storage.images_dir, quota)
        except Exception:
            store.close()
            raise
    except Exception:
        detector.close()
        if link is not None:
            link.close()
        raise
    log_sink = _RowsThenImages(
        InspectionWriter(conn, detector.info.names),
        archive,
        storage.save_pass_fraction,
        storage.save_failed,
    )
    runners = [SinkRunner(log_sink, storage.queue_size, critical=True)]
    runners += [SinkRunner(sink) for sink in extra_sinks or []]
    pool = FramePool(source.frame_shape, max_pending_frames + POOL_SLACK)
    reopen = (lambda: open_source(config.camera)) if source.live else None
    backoff = getattr(config.camera, "reconnect", None)

    def capture_factory(
        on_frame: Callable[[Frame], None], on_state: Callable[[CaptureState, str], None]
    ) -> Capture:
        return Capture(source, pool, on_frame, reopen=reopen, backoff=backoff, on_state=on_state)

    identity = RecordIdentity(
        model_id=config.model.path.name,
        model_sha256=detector.info.sha256,
        config_hash=config_hash(config),
    )
    plc_parts = {"hot_sinks": (link.result_sink,), "monitors": (link.monitor,)} if link else {}
    locate = PartLocator(config.locate) if config.locate else None
    station = Station(
        Pipeline(trigger, detector, judge, identity, locate=locate, **plc_parts),
        capture_factory,
        runners,
        StationOptions(
            max_pending_frames,
            not source.live,
            overlap=overlap_inference(config.model.overlap, detector),
            keep_image=log_sink.wants_image,
            on_stop=(link.close,) if link else (),
        ),
    )
    return StationParts(station, detector, judge, log_sink, link)
