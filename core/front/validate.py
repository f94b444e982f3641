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

import heapq

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
    stamp = program.__dict__.get("_validated")
    if program.validated and (stamp is None or (stamp[0] is program.insns and stamp[1] == len(program.insns))):
        return  # (validated by us for these very instructions, or built from checked ones by the core)
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
    seen: dict[str, int] = {}
    for start, name in sorted(program.functions.items()):  # code generators label functions by name
        if name in seen:
            raise fail(f"functions at {seen[name]} and {start} have the same name {name!r}", start)
        seen[name] = start
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
    blocks = _blocks(op, second, starts, target, is_jump & ~calls_local, n)
    _clobbered_reads(op, dst, src, imm, second, blocks, fail)
    _stack_leaks(program, arrays, second, starts, blocks, fail)
    program.validated = True
    # a caller that assigns a new instruction list afterwards gets it validated again
    program.__dict__["_validated"] = (program.insns, len(program.insns))


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


# -- dataflow: values the kernel would not let a program observe ---------------------------------------------------
# Two cheap forward analyses the kernel's verifier does in full and whose absence makes targets disagree: r1-r5 after
# a call hold the helper's garbage on native code but the old values on the interpreter (the kernel: "R1 !read_ok"),
# and a stack address is virtual on the interpreter but native elsewhere (the kernel: pointer leak at exit or store).
# reads dst (mov and loads only write it; neg reads it)
_R_DST = _table(lambda i: i.kind in (Kind.ENDIAN, Kind.JCOND, Kind.ST, Kind.STX, Kind.ATOMIC, Kind.CALLX)
                or (i.kind == Kind.ALU and i.op != "mov"))
_R_SRC = _table(lambda i: uses_src_reg(i) or i.kind == Kind.LD_IND)
_W_DST = _table(lambda i: i.kind in (Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.LD_IMM64))
_T_ATOMIC = _table(lambda i: i.kind == Kind.ATOMIC)
_T_KILL = _table(lambda i: i.kind in (Kind.CALL, Kind.CALLX, Kind.LD_ABS, Kind.LD_IND))  # clobber r1-r5
_ARGS = 0b111110


def _blocks(op, second, starts, target, branch, n):
    """Basic blocks as (first pc of each block, successor CSR ptr, successor block ids); ``branch`` marks jumps
    (not calls, which do not end blocks). Work is on the jumps and exits only, not on every instruction."""
    ends = np.flatnonzero(branch | (~second & (op == 0x95)))
    leader = np.zeros(n + 1, dtype=bool)
    leader[starts] = True
    jumps = np.flatnonzero(branch)
    leader[target[jumps]] = True
    leader[ends + 1] = True
    first = np.flatnonzero(leader[:n])
    last = np.append(first[1:], n) - 1
    jump = branch[last]
    falls = ~(jump | (~second[last] & (op[last] == 0x95))) | (jump & _T_JCOND[op[last]])
    deg = jump.astype(np.int64) + falls
    ptr = np.zeros(len(first) + 1, dtype=np.int64)
    np.cumsum(deg, out=ptr[1:])
    succ = np.empty(int(ptr[-1]), dtype=np.int64)
    succ[ptr[:-1][jump]] = np.searchsorted(first, target[last[jump]], side="right") - 1
    succ[(ptr[:-1] + jump)[falls]] = np.searchsorted(first, last[falls] + 1, side="right") - 1
    return first, ptr, succ


def _reach(frontier: np.ndarray, ptr, succ, passes: np.ndarray) -> np.ndarray:
    """Blocks reachable in one or more edges from ``frontier`` (block ids), continuing only through ``passes``."""
    seen = np.zeros(len(passes), dtype=bool)
    stamp = np.zeros(len(passes), dtype=np.int64)
    while len(frontier):
        lo, hi = ptr[frontier], ptr[frontier + 1]
        cnt = hi - lo
        gather = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(int(cnt.sum()))
        nxt = succ[gather]
        nxt = nxt[~seen[nxt]]
        order = np.arange(len(nxt))
        stamp[nxt] = order
        nxt = nxt[stamp[nxt] == order]  # each block once
        seen[nxt] = True
        frontier = nxt[passes[nxt]]
    return seen


_BIT = (1 << np.arange(16)).astype(np.uint16)


