"""The verifier's value tracking: the scalar domain's soundness, the public constant/range query, and verdicts."""

from __future__ import annotations

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
