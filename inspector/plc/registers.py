"""The PLC register map: the one source of truth for addresses, bits, word order and codes.

Server, client, trigger, tests and the generated docs all read this module; nothing else
spells an address or a bit position. Addresses are 0-based holding registers (Modbus
function 3 reads, 6/16 writes). 32-bit values are two registers, high word first.

Station -> PLC: HR 0-15 hold the station block, HR 16-31 are reserved (read as 0); the
whole of HR 0-31 is read-only to the PLC. PLC -> station: HR 32-47, of which 32-37 are
defined and 38-47 reserved.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from inspector.errors import InspectorError

__all__ = [
    "CONTROL_BLOCK_WORDS",
    "CONTROL_DEFINED_MASK",
    "CONTROL_DOCS",
    "ERROR_DOCS",
    "NO_CONTROL",
    "NO_STATUS",
    "PLC_BLOCK_START",
    "PLC_BLOCK_WORDS",
    "PROTOCOL_VERSION",
    "REGISTER_DOCS",
    "SPC_RULE_DOCS",
    "STATION_BLOCK_READONLY_WORDS",
    "STATION_BLOCK_START",
    "STATION_BLOCK_WORDS",
    "STATUS_DOCS",
    "U16_MAX",
    "U32_MAX",
    "Control",
    "ControlBlock",
    "ErrorCode",
    "HoldingRegister",
    "PlcError",
    "RegisterDoc",
    "SpcRule",
    "StationBlock",
    "Status",
    "check_u16",
    "register_map_markdown",
    "u32_from_words",
    "u32_to_words",
]

# 2: CONTROL b5 SPC_ACK, and the SPC_RULE_MASK bits defined (SpcRule).
# 3: the recipe handshake (RECIPE_LOAD, RECIPE_REQUEST, ACTIVE_RECIPE, STATUS b11
#    RECIPE_SWITCHING) and its error codes 5-7.
PROTOCOL_VERSION = 3

U16_MAX = 0xFFFF
U32_MAX = 0xFFFF_FFFF

STATION_BLOCK_START = 0
STATION_BLOCK_WORDS = 16  # HR 0-15 carry data
STATION_BLOCK_READONLY_WORDS = 32  # HR 0-31 refuse PLC writes (16-31 reserved)
PLC_BLOCK_START = 32
PLC_BLOCK_WORDS = 16  # HR 32-47 accept PLC writes (38-47 reserved)
CONTROL_BLOCK_WORDS = 6  # HR 32-37 are defined


class PlcError(InspectorError):
    """A PLC link problem or a value that does not fit the register map."""


class HoldingRegister(enum.IntEnum):
    """Holding register addresses (0-based). A u32 names its high (first) word."""

    # station -> PLC, read-only to the PLC
    STATUS = 0
    HEARTBEAT = 1
    ERROR_CODE = 2
    TRIGGER_ID_ECHO = 3
    INSPECTION_SEQ = 4
    RESULT_CODE = 5
    DEFECT_COUNT = 6
    MAX_SCORE = 7
    PART_COUNT = 8
    FAIL_COUNT = 10
    PROC_MS = 12
    ACTIVE_RECIPE = 13
    SPC_RULE_MASK = 14
    PROTOCOL_VERSION = 15
    # PLC -> station, writable
    CONTROL = 32
    PLC_HEARTBEAT = 33
    TRIGGER_ID = 34
    RECIPE_REQUEST = 35
    PART_SERIAL = 36


class Status(enum.IntFlag):
    """HR 0, station status bits. All 0 at start-up."""

    READY = 1 << 0
    TRIGGER_ACK = 1 << 1
    BUSY = 1 << 2
    RESULT_VALID = 1 << 3
    INSPECTION_COMPLETE = 1 << 4
    PASS = 1 << 5
    FAIL = 1 << 6
    ERROR = 1 << 7
    SPC_ALARM = 1 << 8
    RESULT_OVERRUN = 1 << 9
    MISSED_TRIGGER = 1 << 10
    RECIPE_SWITCHING = 1 << 11


NO_STATUS = Status(0)


class Control(enum.IntFlag):
    """HR 32, PLC control bits. Other bits are undefined: ignored and counted."""

    TRIGGER_ENABLE = 1 << 0
    TRIGGER = 1 << 1
    RESULT_ACK = 1 << 2
    ERROR_RESET = 1 << 3
    RECIPE_LOAD = 1 << 4
    SPC_ACK = 1 << 5


NO_CONTROL = Control(0)
CONTROL_DEFINED_MASK = int(
    Control.TRIGGER_ENABLE
    | Control.TRIGGER
    | Control.RESULT_ACK
    | Control.ERROR_RESET
    | Control.RECIPE_LOAD
    | Control.SPC_ACK
)


class SpcRule(enum.IntFlag):
    """HR 14 SPC_RULE_MASK: the run-rule tests with an unacknowledged SPC alarm. One bit
    per distinct test, so Western Electric and Nelson rules that test the same pattern
    share a bit."""

    BEYOND_LIMITS = 1 << 0
    NINE_SAME_SIDE = 1 << 1
    SIX_TRENDING = 1 << 2
    FOURTEEN_ALTERNATING = 1 << 3
    TWO_OF_THREE_BEYOND_2_SIGMA = 1 << 4
    FOUR_OF_FIVE_BEYOND_1_SIGMA = 1 << 5
    FIFTEEN_WITHIN_1_SIGMA = 1 << 6
    EIGHT_BEYOND_1_SIGMA = 1 << 7
    EIGHT_SAME_SIDE = 1 << 8


class ErrorCode(enum.IntEnum):
    """HR 2 while ERROR is set; 0 otherwise."""

    NONE = 0
    CAMERA = 1
    MODEL = 2
    LOG = 3
    PLC_HEARTBEAT_STALE = 4
    RECIPE_UNKNOWN = 5
    RECIPE_LOAD_FAILED = 6
    RECIPE_LOAD_TOO_SOON = 7


@dataclass(frozen=True)
class RegisterDoc:
    words: int
    kind: str
    meaning: str


REGISTER_DOCS: dict[HoldingRegister, RegisterDoc] = {
    HoldingRegister.STATUS: RegisterDoc(1, "bits", "Station status, see the STATUS bits."),
    HoldingRegister.HEARTBEAT: RegisterDoc(
        1, "u16", "+1 per inspection-loop turn, wraps; frozen means the pipeline is hung."
    ),
    HoldingRegister.ERROR_CODE: RegisterDoc(1, "u16", "Why ERROR is set (error codes); 0 else."),
    HoldingRegister.TRIGGER_ID_ECHO: RegisterDoc(
        1, "u16", "TRIGGER_ID of the trigger this result answers; check it before using one."
    ),
    HoldingRegister.INSPECTION_SEQ: RegisterDoc(
        1, "u16", "Station record sequence number (low 16 bits)."
    ),
    HoldingRegister.RESULT_CODE: RegisterDoc(
        1, "u16", "0 pass; 1 + class id of the worst defect; 0xFFFF no decision (FAIL)."
    ),
    HoldingRegister.DEFECT_COUNT: RegisterDoc(1, "u16", "Defects that failed the part."),
    HoldingRegister.MAX_SCORE: RegisterDoc(
        1, "u16", "Highest detection score x 1000 (0-1000), defect or not."
    ),
    HoldingRegister.PART_COUNT: RegisterDoc(2, "u32", "Results published since start-up."),
    HoldingRegister.FAIL_COUNT: RegisterDoc(
        2, "u32", "Rejected results (FAIL and no decision) since start-up."
    ),
    HoldingRegister.PROC_MS: RegisterDoc(1, "u16", "Trigger to verdict, ms (65535 if unknown)."),
    HoldingRegister.ACTIVE_RECIPE: RegisterDoc(
        1, "u16", "Recipe every result since the last switch was judged with (0: none set)."
    ),
    HoldingRegister.SPC_RULE_MASK: RegisterDoc(
        1, "bits", "SPC tests with an unacknowledged alarm, see the SPC_RULE_MASK bits."
    ),
    HoldingRegister.PROTOCOL_VERSION: RegisterDoc(
        1, "u16", f"Version of this map, {PROTOCOL_VERSION}."
    ),
    HoldingRegister.CONTROL: RegisterDoc(1, "bits", "PLC control, see the CONTROL bits."),
    HoldingRegister.PLC_HEARTBEAT: RegisterDoc(
        1, "u16", "Change it at least once per heartbeat timeout; stale sets ERROR."
    ),
    HoldingRegister.TRIGGER_ID: RegisterDoc(
        1, "u16", "Write before raising TRIGGER; echoed in TRIGGER_ID_ECHO."
    ),
    HoldingRegister.RECIPE_REQUEST: RegisterDoc(
        1, "u16", "Recipe to load; read on the rising edge of RECIPE_LOAD."
    ),
    HoldingRegister.PART_SERIAL: RegisterDoc(
        2, "u32", "Serial of the triggered part, logged with the record; 0 = none."
    ),
}

STATUS_DOCS: dict[Status, str] = {
    Status.READY: "Healthy, idle, will accept a trigger (needs RESULT_ACK of the last result).",
    Status.TRIGGER_ACK: "Trigger accepted; drops when the PLC drops TRIGGER.",
    Status.BUSY: "Inspecting the accepted part.",
    Status.RESULT_VALID: "Result words are valid; held until RESULT_ACK.",
    Status.INSPECTION_COMPLETE: "Toggles with every result.",
    Status.PASS: "Part passed (only ever with RESULT_VALID).",
    Status.FAIL: "Part rejected, including no decision (only ever with RESULT_VALID).",
    Status.ERROR: "Station fault; see ERROR_CODE. Live faults clear themselves, "
    "latched ones need ERROR_RESET.",
    Status.SPC_ALARM: "An SPC alarm is unacknowledged; see SPC_RULE_MASK. Cleared by "
    "SPC_ACK or `inspector spc ack`.",
    Status.RESULT_OVERRUN: "A trigger came before the last result was acknowledged "
    "(latched until ERROR_RESET).",
    Status.MISSED_TRIGGER: "A trigger came while not READY and was ignored "
    "(latched until ERROR_RESET).",
    Status.RECIPE_SWITCHING: "A RECIPE_LOAD is being served: parts in flight finish, then "
    "the recipe switches; drops with READY (done) or ERROR (refused) in one update.",
}

CONTROL_DOCS: dict[Control, str] = {
    Control.TRIGGER_ENABLE: "Triggers are accepted only while this is set.",
    Control.TRIGGER: "Rising edge requests an inspection; drop it after TRIGGER_ACK.",
    Control.RESULT_ACK: "Rising edge acknowledges the result; hold it until RESULT_VALID drops.",
    Control.ERROR_RESET: "Rising edge clears latched errors and flags; hold it until they "
    "drop (a client-mode station misses pulses shorter than its poll interval).",
    Control.RECIPE_LOAD: "Rising edge loads the recipe in RECIPE_REQUEST; hold it until "
    "RECIPE_SWITCHING drops, then drop it (see Recipe changeover).",
    Control.SPC_ACK: "Rising edge acknowledges every open SPC alarm; hold it until SPC_ALARM "
    "drops (the station clears it within its SPC tick, 0.2 s).",
}

SPC_RULE_DOCS: dict[SpcRule, str] = {
    SpcRule.BEYOND_LIMITS: "A point beyond its control limits (Western Electric 1, Nelson 1; "
    "EWMA and CUSUM past theirs).",
    SpcRule.NINE_SAME_SIDE: "9 points in a row on one side of the centre line (Nelson 2).",
    SpcRule.SIX_TRENDING: "6 points in a row steadily rising or falling (Nelson 3).",
    SpcRule.FOURTEEN_ALTERNATING: "14 points in a row alternating up and down (Nelson 4).",
    SpcRule.TWO_OF_THREE_BEYOND_2_SIGMA: "2 of 3 points beyond 2 sigma on one side "
    "(Western Electric 2, Nelson 5).",
    SpcRule.FOUR_OF_FIVE_BEYOND_1_SIGMA: "4 of 5 points beyond 1 sigma on one side "
    "(Western Electric 3, Nelson 6).",
    SpcRule.FIFTEEN_WITHIN_1_SIGMA: "15 points in a row within 1 sigma (Nelson 7).",
    SpcRule.EIGHT_BEYOND_1_SIGMA: "8 points in a row beyond 1 sigma, on both sides (Nelson 8).",
    SpcRule.EIGHT_SAME_SIDE: "8 points in a row on one side of the centre line "
    "(Western Electric 4).",
}

ERROR_DOCS: dict[ErrorCode, str] = {
    ErrorCode.NONE: "No error.",
    ErrorCode.CAMERA: "Camera not delivering frames (live).",
    ErrorCode.MODEL: "Detector not loaded or failing (live).",
    ErrorCode.LOG: "Inspection log not writable (live).",
    ErrorCode.PLC_HEARTBEAT_STALE: "PLC_HEARTBEAT did not change within the timeout (latched).",
    ErrorCode.RECIPE_UNKNOWN: "RECIPE_REQUEST names no configured recipe; the old recipe "
    "stays (latched until ERROR_RESET or a good RECIPE_LOAD).",
    ErrorCode.RECIPE_LOAD_FAILED: "The requested recipe's model or profile failed to load; "
    "the old recipe stays (latched until ERROR_RESET or a good RECIPE_LOAD).",
    ErrorCode.RECIPE_LOAD_TOO_SOON: "RECIPE_LOAD rose again before the last switch finished; "
    "that request was ignored (latched until ERROR_RESET or a good RECIPE_LOAD).",
}


def check_u16(value: int, name: str) -> int:
    if not 0 <= value <= U16_MAX:
        raise PlcError(f"{name} must be 0..{U16_MAX}, got {value}")
    return value


def u32_to_words(value: int) -> list[int]:
    """[high, low]: the word order every u32 in the map uses."""
    if not 0 <= value <= U32_MAX:
        raise PlcError(f"u32 value must be 0..{U32_MAX}, got {value}")
    return [value >> 16, value & U16_MAX]


def u32_from_words(high: int, low: int) -> int:
    return (check_u16(high, "high word") << 16) | check_u16(low, "low word")


@dataclass(frozen=True, slots=True)
class StationBlock:
    """HR 0-15 as one immutable value: readers never see half a result."""

    status: Status = NO_STATUS
    heartbeat: int = 0
    error_code: ErrorCode | int = ErrorCode.NONE
    trigger_id_echo: int = 0
    inspection_seq: int = 0
    result_code: int = 0
    defect_count: int = 0
    max_score: int = 0
    part_count: int = 0
    fail_count: int = 0
    proc_ms: int = 0
    active_recipe: int = 0
    spc_rule_mask: int = 0
    protocol_version: int = PROTOCOL_VERSION

    def to_words(self) -> list[int]:
        return [
            int(self.status),
            self.heartbeat,
            int(self.error_code),
            self.trigger_id_echo,
            self.inspection_seq,
            self.result_code,
            self.defect_count,
            self.max_score,
            *u32_to_words(self.part_count),
            *u32_to_words(self.fail_count),
            self.proc_ms,
            self.active_recipe,
            self.spc_rule_mask,
            self.protocol_version,
        ]

    @classmethod
    def from_words(cls, words: Sequence[int]) -> StationBlock:
        """Decode what a PLC (or a test) reads from HR 0-15."""
        w = _exact_words(words, STATION_BLOCK_WORDS, "station block")
        return cls(
            status=Status(w[0]),
            heartbeat=w[1],
            error_code=_error_code(w[2]),
            trigger_id_echo=w[3],
            inspection_seq=w[4],
            result_code=w[5],
            defect_count=w[6],
            max_score=w[7],
            part_count=u32_from_words(w[8], w[9]),
            fail_count=u32_from_words(w[10], w[11]),
            proc_ms=w[12],
            active_recipe=w[13],
            spc_rule_mask=w[14],
            protocol_version=w[15],
        )


@dataclass(frozen=True, slots=True)
class ControlBlock:
    """HR 32-37 as the PLC wrote them; `undefined_bits` are CONTROL bits with no meaning."""

    control: Control = NO_CONTROL
    plc_heartbeat: int = 0
    trigger_id: int = 0
    recipe_request: int = 0
    part_serial: int = 0
    undefined_bits: int = 0

    def to_words(self) -> list[int]:
        return [
            int(self.control) | self.undefined_bits,
            self.plc_heartbeat,
            self.trigger_id,
            self.recipe_request,
            *u32_to_words(self.part_serial),
        ]

    @classmethod
    def from_words(cls, words: Sequence[int]) -> ControlBlock:
        """Decode any 16-bit garbage without failing: undefined bits are split off."""
        w = _exact_words(words, CONTROL_BLOCK_WORDS, "control block")
        return cls(
            control=Control(w[0] & CONTROL_DEFINED_MASK),
            plc_heartbeat=w[1],
            trigger_id=w[2],
            recipe_request=w[3],
            part_serial=u32_from_words(w[4], w[5]),
            undefined_bits=w[0] & ~CONTROL_DEFINED_MASK & U16_MAX,
        )


def _exact_words(words: Sequence[int], count: int, name: str) -> list[int]:
    if len(words) != count:
        raise PlcError(f"{name} needs {count} words, got {len(words)}")
    return [check_u16(int(v), f"{name} word {i}") for i, v in enumerate(words)]


def _error_code(value: int) -> ErrorCode | int:
    try:
        return ErrorCode(value)
    except ValueError:
        return value  # a newer station's code: keep the number for the reader


# ---------------------------------------------------------------- docs

_BitDocs = Mapping[Status, str] | Mapping[Control, str] | Mapping[SpcRule, str]


def _span(register: HoldingRegister) -> str:
    words = REGISTER_DOCS[register].words
    return str(int(register)) if words == 1 else f"{int(register)}-{int(register) + words - 1}"


def _register_rows(registers: list[HoldingRegister]) -> list[str]:
    rows = ["| HR | name | type | meaning |", "|---|---|---|---|"]
    for register in registers:
        doc = REGISTER_DOCS[register]
        rows.append(f"| {_span(register)} | {register.name} | {doc.kind} | {doc.meaning} |")
    return rows


def _bit_rows(
    docs: Mapping[Status, str] | Mapping[Control, str] | Mapping[SpcRule, str],
) -> list[str]:
    rows = ["| bit | name | meaning |", "|---|---|---|"]
    for flag, meaning in docs.items():
        rows.append(f"| b{int(flag).bit_length() - 1} | {flag.name} | {meaning} |")
    return rows


def _error_rows() -> list[str]:
    rows = ["| code | name | meaning |", "|---|---|---|"]
    rows += [f"| {int(code)} | {code.name} | {text} |" for code, text in ERROR_DOCS.items()]
    return rows


def register_map_markdown() -> str:
    """The map as Markdown tables, for docs/plc.md (generated, never hand-written)."""
    station = [r for r in HoldingRegister if r < PLC_BLOCK_START]
    plc = [r for r in HoldingRegister if r >= PLC_BLOCK_START]
    parts = [
        f"Protocol version {PROTOCOL_VERSION}. Holding registers, 0-based; "
        "u32 values are two registers, high word first.",
        "",
        f"### Station -> PLC: HR {STATION_BLOCK_START}-{STATION_BLOCK_READONLY_WORDS - 1} "
        f"(read-only; {STATION_BLOCK_WORDS}-{STATION_BLOCK_READONLY_WORDS - 1} reserved)",
        "",
        *_register_rows(station),
        "",
        "### STATUS bits (HR 0)",
        "",
        *_bit_rows(STATUS_DOCS),
        "",
        f"### PLC -> station: HR {PLC_BLOCK_START}-{PLC_BLOCK_START + PLC_BLOCK_WORDS - 1} "
        f"(writable; {PLC_BLOCK_START + CONTROL_BLOCK_WORDS}-"
        f"{PLC_BLOCK_START + PLC_BLOCK_WORDS - 1} reserved)",
        "",
        *_register_rows(plc),
        "",
        "### CONTROL bits (HR 32)",
        "",
        *_bit_rows(CONTROL_DOCS),
        "",
        "### SPC_RULE_MASK bits (HR 14)",
        "",
        *_bit_rows(SPC_RULE_DOCS),
        "",
        "### Error codes (HR 2)",
        "",
        *_error_rows(),
    ]
    return "\n".join(parts) + "\n"
