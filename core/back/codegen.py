"""The codegen driver: one BPF program -> one Image, through a target's Selector.

What the core does, so that no selector has to:
- validation, the CFG, legalisation (context rewriting, guards, blinding);
- the order of functions and labels for every jump target and function;
- helper calls: the moves from BPF argument registers to native argument
  registers and back, derived from the ABI (a parallel move, cycles broken
  through the AX register); the selector only emits ``move`` and ``call``;
- bpf-to-bpf calls (``call_local``), exits (a jump to the function's epilogue);
- the frame facts each prologue needs (registers written, calls made, stack used);
- the BPF -> native line map and the relocation records.

The selector contract is ``Selector`` in core/back/target.py: every member the
core calls is declared there (a test keeps the two in sync).
"""

from __future__ import annotations

import dataclasses
from array import array
from dataclasses import dataclass, field

import numpy as np

from .emit import Emitter
from ..errors import BpfxError, LinkError, Unsupported
from ..front.isa import (ATOMIC_OPS, OPCODES, R10, SLOT_DTYPE, STACK_SIZE, CallKind, Cls, Insn, Kind, Pseudo,
                          uses_src_reg)
from .selector import BY_SELECTOR, BY_UPPER
from .legalize import (AX, SKB_DATA, SKB_DATA_END, atomic_writes, jump_targets, legalize, local_def,
                       lower_packet_loads)
from ..front.program import Program, gc_paused
from ..front.progtypes import prog_type as get_prog_type
from .target import ABI, ContextLayout, HelperTable, Image


@dataclass
class Frame:
    """What a function's prologue and epilogue need to know."""

    name: str
    start: int
    end: int
    is_entry: bool
    written: frozenset[int]  # BPF registers the function writes (r10 when it sets up a stack)
    makes_calls: bool
    stack_size: int  # bytes of BPF stack the function uses (multiple of 8, <= 512)
    exit_label: tuple = ()
    #: set by the selector's prologue: native SP right after the call that entered the function (a pushed return
    #: address included) minus this function's BPF r10
    frame_offset: int = 0
    #: set by the selector's prologue: bytes of native stack the function uses (saved registers and BPF stack)
    native_stack: int = 0
    extra: dict = field(default_factory=dict)  # selector scratch space


# enum members as module constants for per-instruction code (an IntEnum member lookup costs 80 ns on Python 3.11)
_K_CALL, _K_EXIT, _PACKET_LOADS = Kind.CALL, Kind.EXIT, frozenset((Kind.LD_ABS, Kind.LD_IND))
_HELPER_CALL, _LOCAL_CALL, _PSEUDO_IMM64 = CallKind.HELPER, CallKind.LOCAL, Pseudo.IMM64


def map_symbol(name: str) -> str:
    """The symbol a map is referenced by in native code (global data sections lose their dot)."""
    return name.lstrip(".").replace(".", "_")


