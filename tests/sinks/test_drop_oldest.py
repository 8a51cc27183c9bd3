"""A `drop_oldest` sink behind: its queue keeps the newest records, and counts the rest."""

from __future__ import annotations

import threading

import pytest

from inspector.sinks.base import Sink, SinkRunner
from inspector.types import Inspection
from tests.sinks.records import make_inspection


class _Held(Sink):
    """Holds its thread on the first record until released."""

    name = "held"

    def __init__(self, drop_oldest: bool) -> None:
        self.drop_oldest = drop_oldest  # type: ignore[misc]
        self.release = threading.Event()
        self.seen: list[int] = []

    def handle(self, record: Inspection) -> None:
        self.release.wait(10)
        self.seen.append(record.seq)


@pytest.mark.parametrize(
    ("drop_oldest", "expected_seen", "expected_submitted"),
    [
        (False, [1, 2, 3, 4], [True] * 4 + [False] * 4),  # the newest are lost
        (True, [1, 6, 7, 8], [True] * 8),  # the oldest queued are lost
    ],
)
def test_a_full_queue(drop_oldest: bool, expected_seen: list[int], expected_submitted: list):
    sink = _Held(drop_oldest)
    runner = SinkRunner(sink, queue_size=3).start()
    submitted = [runner.submit(make_inspection(1))]
    while runner.depth:  # the first record is in the sink's hands
        threading.Event().wait(0.01)
    submitted += [runner.submit(make_inspection(seq)) for seq in range(2, 9)]
    sink.release.set()
    runner.stop()
    assert sink.seen == expected_seen
    assert submitted == expected_submitted
    assert runner.dropped == 4
