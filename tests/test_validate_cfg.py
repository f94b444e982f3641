"""Validator messages and the CFG analyses."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfx import Program
from bpfx.front.progtypes import prog_type as get_prog_type
from bpfx.front.asm import assemble
from bpfx.front.cfg import CtxAccess, build_cfg
from bpfx.errors import ValidationError
from bpfx.front.isa import Insn, decode
from bpfx.front.validate import validate


def prog(text: str, ptype: str = "mem", insns=None) -> Program:
    return Program(name="p", section="s", prog_type=ptype, insns=insns or assemble(text), file="f.s")


@pytest.mark.parametrize("text,insn,message", [
    ("mov %r10, 1\nexit", 0, "write to r10 (the frame pointer is read-only)"),
    ("ja +5\nexit", 0, "jump to 6 is out of range (program has 2 instructions)"),
    ("ja +1\nlddw %r0, 1\nexit", 0, "jump to 2 lands in the second slot of lddw"),
    ("mov %r0, 0", 0, "control falls off the end of the function"),
    ("stxdw [%r10-520], %r1\nexit", 0, "stack access at r10-520 (8 bytes) is outside [-512, 0)"),
    ("stxw [%r10-2], %r1\nexit", 0, "stack access at r10-2 (4 bytes) is outside [-512, 0)"),
    ("call 1\nexit", 0, "unknown helper 1 for program type mem"),
    ("call local f\nexit\nf:\ncall local f\nexit", 2, "recursive call into the function at 2"),
])
def test_validator_messages(text, insn, message):
    with pytest.raises(ValidationError) as err:
        validate(prog(text))
    assert (err.value.insn, err.value.message) == (insn, message)
    assert str(err.value) == f"f.s:s:insn {insn}: {message}"


def test_validator_rejects_unknown_opcode_and_split_lddw():
    with pytest.raises(ValidationError, match="insn 1: unknown opcode 0x0e"):
        validate(prog("", insns=[Insn(0xb7), Insn(0x0e, 0, 0, 1), Insn(0x95)]))
    with pytest.raises(ValidationError, match="insn 0: lddw is missing its second slot"):
        validate(prog("", insns=decode(bytes.fromhex("1800000001000000"))))


def test_bounded_loops_are_valid_and_show_back_edges():
    p = prog("mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 10, loop\nexit")
    validate(p)
    cfg = build_cfg(p)
    assert [(b.start, b.end, b.succs) for b in cfg.blocks] == [(0, 1, [1]), (1, 3, [2, 1]), (3, 4, [])]
    assert cfg.back_edges == [(1, 1)]
    assert cfg.dominators[2] == {0, 1, 2}
    assert cfg.live_in[1] == {0}
    assert cfg.live_after(0) == {0}
    assert 'digraph "p"' in cfg.to_dot()


def test_ctx_provenance_follows_copies_adds_spills_and_calls():
    p = prog("mov %r6, %r1\nadd %r6, 4\nldxw %r2, [%r6+0]\nstxdw [%r10-8], %r1\nldxdw %r3, [%r10-8]\n"
             "ldxw %r4, [%r3+16]\nmov %r1, %r3\ncall local f\nexit\nf:\nldxw %r0, [%r1+12]\nexit", "xdp")
    assert build_cfg(p).ctx_accesses == {2: CtxAccess(4, 4, False), 5: CtxAccess(16, 4, False),
                                         9: CtxAccess(12, 4, False)}


def test_ambiguous_ctx_pointer_is_an_error():
    p = prog("mov %r2, %r10\njeq %r1, 0, +1\nmov %r2, %r1\nldxw %r0, [%r2-4]\nexit", "xdp")
    with pytest.raises(ValidationError, match="insn 3: ambiguous pointer"):
        build_cfg(p).ctx_accesses  # noqa: B018


@settings(max_examples=3000, deadline=None)
@given(st.integers(0, 255), st.integers(0, 15), st.integers(0, 15), st.sampled_from([0, 1, -1, 8, 16, 32, -8, -600]),
       st.sampled_from([0, 1, -1, 5, 16, 32, 64, 0xE1, 0xF1, 0x41, 0x10, 1 << 20]),
       st.sampled_from(["mem", "xdp"]))
def test_vectorised_prefilter_never_accepts_what_the_exact_check_rejects(opcode, dst, src, off, imm, ptype):
    """validate() re-checks only the rows NumPy flags; any instruction the exact rules reject must be flagged."""
    from bpfx.front.validate import _check_one, second_slots

    insn = Insn(opcode, dst, src, off, imm)
    program = Program(name="p", section="s", prog_type=ptype, insns=[insn, Insn(0x95)], file="f")
    exact_error = None
    try:
        arrays = program.arrays()
        _check_one(program, arrays, 0, get_prog_type(ptype), get_prog_type(ptype).helper_ids, second_slots(arrays[0]),
                   np.array([0], dtype=np.int64), lambda m, pc=None: ValidationError(m, insn=pc))
    except ValidationError as err:
        exact_error = err.message
    try:
        validate(program)
        vector_error = None
    except ValidationError as err:
        vector_error = err.message if err.insn == 0 else None
    if exact_error is not None:
        assert vector_error == exact_error


@pytest.mark.parametrize("target", ["interp", "host", "arm64"])
def test_a_new_instruction_list_is_validated_again(target):
    """Assigning new instructions to a program that already ran is validated like a new program, not trusted."""
    import bpfx

    prog = bpfx.Program(name="t", section="xdp", prog_type="xdp", insns=assemble("mov %r0, 2\nexit"), file="t.o")
    assert bpfx.run(prog, target).r0 == 2
    prog.insns = assemble("mov %r0, 2\nja +5\nexit")
    with pytest.raises(ValidationError, match=r"^t\.o:xdp:insn 1: jump to 7 is out of range"):
        bpfx.run(prog, target)
