"""CodeGen.upper_half_dead: the core's query whether a 32-bit result's upper half is ever read."""

from __future__ import annotations

import pytest

from bpfx import CodeGen
from bpfx.front.asm import assemble
from bpfx.plugins import get_target


def dead(source: str, pc: int = 0, reg: int | None = None) -> bool:
    """The answer for ``reg`` (default: the register the instruction at ``pc`` writes)."""
    insns = assemble(source)
    reg = insns[pc].dst if reg is None else reg
    cg = CodeGen(None, insns, list(range(len(insns))), get_target("riscv64").abi(), None, "t", None)
    return cg.upper_half_dead(pc, reg)


@pytest.mark.parametrize("source, expect", [
    ("mov32 %r1, 1\nadd32 %r1, 2\nmov %r0, %r1\nexit", True),  # the ALU32 add reads the low half and redefines
    ("mov32 %r1, 1\nadd %r1, 2\nmov %r0, 0\nexit", False),  # a 64-bit add reads all of it
    ("mov32 %r1, 1\nmov %r0, %r1\nexit", False),  # a 64-bit move
    ("mov32 %r1, 1\nmov32 %r0, %r1\nexit", True),
    ("mov32 %r1, 1\nmovsx3264 %r0, %r1\nexit", True),  # movsx reads only the bits it extends
    ("mov32 %r1, 1\nstxw [%r10-4], %r1\nmov %r0, 0\nexit", True),
    ("mov32 %r1, 1\nstxdw [%r10-8], %r1\nmov %r0, 0\nexit", False),
    ("mov32 %r1, 1\nstw [%r1+0], 0\nmov %r0, 0\nexit", False),  # an address
    ("mov32 %r1, 1\nldxw %r0, [%r1+0]\nexit", False),
    ("mov32 %r1, 1\nldxw %r1, [%r2+0]\nmov %r0, %r1\nexit", True),  # overwritten by a load
    ("mov32 %r1, 1\njeq32 %r1, 1, +1\nmov %r0, 0\nexit", True),  # JMP32 reads the low half
    ("mov32 %r1, 1\njeq %r1, 1, +1\nmov %r0, 0\nexit", False),
    ("mov32 %r1, 1\njeq32 %r2, 1, +2\nmov %r1, 0\nexit\nmov %r0, %r1\nexit", False),  # read on the taken path
    ("mov32 %r1, 1\njeq32 %r2, 1, +2\nmov %r0, %r1\nexit\nmov %r1, 0\nexit", False),  # ... on the other one
    ("mov32 %r1, 1\nja +1\nmov %r0, %r1\nmov %r0, 0\nexit", True),  # the read is jumped over
    ("mov32 %r1, 1\ngotol +1\nmov %r0, %r1\nmov %r0, 0\nexit", True),  # (gotol: the offset is in imm)
    ("mov32 %r1, 1\ngotol +1\nmov %r0, 0\nmov %r0, %r1\nexit", False),
    ("mov32 %r1, 1\nbe32 %r1\nmov %r0, 0\nexit", True),
    ("mov32 %r1, 1\nbe64 %r1\nmov %r0, 0\nexit", False),
    ("mov32 %r1, 1\nbswap16 %r1\nmov %r0, 0\nexit", True),
    ("mov32 %r1, 1\ncall 1\nexit", False),  # a helper argument
    ("mov32 %r6, 1\ncall 1\nmov %r0, %r6\nexit", False),  # r6 survives the call
    ("mov32 %r6, 1\ncall 1\nmov %r0, 0\nexit", True),
    ("lddw %r1, 5\nmov %r0, 0\nexit", True),
    ("mov32 %r1, 1\nlddw %r1, 5\nmov %r0, %r1\nexit", True),
    ("mov32 %r1, 1\nstxdw [%r10-8], %r2\nlock add [%r10-8], %r1\nmov %r0, 0\nexit", False),
])
def test_reads_and_redefinitions_decide(source, expect):
    assert dead(source) is expect


def test_r0_is_read_by_exit_and_redefined_by_a_helper_call():
    assert dead("mov32 %r0, 1\nexit", reg=0) is False
    assert dead("mov32 %r0, 1\ncall 1\nexit", reg=0) is True
    assert dead("mov32 %r1, 1\nexit") is True  # exit reads only r0
    assert dead("mov32 %r0, 1\ncall local f\nmov %r0, 0\nexit\nf:\nmov %r0, 2\nexit", reg=0) is False  # may read any


