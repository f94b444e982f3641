"""Validation: is this a well-formed eBPF program that every runner can take?

Structural checks only (no value tracking): opcodes and fields, registers, r10
writes, jump targets, LD_IMM64 pairs, stack bounds through r10, helpers the
program type allows, falling off the end, call depth and recursion. Each
failure is a ValidationError naming the instruction.

Speed: NumPy flags every instruction that *might* be wrong (per-opcode tables
built from isa.OPCODES, applied to whole arrays); only those are re-checked
one by one in Python, which is where every message comes from. The first
failing instruction in index order is reported.
"""

from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from .isa import (ATOMIC_IMMS, MAX_CALL_DEPTH, MAX_INSNS, OPCODES, R10, STACK_SIZE, CallKind, Cls, Insn, Kind,
                  Pseudo, check, jump_target, uses_src_reg)
from .program import Program
from .progtypes import prog_type as get_prog_type

_WRITES_DST = frozenset({Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.LD_IMM64})
_STACK_BASE_SRC = frozenset({Kind.LDX, Kind.LDXSX})
_STACK_BASE_DST = frozenset({Kind.ST, Kind.STX, Kind.ATOMIC})
# Kinds whose rules are not vectorised below: always re-checked in Python.
_SPECIAL = frozenset({Kind.CALLX, Kind.LD_ABS, Kind.LD_IND})
# Program types whose context is an __sk_buff the legacy packet loads read (the kernel's may_access_skb); unspec
# until the type is chosen.
LD_ABS_TYPES = frozenset({"socket_filter", "sched_cls", "sched_act", "unspec"})


def _table(pred) -> np.ndarray:
    return np.array([bool(info is not None and pred(info)) for info in OPCODES])


_T_VALID = _table(lambda i: True)
_T_SPECIAL = _table(lambda i: i.kind in _SPECIAL)
# ALU variants: div/mod off in {0, 1}; mov off in the movsx set (register form); neg has no operand
_T_DIVMOD = _table(lambda i: i.kind == Kind.ALU and i.op in ("div", "mod"))
_T_MOVX = _table(lambda i: i.kind == Kind.ALU and i.op == "mov" and i.src_reg)
_T_ALU64 = _table(lambda i: i.cls == Cls.ALU64)
_T_NEG = _table(lambda i: i.kind == Kind.ALU and i.op == "neg")
_T_SRC_REG = _table(uses_src_reg)
_T_SRC_ZERO = _table(lambda i: not i.src_reg)  # immediate forms: src must be 0
_T_IMM_ZERO = _table(lambda i: i.src_reg and i.kind in (Kind.ALU, Kind.JCOND, Kind.LDX, Kind.LDXSX, Kind.STX))
_T_OFF_ZERO = _table(lambda i: i.kind == Kind.ALU and i.op not in ("div", "mod") and not (i.op == "mov" and i.src_reg))
_T_WRITES = _table(lambda i: i.kind in _WRITES_DST)
_T_LOAD = _table(lambda i: i.kind in _STACK_BASE_SRC)
_T_STORE = _table(lambda i: i.kind in _STACK_BASE_DST)
_T_SIZE = np.array([info.size if info is not None else 0 for info in OPCODES], dtype=np.int64)
_T_JUMP_OFF = _table(lambda i: i.kind == Kind.JCOND or (i.kind == Kind.JA and i.cls == Cls.JMP))
_T_JUMP_IMM = _table(lambda i: i.kind == Kind.JA and i.cls == Cls.JMP32)
_T_KIND = np.array([int(i.kind) if i else 0 for i in OPCODES], dtype=np.int8)
_ATOMIC_IMMS = np.array(sorted(ATOMIC_IMMS), dtype=np.int64)


def _kind_rules(op, dst, src, off, imm, nxt_zero, n_maps: int, helper_ok) -> np.ndarray:
    """Rows of the kinds with special field rules that break them (vectorised isa.check and map/helper rules)."""
    kind = _T_KIND[op]
    bad = np.zeros(len(op), dtype=bool)
    k = kind == Kind.ENDIAN
    bad |= k & (~np.isin(imm, (16, 32, 64)) | (src != 0) | (off != 0))
    k = kind == Kind.JA
    bad |= k & ((dst != 0) | (src != 0) | np.where(_T_JUMP_IMM[op], off != 0, imm != 0))
    k = kind == Kind.CALL
    bad |= k & ((src > 2) | (dst != 0) | (off != 0) | (src == CallKind.KFUNC)
                | ((src == CallKind.HELPER) & ~helper_ok(imm)))
    k = kind == Kind.EXIT
    bad |= k & ((dst != 0) | (src != 0) | (off != 0) | (imm != 0))
    k = kind == Kind.ATOMIC
    bad |= k & (~np.isin(imm, _ATOMIC_IMMS) | ((src == R10) & ((imm & 1) != 0) & (imm != 0xF1)))
    k = kind == Kind.LD_IMM64
    bad |= k & ((src > 6) | (off != 0) | ~nxt_zero
                | (((src == Pseudo.MAP_FD) | (src == Pseudo.MAP_VALUE)) & ((imm < 0) | (imm >= n_maps))))
    return bad


