"""SinkRunner: records that queue up are handed over together; failures are counted per
record; a sink that raises never stops the runner."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from inspector.sinks.base import MAX_BATCH, Sink, SinkRunner
from inspector.types import Inspection
from tests.sinks.records import make_inspection


class GatedSink(Sink):
    """Holds its first call until released, so that later records queue up; fails the
    records whose seq is in `failing`."""

    name = "gated"

    def __init__(self, failing: frozenset[int] = frozenset()) -> None:
        self.failing = failing
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def handle(self, record: Inspection) -> None:
        if record.seq in self.failing:
            raise ValueError(f"record {record.seq} refused")

    def handle_batch(self, records: Sequence[Inspection]) -> list[Exception]:
        self.batches.append([r.seq for r in records])
        self.entered.set()
        self.release.wait(5)
        return super().handle_batch(records)


class RaisingBatchSink(GatedSink):
    def handle_batch(self, records: Sequence[Inspection]) -> list[Exception]:
        super().handle_batch(records)
        raise OSError("disk gone")


def run(sink: GatedSink, count: int) -> SinkRunner:
    """Submit record 1, wait until the sink holds it, queue the rest, then let it go."""
    runner = SinkRunner(sink, queue_size=1000).start()
    try:
        runner.submit(make_inspection(1))
        assert sink.entered.wait(5)
        for seq in range(2, count + 1):
            runner.submit(make_inspection(seq))
        sink.release.set()
    finally:
        runner.stop()
    return runner


@pytest.mark.parametrize(
    ("count", "expected_batches"),
    [
        (1, [[1]]),
        (6, [[1], [2, 3, 4, 5, 6]]),
        (MAX_BATCH + 3, [[1], list(range(2, MAX_BATCH + 2)), [MAX_BATCH + 2, MAX_BATCH + 3]]),
    ],
)
def test_queued_records_are_handed_over_together_in_order(count, expected_batches):
    sink = GatedSink()
    runner = run(sink, count)
    assert sink.batches == expected_batches
    assert (runner.handled, runner.failures, runner.healthy) == (count, 0, True)


@pytest.mark.parametrize(
    ("sink", "expected"),
    [
        # (handled, failures, healthy): each record succeeds or fails on its own
        (GatedSink(failing=frozenset({3})), (5, 1, False)),
        (GatedSink(failing=frozenset({1})), (5, 1, True)),  # the next batch succeeded
        (RaisingBatchSink(), (0, 6, False)),  # an override that raises fails its batch
    ],
)
def test_failures_are_counted_per_record(sink, expected):
    runner = run(sink, 6)
    assert (runner.handled, runner.failures, runner.healthy) == expected


class LingeringSink(GatedSink):
    linger_s = 0.5


def test_a_lingering_sink_takes_the_records_that_follow_within_its_linger():
    sink = LingeringSink()
    sink.release.set()
    runner = SinkRunner(sink).start()
    try:
        for seq in (1, 2, 3):
            runner.submit(make_inspection(seq))
    finally:
        runner.stop()
    assert sink.batches == [[1, 2, 3]]
    assert runner.handled == 3


class TickingSink(Sink):
    """Ticks every 10 ms; its second tick raises."""

    name = "ticking"
    tick_s = 0.01

    def __init__(self) -> None:
        self.ticks = 0
        self.ticked = threading.Event()

    def handle(self, record: Inspection) -> None:
        pass

    def tick(self) -> None:
        self.ticks += 1
        if self.ticks == 2:
            raise OSError("store locked")
        if self.ticks >= 4:
            self.ticked.set()


def test_a_ticking_sink_ticks_without_records_and_a_failed_tick_is_counted():
    sink = TickingSink()
    runner = SinkRunner(sink).start()
    try:
        assert sink.ticked.wait(5)
        runner.submit(make_inspection(1))
    finally:
        runner.stop()
    assert runner.failures == 1 and runner.handled == 1
    assert runner.healthy  # the record after the failed tick succeeded


def test_a_sink_without_tick_s_never_ticks():
    sink = TickingSink()
    sink.tick_s = 0.0
    runner = SinkRunner(sink).start()
    runner.submit(make_inspection(1))
    runner.stop()
    assert sink.ticks == 0 and runner.handled == 1
