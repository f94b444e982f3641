"""The verifier: abstract interpretation of every register and stack byte, proving memory safety.

Each register holds a ``Val``: a scalar (``scalar.Scalar``: known bits and signed/unsigned ranges) or a typed
pointer whose offset from its region's start is itself a ``Scalar``: ctx, stack (per frame), packet (checked
against the proven packet range, the bytes known to lie before ``data_end``), ``data_end``, map value or NULL
(a lookup result, refined to a map value by a NULL test on it or any copy of it), map value, map handle, and the
memory block of ``mem`` programs (of known size when the caller gives it). The stack is tracked per 8-byte slot:
a spilled register (any Val, kept exactly) or eight bytes each uninitialised, known or unknown.

Exploration is path-sensitive like the kernel's (a state per path, pruned when an explored state at the same
instruction and call chain covers it), and falls back to PREVAIL's joins when a point collects more than
``PATHS`` states: joined there, widened at loop heads, so loops terminate without unrolling. Local calls are
analysed in their calling context (the call chain is part of the key). A budget on the instructions stepped
turns explosion into a "too complex" error naming the busiest instruction.

What it proves, per access: in bounds of its region, not through NULL, not reading uninitialised stack; per
helper call: argument kinds and sizes from ``specs/helpers.toml`` (memory a helper reads must be initialised, an
``out`` argument's need not); per exit: r0 set, not a pointer for kernel program types, and within the type's
``return_range``; per loop: that it ends (``_termination``: exact exploration, an induction variable, or the loop
re-explored alone from its joined entry). What it cannot prove is recorded per instruction with a readable
message; an unproven access whose bound exists at run time (NULL, packet and memory bounds, variable stack
offsets, r0's range) is *checkable*, and ``--safety=checked`` turns it into a run-time check
(``back/legalize.py: checked``). Facts stay sound for the program as written (``value_facts``): after a failure
the analysis continues with what may then hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from ..errors import ValidationError
from . import scalar as S
from .isa import OPCODES, R10, STACK_SIZE, CallKind, Cls, Kind, Pseudo, imm64
from .program import MapType, Program
from .progtypes import prog_type as get_prog_type
from .scalar import Scalar

# -- abstract values -----------------------------------------------------------------------------------------------
UNINIT, SCALAR, CTX, STACK, PACKET, PKT_END, PKT_META, MAP_VALUE, MAP_OR_NULL, MAP_PTR, MEM, MAP_PTR_OR_NULL = range(12)
_POINTERS = frozenset({CTX, STACK, PACKET, PKT_END, PKT_META, MAP_VALUE, MAP_OR_NULL, MAP_PTR, MEM, MAP_PTR_OR_NULL})
# A lookup result (or NULL) and what a NULL test on it leaves: a map value, or the inner map of a map-in-map.
_OR_NULL = {MAP_OR_NULL: MAP_VALUE, MAP_PTR_OR_NULL: MAP_PTR}
_NULLABLE = {v: k for k, v in _OR_NULL.items()}
_ARITH_OK = frozenset({CTX, STACK, PACKET, PKT_META, MAP_VALUE, MEM})  # pointer += scalar is allowed on these
NREGS = 12  # r0..r10 and the legaliser's hidden AX (r11), so legalised programs can be analysed too
PATHS = 8  # states kept per instruction and call chain before they are joined
DEFAULT_BUDGET = 1_000_000  # instructions stepped

# Helpers that may move packet data (the kernel's bpf_helper_changes_pkt_data): packet pointers die at the call.
PACKET_CHANGING = frozenset({
    "xdp_adjust_head", "xdp_adjust_tail", "xdp_adjust_meta", "skb_pull_data", "skb_change_head",
    "skb_change_tail", "skb_store_bytes", "l3_csum_replace", "l4_csum_replace", "skb_vlan_push", "skb_vlan_pop",
    "skb_change_proto", "skb_change_type", "skb_adjust_room", "clone_redirect", "lwt_push_encap",
    "lwt_seg6_store_bytes", "lwt_seg6_adjust_srh", "lwt_seg6_action", "msg_pull_data", "msg_push_data",
    "msg_pop_data", "xdp_store_bytes"})
# Helpers whose context argument may be NULL (the kernel's ARG_PTR_TO_CTX_OR_NULL).
CTX_OR_NULL = frozenset({"get_netns_cookie"})
_META = "meta"  # State.fam key: bytes proven from data_meta before data
# Context fields that are pointers (the UAPI stores them as u32) and the Val kind a load of each gives.
_CTX_POINTERS = {"data": PACKET, "data_end": PKT_END, "data_meta": PKT_META, "skb_data": PACKET,
                 "skb_data_end": PKT_END}


class Val(NamedTuple):
    kind: int
    s: Scalar | None = None  # a scalar's value, a pointer's offset in its region
    aux: int = 0  # map index (map kinds), frame number (stack)
    id: int = 0  # MAP_OR_NULL: the lookup it came from (copies share it); UNINIT: 1 + pc that clobbered it


UNINIT_VAL = Val(UNINIT)
UNKNOWN = Val(SCALAR, S.UNKNOWN)
_ZERO = S.const(0)


def scalar_val(s: Scalar) -> Val:
    return Val(SCALAR, s)


_THRESHOLDS: tuple[int, ...] = ()  # set per analysis: the constants jumps compare with (widening stops there)


def _join(a: Val, b: Val, widen: bool = False) -> Val:
    if a == b:
        return a
    return _join_vals(a, b, _THRESHOLDS if widen else None)


@lru_cache(maxsize=1 << 16)  # the analysis joins the same values again and again
def _join_vals(a: Val, b: Val, thresholds: tuple | None) -> Val:
    widen = thresholds is not None

    def _widen(x: Scalar, y: Scalar) -> Scalar:
        return S.widen(x, y, thresholds)

    if a.kind == b.kind and a.aux == b.aux and a.kind != UNINIT:
        s = _widen(a.s, b.s) if widen else S.join(a.s, b.s)
        return Val(a.kind, s, a.aux, a.id if a.id == b.id else (-1 if a.kind == PACKET else 0))
    if a.kind == b.kind == PACKET:  # different families or steps: only the offset is left
        return Val(PACKET, _widen(a.s, b.s) if widen else S.join(a.s, b.s), 0, -1)
    kinds = {a.kind, b.kind}
    if a.kind == b.kind and a.kind in (MAP_PTR, MAP_VALUE, MAP_OR_NULL, MAP_PTR_OR_NULL):  # one of several maps
        aux = tuple(sorted(set(a.aux if isinstance(a.aux, tuple) else (a.aux,))
                           | set(b.aux if isinstance(b.aux, tuple) else (b.aux,))))
        s = S.widen(a.s, b.s, thresholds) if widen else S.join(a.s, b.s)
        return Val(a.kind, s, aux, a.id if a.id == b.id else 0)
    for nullable, value in _OR_NULL.items():
        if kinds == {value, nullable} and a.aux == b.aux:
            return Val(nullable, S.join(a.s, b.s), a.aux, 0)
    for p, q in ((a, b), (b, a)):
        if p.kind in (MAP_VALUE, MAP_OR_NULL, MAP_PTR, MAP_PTR_OR_NULL) and q.kind == SCALAR and q.s.const == 0:
            return Val(_NULLABLE.get(p.kind, p.kind), p.s, p.aux, p.id if p.kind in _OR_NULL else 0)
    return Val(UNINIT, None, 0, -1)  # different types on different paths: unusable


def _covers(a: Val, b: Val) -> bool:
    if a == b or (a.kind == UNINIT and (b.kind == UNINIT or a.id == -1)):  # "mixed" is top: any use fails
        return True
    if a.kind != b.kind or a.aux != b.aux:
        return False
    if a.kind in _OR_NULL and a.id != b.id and a.id != 0:
        return False
    return S.covers(a.s, b.s)


# A stack slot: a spilled register (Val) or 8 bytes, each None (uninitialised), 0..255 (known), -1 (initialised,
# value unknown) or -2 (initialised on some paths only, or by a variable-offset store: reading it is not proven,
# but neither is it certain to fail).
_UNKNOWN_BYTES = (-1,) * 8
_MAYBE = -2


def _byte_covers(x, y) -> bool:
    return x == y or x == _MAYBE or (x == -1 and y is not None and y != _MAYBE)


def _byte_join(x, y):
    if x == y:
        return x
    if x is None or y is None or x == _MAYBE or y == _MAYBE:
        return _MAYBE
    return -1


def _slot_covers(a, b) -> bool:
    if a == b:
        return True
    if isinstance(a, Val):
        return isinstance(b, Val) and _covers(a, b)
    bb = _as_bytes(b)
    return all(_byte_covers(x, y) for x, y in zip(a, bb))


def _as_bytes(slot) -> tuple:
    if not isinstance(slot, Val):
        return slot
    if slot.kind == SCALAR and slot.s.const is not None:
        return tuple(slot.s.const.to_bytes(8, "little"))
    if slot.kind == UNINIT:
        return (None,) * 8
    return _UNKNOWN_BYTES


def _join_slot(a, b):
    if a == b:
        return a
    if isinstance(a, Val) and isinstance(b, Val):
        j = _join(a, b)
        if j.kind != UNINIT:
            return j
    ab, bb = _as_bytes(a), _as_bytes(b)
    return tuple(_byte_join(x, y) for x, y in zip(ab, bb))


class State:
    """Registers, each frame's stack (slot offset from that frame's r10 -> slot), the callers' saved r6-r9,
    and the packet range: bytes from ``data`` proven to lie before ``data_end``."""

    __slots__ = ("regs", "stacks", "saved", "pkt", "fam", "path")

    def __init__(self, regs, stacks, saved, pkt, fam=None, path=()):
        self.regs, self.stacks, self.saved, self.pkt = regs, stacks, saved, pkt
        #: the loop-head states this one descends from: (serial, parent path), () at the entry
        self.path = path
        #: packet pointer family (id of a variable offset) -> bytes proven from the family's base (the kernel's
        #: reg->range, shared by the pointers derived from one variable offset by constant steps)
        self.fam = fam if fam is not None else {}

    def copy(self) -> State:
        return State(list(self.regs), [dict(s) for s in self.stacks], list(self.saved), self.pkt, dict(self.fam),
                     self.path)

    def covers(self, o: State) -> bool:
        """Whether every concrete state ``o`` stands for is one of this state's (then ``o`` need not be explored)."""
        if self.pkt > o.pkt or len(self.stacks) != len(o.stacks):
            return False
        for a, b in zip(self.regs, o.regs):  # loops, not generators: this is the analysis' hottest function
            if a is not b and a != b and not _covers(a, b):
                return False
        if self.fam:
            for f, r in self.fam.items():
                if r > o.fam.get(f, 0):
                    return False
        for sa, sb in zip(self.saved, o.saved):
            if sa != sb:
                for a, b in zip(sa, sb):
                    if not _covers(a, b):
                        return False
        for mine, other in zip(self.stacks, o.stacks):
            if mine == other:
                continue
            for off in mine.keys() | other.keys():
                a, b = mine.get(off), other.get(off)
                if a is None:
                    if b is not None and _as_bytes(b) != (None,) * 8:
                        return False
                elif not _slot_covers(a, b if b is not None else (None,) * 8):
                    return False
        return True

    def join(self, o: State, widen: bool = False) -> State:
        regs = [_join(a, b, widen) for a, b in zip(self.regs, o.regs)]
        saved = [tuple(_join(a, b, widen) for a, b in zip(sa, sb)) for sa, sb in zip(self.saved, o.saved)]
        stacks = []
        for mine, other in zip(self.stacks, o.stacks):
            st = {}
            for off in mine.keys() | other.keys():
                a, b = mine.get(off, (None,) * 8), other.get(off, (None,) * 8)
                j = _join_slot(a, b)
                if isinstance(j, Val) and widen and isinstance(a, Val):
                    j = _join(a, b, True) if _join(a, b, True).kind != UNINIT else j
                if j != (None,) * 8:
                    st[off] = j
            stacks.append(st)
        fam = {f: min(r, o.fam[f]) for f, r in self.fam.items() if f in o.fam}
        return State(regs, stacks, saved, min(self.pkt, o.pkt), fam)


