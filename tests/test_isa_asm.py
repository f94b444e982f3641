"""The ISA table and the assembler: exact round trips, exact messages."""

from __future__ import annotations

import glob
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfx import isa, testing
from bpfx.front.asm import assemble, disassemble, format_insn
from bpfx.tools.conformance import parse_file
from bpfx.errors import ValidationError

CONFORMANCE = testing.conformance_dir(os.path.dirname(os.path.abspath(__file__)))
needs_suite = pytest.mark.skipif(CONFORMANCE is None, reason=testing.NO_SUITE)


@st.composite
def valid_insns(draw) -> list[isa.Insn]:
    """Any valid instruction (an LD_IMM64 comes with its second slot)."""
    opcode = draw(st.sampled_from([op for op, info in enumerate(isa.OPCODES)
                                   if info and info.kind not in (isa.Kind.LD_ABS, isa.Kind.LD_IND)]))
    info = isa.OPCODES[opcode]
    reg = st.integers(0, 10)
    s16 = st.integers(-0x8000, 0x7FFF)
    s32 = st.integers(-(1 << 31), (1 << 31) - 1)
    dst, src, off, imm = draw(reg), 0, 0, 0
    kind = info.kind
    if kind == isa.Kind.ALU:
        if info.src_reg:
            src = draw(reg)
        elif info.op != "neg":
            imm = draw(s32)
        if info.op in ("div", "mod"):
            off = draw(st.sampled_from((0, 1)))
        if info.op == "mov" and info.src_reg:
            off = draw(st.sampled_from((0,) + (isa.MOVSX_OFFS_ALU64 if info.is64 else isa.MOVSX_OFFS_ALU32)))
    elif kind == isa.Kind.ENDIAN:
        imm = draw(st.sampled_from(isa.ENDIAN_WIDTHS))
    elif kind == isa.Kind.JA:
        dst = 0
        if info.cls == isa.Cls.JMP32:
            imm = draw(s32)
        else:
            off = draw(s16)
    elif kind == isa.Kind.JCOND:
        off = draw(s16)
        if info.src_reg:
            src = draw(reg)
        else:
            imm = draw(s32)
    elif kind == isa.Kind.CALL:
        dst, src, imm = 0, draw(st.sampled_from(list(isa.CallKind))), draw(s32)
    elif kind == isa.Kind.EXIT:
        dst = 0
    elif kind in (isa.Kind.LDX, isa.Kind.LDXSX, isa.Kind.STX):
        src, off = draw(reg), draw(s16)
    elif kind == isa.Kind.ST:
        off, imm = draw(s16), draw(s32)
    elif kind == isa.Kind.ATOMIC:
        src, off, imm = draw(reg), draw(s16), draw(st.sampled_from(sorted(isa.ATOMIC_IMMS)))
    elif kind == isa.Kind.LD_IMM64:
        return list(isa.ld_imm64(dst, draw(st.integers(0, (1 << 64) - 1))))
    return [isa.Insn(opcode, dst, src, off, imm)]


@settings(max_examples=500)
@given(valid_insns())
def test_decode_encode_round_trip(insns):
    assert isa.check(insns[0], insns[1] if len(insns) > 1 else None) is None
    assert isa.decode(isa.encode(insns)) == insns


@settings(max_examples=500)
@given(valid_insns())
def test_asm_bytes_disasm_asm_round_trip(insns):
    text = disassemble(insns)
    assert assemble(text) == insns
    assert disassemble(isa.decode(isa.encode(assemble(text)))) == text


@needs_suite
@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(CONFORMANCE, "*.data"))) if CONFORMANCE else [""],
                         ids=os.path.basename)
def test_every_conformance_file_assembles_and_disassembles_back(path):
    test = parse_file(path)
    assert assemble(disassemble(test.insns)) == test.insns


@needs_suite
def test_raw_section_matches_the_assembler():
    path = os.path.join(CONFORMANCE, "lddw.data")
    with open(path) as f:
        text = f.read()
    asm = text.split("-- asm")[1].split("--")[0]
    assert isa.encode(assemble(asm)) == isa.encode(parse_file(path).insns)


@pytest.mark.parametrize("insn,nxt,message", [
    (isa.Insn(0x07 | 0x08 | 0xe0), None, "unknown opcode 0xef"),
    (isa.Insn(0xbf, 11, 1), None, "bad register r11"),
    (isa.Insn(0x3f, 1, 2, 2), None, "div with offset 2 (must be 0 or 1)"),
    (isa.Insn(0xdc, 1, 0, 0, 8), None, "byte swap width 8 (must be 16, 32 or 64)"),
    (isa.Insn(0xdb, 1, 2, 0, 0x10), None, "unknown atomic operation 0x10"),
    (isa.Insn(0x18, 1), None, "lddw is missing its second slot"),
    (isa.Insn(0x18, 1), isa.Insn(0x07, 1), "second slot of lddw must be zero but for imm"),
    (isa.Insn(0xbc, 1, 2, 32), None, "mov with offset 32 is not a valid movsx"),
    (isa.Insn(0x87, 1, 0, 0, 5), None, "nonzero imm in neg"),
])
def test_check_messages(insn, nxt, message):
    assert isa.check(insn, nxt) == message


@pytest.mark.parametrize("text,message", [
    ("frob %r0, 1", "line 1: unknown mnemonic 'frob' in 'frob %r0, 1'"),
    ("mov %r11, 1", "line 1: bad register '%r11' in 'mov %r11, 1'"),
    ("ja nowhere", "line 1: unknown label 'nowhere' in 'ja nowhere'"),
    ("mov %r0, 0x1ffffffff", "line 1: immediate 0x1ffffffff does not fit in 32 bits in 'mov %r0, 0x1ffffffff'"),
    ("add %r0", "line 1: expected 2 operands, got 1 in 'add %r0'"),
])
def test_assembler_errors(text, message):
    with pytest.raises(ValidationError) as err:
        assemble(text, file="t.s")
    assert str(err.value) == f"t.s: {message}"


def test_mnemonics_and_implicit_exit_label():
    insns = assemble("mov32 %r0, -1\njeq %r0, 0, exit\nsdiv32 %r0, %r1\nmovsx1664 %r2, %r3\n"
                     "lock fetch xor32 [%r10-4], %r1\nja32 +0\nexit\n")
    assert [format_insn(i) for i in insns] == [
        "mov32 %r0, -1", "jeq %r0, 0, +4", "sdiv32 %r0, %r1", "movsx1664 %r2, %r3",
        "lock fetch xor32 [%r10-4], %r1", "ja32 +0", "exit"]
