"""docs/plc.md, generated: everything a controls engineer needs to connect a PLC.

The register tables come from `registers.register_map_markdown()`; bit numbers and
addresses in the timing diagram and the example PLC code come from the enums in
`registers`; defaults come from the config models. `inspector plc docs` writes the file
and a test fails when the committed file differs from what this module generates now.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from pathlib import Path

from inspector.errors import InspectorError
from inspector.plc.access import READ_FUNCTIONS, WRITE_REFUSED
from inspector.plc.config import PlcClientConfig, PlcConfig, PlcTriggerConfig
from inspector.plc.handshake import DEADLINE_GRACE_S
from inspector.plc.monitor import HEARTBEAT_FROZEN_S
from inspector.plc.registers import (
    PLC_BLOCK_START,
    PROTOCOL_VERSION,
    STATION_BLOCK_WORDS,
    Control,
    ErrorCode,
    HoldingRegister,
    Status,
    register_map_markdown,
)
from inspector.station import TICK_S
from inspector.types import RESULT_NO_DECISION

__all__ = ["DEFAULT_OUTPUT", "plc_markdown", "timing_diagram", "write_plc_docs"]

DEFAULT_OUTPUT = Path("docs/plc.md")
SEGMENT = 5  # characters per phase of the timing diagram
STATION_TICK_S = TICK_S  # HEARTBEAT advances at least this often


def _default(model: type, name: str) -> object:
    return model.model_fields[name].default  # type: ignore[attr-defined]


PORT = _default(PlcConfig, "port")
UNIT_ID = _default(PlcConfig, "unit_id")
HEARTBEAT_TIMEOUT_S = _default(PlcConfig, "plc_heartbeat_timeout_s")
DEADLINE_MS = _default(PlcTriggerConfig, "deadline_ms")
GRACE_MS = DEADLINE_GRACE_S * 1000
CLIENT_POLL_S = _default(PlcClientConfig, "poll_interval_s")


def _bit(flag: Status | Control) -> int:
    return int(flag).bit_length() - 1


def _hr(register: HoldingRegister) -> int:
    return int(register)


def _ctl(register: HoldingRegister) -> int:
    """Index of a PLC-block register in the example's Ctl array (HR 32 is Ctl[0])."""
    return int(register) - PLC_BLOCK_START


def _reflow(markdown: str, width: int = 88) -> str:
    """Refill paragraphs and list items (the f-string values make ragged lines); code
    blocks, tables, headings and quotes stay as they are."""
    out: list[str] = []
    item: list[str] = []
    fenced = False

    def flush() -> None:
        if item:
            text = " ".join(line.strip() for line in item)
            marker = re.match(r"(- |\d+\. )", text)
            indent = " " * (len(marker.group(1)) if marker else 0)
            out.append(_fill(text, width, indent))
            item.clear()

    for line in markdown.splitlines():
        kept = fenced or not line.strip() or line.startswith(("|", "#", ">"))
        if line.startswith("```"):
            fenced = not fenced
            kept = True
        if kept or re.match(r"(- |\d+\. )", line):
            flush()
        if kept:
            out.append(line)
        else:
            item.append(line)
    flush()
    return "\n".join(out) + "\n"


def _fill(text: str, width: int, indent: str) -> str:
    return textwrap.fill(
        text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False
    )


def _align_comments(code: str, column: int = 40) -> str:
    """Line up trailing (* comments *) in the example code."""
    lines = []
    for line in code.splitlines():
        at = line.find("(*")
        if at > 0 and line[:at].strip():
            line = f"{line[:at].rstrip():<{column}} {line[at:]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- timing diagram

# One cycle in ten phases, p0..p9, separated by the numbered events 1..9 below.
_EVENTS = (
    "PLC writes TRIGGER_ID (and PART_SERIAL) while READY and not RESULT_VALID.",
    "PLC raises TRIGGER (TRIGGER_ENABLE held high). The same write as 1 is fine.",
    "Station sees the rising edge: TRIGGER_ACK and BUSY rise, READY drops.",
    "PLC sees TRIGGER_ACK and drops TRIGGER.",
    "Station sees TRIGGER fall and drops TRIGGER_ACK.",
    "Station publishes the result in one update: result words, TRIGGER_ID_ECHO, "
    "RESULT_VALID, PASS or FAIL, READY; BUSY drops; INSPECTION_COMPLETE toggles.",
    "PLC reads HR 0-15 in one request, checks TRIGGER_ID_ECHO = TRIGGER_ID, takes the "
    "verdict and raises RESULT_ACK.",
    "Station sees the RESULT_ACK edge: RESULT_VALID, PASS and FAIL drop.",
    "PLC sees RESULT_VALID low and drops RESULT_ACK. The next trigger may follow.",
)