# Checked code calls this helper (never a UAPI id) when a run-time check fails: r1 = the instruction, r2 = why.
# Native code reaches it as the symbol ``bpfx_fault``; it must not return.
FAULT_HELPER = 0xFFFF
FAULT_SYMBOL = "bpfx_fault"
FAULT_REASONS = ("NULL map value dereference", "packet access out of bounds", "memory access out of bounds",
                 "stack access out of the frame", "access the verifier proved unsafe",
                 "read of an uninitialised register", "return value outside the program type's range")


# -- results -------------------------------------------------------------------------------------------------------
# What a run-time check needs: kind, and for bounds the access's offset and size.
CHECK_NULL, CHECK_PACKET, CHECK_MEM, CHECK_STACK = "null", "packet", "mem", "stack"
CHECK_RET = "ret"  # (CHECK_RET, 0, lo, hi): r0's low 32 bits in [lo, hi] at the program's exit
# Iterations a loop may run (the kernel's 1M-instruction complexity limit makes longer loops unverifiable there).
LOOP_LIMIT = 1_000_000


@dataclass
class Access:
    """Every visit of one memory access (or other checked instruction), as the analysis saw it."""

    pc: int
    what: str  # "packet read of 4 bytes", ...
    proven: int = 0  # visits proven safe
    checkable: int = 0  # visits that a run-time check makes safe
    definite: int = 0  # visits that fail whatever the values
    unprovable: int = 0  # visits neither proven nor checkable
    checks: set = field(default_factory=set)  # (CHECK_* kind, register, offset, size) the checkable visits need
    message: str = ""  # the first failure
    category: str = ""  # "termination", "return" (r0's range at exit): what PREVAIL's defaults do not check

    @property
    def status(self) -> str:
        """proven | checked (a run-time check makes it safe) | fault (always fails) | rejected."""
        if not (self.checkable or self.definite or self.unprovable):
            return "proven"
        if self.unprovable or (self.definite and (self.proven or self.checkable)):
            return "rejected"
        if self.definite:
            return "fault"
        return "checked"


@dataclass
class Analysis:
    program: Program
    facts: dict[int, list[Val]]  # pc -> register values before it (joined over every visit)
    accesses: dict[int, Access]  # memory accesses, by pc
    errors: dict[int, Access]  # everything else that failed (helper arguments, exits, uninitialised registers)
    frame_depth: dict[int, int]  # function start -> bytes of stack it uses
    complete: bool = True  # False when the budget ran out (facts then say nothing)
    too_complex: str = ""
    mem_size: int | None = None

    def counts(self) -> dict[str, int]:
        out = {"proven": 0, "checked": 0, "fault": 0, "rejected": 0}
        for acc in self.accesses.values():
            out[acc.status] += 1
        return out

    def problems(self, checked: bool = False) -> list[Access]:
        """What makes the program unacceptable: every failure (verify), or those a check cannot fix (checked)."""
        out = []
        for acc in list(self.accesses.values()) + list(self.errors.values()):
            st = acc.status
            if st == "rejected" or (not checked and st != "proven"):
                out.append(acc)
        return sorted(out, key=lambda a: a.pc)


# -- the analysis --------------------------------------------------------------------------------------------------

class _Budget(Exception):
    pass


