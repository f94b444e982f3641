"""The legaliser rewrites BPF into BPF: run what it produces on the interpreter and compare with the original.

An ABI that lacks every native semantic (division by zero, signed overflow, shift masking, ALU32 zero
extension) makes every guard fire; hardening blinds every immediate. Both must leave results unchanged.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpfx import ABI, Program, Unsupported
from bpfx.front.asm import assemble
from bpfx.tools.fuzz import random_program
from bpfx.execute.interp import interpret
from bpfx.back.legalize import AX, legalize
from bpfx.front.isa import OPCODES, Kind
from bpfx.execute.runtime import Runtime

WEAK = ABI(regs={i: i for i in range(12)}, arg_regs=(1, 2, 3, 4, 5), ret_reg=0, callee_saved=frozenset(),
           scratch=(), reg_names={}, imm_bits=12)


def run_legalized(program: Program, **kw) -> tuple[int, bytes]:
    legal = legalize(program.insns, program.functions, WEAK, **kw)
    out = Program(program.name, program.section, program.prog_type, legal.insns, program.file, legal.functions)
    result = interpret(out, Runtime(out, mem=bytes(16)))
    return result.r0, result.stack


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans())
def test_guards_zext_and_blinding_preserve_results(seed, harden):
    prog = random_program(random.Random(seed), length=40)
    want = interpret(prog, Runtime(prog, mem=bytes(16)))
    assert run_legalized(prog, harden=harden, seed=seed) == (want.r0, want.stack)


def test_wide_immediates_are_built_from_pieces_that_fit():
    prog = Program("p", "s", "mem", assemble("mov %r0, 0x12345678\nadd32 %r0, -0x7654321\nstw [%r10-4], 0x7fffffff\n"
                                             "jsgt %r0, -100000, +1\nmov %r0, 1\nexit"))
    legal = legalize(prog.insns, prog.functions, WEAK)
    assert all(-2048 <= i.imm < 2048 for i in legal.insns)
    want = interpret(prog, Runtime(prog, mem=b""))
    assert run_legalized(prog) == (want.r0, want.stack)


def test_guards_really_expand_for_a_weak_abi():
    prog = Program("p", "s", "mem", assemble("mov %r0, 5\nmov %r1, 0\ndiv32 %r0, %r1\nlsh %r0, %r1\nexit"))
    legal = legalize(prog.insns, prog.functions, WEAK)
    assert len(legal.insns) > len(prog.insns)
    assert any(i.src == AX or i.dst == AX for i in legal.insns)  # the shift count is masked through AX
    assert legal.origin[-1] == 4  # the exit still maps back to BPF instruction 4


def test_unsupported_atomic_width_is_a_clear_error():
    narrow = ABI(regs={i: i for i in range(12)}, arg_regs=(1,), ret_reg=0, callee_saved=frozenset(), scratch=(),
                 reg_names={}, atomic_widths=frozenset({4}))
    prog = Program("p", "s", "mem", assemble("stdw [%r10-8], 1\nlock fetch add [%r10-8], %r1\nexit"))
    with pytest.raises(Unsupported, match="64-bit atomic add is not supported by this target"):
        legalize(prog.insns, prog.functions, narrow)


@pytest.mark.parametrize("source, guarded", [
    ("mov %r1, 7\ndiv %r0, %r1", False),  # a constant divisor set right before: no zero guard
    ("mov32 %r1, 7\nmov %r3, 2\nmod32 %r0, %r1", False),
    ("lddw %r1, 0x100000000\ndiv %r0, %r1", False),
    ("lddw %r1, 0x100000000\ndiv32 %r0, %r1", True),  # its low half, what div32 divides by, is 0
    ("mov %r1, 0\ndiv %r0, %r1", True),
    ("mov %r1, 7\njeq %r2, 0, +0\ndiv %r0, %r1", True),  # a jump lands on the division: any value may come in
    ("mov %r1, 7\ncall 1\ndiv %r0, %r1", True),  # a call clobbers r1
    ("mov %r1, -1\nsdiv %r0, %r1", True),  # the signed-overflow guard stays
    ("mov %r1, 3\nsdiv %r0, %r1", False),
])
def test_guards_left_out_for_a_divisor_known_not_to_need_them(source, guarded):
    prog = Program("p", "s", "mem", assemble(f"mov %r0, -1000\nmov %r2, 1\n{source}\nexit"))
    legal = legalize(prog.insns, prog.functions, WEAK)

    def jumps(insns):
        return sum(1 for i in insns if i.opcode and OPCODES[i.opcode].kind == Kind.JCOND)

    assert (jumps(legal.insns) > jumps(prog.insns)) is guarded
    if "call" not in source:  # (mem programs have no helpers to run)
        want = interpret(prog, Runtime(prog, mem=bytes(16)))
        assert run_legalized(prog) == (want.r0, want.stack)
