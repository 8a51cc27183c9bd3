"""A live view of a station's PLC registers and the handshake state, read over Modbus.

`read_snapshot` reads the station block (HR 0-15) and the PLC's control block (HR 32-37)
and decodes them; `monitor_table` renders one snapshot; `live_monitor` redraws it every
interval with rich.live until Ctrl-C. Where the output is not a terminal (a pipe, a
file, a service's journal) rich.live draws nothing, so `plain_monitor` prints one plain
line per change instead. The monitor only reads: it never writes a register, so it can
watch a line in production next to the real PLC.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from inspector.plc.registers import (
    U16_MAX,
    Control,
    ControlBlock,
    ErrorCode,
    HoldingRegister,
    StationBlock,
    Status,
)
from inspector.plc.simulate import LINK_ERRORS, StationConnection, connect_station
from inspector.types import RESULT_NO_DECISION, RESULT_PASS

__all__ = [
    "LinkDown",
    "MonitorSnapshot",
    "bit_names",
    "error_name",
    "handshake_phase",
    "live_monitor",
    "monitor_once",
    "monitor_table",
    "plain_line",
    "plain_lines",
    "plain_monitor",
    "read_snapshot",
    "result_text",
    "watch",
]

# HEARTBEAT unchanged this long reads FROZEN in plain lines: the station advances it at
# least every 0.1 s, and docs/plc.md tells the PLC to call it hung after about 1 s. A
# read-to-read comparison would flicker at intervals shorter than the station's tick.
HEARTBEAT_FROZEN_S = 1.0

_BIT_STYLE = {
    Status.READY: "green",
    Status.PASS: "bold green",
    Status.FAIL: "bold red",
    Status.ERROR: "bold red",
    Status.RESULT_OVERRUN: "red",
    Status.MISSED_TRIGGER: "red",
    Status.SPC_ALARM: "yellow",
}


@dataclass(frozen=True, slots=True)
class MonitorSnapshot:
    """Both blocks as read at `wall_time`; `heartbeat_advancing` compares with the previous
    snapshot (None for the first one)."""

    station_at: str  # host:port
    unit_id: int
    wall_time: float
    station: StationBlock
    control: ControlBlock
    heartbeat_advancing: bool | None = None

    def as_json(self) -> dict[str, Any]:
        s, c = self.station, self.control
        return {
            "station": self.station_at,
            "unit_id": self.unit_id,
            "wall_time": round(self.wall_time, 3),
            "phase": handshake_phase(s, c),
            "status": {"word": int(s.status), "bits": bit_names(s.status)},
            "heartbeat": s.heartbeat,
            "heartbeat_advancing": self.heartbeat_advancing,
            "error_code": int(s.error_code),
            "error": error_name(s.error_code),
            "trigger_id_echo": s.trigger_id_echo,
            "inspection_seq": s.inspection_seq,
            "result_code": s.result_code,
            "result": result_text(s.result_code),
            "defect_count": s.defect_count,
            "max_score": s.max_score / 1000,
            "part_count": s.part_count,
            "fail_count": s.fail_count,
            "proc_ms": s.proc_ms,
            "active_recipe": s.active_recipe,
            "spc_rule_mask": s.spc_rule_mask,
            "protocol_version": s.protocol_version,
            "plc": {
                "control": {
                    "word": int(c.control) | c.undefined_bits,
                    "bits": bit_names(c.control),
                },
                "undefined_bits": c.undefined_bits,
                "plc_heartbeat": c.plc_heartbeat,
                "trigger_id": c.trigger_id,
                "recipe_request": c.recipe_request,
                "part_serial": c.part_serial,
            },
        }


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The station did not answer; the watch reconnects."""

    station_at: str
    reason: str


# ---------------------------------------------------------------- decoding


def bit_names(flags: Status | Control) -> list[str]:
    """Set bits by name, lowest bit first."""
    # by value, not `flag in flags`: typeshed's Python 3.10 Flag.__contains__ takes only
    # the flag's own class, which a Status | Control union is not
    return [flag.name or "" for flag in type(flags) if int(flag) & int(flags)]