class Verifier:
    def __init__(self, program: Program, *, mem_size: int | None = None, assume_checks: bool = True,
                 budget: int = DEFAULT_BUDGET, div_by_zero: bool = True):
        self.p = program
        self.insns = program.insns
        self.maps = list(program.maps)  # and the inner map templates of map-in-maps, as lookups meet them
        self.ptype = get_prog_type(program.prog_type)
        self.ctx_by_off = {off: (name, size) for name, (off, size) in self.ptype.ctx_fields.items()}
        self.writable = self.ptype.writable  # specs/program_types.toml: the kernel's write rules
        self.mem_size = mem_size
        self.assume = assume_checks
        self.budget = budget
        self.div_by_zero = div_by_zero  # BPF defines x/0 and x%0; False reports them (PREVAIL's option)
        self.facts: dict[int, list[Val]] = {}
        self.accesses: dict[int, Access] = {}
        self.errors: dict[int, Access] = {}
        self.depth: dict[int, int] = {}
        self.visits: dict[int, int] = {}
        self.pruned: set[int] = set()  # pcs where a state was dropped as covered, or joined with others
        self.entries: dict[tuple, State] = {}  # (chain, loop head) -> the states entering the loop, joined
        self._quiet = False  # _unroll's re-exploration records nothing
        self.ignore_loops: set[int] = set()  # loop heads not to check for termination (test harness sinks)

    # -- reporting ---------------------------------------------------------------------------------------------
    def _rec(self, table, pc: int, what: str) -> Access:
        acc = table.get(pc)
        if acc is None:
            acc = table[pc] = Access(pc, what)
        return acc

    def ok(self, pc: int, what: str) -> None:
        if not self._quiet:
            self._rec(self.accesses, pc, what).proven += 1

    def fail(self, pc: int, what: str, message: str, *, check: tuple | None = None, definite: bool = False,
             access: bool = True, category: str = "") -> None:
        if self._quiet:
            self._failed = True
            return
        acc = self._rec(self.accesses if access else self.errors, pc, what)
        acc.category = acc.category or category
        self._failed = True
        if check:
            acc.checkable += 1
            acc.checks.add(check)
        elif definite:
            acc.definite += 1
        else:
            acc.unprovable += 1
        if not acc.message:
            acc.message = message

    # -- entry ---------------------------------------------------------------------------------------------------
    def initial(self) -> State:
        regs = [UNINIT_VAL] * NREGS
        regs[R10] = Val(STACK, _ZERO, 0)
        if self.ptype.ctx_struct:
            regs[1] = Val(CTX, _ZERO)
        elif self.mem_size == 0:
            regs[1] = scalar_val(_ZERO)
            regs[2] = scalar_val(_ZERO)
        else:
            regs[1] = Val(MEM, _ZERO)
            regs[2] = scalar_val(S.const(self.mem_size) if self.mem_size is not None else S.urange(0, 1 << 32))
        return State(regs, [{}], [], 0)

    def run(self) -> Analysis:
        from .cfg import build_cfg

        cfg = build_cfg(self.p)
        self.cfg = cfg
        n = len(self.insns)
        leaders = {b.start for b in cfg.blocks}
        for pc, insn in enumerate(self.insns):
            if insn.opcode == 0x85 and insn.src == CallKind.LOCAL and not cfg.second[pc]:
                leaders.add(pc + 1)
        self.leaders = leaders
        self.loop_heads = {cfg.blocks[t].start for _, t in cfg.back_edges}
        self.loops = self._natural_loops()
        self.loop_pcs = {cfg.blocks[h].start: {pc for b in body for pc in range(cfg.blocks[b].start,
                                                                                  cfg.blocks[b].end)}
                         for h, body in self.loops.items()}
        self.fn_of = {}
        starts = sorted(cfg.functions)
        for i, s in enumerate(starts):
            for pc in range(s, starts[i + 1] if i + 1 < len(starts) else n):
                self.fn_of[pc] = s
        global _THRESHOLDS
        consts = set()
        for insn in self.insns:
            info = OPCODES[insn.opcode]
            if info is not None and info.kind == Kind.JCOND and not info.src_reg:
                for c in (insn.imm, insn.imm & S.M32, insn.imm & S.M64):
                    consts.update((c - 1, c, c + 1))
        _THRESHOLDS = tuple(sorted(consts))
        seen: dict[tuple, list[State]] = {}
        merged_keys: set[tuple] = set()
        serial = 0
        work: list[tuple[tuple, int, State]] = [((), 0, self.initial())]
        self.steps = 0
        complete, too_complex = True, ""
        try:
            while work:
                chain, pc, st = work.pop()
                self.chain = chain
                for nchain, npc, nst in self.block(chain, pc, st.copy()):  # ``seen`` keeps the original
                    key = (nchain, npc)
                    old = seen.get(key)
                    head = npc in self.loop_heads
                    entry = head and pc not in self.loop_pcs[npc] and self.fn_of.get(pc) == self.fn_of.get(npc)
                    if entry:  # every state entering the loop, joined: where _unroll starts
                        prev = self.entries.get(key)
                        self.entries[key] = nst.copy() if prev is None else prev.join(nst)
                    if old is not None:
                        cover = next((o for o in old if o.covers(nst)), None)
                        if cover is not None and head and key not in merged_keys and not nst.covers(cover) \
                                and _on_path(cover, nst):
                            # an iteration narrowed the state of an earlier one on its own path: explore it (as the
                            # kernel unrolls), so a loop whose ranges shrink to its exit is followed to it
                            cover = None
                        if cover is not None:
                            if not entry:  # entering a loop covered by a state at its head does not hide a cycle
                                self.pruned.add(npc)
                            continue
                    if old is None:
                        seen[key] = [nst]
                    elif len(old) < PATHS and key not in merged_keys:
                        old.append(nst)
                    else:  # too many paths: one joined state from now on, widened at loop heads
                        self.pruned.add(npc)
                        merged = old[0]
                        for o in old[1:]:
                            merged = merged.join(o)
                        nst = merged.join(nst, widen=head)
                        nst.path = merged.path
                        merged_keys.add(key)
                        seen[key] = [nst]
                    if head:
                        serial += 1
                        nst.path = (serial, nst.path)
                    work.append((nchain, npc, nst))
        except _Budget:
            busiest = max(self.visits, key=self.visits.get)
            complete = False
            too_complex = (f"program too complex to verify: {self.steps} instructions stepped (budget {self.budget}), "
                           f"insn {busiest} visited {self.visits[busiest]} times")
        self._stack_depth_check(seen)
        if complete:
            self._termination()
        for pc, err in self.errors.items():  # visits that did not fail count as proven
            err.proven = max(0, self.visits.get(pc, 0) - err.checkable - err.definite - err.unprovable)
        return Analysis(self.p, self.facts, self.accesses, self.errors, self.depth, complete, too_complex,
                        self.mem_size)

    def _stack_depth_check(self, seen) -> None:
        """The kernel's rule: the frames of one call chain use at most 512 bytes of stack together."""
        chains = {}
        for chain, pc in seen:
            chains.setdefault(chain, set()).add(self.fn_of.get(pc, 0))
        for chain in chains:
            fns = [0]
            for ret in chain:
                call = ret - 1
                fns.append(call + 1 + self.insns[call].imm)
            total = sum(_round8(self.depth.get(f, 0)) for f in fns)
            if total > STACK_SIZE:
                call = chain[-1] - 1
                parts = " + ".join(str(_round8(self.depth.get(f, 0))) for f in fns)
                self.fail(call, "call", f"combined stack depth {total} bytes ({parts}) exceeds {STACK_SIZE} across "
                          f"{len(fns)} frames", access=False)

    # -- stepping ------------------------------------------------------------------------------------------------
    def block(self, chain: tuple, pc: int, st: State):
        """Run from ``pc`` to the end of its straight-line piece; yields (chain, pc, state) successors."""
        insns, leaders = self.insns, self.leaders
        first = True
        while True:
            if not first and pc in leaders:
                yield chain, pc, st
                return
            first = False
            self.steps += 1
            self.visits[pc] = self.visits.get(pc, 0) + 1
            if self.steps > self.budget:
                raise _Budget
            self._fact(pc, st)
            insn = insns[pc]
            info = OPCODES[insn.opcode]
            kind = info.kind
            if kind == Kind.JCOND:
                yield from self.jcond(chain, pc, insn, info, st)
                return
            if kind == Kind.JA:
                yield chain, pc + 1 + (insn.imm if info.cls == Cls.JMP32 else insn.off), st
                return
            if kind == Kind.EXIT:
                out = self.exit(chain, pc, st)
                if out is not None:
                    yield out
                return
            if kind == Kind.CALL and insn.src == CallKind.LOCAL:
                yield self.call_local(chain, pc, insn, st)
                return
            pc = self.step(pc, insn, info, st)
            if pc is None:
                return

    def _fact(self, pc: int, st: State) -> None:
        if self._quiet:
            return
        old = self.facts.get(pc)
        if old is None:
            self.facts[pc] = list(st.regs)
        elif old != st.regs:
            for i, (a, b) in enumerate(zip(old, st.regs)):
                if a is not b and a != b:
                    old[i] = _join(a, b)

    def read_reg(self, pc: int, st: State, r: int, what: str) -> Val:
        v = st.regs[r]
        if v.kind == UNINIT:
            if v.id == -1:
                msg = f"r{r} holds different types on different paths here"
            elif v.id > 0:
                msg = f"read of r{r}, clobbered by the call at insn {v.id - 1}"
            else:
                msg = f"read of uninitialised register r{r}"
            self.fail(pc, what, f"{what}: {msg}", definite=v.id >= 0, access=False)
            return UNKNOWN
        return v

    def _maps(self, aux) -> list:
        """The maps a map handle or value may belong to (``aux`` is an index, or a tuple after a join)."""
        return [self.maps[i] for i in (aux if isinstance(aux, tuple) else (aux,))]

    def _inner(self, aux) -> int | None:
        """The index (in ``self.maps``) of the inner map template of map-in-map ``aux``, or None."""
        if isinstance(aux, tuple):
            return None
        template = self.maps[aux].inner
        if template is None:
            return None
        for i, m in enumerate(self.maps):
            if m is template:
                return i
        self.maps.append(template)
        return len(self.maps) - 1

    def _map_names(self, aux) -> str:
        return " or ".join(m.name for m in self._maps(aux))

    def describe(self, v: Val) -> str:
        k = v.kind
        if k == SCALAR:
            return f"scalar {v.s}"
        if k == UNINIT:
            return "uninitialised"
        off = f" (offset {v.s})" if v.s is not None and v.s != _ZERO else ""
        if k == CTX:
            return f"ctx pointer{off}"
        if k == STACK:
            return f"stack pointer r10{_signed(v.s)}" + (f" of frame {v.aux}" if v.aux else "")
        if k == PACKET:
            return f"packet pointer{off}"
        if k == PKT_END:
            return "data_end"
        if k == PKT_META:
            return "data_meta"
        if k in (MAP_VALUE, MAP_OR_NULL):
            what = "map value" if k == MAP_VALUE else "map value or NULL"
            return f"{what} of {self._map_names(v.aux)}{off}"
        if k == MAP_PTR:
            return f"map {self._map_names(v.aux)}"
        if k == MAP_PTR_OR_NULL:
            return f"map {self._map_names(v.aux)} or NULL"
        if k == MEM:
            return f"memory pointer{off}"
        return "?"

    def step(self, pc: int, insn, info, st: State) -> int | None:
        kind = info.kind
        regs = st.regs
        if kind == Kind.ALU:
            self.alu(pc, insn, info, st)
        elif kind == Kind.ENDIAN:
            v = self.read_reg(pc, st, insn.dst, "byte swap")
            if v.kind != SCALAR:
                self.fail(pc, "byte swap", f"byte swap of a pointer (r{insn.dst}: {self.describe(v)})",
                          access=False)
                v = UNKNOWN
            swap = info.cls == Cls.ALU64 or info.src_reg
            regs[insn.dst] = scalar_val(S.bswap(v.s, insn.imm, swap))
        elif kind == Kind.LD_IMM64:
            nxt = self.insns[pc + 1]
            if insn.src == Pseudo.IMM64:
                regs[insn.dst] = scalar_val(S.const(imm64(insn, nxt)))
            elif insn.src == Pseudo.MAP_FD:
                regs[insn.dst] = Val(MAP_PTR, _ZERO, insn.imm)
            elif insn.src == Pseudo.MAP_VALUE:
                regs[insn.dst] = Val(MAP_VALUE, S.const(nxt.imm & 0xFFFFFFFF), insn.imm)
            else:
                self.fail(pc, "lddw", f"lddw with src {insn.src} ({Pseudo(insn.src).name}) is not supported",
                          access=False)
                regs[insn.dst] = UNKNOWN
            return pc + 2
        elif kind in (Kind.LDX, Kind.LDXSX):
            base = self.read_reg(pc, st, insn.src, "load")
            regs[insn.dst] = self.access(pc, st, base, insn.src, insn.off, info.size, False,
                                         signed=kind == Kind.LDXSX)
        elif kind in (Kind.ST, Kind.STX):
            base = self.read_reg(pc, st, insn.dst, "store")
            value = scalar_val(S.const(insn.imm)) if kind == Kind.ST else self.read_reg(pc, st, insn.src, "store")
            self.access(pc, st, base, insn.dst, insn.off, info.size, True, value=value)
        elif kind == Kind.ATOMIC:
            base = self.read_reg(pc, st, insn.dst, "atomic")
            operand = self.read_reg(pc, st, insn.src, "atomic")
            if operand.kind != SCALAR:
                self.fail(pc, "atomic", f"pointer leak: atomic operation with a pointer operand "
                          f"(r{insn.src}: {self.describe(operand)})", access=False)
            if insn.imm == 0xF1:
                self.read_reg(pc, st, 0, "cmpxchg")
            self.access(pc, st, base, insn.dst, insn.off, info.size, True, value=UNKNOWN, atomic=True)
            if insn.imm & 1:
                width = S.urange(0, (1 << (8 * info.size)) - 1)
                regs[0 if insn.imm == 0xF1 else insn.src] = scalar_val(width)
        elif kind == Kind.CALL:
            if insn.src == CallKind.HELPER:
                return self.helper(pc, insn.imm, st)
            self.fail(pc, "call", "kfunc calls are not supported", access=False)
            return None
        elif kind == Kind.CALLX:
            v = self.read_reg(pc, st, insn.dst, "callx")
            hid = v.s.const if v.kind == SCALAR else None
            if hid is None or self.ptype.helper(hid) is None:
                self.fail(pc, "callx", f"callx r{insn.dst}: the target ({self.describe(v)}) is not a known helper "
                          f"of {self.ptype.name}", access=False)
                self._clobber(pc, st, None)
                return pc + 1
            return self.helper(pc, hid, st)
        elif kind in (Kind.LD_ABS, Kind.LD_IND):
            # Legacy packet loads check their bounds themselves (out of bounds, the program exits with r0 = 0);
            # as in the kernel, the context must be in r6 and r1-r5 are scratched.
            if st.regs[6].kind != CTX or st.regs[6].s != _ZERO:
                self.fail(pc, kind.name, f"{kind.name} needs the context pointer in r6, not "
                          f"{self.describe(st.regs[6])}", access=False)
            if kind == Kind.LD_IND:
                v = self.read_reg(pc, st, insn.src, kind.name)
                if v.kind != SCALAR:
                    self.fail(pc, kind.name, f"{kind.name} offset r{insn.src} is {self.describe(v)}, not a number",
                              access=False)
            self._clobber(pc, st, scalar_val(S.urange(0, (1 << (8 * info.size)) - 1)))
        else:
            self.fail(pc, "insn", f"{kind.name} is not supported by the verifier", access=False)
            return None
        return pc + 1

    # -- ALU -------------------------------------------------------------------------------------------------------
    def alu(self, pc: int, insn, info, st: State) -> None:
        regs, op, wide = st.regs, info.op, info.cls == Cls.ALU64
        bits = 64 if wide else 32
        what = f"{op}{'' if wide else '32'}"
        if info.src_reg:
            src = self.read_reg(pc, st, insn.src, what)
        else:
            src = scalar_val(S.const(insn.imm if wide else insn.imm & S.M32))
        if op == "mov":
            if src.kind != SCALAR:
                if wide and not insn.off:
                    regs[insn.dst] = src
                    return
                self.fail(pc, what, f"disallowed pointer arithmetic: {'movsx' if insn.off else '32-bit mov'} of "
                          f"r{insn.src} ({self.describe(src)})", access=False)
                regs[insn.dst] = UNKNOWN
                return
            s = src.s if wide else S.view32(src.s)
            regs[insn.dst] = scalar_val(S.alu("mov", s, s, bits, insn.off) if insn.off else s)
            return
        dst = self.read_reg(pc, st, insn.dst, what)
        if dst.kind == SCALAR and src.kind == SCALAR:
            if op in ("div", "mod") and not self.div_by_zero and (src.s if wide else S.view32(src.s)).umin == 0:
                self.fail(pc, what, f"{what}: r{insn.src} may be zero", access=False)
            if wide:
                r = S.alu(op, dst.s, src.s, 64, insn.off)
            else:
                r = S.alu(op, S.view32(dst.s), S.view32(src.s), 32, insn.off)
            regs[insn.dst] = scalar_val(r if r is not None else S.UNKNOWN)  # None: an infeasible path's operand
            return
        # pointer arithmetic
        if wide and op in ("add", "sub"):
            if dst.kind in _ARITH_OK and src.kind == SCALAR:
                regs[insn.dst] = self._ptr_add(pc, st, dst, src.s, op, info.src_reg)
                return
            if op == "add" and src.kind in _ARITH_OK and dst.kind == SCALAR:
                regs[insn.dst] = self._ptr_add(pc, st, src, dst.s, op, True)
                return
            if op == "sub" and dst.kind == src.kind and dst.kind in _ARITH_OK and (dst.aux == src.aux or dst.kind in (
                    PACKET, PKT_META)):  # a packet pointer's aux is its step in a family, not its region
                regs[insn.dst] = scalar_val(S.alu("sub", dst.s, src.s))
                return
            if op == "sub" and dst.kind == PKT_END and src.kind == PACKET:
                regs[insn.dst] = UNKNOWN
                return
        if not wide and op == "sub" and info.src_reg and dst.kind == src.kind and dst.kind in (PACKET, PKT_META):
            # a length between two pointers into the packet, in 32 bits (clang emits it): a number, not an address
            regs[insn.dst] = scalar_val(S.alu("sub", S.view32(dst.s), S.view32(src.s), 32))
            return
        self.fail(pc, what, f"disallowed pointer arithmetic: {what} on r{insn.dst} ({self.describe(dst)})"
                  + (f" with r{insn.src} ({self.describe(src)})" if info.src_reg else f" with {insn.imm}"),
                  access=False)
        regs[insn.dst] = UNKNOWN

    def _ptr_add(self, pc: int, st: State, ptr: Val, delta: Scalar, op: str, reg_operand: bool) -> Val:
        s = S.alu(op, ptr.s, delta)
        if ptr.kind != PACKET:
            return ptr._replace(s=s)
        if not reg_operand:  # a constant step stays in the family
            step = S.sx(delta.const) if op == "add" else -S.sx(delta.const)
            return Val(PACKET, s, ptr.aux + step if ptr.id else 0, ptr.id)
        # Adding a register starts a family named after this instruction (constant or not, so the states of a
        # loop's iterations agree and join well); pointers of an older family from this pc lose theirs.
        fam = pc + 1
        st.fam.pop(fam, None)
        for i, v in enumerate(st.regs):
            if v.kind == PACKET and v.id == fam:
                st.regs[i] = v._replace(id=-1, aux=0)
        for stack in st.stacks:
            for off, slot in list(stack.items()):
                if isinstance(slot, Val) and slot.kind == PACKET and slot.id == fam:
                    stack[off] = slot._replace(id=-1, aux=0)
        st.saved = [tuple(v._replace(id=-1, aux=0) if v.kind == PACKET and v.id == fam else v for v in sv)
                    for sv in st.saved]
        return Val(PACKET, s, 0, fam)

    # -- jumps -----------------------------------------------------------------------------------------------------
    def jcond(self, chain, pc, insn, info, st: State):
        op = info.op
        wide = info.cls == Cls.JMP
        a = self.read_reg(pc, st, insn.dst, op)
        if info.src_reg:
            b = self.read_reg(pc, st, insn.src, op)
        else:
            b = scalar_val(S.const(insn.imm if wide else insn.imm & S.M32))
        target, fall = pc + 1 + insn.off, pc + 1
        self._pc = pc
        for taken, npc in ((False, fall), (True, target)):
            nst = self.branch(st, insn, info, a, b, taken, wide)
            if nst is not None:
                yield chain, npc, nst

    def branch(self, st: State, insn, info, a: Val, b: Val, taken: bool, wide: bool) -> State | None:
        op = info.op
        if a.kind == SCALAR and b.kind == SCALAR:
            if wide:
                na, nb = S.refine(op, a.s, b.s, taken)
                if na is None:
                    return None
            else:
                la, lb = S.refine(op, S.view32(a.s), S.view32(b.s), taken, 32)
                if la is None:
                    return None
                na, nb = S.lift32(a.s, la), S.lift32(b.s, lb)
                if na is None or nb is None:
                    return None
            nst = st.copy()
            nst.regs[insn.dst] = scalar_val(na)
            if info.src_reg:
                nst.regs[insn.src] = scalar_val(nb)
            return nst
        if not wide:
            return st.copy()
        if a.kind in _POINTERS and b.kind in _POINTERS and op not in ("jeq", "jne") and not (
                {a.kind, b.kind} <= {PACKET, PKT_END, PKT_META} or (a.kind == b.kind and a.aux == b.aux)):
            if taken:  # reported once per jump
                self.fail(self._pc, op, f"{op}: ordered comparison of pointers into different regions "
                          f"({self.describe(a)}, {self.describe(b)}) leaks their addresses", access=False)
            return st.copy()
        # packet pointer against data_end: the fall-through or taken side proves a range
        cond = op if taken else _NEG.get(op)
        if cond is not None:
            pkt = None
            if a.kind == PACKET and b.kind == PKT_END:
                pkt = {"jle": 0, "jlt": 1}.get(cond), a
            elif a.kind == PKT_END and b.kind == PACKET:
                pkt = {"jge": 0, "jgt": 1}.get(cond), b
            elif a.kind == PKT_META and b.kind == PACKET and b.s.const == 0:  # data_meta + n <= data
                pkt = {"jle": 0, "jlt": 1}.get(cond), a
            elif a.kind == PACKET and a.s.const == 0 and b.kind == PKT_META:
                pkt = {"jge": 0, "jgt": 1}.get(cond), b
            if pkt is not None and pkt[0] is not None and pkt[1].kind == PKT_META:
                nst = st.copy()
                if pkt[1].s.smin >= 0:
                    nst.fam[_META] = max(nst.fam.get(_META, 0), pkt[1].s.umin + pkt[0])
                return nst
            if pkt is not None and pkt[0] is not None:
                extra, p = pkt
                nst = st.copy()
                if p.id > 0:
                    nst.fam[p.id] = max(nst.fam.get(p.id, 0), p.aux + extra)
                if p.s.smin >= 0:
                    nst.pkt = max(nst.pkt, p.s.umin + extra)
                return nst
        # NULL test of a lookup result
        for p, q in ((a, b), (b, a)):
            if p.kind in _OR_NULL and q.kind == SCALAR and q.s.const == 0 and op in ("jeq", "jne"):
                is_null = (op == "jeq") == taken
                nst = st.copy()
                new = scalar_val(_ZERO) if is_null else p._replace(kind=_OR_NULL[p.kind], id=0)
                self._replace_lookup(nst, p, new)
                return nst
        return st.copy()

    def _replace_lookup(self, st: State, p: Val, new: Val) -> None:
        def same(v):
            return v == p or (p.id and v.kind in _OR_NULL and v.id == p.id)

        def after(v):
            return new if v == p else (scalar_val(_ZERO) if new.kind == SCALAR else v._replace(
                kind=_OR_NULL[v.kind], id=0))

        for i, v in enumerate(st.regs):
            if same(v):
                st.regs[i] = after(v)
        for stack in st.stacks:
            for off, slot in list(stack.items()):
                if isinstance(slot, Val) and same(slot):
                    stack[off] = after(slot)

    # -- calls and exits -------------------------------------------------------------------------------------------
    def call_local(self, chain, pc, insn, st: State):
        nst = st.copy()
        nst.saved.append(tuple(st.regs[6:10]))
        depth = len(nst.stacks)
        nst.stacks.append({})
        for r in (0, 6, 7, 8, 9):
            nst.regs[r] = UNINIT_VAL
        nst.regs[R10] = Val(STACK, _ZERO, depth)
        return chain + (pc + 1,), pc + 1 + insn.imm, nst

    def exit(self, chain, pc, st: State):
        r0 = st.regs[0]
        if r0.kind == UNINIT:
            self.read_reg(pc, st, 0, "exit")
            r0 = UNKNOWN
        depth = len(st.stacks) - 1
        if not chain:
            if r0.kind != SCALAR and self.ptype.ctx_struct:
                self.fail(pc, "exit", f"pointer leak: the program returns a pointer (r0: {self.describe(r0)})",
                          access=False)
            elif r0.kind == SCALAR and self.ptype.return_range:
                self._return_range(pc, r0.s)
            return None
        if r0.kind == STACK and r0.aux == depth:
            self.fail(pc, "exit", "the function returns a pointer to its own stack frame", access=False)
            r0 = UNKNOWN
        nst = st.copy()
        nst.stacks.pop()
        saved = nst.saved.pop()
        nst.regs[6:10] = list(saved)
        nst.regs[0] = r0
        for r in (1, 2, 3, 4, 5):
            nst.regs[r] = Val(UNINIT, None, 0, pc + 1)
        nst.regs[R10] = Val(STACK, _ZERO, depth - 1)
        self._drop_frame(nst, depth)
        return chain[:-1], chain[-1], nst

    def _return_range(self, pc: int, r0: Scalar) -> None:
        lo, hi = self.ptype.return_range  # lo is 0 for every type (the check compiled in tests hi only)
        low = S.view32(r0)
        if lo <= low.umin and low.umax <= hi:
            return
        names = self.ptype.return_codes
        codes = f"{lo}..{hi}" + (f" ({names[lo]}..{names[hi]})" if lo in names and hi in names else "")
        other = self.ptype.return_other
        then = (f"checked code returns {names.get(other, other)} ({other}) instead, as the kernel does" if other is not
                None else "the kernel rejects it; checked code faults")
        self.fail(pc, "exit", f"exit: r0 may be {low}, outside {self.ptype.name}'s return codes {codes}; {then}",
                  check=(CHECK_RET, 0, lo, hi), access=False, category="return")

    def _termination(self) -> None:
        """Every loop the program can reach must be shown to end: either its exploration was exact (no state in it
        was pruned or joined, so every path through it was followed to its exit), or an induction variable moves
        by a constant step towards the bound of an exit test, on every iteration, without wrapping."""
        cfg = self.cfg
        for head, body in sorted(self.loops.items()):
            hpc = cfg.blocks[head].start
            if hpc not in self.visits or hpc in self.ignore_loops:
                continue
            pcs = self._loop_pcs(body)
            if not (pcs & self.pruned):
                continue
            why = self._induction(head, body)
            if why is None or self._unroll(hpc):
                continue
            self.fail(hpc, "loop", f"loop at insn {hpc} may not terminate ({why})", access=False,
                      category="termination")

    def _unroll(self, hpc: int, budget: int = 50_000, rounds: int = 256) -> bool:
        """Whether every path from the joined states entering the loop at ``hpc`` leaves it, followed exactly (no
        joins; a state equal to one before it on its path is a cycle), within ``budget`` instructions and
        ``rounds`` iterations in all."""
        keys = [k for k in self.entries if k[1] == hpc]
        if not keys:
            return False
        saved = self.visits, self.steps, self.budget, self.chain
        self.visits, self._quiet = dict(self.visits), True
        self.budget = self.steps + budget
        body = self.loop_pcs[hpc]
        try:
            for key in keys:
                work = [(key[0], hpc, self.entries[key].copy(), ())]
                while work:
                    chain, pc, st, path = work.pop()
                    self.chain = chain
                    for nchain, npc, nst in self.block(chain, pc, st.copy()):
                        if len(nchain) < len(key[0]) or (nchain == key[0] and npc not in body):
                            continue  # left the loop
                        if npc == hpc and nchain == key[0]:
                            rounds -= 1
                            if rounds < 0 or any(o.covers(nst) and nst.covers(o) for o in path):
                                return False  # the same state again: this path may go round forever
                            work.append((nchain, npc, nst, path + (nst,)))
                        else:
                            work.append((nchain, npc, nst, path))
        except _Budget:
            return False
        finally:
            self.visits, self.steps, self.budget, self.chain = saved
            self._quiet = False
        return True

    def _natural_loops(self) -> dict[int, set[int]]:
        """Loop head block -> the blocks of its loop (every back edge to it, and what reaches their sources)."""
        cfg = self.cfg
        heads: dict[int, set[int]] = {}
        for src, dst in cfg.back_edges:
            body = heads.setdefault(dst, {dst})
            todo = [src]
            while todo:
                b = todo.pop()
                if b not in body:
                    body.add(b)
                    todo.extend(cfg.blocks[b].preds)
        return heads

    def _loop_pcs(self, body: set[int]) -> set[int]:
        """The instructions of a loop's blocks and of every function called from them."""
        cfg, out, fns = self.cfg, set(), set()
        todo = list(body)
        while todo:
            b = cfg.blocks[todo.pop()]
            out.update(range(b.start, b.end))
            for pc in range(b.start, b.end):
                insn = self.insns[pc]
                if insn.opcode == 0x85 and insn.src == CallKind.LOCAL and not cfg.second[pc]:
                    fn = pc + 1 + insn.imm
                    if fn not in fns:
                        fns.add(fn)
                        todo.extend(x.index for x in cfg.blocks if x.function == fn)
        return out

    def _induction(self, head: int, body: set[int]) -> str | None:
        """None if some exit test of the loop bounds its iterations; else why none does."""
        cfg, insns = self.cfg, self.insns
        why = "no exit test compares a register that moves by a constant step on every iteration"
        for b in sorted(body):
            blk = cfg.blocks[b]
            jpc = _last_insn(cfg, blk)
            insn = insns[jpc]
            info = OPCODES[insn.opcode]
            if info is None or info.kind != Kind.JCOND:
                continue
            outside = [s for s in blk.succs if s not in body]
            if len(outside) != 1 or len(blk.succs) != 2:
                continue
            taken_exits = cfg.block_at[jpc + 1 + insn.off] == outside[0] and cfg.block_at.get(jpc + 1) != outside[0]
            cond = info.op if taken_exits else _NEG.get(info.op)
            if cond is None:
                continue
            bits = 64 if info.cls == Cls.JMP else 32
            sides = [(insn.dst, insn.src if info.src_reg else None, cond)]
            if info.src_reg:
                sides.append((insn.src, insn.dst, _SWAP.get(cond)))
            for r, other, c in sides:
                if c is None:
                    continue
                got = self._bounded(head, body, jpc, r, other, c, bits, insn)
                if got is None:
                    return None
                why = got
        return why

    def _bounded(self, head, body, jpc, r, other, cond, bits, insn) -> str | None:
        """None if register ``r`` ends the loop through the exit test at ``jpc`` (exit when ``r cond other``)."""
        cfg = self.cfg
        steps, step_pcs = set(), set()
        for b in body:
            blk = cfg.blocks[b]
            for pc in range(blk.start, blk.end):
                if cfg.second[pc]:
                    continue
                w = _writes(self.insns[pc], r, bits)
                if w is None:
                    continue
                if w == 0:
                    return f"r{r} is not only stepped by a constant in the loop (insn {pc})"
                steps.add(w > 0)
                step_pcs.add(pc)
        if other is not None:
            for b in body:
                blk = cfg.blocks[b]
                for pc in range(blk.start, blk.end):
                    if not cfg.second[pc] and _writes(self.insns[pc], other, bits) is not None:
                        return f"the bound r{other} changes in the loop (insn {pc})"
        if len(steps) != 1:
            return f"r{r} does not move in one direction" if steps else f"r{r} does not change in the loop"
        up = steps.pop()
        for avoid in (step_pcs, {jpc}):
            if _cycle_avoiding(cfg, head, body, avoid):
                return (f"an iteration can skip the step of r{r}" if avoid is step_pcs
                        else f"an iteration can skip the exit test at insn {jpc}")
        stride = min(abs(_step_of(self.insns[pc])) for pc in step_pcs)
        fact_r = self.facts.get(cfg.blocks[head].start, [None] * NREGS)[r]
        fact_b = self.facts.get(jpc, [None] * NREGS)[other] if other is not None else None
        mask = (1 << bits) - 1
        signed = cond.startswith("js")
        smax = (1 << (bits - 1)) - 1
        if other is None:
            k = insn.imm & mask if bits == 32 else insn.imm & S.M64
            bound = S.const(k)
        elif fact_b is not None and fact_b.kind == SCALAR:
            bound = fact_b.s
        elif fact_b is not None and fact_b.kind == PKT_END and fact_r is not None and fact_r.kind == PACKET:
            ok = (up and cond in ("jgt", "jge")) or (not up and cond in ("jlt", "jle"))
            return None if ok else f"r{r} moves away from the exit test at insn {jpc}"
        else:
            return f"the bound r{other} of the exit test at insn {jpc} is not a number"
        if fact_r is None or fact_r.kind != SCALAR:
            return f"r{r} is not a number"
        rs, bs = (S.view32(fact_r.s), S.view32(bound)) if bits == 32 else (fact_r.s, bound)
        if signed:
            r_lo, r_hi, b_lo, b_hi, top, bottom = rs.smin, rs.smax, bs.smin, bs.smax, smax, -smax - 1
        else:
            r_lo, r_hi, b_lo, b_hi, top, bottom = rs.umin, rs.umax, bs.umin, bs.umax, mask, 0
        base = cond[1:] if signed else cond
        if up and base in ("jgt", "jge"):  # stays below the bound while looping: must not wrap past the top
            if b_hi + stride > top:
                return f"r{r} may wrap around before reaching {b_hi}"
            n = (b_hi - r_lo) // stride + 1
        elif not up and base in ("jlt", "jle"):
            if b_lo - stride < bottom:
                return f"r{r} may wrap around before reaching {b_lo}"
            n = (r_hi - b_lo) // stride + 1
        elif base == "jeq" and stride == 1 and bs.const is not None:
            k = b_lo
            if (up and r_hi > k) or (not up and r_lo < k):
                return f"r{r} may start past {k} and never equal it"
            n = abs(k - (r_lo if up else r_hi)) + 1
        else:
            return f"r{r} moves away from the exit test at insn {jpc}"
        if n > LOOP_LIMIT:
            return f"it may run up to {n} times, more than {LOOP_LIMIT}"
        return None

    def _drop_frame(self, st: State, depth: int) -> None:
        for i, v in enumerate(st.regs):
            if v.kind == STACK and v.aux >= depth:
                st.regs[i] = Val(UNINIT, None, 0, -1)

    def _clobber(self, pc: int, st: State, ret: Val | None) -> None:
        st.regs[0] = ret if ret is not None else UNKNOWN
        for r in (1, 2, 3, 4, 5):
            st.regs[r] = Val(UNINIT, None, 0, pc + 1)

    def helper(self, pc: int, hid: int, st: State) -> int:
        proto = self.ptype.helper(hid)
        if proto is None:
            # A helper the target or driver provides (validation allowed its id) has no prototype here: its
            # arguments are taken on trust, and it may write wherever its pointer arguments point.
            for r in (1, 2, 3, 4, 5):
                v = st.regs[r]
                if v.kind == STACK:
                    self._havoc_stack(st, v.aux)
            self._clobber(pc, st, None)
            return pc + 1
        what = f"call to bpf_{proto.name}"
        map_idx = None
        args = list(proto.args)
        for i, kind in enumerate(args):
            r = i + 1
            v = st.regs[r]
            if v.kind == UNINIT:
                if kind not in ("int", "flags"):  # a garbage number harms nothing (bpf_printk passes unset r3-r5)
                    self.read_reg(pc, st, r, f"{what} argument {r}")
                continue
            if kind == "ctx":
                if proto.name in CTX_OR_NULL and v.kind == SCALAR and v.s.const == 0:
                    continue
                if v.kind != CTX or v.s != _ZERO:
                    self._arg_fail(pc, what, r, "the context pointer", v)
            elif kind == "map":
                if v.kind != MAP_PTR:
                    self._arg_fail(pc, what, r, "a map", v)
                else:
                    map_idx = v.aux
                    if proto.name == "tail_call" and any(m.type != MapType.PROG_ARRAY for m in self._maps(v.aux)):
                        self._arg_fail(pc, what, r, "a prog array (BPF_MAP_TYPE_PROG_ARRAY)", v)
            elif kind in ("key", "value") and map_idx is not None:
                ms = self._maps(map_idx)  # the helper reads the map's own size: the largest it may be
                size = max(m.key_size if kind == "key" else m.value_size for m in ms)
                if v.kind not in (STACK, PACKET, MAP_VALUE, MAP_OR_NULL, MEM):
                    self._arg_fail(pc, what, r, f"a pointer to the {kind} (stack, packet or map value)", v)
                    continue
                self.mem_arg(pc, st, v, r, size, f"{what}: {kind} argument r{r}", write=False)
            elif kind in ("ptr", "out") or (kind in ("key", "value") and map_idx is None):
                if i + 1 < len(args) and args[i + 1] == "size":  # memory the helper reads (ptr) or writes (out)
                    sv = st.regs[r + 1]
                    size = sv.s.umax if sv.kind == SCALAR else None
                    self.mem_arg(pc, st, v, r, size, f"{what}: pointer argument r{r}", write=kind == "out")
                elif v.kind == STACK:  # a pointer of a type the specs do not describe: it may be written through
                    self._havoc_stack(st, v.aux)
            elif kind in ("int", "flags", "size"):
                if v.kind != SCALAR:
                    self._arg_fail(pc, what, r, "a scalar", v, leak=True)
        ret = None
        if proto.ret == "map_value_or_null" and map_idx is not None:
            inner = self._inner(map_idx)
            # a map-in-map's value is the inner map (the kernel and PREVAIL type it as a map of the template's
            # definition)
            ret = Val(MAP_OR_NULL, _ZERO, map_idx, pc + 1) if inner is None else Val(MAP_PTR_OR_NULL, _ZERO,
                                                                                       inner, pc + 1)
        if proto.name in PACKET_CHANGING:
            self._invalidate_packet(st, pc)
        self._clobber(pc, st, ret)
        return pc + 1

    def _arg_fail(self, pc, what, r, expected, v, leak=False):
        self.fail(pc, what, f"{what}: argument r{r} must be {expected}, not {self.describe(v)}"
                  + (" (pointer leak)" if leak else ""), access=False)

    def mem_arg(self, pc, st: State, v: Val, r: int, size: int | None, what: str, write: bool) -> None:
        """A helper reads (or writes) ``size`` bytes at ``v``: checked like an access of that size."""
        if size is not None and size > 1 << 16:
            self.fail(pc, what, f"{what}: its size (up to {size}) is not bounded", access=False)
            return
        if size is None:
            if v.kind == STACK:
                self._havoc_stack(st, v.aux)
            elif v.kind != SCALAR:
                self.fail(pc, what, f"{what}: its size is not bounded", access=False)
            return
        if size == 0:
            return
        if v.kind == STACK and v.s.const is not None and v.aux < len(st.stacks):  # the helper may copy it out
            lo = S.sx(v.s.const)
            for so in range(lo & ~7, lo + size, 8):
                slot = st.stacks[v.aux].get(so)
                if isinstance(slot, Val) and slot.kind in _POINTERS:
                    self.fail(pc, what, f"pointer leak: {what} covers r10{so:+d}, which holds {self.describe(slot)}",
                              access=False)
                    break
        if write and v.kind == STACK:
            self.access(pc, st, v, r, 0, size, True, value=UNKNOWN, what_override=what, helper=True)
        else:
            self.access(pc, st, v, r, 0, size, False, what_override=what, helper=True)

    def _invalidate_packet(self, st: State, pc: int) -> None:
        dead = Val(UNINIT, None, 0, pc + 1)
        for i, v in enumerate(st.regs):
            if v.kind in (PACKET, PKT_END, PKT_META):
                st.regs[i] = dead
        for stack in st.stacks:
            for off, slot in list(stack.items()):
                if isinstance(slot, Val) and slot.kind in (PACKET, PKT_END, PKT_META):
                    stack[off] = _UNKNOWN_BYTES
        st.saved = [tuple(dead if v.kind in (PACKET, PKT_END, PKT_META) else v for v in sv) for sv in st.saved]
        st.pkt = 0
        st.fam = {}

    def _havoc_stack(self, st: State, frame: int) -> None:
        stack = st.stacks[frame]
        for off in range(-STACK_SIZE, 0, 8):
            slot = stack.get(off)
            stack[off] = _UNKNOWN_BYTES if slot is None else tuple(-1 for _ in range(8))

    def _havoc_stacks(self, st: State) -> None:
        for i in range(len(st.stacks)):
            self._havoc_stack(st, i)

    # -- memory ----------------------------------------------------------------------------------------------------
    def access(self, pc: int, st: State, base: Val, reg: int, off: int, size: int, write: bool, **kw) -> Val:
        """Check one access; returns the loaded value (for loads)."""
        self._failed = False
        out = self._access(pc, st, base, reg, off, size, write, **kw)
        if write and self._failed and not self.assume:
            self._havoc_stacks(st)  # an unchecked bad store may have hit anything, the stack included
        return out

    def _access(self, pc: int, st: State, base: Val, reg: int, off: int, size: int, write: bool, *,
                value: Val | None = None, signed: bool = False, atomic: bool = False, what_override: str = "",
                helper: bool = False) -> Val:
        kind = base.kind
        rw = "write" if write else "read"
        region = {CTX: "context", STACK: "stack", PACKET: "packet", MAP_VALUE: "map value", MEM: "memory",
                  MAP_OR_NULL: "map value", PKT_END: "data_end", PKT_META: "data_meta", MAP_PTR: "map",
                  MAP_PTR_OR_NULL: "map",
                  SCALAR: "scalar"}.get(kind, "memory")
        what = what_override or f"{region} {rw} of {size} bytes"
        loaded = scalar_val(_sized(size, signed))
        if kind == UNINIT:
            return loaded  # read_reg reported it
        if kind == SCALAR:  # certain to fail only through NULL (a laundered pointer might still be valid)
            self.fail(pc, what, f"{what} through r{reg}, which is not a pointer ({self.describe(base)})",
                      definite=base.s.umax < 4096)
            return loaded
        if value is not None and value.kind != SCALAR and value.kind != UNINIT and kind != STACK:
            self.fail(pc, what, f"pointer leak: storing {self.describe(value)} into {region} memory",
                      access=False)
        if kind == MAP_OR_NULL:
            msg = (f"possible NULL dereference: r{reg} is {self.describe(base)} "
                   f"(check the result of the lookup at insn {base.id - 1} against NULL first)" if base.id else
                   f"possible NULL dereference: r{reg} is {self.describe(base)}")
            self.fail(pc, what, f"{what}: {msg}", check=(CHECK_NULL, reg, off, size))
            if not self.assume:
                return loaded
            base = base._replace(kind=MAP_VALUE, id=0)
            self._replace_lookup(st, st.regs[reg], base) if st.regs[reg].kind == MAP_OR_NULL else None
            kind = MAP_VALUE
        lo, hi = base.s.smin + off, base.s.smax + off + size  # the bytes that may be touched: [lo, hi)
        at = f"offset {lo}" if base.s.smin == base.s.smax else f"offset {lo}..{base.s.smax + off}"
        if kind == CTX:
            return self._ctx(pc, st, base, off, size, write, atomic, what, at, value)
        if kind == STACK:
            return self._stack(pc, st, base, reg, off, size, write, what, value, signed, helper)
        if kind == PACKET:
            fam = base.id > 0 and base.aux + off + size <= st.fam.get(base.id, 0)
            if lo >= 0 and (hi <= st.pkt or fam):
                self.ok(pc, what)
            else:
                proven = st.fam.get(base.id, 0) if base.id > 0 else st.pkt
                self._bounds_fail(pc, what, at, lo, hi, proven, (CHECK_PACKET, reg, off, size), "packet")
                if self.assume and lo >= 0:  # the check (reg + off + size <= data_end) proves this from now on
                    st.pkt = max(st.pkt, base.s.umin + off + size)
                    if base.id > 0:
                        st.fam[base.id] = max(st.fam.get(base.id, 0), base.aux + off + size)
            return loaded
        if kind == PKT_META:  # the metadata before the packet: [data_meta, data), as far as a test proved it
            if lo >= 0 and hi <= st.fam.get(_META, 0):
                self.ok(pc, what)
            else:
                self.fail(pc, what, f"{what} at {at} is beyond the proven metadata range {st.fam.get(_META, 0)} "
                          f"(check data_meta + {hi} <= data first)", definite=hi <= 0)
            return loaded
        if kind == MAP_VALUE:
            vsize = min(m.value_size for m in self._maps(base.aux))  # one of several maps: the smallest value
            if lo >= 0 and hi <= vsize:
                self.ok(pc, what)
            else:
                definite = (base.s.smin + off >= vsize or base.s.smax + off + size <= 0 or base.s.const is not None) \
                    and not isinstance(base.aux, tuple)
                self.fail(pc, what, f"{what} at {at} is outside the {vsize}-byte value of map "
                          f"{self._map_names(base.aux)}", definite=definite)
            return loaded
        if kind == MEM:
            if self.mem_size is not None:
                if lo >= 0 and hi <= self.mem_size:
                    self.ok(pc, what)
                else:
                    definite = lo >= self.mem_size or hi <= 0 or base.s.const is not None
                    self.fail(pc, what, f"{what} at {at} is outside the {self.mem_size}-byte memory block",
                              definite=definite)
            else:
                self.fail(pc, what, f"{what} at {at}: the size of the memory block is not known",
                          check=(CHECK_MEM, reg, off, size))
            return loaded
        self.fail(pc, what, f"{what} through r{reg}, which is {self.describe(base)} (not dereferenceable)",
                  definite=True)
        return loaded

    def _bounds_fail(self, pc, what, at, lo, hi, proven, check, region) -> None:
        if lo < 0:
            msg = f"{what} at {at} is before the start of the {region}"
        else:
            msg = (f"{what} at {at} is beyond the proven range {proven} "
                   f"(check data + {hi} <= data_end first)")
        self.fail(pc, what, msg, check=check)

    def _ctx(self, pc, st, base, off, size, write, atomic, what, at, value) -> Val:
        if base.s.const is None:
            self.fail(pc, what, f"{what} at a variable offset ({at}) of the context", definite=False)
            return scalar_val(_sized(size, False))
        o = base.s.smin + off
        if not self.ctx_by_off:  # tracing contexts (raw arguments): readable anywhere within
            if write and not self.ptype.writable_all:
                self.fail(pc, what, f"{what}: {self.ptype.ctx_struct} is read-only", definite=True)
            elif 0 <= o and o + size <= self.ptype.ctx_size:
                self.ok(pc, what)
            else:
                self.fail(pc, what, f"{what} at {at} is outside the {self.ptype.ctx_size}-byte "
                          f"{self.ptype.ctx_struct}", definite=True)
            return scalar_val(_sized(size, False))
        hit = None
        for foff, (name, fsize) in self.ctx_by_off.items():
            if foff <= o < foff + fsize:
                hit = (foff, name, fsize)
        if hit is None or o + size > hit[0] + hit[2]:
            self.fail(pc, what, f"{what} at {at} of {self.ptype.ctx_struct or 'the context'} is not a known "
                      f"field", definite=True)
            return scalar_val(_sized(size, False))
        foff, name, fsize = hit
        kind = _CTX_POINTERS.get(name)
        if kind is not None:
            if write or o != foff or size != fsize:
                self.fail(pc, what, f"{what} of {self.ptype.ctx_struct}.{name}: a packet pointer field can only "
                          f"be loaded whole ({fsize} bytes)", definite=True)
                return scalar_val(_sized(size, False))
            self.ok(pc, what)
            return Val(kind, _ZERO)
        if write and ((name not in self.writable and not self.ptype.writable_all) or atomic):
            self.fail(pc, what, f"{what}: {self.ptype.ctx_struct}.{name} is read-only", definite=True)
            return UNKNOWN
        if write and value is not None and value.kind not in (SCALAR, UNINIT):
            self.fail(pc, what, f"pointer leak: storing {self.describe(value)} into {self.ptype.ctx_struct}.{name}",
                      access=False)
        self.ok(pc, what)
        return scalar_val(_sized(size, False))

    def _stack(self, pc, st, base, reg, off, size, write, what, value, signed, helper) -> Val:
        frame = base.aux
        lo, hi = base.s.smin + off, base.s.smax + off + size
        fn = self._frame_fn(st, frame)
        if lo < -STACK_SIZE or hi > 0:
            at = f"r10{lo:+d}" if base.s.smin == base.s.smax else f"r10{lo:+d}..r10{base.s.smax + off:+d}"
            if lo >= 0 or hi <= -STACK_SIZE or base.s.const is not None:  # every possible address is outside
                self.fail(pc, what, f"{what} at {at} is outside the {STACK_SIZE}-byte frame [r10-512, r10)"
                          + (" (it would overwrite what lies above the frame, e.g. the return address)"
                             if write and hi > 0 else ""), definite=True)
            elif frame == len(st.stacks) - 1:  # a run-time check compares with this frame's r10
                self.fail(pc, what, f"{what} at {at} may leave the {STACK_SIZE}-byte frame",
                          check=(CHECK_STACK, reg, off, size))
            else:
                self.fail(pc, what, f"{what} at {at} may leave the {STACK_SIZE}-byte frame of a caller")
            if not self.assume:
                    return scalar_val(_sized(size, signed))
            lo, hi = max(lo, -STACK_SIZE), min(hi, 0)
            if lo >= hi:
                return scalar_val(_sized(size, signed))
            size = min(size, hi - lo)
        self.depth[fn] = max(self.depth.get(fn, 0), -lo)
        stack = st.stacks[frame]
        variable = base.s.smin != base.s.smax
        if write:
            if value is not None and variable:
                for so in range(lo & ~7, hi, 8):
                    slot = stack.get(so)
                    old = _as_bytes(slot) if slot is not None else (None,) * 8
                    stack[so] = tuple(b if b in (None, _MAYBE) and not lo <= so + i < hi else
                                      (_MAYBE if b in (None, _MAYBE) else -1) for i, b in enumerate(old))
                self.ok(pc, what)
                return UNKNOWN
            o = lo
            if size == 8 and o % 8 == 0 and value is not None and not helper:
                stack[o] = value
            else:
                data = _value_bytes(value, size)
                for i in range(size):
                    so, bi = (o + i) & ~7, (o + i) & 7
                    slot = list(_as_bytes(stack.get(so, (None,) * 8)))
                    slot[bi] = data[i]
                    stack[so] = tuple(slot)
            self.ok(pc, what)
            return UNKNOWN
        # read: every byte that may be read must be initialised
        missing, maybe = [], False
        for a in range(lo, hi):
            slot = stack.get(a & ~7)
            b = None if slot is None else _as_bytes(slot)[a & 7]
            if b is None or b == _MAYBE:
                missing.append(a)
                maybe |= b == _MAYBE
        if missing:
            definite = not variable and not maybe
            rng = f"r10{missing[0]:+d}" + (f"..r10{missing[-1]:+d}" if len(missing) > 1 else "")
            self.fail(pc, what, f"{what} at r10{lo:+d} reads uninitialised stack ({rng})", definite=definite)
            return scalar_val(_sized(size, signed))
        self.ok(pc, what)
        if variable:
            return scalar_val(_sized(size, signed))
        slot = stack.get(lo)
        if size == 8 and lo % 8 == 0 and isinstance(slot, Val):
            return slot
        data = [_as_bytes(stack[(lo + i) & ~7])[(lo + i) & 7] for i in range(size)]
        if all(b is not None and b >= 0 for b in data):  # every byte known
            v = int.from_bytes(bytes(data), "little")
            return scalar_val(S.const(S.sx(v, size * 8) if signed else v))
        return scalar_val(_sized(size, signed))

    def _frame_fn(self, st: State, frame: int) -> int:
        """The function whose frame number ``frame`` is, on the call chain being explored."""
        if frame == 0 or frame > len(self.chain):
            return 0
        call = self.chain[frame - 1] - 1
        return call + 1 + self.insns[call].imm