# (who, signal, level per phase: 0 low, 1 high, = a value, x the value changes here)
_WAVES = (
    ("PLC", "TRIGGER_ID", "=x========"),
    ("PLC", "TRIGGER", "0011000000"),
    ("STN", "TRIGGER_ACK", "0001100000"),
    ("STN", "BUSY", "0001110000"),
    ("STN", "READY", "1110001111"),
    ("STN", "result words + ECHO", "======x==="),
    ("STN", "RESULT_VALID", "0000001100"),
    ("STN", "PASS or FAIL", "0000001100"),
    ("STN", "INSPECTION_COMPLETE", "0000001111"),
    ("PLC", "RESULT_ACK", "0000000110"),
)


def _wave(levels: str) -> str:
    """ASCII waveform: '_' low, '-' high, '/' and '\\' edges, '=' a value, 'X' a change."""
    out = []
    previous = levels[0]
    for level in levels:
        if level in "=x":
            out.append(("X" if level == "x" else "=") + "=" * (SEGMENT - 1))
            continue
        fill = "-" if level == "1" else "_"
        edge = {("0", "1"): "/", ("1", "0"): "\\"}.get((previous, level), fill)
        out.append(edge + fill * (SEGMENT - 1))
        previous = level
    return "".join(out)


def timing_diagram(
    events: Sequence[str] = _EVENTS, waves: Sequence[tuple[str, str, str]] = _WAVES
) -> str:
    """One handshake cycle as an ASCII timing diagram with its numbered events."""
    label_width = max(len(name) for _, name, _ in waves) + 6
    marks = [" "] * (SEGMENT * len(waves[0][2]))
    for event in range(1, len(events) + 1):
        marks[event * SEGMENT] = str(event)
    lines = [" " * label_width + "".join(marks).rstrip()]
    for who, name, levels in waves:
        lines.append(f"{who}  {name}".ljust(label_width) + _wave(levels))
    legend = [f"{i}. {text}" for i, text in enumerate(events, start=1)]
    return "```\n" + "\n".join(lines) + "\n```\n\n" + "\n".join(legend) + "\n"


# A recipe changeover in seven phases, separated by the events 1..6.
_RECIPE_EVENTS = (
    "PLC writes RECIPE_REQUEST while no part is waiting for RESULT_ACK.",
    "PLC raises RECIPE_LOAD (the same write as 1 is fine).",
    "Station sees the edge: RECIPE_SWITCHING rises, READY drops. Parts already "
    "triggered finish with the old recipe; a trigger from now on is MISSED_TRIGGER.",
    "Station switches and, in one update, writes ACTIVE_RECIPE, drops RECIPE_SWITCHING "
    "and raises READY (or raises ERROR with a recipe error code, keeping the old recipe).",
    "PLC sees RECIPE_SWITCHING low, checks ACTIVE_RECIPE = RECIPE_REQUEST and ERROR, "
    "and drops RECIPE_LOAD.",
    "The next trigger is judged with the new recipe.",
)

_RECIPE_WAVES = (
    ("PLC", "RECIPE_REQUEST", "=x====="),
    ("PLC", "RECIPE_LOAD", "0011100"),
    ("STN", "RECIPE_SWITCHING", "0001000"),
    ("STN", "READY", "1110111"),
    ("STN", "ACTIVE_RECIPE", "====x=="),
    ("PLC", "TRIGGER", "0000001"),
)


# ---------------------------------------------------------------- sections


def _header() -> str:
    return f"""# PLC integration (Modbus TCP)

> Generated by `inspector plc docs` from `inspector/plc/registers.py` (the register map,
> the one source of truth) and `inspector/plc/docs.py`. Do not edit by hand: a test fails
> when this file differs from what the generator writes.

The station and a PLC talk over Modbus TCP through {STATION_BLOCK_WORDS} + 6 holding
registers: the station publishes its status and each result in HR 0-15, the PLC writes
its control block to HR 32-37. One handshake per part: the PLC triggers, the station
acknowledges, inspects and publishes the verdict, the PLC acknowledges the verdict.
Protocol version {PROTOCOL_VERSION}, in HR {_hr(HoldingRegister.PROTOCOL_VERSION)}: check it
once after connecting.

Defaults: port {PORT} (production PLCs expect 502), unit id {UNIT_ID}, PLC heartbeat
timeout {HEARTBEAT_TIMEOUT_S} s, trigger-to-verdict deadline {DEADLINE_MS:.0f} ms.

```yaml
plc:
  enabled: true
  mode: server            # or client
  host: 0.0.0.0           # server: where to listen; client: the PLC's address
  port: {PORT}
  unit_id: {UNIT_ID}
  plc_heartbeat_timeout_s: {HEARTBEAT_TIMEOUT_S}
  # write_allow: [192.168.10.5]  # server: only these may write (default: everyone)
trigger:
  kind: plc
  deadline_ms: {DEADLINE_MS:.0f}
```

Modbus has no authentication: keep the station on the machine network, and let one
master write (see "One master writes").
"""