class CodeGen:
    """What a selector sees: the emitter, the ABI, the current frame, and the core's services."""

    def __init__(self, program: Program, insns: list[Insn], origin: list[int], abi: ABI, helpers: HelperTable,
                 target_name: str, selector):
        self.program = program
        self.insns = insns
        self.origin = origin
        self.abi = abi
        self.helpers = helpers
        self.target = target_name
        self.selector = selector
        self.em = Emitter()
        self.frame: Frame | None = None
        self.reg = abi.regs  # BPF register -> native register
        self.leaders: set[int] | None = None  # jump targets and function starts; the driver sets it, see local_def
        self._upper_after: list[int] | None = None  # see upper_live_after
        self.cols = None  # the Columns of insns, when the driver has them

    def error(self, pc: int, message: str, cls=Unsupported) -> BpfxError:
        return cls(message, file=self.program.file, section=self.program.section, insn=self.origin[pc])

    def unsupported(self, pc: int, what: str) -> BpfxError:
        return self.error(pc, f"unsupported on {self.target}: {what}")

    def ld_imm64_symbol(self, insn: Insn, nxt: Insn) -> tuple[str, int, str] | None:
        """(symbol, addend, kind) for an LD_IMM64 that refers to a map, or None for a plain constant."""
        if insn.src == _PSEUDO_IMM64:
            return None
        if insn.src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE):
            mapdef = self.program.maps[insn.imm]
            if insn.src == Pseudo.MAP_FD:
                return (map_symbol(mapdef.name), 0, "map")
            return (map_symbol(mapdef.name), nxt.imm, "map_value")
        raise Unsupported(f"lddw with src {insn.src} ({Pseudo(insn.src).name}) is not supported on {self.target}")

    def call_helper(self, pc: int, helper_id: int) -> None:
        entry = self.helpers.get(helper_id)
        if entry is None:
            ptype = self.program.prog_type
            raise self.error(pc, f"helper {helper_id} is not available on target {self.target} for program type "
                                 f"{ptype}", LinkError)
        regs, abi, sel = self.reg, self.abi, self.selector
        moves = [(abi.arg_regs[i - 1], regs[i]) for i in range(1, 6) if abi.arg_regs[i - 1] != regs[i]]
        parallel_move(moves, lambda d, s: sel.move(self, d, s), regs[AX])
        if entry.inline is not None:
            entry.inline(self, sel)
        else:
            sel.call(self, entry)
        if regs[0] != abi.ret_reg:
            sel.move(self, regs[0], abi.ret_reg)

    def local_def(self, pc: int, reg: int) -> int | None:
        """The slot of the instruction that last wrote BPF register ``reg`` before the one at ``pc``, when every
        path to ``pc`` comes from it in a straight line (no jump lands after it, up to and including ``pc``);
        None when that is not so within a few instructions. A call counts as writing r0-r5 and an atomic fetch
        its operand (r0 for cmpxchg), so a selector that knows what its lowering of the writer leaves in the native
        register (a constant, a zero- or sign-extended value) can rely on it at ``pc``, e.g. to skip an extension."""
        return local_def(self.insns, self._leaders(), pc, reg)

    def _leaders(self) -> set[int]:
        if self.leaders is None:  # (the driver sets it, with the function starts)
            self.leaders = jump_targets(self.insns)
        return self.leaders

    def operand_defs(self, opcodes) -> tuple[dict[int, int | None], dict[int, int | None]]:
        """:meth:`local_def` of the dst, and of the src where the instruction reads it, of every instruction whose
        opcode is in ``opcodes``, worked out for all of them at once (vectorised): ({pc: slot or None} for dst,
        the same for src), for a selector that would otherwise ask at each of thousands of instructions."""
        from .legalize import columns, local_defs

        cols = self.cols if self.cols is not None else columns(self.insns)
        op, dst, src = cols[:3]
        wanted = np.zeros(256, dtype=bool)
        wanted[list(opcodes)] = True
        leaders = np.zeros(len(op), dtype=bool)
        leaders[np.fromiter(self._leaders(), dtype=np.int64, count=len(self._leaders()))] = True
        answers = []
        for slots, regs in ((np.flatnonzero(wanted[op]), dst), (np.flatnonzero(wanted[op] & _READS_SRC[op]), src)):
            found = local_defs(cols, leaders, slots, regs[slots].astype(np.int64))
            defs = found.astype(object)
            defs[found < 0] = None
            answers.append(dict(zip(slots.tolist(), defs.tolist())))
        return answers[0], answers[1]

    def upper_half_dead(self, pc: int, reg: int) -> bool:
        """Whether the upper 32 bits of BPF register ``reg``, as the instruction at ``pc`` leaves them, are dead:
        no path from the next instruction reads them before something overwrites the whole register. A selector
        asks this for a 32-bit result (ALU32, a 32-bit atomic fetch) to skip zero-extending it when nobody looks.

        Reads are taken to be what BPF defines, so the answer holds only for a selector whose lowerings of 32-bit
        operations (ALU32 and its le/be 16/32, JMP32, 16/32-bit byte swaps, movsx, stores of 1-4 bytes) read no
        more than the low 32 bits of their register operands: one that relies on an operand being zero-extended
        (e.g. a JMP32 lowered as a 64-bit compare) must not use it. Calls, exits (for r0) and 64-bit uses read the
        whole register. The first question runs one backward liveness pass over the whole program (see
        :func:`_upper_live`); every answer after that is a lookup."""
        return not self.upper_live_after()[pc] >> reg & 1

    def upper_live_after(self) -> list[int]:
        """The facts behind :meth:`upper_half_dead` as a list, for a selector that asks at every instruction (a
        lookup instead of a call): bit ``r`` of item ``pc`` is set when the upper half of BPF register ``r``, as
        the instruction at ``pc`` leaves it, may be read."""
        after = self._upper_after
        if after is None:
            after = self._upper_after = _upper_live(self.insns, self.cols)[1:]
        return after

