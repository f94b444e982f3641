"""The ``host`` target: BPF JIT-compiled through LLVM (MCJIT) for the machine bpfx runs on.

Trust model: host code runs inside the Python process, so nothing it does may reach host memory the run does
not own. Only validated programs are lifted, registers hold the runtime's virtual addresses (the same values
the interpreter computes), and every load, store and atomic goes through the region table of the run (stack,
ctx, packet, mem, each map) unless it is an r10-relative constant offset inside the current frame, which the
lifter proves in bounds. A failed check calls back into Python, which raises exactly the interpreter's fault,
and the run ends. Region buffers are the runtime's own bytearrays, shared zero-copy, so the Python helper
implementations (called through a ctypes callback) see every store at once. A backward branch checks the
instruction budget; the call depth is checked as the interpreter does.

Compiled modules are cached by program bytes (plus functions, program type, map count and optimisation
level): running the same program again does not recompile.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import OrderedDict

import llvmlite.binding as llvm

from ..errors import BpfxError, RuntimeFault, Unsupported
from ..execute.runtime import layout
from ..front.isa import MAX_CALL_DEPTH, OPCODES, STACK_SIZE, CallKind, Kind
from .lift import (FAULT_ATOMIC, FAULT_BUDGET, FAULT_DEPTH, FAULT_WRITE, HOST_FAULT, HOST_HELPER, NSLOTS, SLOT_SHIFT,
                   ST_BUDGET, ST_COUNT, ST_MAPS, ST_STOPPED, ST_TABLE)

U64, PTR = ctypes.c_uint64, ctypes.c_void_p
_HELPER_T = ctypes.CFUNCTYPE(U64, PTR, U64, U64, U64, U64, U64, U64, U64)  # state, id, insn, r1-r5
_FAULT_T = ctypes.CFUNCTYPE(None, PTR, U64, U64, U64, U64)  # state, kind, insn, address, size
_ENTRY_T = ctypes.CFUNCTYPE(U64, PTR, U64, U64, U64, U64, U64, U64, PTR, U64)  # state, r1-r5, r10, frame, depth
CACHE_SIZE = 256
_CHAR = ctypes.c_char.from_buffer
ENTRY = "bpf_entry"

_current = threading.local()


class _Run:
    """One run's state: the i64 array the JIT code reads, the exported buffers, the fault if any."""

    def __init__(self, rt, budget: int):
        self.rt = rt
        self.fault: tuple[BaseException, int] | None = None
        self.program = None  # the program running (run_host sets it; tail calls change it)
        regions = [r for r in rt.memory.regions if r.buf]
        key = (tuple((r.name, r.base, len(r.buf), r.writable) for r in regions),
               tuple((m.handle, m.values_base) for m in rt.maps))
        template = _TEMPLATES.get(key)
        if template is None:
            template = _template(regions, rt.maps)
            if len(_TEMPLATES) >= CACHE_SIZE:
                _TEMPLATES.clear()
            _TEMPLATES[key] = template
        words, hosts, stack = template
        self.state = state = (U64 * (len(words) // 8)).from_buffer_copy(words)
        state[ST_BUDGET] = budget
        # the buffers' host addresses are the only per-run entries (exports pin the bytearrays meanwhile)
        self.buffers = [_CHAR(r.buf) for r in regions]  # a 1-byte view: its address, and the export
        for entries, buf in zip(hosts, self.buffers):
            address = ctypes.addressof(buf)
            for e in entries:
                state[e] = address
        self.stack = (regions[stack], state[hosts[stack][0]])

    def frame(self) -> int:
        region, host = self.stack
        return host + (self.rt.stack_top - region.base)

    def stop(self, fault: BaseException | None = None, insn: int = 0) -> None:
        self.state[ST_STOPPED] = 1
        if fault is not None and self.fault is None:
            self.fault = (fault, insn)


def _template(regions, maps) -> tuple[bytes, list[list[int]], int]:
    """(the state array as bytes with every host address 0, the indices of each region's host address, the
    stack's position in ``regions``) for one layout of regions and maps; Unsupported for a layout the region
    table cannot hold."""
    state = (U64 * (ST_MAPS + 2 * len(maps)))()
    owner: dict[int, str] = {}
    hosts, stack = [], None
    for i, region in enumerate(regions):
        size = len(region.buf)
        first, last = region.base >> SLOT_SHIFT, (region.end - 1) >> SLOT_SHIFT
        if last >= NSLOTS:
            raise Unsupported(f"host: region {region.name} at 0x{region.base:x} is above 4 GiB")
        hosts.append([ST_TABLE + 4 * slot + 3 for slot in range(first, last + 1)])
        for slot in range(first, last + 1):
            if slot in owner:
                raise Unsupported(f"host: regions {owner[slot]} and {region.name} share a 16 MiB slot")
            owner[slot] = region.name
            e = ST_TABLE + 4 * slot
            state[e:e + 3] = [region.base, size, size if region.writable else 0]
        if region.name == "stack":
            stack = i
    for i, m in enumerate(maps):
        state[ST_MAPS + 2 * i] = m.handle
        state[ST_MAPS + 2 * i + 1] = m.values_base
    return bytes(state), hosts, stack


_TEMPLATES: dict[tuple, tuple] = {}  # region and map layout -> _template(...)


def _on_helper(state, helper_id, insn, a1, a2, a3, a4, a5):
    run = _current.run
    rt = run.rt
    try:
        r0 = rt.call_helper(helper_id, (a1, a2, a3, a4, a5))
    except BaseException as exc:  # noqa: BLE001 - re-raised by run_host once the JIT code has returned
        run.stop(exc, insn)
        return 0
    if rt.exit_requested or rt.pending_tail_call is not None:
        run.stop()
    return r0


def _on_fault(state, kind, insn, address, size):
    run = _current.run
    if kind == FAULT_BUDGET:
        fault = RuntimeFault(f"instruction budget of {address} exhausted")
        insn = _crossing(run.program, size & 0xFFFF_FFFF, size >> 32, insn, run.state[ST_COUNT] - address)
    elif kind == FAULT_DEPTH:
        fault = RuntimeFault(f"call depth exceeds {MAX_CALL_DEPTH} frames")
    else:
        try:  # the interpreter's own checks, so the message is the interpreter's (an atomic reads, then writes)
            if kind == FAULT_ATOMIC:
                run.rt.memory.region(address, size, False)
            run.rt.memory.region(address, size, kind in (FAULT_WRITE, FAULT_ATOMIC))
            fault = RuntimeFault(f"access of {size} bytes at 0x{address:x} failed the host bounds check")
        except RuntimeFault as exc:
            fault = exc
    run.stop(fault, insn)


def _crossing(program, start: int, slots: int, check: int, excess: int) -> int:
    """The instruction the interpreter's budget fault names, the one that went over: the block checked at
    ``check`` began at ``start`` and counted ``slots`` instructions, and the run is ``excess`` over; when that
    instruction is before the block (or the block is not its instructions as written), ``check``."""
    if program is None:
        return check
    pcs, pc = [], start
    while pc <= check and pc < len(program.insns):
        pcs.append(pc)
        pc += 2 if program.insns[pc].opcode == 0x18 else 1
    return pcs[slots - excess] if len(pcs) == slots and 1 <= excess <= slots else check


_CALLBACKS = (_HELPER_T(_on_helper), _FAULT_T(_on_fault))  # kept alive for the process


# LLVM's code calls its runtime library for what the machine has no instruction for (128-bit division, which
# loop exit values computed in closed form can need) and MCJIT resolves such calls in the process: libgcc_s goes
# in, and without it the host target refuses to start rather than run code that would call address 0.
RUNTIME_SYMBOLS = ("__udivti3", "__umodti3", "__divti3", "__modti3")


def _runtime_library() -> None:
    import ctypes.util

    if all(llvm.address_of_symbol(s) for s in RUNTIME_SYMBOLS):
        return
    name = ctypes.util.find_library("gcc_s")
    try:
        if name:
            llvm.load_library_permanently(name)
    except RuntimeError:
        pass
    missing = [s for s in RUNTIME_SYMBOLS if not llvm.address_of_symbol(s)]
    if missing:
        raise Unsupported(f"host: LLVM's runtime library is not in the process ({', '.join(missing)}; libgcc_s "
                          f"not found)")


class Jit:
    """The host Codegen and the cache of compiled programs. ``checked=False`` (bench/host_speed.py only, to
    measure what the bounds checks cost) compiles without them: never run untrusted programs that way."""

    def __init__(self, checked: bool = True):
        from .codegen import Codegen

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _runtime_library()
        llvm.add_symbol(HOST_HELPER, ctypes.cast(_CALLBACKS[0], PTR).value)
        llvm.add_symbol(HOST_FAULT, ctypes.cast(_CALLBACKS[1], PTR).value)
        self.triple = llvm.get_process_triple()
        self.cpu = llvm.get_host_cpu_name()
        self.features = llvm.get_host_cpu_features().flatten()
        self.codegens: dict[int, Codegen] = {}
        self.cache: OrderedDict[tuple, tuple] = OrderedDict()
        self._last: dict[tuple, tuple] = {}  # (id(program), opt, helpers) -> (program, insns, ..., entry)
        self.hits = self.misses = 0
        self.checked = checked
        self.compile_seconds = 0.0

    def codegen(self, opt: int):
        from .codegen import Codegen

        cg = self.codegens.get(opt)
        if cg is None:
            cg = self.codegens[opt] = Codegen(self.triple, cpu=self.cpu, features=self.features, opt=opt, jit=True)
        return cg

    def entry(self, program, opt: int, helpers=frozenset()):
        """The compiled entry point of ``program`` (from the cache when these bytes were compiled before)."""
        memo = self._last.get((id(program), opt, helpers))
        if (memo is not None and memo[0] is program and memo[1] is program.insns and memo[2] == len(program.insns)
                and memo[3] is program.functions and memo[4] == (program.prog_type, len(program.maps))):
            self.hits += 1  # the same Program object as a recent run: skip hashing its bytes
            return memo[5]
        fn = self._entry(program, opt, helpers)
        if len(self._last) >= CACHE_SIZE:
            self._last.clear()
        self._last[id(program), opt, helpers] = (program, program.insns, len(program.insns), program.functions,
                                                 (program.prog_type, len(program.maps)), fn)
        return fn

    def _entry(self, program, opt: int, helpers):
        key = (program.raw(), tuple(sorted(program.functions)), program.prog_type, len(program.maps), opt,
               helpers)
        hit = self.cache.get(key)
        if hit is not None:
            self.cache.move_to_end(key)
            self.hits += 1
            return hit[1]
        self.misses += 1
        start = time.perf_counter()
        lib = self.library(program, opt, helpers)
        engine = llvm.create_mcjit_compiler(lib.module, self.codegen(opt).target_machine())
        engine.finalize_object()
        fn = _ENTRY_T(engine.get_function_address(ENTRY))
        self.compile_seconds += time.perf_counter() - start
        self.cache[key] = (engine, fn)
        if len(self.cache) > CACHE_SIZE:
            self.cache.popitem(last=False)
        return fn

    def library(self, program, opt: int, helpers=frozenset()):
        from . import legalise
        from .lift import lift

        try:
            legal = legalise(program, helpers=helpers)  # the UAPI ctx layout, as the interpreter runs it
            # functions named by position, so the module depends on nothing the cache key leaves out
            legal.functions = {s: ENTRY if s == 0 else f"bpf_fn{s}" for s in legal.functions}
            # helpers need no table: the runtime checks each id when it is called, as in the interpreter
            lifted = lift(program, legal.insns, legal.origin, legal.functions, None, mode="host", target="host",
                          checked=self.checked, regions=access_regions(program, legal.insns, legal.origin))
            lib = self.codegen(opt).library(program.name)
            lib.add_ir(lifted.module)
            lib.finalize()
        except BpfxError as err:
            raise err.at(file=program.file, section=program.section) from None
        return lib


def access_regions(program, insns, origin) -> dict:
    """Legalised index -> (region, proven) of each memory access the verifier classified (``lift``'s
    ``regions``): region is ``"stack"``, the table slot of a fixed region (ctx, packet, mem) or ``"any"``;
    proven is True when every visit is in bounds of that region. Its facts hold for the program as written (no
    check assumed), so only instructions the legaliser left as they were, first of their origin, are taken. A
    helper call whose arguments it did not accept maps to ``("call", False)``."""
    from ..front.verify import ValueFacts, analyse

    fixed = {"stack": "stack", "ctx": layout.CTX_BASE >> SLOT_SHIFT, "packet": layout.PACKET_BASE >> SLOT_SHIFT,
             "mem": layout.MEM_BASE >> SLOT_SHIFT}
    try:
        analysis = analyse(program, assume_checks=False)
    except BpfxError:
        return {}
    if not analysis.complete:
        return {}
    facts = ValueFacts(analysis)
    regions = {}
    for pc, insn in enumerate(insns):
        o = origin[pc]
        first = insn == program.insns[o] and not (pc and origin[pc - 1] == o)
        failed = o in analysis.errors or o in analysis.accesses and analysis.accesses[o].status != "proven"
        if insn.opcode == 0x85 and insn.src == CallKind.HELPER and (not first or failed):
            regions[pc] = ("call", False)  # arguments not proven: the call leaves the fast version
            continue
        acc = analysis.accesses.get(o)
        if acc is None or not first:
            continue
        info = OPCODES[insn.opcode]
        if info is None or not info.size or info.kind not in (Kind.LDX, Kind.LDXSX, Kind.ST, Kind.STX, Kind.ATOMIC):
            continue
        fact = facts.reg(o, insn.src if info.kind in (Kind.LDX, Kind.LDXSX) else insn.dst)
        if fact is None:
            continue
        kind, proven = fact.kind, acc.status == "proven"
        if proven or kind in fixed:
            regions[pc] = (fixed.get(kind, "any"), proven)
    return regions


_JIT: Jit | None = None


def jit() -> Jit:
    global _JIT
    if _JIT is None:
        _JIT = Jit()
    return _JIT


def run_host(program, rt, *, budget: int, opt: int = 2, jit_: Jit | None = None):
    """Run ``program`` natively against runtime ``rt``; returns the interpreter's Result."""
    j = jit_ or jit()
    helpers = frozenset(rt.helper_impls)  # callx may reach the caller's helpers too
    entry = j.entry(program, opt, helpers)
    if rt.stack_top != layout.STACK_TOP:  # the lifter takes the entry's r10 to be STACK_TOP
        raise Unsupported(f"host: the runtime's stack top 0x{rt.stack_top:x} is not 0x{layout.STACK_TOP:x}")
    if rt.ptype.ctx_struct and rt.entry_args[0] != layout.CTX_BASE:  # and its r1 to be CTX_BASE
        raise Unsupported(f"host: the runtime's context at 0x{rt.entry_args[0]:x} is not 0x{layout.CTX_BASE:x}")
    run = _Run(rt, budget)
    run.program = program
    previous = getattr(_current, "run", None)
    _current.run = run
    try:
        while True:
            run.state[ST_STOPPED] = 0
            a = rt.entry_args
            r0 = entry(run.state, a[0], a[1], a[2], a[3], a[4], rt.stack_top, run.frame(), 0)
            if run.fault is not None:
                fault, insn = run.fault
                if isinstance(fault, BpfxError):
                    raise fault.at(file=program.file, section=program.section, insn=insn)
                raise fault
            if rt.pending_tail_call is None or rt.exit_requested:
                break
            program, rt.pending_tail_call = rt.pending_tail_call, None
            run.program = program
            entry = j.entry(program, opt, helpers)
        count = run.state[ST_COUNT]
    finally:
        _current.run = previous
        run.buffers.clear()  # release the bytearrays' exports
    top = rt.stack_top
    stack = rt.memory.read(top - STACK_SIZE, STACK_SIZE)
    return rt.result(r0, stack=stack, insn_count=count)