def _handshake() -> str:
    return f"""## The handshake

The PLC may trigger only while READY is high and RESULT_VALID is low. On the TRIGGER
rising edge (with TRIGGER_ENABLE high) the station takes the newest camera frame
captured after the edge (with a camera on a hardware trigger line, the frame that
trigger produced).

{timing_diagram()}
Notes on the diagram:

- A fast station may publish (6) before the PLC drops TRIGGER (4): TRIGGER_ACK then
  stays high, next to RESULT_VALID, until the PLC drops TRIGGER. Both orders are valid.
- READY rises at 6, together with RESULT_VALID, but a trigger is only accepted once the
  result is acknowledged (after 8). A trigger between 6 and 8 is refused with
  MISSED_TRIGGER and RESULT_OVERRUN, and the result stays as it was.
- PASS and FAIL are only ever high together with RESULT_VALID; never both. A PLC that
  reads PASS without RESULT_VALID, or with a TRIGGER_ID_ECHO that is not its TRIGGER_ID,
  must reject the part.
- Read the verdict bits and the result words (HR 0-15) in one request: the station
  swaps the whole block at once, so one read never mixes two results.
- RESULT_ACK acts on its rising edge; hold it until RESULT_VALID drops (a client-mode
  station only sees what its poll reads), then drop it.
- The result is held as long as it takes: the station never withdraws or changes an
  unacknowledged result, also not when the PLC disconnects and reconnects.
- TRIGGER_ID is echoed, not interpreted: count it up per part (u16, wrap to 1, skip 0).
  A result for a trigger id that is not the pending one is never published.
- TRIGGER without TRIGGER_ENABLE is ignored silently; clearing TRIGGER_ENABLE is how
  the PLC pauses inspection.
"""


def _recipes() -> str:
    switching = _bit(Status.RECIPE_SWITCHING)
    return f"""## Recipe changeover

A line that runs more than one product tells the station which product comes next
(docs/recipes.md configures the recipes). The PLC writes the recipe number to
RECIPE_REQUEST (HR {int(HoldingRegister.RECIPE_REQUEST)}) and raises RECIPE_LOAD (CONTROL
b{_bit(Control.RECIPE_LOAD)}); the station answers in STATUS b{switching} RECIPE_SWITCHING,
ACTIVE_RECIPE (HR {_hr(HoldingRegister.ACTIVE_RECIPE)}) and ERROR_CODE.

{timing_diagram(_RECIPE_EVENTS, _RECIPE_WAVES)}
Notes:

- Between preloaded recipes the switch (3 to 4) takes milliseconds (`inspector bench
  --recipes` measures it); a recipe loaded on demand takes as long as its model takes to
  open. Wait for RECIPE_SWITCHING to drop, with a timeout of a few seconds.
- A refused request keeps the old recipe running and sets ERROR: RECIPE_UNKNOWN (no such
  recipe), RECIPE_LOAD_FAILED (its model or profile would not load) or
  RECIPE_LOAD_TOO_SOON (RECIPE_LOAD rose again before the last switch finished). A good
  RECIPE_LOAD or ERROR_RESET clears it; ACTIVE_RECIPE always names the recipe that
  judges the next part.
- Every record the station writes carries the recipe number and name; every switch is
  in the audit log with who asked for it.

```iecst
(* one changeover: call every scan while bChange is TRUE *)
CASE iRecipeStep OF
0:  IF bChange AND NOT bResultValid THEN
        wRecipeRequest := wNextRecipe;   (* HR {int(HoldingRegister.RECIPE_REQUEST)} *)
        xRecipeLoad := TRUE;             (* CONTROL b{_bit(Control.RECIPE_LOAD)} *)
        tRecipe(IN := FALSE);
        iRecipeStep := 10;
    END_IF
10: tRecipe(IN := TRUE, PT := T#5S);
    (* a server-mode station raises RECIPE_SWITCHING before it answers the write;
       a client-mode one within its poll interval: wait at least that long *)
    IF (wStatus AND 16#{1 << switching:04X}) = 0 AND tRecipe.ET > T#200MS THEN
        xRecipeLoad := FALSE;
        IF (wStatus AND 16#0080) <> 0 THEN     (* ERROR: see ERROR_CODE *)
            iRecipeStep := 90;
        ELSIF wActiveRecipe = wNextRecipe THEN (* HR {_hr(HoldingRegister.ACTIVE_RECIPE)} *)
            bChange := FALSE;
            iRecipeStep := 0;
        END_IF
    ELSIF tRecipe.Q THEN
        xRecipeLoad := FALSE;
        iRecipeStep := 90;                     (* no answer: alarm *)
    END_IF
90: (* alarm: the old recipe is still active; ERROR_RESET after the cause is fixed *)
END_CASE
```
"""


