"""The verifier's value tracking: the scalar domain's soundness, the public constant/range query, and verdicts."""

from __future__ import annotations

import os
import re
import random

import pytest

import bpfx
from bpfx import Program
from bpfx.execute.interp import _alu
from bpfx.front import scalar as S
from bpfx.front.asm import assemble


def prog(text: str, ptype: str = "mem") -> Program:
    return Program(name="p", section="s", prog_type=ptype, insns=assemble(text), file="f.s")


# -- the scalar domain is sound: every concrete result lies in the abstract one -----------------------------------

_EDGES = [0, 1, 2, 7, 8, 255, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 32, (1 << 63) - 1, 1 << 63, S.M64 - 1, S.M64]


def _abstract(values: list[int]) -> S.Scalar:
    out = S.const(values[0])
    for v in values[1:]:
        out = S.join(out, S.const(v))
    return out


def _contains(a: S.Scalar, v: int) -> bool:
    return S.covers(a, S.const(v))


def _sample(rng: random.Random) -> list[int]:
    base = rng.choice(_EDGES + [rng.getrandbits(64), rng.getrandbits(8), rng.getrandbits(32)])
    return [(base + rng.randrange(-3, 4) * rng.choice((1, 2, 1 << 31, 1 << 32))) & S.M64 for _ in range(rng.randint(1,
                                                                                                                  4))]


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div", "mod", "and", "or", "xor", "lsh", "rsh", "arsh", "neg",
                                "mov"])
@pytest.mark.parametrize("bits", [64, 32])
def test_scalar_alu_is_sound(op, bits):
    rng = random.Random(hash((op, bits)) & 0xFFFF)
    for _ in range(300):
        xs, ys = _sample(rng), _sample(rng)
        if op in ("lsh", "rsh", "arsh") and rng.random() < 0.7:
            ys = [rng.randrange(0, bits)]
        a, b = _abstract(xs), _abstract(ys)
        if bits == 32:
            a, b = S.view32(a), S.view32(b)
        r = S.alu(op, a, b, bits)
        for x in xs:
            for y in ys:
                mask = (1 << bits) - 1
                want = _alu(op, x & mask, y & mask, 0, bits)
                assert _contains(r, want), (op, bits, xs, ys, r, want)


