"""A base for instruction selectors: dispatch by instruction kind, and memoised pure lowerings.

Every table-driven selector needs the same two things, so they live here rather than in each plugin: a
256-entry opcode table built from the subclass's per-kind lowerings (what ``lower`` dispatches through and
what the codegen driver's fast path calls directly), and a cache of the bytes a pure lowering produced, so the
same instruction in the same frame is encoded once.
"""

from __future__ import annotations

from collections.abc import Callable

from ..front.isa import OPCODES, Kind

Lowering = Callable  # (cg, pc, insn, nxt) -> None
_ASK = object()  # a memoised lowering called without its key computes it


def _unbound(fn: Lowering, owner) -> Callable:
    """``fn`` as a function of (owner, *args): a bound method of ``owner`` unbound, anything else wrapped."""
    if getattr(fn, "__self__", None) is owner:
        return fn.__func__
    return lambda _owner, *args: fn(*args)


class TableSelector:
    """Subclass it, define :meth:`lowerings`, and call :meth:`use_frame` from the prologue.

    A lowering is *pure* when its bytes depend only on the instruction (and, through r10, on the frame's stack
    size) and it emits no branch and no relocation: those are memoised per frame stack size. The default pure
    kinds are ALU, byte swaps, loads and stores; override :meth:`is_pure` to change that, and :meth:`memo_key`
    when the bytes also depend on context (return None there to lower without the cache).
    """

    PURE_KINDS = frozenset({Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.ST, Kind.STX})

    def __init__(self) -> None:
        by_kind = {kind: _unbound(fn, self) for kind, fn in self.lowerings().items()}
        # (self, cg, pc, insn, nxt) -> None: bound methods kept here would make the selector a reference cycle,
        # which (with its memos) only the cyclic garbage collector frees, at a cost of ~5% of a 1M-insn compile
        self._lower: list[Callable | None] = [by_kind.get(info.kind) if info else None for info in OPCODES]
        self._memos: dict[int, dict] = {}  # frame stack size -> {key: bytes}
        self.memo: dict = {}  # the current frame's: what the driver looks a memoised instruction up in first

    def lowerings(self) -> dict[Kind, Lowering]:
        """Instruction kind -> lowering (calls and exits are the core's)."""
        raise NotImplementedError

    def use_frame(self, stack_size: int) -> None:
        """Select the memo for a frame of ``stack_size`` bytes (r10-relative code depends on it)."""
        self.memo = self._memos.setdefault(stack_size, {})

    def is_pure(self, info) -> bool:
        return info.kind in self.PURE_KINDS

    def memo_key(self, cg, pc: int, insn):
        """What the bytes of a pure lowering depend on besides the frame (None: do not memoise this one)."""
        return insn

    def keyed(self, info) -> bool:
        """Whether :meth:`memo_key` is asked for this opcode (else the instruction is the key): by default for
        every opcode once ``memo_key`` is overridden; narrowing it saves a call per instruction."""
        return type(self).memo_key is not TableSelector.memo_key

    def lower(self, cg, pc: int, insn, nxt) -> None:
        fn = self._lower[insn.opcode]
        if fn is None:
            raise cg.unsupported(pc, f"opcode 0x{insn.opcode:02x}")
        fn(self, cg, pc, insn, nxt)

    def lowering_table(self) -> list[Lowering | None]:
        """Opcode -> lowering (None: unsupported), pure ones memoised; the codegen driver calls it directly."""
        table = [None if fn is None else fn.__get__(self) for fn in self._lower]
        for op, info in enumerate(OPCODES):
            if info is not None and table[op] is not None and self.is_pure(info):
                table[op] = self._memoised(table[op], self.keyed(info))
        return table

    def memo_plan(self) -> list[bool | None]:
        """Opcode -> None (not memoised), False (the instruction is the memo key) or True (``memo_key`` gives it):
        the codegen driver looks the bytes up in :attr:`memo` itself and calls the lowering only on a miss
        (never for lddw, which takes two slots), handing it the key it computed (``memo_key`` is asked once per
        instruction)."""
        return [None if info is None or info.kind == Kind.LD_IMM64 or self._lower[op] is None or not self.is_pure(info)
                else self.keyed(info) for op, info in enumerate(OPCODES)]

    def _memoised(self, fn: Lowering, keyed: bool) -> Lowering:
        key_of = self.memo_key

        def lower(cg, pc, insn, nxt, key=_ASK):
            if key is _ASK:
                key = key_of(cg, pc, insn) if keyed else insn
            if key is None:
                fn(cg, pc, insn, nxt)
                return
            memo = self.memo
            code = memo.get(key)
            em = cg.em
            if code is None:
                start, branches, relocs = len(em.code), len(em.branches), len(em.relocs)
                fn(cg, pc, insn, nxt)
                assert len(em.branches) == branches and len(em.relocs) == relocs, "a memoised lowering branched"
                memo[key] = bytes(em.code[start:])
            else:
                em.code += code

        return lower