def _timeout_table() -> str:
    no_decision = f"0x{RESULT_NO_DECISION:04X}"
    stale = int(ErrorCode.PLC_HEARTBEAT_STALE)
    rows = [
        (
            "Trigger to verdict",
            "station, `trigger.deadline_ms`",
            f"{DEADLINE_MS:.0f} ms",
            f"the part is FAIL with RESULT_CODE {no_decision} (no decision)",
        ),
        (
            "PLC_HEARTBEAT unchanged",
            "station, `plc.plc_heartbeat_timeout_s`",
            f"{HEARTBEAT_TIMEOUT_S} s",
            f"ERROR, ERROR_CODE {stale}, READY drops; latched",
        ),
        ("Station HEARTBEAT unchanged", "PLC", "about 1 s", "station hung: reject, alarm"),
        ("Each handshake step", "PLC", "e.g. 2 s", "reject the part, alarm"),
        ("TRIGGER to RESULT_VALID", "PLC", "deadline + margin", "reject the part, alarm"),
    ]
    return _table(("what", "watched by", "value", "on expiry"), rows)


def _timeouts() -> str:
    return f"""## Timeouts and watchdogs

{_timeout_table()}
- **Deadline.** A part the station cannot judge in time (no frame, queue overrun, late
  verdict, internal error) is published as FAIL with RESULT_CODE 0x{RESULT_NO_DECISION:04X},
  which rejects it. If the pipeline hangs and publishes nothing, the handshake itself
  answers the pending trigger the same way {GRACE_MS:.0f} ms after the deadline, from the
  Modbus side's own watchdog; a result that arrives later is discarded. The PLC should
  still keep its own result timeout (the deadline plus a margin for the network) and
  reject on it: a station that is gone answers nothing.
- **PLC heartbeat watchdog.** Change PLC_HEARTBEAT (HR
  {_hr(HoldingRegister.PLC_HEARTBEAT)}) regularly, e.g. +1 every 100 ms. The watchdog arms
  once the station has seen the value change; a PLC that never writes it is not watched
  (set `plc_heartbeat_timeout_s: 0` to switch the watchdog off). Stale for the timeout:
  ERROR with code PLC_HEARTBEAT_STALE, latched until ERROR_RESET, which also starts a
  fresh timeout window.
- **Station heartbeat.** HEARTBEAT (HR {_hr(HoldingRegister.HEARTBEAT)}) is advanced by
  the inspection loop itself, at least every {STATION_TICK_S} s while idle and after every
  part, never by a timer: when it stops changing, the station is hung, even though its
  Modbus server still answers. Watch it in the PLC.
"""


def _fault_table() -> str:
    latched = "ERROR_RESET"
    rows = [
        ("Trigger while not READY (busy, error, starting)", "ignored", "MISSED_TRIGGER", latched),
        (
            "Trigger before RESULT_ACK of the last result",
            "ignored, result held",
            "MISSED_TRIGGER, RESULT_OVERRUN",
            latched,
        ),
        (
            "PLC_HEARTBEAT stale",
            "not READY",
            f"ERROR, code {int(ErrorCode.PLC_HEARTBEAT_STALE)}",
            "ERROR_RESET, with the heartbeat changing again",
        ),
        (
            "Camera, model or log fault",
            "not READY",
            f"ERROR, code {int(ErrorCode.CAMERA)}-{int(ErrorCode.LOG)}",
            "by itself once healthy (live)",
        ),
        ("Undefined CONTROL bits", "ignored, counted, logged once", "-", "-"),
        ("Write to HR 0-31", "refused", "Modbus exception 2 (illegal address)", "-"),
        (
            "Any write from a client not in `plc.write_allow`",
            "refused, counted, warned once per address",
            f"exception {WRITE_REFUSED} (illegal function)",
            "-",
        ),
        ("Coils, discrete inputs, input registers", "refused", "exception 1", "-"),
        ("Another unit id", "refused", "exception 10 (gateway path unavailable)", "-"),
        ("PLC disconnects mid-cycle", "result held until RESULT_ACK", "unchanged", "-"),
    ]
    return _table(("condition", "station", "bits / answer", "cleared by"), rows)


def _faults() -> str:
    return f"""## Faults and error handling

{_fault_table()}
- **What latches:** MISSED_TRIGGER, RESULT_OVERRUN and the PLC_HEARTBEAT_STALE error.
  They stay until a rising edge of ERROR_RESET (HR {_hr(HoldingRegister.CONTROL)} bit
  {_bit(Control.ERROR_RESET)}). Hold ERROR_RESET until the bits drop, then release it:
  a client-mode station polls every {CLIENT_POLL_S} s and misses shorter pulses.
- **What is live:** camera, model and log faults set ERROR with their code while they
  last and clear by themselves; ERROR_RESET does not clear them.
- **ERROR_CODE** (HR {_hr(HoldingRegister.ERROR_CODE)}) names the error while ERROR is
  high: a latched error first, else the first unhealthy component; 0 otherwise.
- A part already being inspected when ERROR rises is still published.
- All status bits are 0 at start-up: until READY rises, the PLC must not trigger.
"""