def test_cmpxchg_reads_r0():
    src = "mov32 %r0, 1\nstxdw [%r10-8], %r2\nlock cmpxchg [%r10-8], %r2\nexit"
    assert dead(src, reg=0) is False


def test_loops_and_distance():
    assert dead("mov32 %r1, 1\nadd32 %r2, 1\nja -2\n") is True  # the loop never reads r1
    assert dead("mov32 %r1, 1\nadd32 %r2, 1\njne32 %r2, 0, -2\nmov %r0, %r1\nexit") is False
    far = "mov32 %r1, 1\n" + "add %r2, 1\n" * 100
    assert dead(far + "mov %r1, 0\nmov %r0, 0\nexit") is True  # no distance limit
    assert dead(far + "mov %r0, %r1\nexit") is False


def test_a_read_reached_only_round_a_loop_nest_is_found():
    # inner loop (pc 3-4) inside an outer one (pc 2-6); r1's upper half is read only after both exit, through
    # two backward jumps that the first backward pass sees with nothing live yet
    nest = ("mov32 %r1, 1\nmov %r3, 3\nmov %r2, 3\nadd %r2, -1\njne %r2, 0, -2\nadd %r3, -1\njne %r3, 0, -5\n"
            "mov %r0, %r1\nexit")
    assert dead(nest) is False
    assert dead(nest.replace("mov %r0, %r1", "mov32 %r0, %r1")) is True


def test_a_loop_with_an_lddw_settles():
    # the lddw's second slot once made every pass count as a change, so any program with a loop and an lddw ran out
    # of passes and had every upper half live
    loop = "mov32 %r1, 1\nlddw %r3, 0x100000000\nadd32 %r2, 1\njne32 %r2, 0, -4\nmov %r0, %r3\nexit"
    assert dead(loop) is True
    assert dead(loop.replace("mov %r0, %r3", "mov %r0, %r1")) is False


def test_loops_that_do_not_settle_answer_live(monkeypatch):
    from bpfx.back import codegen

    monkeypatch.setattr(codegen, "_UPPER_ROUNDS", 1)
    assert dead("mov32 %r1, 1\nadd32 %r2, 1\njne32 %r2, 0, -2\nmov %r0, 0\nexit") is False


def local_def(source: str, pc: int, reg: int) -> int | None:
    insns = assemble(source)
    cg = CodeGen(None, insns, list(range(len(insns))), get_target("riscv64").abi(), None, "t", None)
    return cg.local_def(pc, reg)


@pytest.mark.parametrize("source, pc, reg, expect", [
    ("mov %r1, 1\nmov %r2, 2\njeq32 %r1, 0, +0\nexit", 2, 1, 0),  # the last writer, past other instructions
    ("lddw %r1, 5\njeq32 %r1, 0, +0\nexit", 2, 1, 0),  # an lddw's second slot is skipped
    ("mov %r1, 1\njeq %r2, 0, +1\njeq32 %r1, 0, +0\nexit", 2, 1, 0),  # a fall-through keeps the value
    ("mov %r1, 1\njeq %r2, 0, +0\njeq32 %r1, 0, +0\nexit", 2, 1, None),  # ... but not a jump to it
    ("mov %r1, 1\njeq %r2, 0, +1\nmov %r3, 0\njeq32 %r1, 0, +0\nexit", 3, 1, None),  # a jump lands in between
    ("jeq %r2, 0, +0\nmov %r1, 1\njeq32 %r1, 0, +0\nexit", 2, 1, 1),  # the writer itself may be a jump target
    ("jeq32 %r1, 0, +0\nexit", 0, 1, None),  # nothing before it
    ("mov %r1, 1\ncall 1\njeq32 %r1, 0, +0\nexit", 2, 1, 1),  # a call writes r0-r5 ...
    ("mov %r6, 1\ncall 1\njeq32 %r6, 0, +0\nexit", 2, 6, 0),  # ... and keeps r6-r9
    ("mov %r1, 1\nlock fetch add [%r10-8], %r1\njeq32 %r1, 0, +0\nexit", 2, 1, 1),  # a fetch writes its operand
    ("mov %r1, 1\nlock add [%r10-8], %r1\njeq32 %r1, 0, +0\nexit", 2, 1, 0),
    ("mov %r0, 1\nlock cmpxchg [%r10-8], %r1\njeq32 %r0, 0, +0\nexit", 2, 0, 1),
])
def test_local_def_finds_the_writer_on_the_straight_line_path(source, pc, reg, expect):
    assert local_def(source, pc, reg) == expect