def second_slots(op: np.ndarray) -> np.ndarray:
    """Boolean array: which slots are the second half of an LD_IMM64 (resolving runs of 0x18 in order)."""
    second = np.zeros(len(op), dtype=bool)
    skip = -1
    for p in np.flatnonzero(op == 0x18).tolist():
        if p == skip:
            continue
        if p + 1 < len(op):
            second[p + 1] = True
        skip = p + 1
    return second


def function_starts(program: Program, arrays=None) -> list[int]:
    """Slot indices where functions start: the recorded ones plus every local call target."""
    op, _dst, src, _off, imm = arrays or program.arrays()
    n = len(op)
    calls = (op == 0x85) & (src == CallKind.LOCAL)
    targets = np.flatnonzero(calls) + 1 + imm[calls]
    starts = set(program.functions) | {0} | set(targets[(targets >= 0) & (targets < n)].tolist())
    return sorted(starts)


def validate(program: Program, helpers=()) -> None:
    """Check ``program`` structurally; raise ValidationError naming the first broken instruction.

    :param helpers: helper ids allowed beyond the program type's UAPI set (a vendor's firmware helpers, a
        driver's own): whether a target can reach them is the compile step's question.
    """
    if program.validated:
        return
    n = len(program.insns)

    def fail(message: str, pc: int | None = None):
        return ValidationError(message, file=program.file, section=program.section, insn=pc)

    if n == 0:
        raise fail("empty program")
    if n > MAX_INSNS:
        raise fail(f"program has {n} instructions (more than {MAX_INSNS})")
    ptype = get_prog_type(program.prog_type)
    op, dst, src, off, imm = program.arrays()
    second = second_slots(op)
    idx = np.arange(n, dtype=np.int64)
    calls_local = (op == 0x85) & (src == CallKind.LOCAL)
    starts = np.unique(np.concatenate(([0], np.fromiter(program.functions, dtype=np.int64, count=len(
        program.functions)), (idx + 1 + imm)[calls_local & (idx + 1 + imm >= 0) & (idx + 1 + imm < n)])))
    func = np.searchsorted(starts, idx, side="right") - 1

    nxt_zero = np.ones(n, dtype=bool)
    nxt_zero[:-1] = (op[1:] == 0) & (dst[1:] == 0) & (src[1:] == 0) & (off[1:] == 0)
    nxt_zero[-1] = False
    allowed_ids = ptype.helper_ids | frozenset(helpers)
    allowed = np.array(sorted(allowed_ids), dtype=np.int64)
    kind_bad = _kind_rules(op, dst, src, off, imm, nxt_zero, len(program.maps), lambda ids: np.isin(ids, allowed))
    flagged = ~second & (
        ~_T_VALID[op] | _T_SPECIAL[op] | kind_bad | (dst > 10) | (_T_SRC_REG[op] & (src > 10))
        | (_T_SRC_ZERO[op] & (src != 0)) | (_T_IMM_ZERO[op] & (imm != 0)) | (_T_OFF_ZERO[op] & (off != 0))
        | (_T_DIVMOD[op] & (off != 0) & (off != 1)) | (_T_NEG[op] & (imm != 0))
        | (_T_MOVX[op] & (off != 0) & ~np.where(_T_ALU64[op], np.isin(off, (8, 16, 32)), np.isin(off, (8, 16))))
        | (_T_WRITES[op] & (dst == R10))
        | (((_T_LOAD[op] & (src == R10)) | (_T_STORE[op] & (dst == R10)))
           & ((off < -STACK_SIZE) | (off + _T_SIZE[op] > 0))))
    target = np.where(_T_JUMP_IMM[op] | calls_local, idx + 1 + imm, idx + 1 + off)
    is_jump = ~second & (_T_JUMP_OFF[op] | _T_JUMP_IMM[op] | calls_local)
    safe = np.clip(target, 0, n - 1)
    bad_jump = is_jump & ((target < 0) | (target >= n) | second[safe] | (~calls_local & (func[safe] != func)))
    arrays = (op, dst, src, off, imm)
    for pc in np.flatnonzero(flagged | bad_jump).tolist():
        _check_one(program, arrays, pc, ptype, allowed_ids, second, starts, fail)

    ends = np.append(starts[1:], n)
    for end in ends.tolist():
        last = end - 1
        info = OPCODES[int(op[last])]
        if second[last] or info is None or not (info.kind == Kind.EXIT or (info.kind == Kind.JA and info.cls in (
                Cls.JMP, Cls.JMP32))):
            raise fail("control falls off the end of the function", last)
    calls: dict[int, set[int]] = {s: set() for s in starts.tolist()}
    for pc in np.flatnonzero(calls_local).tolist():
        calls[int(starts[func[pc]])].add(int(target[pc]))
    _check_calls(calls, fail)
    program.validated = True