def _modes() -> str:
    return f"""## Server mode and client mode

- **Server mode (default).** The station is the Modbus TCP server on `plc.host:plc.port`,
  unit id `plc.unit_id` (0 answers every unit id). The PLC is the client: it polls HR
  0-15 (function 3, one request of {STATION_BLOCK_WORDS} registers) and writes HR 32-37
  (function 16, or 6 for single registers). Poll as fast as the line needs; every read
  is answered from the station's current block.
- **Client mode**, for PLCs that cannot poll: the station is the Modbus client. It reads
  the 6-word control block from the PLC at `plc.client.control_offset` and writes the
  {STATION_BLOCK_WORDS}-word station block to `plc.client.station_offset` in one
  function-16 request, every `plc.client.poll_interval_s` ({CLIENT_POLL_S} s) and at
  once when its block changes. The PLC program is the same; only the addresses move.
  A PLC that refuses or drops the connection is retried with exponential backoff
  (`plc.client.backoff`).

```yaml
plc:
  enabled: true
  mode: client
  host: 192.168.0.10      # the PLC
  port: 502
  client: {{station_offset: 100, control_offset: 200, poll_interval_s: {CLIENT_POLL_S}}}
```
"""


def _one_master() -> str:
    reads = ", ".join(str(code) for code in sorted(READ_FUNCTIONS))
    trigger_bit = _bit(Control.TRIGGER)
    return f"""## One master writes

The control block (HR {PLC_BLOCK_START}-{PLC_BLOCK_START + 5}) is one set of registers
with no owner. When two masters write it (two PLCs, or an HMI or SCADA next to the PLC),
each write of the whole block puts back that master's image of it, and the handshake
breaks in ways that are hard to see on the line:

- **Interleaved edges.** Master A raises TRIGGER; master B's next periodic write carries
  its own CONTROL word with bit {trigger_bit} low and drops it again. The station sees
  TRIGGER and RESULT_ACK edges from both: extra triggers, MISSED_TRIGGER and
  RESULT_OVERRUN, a TRIGGER_ACK the triggering master never saw.
- **Acknowledged results nobody read.** B's RESULT_ACK edge (or its block with RESULT_ACK
  still high) acknowledges the result A is waiting for: RESULT_VALID drops before A read
  it, A's result timeout rejects a good part, and the next trigger may be B's.
- **An echo that belongs to another master.** TRIGGER_ID is whatever was written last:
  the result's TRIGGER_ID_ECHO may answer B's trigger. A compares the echo with its own
  id and rejects the part, unless both count ids the same way and they collide, and then
  A takes B's verdict for its own part. The echo check cannot catch that.
- **A watchdog fed by the wrong master.** PLC_HEARTBEAT changes while either master
  writes: a dead line PLC stays hidden behind a live HMI. ERROR_RESET from one clears
  latches the other has not seen.

What to do: one master, the line PLC, writes the control block; every other client
(HMI, SCADA, a second PLC, `inspector plc monitor`) only reads, which is always safe:
the station answers every read from its current block. An HMI that must pause
inspection or reset an error asks the PLC program, which owns TRIGGER_ENABLE and
ERROR_RESET. Enforce it in the station with `plc.write_allow`:

```yaml
plc:
  mode: server
  write_allow: [192.168.10.5]       # the line PLC; a list of addresses or networks
  # write_allow: [10.0.0.0/24]      # CIDR: every address of a subnet
```

- **Empty or absent** (the default): every client may write, as a plain Modbus device.
- **With entries**, a client whose address is in the list (an address, or a network in
  CIDR form; IPv4 or IPv6) may use every function. Any other client may read (functions
  {reads}: the registers, all of them), and every other function, a write (5, 6, 15,
  16, 22, 23) or anything else that changes state (8, diagnostics), is answered with
  Modbus exception {WRITE_REFUSED}, ILLEGAL FUNCTION. The request never reaches the
  registers or the handshake.
- **Why exception {WRITE_REFUSED}**: exception 2 (illegal address) already means "a
  write to HR 0-31", which sends a PLC programmer looking for an offset mistake; the
  refused client's address is right, what it may not do is the function itself.
- The station logs one warning per refused address (`... is not in plc.write_allow`)
  and counts every refusal: an HMI or PLC writing where it should not shows up in the
  log at once, not as a handshake fault later.
- Entries are checked when station.yaml is loaded: a host name (not resolved), an entry
  with host bits below its prefix (`10.0.0.5/24`), an empty or unquoted one, or the
  list in client mode (nothing writes to the station there) is a config error naming
  the field and the entry.
- An IPv4 client of a station listening on `::` is compared by its IPv4 address.
- This is not authentication: an address can be forged on the machine network. It
  keeps honest second masters from writing; firewalling the port keeps the rest out.
"""