def _round8(n: int) -> int:
    return (n + 7) & ~7


def _signed(s: Scalar) -> str:
    if s.const is not None:
        return f"{S.sx(s.const):+d}"
    return f"+{s}"


def _sized(size: int, signed: bool) -> Scalar:
    if signed:
        return S.srange(-(1 << (size * 8 - 1)), (1 << (size * 8 - 1)) - 1)
    return S.urange(0, (1 << (size * 8)) - 1) if size < 8 else S.UNKNOWN


def _value_bytes(value: Val | None, size: int) -> list:
    if value is not None and value.kind == SCALAR and value.s.const is not None:
        return list((value.s.const & ((1 << (8 * size)) - 1)).to_bytes(size, "little"))
    return [-1] * size


_NEG = {"jgt": "jle", "jge": "jlt", "jlt": "jge", "jle": "jgt", "jeq": "jne", "jne": "jeq", "jsgt": "jsle",
        "jsge": "jslt", "jslt": "jsge", "jsle": "jsgt"}
_SWAP = {"jgt": "jlt", "jge": "jle", "jlt": "jgt", "jle": "jge", "jeq": "jeq", "jne": "jne", "jsgt": "jslt",
         "jsge": "jsle", "jslt": "jsgt", "jsle": "jsge"}  # a OP b == b SWAP[OP] a


