"""Who may write: the server-mode allow-list of client addresses.

Modbus has no authentication, so the only thing the station can know about a client is
its address. `plc.write_allow` lists the addresses and networks that may change the
control block; everyone else may still read every register (an HMI, `inspector plc
monitor`, a second PLC that only watches), but any function other than a plain read is
answered with exception 1, ILLEGAL FUNCTION, before it reaches the registers or the
handshake.

Why exception 1 and not 2: the station already answers 2 (ILLEGAL DATA ADDRESS) for a
write to its read-only HR 0-31, which a PLC programmer reads as "my offset is wrong".
A refused client's address is right; what it may not do is the function itself, and 1
is the Modbus code for "this function is not an allowable action for the server".
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = [
    "READ_FUNCTIONS",
    "WRITE_REFUSED",
    "AllowedNetwork",
    "WriteGuard",
    "allow_list_entries",
    "client_address",
    "parse_allowed_network",
]

log = logging.getLogger(__name__)

AllowedNetwork = IPv4Network | IPv6Network

# Read coils, discrete inputs, holding registers, input registers. Deny by default: every
# other function (5, 6, 15, 16, 21, 22, 23 write; 8 diagnostics can clear counters or
# force listen-only mode; whatever a later pymodbus adds) needs the allow-list.
READ_FUNCTIONS = frozenset({1, 2, 3, 4})
# Modbus exception 1, ILLEGAL FUNCTION (a plain int: the config imports this module and
# must not pull in pymodbus)
WRITE_REFUSED = 1


def allow_list_entries(entries: object) -> object:
    """Refuse a bare string before it is taken for a list of characters; None is empty."""
    if entries is None:
        return ()
    if isinstance(entries, str | bytes):
        raise ValueError(
            'must be a list of addresses or networks, e.g. ["192.168.10.5", "10.0.0.0/24"]'
        )
    return entries


def parse_allowed_network(entry: object) -> AllowedNetwork:
    """One entry of `plc.write_allow`: an address (one host) or a network in CIDR form."""
    if isinstance(entry, IPv4Network | IPv6Network):
        return entry
    if not isinstance(entry, str):
        # YAML turns a bare 5 into an int, which ipaddress would take for 0.0.0.5
        raise ValueError(f"{entry!r} is not a string: quote addresses")
    text = entry.strip()
    if not text:
        raise ValueError("empty entry")
    try:
        return ipaddress.ip_network(text)
    except ValueError as exc:
        raise ValueError(_why_not_a_network(text, exc)) from None


def _why_not_a_network(text: str, exc: ValueError) -> str:
    if "has host bits set" in str(exc):
        network = ipaddress.ip_network(text, strict=False)
        address = text.split("/", 1)[0]
        return (
            f"{text!r} has host bits set: write {str(network)!r} for the network "
            f"or {address!r} for the one address"
        )
    return (
        f"{text!r} is not an IP address or network (e.g. 192.168.10.5 or 10.0.0.0/24; "
        "host names are not resolved)"
    )


def client_address(host: str) -> IPv4Address | IPv6Address | None:
    """A peer's address as the allow-list compares it; an IPv4 client of a dual-stack
    (::) listener shows as ::ffff:a.b.c.d and is compared as a.b.c.d. None if unparsable."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class WriteGuard:
    """Decides per request; counts refusals per client and warns once per client.

    Called from the server's event loop; `refused()` may be read from any thread.
    """

    def __init__(self, allowed: Iterable[AllowedNetwork] = ()) -> None:
        self.allowed = tuple(allowed)
        self._lock = threading.Lock()
        self._refused: dict[str, int] = {}

    @property
    def enforced(self) -> bool:
        """An empty list lets everyone write, as without one."""
        return bool(self.allowed)

    def may_write(self, host: str | None) -> bool:
        if not self.enforced:
            return True
        address = client_address(host) if host else None
        return address is not None and any(address in network for network in self.allowed)

    def refuses(self, host: str | None, function_code: int) -> bool:
        """True if this request must be answered with WRITE_REFUSED (counted, warned)."""
        if function_code in READ_FUNCTIONS or self.may_write(host):
            return False
        who = host or "unknown address"
        with self._lock:
            first = who not in self._refused
            self._refused[who] = self._refused.get(who, 0) + 1
        if first:
            log.warning(
                "PLC client %s is not in plc.write_allow: its writes (function %d and "
                "any other but reads) get Modbus exception %d; it may read. Further "
                "refusals from it are counted, not logged",
                who,
                function_code,
                WRITE_REFUSED,
            )
        return True

    def refused(self) -> dict[str, int]:
        """Refused requests so far, per client address."""
        with self._lock:
            return dict(self._refused)