def _st_decode() -> str:
    s = "Stn[0]"
    names = (
        ("Ready", Status.READY),
        ("TriggerAck", Status.TRIGGER_ACK),
        ("Busy", Status.BUSY),
        ("ResultValid", Status.RESULT_VALID),
        ("Pass", Status.PASS),
        ("Fail", Status.FAIL),
        ("StnError", Status.ERROR),
        ("Overrun", Status.RESULT_OVERRUN),
        ("Missed", Status.MISSED_TRIGGER),
    )
    return "\n".join(f"{name:<12}:= {s}.{_bit(flag)};" for name, flag in names)


def _structured_text() -> str:
    enable, trigger = _bit(Control.TRIGGER_ENABLE), _bit(Control.TRIGGER)
    ack, reset = _bit(Control.RESULT_ACK), _bit(Control.ERROR_RESET)
    echo, code = _hr(HoldingRegister.TRIGGER_ID_ECHO), _hr(HoldingRegister.RESULT_CODE)
    hb, plc_hb = _hr(HoldingRegister.HEARTBEAT), _ctl(HoldingRegister.PLC_HEARTBEAT)
    tid, serial = _ctl(HoldingRegister.TRIGGER_ID), _ctl(HoldingRegister.PART_SERIAL)
    return f"""(* Inspection handshake, protocol version {PROTOCOL_VERSION}, IEC 61131-3.
   Server mode: a Modbus TCP client block of your PLC (e.g. CODESYS ModbusTCP client,
   Siemens MB_CLIENT) copies HR 0-15 into Stn every poll (function 3, 16 registers)
   and writes Ctl to HR 32-37 when it changes (function 16, 6 registers).
   Client mode: the station itself writes Stn and reads Ctl in this PLC's memory. *)
PROGRAM InspectionHandshake
VAR_INPUT
    PartInPosition : BOOL;          (* rising edge: a part waits at the camera *)
    PartSerial     : UDINT;         (* 0 = none *)
    OperatorReset  : BOOL;          (* acknowledges a fault once its cause is fixed *)
END_VAR
VAR_OUTPUT
    Done        : BOOL;             (* one scan: Accept/Reject are valid for this part *)
    Accept      : BOOL;
    Reject      : BOOL;             (* TRUE for every part without an earned PASS *)
    ResultCode  : WORD;             (* 0 pass, n = 1 + defect class, 16#FFFF no decision *)
    Faulted     : BOOL;
    FaultReason : STRING(40);
END_VAR
VAR
    Stn : ARRAY[0..15] OF WORD;     (* station block, HR 0-15 *)
    Ctl : ARRAY[0..5] OF WORD;      (* our block, HR 32-37: Ctl[i] is HR 32+i *)
    State : INT := 0;
    LastState : INT := -1;
    TriggerId : WORD := 0;
    StepTimer, HeartbeatPulse, StationFrozen : TON;
    PartEdge, ResetEdge : R_TRIG;
    LastStationHeartbeat : WORD;
    Ready, TriggerAck, Busy, ResultValid, Pass, Fail, StnError, Overrun, Missed : BOOL;
END_VAR
VAR CONSTANT
    IDLE : INT := 0;
    TRIGGERED : INT := 10;
    WAIT_RESULT : INT := 20;
    ACKNOWLEDGE : INT := 30;
    FAULT : INT := 90;
    RESETTING : INT := 91;
    STEP_TIMEOUT : TIME := T#2S;      (* TRIGGER_ACK, RESULT_VALID clearing, ERROR_RESET *)
    RESULT_TIMEOUT : TIME := T#1S;    (* station deadline {DEADLINE_MS:.0f} ms + margin *)
    STATION_TIMEOUT : TIME := T#1S;   (* station HEARTBEAT frozen this long: station hung *)
END_VAR

(* decode: status bits and result words come from the same read of HR 0-15 *)
{_st_decode()}

(* our heartbeat, HR {_hr(HoldingRegister.PLC_HEARTBEAT)}: the station latches ERROR if it stops *)
HeartbeatPulse(IN := NOT HeartbeatPulse.Q, PT := T#100MS);
IF HeartbeatPulse.Q THEN
    Ctl[{plc_hb}] := Ctl[{plc_hb}] + 1;
END_IF;

(* the station's heartbeat, HR {hb}: frozen means hung, even if Modbus still answers *)
StationFrozen(IN := Stn[{hb}] = LastStationHeartbeat, PT := STATION_TIMEOUT);
LastStationHeartbeat := Stn[{hb}];

(* one timeout per step: the timer restarts whenever State changes *)
StepTimer(IN := State = LastState, PT := SEL(State = WAIT_RESULT, STEP_TIMEOUT, RESULT_TIMEOUT));
LastState := State;

PartEdge(CLK := PartInPosition);
ResetEdge(CLK := OperatorReset);
Done := FALSE;

CASE State OF
IDLE:
    Ctl[0] := 0;
    Ctl[0].{enable} := TRUE;                        (* TRIGGER_ENABLE *)
    IF PartEdge.Q THEN
        IF Ready AND NOT (Busy OR ResultValid OR TriggerAck OR StationFrozen.Q) THEN
            TriggerId := TriggerId + 1;
            IF TriggerId = 0 THEN
                TriggerId := 1;                     (* 0 is never a trigger id *)
            END_IF;
            Ctl[{tid}] := TriggerId;                      (* TRIGGER_ID *)
            Ctl[{serial}] := UDINT_TO_WORD(SHR(PartSerial, 16)); (* PART_SERIAL, high word first *)
            Ctl[{serial + 1}] := UDINT_TO_WORD(PartSerial AND 16#FFFF);
            Ctl[0].{trigger} := TRUE;                     (* TRIGGER, in the same write is fine *)
            State := TRIGGERED;
        ELSE
            Accept := FALSE;                        (* station not ready: not inspected *)
            Reject := TRUE;
            Done := TRUE;
        END_IF;
    ELSIF ResultValid THEN
        Ctl[0].{ack} := TRUE;                     (* a late result no part waits for *)
        State := ACKNOWLEDGE;
    END_IF;

TRIGGERED:
    IF Missed THEN                              (* READY dropped before our edge landed *)
        Ctl[0].{trigger} := FALSE;
        FaultReason := 'MISSED_TRIGGER';
        State := FAULT;
    ELSIF TriggerAck THEN
        Ctl[0].{trigger} := FALSE;                    (* the station drops TRIGGER_ACK in turn *)
        State := WAIT_RESULT;
    ELSIF StepTimer.Q THEN
        Ctl[0].{trigger} := FALSE;
        FaultReason := 'no TRIGGER_ACK';
        State := FAULT;
    END_IF;

WAIT_RESULT:
    IF ResultValid THEN
        ResultCode := Stn[{code}];
        (* accept only a PASS that answers this very trigger; anything else rejects *)
        Accept := Pass AND NOT Fail AND (Stn[{echo}] = TriggerId);
        Reject := NOT Accept;
        Done := TRUE;
        IF Stn[{echo}] <> TriggerId THEN
            FaultReason := 'TRIGGER_ID echo mismatch';
        END_IF;
        Ctl[0].{ack} := TRUE;                     (* RESULT_ACK: hold until RESULT_VALID drops *)
        State := ACKNOWLEDGE;
    ELSIF StepTimer.Q OR StationFrozen.Q THEN
        Accept := FALSE;
        Reject := TRUE;
        Done := TRUE;
        FaultReason := 'no result';
        State := FAULT;
    END_IF;

ACKNOWLEDGE:
    IF NOT ResultValid THEN
        Ctl[0].{ack} := FALSE;
        State := IDLE;
    ELSIF StepTimer.Q THEN
        FaultReason := 'RESULT_VALID stays after RESULT_ACK';
        State := FAULT;
    END_IF;

FAULT:                                          (* parts arriving now are rejected *)
    Faulted := TRUE;
    Ctl[0].{trigger} := FALSE;
    Ctl[0].{ack} := FALSE;
    IF PartEdge.Q THEN
        Accept := FALSE;
        Reject := TRUE;
        Done := TRUE;
    END_IF;
    IF ResetEdge.Q THEN
        Ctl[0].{reset} := TRUE;                     (* ERROR_RESET: hold until the latches drop *)
        State := RESETTING;
    END_IF;

RESETTING:
    IF NOT (Missed OR Overrun OR StnError) OR StepTimer.Q THEN
        Ctl[0].{reset} := FALSE;            (* a live ERROR stays: IDLE rejects until READY *)
        Faulted := FALSE;
        FaultReason := '';
        State := IDLE;
    END_IF;
END_CASE;
END_PROGRAM
"""