def _insn(arrays, pc: int) -> Insn:
    op, dst, src, off, imm = arrays
    return Insn(int(op[pc]), int(dst[pc]), int(src[pc]), int(off[pc]), int(imm[pc]))


def _check_one(program: Program, arrays, pc: int, ptype, allowed_ids, second, starts, fail) -> None:
    """Every per-instruction rule, for one flagged instruction; raises on the first broken one."""
    n = len(arrays[0])
    insn = _insn(arrays, pc)
    nxt = _insn(arrays, pc + 1) if pc + 1 < n else None
    reason = check(insn, nxt)
    if reason:
        raise fail(reason, pc)
    info = OPCODES[insn.opcode]
    kind = info.kind
    if kind in (Kind.LD_ABS, Kind.LD_IND):  # the kernel's check_ld_abs
        if info.size == 8 or insn.dst or insn.off or (kind == Kind.LD_ABS and insn.src):
            raise fail("LD_ABS/LD_IND uses reserved fields (dst and off must be 0, size b/h/w)", pc)
        if ptype.name not in LD_ABS_TYPES:
            raise fail(f"LD_ABS/LD_IND packet access is not available to {ptype.name} programs", pc)
        if len(starts) > 1:
            raise fail("LD_ABS/LD_IND cannot be mixed with bpf-to-bpf calls", pc)
    if insn.dst == R10 and kind in _WRITES_DST:
        raise fail("write to r10 (the frame pointer is read-only)", pc)
    if kind == Kind.ATOMIC and insn.imm & 1 and insn.src == R10 and insn.imm != 0xF1:
        raise fail("write to r10 (the frame pointer is read-only)", pc)
    if (kind in _STACK_BASE_SRC and insn.src == R10) or (kind in _STACK_BASE_DST and insn.dst == R10):
        if insn.off < -STACK_SIZE or insn.off + info.size > 0:
            raise fail(f"stack access at r10{insn.off:+d} ({info.size} bytes) is outside [-512, 0)", pc)
    if kind == Kind.CALL:
        if insn.src == CallKind.HELPER and insn.imm not in allowed_ids:
            raise fail(f"unknown helper {insn.imm} for program type {ptype.name}", pc)
        if insn.src == CallKind.KFUNC:
            raise fail("kfunc calls are not supported", pc)
    if kind == Kind.LD_IMM64 and insn.src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE) and \
            not 0 <= insn.imm < len(program.maps):
        raise fail(f"lddw refers to map {insn.imm}, but the program has {len(program.maps)} maps", pc)
    target = jump_target(pc, insn)
    if target is not None:
        if not 0 <= target < n:
            raise fail(f"jump to {target} is out of range (program has {n} instructions)", pc)
        if second[target]:
            raise fail(f"jump to {target} lands in the second slot of lddw", pc)
        if kind != Kind.CALL:
            fn = int(starts[np.searchsorted(starts, pc, side="right") - 1])
            if int(starts[np.searchsorted(starts, target, side="right") - 1]) != fn:
                raise fail(f"jump to {target} leaves the function that starts at {fn}", pc)


def _check_calls(calls: dict[int, set[int]], fail) -> None:
    # Iterative depth-first search (a chain of thousands of calls must not hit Python's recursion limit).
    depth: dict[int, int] = {}
    state: dict[int, int] = {0: 1}  # 1 on the current path, 2 done
    stack = [(0, iter(sorted(calls.get(0, ()))))]
    while stack:
        fn, callees = stack[-1]
        for callee in callees:
            if state.get(callee) == 1:
                raise fail(f"recursive call into the function at {callee}", callee)
            if state.get(callee) != 2:
                state[callee] = 1
                stack.append((callee, iter(sorted(calls.get(callee, ())))))
                break
        else:
            stack.pop()
            state[fn] = 2
            depth[fn] = 1 + max((depth[c] for c in calls.get(fn, ())), default=0)

    if depth[0] > MAX_CALL_DEPTH:
        raise fail(f"call depth {depth[0]} exceeds {MAX_CALL_DEPTH} frames", 0)
