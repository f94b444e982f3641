"""BPF -> BPF rewrites, so a selector only ever sees what its target can do.

Each pass is driven by the target's ABI capability flags: a target with the
native semantics pays nothing. Rewrites may insert instructions; ``rewrite``
keeps jump, gotol and local-call targets pointing at the start of the
expansion of the instruction they targeted, and records for every new slot the
original BPF index (for the line map and error messages).

The hidden register AX (BPF register 11, as in the kernel) is what the
inserted code uses as a temporary; every ABI maps it to a native scratch
register.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import chain, repeat
from operator import itemgetter

import numpy as np

from ..errors import Unsupported
from ..front.isa import (
    ALU_OPS,
    ATOMIC_FETCH,
    ATOMIC_OPS,
    JMP_OPS,
    MODES,
    OPCODES,
    SIZES,
    SRC_K,
    SRC_X,
    Cls,
    Insn,
    Kind,
    TARGET_FIELD,
    TARGET_IN_IMM,
    TARGET_IN_IMM_IF_LOCAL,
    TARGET_IN_OFF,
    CallKind,
    Pseudo,
    imm64,
    jump_target,
    ld_imm64,
    s32,
)
from .target import ABI, ContextLayout

AX = 11

# enum members as module constants for per-instruction code (an IntEnum member lookup costs 80 ns on Python 3.11)
_K_ALU, _ALU64, _JMP, _JMP32 = Kind.ALU, Cls.ALU64, Cls.JMP, Cls.JMP32
_MOV64_K = Cls.ALU64 | SRC_K | ALU_OPS["mov"]
_MOV32_K = Cls.ALU | SRC_K | ALU_OPS["mov"]
_XOR64_K = Cls.ALU64 | SRC_K | ALU_OPS["xor"]
_XOR32_K = Cls.ALU | SRC_K | ALU_OPS["xor"]
_JA = Cls.JMP | JMP_OPS["ja"]
_LSH64_K = Cls.ALU64 | SRC_K | ALU_OPS["lsh"]
_RSH64_K = Cls.ALU64 | SRC_K | ALU_OPS["rsh"]


LD_IMM64_OP = 0x18
_JUMP_OPS = frozenset(op for op, info in enumerate(OPCODES)
                      if info and (info.kind in (Kind.JA, Kind.JCOND) or (info.kind == Kind.CALL)))
_IS_JUMP_OP = np.zeros(256, dtype=bool)
_IS_JUMP_OP[list(_JUMP_OPS)] = True
_TARGET_FIELD = np.array(TARGET_FIELD, dtype=np.int8)
#: (op, dst, src, off, imm) of every slot as NumPy arrays, as ``Program.arrays`` gives them: what the passes scan
Columns = tuple
# What an instruction writes, for local_def: 1 its dst, 2 r0-r5 (a call), 3 its src with a fetch (r0: cmpxchg)
_DEF_KIND = [0] * 256
for _op, _info in enumerate(OPCODES):
    if _info is not None:
        _DEF_KIND[_op] = (1 if _info.kind in (Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.LD_IMM64)
                          else 2 if _info.kind in (Kind.CALL, Kind.CALLX) else 3 if _info.kind == Kind.ATOMIC else 0)
_CMPXCHG = ATOMIC_OPS["cmpxchg"]
_DEF_BUDGET = 8  # how far back local_def looks (16 found nothing more on the benchmark corpus)


_DEF_KINDS = np.array(_DEF_KIND, dtype=np.int8)


def atomic_writes(src: np.ndarray, imm: np.ndarray) -> np.ndarray:
    """The register each atomic instruction (of these src and imm) writes: its src with a fetch, r0 for
    cmpxchg, -1 for none (what local_def follows, one instruction at a time)."""
    src = src.astype(np.int64)  # (a Program's registers are bytes, where -1 would wrap)
    return np.where(imm == _CMPXCHG, 0, np.where(imm & ATOMIC_FETCH != 0, src, -1))


def local_defs(cols: Columns, leaders: np.ndarray, pcs: np.ndarray, regs: np.ndarray) -> np.ndarray:
    """``local_def`` for many (pc, reg) at once, -1 for None (``leaders``: a bool per slot): a step back at a
    time, all queries together, instead of a scan each."""
    op, dst, src, _off, imm = cols
    found = np.full(len(pcs), -1, dtype=np.int64)
    done = leaders[pcs]
    for back in range(1, _DEF_BUDGET + 1):
        at = pcs - back
        live = ~done & (at >= 0)
        at = np.where(live, at, 0)
        kind = _DEF_KINDS[op[at]]
        writes = live & (((kind == 1) & (dst[at] == regs)) | ((kind == 2) & (regs <= 5))
                         | ((kind == 3) & (atomic_writes(src[at], imm[at]) == regs)))
        found[writes] = at[writes]
        done |= writes | ~live | leaders[at]
    return found


def jump_targets(insns: list[Insn], cols: Columns | None = None) -> set[int]:
    """Every slot a jump, gotol or local call lands on (``cols``: the Columns of ``insns``, if made)."""
    cols = columns(insns) if cols is None else cols
    _slots, targets = targets_of(cols, np.flatnonzero(_IS_JUMP_OP[cols[0]]))
    return set(targets.tolist())


def targets_of(cols: Columns, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``jump_target`` for many slots at once: (the slots that have a target, their targets)."""
    op, _dst, src, off, imm = cols
    field = _TARGET_FIELD[op[slots]]
    in_imm = (field == TARGET_IN_IMM) | ((field == TARGET_IN_IMM_IF_LOCAL) & (src[slots] == CallKind.LOCAL))
    has = in_imm | (field == TARGET_IN_OFF)
    slots = slots[has]
    return slots, slots + 1 + np.where(in_imm[has], imm[slots], off[slots])