def error_name(code: ErrorCode | int) -> str:
    return code.name if isinstance(code, ErrorCode) else f"UNKNOWN_{int(code)}"


def result_text(result_code: int) -> str:
    if result_code == RESULT_PASS:
        return "pass"
    if result_code == RESULT_NO_DECISION:
        return "no decision"
    return f"defect class {result_code - 1}"


_STATION_PHASES = (
    (Status.TRIGGER_ACK, "trigger acknowledged: waiting for the PLC to drop TRIGGER"),
    (Status.BUSY, "inspecting"),
    (Status.RESULT_VALID, "result valid: waiting for RESULT_ACK"),
)


def handshake_phase(station: StationBlock, control: ControlBlock) -> str:
    """Where the handshake stands, in words, from the station's bits and the PLC's."""
    status = station.status
    if Status.ERROR in status:
        return f"error ({error_name(station.error_code)})"
    for bit, phase in _STATION_PHASES:
        if bit in status:
            return phase
    if Control.RESULT_ACK in control.control:
        return "result acknowledged: waiting for the PLC to drop RESULT_ACK"
    if Status.READY not in status:
        return "not ready"
    return "ready" if Control.TRIGGER_ENABLE in control.control else "ready (TRIGGER_ENABLE off)"


# ---------------------------------------------------------------- reading


def read_snapshot(
    connection: StationConnection, previous: MonitorSnapshot | None = None
) -> MonitorSnapshot:
    station = connection.read_station()
    control = connection.read_control()
    advancing = None if previous is None else station.heartbeat != previous.station.heartbeat
    return MonitorSnapshot(
        connection.where, connection.unit_id, time.time(), station, control, advancing
    )


def monitor_once(
    host: str, port: int, unit_id: int = 1, interval_s: float = 0.2
) -> MonitorSnapshot:
    """Two reads `interval_s` apart, so the snapshot says whether HEARTBEAT advances."""
    connection = connect_station(host, port, unit_id)
    try:
        first = read_snapshot(connection)
        time.sleep(interval_s)
        return read_snapshot(connection, first)
    finally:
        connection.close()


def watch(
    host: str,
    port: int,
    unit_id: int = 1,
    interval_s: float = 0.2,
    stop: threading.Event | None = None,
) -> Generator[MonitorSnapshot | LinkDown, None, None]:
    """Snapshots every `interval_s`; a lost link yields LinkDown and reconnects. The first
    connection must succeed (PlcError naming host:port otherwise)."""
    stop = stop or threading.Event()
    connection: StationConnection | None = connect_station(host, port, unit_id)
    previous: MonitorSnapshot | None = None
    try:
        while not stop.is_set():
            try:
                connection = connection or connect_station(host, port, unit_id)
                previous = read_snapshot(connection, previous)
                yield previous
            except LINK_ERRORS as exc:
                if connection is not None:
                    connection.close()
                connection, previous = None, None
                yield LinkDown(f"{host}:{port}", str(exc))
            stop.wait(interval_s)
    finally:
        if connection is not None:
            connection.close()


# ---------------------------------------------------------------- rendering


def _bits_text(flags: Status | Control) -> Text:
    text = Text()
    for name in bit_names(flags) or ["-"]:
        style = _BIT_STYLE.get(Status[name], "") if isinstance(flags, Status) else "cyan"
        text.append(name, style=style).append(" ")
    return text


def _heartbeat_text(snapshot: MonitorSnapshot) -> Text:
    advancing = snapshot.heartbeat_advancing
    note = {None: "", True: " advancing", False: " FROZEN"}[advancing]
    style = {None: "", True: "green", False: "bold red"}[advancing]
    return Text(str(snapshot.station.heartbeat)).append(note, style=style)


