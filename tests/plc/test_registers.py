"""The register map: one coherent source of truth, exact word codecs, generated docs."""

from __future__ import annotations

import pytest

from inspector.plc.registers import (
    CONTROL_BLOCK_WORDS,
    CONTROL_DOCS,
    ERROR_DOCS,
    PLC_BLOCK_START,
    PLC_BLOCK_WORDS,
    PROTOCOL_VERSION,
    REGISTER_DOCS,
    STATION_BLOCK_WORDS,
    STATUS_DOCS,
    Control,
    ControlBlock,
    ErrorCode,
    HoldingRegister,
    PlcError,
    SpcRule,
    StationBlock,
    Status,
    register_map_markdown,
    u32_from_words,
    u32_to_words,
)

HR = HoldingRegister


def test_design_addresses_and_bits():
    """The numbers DESIGN.md promises the controls engineer."""
    assert [HR.STATUS, HR.HEARTBEAT, HR.ERROR_CODE, HR.TRIGGER_ID_ECHO] == [0, 1, 2, 3]
    assert [HR.PART_COUNT, HR.FAIL_COUNT, HR.PROC_MS, HR.PROTOCOL_VERSION] == [8, 10, 12, 15]
    assert [HR.CONTROL, HR.PLC_HEARTBEAT, HR.TRIGGER_ID, HR.RECIPE_REQUEST] == [32, 33, 34, 35]
    assert HR.PART_SERIAL == 36
    # b11 RECIPE_SWITCHING came with protocol version 3, beyond DESIGN.md's b0-b10
    assert [int(s).bit_length() - 1 for s in Status] == list(range(12))
    # b5 SPC_ACK came with protocol version 2, beyond DESIGN.md's b0-b4
    assert [int(c).bit_length() - 1 for c in Control] == list(range(6))
    assert [int(r).bit_length() - 1 for r in SpcRule] == list(range(9))
    assert PROTOCOL_VERSION == 3


def test_every_register_documented_and_no_overlap():
    assert set(REGISTER_DOCS) == set(HR)
    assert set(STATUS_DOCS) == set(Status) and set(CONTROL_DOCS) == set(Control)
    assert set(ERROR_DOCS) == set(ErrorCode)
    used: list[int] = []
    for register in HR:
        used += range(register, register + REGISTER_DOCS[register].words)
    assert len(used) == len(set(used))
    station = sorted(a for a in used if a < PLC_BLOCK_START)
    plc = sorted(a for a in used if a >= PLC_BLOCK_START)
    assert station == list(range(STATION_BLOCK_WORDS))
    assert plc == list(range(PLC_BLOCK_START, PLC_BLOCK_START + CONTROL_BLOCK_WORDS))
    assert CONTROL_BLOCK_WORDS <= PLC_BLOCK_WORDS


@pytest.mark.parametrize(
    ("value", "words"),
    [(0, [0, 0]), (1, [0, 1]), (0x10000, [1, 0]), (123456789, [0x075B, 0xCD15])],
)
def test_u32_high_word_first(value, words):
    assert u32_to_words(value) == words
    assert u32_from_words(*words) == value


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: u32_to_words(-1), "u32"),
        (lambda: u32_to_words(1 << 32), "u32"),
        (lambda: u32_from_words(0x10000, 0), "high word"),
        (lambda: StationBlock.from_words([0] * 15), "16 words"),
        (lambda: ControlBlock.from_words([0] * 7), "6 words"),
        (lambda: ControlBlock.from_words([0, 0, 0, 0, 0, -1]), "word 5"),
    ],
)
def test_bad_words_raise_plc_error(call, message):
    with pytest.raises(PlcError, match=message):
        call()


def test_station_block_words_in_map_order():
    block = StationBlock(
        status=Status.READY | Status.FAIL,
        heartbeat=7,
        error_code=ErrorCode.NONE,
        trigger_id_echo=42,
        inspection_seq=3,
        result_code=0xFFFF,
        defect_count=2,
        max_score=900,
        part_count=70000,
        fail_count=5,
        proc_ms=14,
        active_recipe=4,
        spc_rule_mask=6,
    )
    words = block.to_words()
    assert len(words) == STATION_BLOCK_WORDS
    assert words[HR.STATUS] == 0b1000001 and words[HR.TRIGGER_ID_ECHO] == 42
    assert words[HR.PART_COUNT : HR.PART_COUNT + 2] == [1, 70000 - 65536]
    assert words[HR.PROTOCOL_VERSION] == PROTOCOL_VERSION
    assert StationBlock.from_words(words) == block


def test_control_block_splits_off_undefined_bits():
    block = ControlBlock.from_words([0xFFFF, 1, 2, 3, 0x075B, 0xCD15])
    assert block.control == Control.TRIGGER_ENABLE | Control.TRIGGER | Control.RESULT_ACK | (
        Control.ERROR_RESET | Control.RECIPE_LOAD | Control.SPC_ACK
    )
    assert block.undefined_bits == 0xFFC0
    assert (block.plc_heartbeat, block.trigger_id, block.part_serial) == (1, 2, 123456789)
    assert block.to_words() == [0xFFFF, 1, 2, 3, 0x075B, 0xCD15]


def test_markdown_is_generated_from_the_map():
    text = register_map_markdown()
    for register in HR:
        assert f"| {register.name} |" in text
    for flag in [*Status, *Control]:
        assert f"| b{int(flag).bit_length() - 1} | {flag.name} |" in text
    for code in ErrorCode:
        assert f"| {int(code)} | {code.name} |" in text
    assert "| 8-9 | PART_COUNT | u32 |" in text and "| 36-37 | PART_SERIAL | u32 |" in text