def local_def(insns: list[Insn], leaders, pc: int, reg: int) -> int | None:
    """The slot of the instruction that last wrote BPF register ``reg`` before the one at ``pc``, when every path
    to ``pc`` comes from it in a straight line (no slot of ``leaders`` - jump targets and function starts - after
    it, up to and including ``pc``); None when that is not so within a few instructions. A call counts as writing
    r0-r5, an atomic fetch its operand (r0 for cmpxchg)."""
    if pc in leaders:
        return None
    kinds = _DEF_KIND
    for i in range(pc - 1, max(pc - _DEF_BUDGET, 0) - 1, -1):
        insn = insns[i]
        kind = kinds[insn[0]]  # (0 for an lddw's second slot, which no jump lands on)
        if kind and (insn[1] == reg if kind == 1 else reg <= 5 if kind == 2 else
                     reg == (0 if insn[4] == _CMPXCHG else insn[2] if insn[4] & ATOMIC_FETCH else -1)):
            return i
        if i in leaders:
            return None
    return None


def known_value(insns: list[Insn], leaders, pc: int, reg: int) -> int | None:
    """The 64-bit value (unsigned) BPF ``reg`` surely holds at ``pc``: set by a mov of an immediate or an lddw of a
    plain constant on the straight-line path into it (``local_def``); None when not known."""
    w = local_def(insns, leaders, pc, reg)
    if w is None:
        return None
    insn = insns[w]
    if insn.dst != reg:
        return None
    if insn.opcode == _MOV64_K:
        return insn.imm & 0xFFFFFFFFFFFFFFFF
    if insn.opcode == _MOV32_K:
        return insn.imm & 0xFFFFFFFF
    if insn.opcode == LD_IMM64_OP and insn.src == Pseudo.IMM64:
        return imm64(insn, insns[w + 1]) & 0xFFFFFFFFFFFFFFFF
    return None


_CALLX_OPS = frozenset(op for op, info in enumerate(OPCODES) if info and info.kind == Kind.CALLX)
#: what a target may lack (see legalize's capability check)
_CAPABILITY_OPS = frozenset(op for op, info in enumerate(OPCODES) if info and (
    info.kind in (Kind.ATOMIC, Kind.ENDIAN) or (info.kind == Kind.ALU and info.op in ("div", "mod"))))
_DIVMOD_OPS = frozenset(op for op, info in enumerate(OPCODES)
                        if info and info.kind == Kind.ALU and info.op in ("div", "mod"))
_DIVMOD_X_OPS = frozenset(op for op in _DIVMOD_OPS if OPCODES[op].src_reg)
_SHIFT_K_MASK = {op: 63 if info.cls == Cls.ALU64 else 31 for op, info in enumerate(OPCODES)
                 if info and info.kind == Kind.ALU and info.op in ("lsh", "rsh", "arsh") and not info.src_reg}
_SHIFT_K_OPS = frozenset(_SHIFT_K_MASK)
_SHIFT_X_OPS = frozenset(op for op, info in enumerate(OPCODES)
                         if info and info.kind == Kind.ALU and info.op in ("lsh", "rsh", "arsh") and info.src_reg)


@dataclass
class Legalized:
    insns: list[Insn]
    origin: list[int]  # new slot -> original BPF index
    functions: dict[int, str]  # new slot -> function name
    cols: Columns  # of insns


def columns(insns: list[Insn]) -> Columns:
    """The Columns of an instruction list made here (a validated program has ``Program.arrays``)."""
    table = np.array(insns, dtype=np.int64).reshape(-1, 5)
    return tuple(np.ascontiguousarray(table[:, k]) for k in range(5))


def slots_with(ops: np.ndarray, opcodes) -> list[int]:
    """The slots whose opcode (``ops``: the Columns' opcode column) is in ``opcodes`` (a second lddw slot has opcode
    0, which no caller asks for): one vectorised scan, so a pass that has nothing to do costs almost nothing even on
    a million slots."""
    wanted = np.zeros(256, dtype=bool)
    wanted[list(opcodes)] = True
    return np.flatnonzero(wanted[ops]).tolist()


# An expansion is a list of (insn, local): local=True means a jump inside the expansion whose offset is already
# right; otherwise a jump/call keeps the original target and its offset is recomputed.
Expansion = list[tuple[Insn, bool]]