def parallel_move(moves: list[tuple[int, int]], move, scratch: int) -> None:
    """Perform the moves dst <- src as if all at once, breaking cycles through ``scratch``."""
    pending = dict(moves)  # dst -> src
    while pending:
        sources = set(pending.values())
        ready = [d for d in pending if d not in sources]
        if ready:
            for d in ready:
                move(d, pending.pop(d))
            continue
        d, s = next(iter(pending.items()))  # a cycle: park one source
        move(scratch, s)
        pending[d] = scratch
        for k, v in list(pending.items()):
            if v == s and k != d:
                pending[k] = scratch


# Per opcode, what frame analysis needs: writes dst, is a call, r10 as load base, r10 as store base, src escapes
_WRITES_DST, _CALLS, _LOADS, _STORES, _SRC_ESCAPES, _ATOMIC_OP, _READS_SRC = (np.zeros(256, dtype=bool)
                                                                              for _ in range(7))
for _op, _info in enumerate(OPCODES):
    if _info is not None:
        _k = _info.kind
        _WRITES_DST[_op] = _k in (Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.LD_IMM64)
        _CALLS[_op] = _k in (Kind.CALL, Kind.CALLX)
        _LOADS[_op] = _k in (Kind.LDX, Kind.LDXSX)
        _STORES[_op] = _k in (Kind.ST, Kind.STX, Kind.ATOMIC)
        _SRC_ESCAPES[_op] = _k in (Kind.ALU, Kind.STX, Kind.ATOMIC) and _info.src_reg
        _ATOMIC_OP[_op] = _k == Kind.ATOMIC
        _READS_SRC[_op] = uses_src_reg(_info)


# How an instruction treats the upper half of a register it names, for CodeGen.upper_half_dead: per opcode
# (effect when it is dst, effect when it is src, control flow). Reads come before writes.
_KEEP, _KILL, _LIVE, _BY_WIDTH, _LIVE_UNLESS_OFF = range(5)  # _BY_WIDTH: live for 64-bit byte swaps, else killed
_NEXT, _COND, _JA, _GOTOL, _EXIT, _HELPER, _ATOMIC, _OPAQUE = range(8)
_CMPXCHG = ATOMIC_OPS["cmpxchg"]
_ALL_UPPER = (1 << (AX + 1)) - 1
_MASKS = list(range(_ALL_UPPER + 1))
_MASK_OBJECTS = np.array(_MASKS, dtype=object)
_UPPER_ROUNDS = 8  # passes for loops to settle (about their nesting depth plus two)


def _upper_fact(info) -> tuple[int, int, int]:
    if info is None:
        return _LIVE, _LIVE, _OPAQUE
    k, wide = info.kind, info.cls in (Cls.ALU64, Cls.JMP)
    if k == Kind.ALU:
        if not wide:
            return _KILL, _KEEP, _NEXT  # a 32-bit operation: reads low halves, writes all 64 bits
        if info.op == "mov":  # movsx (off != 0) reads only the bits it extends
            return _KILL, _LIVE_UNLESS_OFF if info.src_reg else _KEEP, _NEXT
        return _LIVE, _LIVE if info.src_reg else _KEEP, _NEXT
    if k == Kind.ENDIAN:
        return _BY_WIDTH, _KEEP, _NEXT
    if k == Kind.JCOND:
        return (_LIVE, _LIVE if info.src_reg else _KEEP, _COND) if wide else (_KEEP, _KEEP, _COND)
    if k == Kind.JA:
        return _KEEP, _KEEP, _GOTOL if info.cls == Cls.JMP32 else _JA
    if k in (Kind.LDX, Kind.LDXSX):
        return _KILL, _LIVE, _NEXT
    if k == Kind.ST:
        return _LIVE, _KEEP, _NEXT
    if k == Kind.STX:
        return _LIVE, _LIVE if info.size == 8 else _KEEP, _NEXT
    if k == Kind.ATOMIC:
        return _LIVE, _LIVE, _ATOMIC
    if k == Kind.LD_IMM64:
        return _KILL, _KEEP, _NEXT
    if k == Kind.CALL:
        return _KEEP, _KEEP, _HELPER
    if k == Kind.EXIT:
        return _KEEP, _KEEP, _EXIT
    return _LIVE, _LIVE, _OPAQUE  # callx, legacy packet loads