def _on_path(ancestor: State, st: State) -> bool:
    """Whether ``st`` descends from ``ancestor`` (a state kept at a loop head)."""
    mine = ancestor.path[0] if ancestor.path else None
    p = st.path
    while p:
        if p[0] == mine:
            return True
        p = p[1]
    return False


def _last_insn(cfg, blk) -> int:
    pc = blk.end - 1
    return pc - 1 if cfg.second[pc] else pc


def _step_of(insn) -> int:
    info = OPCODES[insn.opcode]
    return S.sx(insn.imm & S.M32, 32) * (1 if info.op == "add" else -1)


def _writes(insn, r: int, bits: int) -> int | None:
    """How ``insn`` changes register ``r``: None (it does not), a nonzero constant step, or 0 (anything else)."""
    info = OPCODES[insn.opcode]
    if info is None:
        return None
    kind = info.kind
    if kind in (Kind.CALL, Kind.CALLX, Kind.LD_ABS, Kind.LD_IND):
        return 0 if r <= 5 else None
    if kind == Kind.ATOMIC:
        return 0 if (insn.imm & 1 and r == insn.src) or (insn.imm == 0xF1 and r == 0) else None
    if kind in (Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.LD_IMM64) and insn.dst == r:
        if kind == Kind.ALU and info.op in ("add", "sub") and not info.src_reg and insn.imm and (
                info.cls == Cls.ALU64 or bits == 32):
            return _step_of(insn)
        return 0
    return None