def _station_rows(snapshot: MonitorSnapshot) -> list[tuple[str, str, RenderableType]]:
    s = snapshot.station
    error_style = "bold red" if s.error_code else ""
    return [
        ("0", "STATUS", _bits_text(s.status)),
        ("1", "HEARTBEAT", _heartbeat_text(snapshot)),
        ("2", "ERROR_CODE", Text(f"{int(s.error_code)} {error_name(s.error_code)}", error_style)),
        ("3", "TRIGGER_ID_ECHO", str(s.trigger_id_echo)),
        ("4", "INSPECTION_SEQ", str(s.inspection_seq)),
        ("5", "RESULT_CODE", f"{s.result_code} ({result_text(s.result_code)})"),
        ("6", "DEFECT_COUNT", str(s.defect_count)),
        ("7", "MAX_SCORE", f"{s.max_score / 1000:.3f}"),
        ("8-9", "PART_COUNT", str(s.part_count)),
        ("10-11", "FAIL_COUNT", str(s.fail_count)),
        ("12", "PROC_MS", "unknown" if s.proc_ms == U16_MAX else str(s.proc_ms)),
        ("13", "ACTIVE_RECIPE", str(s.active_recipe)),
        ("14", "SPC_RULE_MASK", f"0x{s.spc_rule_mask:04x}"),
        ("15", "PROTOCOL_VERSION", str(s.protocol_version)),
    ]


def _control_rows(control: ControlBlock) -> list[tuple[str, str, RenderableType]]:
    bits = _bits_text(control.control)
    if control.undefined_bits:
        bits.append(f"undefined 0x{control.undefined_bits:04x}", style="red")
    return [
        (str(int(HoldingRegister.CONTROL)), "CONTROL", bits),
        (str(int(HoldingRegister.PLC_HEARTBEAT)), "PLC_HEARTBEAT", str(control.plc_heartbeat)),
        (str(int(HoldingRegister.TRIGGER_ID)), "TRIGGER_ID", str(control.trigger_id)),
        (str(int(HoldingRegister.RECIPE_REQUEST)), "RECIPE_REQUEST", str(control.recipe_request)),
        ("36-37", "PART_SERIAL", str(control.part_serial)),
    ]


def monitor_table(snapshot: MonitorSnapshot) -> Table:
    """One snapshot as a table: the station block, then the PLC's block."""
    when = time.strftime("%H:%M:%S", time.localtime(snapshot.wall_time))
    table = Table(
        title=f"station {snapshot.station_at} unit {snapshot.unit_id} · {when} · "
        f"{handshake_phase(snapshot.station, snapshot.control)}",
        title_justify="left",
    )
    table.add_column("HR", justify="right", no_wrap=True)
    table.add_column("register", no_wrap=True)
    table.add_column("value")
    for row in _station_rows(snapshot):
        table.add_row(*row)
    table.add_section()
    for row in _control_rows(snapshot.control):
        table.add_row(*row)
    return table


def _render(item: MonitorSnapshot | LinkDown, last: MonitorSnapshot | None) -> RenderableType:
    if isinstance(item, MonitorSnapshot):
        return monitor_table(item)
    down = Text(f"no answer from {item.station_at}: {item.reason}; reconnecting", "bold red")
    return Group(down, monitor_table(last)) if last is not None else down


