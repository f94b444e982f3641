"""Validation: is this a well-formed eBPF program that every runner can take?

Structural checks only (no value tracking): opcodes and fields, registers, r10
writes, jump targets, LD_IMM64 pairs, stack bounds through r10, helpers the
program type allows, falling off the end, call depth and recursion. Each
failure is a ValidationError naming the instruction.
"""

from __future__ import annotations

from .errors import ValidationError
from .isa import (MAX_CALL_DEPTH, MAX_INSNS, OPCODES, R10, STACK_SIZE, CallKind, Cls, Kind, Pseudo, check,
                  jump_target)
from .program import Program
from .progtypes import prog_type as get_prog_type

_WRITES_DST = frozenset({Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.LD_IMM64})
_STACK_BASE_SRC = frozenset({Kind.LDX, Kind.LDXSX})
_STACK_BASE_DST = frozenset({Kind.ST, Kind.STX, Kind.ATOMIC})


def function_starts(program: Program) -> list[int]:
    """Slot indices where functions start: the recorded ones plus every local call target."""
    starts = set(program.functions) | {0}
    for pc, insn in enumerate(program.insns):
        if insn.opcode == 0x85 and insn.src == CallKind.LOCAL:
            target = pc + 1 + insn.imm
            if 0 <= target < len(program.insns):
                starts.add(target)
    return sorted(starts)


def validate(program: Program) -> None:
    if program.validated:
        return
    insns = program.insns
    n = len(insns)

    def fail(message: str, pc: int | None = None):
        return ValidationError(message, file=program.file, section=program.section, insn=pc)

    if n == 0:
        raise fail("empty program")
    if n > MAX_INSNS:
        raise fail(f"program has {n} instructions (more than {MAX_INSNS})")
    ptype = get_prog_type(program.prog_type)
    second = bytearray(n)  # 1 where a slot is the second half of an LD_IMM64
    pc = 0
    while pc < n:
        insn = insns[pc]
        info = OPCODES[insn.opcode]
        nxt = insns[pc + 1] if pc + 1 < n else None
        reason = check(insn, nxt)
        if reason:
            raise fail(reason, pc)
        kind = info.kind
        if kind in (Kind.LD_ABS, Kind.LD_IND):
            raise fail("legacy packet access (LD_ABS/LD_IND) is not supported", pc)
        if insn.dst == R10 and (kind in _WRITES_DST):
            raise fail("write to r10 (the frame pointer is read-only)", pc)
        if kind == Kind.ATOMIC and insn.imm & 1 and insn.src == R10 and insn.imm != 0xF1:
            raise fail("write to r10 (the frame pointer is read-only)", pc)
        if (kind in _STACK_BASE_SRC and insn.src == R10) or (kind in _STACK_BASE_DST and insn.dst == R10):
            if insn.off < -STACK_SIZE or insn.off + info.size > 0:
                raise fail(f"stack access at r10{insn.off:+d} ({info.size} bytes) is outside [-512, 0)", pc)
        if kind == Kind.CALL:
            if insn.src == CallKind.HELPER and ptype.helper(insn.imm) is None:
                raise fail(f"unknown helper {insn.imm} for program type {ptype.name}", pc)
            if insn.src == CallKind.KFUNC:
                raise fail("kfunc calls are not supported", pc)
        if kind == Kind.LD_IMM64:
            if insn.src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE) and not 0 <= insn.imm < len(program.maps):
                raise fail(f"lddw refers to map {insn.imm}, but the program has {len(program.maps)} maps", pc)
            second[pc + 1] = 1
            pc += 2
            continue
        pc += 1
    starts = function_starts(program)
    ends = starts[1:] + [n]
    owner = bytearray(0) if len(starts) == 1 else None
    calls: dict[int, set[int]] = {s: set() for s in starts}
    for start, end in zip(starts, ends):
        for pc in range(start, end):
            if second[pc]:
                continue
            insn = insns[pc]
            target = jump_target(pc, insn)
            if target is None:
                continue
            if not 0 <= target < n:
                raise fail(f"jump to {target} is out of range (program has {n} instructions)", pc)
            if second[target]:
                raise fail(f"jump to {target} lands in the second slot of lddw", pc)
            if insn.opcode == 0x85:
                calls[start].add(target)
            elif not start <= target < end:
                raise fail(f"jump to {target} leaves the function that starts at {start}", pc)
        last = end - 1
        info = OPCODES[insns[last].opcode]
        if second[last] or not (info.kind == Kind.EXIT or (info.kind == Kind.JA and info.cls in (Cls.JMP,
                                                                                                  Cls.JMP32))):
            raise fail("control falls off the end of the function", last)
    del owner
    _check_calls(calls, fail)
    program.validated = True


def _check_calls(calls: dict[int, set[int]], fail) -> None:
    depth: dict[int, int] = {}
    state: dict[int, int] = {}  # 1 visiting, 2 done

    def visit(fn: int) -> int:
        if state.get(fn) == 1:
            raise fail(f"recursive call into the function at {fn}", fn)
        if state.get(fn) == 2:
            return depth[fn]
        state[fn] = 1
        d = 1 + max((visit(c) for c in calls.get(fn, ())), default=0)
        state[fn] = 2
        depth[fn] = d
        return d

    if visit(0) > MAX_CALL_DEPTH:
        raise fail(f"call depth {depth[0]} exceeds {MAX_CALL_DEPTH} frames", 0)