_UPPER = [_upper_fact(info) for info in OPCODES]
_UPPER[0] = (_KEEP, _KEEP, _NEXT)  # an lddw's second slot: what follows the lddw, as upper_live_after shows it
_ON_DST, _ON_SRC, _FLOW = (np.array([fact[k] for fact in _UPPER], dtype=np.int8) for k in range(3))
_JUMP_FLOW = np.isin(np.arange(_OPAQUE + 1), (_COND, _JA, _GOTOL))


def _upper_live(insns: list[Insn], cols=None) -> list[int]:
    """Per slot (and one past the end), the registers whose upper halves some path from that instruction reads
    before overwriting them: a bitmask, bit ``r`` for BPF register ``r``. ``cols``: the Columns of ``insns``.

    Backward passes in slot order, in which a backward jump sees its target's mask from the previous pass
    (nothing live at first), repeated until nothing changes: the least fixed point, as liveness needs (a loop
    that neither reads nor writes a register must not keep it live). A program without backward jumps is done
    after one pass; one whose loops have not settled after ``_UPPER_ROUNDS`` passes gets everything live."""
    from .legalize import columns, targets_of

    n = len(insns)
    cols = columns(insns) if cols is None else cols
    op, dst, src, off, imm = cols
    # what each slot does to the mask after it, vectorised: live = (live & keep) | gen (reads come before writes,
    # so a register read and overwritten stays live), once its control flow has made that mask
    on_dst, on_src = _ON_DST[op], _ON_SRC[op]
    dst_bit, src_bit = np.left_shift(1, dst, dtype=np.int64), np.left_shift(1, src, dtype=np.int64)
    wide_swap = imm == 64
    gen = np.where((on_dst == _LIVE) | ((on_dst == _BY_WIDTH) & wide_swap), dst_bit, 0)
    gen |= np.where((on_src == _LIVE) | ((on_src == _LIVE_UNLESS_OFF) & (off == 0)), src_bit, 0)
    keep = _ALL_UPPER & ~np.where((on_dst == _KILL) | ((on_dst == _BY_WIDTH) & ~wide_swap), dst_bit, 0)
    jumps, targets = targets_of(cols, np.flatnonzero(_JUMP_FLOW[_FLOW[op]]))
    loops = bool((targets <= jumps).any())  # a backward jump: passes until nothing changes
    # (each mask as one shared int object: a million separate ones cost ~30 MiB and their page faults)
    masks = _MASKS
    flows, keep, gen = _FLOW[op].tolist(), _MASK_OBJECTS[keep].tolist(), _MASK_OBJECTS[gen].tolist()
    before = [0] * n + [_ALL_UPPER]
    for _ in range(_UPPER_ROUNDS):
        previous = before[:] if loops else None
        live = _ALL_UPPER  # entering the slot after this one
        for pc in range(n - 1, -1, -1):
            flow = flows[pc]
            if flow:  # (_NEXT is 0)
                if flow == _COND:
                    live |= before[pc + 1 + insns[pc][3]]
                elif flow == _JA or flow == _GOTOL:
                    live = before[pc + 1 + insns[pc][4 if flow == _GOTOL else 3]]
                elif flow == _EXIT:
                    live = 1  # r0
                elif flow == _HELPER:
                    # a helper reads r1-r5 and writes r0 whole; a local call or kfunc may read anything
                    live = (live & ~1) | 0b111110 if insns[pc][2] == _HELPER_CALL else _ALL_UPPER
                elif flow == _ATOMIC:
                    if insns[pc][4] == _CMPXCHG:
                        live |= 1
                else:
                    live = _ALL_UPPER
            before[pc] = live = masks[live & keep[pc] | gen[pc]]
        if not loops or before == previous:
            return before
    return [_ALL_UPPER] * (n + 1)


