"""Code quality and compile speed of a native target.

Reports, for TARGET (default: every target with a selector and a machine):
- static native instructions per BPF instruction over the examples and the conformance corpus, as a marginal
  figure (body only) plus the fixed prologue/epilogue cost per function;
- executed native instructions per executed BPF instruction (native counted by unicorn, BPF by the interpreter);
- compile speed in BPF insns/s on a generated 1M-instruction program, in a process of its own set up as the CLI
  sets itself up (keep_freed_memory) and holding the program as a loader gives it: decoded from the bytes this
  process generated (the generator's own garbage left the compiles ~5% slower). The fastest of ``--runs``
  compiles, each of a fresh Program, validation included; the first one's speed too, which pays for the process's
  fresh memory; and that process's peak RSS;
- with ``-O N`` (the LLVM tier), for targets with an LLVM triple: static code size at -ON against the baseline
  over the examples and the compute loops of bench/loops (built with clang), executed native instructions per
  executed BPF instruction on the loops at -O0 and -ON, and compile time per program for both tiers.

    python bench/codegen.py [-t arm64] [--size 1000000] [--runs 3] [--mattr +c] [-O 2 [--only-opt]] [--breakdown]

Instructions are counted with the target's disassembler, so variable-length encodings (riscv64 +c) count right;
the total code bytes over the corpus are reported too.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import json
import resource
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left

import bpfx
from bpfx import testing
from bpfx.tools.conformance import parse_file
from bpfx.tools.fuzz import random_program
from bpfx.plugins import all_targets, get_target
from bpfx.front.program import Program
from bpfx.execute.runtime import layout
from bpfx.back.emit import DATA

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFORMANCE = testing.conformance_dir(ROOT) or ""


def corpus() -> list[tuple[Program, dict]]:
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.o"))):
        obj = bpfx.load(path)
        for prog in obj.programs:
            out.append((prog, {"packet": bytes(range(256)) * 4, "obj": obj}))
    for path in sorted(glob.glob(os.path.join(CONFORMANCE, "*.data"))):
        test = parse_file(path)
        prog = Program(name=os.path.basename(path)[:-5], section="conformance", prog_type="mem",
                       insns=test.insns, file=path)
        out.append((prog, {"mem": test.mem}))
    return out


def _segments(image):
    """(start, end, is_frame) for each line-map segment of instructions: frame code is marked with BPF index -1;
    data (a constant pool, marked ``DATA``) is left out."""
    offs = [off for off, _ in image.line_map] + [len(image.code)]
    return [(offs[i], offs[i + 1], idx < 0) for i, (_, idx) in enumerate(image.line_map) if idx != DATA]


def _starts(image, disasm) -> list[int]:
    """Offsets of the image's instructions, from the target's disassembler (4-byte words without one)."""
    if disasm is None:
        return list(range(0, len(image.code), 4))
    return [address for address, _size, _text in disasm(image.code, 0)]


def _count(starts: list[int], lo: int, hi: int) -> int:
    return bisect_left(starts, hi) - bisect_left(starts, lo)


def static_figures(target: str, programs, features=None) -> tuple[float, float, int, int]:
    """(native per BPF instruction outside prologues/epilogues, frame instructions per function, programs, code
    bytes)."""
    body_native = body_bpf = frame = funcs = done = size = 0
    disasm = getattr(get_target(target).selector(features), "disassembler", None)
    for prog, _ in programs:
        try:
            image = bpfx.compile(prog, target, features=features)
        except bpfx.BpfxError:
            continue
        done += 1
        size += len(image.code)
        starts = _starts(image, disasm)
        for start, end, is_frame in _segments(image):
            if is_frame:
                frame += _count(starts, start, end)
            else:
                body_native += _count(starts, start, end)
        body_bpf += sum(1 for i, insn in enumerate(prog.insns) if not (i and prog.insns[i - 1].opcode == 0x18))
        funcs += len(set(image.symbols.values()))
    return body_native / max(body_bpf, 1), frame / max(funcs, 1), done, size


def dynamic_figures(target: str, programs, features=None) -> tuple[float, float]:
    """(all executed native / executed BPF, executed native outside frames / executed BPF)."""
    from bpfx.execute import machine

    blocks: list[tuple[int, int]] = []
    original = machine._Run._on_block

    def on_block(self, uc, address, size, user):
        blocks.append((address, size))
        return original(self, uc, address, size, user)

    executor = get_target(target).machine()
    if not isinstance(executor, bpfx.Machine) and hasattr(type(executor), "profiling"):
        return _profiled_figures(target, type(executor), programs)
    machine._Run._on_block = on_block
    native = body = bpf = 0
    disasm = getattr(get_target(target).selector(features), "disassembler", None)
    try:
        for prog, kwargs in programs:
            blocks.clear()
            try:
                ref = bpfx.run(prog, "interp", **kwargs)
                bpfx.run(prog, target, features=features, **kwargs)
                image = bpfx.compile(prog, target, features=features)
            except bpfx.BpfxError:
                continue
            starts = [layout.CODE_BASE + s for s in _starts(image, disasm)]
            frame_addrs = set()
            for start, end, is_frame in _segments(image):
                if is_frame:
                    lo, hi = bisect_left(starts, layout.CODE_BASE + start), bisect_left(starts, layout.CODE_BASE + end)
                    frame_addrs.update(starts[lo:hi])
            for address, size in blocks:
                for a in starts[bisect_left(starts, address):bisect_left(starts, address + size)]:
                    native += 1
                    body += a not in frame_addrs
            bpf += ref.insn_count
    finally:
        machine._Run._on_block = original
    return native / max(bpf, 1), body / max(bpf, 1)


def bpf_class(insn) -> str:
    """A row of the breakdown: class, operand form and operation (``ALU-K mov``, ``JMP32-X jne``, ``ALU end16``)."""
    info = bpfx.front.isa.OPCODES[insn.opcode]
    if info.kind in (bpfx.Kind.ALU, bpfx.Kind.JCOND):
        return f"{info.cls.name}-{'X' if info.src_reg else 'K'} {info.op}"
    if info.kind == bpfx.Kind.ENDIAN:
        return f"{info.cls.name} {info.op}{insn.imm}"
    return f"{info.cls.name} {info.kind.name}"


def breakdown(target: str, programs, features=None) -> dict[str, list[int]]:
    """Per BPF class: [BPF instructions, native instructions emitted for them, native instructions executed for
    them] over the corpus, outside frames (what the per-BPF figures divide), e.g. to compare two targets."""
    from collections import defaultdict

    from bpfx.execute import machine

    rows: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    blocks: list[tuple[int, int]] = []
    original = machine._Run._on_block

    def on_block(self, uc, address, size, user):
        blocks.append((address, size))
        return original(self, uc, address, size, user)

    disasm = getattr(get_target(target).selector(features), "disassembler", None)
    machine._Run._on_block = on_block
    try:
        for prog, kwargs in programs:
            blocks.clear()
            try:
                image = bpfx.compile(prog, target, features=features)
                bpfx.run(prog, target, features=features, **kwargs)
            except bpfx.BpfxError:
                continue
            names = [bpf_class(insn) if not (i and prog.insns[i - 1].opcode == 0x18) else None
                     for i, insn in enumerate(prog.insns)]
            for name in filter(None, names):
                rows[name][0] += 1
            owner = {}  # native instruction offset -> its BPF class (frame code and data left out)
            starts = _starts(image, disasm)
            marks = image.line_map
            for i, (start, idx) in enumerate(marks):
                end = marks[i + 1][0] if i + 1 < len(marks) else len(image.code)
                if idx >= 0:
                    for off in starts[bisect_left(starts, start):bisect_left(starts, end)]:
                        owner[off] = names[idx]
                        rows[names[idx]][1] += 1
            for address, size in blocks:
                lo, hi = address - layout.CODE_BASE, address - layout.CODE_BASE + size
                for off in starts[bisect_left(starts, lo):bisect_left(starts, hi)]:
                    if off in owner:
                        rows[owner[off]][2] += 1
    finally:
        machine._Run._on_block = original
    return dict(rows)


def print_breakdown(names: list[str], programs, features=None) -> None:
    tables = {name: breakdown(name, programs, features) for name in names}
    classes = sorted({c for t in tables.values() for c in t}, key=lambda c: -tables[names[0]].get(c, [0, 0, 0])[2])
    print(f"{'class':16} {'BPF':>6}" + "".join(f" {n + ' static':>15} {n + ' executed':>17}" for n in names))
    for c in classes:
        line = f"{c:16} {next(t[c][0] for t in tables.values() if c in t):6}"
        for n in names:
            _, static, executed = tables[n].get(c, [0, 0, 0])
            line += f" {static:15} {executed:17}"
        print(line)
    totals = [[sum(row[k] for row in tables[n].values()) for k in (1, 2)] for n in names]
    print(f"{'total':16} {sum(row[0] for row in tables[names[0]].values()):6}"
          + "".join(f" {static:15} {executed:17}" for static, executed in totals))


def opt_figures(target: str, opt: int) -> None:
    """The LLVM tier against the baseline on the examples (static size) and the compute loops (executed)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _loops import PACKET, build, native_arm64_counts

    examples = [(p, obj) for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.o")))
                for obj in [bpfx.load(path)] for p in obj.programs]
    loops = build()
    loop_progs = [(p, loops) for p in loops.programs] if loops is not None else []
    sizes = {0: 0, opt: 0}
    secs = {0: 0.0, opt: 0.0}
    for i, (prog, _obj) in enumerate(examples + loop_progs):
        if i == len(examples):  # the goal is on the examples; the loops follow
            on_examples = sizes[opt] / sizes[0]
        for level in (0, opt):
            t0 = time.perf_counter()
            image = bpfx.compile(prog, target, opt=level)
            secs[level] += time.perf_counter() - t0
            sizes[level] += len(image.code)
    n = len(examples) + len(loop_progs)
    print(f"{target} -O{opt}: static code {sizes[opt] / sizes[0]:.3f}x the baseline's over {n} programs "
          f"({sizes[opt]:,} vs {sizes[0]:,} bytes)"
          + (f", {on_examples:.3f}x over the {len(examples)} examples" if loop_progs else "")
          + f"; compile {secs[opt] / n * 1000:.1f} ms per program (baseline {secs[0] / n * 1000:.1f} ms)")
    total = {0: 0, opt: 0}
    bpf_total = 0
    # the same C compiled natively by clang, where the target is arm64 (what "native" means for the goal)
    native = native_arm64_counts() if loop_progs and get_target(target).llvm_info().llvm_triple.startswith(
        "aarch64") else None
    native_total = 0
    for prog, obj in loop_progs:
        ref = bpfx.run(prog, "interp", packet=PACKET, obj=obj)
        row = []
        for level in (0, opt):
            got = bpfx.run(prog, target, packet=PACKET, obj=obj, opt=level)
            assert got.r0 == ref.r0, (prog.name, level)
            total[level] += got.insn_count
            row.append(got.insn_count / ref.insn_count)
        bpf_total += ref.insn_count
        line = (f"  {prog.name:<10} {ref.insn_count:>8} BPF insns executed; native per BPF: -O0 {row[0]:.2f}, "
                f"-O{opt} {row[1]:.2f} ({row[1] / row[0]:.2f}x)")
        if native and prog.name in native:
            count, r0 = native[prog.name]
            assert r0 == ref.r0 & 0xFFFFFFFF, (prog.name, r0, ref.r0)
            native_total += count
            line += f"; clang native {count / ref.insn_count:.2f} (-O{opt} is {row[1] * ref.insn_count / count:.2f}x)"
        print(line)
    if bpf_total:
        print(f"  loops: executed native per BPF insn -O0 {total[0] / bpf_total:.2f}, -O{opt} "
              f"{total[opt] / bpf_total:.2f}: -O{opt} executes {total[opt] / total[0]:.2f}x the baseline's"
              + (f", {total[opt] / native_total:.2f}x clang's native code ({native_total / bpf_total:.2f} per BPF)"
                 if native_total else ""))