def test_driver_memo_keys_tell_exactly_what_the_lowering_depends_on():
    """The driver's per-slot memo keys (ints): an ALU32 instruction's tells whether its upper half is live, a
    conditional jump's leaves out its offset (only the branch encodes it), anything else is the whole slot."""
    from bpfx import BY_INSN, BY_UPPER
    from bpfx.back.codegen import _memo_keys, _upper_live
    from bpfx.back.legalize import columns

    insns = assemble("add32 %r1, 7\nadd32 %r1, 7\nmov %r0, %r1\nadd32 %r1, 7\njeq %r1, 1, +1\njeq %r1, 1, +0\n"
                     "add %r2, 7\nadd %r2, 8\nmov %r0, 0\nexit")
    plan = [None] * 256
    plan[0x04], plan[0x07] = BY_UPPER, BY_INSN
    jump_plan = [None] * 256
    jump_plan[0x15] = BY_INSN
    keys = _memo_keys(columns(insns), plan, jump_plan, _upper_live(insns)[1:])
    assert keys[1] == keys[3] != keys[0]  # live (read by the 64-bit mov, the 64-bit jeq), dead (redefined)
    assert keys[4] == keys[5] and keys[6] != keys[7]
    assert len(set(keys[:8])) == 6  # (slot 2, not planned, has a key too)
    # a validated Program's columns (registers as bytes, which a shift would overflow) give the same keys
    from bpfx import Program

    program = Program(name="p", section="s", prog_type="mem", insns=insns, file="f")
    assert _memo_keys(program.arrays(), plan, jump_plan, _upper_live(insns)[1:]) == keys
    add_r3 = assemble("add32 %r3, 7\nexit")[0]
    assert _memo_keys(columns([add_r3]), plan, jump_plan, None) != _memo_keys(columns(insns[:1]), plan, jump_plan,
                                                                               None)
    cols = columns(insns)
    cols[1][0] = 16  # a field that does not fit: its own key, the fields themselves
    assert _memo_keys(cols, plan, jump_plan, None)[0] == (0x04, 16, 0, 0, 7, 0)


@pytest.mark.parametrize("seed", range(6))
def test_operand_defs_agree_with_local_def(seed):
    """CodeGen.operand_defs (all at once, vectorised) gives what local_def gives one at a time, for the dst and
    src of every instruction of random programs with jumps, calls, atomics and lddw."""
    import random

    from bpfx.tools.fuzz import random_program

    prog = random_program(random.Random(seed), length=300, subprograms=2)
    cg = CodeGen(prog, prog.insns, list(range(len(prog.insns))), get_target("riscv64").abi(), None, "t", None)
    dst_defs, src_defs = cg.operand_defs(range(256))
    assert len(dst_defs) == len(prog.insns)
    for pc, insn in enumerate(prog.insns):
        assert dst_defs[pc] == cg.local_def(pc, insn.dst), pc
        if pc in src_defs:
            assert src_defs[pc] == cg.local_def(pc, insn.src), pc
    assert sum(w is not None for w in dst_defs.values()) > len(prog.insns) // 4  # (not all None)


def test_driver_memo_keys_of_32_bit_atomics_tell_the_fetched_registers_upper_half():
    """BY_UPPER for an atomic: the register a fetch writes (src, r0 for cmpxchg) decides, a plain one has none."""
    from bpfx import BY_UPPER
    from bpfx.back.codegen import _memo_keys, _upper_live
    from bpfx.back.legalize import columns

    insns = assemble("stxdw [%r10-8], %r2\nlock fetch add32 [%r10-8], %r1\nmov %r0, %r1\n"  # r1 read whole
                     "lock fetch add32 [%r10-8], %r1\nmov32 %r0, %r1\nmov %r1, 0\n"  # ... its low half only
                     "lock add32 [%r10-8], %r1\nmov %r0, %r1\nlock add32 [%r10-8], %r1\nmov %r1, 0\n"
                     "lock cmpxchg32 [%r10-8], %r1\nexit\nlock cmpxchg32 [%r10-8], %r1\nmov %r0, 0\nexit")
    plan = [None] * 256
    plan[0xC3] = BY_UPPER
    keys = _memo_keys(columns(insns), plan, [None] * 256, _upper_live(insns)[1:])
    assert keys[1] != keys[3]  # the fetched r1: live, dead
    assert keys[6] == keys[8]  # no fetch: nothing written, whatever is read after
    assert keys[10] != keys[12]  # cmpxchg writes r0: read by exit, overwritten
