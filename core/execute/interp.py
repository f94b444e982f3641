"""The reference interpreter: the oracle every target is checked against.

Each slot is pre-decoded into (handler, dst, src, off, imm); handlers come
from a 256-entry table built from ``isa.OPCODES`` and return the next pc.
Registers are unsigned 64-bit Python ints; register 11 is the hidden AX
register, so legalised (e.g. hardened) programs run here too.
"""

from __future__ import annotations

from ..errors import BpfxError, RuntimeFault, Unsupported
from ..front.isa import (ATOMIC_FETCH, ATOMIC_OPS, MAX_CALL_DEPTH, OPCODES, STACK_SIZE, CallKind, Cls, Kind, Pseudo,
                  imm64)
from ..front.program import Program
from .runtime import layout

M64 = (1 << 64) - 1
M32 = 0xFFFFFFFF
EXIT_PC = -1
RETURN_PC = -2  # a callback (bpf_loop, for_each_map_elem) returning to the helper that called it
FUNC_BASE = layout.CODE_BASE  # BPF_PSEUDO_FUNC values: FUNC_BASE + 8 * slot


def _sx(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def _sdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return -q if (a < 0) != (b < 0) else q


def _alu(op: str, a: int, b: int, off: int, bits: int) -> int:
    """One ALU operation on ``bits``-wide unsigned operands; the result is masked to ``bits``."""
    mask = (1 << bits) - 1
    if op == "add":
        r = a + b
    elif op == "sub":
        r = a - b
    elif op == "mul":
        r = a * b
    elif op == "div":
        if b == 0:
            r = 0
        elif off == 1:
            r = _sdiv(_sx(a, bits), _sx(b, bits))
        else:
            r = a // b
    elif op == "mod":
        if b == 0:
            r = a
        elif off == 1:
            sa, sb = _sx(a, bits), _sx(b, bits)
            r = sa - _sdiv(sa, sb) * sb
        else:
            r = a % b
    elif op == "or":
        r = a | b
    elif op == "and":
        r = a & b
    elif op == "xor":
        r = a ^ b
    elif op == "lsh":
        r = a << (b & (bits - 1))
    elif op == "rsh":
        r = a >> (b & (bits - 1))
    elif op == "arsh":
        r = _sx(a, bits) >> (b & (bits - 1))
    elif op == "neg":
        r = -a
    elif op == "mov":
        r = _sx(b, off) if off else b
    else:  # pragma: no cover - the ISA table has no other ALU op
        raise Unsupported(f"ALU op {op}")
    return r & mask


def _bswap(value: int, width: int) -> int:
    return int.from_bytes((value & ((1 << width) - 1)).to_bytes(width // 8, "little"), "big")


_COND = {
    "jeq": lambda a, b, sa, sb: a == b, "jne": lambda a, b, sa, sb: a != b,
    "jgt": lambda a, b, sa, sb: a > b, "jge": lambda a, b, sa, sb: a >= b,
    "jlt": lambda a, b, sa, sb: a < b, "jle": lambda a, b, sa, sb: a <= b,
    "jsgt": lambda a, b, sa, sb: sa > sb, "jsge": lambda a, b, sa, sb: sa >= sb,
    "jslt": lambda a, b, sa, sb: sa < sb, "jsle": lambda a, b, sa, sb: sa <= sb,
    "jset": lambda a, b, sa, sb: (a & b) != 0,
}


class _Stop(Exception):
    pass


class Interpreter:
    def __init__(self, program: Program, runtime, budget: int, prepare=None):
        self.prepare = prepare
        self.rt = runtime
        self.mem = runtime.memory
        self.budget = budget
        self.r = [0] * 12
        self.frames: list[tuple[int, list[int]]] = []
        self.table = self._build()
        self.load(program)
        self.count = 0
        runtime.invoke = self.invoke

    def load(self, program: Program) -> None:
        self.program = program
        insns = program.insns
        code = []
        for pc, insn in enumerate(insns):
            info = OPCODES[insn.opcode]
            handler = self.table[insn.opcode] if info else None
            extra = None
            if info is not None and info.kind == Kind.LD_IMM64:
                extra = insns[pc + 1] if pc + 1 < len(insns) else None
            code.append((handler, insn.dst, insn.src, insn.off, insn.imm, extra))
        self.code = code

    # -- handler factories -------------------------------------------------------------------------------------
    def _build(self):
        table = [None] * 256
        for opcode, info in enumerate(OPCODES):
            if info is None:
                continue
            make = getattr(self, f"_make_{info.kind.name.lower()}", None)
            if make is not None:
                table[opcode] = make(info)
        return table

    def _make_alu(self, info):
        r, op = self.r, info.op
        bits = 64 if info.cls == Cls.ALU64 else 32
        mask = (1 << bits) - 1
        if info.src_reg:
            def h(pc, d, s, off, imm, _x):
                r[d] = _alu(op, r[d] & mask, r[s] & mask, off, bits)
                return pc + 1
        else:
            def h(pc, d, s, off, imm, _x):
                r[d] = _alu(op, r[d] & mask, imm & mask, off, bits)
                return pc + 1
        return h

    def _make_endian(self, info):
        r = self.r
        swap = info.cls == Cls.ALU64 or info.src_reg  # bswap, or to-big-endian on a little-endian machine

        def h(pc, d, s, off, width, _x):
            r[d] = _bswap(r[d], width) if swap else r[d] & ((1 << width) - 1)
            return pc + 1
        return h

    def _make_ja(self, info):
        if info.cls == Cls.JMP32:
            return lambda pc, d, s, off, imm, _x: pc + 1 + imm
        return lambda pc, d, s, off, imm, _x: pc + 1 + off

    def _make_jcond(self, info):
        r, test = self.r, _COND[info.op]
        bits = 64 if info.cls == Cls.JMP else 32
        mask = (1 << bits) - 1

        def h(pc, d, s, off, imm, _x):
            a = r[d] & mask
            b = (r[s] if info.src_reg else imm) & mask
            return pc + 1 + off if test(a, b, _sx(a, bits), _sx(b, bits)) else pc + 1
        return h

    def _make_ldx(self, info):
        r, mem, size = self.r, self.mem, info.size

        def h(pc, d, s, off, imm, _x):
            r[d] = mem.load((r[s] + off) & M64, size)
            return pc + 1
        return h

    def _make_ldxsx(self, info):
        r, mem, size = self.r, self.mem, info.size

        def h(pc, d, s, off, imm, _x):
            r[d] = mem.load((r[s] + off) & M64, size, signed=True) & M64
            return pc + 1
        return h

    def _make_st(self, info):
        r, mem, size = self.r, self.mem, info.size

        def h(pc, d, s, off, imm, _x):
            mem.store((r[d] + off) & M64, size, imm & M64)
            return pc + 1
        return h

    def _make_stx(self, info):
        r, mem, size = self.r, self.mem, info.size

        def h(pc, d, s, off, imm, _x):
            mem.store((r[d] + off) & M64, size, r[s])
            return pc + 1
        return h

    def _make_atomic(self, info):
        r, mem, size = self.r, self.mem, info.size
        mask = (1 << (size * 8)) - 1
        ops = {ATOMIC_OPS["add"]: lambda a, b: a + b, ATOMIC_OPS["or"]: lambda a, b: a | b,
               ATOMIC_OPS["and"]: lambda a, b: a & b, ATOMIC_OPS["xor"]: lambda a, b: a ^ b}

        def h(pc, d, s, off, imm, _x):
            addr = (r[d] + off) & M64
            old = mem.load(addr, size)
            if imm == ATOMIC_OPS["cmpxchg"]:
                if old == r[0] & mask:
                    mem.store(addr, size, r[s])
                r[0] = old
            elif imm == ATOMIC_OPS["xchg"]:
                mem.store(addr, size, r[s])
                r[s] = old
            else:
                mem.store(addr, size, ops[imm & ~ATOMIC_FETCH](old, r[s] & mask) & mask)
                if imm & ATOMIC_FETCH:
                    r[s] = old
            return pc + 1
        return h

    def _make_ld_imm64(self, info):
        r, rt = self.r, self.rt

        def h(pc, d, s, off, imm, nxt):
            if s == Pseudo.IMM64:
                r[d] = imm64(self.program.insns[pc], nxt)
            elif s == Pseudo.MAP_FD:
                r[d] = rt.map_address(imm)
            elif s == Pseudo.MAP_VALUE:
                r[d] = (rt.map_value_address(imm) + nxt.imm) & M64
            elif s == Pseudo.FUNC:  # a callback's address: where its first slot would sit in a code image
                r[d] = FUNC_BASE + (pc + 1 + imm) * 8
            else:
                raise Unsupported(f"lddw with src {s} ({Pseudo(s).name}) is not supported")
            return pc + 2
        return h

    def _helper(self, helper_id: int) -> None:
        r, rt = self.r, self.rt
        r[0] = rt.call_helper(helper_id, (r[1], r[2], r[3], r[4], r[5]))
        if rt.exit_requested:
            raise _Stop
        if rt.pending_tail_call is not None:
            target, rt.pending_tail_call = rt.pending_tail_call, None
            self.frames.clear()
            self.load(self.prepare(target) if self.prepare is not None else target)
            r[1], r[10] = rt.entry_args[0], rt.stack_top
            self.next_pc = 0

    def _make_call(self, info):
        r = self.r

        def h(pc, d, s, off, imm, _x):
            if s == CallKind.LOCAL:
                if len(self.frames) + 1 >= MAX_CALL_DEPTH:
                    raise RuntimeFault(f"call depth exceeds {MAX_CALL_DEPTH} frames")
                self.frames.append((pc + 1, r[6:11]))
                r[10] = (r[10] - STACK_SIZE) & M64
                return pc + 1 + imm
            if s != CallKind.HELPER:
                raise Unsupported("kfunc calls are not supported")
            self.next_pc = pc + 1
            self._helper(imm)
            return self.next_pc
        return h

    def _make_callx(self, info):
        r = self.r

        def h(pc, d, s, off, imm, _x):
            self.next_pc = pc + 1
            self._helper(r[d])
            return self.next_pc
        return h

    def _make_exit(self, info):
        r = self.r

        def h(pc, d, s, off, imm, _x):
            if not self.frames:
                return EXIT_PC
            ret, saved = self.frames.pop()
            r[6:11] = saved
            return ret
        return h

    def _make_ld_abs(self, info):
        """Legacy packet loads, as the kernel runs them: r0 = the big-endian value at data + offset (offset =
        imm, or src + imm as a signed 32-bit value for LD_IND); out of bounds, the program exits with r0 = 0."""
        r, rt, mem, size = self.r, self.rt, self.mem, info.size
        indirect = info.kind == Kind.LD_IND

        def h(pc, d, s, off, imm, _x):
            at = _sx((r[s] if indirect else 0) + imm, 32)
            data, end = rt.data, rt.data_end
            if rt.packet_region is None or at < 0 or data + at + size > end:
                r[0] = 0
                self.frames.clear()
                return EXIT_PC
            r[0] = int.from_bytes(mem.read(data + at, size), "big")
            return pc + 1
        return h

    _make_ld_ind = _make_ld_abs

    # -- the loop ------------------------------------------------------------------------------------------------
    def run(self) -> int:
        r = self.r
        r[1:6] = self.rt.entry_args
        r[10] = self.rt.stack_top
        try:
            self._loop(0)
        except _Stop:
            pass
        return r[0]

    def _loop(self, pc: int) -> int:
        """Run from ``pc`` until the program exits or a callback returns; the pc it stopped at."""
        budget, count = self.budget, self.count
        try:
            while pc >= 0:
                handler, d, s, off, imm, extra = self.code[pc]  # not cached: a tail call replaces the code
                count += 1
                if count > budget:
                    raise RuntimeFault(f"instruction budget of {budget} exhausted")
                pc = handler(pc, d, s, off, imm, extra)
        except (IndexError, TypeError):
            if 0 <= pc < len(self.code) and self.code[pc][0] is not None:
                raise
            raise RuntimeFault(f"control reached invalid instruction slot {pc}", insn=pc) from None
        except BpfxError as err:
            raise err.at(file=self.program.file, section=self.program.section, insn=pc) from None
        finally:
            self.count = count
        return pc

    def invoke(self, address: int, args: tuple[int, ...]) -> int:
        """Call the BPF function at ``address`` (a BPF_PSEUDO_FUNC value) with ``args``; its r0. What helpers
        that take callbacks (bpf_loop, bpf_for_each_map_elem, timers) use. r6-r10 survive, as for any call."""
        slot, rem = divmod(address - FUNC_BASE, 8)
        if rem or not 0 <= slot < len(self.code) or slot not in self.program.functions and not self._is_start(slot):
            raise RuntimeFault(f"callback address 0x{address:x} is not a function of the program")
        r = self.r
        if len(self.frames) + 1 >= MAX_CALL_DEPTH:
            raise RuntimeFault(f"call depth exceeds {MAX_CALL_DEPTH} frames")
        saved_frames = len(self.frames)
        self.frames.append((RETURN_PC, r[6:11]))
        r[1:1 + len(args)] = [a & M64 for a in args]
        r[10] = (r[10] - STACK_SIZE) & M64
        if self._loop(slot) != RETURN_PC:
            raise _Stop  # the callback ended the whole program (a tail call or an unwinding helper)
        del self.frames[saved_frames:]
        return r[0]

    def _is_start(self, slot: int) -> bool:
        from ..front.validate import function_starts

        return slot in function_starts(self.program)


def interpret(program: Program, runtime, *, budget: int = 10_000_000, prepare=None):
    """Run ``program`` against ``runtime`` and return its Result.

    ``prepare(program) -> Program``, if given, turns a tail call's target into what runs in its place (an
    executor whose programs are normalised BPF normalises the callee too)."""
    interp = Interpreter(program, runtime, budget, prepare)
    r0 = interp.run()
    top = runtime.stack_top
    stack = runtime.memory.read(top - STACK_SIZE, STACK_SIZE)
    return runtime.result(r0, stack=stack, insn_count=interp.count)


__all__ = ["interpret", "Interpreter"]
