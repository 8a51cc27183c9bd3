"""A failed start leaves nothing behind: no thread, no open file, no listening port.

`build_station` opens model, camera, PLC link, trigger, store and sinks in that order;
each case below fails at one of those steps, with the PLC server opened wherever the
failure comes after it. Before and after, the test counts threads and open file
descriptors and binds the PLC port itself.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import Field

from inspector.config import parse_config
from inspector.errors import InspectorError
from inspector.factory import build_station
from inspector.sinks.base import Sink
from inspector.sinks.config import SinkConfig
from inspector.sinks.registry import SINKS
from inspector.types import Inspection
from tests.camera.media import write_video
from tests.conftest import shipped_model
from tests.plc.harness import free_port


class BoomSinkConfig(SinkConfig):
    kind: Literal["test-boom"] = Field(description="A sink whose open always fails.")


class BoomSink(Sink):
    name = "boom"

    @classmethod
    def open(cls, config: BoomSinkConfig, context: object) -> BoomSink:
        raise OSError("the sink's server is down")

    def handle(self, record: Inspection) -> None:
        pass


@pytest.fixture(scope="module", autouse=True)
def boom_sink() -> Iterator[None]:
    SINKS.register("test-boom", BoomSinkConfig, BoomSink)
    yield
    SINKS.unregister("test-boom")


def open_fds() -> list[str]:
    fds = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed already
            fds.append(f"{fd} -> {os.readlink(f'/proc/self/fd/{fd}')}")
    return sorted(fds)


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def alive_threads() -> set[str]:
    return {f"{t.name}#{t.ident}" for t in threading.enumerate() if t.is_alive()}


def base(tmp_path: Path, port: int) -> dict[str, Any]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return {
        # a video holds its file open (a folder source opens each image in turn)
        "camera": {"kind": "video", "path": str(write_video(tmp_path / "v.avi", "MJPG", 4))},
        "trigger": {"kind": "plc"},
        "model": {"path": str(shipped_model("magnetic-tile"))},
        "judge": {"min_confidence": 0.5},
        "storage": {"database": str(tmp_path / "log.db"), "images_dir": str(tmp_path / "img")},
        "plc": {"enabled": True, "port": port, "host": "127.0.0.1"},
    }


def without_plc_link(cfg):
    """trigger.kind plc with the link off: validation refuses it, the factory must too."""
    return cfg.model_copy(update={"plc": cfg.plc.model_copy(update={"enabled": False})})


def occupied(tmp_path: Path, doc: dict) -> Callable[[], None]:
    """Another program listening on the PLC port."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", doc["plc"]["port"]))
    holder.listen()
    return holder.close


def a_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("not a folder")
    return path


# (name, change to the config document, what the error says)
CASES: list[tuple[str, Callable[[Path, dict], None], str]] = [
    (
        "model missing",
        lambda t, d: d["model"].update(path=str(t / "gone.onnx")),
        "model file not found",
    ),
    (
        "camera path missing",
        lambda t, d: d["camera"].update(path=str(t / "gone.avi")),
        "gone.avi",
    ),
    (
        "roi outside the frame",
        lambda t, d: d.update(
            trigger={"kind": "presence", "roi": {"x": 0, "y": 0, "width": 5000, "height": 10}}
        ),
        "trigger.roi",
    ),
    ("plc port taken", lambda t, d: None, "cannot listen"),
    (
        "store path a directory",
        lambda t, d: d["storage"].update(database=str((t / "db-dir").resolve())),
        "cannot open inspection log",
    ),
    (
        "store folder a file",
        lambda t, d: d["storage"].update(database=str(a_file(t / "parent") / "log.db")),
        "cannot create its folder",
    ),
    (
        "images_dir a file",
        lambda t, d: d["storage"].update(images_dir=str(a_file(t / "img-file"))),
        "cannot create image folder",
    ),
    (
        "a sink that raises in open",
        lambda t, d: d.update(sinks=[{"kind": "test-boom"}]),
        "server is down",
    ),
    ("plc trigger without the link", lambda t, d: None, "needs plc.enabled"),
]


@pytest.mark.parametrize(("name", "change", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_failed_start_leaves_nothing_behind(tmp_path: Path, name, change, message):
    port = free_port()
    doc = base(tmp_path, port)
    (tmp_path / "db-dir").mkdir()
    change(tmp_path, doc)
    cfg = parse_config(doc, "test")
    if name == "plc trigger without the link":
        cfg = without_plc_link(cfg)
    # everything the factory imports lazily, and the runtime's one-time set-up, first
    build_station(parse_config(base(tmp_path / "warm", free_port()), "test")).station.stop()

    undo = occupied(tmp_path, doc) if name == "plc port taken" else None
    threads, fds = alive_threads(), open_fds()
    try:
        with pytest.raises((InspectorError, OSError)) as info:
            build_station(cfg)
        assert alive_threads() == threads
        assert open_fds() == fds
    finally:
        if undo:
            undo()
    assert message in str(info.value)
    assert port_free(port), "the PLC port is still taken"


def test_a_station_that_ran_leaves_nothing_behind(tmp_path: Path):
    port = free_port()
    cfg = parse_config(base(tmp_path, port), "test")
    build_station(parse_config(base(tmp_path / "warm", free_port()), "test")).station.stop()
    threads, fds = alive_threads(), open_fds()
    station = build_station(cfg).station
    assert not port_free(port)  # the PLC server listens while the station lives
    station.start()
    station.stop()
    assert alive_threads() == threads
    assert open_fds() == fds
    assert port_free(port)


@pytest.mark.parametrize(
    ("second_start", "events"),
    [
        ({}, []),  # nothing changed: nothing announced
        ({"judge": {"min_confidence": 0.6}}, ["config_changed", "threshold_changed"]),
    ],
)
def test_changes_since_the_last_start_are_audited_and_announced(
    tmp_path: Path, second_start: dict, events: list[str]
):
    import sqlite3

    doc = base(tmp_path, free_port())
    for change in ({}, second_start):
        station = build_station(parse_config(doc | change, "test")).station
        station.start()
        station.stop()
    with contextlib.closing(sqlite3.connect(tmp_path / "log.db")) as conn:
        announced = conn.execute(
            "SELECT kind FROM events WHERE kind LIKE '%changed' ORDER BY id"
        ).fetchall()
        audited = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
    first_start = ["config_changed", "model_changed", "threshold_changed"]
    assert [kind for (kind,) in announced] == first_start + events
    assert audited == 4 + len(events)  # the first start audits calibration (none) too


@pytest.mark.parametrize(
    ("model", "judge", "expected"),
    [
        ("magnetic-tile", {}, "card"),
        ("magnetic-tile", {"min_confidence": 0.5}, 0.5),
    ],
)
def test_the_judge_rejects_at_the_cards_threshold(tmp_path: Path, model, judge, expected):
    from inspector.factory import open_model
    from inspector.modelcard import load_card

    path = shipped_model(model)
    card = load_card(path)
    assert card is not None and card.pass_fail is not None
    threshold = card.pass_fail.threshold if expected == "card" else expected
    doc = base(tmp_path, free_port()) | {"model": {"path": str(path)}, "judge": judge}
    detector, judged = open_model(parse_config(doc, "test"))
    detector.close()
    assert judged.default_confidence == pytest.approx(threshold)
    assert judged.min_conf.tolist() == pytest.approx([threshold] * len(card.classes))