def rewrite(insns: list[Insn], functions: dict[int, str], expand, opcodes: frozenset[int] | None = None,
            pcs=None, *, cols: Columns) -> Legalized:
    """Apply ``expand(pc, insn, nxt) -> Expansion | None`` (None keeps the instruction) to every slot, or only to
    the slots whose opcode is in ``opcodes`` / whose index is in ``pcs`` (what makes a pass cost nothing when a
    program has nothing for it to do). ``cols``: the Columns of ``insns``; the result carries its own."""
    n = len(insns)
    op = cols[0]
    if pcs is not None:
        candidates = sorted(pcs)
    elif opcodes is not None:
        candidates = slots_with(op, opcodes)
    else:  # every slot but the second of an lddw (opcode 0, after an lddw's first, which no second slot can be)
        candidates = np.flatnonzero(np.concatenate(([True], op[:-1] != LD_IMM64_OP))).tolist()
    expansions = {}
    for pc in candidates:
        exp = expand(pc, insns[pc], insns[pc + 1] if pc + 1 < n else None)
        if exp is not None:
            expansions[pc] = exp
    if not expansions:
        return Legalized(insns, range(n), dict(functions), cols)
    # New index of every original slot: shifted by what the expansions before it added.
    grown = np.array(sorted(expansions), dtype=np.int64)
    width = np.where(op[grown] == LD_IMM64_OP, 2, 1)  # the slots an expansion replaces
    shift = np.zeros(n + 1, dtype=np.int64)
    shift[grown + width] = [len(expansions[pc]) for pc in grown.tolist()] - width
    start = np.arange(n + 1, dtype=np.int64) + np.cumsum(shift)
    new: list[Insn] = []
    origin: list[int] = []
    fix_at: list[int] = []  # (new slot, original target) of jumps to retarget
    fix_target: list[int] = []
    first = itemgetter(0)
    prev = 0
    for pc, replaced in zip(grown.tolist(), width.tolist()):
        new += insns[prev:pc]
        origin += range(prev, pc)
        exp = expansions[pc]
        if not all(map(itemgetter(1), exp)):  # a jump that keeps the original target
            for k, (item, local) in enumerate(exp):
                if not local and jump_target(len(new) + k, item) is not None:
                    target = jump_target(pc, insns[pc])
                    if target is not None:
                        fix_at.append(len(new) + k)
                        fix_target.append(target)
        new += map(first, exp)
        origin += [pc] * len(exp)
        prev = pc + replaced
    new += insns[prev:]
    origin += range(prev, n)
    # Unexpanded jumps keep their targets: retarget those whose distance changed.
    kept = np.ones(n, dtype=bool)
    kept[grown] = False
    kept[grown[width == 2] + 1] = False
    slots, targets = targets_of(cols, np.flatnonzero(_IS_JUMP_OP[op] & kept))
    moved = start[targets] - start[slots] != targets - slots
    at = np.concatenate((np.array(fix_at, dtype=np.int64), start[slots[moved]]))
    rel = start[np.concatenate((np.array(fix_target, dtype=np.int64), targets[moved]))] - (at + 1)
    # the result's Columns: kept slots moved to their new index, the expansions' from their instructions
    out = [np.empty(len(new), dtype=c.dtype) for c in cols]
    kept_slots = np.flatnonzero(kept)
    inserted = np.ones(len(new), dtype=bool)
    inserted[start[kept_slots]] = False
    inserted = np.flatnonzero(inserted)
    table = np.fromiter(chain.from_iterable(map(new.__getitem__, inserted.tolist())), dtype=np.int64,
                        count=5 * len(inserted)).reshape(-1, 5)
    for k, (column, source) in enumerate(zip(out, cols)):
        column[start[kept_slots]] = source[kept_slots]
        column[inserted] = table[:, k]
    # retarget (legalised code is never encoded as is: an offset may leave the 16-bit range, selectors use labels)
    in_imm = _TARGET_FIELD[out[0][at]] != TARGET_IN_OFF  # a call or gotol: its offset is in imm
    out[4][at[in_imm]] = rel[in_imm]
    out[3][at[~in_imm]] = rel[~in_imm]
    slots = at.tolist()
    # (tuple.__new__ straight from the rows: Insn's own __new__ is a Python function, a frame per instruction)
    for slot, insn in zip(slots, map(tuple.__new__, repeat(Insn), zip(*(column[at].tolist() for column in out)))):
        new[slot] = insn
    return Legalized(new, origin, {int(start[k]): v for k, v in functions.items()}, tuple(out))


class _Blinder:
    """Constant blinding as the kernel does it: every user immediate becomes (imm ^ rnd) ^ rnd via AX."""

    def __init__(self, seed: int | None):
        self.rng = random.Random(seed) if seed is not None else random.SystemRandom()

    def __call__(self, pc: int, insn: Insn, nxt: Insn | None) -> Expansion | None:
        if insn.dst == AX or insn.src == AX:
            return None  # inserted by an earlier pass around a live AX: its constant is ours, not the user's
        info = OPCODES[insn.opcode]
        kind = info.kind
        rnd = s32(self.rng.getrandbits(32))
        if kind in (Kind.ALU, Kind.JCOND) and not info.src_reg and info.op != "neg":
            wide = info.cls in (Cls.ALU64, Cls.JMP)
            mov, xor = (_MOV64_K, _XOR64_K) if wide else (_MOV32_K, _XOR32_K)
            op = insn.opcode | SRC_X
            return [(Insn(mov, AX, 0, 0, s32(insn.imm ^ rnd)), True), (Insn(xor, AX, 0, 0, rnd), True),
                    (Insn(op, insn.dst, AX, insn.off, 0), False)]
        if kind == Kind.ST:
            size = insn.opcode & 0x18
            return [(Insn(_MOV64_K, AX, 0, 0, s32(insn.imm ^ rnd)), True), (Insn(_XOR64_K, AX, 0, 0, rnd), True),
                    (Insn(Cls.STX | MODES["mem"] | size, insn.dst, AX, insn.off, 0), True)]
        if kind == Kind.LD_IMM64 and insn.src == Pseudo.IMM64:
            value = (insn.imm & 0xFFFFFFFF) | ((nxt.imm & 0xFFFFFFFF) << 32)
            key = self.rng.getrandbits(64)
            a1, a2 = ld_imm64(AX, value ^ key)
            d1, d2 = ld_imm64(insn.dst, key)
            return [(a1, True), (a2, True), (d1, True), (d2, True),
                    (Insn(Cls.ALU64 | SRC_X | ALU_OPS["xor"], insn.dst, AX), True)]
        return None