@pytest.mark.parametrize("op", ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset"])
@pytest.mark.parametrize("bits", [64, 32])
def test_scalar_branch_refinement_is_sound(op, bits):
    from bpfx.execute.interp import _COND, _sx

    rng = random.Random(hash((op, bits, 1)) & 0xFFFF)
    test = _COND[op]
    for _ in range(300):
        xs, ys = _sample(rng), _sample(rng)
        if rng.random() < 0.5:
            ys = [ys[0]]
        a, b = _abstract(xs), _abstract(ys)
        va, vb = (S.view32(a), S.view32(b)) if bits == 32 else (a, b)
        for taken in (True, False):
            ra, rb = S.refine(op, va, vb, taken, bits)
            mask = (1 << bits) - 1
            for x in xs:
                for y in ys:
                    xa, yb = x & mask, y & mask
                    if test(xa, yb, _sx(xa, bits), _sx(yb, bits)) == taken:
                        assert ra is not None and _contains(ra, xa) and _contains(rb, yb), (op, xs, ys, taken)
                        if bits == 32:
                            assert _contains(S.lift32(a, ra), x), (op, xs, ys, taken)


def test_widening_stops_at_compared_constants():
    w = S.widen(S.urange(0, 14), S.urange(0, 16), (63, 64, 65))
    assert (w.umin, w.umax) == (0, 63)
    assert S.widen(S.urange(0, 14), S.urange(0, 16)).umax >= S.S64_MAX  # no threshold: unbounded


# -- the public query -------------------------------------------------------------------------------------------

def test_known_constant_through_moves_alu32_and_the_stack():
    p = prog("""
        mov %r1, 7
        mov %r2, %r1
        add %r2, 3
        stxdw [%r10-8], %r2
        mov32 %r3, -1
        ldxdw %r4, [%r10-8]
        div %r0, %r4
        exit
    """)
    facts = bpfx.value_facts(p)
    assert bpfx.known_constant(facts, 6, 4) == 10
    assert facts.known_constant(6, 3) == 0xFFFF_FFFF  # ALU32 results are zero-extended
    assert facts.known_constant(6, 2) == 10
    assert facts.known_constant(0, 1) is None  # not yet set
    assert facts.reg(6, 10).kind == "stack"


def test_known_constant_is_none_when_paths_disagree_and_ranges_join():
    p = prog("""
        ldxb %r2, [%r1]
        mov %r3, 4
        jgt %r2, 9, big
        mov %r3, 8
    big:
        mod %r0, %r3
        exit
    """)
    facts = bpfx.value_facts(p, )
    assert facts.known_constant(4, 3) is None
    fact = facts.reg(4, 3)
    assert (fact.kind, fact.umin, fact.umax) == ("scalar", 4, 8)
    r2 = facts.reg(4, 2)
    assert (r2.umin, r2.umax) == (0, 255)


def test_facts_of_a_loop_are_bounded_and_complete():
    p = prog("""
        mov %r0, 0
        mov %r1, 0
    loop:
        add %r0, %r1
        add %r1, 1
        jlt %r1, 10, loop
        exit
    """)
    facts = bpfx.value_facts(p)
    r1 = facts.reg(2, 1)
    assert (r1.umin, r1.umax) == (0, 9)
    assert facts.known_constant(5, 1) == 10  # the loop leaves only with r1 == 10


def test_facts_forget_the_stack_after_a_store_through_an_unknown_pointer():
    p = prog("""
        mov %r2, 5
        stxdw [%r10-8], %r2
        ldxdw %r3, [%r1]
        stxdw [%r3], %r2
        ldxdw %r4, [%r10-8]
        div %r0, %r4
        exit
    """)
    facts = bpfx.value_facts(p)
    assert facts.known_constant(4, 2) == 5
    assert facts.known_constant(5, 4) is None  # the store through r3 may have hit the stack


def test_facts_unreachable_and_plugins_can_import_them():
    p = prog("""
        ja +1
        mov %r0, 1
        exit
    """)
    facts = bpfx.api.value_facts(p)
    assert not facts.reachable(1) and facts.reachable(2)
    assert facts.known_constant(1, 0) is None


# -- verdicts: what verify rejects, and where checked code stops at run time --------------------------------------

def xdp(text: str, maps=()) -> Program:
    """An xdp program; ``lddw %rN, MAP`` loads the handle of map 0."""
    insns = [i._replace(src=1, imm=0) if i.opcode == 0x18 and i.imm == 0x4D4150 else i
             for i in assemble(text.replace("MAP", str(0x4D4150)))]
    return Program("p", "xdp", "xdp", insns, file="prog.o", maps=list(maps))


ARRAY = bpfx.MapDef("counters", 2, 4, 8, 4)
HASH = bpfx.MapDef("flows", 1, 4, 8, 4)
_LOOKUP = "mov %r2, 0\nstxw [%r10-4], %r2\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, MAP\ncall 1\n"

# name: (program, maps, insn, verify's message, checked's run-time fault, does the interpreter's memory model
# catch the original too)
UNSAFE = {
    "return address overwrite through a copy of r10": (
        "mov %r1, %r10\nadd %r1, 8\nmov %r2, 0\nstxdw [%r1], %r2\nmov %r0, 0\nexit", (), 3,
        "stack write of 8 bytes at r10+8 is outside the 512-byte frame [r10-512, r10) (it would overwrite what lies "
        "above the frame, e.g. the return address)", "access the verifier proved unsafe", True),
    "variable stack offset": (
        "ldxw %r3, [%r1+12]\nand %r3, 255\nmov %r1, %r10\nsub %r1, %r3\nmov %r2, 0\nstxb [%r1+6], %r2\n"
        "mov %r0, 0\nexit", (), 5, "stack write of 1 bytes at r10-249..r10+6 may leave the 512-byte frame",
        "stack access out of the frame", False),
    "packet read beyond data_end": (
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, out\nldxw %r0, [%r2+34]\n"
        "out:\nmov %r0, 2\nexit", (), 5,
        "packet read of 4 bytes at offset 34 is beyond the proven range 14 (check data + 38 <= data_end first)",
        "packet access out of bounds", False),
    "map value out of bounds": (
        _LOOKUP + "jeq %r0, 0, out\nldxdw %r0, [%r0+8]\nout:\nmov %r0, 2\nexit", (ARRAY,), 8,
        "map value read of 8 bytes at offset 8 is outside the 8-byte value of map counters",
        "access the verifier proved unsafe", False),
    "NULL map value": (
        _LOOKUP + "ldxdw %r0, [%r0+0]\nmov %r0, 2\nexit", (HASH,), 7,
        "map value read of 8 bytes: possible NULL dereference: r0 is map value or NULL of flows (check the result "
        "of the lookup at insn 6 against NULL first)", "NULL map value dereference", True),
    "context field that does not exist": (
        "ldxw %r2, [%r1+24]\nmov %r0, 2\nexit", (), 0,
        "context read of 4 bytes at offset 24 of xdp_md is not a known field",
        "access the verifier proved unsafe", False),
    "write to a read-only context field": (
        "mov %r2, 1\nstxw [%r1+12], %r2\nmov %r0, 1\nexit", (), 1,
        "context write of 4 bytes: xdp_md.ingress_ifindex is read-only", None, False),  # None: refused at load
    "uninitialised register": (
        "mov %r2, %r5\nmov %r0, 2\nexit", (), 0, "mov: read of uninitialised register r5",
        "read of an uninitialised register", False),
    "uninitialised stack": (
        "ldxdw %r2, [%r10-8]\nmov %r0, 2\nexit", (), 0,
        "stack read of 8 bytes at r10-8 reads uninitialised stack (r10-8..r10-1)",
        "access the verifier proved unsafe", False),
    "uninitialised map key": (
        "mov %r2, %r10\nadd %r2, -4\nlddw %r1, MAP\ncall 1\nmov %r0, 2\nexit", (ARRAY,), 4,
        "call to bpf_map_lookup_elem: key argument r2 at r10-4 reads uninitialised stack (r10-4..r10-1)",
        "access the verifier proved unsafe", False),
    "stack overflow into the caller's frame": (
        "mov %r0, 0\ncall local f\nexit\nf:\nstdw [%r10-8], 1\nmov %r1, %r10\nstdw [%r1+16], 2\nmov %r0, 0\nexit", (),
        5, "stack write of 8 bytes at r10+16 is outside the 512-byte frame [r10-512, r10) (it would overwrite what "
        "lies above the frame, e.g. the return address)", "access the verifier proved unsafe", False),
}


@pytest.mark.parametrize("name", UNSAFE)
def test_verify_rejects_naming_the_instruction(name):
    from bpfx.front.verify import verify

    text, maps, insn, message, _fault, _caught = UNSAFE[name]
    with pytest.raises(bpfx.ValidationError) as err:
        verify(xdp(text, maps))
    assert err.value.insn == insn
    if message is not None:
        assert err.value.message == message
        assert str(err.value) == f"prog.o:xdp:insn {insn}: {message}"


@pytest.mark.parametrize("name", UNSAFE)
def test_checked_code_faults_alike_on_every_target(name):
    """The differential corpus: checked code stops at the same instruction with the same fault on the interpreter,
    on arm64 and riscv64 (under unicorn) and through the LLVM tier; where the interpreter's memory model catches
    the original, at that one too."""
    text, maps, insn, _message, fault, caught = UNSAFE[name]
    prog = xdp(text, maps)
    seen = set()
    for target, opt in (("interp", 0), ("arm64", 0), ("riscv64", 0), ("arm64", 2)):
        if fault is None:  # what the structural checks refuse is refused in every mode, not compiled to a fault
            for safety in ("structural", "verify", "checked"):
                with pytest.raises(bpfx.ValidationError) as err:
                    bpfx.run(prog, target, packet=bytes(20), safety=safety, opt=opt)
                seen.add(str(err.value))
            continue
        with pytest.raises(bpfx.RuntimeFault) as err:
            bpfx.run(prog, target, packet=bytes(20), safety="checked", opt=opt)
        seen.add(str(err.value))
    if fault is None:
        assert len(seen) == 1 and seen.pop().startswith(f"prog.o:xdp:insn {insn}: store to the read-only context")
        return
    assert seen == {f"prog.o:xdp:insn {insn}: checked: {fault} at insn {insn}"}
    if caught:
        with pytest.raises(bpfx.RuntimeFault) as err:
            bpfx.run(prog, "interp", packet=bytes(20), safety="structural")
        assert err.value.insn == insn


def test_combined_stack_depth_across_frames():
    from bpfx.front.verify import verify

    prog = xdp("stdw [%r10-300], 1\ncall local f\nmov %r0, 0\nexit\nf:\nstdw [%r10-300], 2\nmov %r0, 0\nexit")
    with pytest.raises(bpfx.ValidationError, match=r"insn 1: combined stack depth 608 bytes \(304 \+ 304\) exceeds "
                                                   r"512 across 2 frames"):
        verify(prog)


def test_pointer_leaks_are_rejected_even_when_checked():
    prog = xdp("mov %r0, %r10\nexit")
    for safety in ("verify", "checked"):
        # the structural validator's stack-pointer dataflow rejects it before the verifier runs
        with pytest.raises(bpfx.ValidationError, match=r"insn 1: r0 may hold a stack address at exit \(pointer leak\)"):
            bpfx.run(prog, "interp", safety=safety)
    leak = xdp(_LOOKUP + "jeq %r0, 0, out\nstxdw [%r0+0], %r10\nout:\nmov %r0, 2\nexit", (ARRAY,))
    with pytest.raises(bpfx.ValidationError, match=r"r10 holds a stack address stored outside the stack"):
        bpfx.run(leak, "interp", safety="checked")


def test_safe_packet_access_costs_nothing():
    prog = xdp("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, out\n"
               "ldxh %r0, [%r2+12]\nout:\nmov %r0, 2\nexit")
    plain = bpfx.compile(prog, "arm64", safety="structural")
    assert bpfx.compile(prog, "arm64", safety="checked").code == plain.code
    assert bpfx.compile(prog, "arm64", safety="verify").code == plain.code


# -- valid programs run unchanged under checked --------------------------------------------------------------------

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


@pytest.mark.parametrize("name", ["xdp_adjust_head", "xdp_counters", "xdp_macswap", "xdp_checksum", "tc_classifier"])
def test_examples_are_proven_and_run_unchanged_under_checked(name):
    from bpfx.front.verify import analyse, verdict

    obj = bpfx.load(os.path.join(EXAMPLES, name + ".o"))
    prog = obj.program()
    assert verdict(analyse(prog))[0] == "safe"
    packet = bytes(range(256)) * 4
    for target in ("interp", "arm64"):
        want = bpfx.run(prog, target, packet=packet, obj=obj, safety="structural")
        got = bpfx.run(prog, target, packet=packet, obj=obj, safety="checked")
        assert (got.r0, got.packet, got.maps) == (want.r0, want.packet, want.maps)


def _conformance_dir():
    from bpfx import testing

    return testing.conformance_dir(os.path.dirname(os.path.abspath(__file__)))


def test_conformance_programs_run_unchanged_with_checks_compiled_in():
    """Compiled without knowing the memory size, every access of a conformance program gets a bounds check; the
    checked programs still give the expected results on the interpreter and on arm64."""
    import glob

    from bpfx.execute.runner import apply_safety
    from bpfx.tools.conformance import parse_file

    d = _conformance_dir()
    if d is None:
        from bpfx import testing

        pytest.skip(testing.NO_SUITE)
    count = 0
    for path in sorted(glob.glob(os.path.join(d, "*.data"))):
        test = parse_file(path)
        if test.result is None:
            continue
        prog = Program("t", "mem", "mem", test.insns, file=path)
        checked = apply_safety(prog, "checked", mem=test.mem, known_mem=False)
        for target in ("interp", "arm64"):
            assert bpfx.run(checked, target, mem=test.mem, safety="structural").r0 == test.result, (path, target)
        count += 1
    assert count > 250


def test_checked_memory_access_faults_alike_where_the_interpreter_does():
    prog = prog_ = Program("t", "mem", "mem", assemble("ldxdw %r0, [%r1+8]\nexit"), file="m.s")
    with pytest.raises(bpfx.RuntimeFault, match="insn 0: invalid read of 8 bytes"):
        bpfx.run(prog, "interp", mem=bytes(12), safety="structural")
    from bpfx.execute.runner import apply_safety

    checked = apply_safety(prog_, "checked", mem=bytes(12), known_mem=False)
    for target in ("interp", "arm64"):
        with pytest.raises(bpfx.RuntimeFault, match="insn 0: checked: memory access out of bounds at insn 0"):
            bpfx.run(checked, target, mem=bytes(12), safety="structural")
        assert bpfx.run(checked, target, mem=bytes(16), safety="structural").r0 == 0


def test_verify_command(capsys):
    from bpfx.cli import main

    assert main(["verify", os.path.join(EXAMPLES, "xdp_counters.o")]) == 0
    out = capsys.readouterr().out
    assert out.endswith("xdp_counters.o:xdp: safe (accesses: 16 proven, 0 checked, 0 rejected)\n")


def test_joined_map_handles_and_maybe_initialised_stack():
    from bpfx.front import verify as V

    a, b = V.Val(V.MAP_PTR, S.const(0), 0), V.Val(V.MAP_PTR, S.const(0), 1)
    assert V._join(a, b) == V.Val(V.MAP_PTR, S.const(0), (0, 1))  # one of two maps: sizes taken conservatively
    assert V._join_slot((None,) * 8, (1,) * 8) == (V._MAYBE,) * 8
    # a stack byte written on one path only is not proven, but neither is it a certain fault
    prog = xdp("ldxw %r3, [%r1+12]\nmov %r2, 7\n" + "jeq %r3, 0, +1\nstxdw [%r10-8], %r2\n" * 9
               + "ldxdw %r0, [%r10-8]\nexit")
    analysis = V.analyse(prog)
    assert analysis.accesses[max(analysis.accesses)].status == "rejected"


@pytest.mark.parametrize("target", ["interp", "arm64"])
def test_tail_call_targets_run_checked_too(target):
    from bpfx import MapDef, Object
    from bpfx.front.isa import Insn, Pseudo, ld_imm64

    table = MapDef("jump_table", 3, 4, 4, 1, values=((0, "second"),))
    lo, hi = ld_imm64(2, 0, Pseudo.MAP_FD)
    first = Program("first", "xdp", "xdp", [lo, hi, Insn(0xB7, 3, 0, 0, 0), Insn(0x85, 0, 0, 0, 12),
                                             Insn(0xB7, 0, 0, 0, 1), Insn(0x95)], maps=[table], file="t.o")
    second = Program("second", "xdp", "xdp", assemble("ldxdw %r0, [%r10-8]\nexit"), maps=[table], file="t.o")
    obj = Object("t.o", [first, second], [table])
    assert bpfx.run(first, target, obj=obj, safety="structural").r0 == 0  # reads stale stack, unchecked
    with pytest.raises(bpfx.RuntimeFault, match="checked: access the verifier proved unsafe at insn 0"):
        bpfx.run(first, target, obj=obj, safety="checked")


def test_ordered_comparison_of_unrelated_pointers_is_a_leak():
    from bpfx.front.verify import verify

    with pytest.raises(bpfx.ValidationError, match=r"insn 2: jgt: ordered comparison of pointers into different "
                                                   r"regions \(ctx pointer, stack pointer r10\+0\) leaks"):
        verify(xdp("mov %r0, 0\nmov %r2, %r10\njgt %r1, %r2, +0\nexit"))


def test_legacy_packet_loads_check_themselves():
    from bpfx.front.isa import Insn
    from bpfx.front.verify import analyse, verdict

    ldabsh = Insn(0x28, 0, 0, 0, 12)  # r0 = ntohs(*(u16 *)(data + 12)), or exit with 0 when out of bounds
    prog = Program("p", "socket", "socket_filter", [Insn(0xBF, 6, 1), ldabsh, Insn(0x95)], file="t.o")
    assert verdict(analyse(prog))[0] == "safe"
    for target in ("interp", "arm64"):
        assert bpfx.run(prog, target, packet=bytes(range(64)), safety="checked").r0 == 0x0C0D
    bad = Program("p", "socket", "socket_filter", [ldabsh, Insn(0x95)], file="t.o")
    with pytest.raises(bpfx.ValidationError, match="insn 0: LD_ABS needs the context pointer in r6"):
        bpfx.run(bad, "interp", safety="verify")


def test_helper_memory_read_must_be_initialised_memory_written_need_not():
    from bpfx.front.verify import analyse, verdict

    ring = bpfx.MapDef("events", 27, 0, 0, 4096)
    # bpf_ringbuf_output reads its 8 bytes (the kernel's ARG_PTR_TO_MEM): uninitialised stack is rejected
    out = xdp("lddw %r1, MAP\nmov %r2, %r10\nadd %r2, -8\nmov %r3, 8\nmov %r4, 0\ncall 130\nmov %r0, 2\nexit",
              (ring,))
    analysis = analyse(out)
    assert [a.message for a in analysis.problems()] == [
        "call to bpf_ringbuf_output: pointer argument r2 at r10-8 reads uninitialised stack (r10-8..r10-1)"]
    # bpf_get_current_comm only writes (ARG_PTR_TO_UNINIT_MEM), and what it wrote may then be read
    comm = prog("mov %r1, %r10\nadd %r1, -16\nmov %r2, 16\ncall 16\nldxdw %r0, [%r10-16]\nexit", "kprobe")
    assert verdict(analyse(comm))[0] == "safe"
    # ... but not past the frame: 20 bytes at r10-1 (PREVAIL's badhelpercall)
    bad = prog("mov %r1, %r10\nadd %r1, -1\nmov %r2, 20\ncall 16\nmov %r0, 0\nexit", "kprobe")
    assert verdict(analyse(bad))[0] != "safe"


@pytest.mark.parametrize("seed", [505, 2139, 2724])
def test_fuzz_programs_whose_ranges_go_empty_do_not_crash_the_analysis(seed):
    # An infeasible path once left an empty scalar (unsigned [735951517, 2^64-3559015779] and signed [-128, 127]:
    # no value is both) that make() did not see as empty; value_facts crashed joining it (scalar.join on None).
    from bpfx.front.verify import analyse, value_facts, verdict
    from bpfx.tools.fuzz import random_program

    program = random_program(random.Random(seed), length=40)
    assert verdict(analyse(program))[0] == "checked"
    assert value_facts(program).reachable(0)


def test_scalar_make_sees_ranges_that_meet_on_no_value():
    assert S.make(0, S.M64, 735951517, S.M64 - 3559015778, -128, 127) is None
    assert S.make(0, S.M64, 200, S.M64, -128, 127) == S.srange(-128, -1)
    assert S.make(0, S.M64, 5, S.M64 - 5, -3, 3) is None


def test_checked_fuzzing_faults_alike_on_arm64():
    # random programs mostly fault under checked (uninitialised stack, wild pointers): each fault must be the
    # interpreter's, at the same instruction; seeds 500-539 include 505
    from bpfx.tools.fuzz import fuzz

    assert [(seed, problem) for seed, problem, _ in fuzz("arm64", 40, 500, safety="checked")] == []


# -- r0 at exit against the program type's return codes -------------------------------------------------------------

_FIRST_BYTE = ("mov %r0, 2\nldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 1\njgt %r4, %r3, out\n"
               "ldxb %r0, [%r2]\nout:\nexit")  # returns the packet's first byte


def test_exit_value_outside_the_return_codes_is_rejected_by_verify():
    from bpfx.front.verify import verify

    with pytest.raises(bpfx.ValidationError, match=r"insn 7: exit: r0 may be \[0, 255\], outside xdp's return codes "
                                                   r"0\.\.4 \(XDP_ABORTED\.\.XDP_REDIRECT\); checked code returns "
                                                   r"XDP_ABORTED \(0\) instead, as the kernel does$"):
        verify(xdp(_FIRST_BYTE))
    verify(xdp(_FIRST_BYTE.replace("out:", "and %r0, 3\nout:")))  # proven in range: accepted


@pytest.mark.parametrize("target", ["interp", "arm64", "riscv64"])
def test_checked_exit_value_becomes_what_the_kernel_does(target):
    prog = xdp(_FIRST_BYTE)
    assert bpfx.run(prog, target, packet=bytes([3, 0]), safety="checked").r0 == 3
    assert bpfx.run(prog, target, packet=bytes([7, 0]), safety="checked").r0 == 0  # an unknown action: aborted
    assert bpfx.run(prog, target, packet=bytes([7, 0]), safety="structural").r0 == 7


def test_checked_exit_value_faults_where_the_kernel_rejects():
    # cgroup_skb: the kernel's verifier accepts only 0..3 (check_return_code); checked code faults on anything else
    text = _FIRST_BYTE.replace("[%r1+0]", "[%r1+76]").replace("[%r1+4]", "[%r1+80]")  # __sk_buff's data, data_end
    prog = Program("p", "cgroup_skb/ingress", "cgroup_skb", assemble(text), file="prog.o")
    assert bpfx.run(prog, "interp", packet=bytes([1, 0]), safety="checked").r0 == 1
    for target in ("interp", "arm64"):
        with pytest.raises(bpfx.RuntimeFault, match="checked: return value outside the program type's range at "
                                                    "insn 7"):
            bpfx.run(prog, target, packet=bytes([9, 0]), safety="checked")


# -- termination ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 100, loop\nexit",  # widened: the induction variable bounds it
    "mov %r0, 0\nloop:\nadd %r0, 2\njne %r0, 64, loop\nexit",  # counts to 64 in steps of 2
    "mov %r0, 10\nloop:\nadd %r0, -1\njsgt %r0, 0, loop\nexit",  # counts down
    # ranges that shrink to the exit (a checksum fold): followed exactly from the joined entry
    "ldxdw %r0, [%r1]\nloop:\nmov %r2, %r0\nrsh %r2, 16\nand %r0, 0xffff\nadd %r0, %r2\njgt %r0, 0xffff, loop\nexit",
])
def test_bounded_loops_are_proven_to_terminate(text):
    from bpfx.front.verify import analyse

    analysis = analyse(prog(text), mem_size=8)
    assert [a.message for a in analysis.problems()] == []