def _ladder() -> str:
    rows = [
        (
            "1",
            "P(PartInPosition), READY, /BUSY, /RESULT_VALID, /StationFrozen, /CycleOn",
            "S CycleOn; TRIGGER_ID := last + 1 (skip 0); PART_SERIAL; S TRIGGER",
        ),
        (
            "2",
            "P(PartInPosition) with any of CycleOn, Fault, StationFrozen, /READY, BUSY, "
            "RESULT_VALID",
            "Reject",
        ),
        ("3", "CycleOn, TRIGGER_ACK", "R TRIGGER"),
        ("4", "CycleOn, MISSED_TRIGGER", "R TRIGGER; S Fault"),
        ("5", "CycleOn, RESULT_VALID, /ResultTaken", "S ResultTaken; S RESULT_ACK"),
        ("5a", "rung 5 and PASS and /FAIL and TRIGGER_ID_ECHO = TRIGGER_ID", "Accept"),
        ("5b", "rung 5 and not 5a", "Reject"),
        ("6", "ResultTaken, /RESULT_VALID", "R RESULT_ACK; R ResultTaken; R CycleOn"),
        ("7", "CycleOn, step timer (TON) done, or StationFrozen", "Reject; R TRIGGER; S Fault"),
        ("8", "station HEARTBEAT unchanged for 1 s (TON)", "StationFrozen"),
        ("9", "100 ms pulse (TON)", "PLC_HEARTBEAT := PLC_HEARTBEAT + 1"),
        (
            "10",
            "Fault, operator reset",
            "S ERROR_RESET; R it when MISSED_TRIGGER, RESULT_OVERRUN, ERROR drop; R Fault",
        ),
    ]
    legend = ", ".join(
        f"{flag.name} = HR {_hr(HoldingRegister.STATUS)} bit {_bit(flag)}"
        for flag in (Status.READY, Status.TRIGGER_ACK, Status.BUSY, Status.RESULT_VALID)
    )
    controls = ", ".join(
        f"{flag.name} = HR {_hr(HoldingRegister.CONTROL)} bit {_bit(flag)}"
        for flag in (Control.TRIGGER, Control.RESULT_ACK, Control.ERROR_RESET)
    )
    return f"""The same logic as rungs: contacts in series (`/` a normally closed contact,
`P()` a rising edge), then coils (`S` set, `R` reset).

- Contacts read the STATUS word as last polled: {legend}, and so on.
- Coils write the PLC's CONTROL word: {controls}.

{_table(("rung", "contacts", "coils"), rows)}
Rung 5 takes the verdict only from a read with RESULT_VALID high and accepts only a PASS
whose echo is the TRIGGER_ID just sent; every other case rejects the part (fail-safe).
"""