def _guards(abi: ABI, source=None):
    """Division/modulo-by-zero, signed-overflow and shift-count guards for targets that lack the semantics.
    ``source()``: the pass's input (a Legalized), to leave out a guard against a value the
    divisor is known not to hold (a constant set on the straight-line path into the division)."""
    seen: list = [None, None]  # (the input's instructions, its leaders), made at the first constant divisor
    built: dict = {}  # (division, known divisor) -> its guarded sequence

    def divisor(pc: int, reg: int) -> int | None:
        if source is None:
            return None
        legal = source()
        if known_value(legal.insns, (), pc, reg) is None:  # not even ignoring jumps: no need for the leaders
            return None
        if seen[0] is not legal.insns:
            seen[0], seen[1] = legal.insns, jump_targets(legal.insns, legal.cols).union(legal.functions)
        return known_value(legal.insns, seen[1], pc, reg)

    def expand(pc: int, insn: Insn, nxt: Insn | None) -> Expansion | None:
        mask = _SHIFT_K_MASK.get(insn[0])
        if mask is not None and insn[4] == insn[4] & mask:
            return None  # the common case first: a shift by an immediate in range
        info = OPCODES[insn.opcode]
        if info.kind != _K_ALU:
            return None
        wide = info.cls == _ALU64
        mov_k = _MOV64_K if wide else _MOV32_K
        if info.op in ("lsh", "rsh", "arsh"):
            mask = 63 if wide else 31
            if not info.src_reg:
                return None if insn.imm == insn.imm & mask else [(insn._replace(imm=insn.imm & mask), True)]
            if abi.shifts_mask_count:
                return None
            return [(Insn(info.cls | SRC_X | ALU_OPS["mov"], AX, insn.src), True),
                    (Insn(info.cls | SRC_K | ALU_OPS["and"], AX, 0, 0, mask), True),
                    (insn._replace(src=AX), True)]
        if info.op not in ("div", "mod"):
            return None
        signed = insn.off == 1
        if not info.src_reg:
            if insn.imm == 0:
                if info.op == "div":
                    return [(Insn(mov_k, insn.dst), True)]
                return [] if wide else [(Insn(Cls.ALU | SRC_X | ALU_OPS["mov"], insn.dst, insn.dst), True)]
            if signed and insn.imm == -1 and not abi.sdiv_overflow_safe:
                if info.op == "div":
                    return [(Insn(info.cls | ALU_OPS["neg"], insn.dst), True)]
                return [(Insn(mov_k, insn.dst), True)]
            return None
        zero_ok = abi.udiv_by_zero_is_zero if info.op == "div" else abi.umod_by_zero_is_dst
        if zero_ok and (not signed or abi.sdiv_overflow_safe):
            return None
        known = divisor(pc, insn.src)
        key = (insn, known)  # one sequence per division and known divisor: a program repeats its divisions
        if key not in built:
            built[key] = _division_guards(insn, info, known, zero_ok, signed, abi)
        return built[key]

    return expand


def _division_guards(insn: Insn, info, known: int | None, zero_ok: bool, signed: bool, abi: ABI) -> Expansion | None:
    """_guards for a division by a register: "jne src, VALUE, next guard; <special case>; ja end" for each value
    the target gets wrong (but the divisor, when ``known``), then the operation; None when none is left."""
    wide = info.cls == _ALU64
    jcls = _JMP if wide else _JMP32
    mov_k = _MOV64_K if wide else _MOV32_K
    guards: list[tuple[int, Expansion]] = []
    if not zero_ok:
        if info.op == "div":
            guards.append((0, [(Insn(mov_k, insn.dst), True)]))
        else:
            guards.append((0, [] if wide else [(Insn(Cls.ALU | SRC_X | ALU_OPS["mov"], insn.dst, insn.dst),
                                                True)]))
    if signed and not abi.sdiv_overflow_safe:
        guards.append((-1, [(Insn(info.cls | ALU_OPS["neg"], insn.dst), True)] if info.op == "div"
                       else [(Insn(mov_k, insn.dst), True)]))
    if known is not None:
        mask = 0xFFFFFFFFFFFFFFFF if wide else 0xFFFFFFFF
        guards = [g for g in guards if g[0] & mask == known & mask]  # (then never the guarded operation)
    if not guards:
        return None
    sizes = [2 + len(case) for _, case in guards]
    seq: Expansion = []
    for i, (value, case) in enumerate(guards):
        seq.append((Insn(jcls | SRC_K | JMP_OPS["jne"], insn.src, 0, len(case) + 1, value), True))
        seq += case
        seq.append((Insn(_JA, 0, 0, sum(sizes[i + 1:]) + 1, 0), True))
    return seq + [(insn, True)]


