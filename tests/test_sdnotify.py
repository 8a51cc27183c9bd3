"""systemd's notify protocol: what the station tells a real unix datagram socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from inspector.sdnotify import SystemdNotifier
from tests.test_cli_station import write_config


@pytest.fixture
def notify_socket() -> Iterator[tuple[str, socket.socket]]:
    """A bound datagram socket, as systemd's; a short path (sun_path holds 108 bytes)."""
    folder = tempfile.mkdtemp(prefix="sdn-", dir="/tmp")
    path = os.path.join(folder, "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(5)
    try:
        yield path, listener
    finally:
        listener.close()
        os.unlink(path)
        os.rmdir(folder)


def received(listener: socket.socket) -> list[str]:
    listener.setblocking(False)
    messages = []
    while True:
        try:
            messages.append(listener.recv(4096).decode())
        except BlockingIOError:
            return messages


@pytest.mark.parametrize(
    ("env", "address", "pet_every_s"),
    [
        ({}, None, None),
        ({"NOTIFY_SOCKET": ""}, None, None),
        ({"NOTIFY_SOCKET": "/run/systemd/notify"}, "/run/systemd/notify", 1.0),
        ({"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "10000000"}, "/run/n", 1.0),
        ({"NOTIFY_SOCKET": "/run/n", "WATCHDOG_USEC": "400000"}, "/run/n", 0.2),
        ({"NOTIFY_SOCKET": "@sd/notify", "WATCHDOG_USEC": "x"}, "\0sd/notify", 1.0),
    ],
)
def test_from_environment(env, address, pet_every_s):
    notifier = SystemdNotifier.from_environment(env)
    if address is None:
        assert notifier is None
        return
    assert notifier is not None
    assert (notifier._address, notifier._pet_every_s) == (address, pet_every_s)
    notifier._socket.close()


def test_a_station_under_systemd_says_ready_pets_the_watchdog_and_stopping(
    tmp_path: Path, notify_socket
):
    path, listener = notify_socket
    env = os.environ | {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "100000"}
    config = write_config(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "inspector", "run", "--config", str(config), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    messages = received(listener)
    kinds = [m.splitlines()[0] for m in messages]
    assert kinds.count("READY=1") == 1, messages
    assert "WATCHDOG=1" in kinds, messages
    assert kinds.index("READY=1") < kinds.index("STOPPING=1"), messages
    assert "STATUS=station ready" in messages[kinds.index("READY=1")]
    assert "model.backend auto: " in result.stderr  # which backend auto picked, and why


def test_no_socket_listening_is_not_an_error(tmp_path: Path):
    notifier = SystemdNotifier(str(tmp_path / "nobody"))
    notifier.notify("WATCHDOG=1")  # logged at debug level, never raised
    notifier._socket.close()
