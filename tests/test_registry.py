"""Plug-ins registered from outside the package: a camera source, a trigger, a detector
backend and a sink, each with its own config model, used by a station.yaml, built and
run; the config schema lists them; a config whose kind disagrees is refused."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import yaml
from pydantic import Field

from inspector.camera.base import FrameSource, SourceConfig, SourceReport
from inspector.camera.registry import SOURCES
from inspector.config import config_model, load_config
from inspector.detect.config import OnnxRuntimeConfig
from inspector.detect.onnxruntime import OnnxRuntimeDetector
from inspector.detect.registry import BACKENDS
from inspector.errors import ConfigError, InspectorError
from inspector.factory import build_station
from inspector.registry import OpenContext
from inspector.sinks.base import Sink
from inspector.sinks.config import ConsoleSinkConfig, SinkConfig
from inspector.sinks.registry import SINKS
from inspector.trigger.base import Trigger
from inspector.trigger.config import TriggerConfig
from inspector.trigger.registry import TRIGGERS
from inspector.types import Frame, Inspection, TriggerEvent, Verdict
from tests.conftest import shipped_model

# ---------------------------------------------------------------- the plug-ins


class GrayCameraConfig(SourceConfig):
    kind: Literal["test-gray"] = Field(description="Uniform gray frames, then the end.")
    frames: int = Field(6, ge=1, description="How many frames.")
    level: int = Field(128, ge=0, le=255, description="Gray level.")


class GraySource(FrameSource):
    kind = "test-gray"
    live = False

    def __init__(self, frames: int, level: int) -> None:
        super().__init__("gray", (48, 64, 3), None)
        self._left = frames
        self._level = level
        self._read = 0

    @classmethod
    def open(cls, config: GrayCameraConfig) -> GraySource:
        return cls(config.frames, config.level)

    def read(self, out: np.ndarray | None = None) -> np.ndarray | None:
        if self._left == 0:
            return None
        self._left -= 1
        self._read += 1
        frame = out if self.fits(out) else np.empty(self.frame_shape, np.uint8)
        frame[:] = self._level
        return frame

    def report(self) -> SourceReport:
        return SourceReport(self._read)


class EveryOtherConfig(TriggerConfig):
    kind: Literal["test-every-other"] = Field(description="Every second frame is a part.")
    serial_prefix: str = Field("P", description="Part serials start with this.")


class EveryOtherTrigger(Trigger):
    kind = "test-every-other"
    frame_driven = True

    def __init__(self, deadline_ms: float, prefix: str) -> None:
        super().__init__(deadline_ms)
        self._frames = itertools.count()
        self._prefix = prefix

    @classmethod
    def open(cls, config: EveryOtherConfig, context: OpenContext) -> EveryOtherTrigger:
        return cls(config.deadline_ms, config.serial_prefix)

    def on_frame(self, frame: Frame) -> TriggerEvent | None:
        n = next(self._frames)
        if n % 2:
            return None
        return self.new_event(frame, t=frame.t_capture, part_serial=f"{self._prefix}{n}")


class CountingBackendConfig(OnnxRuntimeConfig):
    kind: Literal["test-counting"] = Field(description="ONNX Runtime, counting its calls.")


class CountingDetector(OnnxRuntimeDetector):
    backend = "test-counting"
    calls = 0

    def infer(self, tensor: np.ndarray) -> np.ndarray:
        CountingDetector.calls += 1
        return super().infer(tensor)


class CollectSinkConfig(SinkConfig):
    kind: Literal["test-collect"] = Field(description="Keeps every record in memory.")
    tag: str = Field("", description="Shows the sink got its own config.")


COLLECTED: list[tuple[str, Inspection]] = []


class CollectSink(Sink):
    name = "test-collect"

    def __init__(self, tag: str, names: tuple[str, ...]) -> None:
        self.tag = tag
        self.names = names

    @classmethod
    def open(cls, config: CollectSinkConfig, context: OpenContext) -> CollectSink:
        return cls(config.tag, context.class_names)

    def handle(self, record: Inspection) -> None:
        COLLECTED.append((self.tag, record))


PLUGINS = [
    (SOURCES, "test-gray", GrayCameraConfig, GraySource),
    (TRIGGERS, "test-every-other", EveryOtherConfig, f"{__name__}:EveryOtherTrigger"),
    (BACKENDS, "test-counting", CountingBackendConfig, f"{__name__}:CountingDetector"),
    (SINKS, "test-collect", CollectSinkConfig, CollectSink),
]


@pytest.fixture
def plugins() -> Iterator[None]:
    registered = []
    try:
        for registry, kind, config, target in PLUGINS:
            registry.register(kind, config, target)
            registered.append((registry, kind))
        yield
    finally:
        for registry, kind in registered:
            registry.unregister(kind)
        COLLECTED.clear()


# ---------------------------------------------------------------- tests


def test_a_station_runs_on_four_plugins_from_station_yaml(tmp_path: Path, plugins):
    doc = {
        "camera": {"kind": "test-gray", "frames": 7, "level": 90},
        "trigger": {"kind": "test-every-other", "serial_prefix": "T"},
        "model": {
            "path": str(shipped_model("magnetic-tile")),
            "backend": {"kind": "test-counting"},
        },
        "judge": {"min_confidence": 0.5},
        "storage": {"database": "log.db", "images_dir": "img"},
        "sinks": [{"kind": "test-collect", "tag": "mine"}],
    }
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(doc))
    cfg = load_config(path)
    assert (cfg.camera.kind, cfg.camera.frames) == ("test-gray", 7)
    assert isinstance(cfg.trigger, EveryOtherConfig)
    assert isinstance(cfg.model.backend, CountingBackendConfig)
    assert isinstance(cfg.sinks[0], CollectSinkConfig)

    CountingDetector.calls = 0
    parts = build_station(cfg)
    assert type(parts.detector) is CountingDetector
    station = parts.station
    station.start()
    try:
        assert station.wait(60), "station did not finish"
    finally:
        station.stop()
    records = [record for tag, record in COLLECTED]
    assert {tag for tag, _ in COLLECTED} == {"mine"}
    assert [r.frame_seq for r in records] == [0, 2, 4, 6]  # every other of 7 frames
    assert [r.part_serial for r in records] == ["T0", "T2", "T4", "T6"]
    assert all(r.verdict is not Verdict.NO_DECISION for r in records)
    assert CountingDetector.calls == 1 + 4  # warm-up, then one per part
    assert (tmp_path / "log.db").is_file()  # relative paths resolved beside station.yaml


def schema_text() -> str:
    return str(config_model().model_json_schema())


def test_the_schema_follows_registrations(request: pytest.FixtureRequest):
    """Assembled before, with and after the plug-ins: each time it shows what is there."""
    before = schema_text()
    assert not [kind for _, kind, _, _ in PLUGINS if kind in before]
    request.getfixturevalue("plugins")
    with_plugins = schema_text()
    assert [kind for _, kind, _, _ in PLUGINS if kind in with_plugins] == [
        kind for _, kind, _, _ in PLUGINS
    ]
    assert "Keeps every record in memory." in with_plugins  # the plug-in's own fields


def test_the_schema_forgets_unregistered_kinds():
    text = schema_text()
    for _, kind, _, _ in PLUGINS:
        assert kind not in text, kind


class WrongKind(SinkConfig):
    kind: Literal["something-else"] = Field(description="Not the kind it is registered as.")


class NotASink(SourceConfig):
    kind: Literal["test-misplaced"] = Field(description="A camera config, offered as a sink.")


def test_registering_a_config_that_disagrees_is_refused():
    with pytest.raises(InspectorError, match=r"WrongKind.kind must be Literal\['test-x'\]"):
        SINKS.register("test-x", WrongKind, CollectSink)
    with pytest.raises(InspectorError, match="must subclass SinkConfig"):
        SINKS.register("test-misplaced", NotASink, CollectSink)  # type: ignore[arg-type]
    with pytest.raises(InspectorError, match="registered already"):
        SINKS.register("console", ConsoleSinkConfig, CollectSink)
    assert "test-x" not in SINKS and "test-misplaced" not in SINKS


def test_an_unregistered_kind_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"sinks\.kind: unknown 'test-collect'"):
        SINKS.plugin_class("test-collect")