def _profiled_figures(target: str, cls, programs) -> tuple[float, float]:
    """The same figures from an executor that profiles itself: with ``cls.profiling`` set, ``cls.last_profile``
    maps each code offset of the image to its executions in the last run."""
    disasm = getattr(get_target(target).selector(), "disassembler", None)
    native = body = bpf = 0
    cls.profiling = True
    try:
        for prog, kwargs in programs:
            try:
                ref = bpfx.run(prog, "interp", **kwargs)
                got = bpfx.run(prog, target, **kwargs)
                image = bpfx.compile(prog, target)
            except bpfx.BpfxError:
                continue
            starts = _starts(image, disasm)
            frame_offs = set()
            for start, end, is_frame in _segments(image):
                if is_frame:
                    frame_offs.update(starts[bisect_left(starts, start):bisect_left(starts, end)])
            native += got.insn_count
            body += sum(n for off, n in cls.last_profile.items() if off not in frame_offs)
            bpf += ref.insn_count
    finally:
        cls.profiling = False
    return native / max(bpf, 1), body / max(bpf, 1)


def accepted_chunks(size: int, target: str) -> list[Program]:
    """Generated programs the target compiles (it may reject some instructions as unsupported, and its code store
    may be small), ``size`` BPF instructions in all: the compile-speed corpus of such a target."""
    rng = random.Random(1)
    out, total = [], 0
    while total < size:
        chunk = random_program(rng, length=40, subprograms=0)
        try:
            bpfx.compile(chunk, target)
        except (bpfx.Unsupported, bpfx.ValidationError):
            continue
        out.append(chunk)
        total += len(chunk.insns)
    return out