@pytest.mark.parametrize("text, message", [
    ("mov %r0, 0\nloop:\njeq %r0, 0, loop\nexit", "loop at insn 1 may not terminate"),
    ("mov %r0, 0\nloop:\nadd %r0, 2\njne %r0, 9, loop\nexit", "loop at insn 1 may not terminate"),
    ("ldxdw %r0, [%r1]\nloop:\nadd %r0, -1\njgt %r0, 0, loop\nexit", "loop at insn 1 may not terminate"),
    ("mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 2000000, loop\nexit",
     "loop at insn 1 may not terminate (it may run up to 2000001 times, more than 1000000)"),
])
def test_unbounded_loops_are_reported_with_their_instruction(text, message):
    from bpfx.front.verify import verify

    program = prog(text)
    for checked in (False, True):  # no run-time check can bound a loop: checked rejects it too
        with pytest.raises(bpfx.ValidationError, match=re.escape(message)):
            verify(program, mem_size=8, checked=checked)


# -- map-in-map, data_meta, 32-bit packet lengths --------------------------------------------------------------------

def test_a_map_in_map_lookup_gives_the_inner_map():
    from bpfx.front.verify import analyse, verdict

    inner = bpfx.MapDef("inner", 2, 4, 8, 4)
    outer = bpfx.MapDef("outer", 12, 4, 4, 2, inner=inner)
    text = (_LOOKUP + "jeq %r0, 0, out\nmov %r1, %r0\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, out\n"
            "ldxdw %r0, [%r0+0]\nout:\nmov %r0, 2\nexit")
    assert verdict(analyse(xdp(text, (outer,))))[0] == "safe"
    # the inner map's value size bounds the access; the handle itself is no memory
    analysis = analyse(xdp(text.replace("[%r0+0]", "[%r0+8]"), (outer,)))
    assert [a.message for a in analysis.problems()] == [
        "map value read of 8 bytes at offset 8 is outside the 8-byte value of map inner"]
    bad = analyse(xdp(_LOOKUP + "jeq %r0, 0, out\nldxdw %r0, [%r0+0]\nout:\nmov %r0, 2\nexit", (outer,)))
    assert [a.message for a in bad.problems()] == [
        "map read of 8 bytes through r0, which is map inner (not dereferenceable)"]


