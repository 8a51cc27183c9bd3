"""Real `Inspection` records for the sink and store tests."""

from __future__ import annotations

import time

import numpy as np

from inspector.types import (
    RESULT_NO_DECISION,
    RESULT_PASS,
    Detections,
    Inspection,
    Judgement,
    StageTimes,
    Verdict,
)

__all__ = ["CLASS_NAMES", "RUN_ID", "make_inspection", "part_image"]

CLASS_NAMES = ("crack", "scratch", "pit")
RUN_ID = "run-1"

# Stage timestamps (monotonic seconds): capture 2 ms, detect 10 ms, judge 1 ms, 14 ms in all.
_T0 = 1000.0


def make_inspection(
    seq: int,
    verdict: Verdict = Verdict.PASS,
    *,
    wall_time: float | None = None,
    image: np.ndarray | None = None,
    run_id: str = RUN_ID,
) -> Inspection:
    """A record as the station builds it: a FAIL has two defects (crack 0.9, pit 0.6),
    a PASS one sub-threshold scratch (0.2), a NO_DECISION nothing."""
    detections = _detections_for(verdict)
    defects = detections if verdict is Verdict.FAIL else Detections.empty()
    return Inspection(
        seq=seq,
        trigger_id=seq + 1000,
        origin="interval",
        part_serial=f"SN{seq:05d}",
        times=StageTimes(
            trigger=_T0,
            capture=_T0 + 0.002,
            detect_start=_T0 + 0.003,
            detect_end=_T0 + 0.013,
            judged=_T0 + 0.014,
        ),
        wall_time=time.time() if wall_time is None else wall_time,
        detections=detections,
        judgement=Judgement(verdict, _result_code(verdict), defects, reason=verdict.value.lower()),
        model_id="neu-det@test",
        model_sha256="ab" * 32,
        config_hash="0123456789abcdef",
        calibration_id=None,
        run_id=run_id,
        frame_seq=seq * 3,
        image=image,
    )


def _detections_for(verdict: Verdict) -> Detections:
    if verdict is Verdict.FAIL:
        return Detections.from_arrays([[10, 20, 30, 40], [50, 60, 70, 80.5]], [0.9, 0.6], [0, 2])
    if verdict is Verdict.PASS:
        return Detections.from_arrays([[1, 2, 3, 4]], [0.2], [1])
    return Detections.empty()


def _result_code(verdict: Verdict) -> int:
    return {Verdict.PASS: RESULT_PASS, Verdict.FAIL: 1, Verdict.NO_DECISION: RESULT_NO_DECISION}[
        verdict
    ]


def part_image(seq: int = 0) -> np.ndarray:
    """A small grey image; the same seq gives the same PNG size."""
    image = np.zeros((16, 24), np.uint8)
    image[4:12, 4:20] = 100 + seq % 100
    return image
