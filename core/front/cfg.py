"""Control-flow graph: blocks, edges, functions, dominators, back-edges; lazily, liveness and ctx provenance.

``ctx_accesses`` answers the question context rewriting needs: which loads
and stores go through the context pointer, and at which UAPI offset. It is a
forward dataflow over each function that tracks the pointer through register
copies, constant adds, 8-byte spills and fills through r10, and r1-r5 into
bpf-to-bpf calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..errors import ValidationError
from .isa import OPCODES, R10, CallKind, Cls, Kind
from .program import Program, gc_paused
from .progtypes import prog_type as get_prog_type
from .validate import function_starts, second_slots

_OTHER, _JA, _JCOND, _EXIT = 0, 1, 2, 3
_T_KIND = np.array([_JA if i and i.kind == Kind.JA else _JCOND if i and i.kind == Kind.JCOND
                    else _EXIT if i and i.kind == Kind.EXIT else _OTHER for i in OPCODES], dtype=np.int8)
_T_JA_IMM = np.array([bool(i and i.kind == Kind.JA and i.cls == Cls.JMP32) for i in OPCODES])
_T_JA_OFF = np.array([bool(i and i.kind == Kind.JA and i.cls == Cls.JMP) for i in OPCODES])
_T_JCOND = _T_KIND == _JCOND
_T_ENDS = _T_KIND != _OTHER


@dataclass
class Block:
    index: int
    start: int
    end: int  # one past the last slot
    function: int  # start slot of the function it belongs to
    succs: list[int] = field(default_factory=list)
    preds: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class CtxAccess:
    offset: int  # UAPI context offset of the access
    size: int
    is_store: bool


_CONFLICT = "conflict"  # a register that is ctx on one path and something else on another


class CFG:
    def __init__(self, program: Program):
        self.program = program
        op, _dst, src, off, imm = arrays = program.arrays()
        n = len(op)
        self.second = second_slots(op)
        self.functions = function_starts(program, arrays)
        idx = np.arange(n, dtype=np.int64)
        ja_imm, ja_off, jcond, ends_block = _T_JA_IMM[op], _T_JA_OFF[op], _T_JCOND[op], _T_ENDS[op]
        ends_block &= ~self.second
        target = np.where(ja_imm, idx + 1 + imm, idx + 1 + off)
        leaders = np.unique(np.concatenate((np.array(self.functions, dtype=np.int64), target[(ja_imm | ja_off | jcond)
                                            & ~self.second], idx[ends_block] + 1)))
        starts = leaders[(leaders >= 0) & (leaders < n)]
        block_ends = np.append(starts[1:], n)
        last = block_ends - 1
        last -= self.second[last]  # a block never ends inside an lddw
        fn_of = np.array(self.functions, dtype=np.int64)[np.searchsorted(self.functions, starts, side="right") - 1]
        self.blocks = [Block(i, s, e, f) for i, (s, e, f) in enumerate(zip(starts.tolist(), block_ends.tolist(),
                                                                            fn_of.tolist()))]
        self.block_at = {b.start: b.index for b in self.blocks}
        function_set = set(self.functions)
        kinds = _T_KIND[op[last]].tolist()
        for block, kind, tgt in zip(self.blocks, kinds, target[last].tolist()):
            succs = []
            if kind == _JA:
                succs.append(tgt)
            elif kind == _JCOND:
                succs += [block.end, tgt]
            elif kind != _EXIT and block.end < n and block.end not in function_set:
                succs.append(block.end)
            for t in dict.fromkeys(succs):
                b = self.block_at.get(t)
                if b is not None:
                    block.succs.append(b)
                    self.blocks[b].preds.append(block.index)

    def _rpo(self, fn: int) -> list[int]:
        """Blocks of the function at ``fn`` reachable from its entry, in reverse post-order (iterative DFS)."""
        entry = self.block_at[fn]
        seen, order, stack = {entry}, [], [(entry, iter(self.blocks[entry].succs))]
        while stack:
            b, it = stack[-1]
            for s in it:
                if s not in seen:
                    seen.add(s)
                    stack.append((s, iter(self.blocks[s].succs)))
                    break
            else:
                order.append(b)
                stack.pop()
        return order[::-1]

    @cached_property
    def idom(self) -> dict[int, int]:
        """Block -> its immediate dominator (a function's entry block maps to itself); Cooper, Harvey, Kennedy."""
        idom: dict[int, int] = {}
        for fn in self.functions:
            rpo = self._rpo(fn)
            index = {b: i for i, b in enumerate(rpo)}
            entry = rpo[0]
            idom[entry] = entry
            changed = True
            while changed:
                changed = False
                for b in rpo[1:]:
                    new = None
                    for p in self.blocks[b].preds:
                        if p not in idom or p not in index:
                            continue
                        if new is None:
                            new = p
                            continue
                        a, c = p, new
                        while a != c:
                            while index[a] > index[c]:
                                a = idom[a]
                            while index[c] > index[a]:
                                c = idom[c]
                        new = a
                    if new is not None and idom.get(b) != new:
                        idom[b] = new
                        changed = True
        return idom

    @property
    def dominators(self) -> _Dominators:
        """Block -> the set of blocks dominating it, computed on access from ``idom``."""
        return _Dominators(self.idom)

    @cached_property
    def back_edges(self) -> list[tuple[int, int]]:
        """Edges to a block on the current DFS path: the loops (for the reducible CFGs clang emits, exactly the
        edges whose target dominates their source)."""
        edges = []
        for fn in self.functions:
            entry = self.block_at[fn]
            state = {entry: 1}  # 1 on the DFS path, 2 finished
            stack = [(entry, iter(self.blocks[entry].succs))]
            while stack:
                b, it = stack[-1]
                for s in it:
                    if state.get(s) == 1:
                        edges.append((b, s))
                    elif s not in state:
                        state[s] = 1
                        stack.append((s, iter(self.blocks[s].succs)))
                        break
                else:
                    state[b] = 2
                    stack.pop()
        return sorted(edges)

    # -- liveness -------------------------------------------------------------------------------------------------
    def _use_def(self, pc: int) -> tuple[set[int], set[int]]:
        insn = self.program.insns[pc]
        info = OPCODES[insn.opcode]
        kind = info.kind
        use: set[int] = set()
        define: set[int] = set()
        if kind == Kind.ALU:
            if info.op != "mov":
                use.add(insn.dst)
            if info.src_reg:
                use.add(insn.src)
            define.add(insn.dst)
        elif kind == Kind.ENDIAN:
            use.add(insn.dst)
            define.add(insn.dst)
        elif kind == Kind.JCOND:
            use.add(insn.dst)
            if info.src_reg:
                use.add(insn.src)
        elif kind in (Kind.LDX, Kind.LDXSX):
            use.add(insn.src)
            define.add(insn.dst)
        elif kind == Kind.ST:
            use.add(insn.dst)
        elif kind in (Kind.STX, Kind.ATOMIC):
            use |= {insn.dst, insn.src}
            if kind == Kind.ATOMIC and insn.imm & 1:
                define.add(0 if insn.imm == 0xF1 else insn.src)
                if insn.imm == 0xF1:
                    use.add(0)
        elif kind == Kind.LD_IMM64:
            define.add(insn.dst)
        elif kind in (Kind.CALL, Kind.CALLX):
            use |= {1, 2, 3, 4, 5} | ({insn.dst} if kind == Kind.CALLX else set())
            define |= {0, 1, 2, 3, 4, 5}
        elif kind == Kind.EXIT:
            use.add(0)
        return use, define

    @cached_property
    def live_in(self) -> dict[int, frozenset[int]]:
        live_in = {b.index: frozenset() for b in self.blocks}
        live_out = {b.index: frozenset() for b in self.blocks}
        summaries = {}
        for b in self.blocks:
            use: set[int] = set()
            define: set[int] = set()
            for pc in self._slots(b):
                u, d = self._use_def(pc)
                use |= u - define
                define |= d
            summaries[b.index] = (frozenset(use), frozenset(define))
        changed = True
        while changed:
            changed = False
            for b in reversed(self.blocks):
                out = frozenset().union(*(live_in[s] for s in b.succs)) if b.succs else frozenset()
                use, define = summaries[b.index]
                new_in = use | (out - define)
                if new_in != live_in[b.index] or out != live_out[b.index]:
                    live_in[b.index], live_out[b.index] = new_in, out
                    changed = True
        self._live_out = live_out
        return live_in

    @property
    def live_out(self) -> dict[int, frozenset[int]]:
        self.live_in  # noqa: B018 - computes both
        return self._live_out

    def live_after(self, pc: int) -> frozenset[int]:
        """Registers live right after instruction ``pc``."""
        block = self.blocks[self.block_of(pc)]
        live = set(self.live_out[block.index])
        for slot in reversed(list(self._slots(block))):
            if slot == pc:
                return frozenset(live)
            u, d = self._use_def(slot)
            live = (live - d) | u
        raise ValueError(f"{pc} is not an instruction start")

    def block_of(self, pc: int) -> int:
        lo, hi = 0, len(self.blocks) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.blocks[mid].start <= pc:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _slots(self, block: Block):
        second = self.second
        for pc in range(block.start, block.end):
            if not second[pc]:
                yield pc

    # -- ctx provenance -------------------------------------------------------------------------------------------
    @cached_property
    def ctx_accesses(self) -> dict[int, CtxAccess]:
        program = self.program
        if not get_prog_type(program.prog_type).ctx_struct:
            return {}
        entry_state: dict[int, dict] = {fn: {} for fn in self.functions}
        entry_state[self.functions[0]] = {"r": {1: 0}, "s": {}}
        accesses: dict[int, CtxAccess | str] = {}
        for _ in range(len(self.functions) + 1):  # callee entry states settle in as many rounds as call depth
            changed = False
            for fn in self.functions:
                if not entry_state[fn]:
                    continue
                for callee, state in self._flow(fn, entry_state[fn], accesses).items():
                    merged = _merge(entry_state[callee], state) if entry_state[callee] else state
                    if merged != entry_state[callee]:
                        entry_state[callee] = merged
                        changed = True
            if not changed:
                break
        out = {}
        for pc, acc in accesses.items():
            if acc == _CONFLICT:
                raise ValidationError("ambiguous pointer: this access uses the context pointer on one path and "
                                      "another pointer on another", file=program.file, section=program.section,
                                      insn=pc)
            if acc is not None:
                out[pc] = acc
        return out

    def _flow(self, fn: int, entry: dict, accesses: dict) -> dict[int, dict]:
        """Propagate ctx provenance through one function; returns callee -> state at its call sites."""
        insns = self.program.insns
        block_states: dict[int, dict] = {self.block_at[fn]: entry}
        work = [self.block_at[fn]]
        calls: dict[int, dict] = {}
        while work:
            b = work.pop()
            state = {"r": dict(block_states[b]["r"]), "s": dict(block_states[b]["s"])}
            block = self.blocks[b]
            for pc in self._slots(block):
                self._step(pc, insns[pc], state, accesses, calls)
            for s in block.succs:
                new = _merge(block_states[s], state) if s in block_states else state
                if s not in block_states or new != block_states[s]:
                    block_states[s] = new
                    work.append(s)
        return calls

    def _step(self, pc, insn, state, accesses, calls) -> None:
        regs, slots = state["r"], state["s"]
        info = OPCODES[insn.opcode]
        kind = info.kind

        def record(base: int, size: int, store: bool) -> None:
            prov = regs.get(base)
            acc = _CONFLICT if prov == _CONFLICT else (None if prov is None else
                                                        CtxAccess(prov + insn.off, size, store))
            if pc in accesses and accesses[pc] != acc:
                acc = _CONFLICT
            accesses[pc] = acc

        if kind == Kind.ALU:
            if info.cls == Cls.ALU64 and info.op == "mov" and info.src_reg and not insn.off:
                _set(regs, insn.dst, regs.get(insn.src))
            elif info.cls == Cls.ALU64 and info.op in ("add", "sub") and not info.src_reg and \
                    isinstance(regs.get(insn.dst), int):
                regs[insn.dst] += insn.imm if info.op == "add" else -insn.imm
            else:
                regs.pop(insn.dst, None)
        elif kind == Kind.ENDIAN or kind == Kind.LD_IMM64:
            regs.pop(insn.dst, None)
        elif kind in (Kind.LDX, Kind.LDXSX):
            record(insn.src, info.size, False)
            if insn.src == R10 and info.size == 8 and insn.off in slots:
                _set(regs, insn.dst, slots[insn.off])
            else:
                regs.pop(insn.dst, None)
        elif kind in (Kind.ST, Kind.STX, Kind.ATOMIC):
            record(insn.dst, info.size, True)
            if insn.dst == R10:
                for off in [o for o in slots if o < insn.off + info.size and insn.off < o + 8]:
                    del slots[off]
                if kind == Kind.STX and info.size == 8 and regs.get(insn.src) is not None:
                    slots[insn.off] = regs[insn.src]
            if kind == Kind.ATOMIC and insn.imm & 1:
                regs.pop(0 if insn.imm == 0xF1 else insn.src, None)
        elif kind in (Kind.CALL, Kind.CALLX):
            if kind == Kind.CALL and insn.src == CallKind.LOCAL:
                callee = pc + 1 + insn.imm
                args = {r: regs[r] for r in (1, 2, 3, 4, 5) if r in regs}
                site = {"r": args, "s": {}}
                calls[callee] = _merge(calls[callee], site) if callee in calls else site
            for r in (0, 1, 2, 3, 4, 5):
                regs.pop(r, None)

    def to_dot(self) -> str:
        name = self.program.name
        lines = [f'digraph "{name}" {{', "  node [shape=box fontname=monospace];"]
        from .asm import format_insn

        insns = self.program.insns
        for b in self.blocks:
            body = "\\l".join(f"{pc}: {format_insn(insns[pc], insns[pc + 1] if pc + 1 < len(insns) else None)}"
                              .replace('"', '\\"') for pc in self._slots(b))
            lines.append(f'  b{b.index} [label="{body}\\l"];')
            for s in b.succs:
                style = " [style=dashed]" if (b.index, s) in self.back_edges else ""
                lines.append(f"  b{b.index} -> b{s}{style};")
        lines.append("}")
        return "\n".join(lines) + "\n"


class _Dominators:
    def __init__(self, idom: dict[int, int]):
        self.idom = idom

    def __getitem__(self, block: int) -> set[int]:
        out = {block}
        while self.idom.get(block, block) != block:
            block = self.idom[block]
            out.add(block)
        return out


def _set(regs: dict, reg: int, value) -> None:
    if value is None:
        regs.pop(reg, None)
    else:
        regs[reg] = value


def _merge(a: dict, b: dict) -> dict:
    regs = {}
    for r in set(a["r"]) | set(b["r"]):
        va, vb = a["r"].get(r), b["r"].get(r)
        regs[r] = va if va == vb else _CONFLICT
    slots = {}
    for o in set(a["s"]) | set(b["s"]):
        va, vb = a["s"].get(o), b["s"].get(o)
        slots[o] = va if va == vb else _CONFLICT
    return {"r": regs, "s": slots}


def build_cfg(program: Program) -> CFG:
    with gc_paused():  # an object or three per block
        return CFG(program)
