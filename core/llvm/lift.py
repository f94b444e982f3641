"""Lift a validated (and legalised) BPF program to an LLVM module with llvmlite.ir.

BPF registers are allocas (mem2reg turns them into SSA), each BPF function an LLVM function, each BPF jump
target a basic block. The semantics are exactly the interpreter's: shift counts are masked, division and
modulo by zero and INT_MIN / -1 are defined (LLVM's would be undefined behaviour, so they are selected
around), ALU32 results are zero-extended, registers are global across bpf-to-bpf calls, frames are 512 bytes
each, one below the other.

Two memory models:

- ``native`` (code for a device, through a target's triple): the program runs on the caller's native stack,
  one alloca of 512 bytes per frame of its deepest call chain; every other address is an integer turned into
  a pointer; helper calls clobber r1-r5 (the BPF calling convention). Helpers
  are external functions named by the helper table's symbols (``bpf_<name>``) or absolute addresses, maps
  are external globals named as the baseline tier names them (map values as ``<map>.value``, renamed back to
  the baseline's ``map_value`` records when the object is read), so the object's relocations are the records
  the baseline tier makes.
- ``host`` (the in-process JIT): registers hold the runtime's virtual addresses, exactly as in the
  interpreter, and every access that is not an r10-relative constant offset inside the frame goes through a
  translation that is also the bounds check: the run's regions sit in a table indexed by ``address >> 24``
  (one region per 16 MiB slot of the shared layout), an address outside its slot's region calls the fault
  callback (which raises the interpreter's own fault) and the run ends. Helpers, faults and the instruction
  budget go through the run state, the first argument of every function.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from llvmlite import ir

from ..back.codegen import map_symbol
from ..errors import LinkError, Unsupported
from ..execute.runtime import layout
from ..front.isa import (ATOMIC_FETCH, ATOMIC_OPS, MAX_CALL_DEPTH, OPCODES, R10, STACK_SIZE, CallKind, Cls, Kind,
                         Pseudo, imm64, jump_target)

I8, I16, I32, I64 = (ir.IntType(n) for n in (8, 16, 32, 64))
PTR = ir.PointerType()
INT = {1: I8, 2: I16, 4: I32, 8: I64}
NREGS = 12  # r0..r10 and the hidden AX
# Registers are global in BPF: a subprogram starts with its caller's r0 and r6-r9 and hands r0-r5 back (the
# interpreter's semantics). It takes them as extra arguments and returns them as a struct; for well-formed
# programs LLVM's dead-argument elimination drops what the callee never reads or the caller never uses.
INHERITED = (0, 6, 7, 8, 9)
RET6 = ir.LiteralStructType([I64] * 6)

# The host run state: an array of i64 (see host.py, which fills it).
ST_STOPPED, ST_COUNT, ST_BUDGET = 0, 1, 2
ST_TAINT = 3  # set once the run may have broken a fact the verifier proved with: every function runs slow
ST_TABLE = 16  # 256 slots of (base, readable length, writable length, host address)
SLOT_SHIFT, NSLOTS = 24, 256
ST_MAPS = ST_TABLE + 4 * NSLOTS  # per map: (handle, values base)
# fault kinds passed to the fault callback
FAULT_READ, FAULT_WRITE, FAULT_BUDGET, FAULT_DEPTH, FAULT_ATOMIC = 0, 1, 2, 3, 4
HOST_HELPER, HOST_FAULT = "bpfx_host_helper", "bpfx_host_fault"

_ARITH = {"add": "add", "sub": "sub", "mul": "mul", "or": "or_", "and": "and_", "xor": "xor"}
_PRED = {"jeq": ("==", False), "jne": ("!=", False), "jgt": (">", False), "jge": (">=", False),
         "jlt": ("<", False), "jle": ("<=", False), "jsgt": (">", True), "jsge": (">=", True),
         "jslt": ("<", True), "jsle": ("<=", True)}
_RMW = {ATOMIC_OPS["add"]: "add", ATOMIC_OPS["or"]: "or", ATOMIC_OPS["and"]: "and", ATOMIC_OPS["xor"]: "xor",
        ATOMIC_OPS["xchg"]: "xchg"}


@dataclass
class Lifted:
    module: ir.Module
    entry: str
    #: IR global name -> (baseline symbol, relocation kind), for reading the object's relocations back
    globals: dict[str, tuple[str, str]]
    #: original BPF index of each function's first instruction -> its name
    functions: dict[int, str]


def _c64(v: int) -> ir.Constant:
    return ir.Constant(I64, v & 0xFFFF_FFFF_FFFF_FFFF)


# llvmlite's IR layer still types pointers; LLVM 17+ parses only opaque ``ptr``: make every pointer opaque.
def _alloca(b, ty, name: str = ""):
    a = b.alloca(ty, name=name)
    a.type = PTR
    return a


def _gep(b, ptr, index, ety=I8):
    g = b.gep(ptr, [index if isinstance(index, ir.Value) else _c64(index)], source_etype=ety)
    g.type = PTR
    return g


def _load(b, ptr, ty=I64, align=None):
    return b.load(ptr, typ=ty, align=align)


class _Func:
    """Lifting state of one BPF function."""

    def __init__(self, lifter: Lifter, start: int, end: int, fn: ir.Function):
        self.lf, self.start, self.end, self.fn = lifter, start, end, fn
        self.blocks: dict[int, ir.Block] = {}
        self.host = lifter.host
        self.block_end = end
        self.group: dict[int, int] = {}  # host: access index -> the first access of its check group
        self.group_ok: dict[int, ir.Value] = {}  # first access of a group -> its fast check
        self.slow: list[tuple[ir.Block, int, int]] = []  # host: (block, index, block end): slow version entries
        self.slow_mode = False
        self.unbudgeted = False  # host: lifting a counted loop's version that needs no budget test (_counted)
        self.leaders: list[int] = []  # the first instruction of each block, sorted

class Lifter:
    def __init__(self, program, insns, origin, functions: dict[int, str], helpers, *, mode: str, target: str,
                 checked: bool = True, regions: dict | None = None):
        self.program, self.insns, self.origin = program, insns, origin
        self.functions, self.helpers, self.target = functions, helpers, target
        self.host = mode == "host"
        self.checked = checked  # host only: False drops the bounds checks (for measuring their cost; unsafe)
        self.regions = regions or {}  # host only: see lift()
        from ..front.progtypes import prog_type as get_prog_type

        ptype = get_prog_type(program.prog_type)
        self.ctx_slot, self.packet_slot = layout.CTX_BASE >> SLOT_SHIFT, layout.PACKET_BASE >> SLOT_SHIFT
        self.ctx_base = layout.CTX_BASE if ptype.ctx_struct else None  # host: the entry's r1
        fields = ptype.ctx_fields
        self.packet_fields = (fields["data"][0], fields["data_end"][0]) if ptype.packet and "data_end" in fields \
            else None
        self.module = ir.Module(name=program.name)
        self.globals: dict[str, tuple[str, str]] = {}
        self.ext: dict[str, ir.Function | ir.GlobalVariable] = {}
        self.fns: dict[int, ir.Function] = {}

    # -- errors -------------------------------------------------------------------------------------------------
    def unsupported(self, pc: int, what: str, cls=Unsupported):
        return cls(f"unsupported by the LLVM tier on {self.target}: {what}", file=self.program.file,
                   section=self.program.section, insn=self.origin[pc])

    # -- module-level declarations -------------------------------------------------------------------------------
    def _declare(self):
        starts = sorted(self.functions)
        for start in starts:
            name = self.functions[start]
            if self.host:
                args = [PTR, I64, I64, I64, I64, I64, I64, PTR, I64]  # state, r1-r5, r10, frame (host), depth
            else:
                args = [I64] * 5 + ([PTR] if start != 0 else [])  # r1-r5, the frame (subprograms)
            if start != 0:
                args += [I64] * len(INHERITED)
            fn = ir.Function(self.module, ir.FunctionType(I64 if start == 0 else RET6, args), name=name)
            if start != 0:
                fn.linkage = "internal"
            if self.host:
                fn.args[0].add_attribute("noalias")
                # all of it readable and aligned: LLVM may then hoist the invariant loads (_fixed) out of loops
                fn.args[0].attributes.dereferenceable = 8 * (ST_MAPS + 2 * len(self.program.maps))
                fn.args[0].attributes.align = 8
            self.fns[start] = fn
        self.ends = starts[1:] + [len(self.insns)]
        self.starts = starts
        self.depth = self._call_depth()
        self.reach = self._stack_reach()

    def _stack_reach(self) -> int:
        """The lowest r10 offset any instruction addresses directly (a multiple of 8, >= -512): the part of each
        frame LLVM can see loads from, so the part that must not be left undef."""
        reach = 0
        for insn in self.insns:
            info = OPCODES[insn.opcode]
            if info is None or not info.size or info.kind == Kind.LD_IMM64:
                continue
            base = insn.src if info.kind in (Kind.LDX, Kind.LDXSX) else insn.dst
            if base == R10 and info.kind in (Kind.LDX, Kind.LDXSX, Kind.ST, Kind.STX, Kind.ATOMIC):
                reach = min(reach, insn.off)
        return max(-STACK_SIZE, -((-reach + 7) & ~7))

    def _call_depth(self) -> int:
        """Frames the deepest chain of bpf-to-bpf calls needs (the validator has rejected recursion)."""
        callees: dict[int, set[int]] = {s: set() for s in self.starts}
        for start, end in zip(self.starts, self.ends):
            for pc in range(start, end):
                insn = self.insns[pc]
                if insn.opcode == 0x85 and insn.src == CallKind.LOCAL and pc + 1 + insn.imm in callees:
                    callees[start].add(pc + 1 + insn.imm)
        memo: dict[int, int] = {}

        def depth(fn: int, seen: frozenset) -> int:
            if fn in seen:
                return MAX_CALL_DEPTH
            if fn not in memo:
                memo[fn] = 1 + max((depth(c, seen | {fn}) for c in callees[fn]), default=0)
            return memo[fn]

        return min(depth(self.starts[0], frozenset()), MAX_CALL_DEPTH)

    def _external_fn(self, name: str, nargs: int, ret=I64, extra: tuple = ()) -> ir.Function:
        fn = self.ext.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, list(extra) + [I64] * nargs), name=name)
            self.ext[name] = fn
        return fn

    def _map_global(self, symbol: str, kind: str) -> ir.GlobalVariable:
        name = symbol if kind == "map" else f"{symbol}.value"
        gv = self.ext.get(name)
        if gv is None:
            gv = ir.GlobalVariable(self.module, ir.ArrayType(I8, 0), name=name)
            gv.linkage = "external"
            gv.storage_class = "dso_local"
            self.ext[name] = gv
            self.globals[name] = (symbol, kind)
        return gv

    # -- the lifter ---------------------------------------------------------------------------------------------
    # -- debug line info (native mode): line = original BPF index + 1, read back as the Image's line map --------
    def _debug_init(self) -> None:
        m = self.module
        self.di_file = m.add_debug_info("DIFile", {"filename": self.program.file or "<bpf>", "directory": ""})
        self.di_cu = m.add_debug_info("DICompileUnit", {
            "language": ir.DIToken("DW_LANG_C99"), "file": self.di_file, "producer": "bpfx", "isOptimized": True,
            "runtimeVersion": 0, "emissionKind": ir.DIToken("LineTablesOnly")}, is_distinct=True)
        self.di_type = m.add_debug_info("DISubroutineType", {"types": m.add_metadata([])})
        flags = m.add_named_metadata("llvm.module.flags")
        for key, value in (("Debug Info Version", 3), ("Dwarf Version", 4)):
            flags.add(m.add_metadata([ir.Constant(I32, 2), ir.MetaDataString(m, key), ir.Constant(I32, value)]))
        m.add_named_metadata("llvm.dbg.cu").add(self.di_cu)

    def _subprogram(self, fn, start: int):
        line = self.origin[start] + 1
        sp = self.module.add_debug_info("DISubprogram", {
            "name": fn.name, "file": self.di_file, "line": line, "type": self.di_type, "scopeLine": line,
            "unit": self.di_cu, "spFlags": ir.DIToken("DISPFlagDefinition | DISPFlagOptimized")}, is_distinct=True)
        fn.set_metadata("dbg", sp)
        return sp

    def _loc(self, f: _Func, pc: int):
        return self.module.add_debug_info("DILocation", {"line": self.origin[pc] + 1, "column": 0, "scope": f.di})

    def lift(self) -> Lifted:
        if not self.host:
            self._debug_init()
        self._declare()
        for start, end in zip(self.starts, self.ends):
            self._function(start, end)
        return Lifted(self.module, self.functions[0], self.globals,
                      {self.origin[s]: n for s, n in self.functions.items()})

    def _function(self, start: int, end: int) -> None:
        insns = self.insns
        fn = self.fns[start]
        leaders = {start}
        pc = start
        while pc < end:
            insn = insns[pc]
            info = OPCODES[insn.opcode]
            width = 2 if info.kind == Kind.LD_IMM64 else 1
            if info.kind in (Kind.JA, Kind.JCOND):
                leaders.add(jump_target(pc, insn))
                leaders.add(pc + 1)
            elif info.kind == Kind.EXIT:
                leaders.add(pc + 1)
            pc += width
        leaders = sorted(x for x in leaders if start <= x < end)
        f_leaders = leaders
        f = _Func(self, start, end, fn)
        f.leaders = f_leaders
        entry = fn.append_basic_block("entry")
        for leader in leaders:
            f.blocks[leader] = fn.append_basic_block(f"L{leader}")
        b = ir.IRBuilder(entry)
        f.b = b
        if not self.host:
            f.di = self._subprogram(fn, start)
            b.debug_metadata = self._loc(f, start)
        f.regs = [_alloca(b, I64, f"r{i}") for i in range(NREGS)]
        zero = _c64(0)
        f.sub = start != 0
        inherited = fn.args[-len(INHERITED):] if f.sub else [zero] * len(INHERITED)
        for i, value in zip(INHERITED, inherited):
            b.store(value, f.regs[i])
        b.store(zero, f.regs[11])
        if self.host:
            state, *rest = fn.args
            f.state = state
            for i in range(5):
                b.store(rest[i], f.regs[i + 1])
            if not f.sub and self.ctx_base is not None:  # the context's address, as a constant (run_host checks)
                b.store(_c64(self.ctx_base), f.regs[1])
            # The entry's r10 is always the top of the runtime's stack (host.run_host checks): as a constant,
            # LLVM can bound stack addresses and drop fast checks they always pass.
            b.store(rest[5] if f.sub else _c64(layout.STACK_TOP), f.regs[R10])
            f.frame, f.depth = rest[6], rest[7]
            f.count = _alloca(b, I64, "left")
            self._load_count(f, b)
            f.stop = fn.append_basic_block("stop")
            sb = ir.IRBuilder(f.stop)
            self._flush_count(f, sb)
            self._ret(f, sb)
        else:
            for i in range(5):
                b.store(fn.args[i], f.regs[i + 1])
            if f.sub:
                f.frame = fn.args[5]
            else:
                # One stack for the deepest call chain, frames below each other as in the interpreter (a frame
                # keeps what an earlier call at its depth left). What instructions address directly through r10
                # is zeroed, as the interpreter's stack is: LLVM would make an uninitialised slot undef, and a
                # branch on undef is undefined behaviour. The optimiser removes the stores nothing reads.
                size = STACK_SIZE * self.depth
                f.stack = _alloca(b, ir.ArrayType(I8, size), "stack")
                f.stack.align = 16
                f.frame = _gep(b, f.stack, size)
                for top in range(size, 0, -STACK_SIZE):
                    for off in range(top + self.reach, top, 8):
                        b.store(_c64(0), _gep(b, f.stack, off), align=8)
            b.store(b.ptrtoint(f.frame, I64), f.regs[R10])
        go = b.block
        spans = [(leader, leaders[i + 1] if i + 1 < len(leaders) else end) for i, leader in enumerate(leaders)]
        for leader, nxt in spans:
            loop = self._counted(leader, nxt) if self.host else None
            if loop is None:
                self._block(f, leader, nxt)
            else:
                self._versions(f, leader, nxt, loop)
        fast = f.blocks
        if f.slow or any(p for pc, (_, p) in self.regions.items() if start <= pc < end):
            # The slow version of the whole function: every access but a constant r10 offset fully checked, the
            # verifier's proofs ignored. Entered at a failed fast check, or at any point where the run may break
            # a fact the verifier relied on (a store or helper call that might reach the context), and never
            # left: the run is tainted from then on, so every function and tail call starts slow. The fast
            # loops stay small (unrollable).
            f.slow_mode = True
            f.blocks = {leader: fn.append_basic_block(f"S{leader}") for leader in leaders}
            for leader, nxt in spans:
                self._block(f, leader, nxt)
            for block, pc, nxt in f.slow:
                b.position_at_end(block)
                b.store(_c64(1), self._state_ptr(b, f.state, ST_TAINT))
                self._lift_range(f, pc, nxt)
            b.position_at_end(go)
            taint = _load(b, self._state_ptr(b, f.state, ST_TAINT))
            b.cbranch(b.icmp_unsigned("!=", taint, _c64(0)), f.blocks[start], fast[start]).set_weights([1, 1000])
        else:
            b.position_at_end(go)
            b.branch(fast[start])

    @staticmethod
    def _ret(f: _Func, b) -> None:
        """Return r0 (the entry) or r0-r5 (a subprogram)."""
        if not f.sub:
            b.ret(_load(b, f.regs[0]))
            return
        agg = ir.Constant(RET6, None)
        for i in range(6):
            agg = b.insert_value(agg, _load(b, f.regs[i]), i)
        b.ret(agg)

    def _returned(self, b, regs, result) -> None:
        for i in range(6):
            b.store(b.extract_value(result, i), regs[i])

    # -- host run-state access -------------------------------------------------------------------------------------
    @staticmethod
    def _state_ptr(b, state, index):
        return _gep(b, state, index, I64)

    def _fixed(self, b, state, index):
        """A run-state word that no run changes (the region table, the budget): marked invariant, so LLVM
        hoists its load out of loops (the stores of the program cannot be proven not to alias it otherwise)."""
        v = _load(b, self._state_ptr(b, state, index))
        v.set_metadata("invariant.load", self.module.add_metadata([]))
        return v

    # The instruction count lives in the run state (ST_COUNT: what a run reports, and what calls and tail calls
    # continue from); inside a function it is kept as what is left of the budget, a signed word: a block
    # subtracts its instructions and a backward jump tests the sign the subtraction set (no compare).
    def _limit(self, f: _Func, b):
        """The budget, capped at 2^62 (no run gets near it) so what is left stays a signed word."""
        budget = self._fixed(b, f.state, ST_BUDGET)
        return b.select(b.icmp_unsigned(">", budget, _c64(1 << 62)), _c64(1 << 62), budget)

    def _load_count(self, f: _Func, b) -> None:
        b.store(b.sub(self._limit(f, b), _load(b, self._state_ptr(b, f.state, ST_COUNT))), f.count)

    def _flush_count(self, f: _Func, b) -> None:
        b.store(b.sub(self._limit(f, b), _load(b, f.count)), self._state_ptr(b, f.state, ST_COUNT))

    @staticmethod
    def _over(f: _Func, b):
        """Whether the run has gone over its budget."""
        return b.icmp_signed("<", _load(b, f.count), _c64(0))

    def _fault(self, f: _Func, b, kind: int, pc: int, addr, size: int) -> None:
        """Call the fault callback (which records the interpreter's fault) and leave the function."""
        fault = self._external_fn(HOST_FAULT, 4, ret=ir.VoidType(), extra=(PTR,))
        fault.attributes.add("cold")
        self._flush_count(f, b)
        b.call(fault, [f.state, _c64(kind), _c64(self.origin[pc]), addr, _c64(size)])
        b.branch(f.stop)

    def _budget_fault(self, f: _Func, b, pc: int) -> None:
        """The budget ran out by the end of the block that ends at ``pc``: the callback gets the block's first
        instruction and length (``start | slots << 32``, as the size; the count is in the run state) and
        names the instruction the interpreter names when that one is in this block (see host._crossing)."""
        start = f.leaders[bisect_right(f.leaders, pc) - 1]
        slots, q = 0, start
        while q <= pc:
            slots += 1
            q += 2 if self.insns[q].opcode == 0x18 else 1
        self._fault(f, b, FAULT_BUDGET, pc, self._fixed(b, f.state, ST_BUDGET), self.origin[start] | slots << 32)

    def _check_stopped(self, f: _Func, b, name: str) -> None:
        """After a helper or a call: if the run was stopped (fault, unwind, tail call), return at once."""
        stopped = _load(b, self._state_ptr(b, f.state, ST_STOPPED))
        go = f.fn.append_basic_block(name)
        out = f.fn.append_basic_block(name + ".out")
        b.cbranch(b.icmp_unsigned("!=", stopped, _c64(0)), out, go)
        self._ret(f, ir.IRBuilder(out))
        b.position_at_end(go)

    # -- memory --------------------------------------------------------------------------------------------------
    def _address(self, f: _Func, pc: int, base: int, off: int, size: int, write: bool, atomic: bool = False):
        """A pointer for a ``size``-byte access at ``base + off`` (checked in host mode unless proven)."""
        b = f.b
        if base == R10 and -STACK_SIZE <= off and off + size <= 0:  # proven inside this frame
            return _gep(b, f.frame, off)
        addr = b.add(_load(b, f.regs[base]), _c64(off))
        if not self.host:
            return b.inttoptr(addr, PTR)
        if f.slow_mode:
            return self._checked(f, b, pc, addr, size, write, atomic)
        region, proven = self.regions.get(pc, (None, False))
        if proven or not self.checked:
            return self._translate(f, b, addr, region)
        if region is None and not write:
            return self._checked(f, b, pc, addr, size, write, atomic)
        # Fast check against the region the verifier saw; outside it, on in the slow version of the function
        # (see _function). A store that might reach the context (no region known, or the context's) leaves the
        # fast version first, so there the context's data/data_end change only through helpers, which keep them
        # inside the packet region.
        if region is None or region == self.ctx_slot:
            self._fast_or_slow(f, b, pc, ir.Constant(ir.IntType(1), 0))
            return self._checked(f, b, pc, addr, size, write, atomic)  # (unreachable: keeps the IR well formed)
        if f.group.get(pc, -1) not in f.group_ok:
            # (stack checks compare with constants, which LLVM merges when accesses repeat an offset: grouping
            # them measured slower, on bubble sort)
            lo, hi, write = self._group(f, pc, base, region) if region != "stack" else (off, off + size, write)
            span, first = hi - lo, b.add(_load(b, f.regs[base]), _c64(lo))
            if region == "stack":
                rel = b.sub(first, _c64(layout.STACK_BASE))
                limit = layout.STACK_SIZE - span  # (never negative while stack groups are single accesses)
                inside = b.icmp_unsigned("<=", rel, _c64(limit)) if limit >= 0 else ir.Constant(ir.IntType(1), 0)
            elif region == self.packet_slot and self.packet_fields:
                # Inside [data, data_end) as the context says: narrower than the region, and the program's own
                # data_end test then makes it redundant, so LLVM drops it. first - data <= MAX_PACKET keeps
                # first + span from wrapping.
                data, end = (b.zext(_load(b, self._translate(f, b, _c64(layout.CTX_BASE + o), self.ctx_slot), I32),
                                    I64) for o in self.packet_fields)
                inside = b.and_(b.icmp_unsigned("<=", b.sub(first, data), _c64(layout.MAX_PACKET)),
                                b.icmp_unsigned("<=", b.add(first, _c64(span)), end))
                if write:  # the packet region is writable
                    writable = self._fixed(b, f.state, ST_TABLE + 4 * region + 2)
                    inside = b.and_(inside, b.icmp_unsigned("!=", writable, _c64(0)))
            else:
                entry = ST_TABLE + 4 * region
                rel = b.sub(first, self._fixed(b, f.state, entry))
                # rel < max(length - span + 1, 0): one compare against a bound LLVM computes once, out of loops
                room = b.sub(self._fixed(b, f.state, entry + (2 if write else 1)), _c64(span - 1))
                bound = b.select(b.icmp_signed("<", room, _c64(0)), _c64(0), room)
                inside = b.icmp_unsigned("<", rel, bound)
            f.group_ok[pc] = inside
            # The fast version keeps no merge with the slow one, so its pointers are addr + a loop-invariant
            # delta, and later accesses of the group need no check at all.
            self._fast_or_slow(f, b, pc, inside)
        return self._translate(f, b, addr, region)

    @staticmethod
    def _fast_or_slow(f: _Func, b, pc: int, inside) -> None:
        """Go on here if ``inside``, else in the slow version from instruction ``pc`` on."""
        slow = f.fn.append_basic_block(f"slow{pc}")
        fast = f.fn.append_basic_block(f"fast{pc}")
        b.cbranch(inside, fast, slow).set_weights([1000, 1])
        f.slow.append((slow, pc, f.block_end))
        b.position_at_end(fast)

    def _group(self, f: _Func, pc: int, base: int, region) -> tuple[int, int, bool]:
        """The accesses after ``pc`` in its block through the same unchanged ``base`` and hinted the same region
        share its fast check, made over all the bytes they touch: (lowest offset, end offset, any write). An
        address the check does not cover takes each access's full check, in order, as before."""
        lo, hi, write = None, None, False
        pc2 = pc
        while pc2 < f.block_end:
            insn = self.insns[pc2]
            info = OPCODES[insn.opcode]
            kind = info.kind
            if kind in (Kind.LDX, Kind.LDXSX, Kind.ST, Kind.STX):
                load = kind in (Kind.LDX, Kind.LDXSX)
                reg = insn.src if load else insn.dst
                if reg == base and self.regions.get(pc2) == (region, False):
                    f.group[pc2] = pc
                    lo = insn.off if lo is None else min(lo, insn.off)
                    hi = insn.off + info.size if hi is None else max(hi, insn.off + info.size)
                    write = write or not load
                if load and insn.dst == base:
                    break
            elif kind not in (Kind.ALU, Kind.ENDIAN) or insn.dst == base:
                break
            pc2 += 1
        if lo is None:  # pc itself is an atomic: a group of its own
            info = OPCODES[self.insns[pc].opcode]
            return self.insns[pc].off, self.insns[pc].off + info.size, True
        return lo, hi, write

    def _delta(self, f: _Func, b, addr, region):
        """Host minus virtual address for ``addr``, known to lie in ``region`` ("stack", a table slot, or
        "any"/None: the region of its slot)."""
        if region == "stack":  # all frames are one buffer, and r10 maps to f.frame
            return b.sub(b.ptrtoint(f.frame, I64), _load(b, f.regs[R10]))
        slot = _c64(region) if isinstance(region, int) else b.lshr(addr, _c64(SLOT_SHIFT))
        entry = b.add(b.mul(slot, _c64(4)), _c64(ST_TABLE))
        return b.sub(self._fixed(b, f.state, b.add(entry, _c64(3))), self._fixed(b, f.state, entry))

    def _translate(self, f: _Func, b, addr, region):
        """The host pointer for ``addr``, known to lie in ``region`` (see ``_delta``)."""
        if region == "stack":
            return _gep(b, f.frame, b.sub(addr, _load(b, f.regs[R10])))
        return b.inttoptr(b.add(addr, self._delta(f, b, addr, region)), PTR)

    def _checked(self, f: _Func, b, pc: int, addr, size: int, write: bool, atomic: bool, delta: bool = False):
        """The full check: ``addr`` through its slot's region, or the fault. Returns the pointer (or with
        ``delta``, the host minus the virtual address)."""
        slot = b.lshr(addr, _c64(SLOT_SHIFT))
        bad = f.fn.append_basic_block(f"oob{pc}")
        ok = f.fn.append_basic_block(f"in{pc}")
        inslot = f.fn.append_basic_block(f"slot{pc}")
        b.cbranch(b.icmp_unsigned(">=", slot, _c64(NSLOTS)), bad, inslot)
        b.position_at_end(inslot)
        entry = b.add(b.mul(slot, _c64(4)), _c64(ST_TABLE))
        rbase = self._fixed(b, f.state, entry)
        length = self._fixed(b, f.state, b.add(entry, _c64(2 if write else 1)))
        rel = b.sub(addr, rbase)
        inside = b.and_(b.icmp_unsigned("<", rel, length),
                        b.icmp_unsigned(">=", b.sub(length, rel), _c64(size)))
        b.cbranch(inside, ok, bad)
        bb = ir.IRBuilder(bad)
        self._fault(f, bb, FAULT_ATOMIC if atomic else FAULT_WRITE if write else FAULT_READ, pc, addr, size)
        b.position_at_end(ok)
        host = self._fixed(b, f.state, b.add(entry, _c64(3)))
        return b.sub(host, rbase) if delta else b.inttoptr(b.add(host, rel), PTR)

    # -- counted loops (host) ---------------------------------------------------------------------------------------
    def _counted(self, start: int, end: int):
        """(iv, bound, step, strict) when block ``start``..``end`` is a loop of its own whose one way round is
        ``iv += step`` and whose last instruction jumps back while ``iv < bound`` (``<=`` unless strict),
        unsigned, 64-bit; bound and step (``("r", reg)`` or ``("k", imm)``) unchanged in it; no calls, exits or
        atomics. Such a loop runs ``iv`` upwards from its first value, so ``_versions`` can bound its trips
        and the values ``iv`` takes before it enters."""
        last = self.insns[end - 1]
        info = OPCODES[last.opcode]
        if (info is None or info.kind != Kind.JCOND or info.cls != Cls.JMP or jump_target(end - 1, last) != start
                or info.op not in ("jlt", "jle", "jgt", "jge")):
            return None
        if info.op in ("jlt", "jle"):  # jlt iv, bound
            iv, bound = last.dst, (("r", last.src) if info.src_reg else ("k", last.imm))
        elif info.src_reg:  # jgt bound, iv
            iv, bound = last.src, ("r", last.dst)
        else:
            return None
        if bound[0] == "k" and bound[1] < 0:  # (sign-extended: not below 2^63)
            return None
        written: dict[int, list] = {}
        pc = start
        while pc < end - 1:
            insn = self.insns[pc]
            kind = OPCODES[insn.opcode].kind
            if kind in (Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.LD_IMM64):
                written.setdefault(insn.dst, []).append(insn)
            elif kind not in (Kind.ST, Kind.STX):
                return None
            pc += 2 if kind == Kind.LD_IMM64 else 1
        add = written.get(iv, [])
        if len(add) != 1 or add[0].opcode not in (0x07, 0x0F) or bound in (("r", r) for r in written) \
                or bound == ("r", iv):
            return None
        step = ("r", add[0].src) if add[0].opcode == 0x0F else ("k", add[0].imm)
        if step in (("r", r) for r in written) or step == ("r", iv) or (step[0] == "k" and step[1] <= 0):
            return None
        return iv, bound, step, info.op in ("jlt", "jgt")

    def _versions(self, f: _Func, start: int, end: int, loop) -> None:
        """A counted loop (see ``_counted``) in two versions: as lifted, and one entered only when its first
        ``iv`` is below the bound, the step cannot wrap and every trip it can make fits the instruction budget.
        That version tests no budget (it cannot run out) and tells LLVM ``iv < bound`` at the top of each trip
        (true on entry, and the back edge is taken only then), from which it drops bounds checks the loop's own
        test implies."""
        iv, bound, step, strict = loop
        guard = f.blocks[start]
        plain, counted = (f.fn.append_basic_block(f"{n}{start}") for n in ("P", "C"))
        f.blocks[start] = plain
        self._block(f, start, end)
        for pc in range(start, end):  # the fast checks of the block belong to the version lifted first
            f.group.pop(pc, None)
            f.group_ok.pop(pc, None)
        f.blocks[start] = counted
        b = f.b
        b.position_at_end(counted)
        reg = lambda o: _c64(o[1]) if o[0] == "k" else _load(b, f.regs[o[1]])  # noqa: E731
        pred = "<" if strict else "<="
        b.assume(b.icmp_unsigned(pred, _load(b, f.regs[iv]), reg(bound)))
        f.unbudgeted = True
        self._block(f, start, end)
        f.unbudgeted = False
        f.blocks[start] = guard
        b.position_at_end(guard)
        first, limit, stride = _load(b, f.regs[iv]), reg(bound), reg(step)
        ok = b.icmp_unsigned(pred, first, limit)
        ok = b.and_(ok, b.icmp_unsigned("!=", stride, _c64(0)))
        ok = b.and_(ok, b.icmp_unsigned("<=", limit, b.xor(stride, _c64(-1))))  # limit + step does not wrap
        # trips: span // step + 1, span = limit - first (- 1 if strict); they fit when at most what is left of
        # the budget // slots (a division per entry of the loop, not per trip)
        span = b.sub(limit, first)
        if strict:
            span = b.sub(span, _c64(1))
        slots, pc = 0, start
        while pc < end:
            slots += 1
            pc += 2 if self.insns[pc].opcode == 0x18 else 1
        left = _load(b, f.count)
        ok = b.and_(ok, b.icmp_signed(">=", left, _c64(0)))
        divisor = b.select(b.icmp_unsigned("==", stride, _c64(0)), _c64(1), stride)
        trips = b.add(b.udiv(span, divisor), _c64(1))
        ok = b.and_(ok, b.icmp_unsigned("<=", trips, b.udiv(left, _c64(slots))))
        b.cbranch(ok, counted, plain)

    # -- one basic block -------------------------------------------------------------------------------------------
    def _block(self, f: _Func, start: int, end: int) -> None:
        b = f.b
        b.position_at_end(f.blocks[start])
        if self.host:
            slots, pc = 0, start
            while pc < end:
                slots += 1
                pc += 2 if self.insns[pc].opcode == 0x18 else 1
            b.store(b.sub(_load(b, f.count), _c64(slots)), f.count)
        f.block_end = end
        self._lift_range(f, start, end)

    def _lift_range(self, f: _Func, pc: int, end: int) -> None:
        """Lift instructions ``pc``..``end`` of one block at the builder's position, and its way out."""
        while pc < end:
            insn = self.insns[pc]
            info = OPCODES[insn.opcode]
            if not self.host:
                f.b.debug_metadata = self._loc(f, pc)
            pc += self._insn(f, pc, insn, info, end)
            if info.kind in (Kind.JA, Kind.JCOND, Kind.EXIT):
                return
        if end >= f.end:  # fell off the end of the function (the validator rejects it; be total anyway)
            raise self.unsupported(end - 1, "control falls off the end of the function")
        f.b.branch(f.blocks[end])

    def _goto(self, f: _Func, pc: int, target: int, cond=None, fallthrough: int | None = None) -> None:
        """Branch to ``target`` (if ``cond``); checks the budget on backward edges in host mode."""
        b = f.b
        dest = f.blocks[target]
        if self.host and target <= pc and not f.unbudgeted:
            check = f.fn.append_basic_block(f"back{pc}")
            over = f.fn.append_basic_block(f"budget{pc}")
            if cond is not None:
                b.cbranch(cond, check, f.blocks[fallthrough])
            else:
                b.branch(check)
            cb = ir.IRBuilder(check)
            cb.cbranch(self._over(f, cb), over, dest)
            self._budget_fault(f, ir.IRBuilder(over), pc)
            return
        if cond is None:
            b.branch(dest)
        else:
            b.cbranch(cond, dest, f.blocks[fallthrough])

    def _insn(self, f: _Func, pc: int, insn, info, end: int) -> int:
        b, regs = f.b, f.regs
        kind = info.kind
        if kind == Kind.ALU:
            self._alu(f, insn, info)
        elif kind == Kind.ENDIAN:
            width = insn.imm
            v = b.trunc(_load(b, regs[insn.dst]), ir.IntType(width)) if width < 64 else _load(b, regs[insn.dst])
            if info.cls == Cls.ALU64 or info.src_reg:  # bswap, or to-big-endian on a little-endian machine
                v = b.bswap(v)
            b.store(b.zext(v, I64) if width < 64 else v, regs[insn.dst])
        elif kind == Kind.JA:
            self._goto(f, pc, jump_target(pc, insn))
        elif kind == Kind.JCOND:
            bits = I64 if info.cls == Cls.JMP else I32
            a = _load(b, regs[insn.dst])
            c = _load(b, regs[insn.src]) if info.src_reg else _c64(insn.imm)
            if bits is I32:
                a, c = b.trunc(a, I32), b.trunc(c, I32)
            if info.op == "jset":
                cond = b.icmp_unsigned("!=", b.and_(a, c), ir.Constant(bits, 0))
            else:
                pred, signed = _PRED[info.op]
                cond = b.icmp_signed(pred, a, c) if signed else b.icmp_unsigned(pred, a, c)
            self._goto(f, pc, jump_target(pc, insn), cond, pc + 1)
        elif kind in (Kind.LDX, Kind.LDXSX):
            ptr = self._address(f, pc, insn.src, insn.off, info.size, False)
            v = _load(f.b, ptr, INT[info.size], 1)
            b = f.b
            if info.size < 8:
                v = b.sext(v, I64) if kind == Kind.LDXSX else b.zext(v, I64)
            b.store(v, regs[insn.dst])
        elif kind in (Kind.ST, Kind.STX):
            v = _load(b, regs[insn.src]) if kind == Kind.STX else _c64(insn.imm)
            ptr = self._address(f, pc, insn.dst, insn.off, info.size, True)
            b = f.b
            if info.size < 8:
                v = b.trunc(v, INT[info.size])
            b.store(v, ptr, align=1)
        elif kind == Kind.ATOMIC:
            self._atomic(f, pc, insn, info)
        elif kind == Kind.LD_IMM64:
            self._ld_imm64(f, pc, insn)
            return 2
        elif kind == Kind.CALL:
            if insn.src == CallKind.HELPER:
                self._helper(f, pc, insn.imm)
            elif insn.src == CallKind.LOCAL:
                self._local_call(f, pc, pc + 1 + insn.imm)
            else:
                raise self.unsupported(pc, "kfunc calls")
        elif kind == Kind.EXIT:
            if self.host and not f.sub:
                # instructions after the last backward jump count too: a run over its budget faults, as in the
                # interpreter, rather than returning (once per run: the entry's exit)
                over = f.fn.append_basic_block(f"budget{pc}")
                done = f.fn.append_basic_block(f"exit{pc}")
                b.cbranch(self._over(f, b), over, done).set_weights([1, 1000])
                self._budget_fault(f, ir.IRBuilder(over), pc)
                b.position_at_end(done)
            if self.host:
                self._flush_count(f, b)
            self._ret(f, b)
        elif kind == Kind.CALLX:
            raise self.unsupported(pc, "callx (not legalised)")
        else:
            raise self.unsupported(pc, "legacy LD_ABS/LD_IND packet access")
        return 1

    # -- ALU ------------------------------------------------------------------------------------------------------
    def _alu(self, f: _Func, insn, info) -> None:
        b, regs = f.b, f.regs
        wide = info.cls == Cls.ALU64
        ty = I64 if wide else I32
        bits = 64 if wide else 32
        a = _load(b, regs[insn.dst])
        c = _load(b, regs[insn.src]) if info.src_reg else _c64(insn.imm)
        if not wide:
            a, c = b.trunc(a, I32), b.trunc(c, I32)
        op = info.op
        zero, one = ir.Constant(ty, 0), ir.Constant(ty, 1)
        if op in _ARITH:
            r = getattr(b, _ARITH[op])(a, c)
        elif op in ("lsh", "rsh", "arsh"):
            c = b.and_(c, ir.Constant(ty, bits - 1))
            r = {"lsh": b.shl, "rsh": b.lshr, "arsh": b.ashr}[op](a, c)
        elif op in ("div", "mod"):
            is_zero = b.icmp_unsigned("==", c, zero)
            if insn.off == 1:  # signed: x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN (wraps), x % -1 = 0
                minus1 = b.icmp_unsigned("==", c, ir.Constant(ty, -1))
                safe = b.select(b.or_(is_zero, minus1), one, c)
                if op == "div":
                    r = b.select(is_zero, zero, b.select(minus1, b.neg(a), b.sdiv(a, safe)))
                else:
                    r = b.select(is_zero, a, b.select(minus1, zero, b.srem(a, safe)))
            else:
                safe = b.select(is_zero, one, c)
                r = b.select(is_zero, zero, b.udiv(a, safe)) if op == "div" else \
                    b.select(is_zero, a, b.urem(a, safe))
        elif op == "neg":
            r = b.neg(a)
        elif op == "mov":
            r = c
            if insn.off:  # movsx
                r = b.sext(b.trunc(r, ir.IntType(insn.off)), ty)
        else:  # pragma: no cover - the ISA table has no other ALU op
            raise Unsupported(f"ALU op {op}")
        b.store(r if wide else b.zext(r, I64), regs[insn.dst])

    def _atomic(self, f: _Func, pc: int, insn, info) -> None:
        regs = f.regs
        ty = INT[info.size]
        ptr = self._address(f, pc, insn.dst, insn.off, info.size, True, atomic=True)
        b = f.b
        val = _load(b, regs[insn.src])
        if info.size < 8:
            val = b.trunc(val, ty)
        imm = insn.imm
        if imm == ATOMIC_OPS["cmpxchg"]:
            expect = _load(b, regs[0])
            if info.size < 8:
                expect = b.trunc(expect, ty)
            pair = b.cmpxchg(ptr, expect, val, "seq_cst", "seq_cst")
            old = b.extract_value(pair, 0)
            b.store(b.zext(old, I64) if info.size < 8 else old, regs[0])
            return
        old = b.atomic_rmw(_RMW[imm & ~ATOMIC_FETCH if imm != ATOMIC_OPS["xchg"] else imm], ptr, val, "seq_cst")
        if imm & ATOMIC_FETCH:
            b.store(b.zext(old, I64) if info.size < 8 else old, regs[insn.src])

    def _ld_imm64(self, f: _Func, pc: int, insn) -> None:
        b = f.b
        nxt = self.insns[pc + 1]
        if insn.src == Pseudo.IMM64:
            b.store(_c64(imm64(insn, nxt)), f.regs[insn.dst])
            return
        if insn.src not in (Pseudo.MAP_FD, Pseudo.MAP_VALUE):
            raise self.unsupported(pc, f"lddw with src {insn.src} ({Pseudo(insn.src).name})")
        if insn.imm >= len(self.program.maps):
            raise self.unsupported(pc, f"lddw refers to map {insn.imm}, but the program has "
                                       f"{len(self.program.maps)}", LinkError)
        value = insn.src == Pseudo.MAP_VALUE
        if self.host:
            v = _load(b, self._state_ptr(b, f.state, ST_MAPS + 2 * insn.imm + value))
        else:
            gv = self._map_global(map_symbol(self.program.maps[insn.imm].name), "map_value" if value else "map")
            v = b.ptrtoint(gv, I64)
        if value and nxt.imm:
            v = b.add(v, _c64(nxt.imm))
        b.store(v, f.regs[insn.dst])

    # -- calls ----------------------------------------------------------------------------------------------------
    def _helper(self, f: _Func, pc: int, helper_id: int) -> None:
        b, regs = f.b, f.regs
        args = [_load(b, regs[i]) for i in range(1, 6)]
        if self.host:
            if not f.slow_mode and self.checked and self.regions.get(pc) == ("call", False):
                # the verifier did not accept its arguments: it might write anywhere, the context included
                self._fast_or_slow(f, b, pc, ir.Constant(ir.IntType(1), 0))
            fn = self._external_fn(HOST_HELPER, 7, extra=(PTR,))
            self._flush_count(f, b)
            r0 = b.call(fn, [f.state, _c64(helper_id), _c64(self.origin[pc])] + args)
            b.store(r0, regs[0])
            self._check_stopped(f, b, f"h{pc}")
            return
        entry = self.helpers.get(helper_id)
        if entry is None:
            raise self.unsupported(pc, f"helper {helper_id} is not available for program type "
                                       f"{self.program.prog_type}", LinkError)
        if entry.inline is not None:
            raise self.unsupported(pc, f"helper {entry.name} is an inline lowering of the baseline selector")
        if entry.address is not None:
            fnty = ir.FunctionType(I64, [I64] * 5)
            callee = b.inttoptr(_c64(entry.address), PTR)
            r0 = b.call(_Indirect(callee, fnty), args)
        else:
            r0 = b.call(self._external_fn(entry.symbol, 5), args)
        b.store(r0, regs[0])
        self._clobber(b, regs)

    @staticmethod
    def _clobber(b, regs) -> None:
        """Calls clobber r1-r5 (BPF calling convention): native code need not keep them alive across one."""
        for i in range(1, 6):
            b.store(_c64(0), regs[i])

    def _local_call(self, f: _Func, pc: int, target: int) -> None:
        b, regs = f.b, f.regs
        callee = self.fns.get(target)
        if callee is None:
            raise self.unsupported(pc, f"call to slot {target}, which starts no function")
        args = [_load(b, regs[i]) for i in range(1, 6)]
        inherited = [_load(b, regs[i]) for i in INHERITED]
        if not self.host:
            frame = _gep(b, f.frame, -STACK_SIZE)
            self._returned(b, regs, b.call(callee, args + [frame] + inherited))
            return
        depth = b.add(f.depth, _c64(1))
        deep = f.fn.append_basic_block(f"deep{pc}")
        go = f.fn.append_basic_block(f"call{pc}")
        b.cbranch(b.icmp_unsigned(">=", depth, _c64(MAX_CALL_DEPTH)), deep, go)
        self._fault(f, ir.IRBuilder(deep), FAULT_DEPTH, pc, _c64(MAX_CALL_DEPTH), 0)
        b.position_at_end(go)
        self._flush_count(f, b)
        r10 = b.sub(_load(b, regs[R10]), _c64(STACK_SIZE))
        frame = _gep(b, f.frame, -STACK_SIZE)
        self._returned(b, regs, b.call(callee, [f.state] + args + [r10, frame, depth] + inherited))
        self._load_count(f, b)
        self._check_stopped(f, b, f"c{pc}")


class _Indirect:
    """A callee pointer with its function type, for llvmlite's ``call`` (helpers at absolute addresses)."""

    def __init__(self, ptr, fnty):
        self.ptr, self.function_type = ptr, fnty
        self.type = PTR

    def get_reference(self):
        return self.ptr.get_reference()


def lift(program, insns, origin, functions, helpers, *, mode: str = "native", target: str = "",
         checked: bool = True, regions: dict | None = None) -> Lifted:
    """Lift legalised ``insns`` of ``program`` to an LLVM module (see the module docstring for ``mode``).

    ``regions`` (host mode): legalised index -> (region, proven) of a memory access, as a verifier found it:
    region ``"stack"`` (the frames), the table slot of a region or ``"any"``. A proven access is not checked; an
    unproven one with a known region gets a fast check against that region alone, the full check when it fails.
    """
    return Lifter(program, insns, origin, functions, helpers, mode=mode, target=target, checked=checked,
                  regions=regions).lift()
