"""Client mode: for PLCs that cannot poll, the station writes into the PLC's registers.

One poll thread: read the PLC's control block (6 words at `control_offset`), hand it to
the handshake, then write the station block (16 words at `station_offset`) in one
function-16 request, so the PLC never holds half a result. A station-block change (a
result, an acknowledged trigger) wakes the thread at once instead of waiting for the
next poll.

The PLC may refuse the connection, vanish, time out or answer exceptions: every one is a
lost link, logged once at warning level, followed by reconnects with exponential backoff
until it answers again (logged once at info level). The thread never dies of it.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from inspector.configbase import Backoff
from inspector.plc.handshake import Handshake
from inspector.plc.registers import CONTROL_BLOCK_WORDS, ControlBlock, PlcError

__all__ = ["ClientLayout", "Connector", "PlcClientLink", "tcp_connector"]

log = logging.getLogger(__name__)

Connector = Callable[[], ModbusTcpClient]
LINK_ERRORS = (ModbusException, OSError, PlcError)


@dataclass(frozen=True, slots=True)
class ClientLayout:
    """Where the two blocks live in the PLC's holding registers, and its unit id."""

    station_offset: int
    control_offset: int
    unit_id: int = 1


def tcp_connector(host: str, port: int, timeout_s: float = 1.0) -> Connector:
    """A connector that opens the TCP connection itself and hands pymodbus the socket:
    our backoff owns reconnecting (pymodbus's own connect logs an error per attempt)."""

    def connect() -> ModbusTcpClient:
        sock = socket.create_connection((host, port), timeout=timeout_s)
        client = ModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)
        client.socket = sock
        return client

    return connect


class PlcClientLink:
    """Keeps the station block written into the PLC and its control block read."""

    def __init__(
        self,
        handshake: Handshake,
        connector: Connector,
        layout: ClientLayout,
        poll_interval_s: float = 0.02,
        backoff: Backoff | None = None,
        name: str = "PLC",
    ) -> None:
        self.handshake = handshake
        self.layout = layout
        self.poll_interval_s = poll_interval_s
        self.backoff = backoff or Backoff()
        self.name = name  # for log lines: which PLC, e.g. "PLC 10.0.0.5:502"
        self._connector = connector
        self._stop = threading.Event()
        self._up = threading.Event()
        self._thread = threading.Thread(target=self._run, name="plc-client", daemon=True)
        self._down_logged = False
        self.attempts = 0  # connection attempts, for monitoring

    @property
    def connected(self) -> bool:
        """True once an exchange with the PLC succeeded, until the link is lost."""
        return self._up.is_set()

    def start(self) -> PlcClientLink:
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> PlcClientLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- poll thread

    def _run(self) -> None:
        delays = self.backoff.delays()
        while not self._stop.is_set():
            client = self._connect()
            if client is not None:
                try:
                    if self._serve(client):
                        delays = self.backoff.delays()  # the link worked: start small again
                finally:
                    client.close()
            self.handshake.check()  # the watchdog keeps running while the PLC is away
            if not self._stop.is_set():
                self._stop.wait(next(delays))

    def _connect(self) -> ModbusTcpClient | None:
        self.attempts += 1
        try:
            return self._connector()
        except LINK_ERRORS as exc:
            self._lost(exc)
            return None

    def _serve(self, client: ModbusTcpClient) -> bool:
        """Exchange until stopped or lost; True if at least one exchange succeeded."""
        served = False
        while not self._stop.is_set():
            version = self.handshake.version
            try:
                self._exchange(client)
            except LINK_ERRORS as exc:
                self._lost(exc)
                return served
            if not served:
                served = True
                self._found()
            self.handshake.wait_changed(version, self.poll_interval_s)
        return served

    def _exchange(self, client: ModbusTcpClient) -> None:
        layout = self.layout
        self.handshake.check()  # before the read: a PLC back after a gap is still stale
        response = client.read_holding_registers(
            layout.control_offset, count=CONTROL_BLOCK_WORDS, device_id=layout.unit_id
        )
        _raise_if_error(response, f"reading HR {layout.control_offset}")
        self.handshake.on_control(ControlBlock.from_words(response.registers))
        words = self.handshake.snapshot().to_words()
        response = client.write_registers(layout.station_offset, words, device_id=layout.unit_id)
        _raise_if_error(response, f"writing HR {layout.station_offset}")

    def _found(self) -> None:
        self._up.set()
        self._down_logged = False
        log.info("%s link up", self.name)

    def _lost(self, exc: BaseException) -> None:
        self._up.clear()
        if not self._down_logged:
            self._down_logged = True
            log.warning("%s link down: %s; reconnecting with backoff", self.name, exc)


def _raise_if_error(response: ModbusPDU, doing: str) -> None:
    if response.isError():
        code = getattr(response, "exception_code", "?")
        raise PlcError(f"PLC answered Modbus exception {code} {doing}")