def _clobbered_reads(op, dst, src, imm, second, blocks, fail) -> None:
    """Reads of r1-r5 that a call (helper, bpf-to-bpf, callx, LD_ABS) may have clobbered, inside or across blocks."""
    live = ~second
    kill = live & _T_KILL[op]
    if not kill.any():
        return
    first, ptr, succ = blocks
    bit_d, bit_s = _BIT[dst], _BIT[src]
    reads = (np.where(_R_DST[op], bit_d, 0) | np.where(_R_SRC[op], bit_s, 0)) & _ARGS
    fetch = _T_ATOMIC[op] & ((imm & 1) != 0) & (imm != 0xF1)  # fetch ops write src (cmpxchg writes r0)
    writes = (np.where(_W_DST[op], bit_d, 0) | np.where(fetch, bit_s, 0)) & _ARGS
    pos = np.flatnonzero(live & ((reads | writes) != 0) | kill)
    reads, writes, kill = reads[pos], writes[pos], kill[pos]
    blk = np.searchsorted(first, pos, side="right") - 1
    bad = []
    for k in range(1, 6):
        m = 1 << k
        rd, wr = (reads & m) != 0, (writes & m) != 0
        sel = rd | wr | kill
        p, b, rd, killed = pos[sel], blk[sel], rd[sel], kill[sel]
        same = b[1:] == b[:-1]
        inside = same & killed[:-1] & rd[1:]  # an event reading r_k right after a call in the same block
        if inside.any():
            bad.append((int(p[1:][inside][0]), k))
        head = np.ones(len(p), dtype=bool)
        head[1:] = ~same
        tail = np.ones(len(p), dtype=bool)
        tail[:-1] = ~same
        sources = b[tail & killed]  # blocks left with r_k undefined
        if not len(sources):
            continue
        opaque = np.zeros(len(first), dtype=bool)
        opaque[b] = True
        undef = _reach(sources, ptr, succ, ~opaque)  # entries that r_k may reach undefined
        hit = head & rd & undef[b]
        if hit.any():
            bad.append((int(p[hit][0]), k))
    if bad:
        pc, k = min(bad)
        raise fail(f"r{k} is read after a call clobbered it", pc)


_T_ALU = _table(lambda i: i.kind == Kind.ALU)
_T_LDX = _table(lambda i: i.kind in (Kind.LDX, Kind.LDXSX))
_T_STX = _table(lambda i: i.kind in (Kind.STX, Kind.ATOMIC))
_T_JCOND = _table(lambda i: i.kind == Kind.JCOND)
_SLOTS = STACK_SIZE // 8
_SLOT0 = 11  # state bits: r0-r10, then one per 8-byte stack slot, then "a caller's frame may hold one"
_ALL_SLOTS = ((1 << _SLOTS) - 1) << _SLOT0
_OUTER = 1 << (_SLOT0 + _SLOTS)


def _may_leak(op, dst, src, imm, second) -> bool:
    """Flow-insensitive pre-filter: could a stack address reach r0, a store outside the stack or a comparison?"""
    live = ~second
    alu = np.flatnonzero(live & _T_ALU[op] & _T_SRC_REG[op])
    ldx = np.flatnonzero(live & _T_LDX[op])
    stx = np.flatnonzero(live & _T_STX[op])
    fetch = stx[((imm[stx] & 1) != 0)]
    fetched = np.where(imm[fetch] == 0xF1, 0, src[fetch])
    tainted = np.zeros(16, dtype=bool)
    tainted[R10] = True
    on_stack = False
    while True:
        before = (tainted.copy(), on_stack)
        tainted[dst[alu][tainted[src[alu]]]] = True
        on_stack = on_stack or bool((tainted[src[stx]] & tainted[dst[stx]]).any())
        if on_stack:
            tainted[dst[ldx][tainted[src[ldx]]]] = True
            tainted[fetched[tainted[dst[fetch]]]] = True
        if (tainted == before[0]).all() and on_stack == before[1]:
            break
    jc = np.flatnonzero(live & _T_JCOND[op])
    x = _T_SRC_REG[op[jc]]
    compares = tainted[dst[jc]] & ~x & (imm[jc] != 0)
    return bool(tainted[0] or (tainted[src[stx]] & ~tainted[dst[stx]]).any() or compares.any())