def _build_in_ax(value: int, bits: int) -> Expansion:
    """AX = value (64-bit, two's complement) from instructions whose immediates fit in ``bits`` signed bits."""
    value &= (1 << 64) - 1
    step = bits - 1  # chunks of this many bits are non-negative immediates that fit
    chunks = []
    while True:
        chunks.append(value & ((1 << step) - 1))
        value >>= step
        signed = value - (1 << (64 - step * len(chunks))) if value >> (63 - step * len(chunks)) & 1 else value
        if -(1 << (bits - 1)) <= signed < (1 << (bits - 1)):
            break
    out = [(Insn(_MOV64_K, AX, 0, 0, s32(signed)), True)]
    for chunk in reversed(chunks):
        out += [(Insn(_LSH64_K, AX, 0, 0, step), True), (Insn(Cls.ALU64 | SRC_K | ALU_OPS["or"], AX, 0, 0, chunk),
                                                          True)]
    return out


def _wide_immediates(bits: int):
    """Immediates wider than the target's ``imm_bits`` go through AX (built from pieces that fit)."""
    limit = 1 << (bits - 1)

    def expand(pc: int, insn: Insn, nxt: Insn | None) -> Expansion | None:
        if -limit <= insn.imm < limit:
            return None
        info = OPCODES[insn.opcode]
        if info.kind == Kind.ST:
            return _build_in_ax(insn.imm, bits) + [
                (Insn(Cls.STX | MODES["mem"] | (insn.opcode & 0x18), insn.dst, AX, insn.off, 0), True)]
        if info.op in ("lsh", "rsh", "arsh", "neg", "end") or info.kind not in (Kind.ALU, Kind.JCOND):
            return None
        if info.cls in (Cls.ALU, Cls.JMP32):  # 32-bit operations see the immediate's low 32 bits
            value = insn.imm & 0xFFFFFFFF
        else:
            value = insn.imm
        return _build_in_ax(value, bits) + [(Insn(insn.opcode | SRC_X, insn.dst, AX, insn.off, 0), False)]

    return expand


_WIDE_IMM_OPS = frozenset(op for op, info in enumerate(OPCODES)
                          if info and not info.src_reg and (info.kind in (Kind.ALU, Kind.JCOND, Kind.ST)))


def _zext(pc: int, insn: Insn, nxt: Insn | None) -> Expansion | None:
    """For cores whose 32-bit operations leave the upper half undefined: clear it after every ALU32 result."""
    info = OPCODES[insn.opcode]
    if info.cls != Cls.ALU or (info.kind == Kind.ENDIAN and insn.imm == 64):
        return None  # be64/le64 are ALU-class but produce 64-bit results
    return [(insn, True), (Insn(_LSH64_K, insn.dst, 0, 0, 32), True), (Insn(_RSH64_K, insn.dst, 0, 0, 32), True)]


_ALU32_OPS = frozenset(op for op, info in enumerate(OPCODES) if info and info.cls == Cls.ALU)


#: FAULT_HELPER reason for a callx whose register names no helper (r1 = BPF insn, r3 = the id): the runtime raises
#: the interpreter's error for it, so every target fails such a call the same way.
CALLX_FAULT = 0x100


def _callx(allowed: list[int]):
    """callx rN -> a compare chain over the helper ids the program type allows (a register call on a native
    target must reach a helper by its own calling sequence). An id outside the set calls the fault helper."""
    from ..front.verify import FAULT_HELPER

    def expand(pc: int, insn: Insn, nxt: Insn | None) -> Expansion | None:
        if OPCODES[insn.opcode].kind != Kind.CALLX:
            return None
        seq: Expansion = []
        for i, hid in enumerate(allowed):
            remaining = len(allowed) - i - 1
            seq += [(Insn(Cls.JMP | SRC_K | JMP_OPS["jne"], insn.dst, 0, 2, hid), True),
                    (Insn(Cls.JMP | JMP_OPS["call"], 0, 0, 0, hid), True),
                    (Insn(_JA, 0, 0, 0, 0), True)]
            seq[-1] = (Insn(_JA, 0, 0, 3 * remaining + 4, 0), True)
        seq += [(Insn(Cls.ALU64 | SRC_X | ALU_OPS["mov"], 3, insn.dst), True), (Insn(_MOV64_K, 1, 0, 0, pc), True),
                (Insn(_MOV64_K, 2, 0, 0, CALLX_FAULT), True), (Insn(Cls.JMP | JMP_OPS["call"], 0, 0, 0, FAULT_HELPER),
                                                               True)]
        return seq

    return expand