def test_data_meta_reads_within_the_tested_metadata():
    from bpfx.front.verify import analyse

    text = ("ldxw %r2, [%r1+8]\nldxw %r3, [%r1+0]\nmov %r4, %r2\nadd %r4, 4\njgt %r4, %r3, out\n"
            "ldxw %r5, [%r2+0]\nout:\nmov %r0, 2\nexit")
    assert analyse(xdp(text)).problems() == []
    analysis = analyse(xdp(text.replace("[%r2+0]", "[%r2+2]")))
    assert [a.message for a in analysis.problems()] == [
        "data_meta read of 4 bytes at offset 2 is beyond the proven metadata range 4 (check data_meta + 6 <= data "
        "first)"]


def test_a_32_bit_length_between_packet_pointers_is_a_number():
    from bpfx.front.verify import analyse

    text = ("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\nmov %r0, %r4\nsub32 %r0, %r2\n"
            "and %r0, 3\nexit")
    assert analyse(xdp(text)).problems() == []


def test_a_tail_call_needs_a_prog_array():
    from bpfx.front.verify import analyse

    text = "mov %r2, 0\nlddw %r2, MAP\nmov %r3, 0\ncall 12\nmov %r0, 2\nexit"
    assert [a.message for a in analyse(xdp(text, (ARRAY,))).problems()] == [
        "call to bpf_tail_call: argument r2 must be a prog array (BPF_MAP_TYPE_PROG_ARRAY), not map counters"]
    assert analyse(xdp(text, (bpfx.MapDef("jumps", 3, 4, 4, 2),))).problems() == []
