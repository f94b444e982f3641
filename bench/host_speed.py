"""The host target (LLVM JIT, in-process) against the reference interpreter, in the same run.

For each compute-heavy program (bench/loops: prime sieve, checksum, FNV hash, bubble sort, Collatz; the
examples' packet parsing) it reports BPF instructions executed, the interpreter's and the host's run time
(compile excluded: the host runs once to fill its cache first) and their ratio, the JIT compile time, that
a second compile of the same bytes is a cache hit, and what the bounds checks cost (the same program compiled
without them, timed inside one call of the JIT code: ``--repeat`` runs of the entry on one runtime).
``--runner CMD`` also times an external runner (e.g. a
ubpf build: CMD gets the raw program file and the packet file as arguments) on the same raw programs.

    python bench/host_speed.py [--repeat 20] [--runner "ubpf-run --jit"]
"""

from __future__ import annotations

import argparse
import glob
import os
import shlex
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bpfx  # noqa: E402
from bpfx.front.isa import encode  # noqa: E402
from bpfx.llvm.host import Jit, jit, run_host  # noqa: E402
from _loops import PACKET, build  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TCP = open(os.path.join(ROOT, "tests", "data", "ipv4_tcp.bin"), "rb").read()


def _time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _jit_only(prog, obj, packet, j: Jit, repeat: int) -> float:
    """Seconds per run of the JIT code alone: one runtime, the entry called ``repeat`` times, the fastest call
    (the machine is shared: the minimum is the figure noise does not inflate)."""
    from bpfx.execute.runtime import Runtime
    from bpfx.llvm import host

    rt = Runtime(prog, packet=packet, obj=obj)
    run_host(prog, rt, budget=10_000_000, jit_=j)  # compile, fill the cache
    entry = j.entry(prog, 2, frozenset())
    run = host._Run(rt, 10_000_000)
    host._current.run = run
    a = rt.entry_args
    best = float("inf")
    frame = run.frame()
    for _ in range(repeat):
        run.state[1] = 0
        start = time.perf_counter()
        entry(run.state, a[0], a[1], a[2], a[3], a[4], rt.stack_top, frame, 0)
        best = min(best, time.perf_counter() - start)
    run.buffers.clear()
    return best


def programs():
    obj = build()
    if obj is not None:
        for prog in obj.programs:
            yield prog.name, prog, obj, PACKET
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.o"))):
        ex = bpfx.load(path)
        for prog in ex.programs:
            yield prog.name, prog, ex, TCP


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--runner", help="external runner command, given the raw program file and the packet file")
    args = ap.parse_args(argv)
    j = jit()
    unchecked = Jit(checked=False)
    print(f"{'program':<14} {'BPF insns':>10} {'interp s':>10} {'host s':>10} {'ratio':>8} {'jit ms':>8} {'cache':>6}"
          f" {'JIT us':>9} {'no-check us':>11} {'checks':>7}" + (f" {'runner s':>10}" if args.runner else ""))
    total_i = total_h = 0.0
    for name, prog, obj, packet in programs():
        want = bpfx.run(prog, "interp", packet=packet, obj=obj)
        before = j.compile_seconds
        got = bpfx.run(prog, "host", packet=packet, obj=obj)
        compile_ms = (j.compile_seconds - before) * 1000
        assert (got.r0, got.packet, got.maps) == (want.r0, want.packet, want.maps), name
        misses = j.misses
        t_interp = _time(lambda p=prog, k=packet, o=obj: bpfx.run(p, "interp", packet=k, obj=o),
                         max(1, args.repeat // 5))
        t_host = _time(lambda p=prog, k=packet, o=obj: bpfx.run(p, "host", packet=k, obj=o), args.repeat)
        cached = "hit" if j.misses == misses else "MISS"
        total_i, total_h = total_i + t_interp, total_h + t_host
        line = (f"{name:<14} {want.insn_count:>10} {t_interp:>10.5f} {t_host:>10.6f} {t_interp / t_host:>7.0f}x "
                f"{compile_ms:>8.1f} {cached:>6}")
        if not prog.maps:  # helpers with side effects would accumulate state over the repeated calls
            checked = _jit_only(prog, obj, packet, j, args.repeat * 10)
            bare = _jit_only(prog, obj, packet, unchecked, args.repeat * 10)
            line += f" {checked * 1e6:>9.1f} {bare * 1e6:>11.1f} {checked / bare - 1:>+7.0%}"
        else:
            line += f" {'-':>9} {'-':>11} {'-':>7}"
        if args.runner:
            with tempfile.TemporaryDirectory() as tmp:
                code, pkt = os.path.join(tmp, "prog.bin"), os.path.join(tmp, "packet.bin")
                open(code, "wb").write(encode(prog.insns))
                open(pkt, "wb").write(packet)
                cmd = shlex.split(args.runner) + [code, pkt]
                t_run = _time(lambda c=cmd: subprocess.run(c, check=False, capture_output=True),
                              max(1, args.repeat // 5))
            line += f" {t_run:>10.5f}"
        print(line)
    print(f"all: host {total_i / total_h:.0f}x the interpreter (run time, compile excluded; each host run includes "
          f"the runtime set-up and ctypes call)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