def _context(layout: ContextLayout, accesses: dict, ctx_names: dict[int, str], struct: str):
    """Rewrite ctx loads/stores from the UAPI struct to the device layout."""

    def expand(pc: int, insn: Insn, nxt: Insn | None) -> Expansion | None:
        acc = accesses.get(pc)
        if acc is None:
            return None
        name = ctx_names.get(acc.offset, f"offset {acc.offset}")
        fld = layout.fields.get(acc.offset)
        if fld is None:
            raise Unsupported(f"context field {struct}.{name} is not in the device layout {layout.struct}",
                              insn=pc)
        info = OPCODES[insn.opcode]
        delta = fld.off - acc.offset
        if fld.kind == "ptr":
            if acc.is_store or info.kind != Kind.LDX:
                raise Unsupported(f"context field {struct}.{name} is a pointer: it can only be loaded", insn=pc)
            if acc.size != 4:
                raise Unsupported(f"narrow load of context pointer {struct}.{name}", insn=pc)
            return [(Insn(Cls.LDX | MODES["mem"] | SIZES["dw"], insn.dst, insn.src, insn.off + delta, 0), True)]
        if acc.size != fld.size:
            raise Unsupported(f"{acc.size}-byte access to the {fld.size}-byte context field {struct}.{name}",
                              insn=pc)
        if info.kind == Kind.ATOMIC:
            raise Unsupported(f"atomic operation on context field {struct}.{name}", insn=pc)
        return None if delta == 0 else [(insn._replace(off=insn.off + delta), True)]

    return expand


# __sk_buff.data / data_end (UAPI offsets): the context pass maps them to the device's layout afterwards
SKB_DATA, SKB_DATA_END = 76, 80
_LD_PACKET_OPS = frozenset(op for op, info in enumerate(OPCODES) if info and info.kind in (Kind.LD_ABS, Kind.LD_IND))
_ENDIAN_BE = Cls.ALU | SRC_X | ALU_OPS["end"]  # to big-endian = from network order on a little-endian host
_JGT_X = Cls.JMP | SRC_X | JMP_OPS["jgt"]
_JSLT_K = Cls.JMP | SRC_K | JMP_OPS["jslt"]
_LDX_W = Cls.LDX | MODES["mem"] | SIZES["w"]


def _ld_packet(pc: int, insn: Insn, nxt: Insn | None) -> Expansion:
    """LD_ABS/LD_IND as plain BPF (the kernel's semantics): r0 = the big-endian value at skb->data + offset,
    the context being in r6; out of bounds the program exits with r0 = 0. r1-r3 are clobbered, as the kernel
    allows (these loads are calls there). Only main programs have them (no bpf-to-bpf calls), so the exit ends
    the program."""
    info = OPCODES[insn.opcode]
    size = info.size
    seq: Expansion = []
    if info.kind == Kind.LD_IND:  # offset = (s32)(src + imm)
        seq += [(Insn(Cls.ALU | SRC_X | ALU_OPS["mov"], 0, insn.src), True),
                (Insn(Cls.ALU | SRC_K | ALU_OPS["add"], 0, 0, 0, insn.imm), True),
                (Insn(_LSH64_K, 0, 0, 0, 32), True), (Insn(Cls.ALU64 | SRC_K | ALU_OPS["arsh"], 0, 0, 0, 32), True)]
    else:
        seq.append((Insn(_MOV64_K, 0, 0, 0, insn.imm), True))
    load = Cls.LDX | MODES["mem"] | SIZES[{1: "b", 2: "h", 4: "w"}[size]]
    tail: Expansion = [(Insn(load, 0, 1, 0, 0), True)]
    if size > 1:
        tail.append((Insn(_ENDIAN_BE, 0, 0, 0, size * 8), True))
    seq += [(Insn(_JSLT_K, 0, 0, 6 + len(tail) + 1, 0), True),  # negative offset: fail
            (Insn(_LDX_W, 1, 6, SKB_DATA, 0), True),
            (Insn(_LDX_W, 2, 6, SKB_DATA_END, 0), True),
            (Insn(Cls.ALU64 | SRC_X | ALU_OPS["add"], 1, 0), True),
            (Insn(Cls.ALU64 | SRC_X | ALU_OPS["mov"], 3, 1), True),
            (Insn(Cls.ALU64 | SRC_K | ALU_OPS["add"], 3, 0, 0, size), True),
            (Insn(_JGT_X, 3, 2, len(tail) + 1, 0), True)]
    seq += tail
    seq += [(Insn(_JA, 0, 0, 2, 0), True), (Insn(_MOV64_K, 0), True), (Insn(Cls.JMP | JMP_OPS["exit"]), True)]
    return seq


def lower_packet_loads(insns: list[Insn], functions: dict[int, str], cols: Columns) -> Legalized | None:
    """Rewrite every LD_ABS/LD_IND into ordinary loads (see ``_ld_packet``); None when there are none. ``cols``:
    the Columns of ``insns``."""
    if not slots_with(cols[0], _LD_PACKET_OPS):
        return None
    return rewrite(insns, functions, _ld_packet, _LD_PACKET_OPS, cols=cols)


