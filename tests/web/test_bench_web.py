"""`bench --web`: both sides measured on one station, the watcher really watching."""

from __future__ import annotations

from inspector.bench import BenchOptions
from inspector.demo import DEMO_MODEL, DEMO_VIDEO
from inspector.web.bench import measure_web


def test_watched_and_alone_are_both_measured():
    doc = measure_web(BenchOptions(model=DEMO_MODEL, video=DEMO_VIDEO, blocks=2, block_parts=4))
    for side in ("watched", "alone"):
        assert doc[side]["pipeline_fps"] > 0
        assert doc[side]["latency_ms"]["p99"] > 0
    assert doc["watched_over_alone_fps"] > 0
    assert doc["watcher"]["frames_received"] > 0
    assert doc["watcher"]["status_polls"] >= 0
