"""`inspector bench --source CONFIG`: what acquiring a frame costs the station's CPU.

The frames are read as the capture thread reads them (into one reused buffer) and timed
twice: the CPU time of the whole process, which includes the threads a camera library
runs of its own (Aravis receives GigE Vision packets on one), and that of the reading
thread alone (waiting, converting, the one copy).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from inspector.camera.base import FrameSource, SourceConfig, open_source
from inspector.errors import DataError

__all__ = ["bench_source"]


def bench_source(config: SourceConfig, frames: int = 2000, warmup: int = 50) -> dict[str, Any]:
    """Read `warmup` then `frames` frames from the source `config` opens; the figures."""
    with open_source(config) as source:
        out = np.zeros(source.frame_shape, np.uint8)
        _read(source, out, warmup)
        wall, process, thread = time.perf_counter(), time.process_time(), time.thread_time()
        copied_in_place = _read(source, out, frames)
        wall = time.perf_counter() - wall
        process = time.process_time() - process
        thread = time.thread_time() - thread
        report = source.report()
        height, width, channels = source.frame_shape
        return {
            "source": source.name,
            "kind": config.kind,
            "pixel_format": source.origin.pixel_format,
            "frame": {"width": width, "height": height, "channels": channels},
            "frames": frames,
            "fps": round(frames / wall, 1),
            "cpu_ms_per_frame": round(process / frames * 1000, 4),
            "read_thread_cpu_ms_per_frame": round(thread / frames * 1000, 4),
            "wall_ms_per_frame": round(wall / frames * 1000, 4),
            "written_in_place": copied_in_place,
            "problems": list(report.problems),
        }


def _read(source: FrameSource, out: np.ndarray, count: int) -> bool:
    """Whether every frame landed in `out` (no buffer of the source's own handed back)."""
    in_place = True
    for index in range(count):
        image = source.read(out)
        if image is None:
            raise DataError(f"{source.name}: ended after {index} of {count} frames")
        in_place = in_place and image is out
    return in_place