def legalize(insns: list[Insn], functions: dict[int, str], abi: ABI, *, prog_type=None, allowed_helpers=(),
             ctx_layout: ContextLayout | None = None, ctx_accesses: dict | None = None, harden: bool = False,
             seed: int | None = None, cols: Columns | None = None) -> Legalized:
    """Run every pass the target needs, in order: context, callx, atomics check, guards, blinding. ``cols``: the
    Columns of ``insns`` (``Program.arrays``), when the caller has them."""
    if cols is None:
        cols = columns(insns)
    result = Legalized(insns, range(len(insns)), dict(functions), cols)
    if ctx_layout is not None and ctx_accesses:
        names = {off: name for name, (off, _size) in prog_type.ctx_fields.items()}
        result = rewrite(result.insns, result.functions, _context(ctx_layout, ctx_accesses, names,
                                                                  prog_type.ctx_struct), pcs=ctx_accesses, cols=cols)
    passes = [(_callx(sorted(allowed_helpers)), _CALLX_OPS, None)]
    needs_scan = not abi.has_atomics or abi.atomic_widths != {4, 8} or not abi.has_bswap or not abi.has_sdiv
    for i in slots_with(result.cols[0], _CAPABILITY_OPS) if needs_scan else ():
        insn = result.insns[i]
        info = OPCODES[insn.opcode]
        if info is not None and info.kind == Kind.ATOMIC and (not abi.has_atomics or info.size not in
                                                              abi.atomic_widths):
            name = next((k for k, v in ATOMIC_OPS.items() if v & ~1 == insn.imm & ~1), hex(insn.imm))
            raise Unsupported(f"{info.size * 8}-bit atomic {name} is not supported by this target", insn=i)
        if info is not None and info.kind == Kind.ENDIAN and not abi.has_bswap:
            raise Unsupported("byte swap is not supported by this target", insn=i)
        if (info is not None and info.kind == Kind.ALU and info.op in ("div", "mod") and insn.off == 1
                and not abi.has_sdiv):
            raise Unsupported(f"signed {info.op} (s{info.op}) is not supported by this target", insn=i)
    passes.append((_guards(abi, lambda: result), None, lambda cols: _guard_slots(cols, abi)))
    if abi.imm_bits < 32:
        passes.append((_wide_immediates(abi.imm_bits), _WIDE_IMM_OPS, None))
    if not abi.alu32_zero_extends:
        passes.append((_zext, _ALU32_OPS, None))
    if harden:
        passes.append((_Blinder(seed), None, None))
    for expand, opcodes, select in passes:
        pcs = select(result.cols) if select is not None else None
        step = rewrite(result.insns, result.functions, expand, opcodes, pcs, cols=result.cols)
        if step.insns is not result.insns:
            origin = result.origin
            result = Legalized(step.insns, step.origin if isinstance(origin, range) else
                               [origin[o] for o in step.origin], step.functions, step.cols)
    return result


def _guard_slots(cols: Columns, abi: ABI) -> list[int]:
    """The slots _guards may change: divisions by a register, or by an immediate 0 or -1 (the only ones it
    changes), shifts by an immediate out of range and (where the target does not mask them itself) shifts by a
    register."""
    op, imm = cols[0], cols[4]
    wanted, by_imm = np.zeros(256, dtype=bool), np.zeros(256, dtype=bool)
    wanted[list(_DIVMOD_X_OPS | (frozenset() if abi.shifts_mask_count else _SHIFT_X_OPS))] = True
    by_imm[list(_DIVMOD_OPS - _DIVMOD_X_OPS)] = True
    mask = np.zeros(256, dtype=np.int64)
    mask[list(_SHIFT_K_MASK)] = list(_SHIFT_K_MASK.values())
    shift_k = mask[op]
    return np.flatnonzero(wanted[op] | (by_imm[op] & ((imm == 0) | (imm == -1)))
                          | ((shift_k != 0) & (imm != imm & shift_k))).tolist()


# -- checked code ----------------------------------------------------------------------------------------------------