def compile_speed(name: str, size: int, runs: int, features, slots: str | None = None
                  ) -> tuple[int, int, float, float | None, float]:
    """(BPF insns, code bytes, fastest seconds, first seconds, peak RSS MiB) of compiling big_program(size) (or the
    program whose slots the file ``slots`` holds) ``runs`` times, each from a fresh Program (validation and its
    encoding included)."""
    from bpfx.front.program import keep_freed_memory

    keep_freed_memory()  # as the CLI does
    if slots is None:
        prog = big_program(size)
    else:
        with open(slots, "rb") as f:
            prog = Program(name="big", section="bench", prog_type="mem", insns=bpfx.front.isa.decode(f.read()),
                           file="<bench>")
    first = None
    try:
        times = []
        for _ in range(runs):
            fresh = Program(name=prog.name, section=prog.section, prog_type=prog.prog_type, insns=list(prog.insns),
                            file=prog.file)
            t0 = time.perf_counter()
            image = bpfx.compile(fresh, name, features=features)
            times.append(time.perf_counter() - t0)
            del fresh
        secs, first = min(times), times[0] if runs > 1 else None
        count, nbytes = len(prog.insns), len(image.code)
    except (bpfx.Unsupported, bpfx.ValidationError):  # over the device's code store, or its default safety
        # refuses the concatenated program: time the programs it does compile
        chunks = accepted_chunks(min(size, 100_000), name)
        t0 = time.perf_counter()
        nbytes = sum(len(bpfx.compile(chunk, name, features=features).code) for chunk in chunks)
        secs = time.perf_counter() - t0
        count = sum(len(chunk.insns) for chunk in chunks)
    return count, nbytes, secs, first, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def big_program(size: int) -> Program:
    rng = random.Random(1)
    insns = []
    while len(insns) < size:
        insns += random_program(rng, length=200, subprograms=0).insns
    insns = insns[:size - 1]
    while insns and insns[-1].opcode == 0x18:
        insns.pop()
    insns.append(bpfx.Insn(0x95))
    # keep only forward jumps that stay inside the truncated program
    fixed = []
    for i, insn in enumerate(insns):
        info = bpfx.front.isa.OPCODES[insn.opcode]
        if info and info.kind == bpfx.Kind.JCOND and i + 1 + insn.off >= len(insns):
            insn = insn._replace(off=0)
        fixed.append(insn)
    # decoded from its bytes, as the loader gives a program: the generator left its Insn objects scattered among
    # its garbage, which made every pass over them ~10% slower than over a loaded or assembled program's
    insns = bpfx.front.isa.decode(bpfx.front.isa.encode(fixed))
    return Program(name="big", section="bench", prog_type="mem", insns=insns, file="<bench>")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-t", "--target", action="append")
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3,
                    help="compile the big program this many times and report the fastest (and the first)")
    ap.add_argument("--speed-only", action="store_true", help=argparse.SUPPRESS)  # the compile-speed subprocess
    ap.add_argument("--slots", help=argparse.SUPPRESS)  # ... and the file of the program it compiles
    ap.add_argument("--mattr", help="target features, e.g. +c (as bpfx compile --mattr)")
    ap.add_argument("-O", dest="opt", type=int, choices=(1, 2, 3), help="also report the LLVM tier at this level")
    ap.add_argument("--only-opt", action="store_true", help="with -O: only the LLVM tier's figures")
    ap.add_argument("--breakdown", action="store_true",
                    help="only the static and executed native instructions per BPF class, one column pair per target")
    args = ap.parse_args(argv)
    from bpfx.execute.runner import _features

    features = _features(args.mattr)
    names = args.target or [t.name for t in all_targets() if t.machine() and t.abi()]
    programs = corpus() if not (args.only_opt or args.speed_only) else []
    if args.breakdown:
        print_breakdown(names, programs, features)
        return 0
    big = b""  # the slots of the compile-speed program, made once
    for name in names:
        tgt = get_target(name)
        if args.opt and tgt.llvm_info() is not None:
            opt_figures(name, args.opt)
        if args.only_opt:
            continue
        if args.speed_only:
            print(json.dumps(compile_speed(name, args.size, args.runs, features, args.slots)))
            continue
        ratio, fixed, done, size = static_figures(name, programs, features)
        dyn_all, dyn_body = dynamic_figures(name, programs, features)
        # in a process of its own, as `bpfx compile` runs: this one's heap, after emulating the corpus, made the same
        # compile ~10% slower
        big = big or bpfx.front.isa.encode(big_program(args.size).insns)
        with tempfile.NamedTemporaryFile(suffix=".slots") as slots:
            slots.write(big)
            slots.flush()
            cmd = [sys.executable, os.path.abspath(__file__), "-t", name, "--speed-only", "--size", str(args.size),
                   "--runs", str(args.runs), "--slots", slots.name] + (["--mattr", args.mattr] if args.mattr else [])
            count, nbytes, secs, first, rss = json.loads(subprocess.run(cmd, check=True, capture_output=True,
                                                                        text=True).stdout)
        print(f"{name}{' ' + args.mattr if args.mattr else ''}: {done} programs, {size:,} code bytes; "
              f"static {ratio:.2f} native/BPF insn + {fixed:.1f} frame insns per "
              f"function; executed {dyn_body:.2f} native/BPF insn ({dyn_all:.2f} with frames); "
              f"compile {count / secs:,.0f} BPF insns/s "
              f"({count:,} insns -> {nbytes:,} bytes in {secs:.1f} s"
              f"{f', best of {args.runs}; the first {count / first:,.0f}/s' if first else ''}); "
              f"peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