def _frame_facts(cols, start: int, end: int) -> tuple[frozenset[int], bool, int]:
    """(registers written, calls made, bytes of stack used) by the function in slots [start, end), from the
    Columns of the instructions (an lddw's second slot, opcode 0, has no facts)."""
    op, dst, src, off, imm = (column[start:end] for column in cols)
    written = set(dst[_WRITES_DST[op]].tolist())
    calls = bool(_CALLS[op].any())
    atomic = _ATOMIC_OP[op]
    fetched = atomic_writes(src[atomic], imm[atomic])
    written.update(fetched[fetched >= 0].tolist())
    reached = np.concatenate((off[_LOADS[op] & (src == R10)], off[_STORES[op] & (dst == R10)], [0]))
    # r10's value copied or stored: the whole frame may be reached through it
    r10_escapes = bool((_SRC_ESCAPES[op] & (src == R10)).any())
    if calls:
        written.update(range(6))  # r0-r5
    stack = STACK_SIZE if r10_escapes else (-int(reached.min()) + 7) & ~7
    if stack or r10_escapes:
        written.add(R10)
    return frozenset(written), calls, stack


def _memo_keys(cols, plan: list, jump_plan: list, after: list[int] | None) -> list:
    """Per slot, the memo key of an instruction the driver keys itself (BY_INSN, BY_UPPER): its 8 bytes as one
    int (a conditional jump's without its offset, which only the branch encodes), for BY_UPPER with a tag bit set
    when the upper half of the register it writes may be read after it: bit 15 of the offset of an ALU
    instruction, bit 31 of an atomic's imm (which no valid one has set). Made for all slots at once: the memo
    lookup is the driver's commonest step, and an int key takes half the time of a tuple (hashed anew at every
    lookup, compared item by item). Other slots get a key they never use. A slot whose fields do not fit their
    bits, or a BY_UPPER one with its tag bit set already, gets its fields as a tuple: a key always stands for
    exactly one instruction."""
    op, dst, src, off, imm = (column.astype(np.int64) for column in cols)  # (a Program's registers are bytes)
    keyed = np.array([k is not None and k != BY_SELECTOR for k in plan], dtype=bool)[op]
    jumps = np.array([k is not None and k != BY_SELECTOR for k in jump_plan], dtype=bool)[op]
    upper = np.array([k == BY_UPPER for k in plan], dtype=bool)[op]
    atomic = _ATOMIC_OP[op]
    off = np.where(jumps, 0, off)
    slots = np.empty(len(op), dtype=SLOT_DTYPE)  # (a misfit's fields wrap here: it gets its tuple below)
    slots["op"], slots["regs"], slots["off"], slots["imm"] = op, dst | src << 4, off, imm
    raw = slots.view("<u8")
    tag = np.where(atomic, np.uint64(1 << 63), np.uint64(1 << 31))
    misfit = ((dst | src) > 15) | (off != off.astype(np.int16)) | (imm != imm.astype(np.int32)) | (
        upper & (raw & tag != 0))
    live = np.zeros(len(op), dtype=bool)
    if after is not None:  # (the register written: dst, or what an atomic writes: -1 for none)
        written = np.where(atomic, atomic_writes(src, imm), dst)
        live = upper & (written >= 0) & (
            np.frombuffer(array("q", after), dtype=np.int64) >> np.maximum(written, 0) & 1 != 0)
    keys = np.where(live, raw | tag, raw).tolist()
    for pc in np.flatnonzero(misfit & (keyed | jumps)).tolist():
        keys[pc] = (int(op[pc]), int(dst[pc]), int(src[pc]), int(off[pc]), int(imm[pc]), bool(live[pc]))
    return keys


def check_runnable(program: Program, target) -> None:
    """Refuse what no target can take as is: a section with no program type, a byte order the target lacks."""
    from ..front.progtypes import UNSPEC, unknown_section_error

    if program.prog_type == UNSPEC:
        raise unknown_section_error(program.section, why=program.type_reason).at(
            file=program.file, section=program.section, insn=program.type_insn)
    if program.endian != target.info.endian:
        raise Unsupported(f"{program.endian}-endian BPF object: target {target.name} is {target.info.endian}-endian"
                          f" (a {program.endian}-endian target is needed to run or compile it)",
                          file=program.file, section=program.section)


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def compile_program(program: Program, target, *, helpers: dict | None = None, impls: dict | None = None,
                    context: ContextLayout | None = None, harden: bool = False, features: dict | None = None,
                    seed: int | None = None) -> Image:
    """Compile a validated program for ``target`` (a ``bpfx.plugins.Target``)."""
    try:
        with gc_paused():  # compilation allocates millions of short-lived tuples
            return _compile(program, target, helpers=helpers, impls=impls, context=context, harden=harden,
                            features=features, seed=seed)
    except BpfxError as err:
        raise err.at(file=program.file, section=program.section) from None


