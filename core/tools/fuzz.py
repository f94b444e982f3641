"""Differential testing: random valid programs, the interpreter against any target.

``random_program(rng)`` builds a program that uses every ALU/ALU32 operation in
register and immediate form (sdiv/smod, movsx, byte swaps included), stack
loads and stores of every width (sign-extending loads too), stack atomics,
forward JMP/JMP32 branches and bpf-to-bpf calls. It never lets a pointer reach
r0 or memory, so results compare across targets whose stacks live at different
addresses. ``compare`` runs one on ``interp`` and on a target and reports the
first difference in r0 or in the stack bytes the entry function uses (r0 only
through the LLVM tier, ``opt`` > 0, whose optimiser removes dead stack stores).
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass

from ..errors import BpfxError, RuntimeFault, Unsupported
from ..front.isa import (ALU_OPS, ATOMIC_OPS, JMP_OPS, MODES, SIZES, CallKind, Cls, Insn, SRC_K, SRC_X, ld_imm64, s32)
from ..front.program import Program

INTERESTING = [0, 1, -1, 2, 7, 31, 32, 63, 64, 0x7FFFFFFF, -0x80000000, 0xFFFF, 0x8000, 0x80, -2, 3, 1000, -1000]
INTERESTING64 = [0, 1, (1 << 64) - 1, 1 << 63, (1 << 63) - 1, 0xFFFFFFFF, 1 << 32, 0x1234_5678_9ABC_DEF0]
ALU_NAMES = [op for op in ALU_OPS if op != "end"]
COND_NAMES = ["jeq", "jgt", "jge", "jset", "jne", "jsgt", "jsge", "jlt", "jle", "jslt", "jsle"]
SLOTS = 24  # 8-byte stack slots the generated code touches: [r10 - 192, r10)


def _imm(rng: random.Random) -> int:
    return rng.choice(INTERESTING) if rng.random() < 0.6 else s32(rng.getrandbits(32))


def _value_reg(rng: random.Random) -> int:
    return rng.randrange(0, 10)


@dataclass
class _Jump:
    """A forward branch placeholder, resolved once the op layout is known."""

    insn: Insn
    skip: int  # how many following ops it jumps over


def _alu(rng: random.Random) -> list[Insn]:
    cls = rng.choice((Cls.ALU, Cls.ALU64))
    op = rng.choice(ALU_NAMES + ["end"] * 1)
    dst = rng.randrange(0, 10)
    if op == "end":
        if cls == Cls.ALU64:
            return [Insn(Cls.ALU64 | ALU_OPS["end"], dst, 0, 0, rng.choice((16, 32, 64)))]
        return [Insn(Cls.ALU | rng.choice((SRC_K, SRC_X)) | ALU_OPS["end"], dst, 0, 0, rng.choice((16, 32, 64)))]
    if op == "neg":
        return [Insn(cls | ALU_OPS["neg"], dst)]
    off = 0
    if op in ("div", "mod"):
        off = rng.choice((0, 1))
    use_reg = rng.random() < 0.5
    if op == "mov" and use_reg and rng.random() < 0.3:
        off = rng.choice((8, 16, 32) if cls == Cls.ALU64 else (8, 16))
    if use_reg:
        return [Insn(cls | SRC_X | ALU_OPS[op], dst, _value_reg(rng), off, 0)]
    imm = _imm(rng)
    if op in ("lsh", "rsh", "arsh"):
        imm &= 63 if cls == Cls.ALU64 else 31
    return [Insn(cls | SRC_K | ALU_OPS[op], dst, 0, off, imm)]


def _slot(rng: random.Random, size: int) -> int:
    return -size * rng.randrange(1, SLOTS * 8 // size + 1)


def _mem(rng: random.Random) -> list[Insn]:
    size_name = rng.choice(list(SIZES))
    size = {"w": 4, "h": 2, "b": 1, "dw": 8}[size_name]
    off = _slot(rng, size)
    kind = rng.random()
    if kind < 0.35:
        return [Insn(Cls.STX | MODES["mem"] | SIZES[size_name], 10, _value_reg(rng), off, 0)]
    if kind < 0.5:
        return [Insn(Cls.ST | MODES["mem"] | SIZES[size_name], 10, 0, off, _imm(rng))]
    if kind < 0.85 or size_name == "dw":
        return [Insn(Cls.LDX | MODES["mem"] | SIZES[size_name], rng.randrange(0, 10), 10, off, 0)]
    return [Insn(Cls.LDX | MODES["memsx"] | SIZES[size_name], rng.randrange(0, 10), 10, off, 0)]


def _atomic(rng: random.Random) -> list[Insn]:
    size_name = rng.choice(("w", "dw"))
    off = _slot(rng, 4 if size_name == "w" else 8)
    name = rng.choice(list(ATOMIC_OPS))
    imm = ATOMIC_OPS[name]
    if name not in ("xchg", "cmpxchg") and rng.random() < 0.5:
        imm |= 1
    src = rng.randrange(1, 10) if name != "cmpxchg" else rng.choice((1, 2, 3, 4, 5, 6, 7, 8, 9))
    return [Insn(Cls.STX | MODES["atomic"] | SIZES[size_name], 10, src, off, imm)]


def _branch(rng: random.Random, remaining: int) -> _Jump:
    cls = rng.choice((Cls.JMP, Cls.JMP32))
    op = rng.choice(COND_NAMES)
    skip = rng.randrange(0, min(remaining, 6) + 1)
    if rng.random() < 0.5:
        return _Jump(Insn(cls | SRC_X | JMP_OPS[op], _value_reg(rng), _value_reg(rng), 0, 0), skip)
    return _Jump(Insn(cls | SRC_K | JMP_OPS[op], _value_reg(rng), 0, 0, _imm(rng)), skip)


def _body(rng: random.Random, length: int, callees: list[int]) -> list:
    ops: list = []
    for i in range(length):
        roll = rng.random()
        if roll < 0.45:
            ops.append(_alu(rng))
        elif roll < 0.7:
            ops.append(_mem(rng))
        elif roll < 0.78:
            ops.append(_atomic(rng))
        elif roll < 0.93:
            ops.append(_branch(rng, length - i - 1))
        elif callees:
            ops.append(("call", rng.choice(callees)))
        else:
            ops.append(_alu(rng))
    return ops


def _init_regs(rng: random.Random) -> list[Insn]:
    out: list[Insn] = []
    for reg in range(10):
        if rng.random() < 0.4:
            out += ld_imm64(reg, rng.choice(INTERESTING64) if rng.random() < 0.5 else rng.getrandbits(64))
        else:
            out.append(Insn(Cls.ALU64 | SRC_K | ALU_OPS["mov"], reg, 0, 0, _imm(rng)))
    return out


def random_program(rng: random.Random, *, length: int = 40, subprograms: int = 1) -> Program:
    """A random valid program of prog type ``mem`` (r1 = memory block, ignored)."""
    funcs = [_body(rng, length, list(range(1, subprograms + 1)))]
    for _ in range(subprograms):
        funcs.append(_body(rng, max(4, length // 3), []))
    return assemble_ops(funcs, _init_regs(rng))


def assemble_ops(funcs: list[list], init: list[Insn]) -> Program:
    """Lay out functions (lists of ops) into one program; the entry gets ``init`` first."""
    insns: list[Insn] = []
    starts: list[int] = []
    calls: list[tuple[int, int]] = []  # (slot, callee function index)
    for findex, ops in enumerate(funcs):
        starts.append(len(insns))
        if findex == 0:
            insns += init
        else:  # a callee may not read r0 or r6-r9 before writing them
            insns += [Insn(Cls.ALU64 | SRC_K | ALU_OPS["mov"], r, 0, 0, 100 + r) for r in (0, 6, 7, 8, 9)]
        op_start = []
        jumps = []
        for op in ops:
            op_start.append(len(insns))
            if isinstance(op, _Jump):
                jumps.append((len(insns), op))
                insns.append(op.insn)
            elif isinstance(op, tuple) and op[0] == "call":
                calls.append((len(insns), op[1]))
                insns.append(Insn(Cls.JMP | JMP_OPS["call"], 0, CallKind.LOCAL, 0, 0))
                # r1-r5 are undefined after a call (the verifier forbids reading them): define them again
                insns += [Insn(Cls.ALU64 | SRC_K | ALU_OPS["mov"], r, 0, 0, r * 11) for r in range(1, 6)]
            else:
                insns += op
        op_start.append(len(insns))
        if findex == 0:  # fold r1-r9 into r0 so a wrong value in any register shows in the result
            for reg in range(1, 10):
                insns += [Insn(Cls.ALU64 | SRC_K | ALU_OPS["mul"], 0, 0, 0, 1000003),
                          Insn(Cls.ALU64 | SRC_X | ALU_OPS["add"], 0, reg, 0, 0)]
        insns.append(Insn(Cls.JMP | JMP_OPS["exit"]))
        for slot, jump in jumps:
            index = op_start.index(slot)
            target = op_start[min(index + 1 + jump.skip, len(op_start) - 1)]
            insns[slot] = jump.insn._replace(off=target - slot - 1)
    for slot, callee in calls:
        insns[slot] = insns[slot]._replace(imm=starts[callee] - slot - 1)
    functions = {start: ("entry" if i == 0 else f"sub{i}") for i, start in enumerate(starts)}
    return Program(name="entry", section="fuzz", prog_type="mem", insns=insns, file="<fuzz>", functions=functions)


def _used_stack(program: Program) -> int:
    end = sorted(program.functions)[1] if len(program.functions) > 1 else len(program.insns)
    low = 0
    for insn in program.insns[:end]:
        if (insn.opcode & 0x07) in (Cls.ST, Cls.STX) and insn.dst == 10 or (insn.opcode & 0x07) == Cls.LDX \
                and insn.src == 10:
            low = min(low, insn.off)
    return -low


def compare(program: Program, target: str, *, budget: int = 1_000_000, features: dict | None = None,
            opt: int = 0, rejected: list | None = None, safety: str = "structural") -> str | None:
    """None when ``target`` agrees with the interpreter on r0 and the entry frame's stack; else a description.
    Both run under the same ``safety`` (structural by default: random programs need not be provably safe).

    A program the target rejects at compile time (``Unsupported``) is a difference, unless ``rejected`` is a
    list: then the error is appended to it and the program does not count as a divergence."""
    from ..execute.runner import run_program

    try:
        expected = run_program(program, "interp", mem=bytes(16), budget=budget, safety=safety)
    except RuntimeFault as fault:
        if safety != "checked" or "checked:" not in str(fault):
            return None  # not a program both must run
        return _same_fault(program, target, str(fault), budget=budget * 64, features=features, opt=opt)
    except BpfxError:
        return None  # not a program both must run
    try:
        actual = run_program(program, target, mem=bytes(16), budget=budget * 64, features=features, opt=opt,
                             safety=safety)
    except Unsupported as err:
        if rejected is not None:
            rejected.append(str(err))
            return None
        return f"{target} failed where interp returned r0=0x{expected.r0:x}: {err}"
    except BpfxError as err:
        return f"{target} failed where interp returned r0=0x{expected.r0:x}: {err}"
    if actual.r0 != expected.r0:
        return f"r0: interp 0x{expected.r0:x}, {target} 0x{actual.r0:x}"
    used = _used_stack(program) if not opt else 0
    if used and actual.stack[-used:] != expected.stack[-used:]:
        return f"stack differs in the {used} bytes below r10"
    return None


def _same_fault(program: Program, target: str, fault: str, **kw) -> str | None:
    """Checked code that faulted on the interpreter must fault on ``target`` at the same instruction, alike."""
    from ..execute.runner import run_program

    try:
        actual = run_program(program, target, mem=bytes(16), safety="checked", **kw)
    except RuntimeFault as err:
        return None if str(err) == fault else f"interp: {fault}; {target}: {err}"
    except BpfxError as err:
        return f"{target} failed where interp faulted ({fault}): {err}"
    return f"interp: {fault}; {target} returned r0=0x{actual.r0:x}"


def minimise(program: Program, target: str, features: dict | None = None, opt: int = 0,
             safety: str = "structural") -> Program:
    """Shrink a failing program by replacing instructions with no-ops (mov r0, r0 keeps offsets valid)."""
    nop = Insn(Cls.ALU64 | SRC_X | ALU_OPS["mov"], 0, 0, 0, 0)
    insns = list(program.insns)
    changed = True
    while changed:
        changed = False
        for i, insn in enumerate(insns):
            if insn == nop or insn.opcode in (0x95, 0x85) or insn.opcode == 0x18 or (i and insns[i - 1].opcode == 0x18):
                continue
            trial = insns[:i] + [nop] + insns[i + 1:]
            candidate = Program(program.name, program.section, program.prog_type, trial, program.file,
                                dict(program.functions))
            if compare(candidate, target, features=features, opt=opt, safety=safety) is not None:
                insns = trial
                changed = True
    return Program(program.name, program.section, program.prog_type, insns, program.file, dict(program.functions))


def fuzz(target: str, count: int, seed: int, *, length: int = 40, features: dict | None = None,
         opt: int = 0, rejected: list | None = None, safety: str = "structural") -> list[tuple[int, str, Program]]:
    """Failures among ``count`` random programs; with a ``rejected`` list, programs the target rejects as
    unsupported are collected there instead of failing. ``safety="checked"`` runs the verifier on each and
    compiles its run-time checks in (both sides)."""
    failures = []
    for i in range(count):
        prog = random_program(random.Random(seed + i), length=length)
        problem = compare(prog, target, features=features, opt=opt, rejected=rejected, safety=safety)
        if problem:
            failures.append((seed + i, problem, prog))
    return failures


def cmd_fuzz(args) -> int:
    from ..front.asm import disassemble
    from ..plugins import get_target

    from ..execute.runner import _features

    get_target(args.target)
    features = _features(args.mattr)
    rejected: list[str] = []
    failures = fuzz(args.target, args.n, args.seed, length=args.length, features=features, opt=args.opt,
                    rejected=rejected, safety=args.safety)
    for seed, problem, prog in failures[:1]:
        small = minimise(prog, args.target, features, args.opt, args.safety)
        print(f"seed {seed}: {problem}\nminimised program:\n{disassemble(small.insns)}", file=sys.stderr)
    if rejected:  # compiled programs that were not run: say why, most common reason first
        reasons: dict[str, int] = {}
        for err in rejected:
            reason = err.split(": ", 1)[-1]
            reasons[reason] = reasons.get(reason, 0) + 1
        for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])[:5]:
            print(f"rejected {n}: {reason}", file=sys.stderr)
    passed = args.n - len(failures) - len(rejected)
    print(f"{passed} passed, {len(failures)} failed" + (f", {len(rejected)} rejected as unsupported"
                                                        if rejected else ""))
    return 1 if failures else 0


def register(sub) -> None:
    p = sub.add_parser("fuzz", help="differential fuzzing: random programs on interp and a target",
                       description="Generate random valid programs, run each on the interpreter and on TARGET, "
                                   "and report any difference in r0 or the stack, with a minimised program.")
    p.add_argument("-t", "--target", required=True)
    p.add_argument("-n", type=int, default=100, help="number of programs (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--length", type=int, default=40, help="instructions in the entry function's body")
    p.add_argument("--mattr", help="target features, e.g. +c,+zba or -lse")
    p.add_argument("-O", dest="opt", type=int, choices=(0, 1, 2, 3), default=0, metavar="N",
                   help="0: baseline selector (default); 1-3: the LLVM tier (compares r0 only)")
    p.add_argument("--safety", choices=("structural", "checked"), default="structural",
                   help="checked: verify each program and compile its run-time checks in, on both sides")
    p.set_defaults(func=cmd_fuzz)
