"""Aravis's GigE Vision camera simulator (`arv-fake-gv-camera-0.8`, Debian's aravis-tools)
on loopback, as the camera the aravis tests talk to.

It listens on the GigE Vision port 3956, so only one can run on a machine: a file lock
serialises the tests (and test runs) that start one.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SIMULATOR = "arv-fake-gv-camera-0.8"
ADDRESS = "127.0.0.1"
SERIAL = "INSPECT01"
CAMERA_ID = f"Aravis-Fake-{SERIAL}"
LOCK = Path(tempfile.gettempdir()) / "inspector-arv-fake-gv-camera.lock"


def require_aravis() -> None:
    """Fail (not skip) when what `make system-deps` and the aravis extra install is
    missing: both are installable here, so a skip would hide a broken set-up."""
    if shutil.which(SIMULATOR) is None:
        pytest.fail(f"{SIMULATOR} not found: apt-get install aravis-tools (make system-deps)")
    from inspector.camera.aravis import aravis_module

    aravis_module()


class FakeCamera:
    """The simulator process: `start`, `kill` (a camera unplugged), `start` again."""

    def __init__(self, serial: str = SERIAL, lost_per_thousand: int = 0) -> None:
        self.serial = serial
        self.lost_per_thousand = lost_per_thousand  # stream packets it drops (-r)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> FakeCamera:
        self._process = subprocess.Popen(
            [SIMULATOR, "-i", ADDRESS, "-s", self.serial, "-r", str(self.lost_per_thousand)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_listed()
        return self

    def restart(self, lost_per_thousand: int) -> None:
        """Start again, dropping this many stream packets in a thousand."""
        self.kill()
        self.lost_per_thousand = lost_per_thousand
        self.start()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(5)
            self._process = None

    def _wait_listed(self, timeout: float = 10.0) -> None:
        from inspector.camera.aravis import discover

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                # another simulator holds port 3956 (one left behind by a killed run?)
                raise RuntimeError(f"{SIMULATOR} exited at start: is port 3956 taken?")
            if any(info.serial == self.serial for info in discover()):
                return
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{SIMULATOR} did not come up within {timeout} s")


@contextmanager
def fake_camera(lost_per_thousand: int = 0) -> Iterator[FakeCamera]:
    """A running simulator, held under the machine-wide lock (not re-entrant: a test
    in a module with a simulator fixture restarts that one instead)."""
    require_aravis()
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        camera = FakeCamera(lost_per_thousand=lost_per_thousand).start()
        try:
            yield camera
        finally:
            camera.kill()