def live_monitor(
    host: str,
    port: int,
    unit_id: int = 1,
    interval_s: float = 0.2,
    console: Console | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Redraw the registers every interval until `stop` is set (or Ctrl-C in the caller)."""
    last: MonitorSnapshot | None = None
    items = watch(host, port, unit_id, interval_s, stop)
    try:
        with Live(console=console, auto_refresh=False, transient=False) as live:
            for item in items:
                live.update(_render(item, last), refresh=True)
                if isinstance(item, MonitorSnapshot):
                    last = item
    finally:
        items.close()


# ---------------------------------------------------------------- plain lines


def _when(wall_time: float) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(wall_time))
    return f"{stamp}.{int(wall_time * 1000) % 1000:03d}"


def _bits_word(flags: Status | Control) -> str:
    return ",".join(bit_names(flags)) or "-"


def plain_line(snapshot: MonitorSnapshot, heartbeat: str | None = None) -> str:
    """One snapshot as one line of NAME=value fields (register names of the map), no
    colour; `heartbeat` ("advancing", "FROZEN", None: not known yet) follows HEARTBEAT."""
    s, c = snapshot.station, snapshot.control
    beat = f"{s.heartbeat}({heartbeat})" if heartbeat else str(s.heartbeat)
    fields = [
        _when(snapshot.wall_time),
        snapshot.station_at,
        f"unit={snapshot.unit_id}",
        f'phase="{handshake_phase(s, c)}"',
        f"STATUS={_bits_word(s.status)}",
        f"HEARTBEAT={beat}",
        f"ERROR_CODE={int(s.error_code)}({error_name(s.error_code)})",
        f"TRIGGER_ID_ECHO={s.trigger_id_echo}",
        f"INSPECTION_SEQ={s.inspection_seq}",
        f"RESULT_CODE={s.result_code}({result_text(s.result_code).replace(' ', '_')})",
        f"DEFECT_COUNT={s.defect_count}",
        f"MAX_SCORE={s.max_score / 1000:.3f}",
        f"PART_COUNT={s.part_count}",
        f"FAIL_COUNT={s.fail_count}",
        f"PROC_MS={'-' if s.proc_ms == U16_MAX else s.proc_ms}",
        f"ACTIVE_RECIPE={s.active_recipe}",
        f"SPC_RULE_MASK=0x{s.spc_rule_mask:04x}",
        f"PROTOCOL_VERSION={s.protocol_version}",
        "|",
        f"CONTROL={_bits_word(c.control)}",
    ]
    if c.undefined_bits:
        fields.append(f"UNDEFINED_BITS=0x{c.undefined_bits:04x}")
    fields += [
        f"TRIGGER_ID={c.trigger_id}",
        f"RECIPE_REQUEST={c.recipe_request}",
        f"PART_SERIAL={c.part_serial}",
    ]
    return " ".join(fields)


class _HeartbeatWatch:
    """Advancing or FROZEN over a time window, not from one read to the next."""

    def __init__(self, frozen_after_s: float, clock: Callable[[], float]) -> None:
        self._frozen_after_s = frozen_after_s
        self._clock = clock
        self._value: int | None = None
        self._changed_at = 0.0
        self._seen_change = False

    def reset(self) -> None:
        self._value, self._seen_change = None, False

    def state(self, heartbeat: int) -> str | None:
        now = self._clock()
        if self._value is None or heartbeat != self._value:
            self._seen_change = self._value is not None
            self._value, self._changed_at = heartbeat, now
        if now - self._changed_at >= self._frozen_after_s:
            return "FROZEN"
        return "advancing" if self._seen_change else None


def _change_key(snapshot: MonitorSnapshot, heartbeat: str | None) -> tuple[object, ...]:
    # both heartbeats tick on their own (station every 0.1 s, PLC e.g. every 0.1 s):
    # their values would print a line per read, so only the station's state counts
    return (
        replace(snapshot.station, heartbeat=0),
        replace(snapshot.control, plc_heartbeat=0),
        heartbeat,
    )


_DOWN = ("link down",)


def plain_lines(
    items: Iterable[MonitorSnapshot | LinkDown],
    frozen_after_s: float = HEARTBEAT_FROZEN_S,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[str]:
    """One line per change of either block (heartbeat values aside) and per outage."""
    beat = _HeartbeatWatch(frozen_after_s, clock)
    last: tuple[object, ...] | None = None
    for item in items:
        if isinstance(item, LinkDown):
            if last != _DOWN:
                yield f"{_when(time.time())} {item.station_at} LINK_DOWN {item.reason}"
            last = _DOWN
            beat.reset()
            continue
        heartbeat = beat.state(item.station.heartbeat)
        key = _change_key(item, heartbeat)
        if key != last:
            yield plain_line(item, heartbeat)
        last = key


def plain_monitor(
    host: str,
    port: int,
    unit_id: int,
    interval_s: float,
    out: TextIO,
    stop: threading.Event | None = None,
) -> None:
    """Print a plain line per change to `out`, flushed (a pipe is block-buffered), until
    `stop` is set (or Ctrl-C in the caller)."""
    items = watch(host, port, unit_id, interval_s, stop)
    try:
        for line in plain_lines(items):
            out.write(line + "\n")
            out.flush()
    finally:
        items.close()