def checked(program, analysis):
    """``--safety=checked``: ``program`` with a run-time check before every access the verifier could not prove
    (a NULL test, packet/memory bounds against the run-time end, stack bounds against r10) and a call to the fault
    helper in place of every instruction it proved always fails. Proven accesses cost nothing. Returns a new,
    already validated Program; raises ValidationError for what can be neither proven nor checked.

    Packet and memory checks need the region's bounds at any point: the entry saves the context pointer (its
    ``data``/``data_end`` are reloaded, so helpers that move the packet are followed) or the memory block's
    start and end in slots below the deepest byte the entry frame uses."""
    import dataclasses

    from ..errors import ValidationError
    from ..front.progtypes import prog_type as get_prog_type
    from ..front.verify import CHECK_MEM, CHECK_NULL, CHECK_PACKET, CHECK_RET, CHECK_STACK, FAULT_HELPER

    def fail(message, pc):
        return ValidationError(message, file=program.file, section=program.section, insn=pc)

    problems = analysis.problems(checked=True)
    if problems:
        first = problems[0]
        raise fail(f"cannot be proven or checked at run time: {first.message}", first.pc)
    plan: dict[int, list] = {}  # pc -> [("fault", reason)] or [check tuples]
    for table, reason in ((analysis.accesses, 4), (analysis.errors, 5)):
        for acc in table.values():
            st = acc.status
            if st == "fault":
                plan.setdefault(acc.pc, []).insert(0, ("fault", reason))
            elif st == "checked":
                plan.setdefault(acc.pc, []).extend(sorted(acc.checks))
    if not plan:
        return program
    ptype = get_prog_type(program.prog_type)
    from ..front.validate import function_starts

    fn_starts = function_starts(program)
    needs_slots = False
    for pc, items in plan.items():
        for item in items:
            if item[0] in (CHECK_PACKET, CHECK_MEM):
                needs_slots = True
                owner = max(s for s in fn_starts if s <= pc)
                if owner != 0:
                    raise fail("cannot check this access at run time: it is in a subprogram, where the region's "
                               "bounds are not at hand (check it against data_end in the program instead)", pc)
    depth = (analysis.frame_depth.get(0, 0) + 7) & ~7
    slot_a, slot_b = -(depth + 8), -(depth + 16)
    if needs_slots:
        if -slot_b > 512:
            raise fail(f"cannot check at run time: the entry frame uses {depth} bytes of stack, leaving no room to "
                       "keep the region's bounds", min(plan))
        if any(jump_target(pc, i) == 0 for pc, i in enumerate(program.insns) if i.opcode in _JUMP_OPS):
            raise fail("cannot check at run time: a jump targets the entry instruction", 0)
    fields = ptype.ctx_fields
    stx_dw = Cls.STX | MODES["mem"] | SIZES["dw"]
    ldx_dw = Cls.LDX | MODES["mem"] | SIZES["dw"]
    ldx_w = Cls.LDX | MODES["mem"] | SIZES["w"]
    add_k = Cls.ALU64 | SRC_K | ALU_OPS["add"]
    mov_x = Cls.ALU64 | SRC_X | ALU_OPS["mov"]

    def jmp(op, dst, src_or_imm, reg=True):  # "when the check holds, jump over the 3 instructions of the fault"
        if reg:
            return Insn(Cls.JMP | SRC_X | JMP_OPS[op], dst, src_or_imm, 3, 0)
        return Insn(Cls.JMP | SRC_K | JMP_OPS[op], dst, 0, 3, src_or_imm)

    def fault(pc, reason):
        return [Insn(_MOV64_K, 1, 0, 0, pc), Insn(_MOV64_K, 2, 0, 0, reason),
                Insn(Cls.JMP | JMP_OPS["call"], 0, 0, 0, FAULT_HELPER)]

    def check(pc, kind, reg, off, size) -> list[Insn]:
        if kind == CHECK_NULL:  # jump over the fault when not NULL
            return [jmp("jne", reg, 0, reg=False)] + fault(pc, 0)
        if kind == CHECK_RET:  # r0's low 32 bits in [0, hi] (off, size = lo, hi); else the kernel's code, or a fault
            other = ptype.return_other
            fix = fault(pc, 6) if other is None else [Insn(_MOV64_K, 0, 0, 0, other)]
            return [Insn(Cls.JMP32 | SRC_K | JMP_OPS["jle"], 0, 0, len(fix), size)] + fix
        if kind == CHECK_STACK:  # r10 - (reg + off + size) must be in [0, 512 - size]
            return [Insn(mov_x, AX, R10_REG), Insn(Cls.ALU64 | SRC_X | ALU_OPS["sub"], AX, reg),
                    Insn(add_k, AX, 0, 0, -(off + size)), jmp("jle", AX, 512 - size, reg=False)
                    ] + fault(pc, 3)
        reason = 1 if kind == CHECK_PACKET else 2
        if kind == CHECK_PACKET:
            end = [Insn(ldx_dw, AX, R10_REG, slot_a), Insn(ldx_w, AX, AX, fields["data_end"][0])]
            start = [Insn(ldx_dw, AX, R10_REG, slot_a), Insn(ldx_w, AX, AX, fields["data"][0])]
        else:
            end = [Insn(ldx_dw, AX, R10_REG, slot_a)]
            start = [Insn(ldx_dw, AX, R10_REG, slot_b)]
        return (end + [Insn(add_k, AX, 0, 0, -(off + size)), jmp("jle", reg, AX)] + fault(pc, reason)
                + start + [Insn(add_k, AX, 0, 0, -off), jmp("jge", reg, AX)] + fault(pc, reason))

    def entry() -> list[Insn]:
        if ptype.ctx_struct:
            return [Insn(stx_dw, R10_REG, 1, slot_a)]
        return [Insn(mov_x, AX, 1), Insn(Cls.ALU64 | SRC_X | ALU_OPS["add"], AX, 2), Insn(stx_dw, R10_REG, AX, slot_a),
                Insn(stx_dw, R10_REG, 1, slot_b)]

    def expand(pc: int, insn: Insn, nxt: Insn | None) -> Expansion | None:
        seq: list[Insn] = entry() if pc == 0 and needs_slots else []
        for item in plan.get(pc, ()):
            if item[0] == "fault":
                seq += fault(pc, item[1])
                break
            seq += check(pc, *item)
        if not seq:
            return None
        out: Expansion = [(i, True) for i in seq]
        out.append((insn, False))
        if insn.opcode == LD_IMM64_OP:
            out.append((nxt, True))
        return out

    pcs = set(plan) | ({0} if needs_slots else set())
    result = rewrite(program.insns, dict(program.functions) or {0: program.name}, expand, pcs=pcs,
                     cols=program.arrays())
    out = dataclasses.replace(program, insns=result.insns, functions=result.functions)
    out.validated = True
    out.__dict__["origin"] = result.origin
    return out


R10_REG = 10
