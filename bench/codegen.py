"""Code quality and compile speed of a native target.

Reports, for TARGET (default: every target with a selector and a machine):
- static native instructions per BPF instruction over the examples and the conformance corpus, as a marginal
  figure (body only) plus the fixed prologue/epilogue cost per function;
- executed native instructions per executed BPF instruction (native counted by unicorn, BPF by the interpreter);
- compile speed in BPF insns/s on a generated 1M-instruction program, and peak RSS.

    python bench/codegen.py [-t arm64] [--size 1000000]
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import resource
import sys
import time

import bpfx
from bpfx import testing
from bpfx.tools.conformance import parse_file
from bpfx.tools.fuzz import random_program
from bpfx.plugins import all_targets, get_target
from bpfx.front.program import Program
from bpfx.execute.runtime import layout

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
    """(start, end, is_frame) for each line-map segment: frame code is marked with BPF index -1."""
    offs = [off for off, _ in image.line_map] + [len(image.code)]
    return [(offs[i], offs[i + 1], idx < 0) for i, (_, idx) in enumerate(image.line_map)]


def _counter(target: str):
    """count(code, address) -> native instructions, from the target's disassembler (4-byte words without one)."""
    disasm = getattr(get_target(target).selector(), "disassembler", None)
    if disasm is None:
        return lambda code, address: len(code) // 4, lambda code, address: list(range(address, address + len(code),
                                                                                         4))
    return (lambda code, address: len(disasm(code, address)),
            lambda code, address: [a for a, _, _ in disasm(code, address)])


def static_figures(target: str, programs) -> tuple[float, float, int]:
    """(native per BPF instruction outside prologues/epilogues, frame instructions per function, programs)."""
    count, _ = _counter(target)
    body_native = body_bpf = frame = funcs = done = 0
    for prog, _ in programs:
        try:
            image = bpfx.compile(prog, target)
        except bpfx.BpfxError:
            continue
        done += 1
        for start, end, is_frame in _segments(image):
            n = count(image.code[start:end], start) if end > start else 0
            if is_frame:
                frame += n
            else:
                body_native += n
        body_bpf += sum(1 for i, insn in enumerate(prog.insns) if not (i and prog.insns[i - 1].opcode == 0x18))
        funcs += len(set(image.symbols.values()))
    return body_native / max(body_bpf, 1), frame / max(funcs, 1), done


def dynamic_figures(target: str, programs) -> tuple[float, float | None]:
    """(executed native / executed BPF, the same outside frame code): the first from the executor's own
    count (``Result.insn_count``, helper trampolines included), the second from unicorn's block trace of the
    image (None for an executor that is not unicorn)."""
    from bpfx.execute import machine

    _, addresses = _counter(target)
    blocks: list[tuple[int, int]] = []
    original = machine._Run._on_block

    def on_block(self, uc, address, size, user):
        blocks.append((address, size))
        return original(self, uc, address, size, user)

    is_unicorn = isinstance(get_target(target).machine(), bpfx.Machine)
    machine._Run._on_block = on_block
    native = body = bpf = 0
    try:
        for prog, kwargs in programs:
            blocks.clear()
            try:
                ref = bpfx.run(prog, "interp", **kwargs)
                got = bpfx.run(prog, target, **kwargs)
                image = bpfx.compile(prog, target)
            except bpfx.BpfxError:
                continue
            native += got.insn_count
            frame_addrs = set()
            for start, end, is_frame in _segments(image):
                if is_frame and end > start:
                    frame_addrs.update(layout.CODE_BASE + a for a in addresses(image.code[start:end], start))
            for address, size in blocks:
                off = address - layout.CODE_BASE
                if 0 <= off < len(image.code):
                    body += sum(a not in frame_addrs for a in addresses(image.code[off:off + size], address))
            bpf += ref.insn_count
    finally:
        machine._Run._on_block = original
    return native / max(bpf, 1), (body / max(bpf, 1) if is_unicorn else None)


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
    return Program(name="big", section="bench", prog_type="mem", insns=fixed, file="<bench>")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-t", "--target", action="append")
    ap.add_argument("--size", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    names = args.target or [t.name for t in all_targets() if t.machine() and t.abi()]
    programs = corpus()
    for name in names:
        get_target(name)
        ratio, fixed, done = static_figures(name, programs)
        dyn_all, dyn_body = dynamic_figures(name, programs)
        prog = big_program(args.size)
        t0 = time.perf_counter()
        image = bpfx.compile(prog, name)
        secs = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        body = f"{dyn_body:.2f} native/BPF insn outside frames, " if dyn_body is not None else ""
        print(f"{name}: {done} programs; static {ratio:.2f} native/BPF insn + {fixed:.1f} frame insns per "
              f"function; executed {body}{dyn_all:.2f} in all (frames and helper trampolines); "
              f"compile {len(prog.insns) / secs:,.0f} BPF insns/s "
              f"({len(prog.insns):,} insns -> {len(image.code):,} bytes in {secs:.1f} s); peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
