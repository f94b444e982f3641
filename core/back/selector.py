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


def _unbound(fn: Lowering, owner) -> Callable:
    """``fn`` as a function of (owner, *args): a bound method of ``owner`` unbound, anything else wrapped."""
    if getattr(fn, "__self__", None) is owner:
        return fn.__func__
    return lambda _owner, *args: fn(*args)


#: How the codegen driver keys an opcode's memoised lowering (``TableSelector.keyed``, ``memo_plan``):
BY_INSN = 0  # the instruction itself (a conditional jump: without its offset, which only the branch encodes)
BY_SELECTOR = 1  # ``memo_key(cg, pc, insn)``'s answer (None: lower it without the memo)
#: (the instruction, whether the upper half of the register it writes may be read after it: ``cg.upper_live_after()``;
#: the register is the dst, an atomic fetch's src or cmpxchg's r0, none for a plain atomic), for a core whose 32-bit
#: operations do not zero-extend, where the lowering adds the extension only when it is live
BY_UPPER = 2


class TableSelector:
    """Subclass it, define :meth:`lowerings`, and call :meth:`use_frame` from the prologue.

    A lowering is *pure* when its bytes depend only on the instruction (and, through r10, on the frame's stack
    size) and it emits no branch and no relocation: those are memoised per frame stack size. A conditional jump
    is pure when it emits pure bytes and then one branch to its target, last (``cg.em.branch(target, forms)``):
    the memo then keeps those bytes and the branch's forms. The default pure kinds are ALU, byte swaps, loads and
    stores; override :meth:`is_pure` to change that, :meth:`keyed` and :meth:`memo_key` when the bytes also
    depend on context.
    """

    PURE_KINDS = frozenset({Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.ST, Kind.STX})

    def __init__(self) -> None:
        by_kind = {kind: _unbound(fn, self) for kind, fn in self.lowerings().items()}
        # (self, cg, pc, insn, nxt) -> None: bound methods kept here would make the selector a reference cycle,
        # which (with its memos) only the cyclic garbage collector frees, at a cost of ~5% of a 1M-insn compile
        self._lower: list[Callable | None] = [by_kind.get(info.kind) if info else None for info in OPCODES]
        # frame stack size -> {key: bytes, or for a jump (bytes before the branch, its forms, its placeholder)}
        self._memos: dict[int, dict] = {}
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
        """The key of a pure lowering whose opcode :meth:`keyed` gives BY_SELECTOR (None: lower this one without
        the memo)."""
        return insn

    def keyed(self, info) -> int:
        """How a pure opcode's memo is keyed: BY_INSN, BY_SELECTOR or BY_UPPER. By default BY_SELECTOR for every
        opcode once :meth:`memo_key` is overridden; narrowing it saves a call per instruction."""
        return BY_SELECTOR if type(self).memo_key is not TableSelector.memo_key else BY_INSN

    def lower(self, cg, pc: int, insn, nxt) -> None:
        fn = self._lower[insn.opcode]
        if fn is None:
            raise cg.unsupported(pc, f"opcode 0x{insn.opcode:02x}")
        fn(self, cg, pc, insn, nxt)

    def lowering_table(self) -> list[Lowering | None]:
        """Opcode -> lowering (None: unsupported); the codegen driver calls it directly. A memoised one (see
        :meth:`memo_plan`) takes the key as a fifth argument: it looks the bytes up and lowers only on a miss."""
        table = [None if fn is None else fn.__get__(self) for fn in self._lower]
        for op, keyed in enumerate(self.memo_plan()):
            if keyed is not None:
                table[op] = self._memoised(table[op], OPCODES[op].kind == Kind.JCOND)
        return table

    def memo_plan(self) -> list[int | None]:
        """Opcode -> None (not memoised) or how its memo is keyed (:meth:`keyed`): the codegen driver makes the
        key, looks the bytes up in :attr:`memo` itself and calls the lowering only on a miss (never for lddw,
        which takes two slots), handing it the key (so ``memo_key`` is asked once per instruction)."""
        return [None if info is None or info.kind == Kind.LD_IMM64 or self._lower[op] is None or not self.is_pure(info)
                else self.keyed(info) for op, info in enumerate(OPCODES)]

    def _memoised(self, fn: Lowering, jump: bool) -> Lowering:
        def lower(cg, pc, insn, nxt, key):
            if key is None:
                fn(cg, pc, insn, nxt)
                return
            em = cg.em
            start, branches, relocs = len(em.code), len(em.branch_at), len(em.relocs)
            fn(cg, pc, insn, nxt)
            assert len(em.relocs) == relocs, "a memoised lowering made a relocation"
            if not jump:
                assert len(em.branch_at) == branches, "a memoised lowering branched"
                self.memo[key] = bytes(em.code[start:])
                return
            assert len(em.branch_at) == branches + 1, "a memoised jump did not branch once"
            at, label, forms = em.branch_at[-1], em.branch_to[-1], em.branch_forms[-1]  # (the Emitter's record)
            assert label == pc + 1 + insn.off and at + forms[0].size == len(em.code), "not a branch to its target, last"
            self.memo[key] = (bytes(em.code[start:at]), forms, bytes(em.code[at:]))

        return lower