def _compile(program, target, *, helpers, impls, context, harden, features, seed) -> Image:
    from ..front.validate import function_starts, validate

    helper_table = target.helpers(program.prog_type, helpers, impls)
    validate(program, helpers=helper_table.entries)
    check_runnable(program, target)
    abi = target.abi()
    selector = target.selector(features)
    if abi is None or selector is None:
        raise Unsupported(f"target {target.name} does not generate code (no ABI or selector)")
    ptype = get_prog_type(program.prog_type)
    # LD_ABS/LD_IND first, as ordinary loads through the __sk_buff in r6: the context pass then maps those to
    # the device layout like any other context access
    source = program
    cols = program.arrays()  # (cached since validation)
    packet = lower_packet_loads(program.insns, program.functions, cols)
    if packet is not None:
        source = dataclasses.replace(program, insns=packet.insns, functions=packet.functions, validated=True)
    layout = None
    accesses = None
    if ptype.ctx_struct:
        layout = context or target.context(program.prog_type)
    if ptype.ctx_struct:  # (layout None: the device takes the UAPI layout itself; stores are checked anyway)
        from ..front.cfg import build_cfg

        accesses = build_cfg(source).ctx_accesses
        try:
            ptype.check_stores(source, accesses)
        except BpfxError as err:
            if packet is not None and err.insn is not None:
                err.insn = packet.origin[err.insn]
            raise
    if packet is not None:
        for pc, insn in enumerate(packet.insns):
            origin = OPCODES[program.insns[packet.origin[pc]].opcode]
            inserted = origin is not None and origin.kind in _PACKET_LOADS
            if inserted and insn.src == 6 and insn.off in (SKB_DATA, SKB_DATA_END) and pc not in (accesses or {}):
                raise Unsupported("LD_ABS/LD_IND needs the context (__sk_buff) in r6", insn=packet.origin[pc])
    functions = {s: source.functions.get(s, f"{program.name}_sub{s}") for s in function_starts(source)}
    legal = legalize(source.insns, functions, abi, prog_type=ptype, allowed_helpers=frozenset(helper_table.entries),
                     ctx_layout=layout, ctx_accesses=accesses if layout is not None else None, harden=harden,
                     seed=seed, cols=cols if packet is None else packet.cols)
    if packet is not None:
        legal.origin = [packet.origin[o] for o in legal.origin]
    cg = CodeGen(program, legal.insns, legal.origin, abi, helper_table, target.name, selector)
    cg.cols = legal.cols
    insns, em = legal.insns, cg.em
    n = len(insns)
    leaders = jump_targets(insns, legal.cols)
    cg.leaders = leaders.union(legal.functions)
    starts = sorted(legal.functions)
    ends = starts[1:] + [n]
    frames = []
    reg_call, local_call = cg.call_helper, selector.call_local
    table = selector.lowering_table() if hasattr(selector, "lowering_table") else None
    if table is not None:  # calls and exit belong to the driver, whatever the selector's table says
        table = [None if info is not None and info.kind in (Kind.CALL, Kind.CALLX, Kind.EXIT) else fn
                 for fn, info in zip(table, OPCODES)]
    # memoised lowerings: the driver makes the key (BY_* of core/back/selector) and tries the memo itself, which
    # saves a call per repeated instruction; a conditional jump's memo holds its bytes before the branch, the
    # branch's forms and the placeholder bytes of its first form
    plan = selector.memo_plan() if table is not None and hasattr(selector, "memo_plan") else [None] * 256
    plan = [None if info is None or info.kind in (Kind.CALL, Kind.CALLX, Kind.EXIT) else keyed
            for keyed, info in zip(plan, OPCODES)]
    jump_plan = [keyed if info is not None and info.kind == Kind.JCOND else None for keyed, info in zip(plan, OPCODES)]
    plan = [None if jumps is not None else keyed for keyed, jumps in zip(plan, jump_plan)]
    after = cg.upper_live_after() if BY_UPPER in plan else None
    keys = _memo_keys(legal.cols, plan, jump_plan, after)
    ops = legal.cols[0].tolist()
    by_selector = BY_SELECTOR  # (a local: compared at every instruction)
    key_of = getattr(selector, "memo_key", None)
    for start, end in zip(starts, ends):
        written, calls, stack = _frame_facts(legal.cols, start, end)
        frame = Frame(legal.functions[start], start, end, start == 0, written, calls, stack, ("exit", start))
        frames.append(frame)
        cg.frame = frame
        em.bind(("func", start))
        em.mark(-1)  # prologue: no BPF instruction
        selector.prologue(cg, frame)
        pc = start
        code, origin, labels = em.code, legal.origin, em.labels
        branch_at, branch_to, branch_forms = em.branch_at.append, em.branch_to.append, em.branch_forms.append
        line_offset, line_index = em.line_offsets.append, em.line_indices.append
        memo = getattr(selector, "memo", None)  # (the prologue chose the frame's)
        try:
            while pc < end:
                if pc in leaders:
                    labels[pc] = len(code)  # (em.bind, inline)
                line_offset(len(code))
                line_index(origin[pc])
                op = ops[pc]
                keyed = plan[op]
                if keyed is not None:
                    key = key_of(cg, pc, insns[pc]) if keyed == by_selector else keys[pc]
                    known = memo.get(key)
                    if known is not None:
                        code += known
                    else:  # a miss: the memoised lowering, told the key
                        table[op](cg, pc, insns[pc], None, key)
                    pc += 1
                    continue
                insn = insns[pc]
                keyed = jump_plan[op]
                if keyed is not None:
                    key = key_of(cg, pc, insn) if keyed == by_selector else keys[pc]
                    known = memo.get(key)
                    if known is not None:  # (em.branch, inline)
                        code += known[0]
                        branch_at(len(code))
                        branch_to(pc + 1 + insn[3])
                        branch_forms(known[1])
                        code += known[2]
                    else:
                        table[op](cg, pc, insn, None, key)
                    pc += 1
                    continue
                fn = table[op] if table is not None else None
                if fn is not None:  # the common case: the selector's own lowering
                    if op == 0x18:
                        fn(cg, pc, insn, insns[pc + 1])
                        pc += 2
                    else:
                        fn(cg, pc, insn, None)
                        pc += 1
                    continue
                kind = OPCODES[op].kind
                if kind == _K_CALL:
                    if insn.src == _HELPER_CALL:
                        reg_call(pc, insn.imm)
                    elif insn.src == _LOCAL_CALL:
                        local_call(cg, ("func", pc + 1 + insn.imm))
                    else:
                        raise cg.unsupported(pc, "kfunc calls")
                    pc += 1
                    continue
                if kind == _K_EXIT:
                    if pc + 1 != end:
                        selector.jump(cg, frame.exit_label)
                    pc += 1
                    continue
                nxt = insns[pc + 1] if op == 0x18 else None
                selector.lower(cg, pc, insn, nxt)
                pc += 2 if op == 0x18 else 1
        except BpfxError as err:  # a selector's refusal names the BPF instruction it came from
            raise err.at(file=program.file, section=program.section, insn=origin[pc]) from None
        em.bind(frame.exit_label)
        em.mark(-1)
        selector.epilogue(cg, frame)
    code, relocs, labels, lines = em.finish()
    symbols = {f.name: labels[("func", f.start)] for f in frames}
    entry = frames[0]
    data = {map_symbol(m.name): m.initial for m in program.maps if m.initial is not None}
    return Image(target=target.name, code=code, relocs=relocs, symbols=symbols, entry=entry.name, line_map=lines,
                 stack_size=_align(entry.native_stack or entry.stack_size, abi.stack_align),
                 frame_offset=entry.frame_offset,
                 reloc_types=dict(selector.reloc_types), prog_type=program.prog_type, data=data,
                 e_machine=target.info.e_machine)