def _cycle_avoiding(cfg, head: int, body: set[int], avoid: set[int]) -> bool:
    """Whether some cycle through the loop's head passes none of the instructions in ``avoid``."""
    def hit(b):
        blk = cfg.blocks[b]
        return any(pc in avoid for pc in range(blk.start, blk.end))

    if hit(head):
        return False
    seen, todo = set(), [s for s in cfg.blocks[head].succs if s in body]
    while todo:
        b = todo.pop()
        if b == head:
            return True
        if b in seen or hit(b):
            continue
        seen.add(b)
        todo.extend(s for s in cfg.blocks[b].succs if s in body)
    return False


# -- public entry points -------------------------------------------------------------------------------------------

def analyse(program: Program, *, mem_size: int | None = None, assume_checks: bool = True,
            budget: int = DEFAULT_BUDGET) -> Analysis:
    """Run the abstract interpretation over a (validated) program and return everything it found."""
    return Verifier(program, mem_size=mem_size, assume_checks=assume_checks, budget=budget).run()


def verify(program: Program, *, mem_size: int | None = None, checked: bool = False,
           budget: int = DEFAULT_BUDGET) -> Analysis:
    """Prove ``program`` safe or raise a ValidationError naming the first instruction that is not.

    :param checked: accept what a run-time check can make safe (``--safety=checked``); else everything must be
        proven (``--safety=verify``).
    :param mem_size: for ``mem`` programs, the size of the memory block r1 points to, when known.
    """
    from .validate import validate

    validate(program)
    result = analyse(program, mem_size=mem_size, budget=budget)
    if not result.complete:
        raise ValidationError(result.too_complex, file=program.file, section=program.section,
                              insn=max(result.facts) if result.facts else None)
    problems = result.problems(checked)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ValidationError(first.message + more, file=program.file, section=program.section, insn=first.pc)
    return result