def _tools() -> str:
    status_hr = _hr(HoldingRegister.STATUS)
    version_hr = _hr(HoldingRegister.PROTOCOL_VERSION)
    return f"""## Tools

- `inspector plc monitor [--host H] [--port {PORT}] [--unit {UNIT_ID}] [--interval-ms 200]`: a
  live view of both blocks, the status bits by name, whether HEARTBEAT advances, and the
  handshake phase. It only reads. `--once --json` prints one decoded snapshot. Where
  its output is not a terminal (piped, redirected, under a service), or with
  `--plain`, it prints one line per change of either block instead (time, phase, the
  status bits by name, ERROR_CODE, TRIGGER_ID_ECHO, INSPECTION_SEQ, RESULT_CODE, ...,
  then CONTROL, TRIGGER_ID, PART_SERIAL as `NAME=value`): the heartbeat counters alone
  print nothing; HEARTBEAT reads FROZEN when unchanged for
  {HEARTBEAT_FROZEN_S:.0f} s.
- `inspector plc simulate [--port {PORT}] [--rate 5] [--cycles 100 | --duration S] [--json]`:
  a PLC program (a real Modbus TCP client) that drives this handshake against a running
  station and reports verdict counts, missed triggers, TRIGGER_ID mismatches,
  unearned passes (must be 0) and trigger-edge-to-RESULT_VALID times (p50, p99, max).
- `inspector demo --plc [--plc-port P]` runs the station with its Modbus server on
  127.0.0.1 and drives it with the simulator: the whole loop without hardware.
- Any Modbus tool can read the block, e.g. Debian's `mbpoll` (its references are
  1-based unless `-0` is given):
  `mbpoll -m tcp -a {UNIT_ID} -0 -r {status_hr} -c {STATION_BLOCK_WORDS} -t 4 -1 -p {PORT}
  127.0.0.1`
  prints HR {status_hr}-{STATION_BLOCK_WORDS - 1}; HR {version_hr} must read {PROTOCOL_VERSION}.
"""


def plc_markdown() -> str:
    """The whole of docs/plc.md."""
    structured_text = (
        "## Example PLC logic\n\n### Structured Text (IEC 61131-3)\n\n```iecst\n"
        + _align_comments(_structured_text())
        + "```\n"
    )
    after_map = [
        _handshake(),
        _recipes(),
        _timeouts(),
        _faults(),
        _modes(),
        _one_master(),
        structured_text,
    ]
    after_map += ["### Ladder\n\n" + _ladder(), _tools()]
    sections = [
        _reflow(_header()),
        "## Register map\n\n" + register_map_markdown(),  # verbatim: never refilled
        *(_reflow(section) for section in after_map),
    ]
    return "\n".join(sections)


def write_plc_docs(output: Path = DEFAULT_OUTPUT) -> Path:
    """Write docs/plc.md (or `output`); a folder that does not exist is an error."""
    if not output.parent.is_dir():
        raise InspectorError(f"cannot write {output}: folder {output.parent} does not exist")
    output.write_text(plc_markdown(), encoding="utf-8")
    return output