def _stack_leaks(program: Program, arrays, second, starts, blocks, fail) -> None:
    """Forward dataflow over registers and stack slots (bitsets per block, functions joined context-insensitively at
    calls) of two facts: "may hold an r10-derived address" (joined by union) and "must hold an address in this
    frame" (joined by intersection; the difference of two such is a number, the same on every target). A stack
    address that may reach r0 at the main function's exit, or must reach a store outside the stack or a comparison
    with a non-zero constant, is an error ("may" there refuses real programs: a load through a copy of r10 may read
    any slot). Runs only when the vectorised pre-filter says one may."""
    op, dst, src, off, imm = arrays
    if not _may_leak(op, dst, src, imm, second):
        return
    first, ptr, succ = blocks
    ops, dsts, srcs, offs, imms = (a.tolist() for a in arrays)
    firsts = first.tolist() + [len(ops)]
    ptrs, succs = ptr.tolist(), succ.tolist()
    main_end = int(starts[1]) if len(starts) > 1 else len(ops)
    fn_block = dict(zip(starts.tolist(), (np.searchsorted(first, starts, side="right") - 1).tolist()))
    may = [0] * len(first)  # 0: not reached (r10's bit is set in every reached state)
    must = [0] * len(first)
    may[0] = must[0] = 1 << R10
    ret: dict[int, int] = {}  # callee start -> its r0 taint at exit (bit 0), 2 if it may store one into a caller
    callers: dict[int, set[int]] = {}
    clobber = ~(_ARGS | 1)
    keep_regs = (1 << _SLOT0) - 1

    def slots(o: int, size: int) -> int:
        lo, hi = (o + STACK_SIZE) // 8, (o + size - 1 + STACK_SIZE) // 8
        return ((1 << (hi - lo + 1)) - 1) << (_SLOT0 + lo)

    def step(b: int, t: int, m: int, check: bool) -> tuple[int, int]:
        for pc in range(firsts[b], firsts[b + 1]):
            if second[pc]:
                continue
            info = OPCODES[ops[pc]]
            kind, d, s = info.kind, dsts[pc], srcs[pc]
            bd, bs = 1 << d, 1 << s
            if kind == Kind.ALU:
                x = info.src_reg
                if info.op == "mov":
                    t = (t | bd) if x and t & bs else t & ~bd
                    m = (m | bd) if x and m & bs and info.is64 and not offs[pc] else m & ~bd
                elif x and info.op == "sub" and m & bd and m & bs:  # same-frame distance: a number
                    t, m = t & ~bd, m & ~bd
                else:
                    if x and t & bs:
                        t |= bd
                        m &= ~bd
                    if not (info.is64 and info.op in ("add", "sub")):
                        m &= ~bd
            elif kind in (Kind.LDX, Kind.LDXSX, Kind.LD_IMM64):
                t, m = t & ~bd, m & ~bd
                if kind != Kind.LD_IMM64:
                    if s == R10:
                        covered = slots(offs[pc], info.size)
                        if t & covered:
                            t |= bd
                            if info.size == 8 and kind == Kind.LDX and m & covered:
                                m |= bd
                    elif (t >> s & 1) and t & (_ALL_SLOTS | _OUTER):
                        t |= bd
            elif kind in (Kind.ST, Kind.STX, Kind.ATOMIC):
                value = kind != Kind.ST and t >> s & 1
                loaded = 0
                if d == R10:
                    covered = slots(offs[pc], info.size)
                    loaded = t & covered
                    whole = info.size == 8 and offs[pc] % 8 == 0
                    t = (t | covered) if value else (t & ~covered if whole and kind != Kind.ATOMIC else t)
                    m = (m | covered) if whole and kind == Kind.STX and m & bs else m & ~covered
                elif t >> d & 1:
                    loaded = t & (_ALL_SLOTS | _OUTER)
                    if value:
                        t |= _ALL_SLOTS | _OUTER
                    m &= keep_regs
                elif value and check and m >> s & 1:
                    raise fail(f"r{s} holds a stack address stored outside the stack (pointer leak)", pc)
                if kind == Kind.ATOMIC and imms[pc] & 1:
                    reg = 1 << (0 if imms[pc] == 0xF1 else s)
                    t = t | reg if loaded else t & ~reg
                    m &= ~reg
            elif kind == Kind.JCOND:
                # (pointer against pointer is the verifier's question: which regions they may point into)
                if check and not info.src_reg and imms[pc] != 0 and m & bd:
                    raise fail(f"r{d} holds a stack address compared with a number (pointer leak)", pc)
            elif kind == Kind.CALL and s == CallKind.LOCAL:
                callee = pc + 1 + imms[pc]
                cb = fn_block[callee]
                frame = (t & ((1 << R10) - 1)) | (1 << R10) | (_OUTER if t & (_ALL_SLOTS | _OUTER) else 0)
                if not check and (may[cb] | frame != may[cb] or not must[cb]):
                    may[cb] |= frame
                    must[cb] = 1 << R10  # arguments point into the caller's frame, not the callee's
                    push(cb)
                callers.setdefault(callee, set()).add(b)
                r = ret.get(callee, 0)
                t = (t & clobber) | (r & 1) | (_ALL_SLOTS if r & 2 else 0)
                m &= clobber & keep_regs  # the callee may write the caller's slots through its arguments
            elif kind in (Kind.CALL, Kind.CALLX, Kind.LD_ABS, Kind.LD_IND):
                t &= clobber
                m &= clobber & keep_regs  # a helper may write the stack through a pointer argument
            elif kind == Kind.EXIT:
                if pc < main_end:
                    if check and t & 1:
                        raise fail("r0 may hold a stack address at exit (pointer leak)", pc)
                else:
                    fn = int(starts[np.searchsorted(starts, pc, side="right") - 1])
                    r = ret.get(fn, 0) | (t & 1) | (2 if t & _OUTER else 0)
                    if not check and r != ret.get(fn, 0):
                        ret[fn] = r
                        for caller in callers.get(fn, ()):
                            push(caller)
        return t, m

    # lowest block first (forward code in order, so most blocks are stepped once or twice), each queued once
    work: list[int] = []
    queued = [False] * len(first)

    def push(b: int) -> None:
        if not queued[b]:
            queued[b] = True
            heapq.heappush(work, b)

    push(0)
    while work:
        b = heapq.heappop(work)
        queued[b] = False
        out_t, out_m = step(b, may[b], must[b], False)
        for e in range(ptrs[b], ptrs[b + 1]):
            nb = succs[e]
            joined = (may[nb] | out_t, must[nb] & out_m if may[nb] else out_m)
            if joined != (may[nb], must[nb]):
                may[nb], must[nb] = joined
                push(nb)
    for b in range(len(first)):
        if may[b]:
            step(b, may[b], must[b], True)