@dataclass(frozen=True)
class RegFact:
    """What holds for one register before one instruction, on every path the program can take."""

    kind: str  # "scalar", "uninit", or the pointer kind ("ctx", "stack", "packet", "map_value", ...)
    umin: int = 0
    umax: int = S.M64
    smin: int = S.S64_MIN
    smax: int = S.S64_MAX
    known_bits: int = 0  # value of the bits in known_mask
    known_mask: int = 0  # 1 = that bit is known

    @property
    def const(self) -> int | None:
        return self.known_bits if self.kind == "scalar" and self.known_mask == S.M64 else None


_KIND_NAMES = {UNINIT: "uninit", SCALAR: "scalar", CTX: "ctx", STACK: "stack", PACKET: "packet",
               PKT_END: "packet_end", PKT_META: "packet_meta", MAP_VALUE: "map_value", MAP_OR_NULL: "map_value_or_null",
               MAP_PTR: "map", MEM: "mem", MAP_PTR_OR_NULL: "map_or_null"}


class ValueFacts:
    """Per-instruction facts about register values (``value_facts``): what a legaliser or selector may rely on.

    ``facts.known_constant(pc, reg)`` is the value ``reg`` holds on every path reaching instruction ``pc``
    (before it executes), or None; ``facts.reg(pc, reg)`` gives the full ``RegFact`` (ranges and known bits; a
    pointer's ranges describe its offset in its region). Facts are sound for the program as written, whether or
    not it is safe; an instruction no path reaches, or a program too complex to analyse, has no facts.
    """

    def __init__(self, analysis: Analysis | None):
        self._facts = analysis.facts if analysis is not None and analysis.complete else {}

    def reachable(self, pc: int) -> bool:
        return pc in self._facts

    def reg(self, pc: int, reg: int) -> RegFact | None:
        regs = self._facts.get(pc)
        if regs is None:
            return None
        v = regs[reg]
        if v.s is None:
            return RegFact(_KIND_NAMES[v.kind])
        s = v.s
        return RegFact(_KIND_NAMES[v.kind], s.umin, s.umax, s.smin, s.smax, s.tv, S.M64 & ~s.tm)

    def known_constant(self, pc: int, reg: int) -> int | None:
        """The unsigned 64-bit value of scalar register ``reg`` before instruction ``pc`` if it is always the same."""
        regs = self._facts.get(pc)
        if regs is None:
            return None
        v = regs[reg]
        return v.s.const if v.kind == SCALAR else None


