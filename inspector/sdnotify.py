"""systemd's notify protocol, for `Type=notify` with `WatchdogSec=` (deploy/inspector.service).

The station tells systemd it is up (READY=1) once it has started, pets the watchdog
(WATCHDOG=1) from its inspection worker's health tick, so a hung pipeline stops the pets
and systemd restarts the service, and says STOPPING=1 on its way down. The protocol is
one datagram per message to the unix socket named by $NOTIFY_SOCKET (a leading '@' is
the abstract namespace): a few lines here rather than a dependency.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

from inspector.types import StationEvent, StationHealth, StationListener, StationState

__all__ = ["SystemdNotifier"]

log = logging.getLogger(__name__)

STARTED = (StationState.READY, StationState.BUSY, StationState.FAULT)
# without WATCHDOG_USEC (no WatchdogSec=), pets still go out, this often at most
DEFAULT_PET_S = 1.0


class SystemdNotifier(StationListener):
    """Sends READY=1, WATCHDOG=1, STATUS= and STOPPING=1 to systemd's notify socket."""

    def __init__(self, address: str, pet_every_s: float = DEFAULT_PET_S) -> None:
        # '@name' is Linux's abstract namespace, which Python spells with a NUL byte
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._pet_every_s = pet_every_s
        self._last_pet = float("-inf")
        self._ready = False

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> SystemdNotifier | None:
        """A notifier when systemd runs the station as Type=notify, else None. Pets go out
        at half the watchdog's period (WATCHDOG_USEC), as sd_notify(3) advises."""
        address = env.get("NOTIFY_SOCKET")
        if not address:
            return None
        watchdog_usec = env.get("WATCHDOG_USEC", "")
        every = int(watchdog_usec) / 2e6 if watchdog_usec.isdigit() else DEFAULT_PET_S
        return cls(address, min(every, DEFAULT_PET_S))

    def notify(self, message: str) -> None:
        try:
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:  # systemd gone or the socket not there: nothing to tell
            log.debug("sd_notify %s: %s", message.split("=")[0], exc)

    def on_health(self, health: StationHealth) -> None:
        now = time.monotonic()  # the worker ticks per part: pet at the period, no faster
        if now - self._last_pet >= self._pet_every_s:
            self._last_pet = now
            self.notify("WATCHDOG=1")

    def on_event(self, event: StationEvent) -> None:
        if event.state in STARTED and not self._ready:
            self._ready = True
            self.notify(f"READY=1\nSTATUS=station {event.state.value}")
        elif event.state is StationState.STOPPING:
            self.notify("STOPPING=1\nSTATUS=station stopping")
        elif event.state is StationState.STOPPED:
            self._socket.close()
        else:
            self.notify(f"STATUS=station {event.state.value}: {event.message}")