def value_facts(program: Program, *, budget: int = DEFAULT_BUDGET) -> ValueFacts:
    """Known constants and ranges of every register before every instruction of ``program``."""
    return ValueFacts(analyse(program, assume_checks=False, budget=budget))


def known_constant(facts: ValueFacts, insn_index: int, reg: int) -> int | None:
    """``facts.known_constant(insn_index, reg)``: the value ``reg`` always holds before that instruction, or None."""
    return facts.known_constant(insn_index, reg)


# -- the command line -----------------------------------------------------------------------------------------------

def verdict(analysis: Analysis, ignore: tuple[str, ...] = ()) -> tuple[str, dict[str, int]]:
    """("safe" | "checked" | "rejected", counts): safe = every access proven; checked = safe once the run-time
    checks of ``--safety=checked`` are in; rejected = something can be neither proven nor checked. ``ignore``
    leaves out findings of those categories (comparing with a verifier that does not check them)."""
    c = analysis.counts()
    counts = {"proven": c["proven"], "checked": c["checked"] + c["fault"], "rejected": c["rejected"]}
    errors = [e.status for e in analysis.errors.values() if e.category not in ignore]
    if not analysis.complete or c["rejected"] or "rejected" in errors:
        return "rejected", counts
    if counts["checked"] or "fault" in errors or "checked" in errors:
        return "checked", counts
    return "safe", counts


def cmd_verify(args) -> int:
    import json

    from ..errors import BpfxError, UsageError
    from .loader import load

    obj = load(args.file, prog_type=args.prog_type)
    mem_size = args.mem_size
    if args.mem:
        try:
            with open(args.mem, "rb") as f:
                mem_size = len(f.read())
        except OSError as exc:
            raise BpfxError(f"cannot read memory file: {exc.strerror}", file=args.mem) from None
    if mem_size is not None and mem_size < 0:
        raise UsageError("--mem-size must not be negative")
    programs = [obj.program(args.section)] if args.section else obj.programs
    worst, report = 0, []
    for prog in programs:
        analysis = analyse(prog, mem_size=mem_size, budget=args.budget)
        state, counts = verdict(analysis)
        worst = max(worst, {"safe": 0, "checked": 0, "rejected": 1}[state])
        items = sorted([a for a in list(analysis.accesses.values()) + list(analysis.errors.values())
                        if a.status != "proven"], key=lambda a: a.pc)
        if not analysis.complete:
            items = []
        report.append((prog, state, counts, items, analysis.too_complex))
    if args.json:
        print(json.dumps([{"section": p.section, "name": p.name, "verdict": st, **counts,
                           "findings": [{"insn": a.pc, "status": a.status, "message": a.message} for a in items]
                           + ([{"insn": None, "status": "rejected", "message": tc}] if tc else [])}
                          for p, st, counts, items, tc in report], indent=2))
        return worst
    for prog, state, counts, items, tc in report:
        print(f"{prog.file}:{prog.section}: {state} (accesses: {counts['proven']} proven, {counts['checked']} "
              f"checked, {counts['rejected']} rejected)")
        if tc:
            print(f"  {tc}")
        for a in items:
            tag = {"checked": "check", "fault": "fault", "rejected": "REJECT"}[a.status]
            print(f"  insn {a.pc}: [{tag}] {a.message}")
    return worst


def register(sub) -> None:
    p = sub.add_parser("verify", help="prove programs memory-safe; report what needs run-time checks",
                       description="Run the verifier on every program of FILE (or --section) and print its verdict: "
                                   "safe (every access proven), checked (safe with the run-time checks that "
                                   "--safety=checked compiles in), or rejected; with the count of accesses proven, "
                                   "checked and rejected, and one line per finding. Exit status 1 if any program is "
                                   "rejected.")
    p.add_argument("file", help="BPF ELF object (.o), assembly (.s) or raw instructions (.bin)")
    p.add_argument("--section", "-s", help="only this program (section or function name)")
    p.add_argument("--prog-type", help="program type for .s/.bin input (default mem)")
    p.add_argument("--mem", help="for mem programs: the memory block r1 will point to (its size is what counts)")
    p.add_argument("--mem-size", type=int, help="for mem programs: the size of the memory block")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="instructions to step (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    p.set_defaults(func=cmd_verify)
