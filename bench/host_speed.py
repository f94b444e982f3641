"""The host target (LLVM JIT, in-process) against the reference interpreter and an external runner.

For each compute-heavy program (bench/loops: prime sieve, checksum, FNV hash, bubble sort, Collatz, TLV packet
parsing; and the examples' small packet parsers) it reports, every time a median per run over ``--repeat`` runs
of a program compiled once, on the same packet and context:

- ``interp us``: ``bpfx.run(prog, "interp")`` (fewer runs: it is slow);
- ``api us``: ``bpfx.run(prog, "host")``: the Python API, i.e. target and helper look-up, validation, runtime
  set-up, the ctypes call and the Result, and ``xapi``, the interpreter's time over it;
- ``prep us``: ``bpfx.prepare(prog, "host").run(packet=...)``, prepared once: a fresh runtime, the ctypes call
  and the Result per run (what a Python user running one program many times pays), and ``ratio``, the
  interpreter's time over it;
- ``code us``: the generated code alone: a native loop, compiled by LLVM beside it, calls the JIT entry
  ``--repeat`` times on one runtime and reads ``clock_gettime(CLOCK_MONOTONIC)`` around each call (exactly
  what bench/ubpf_bench.c does around ubpf's JIT function); the best median of 3 such loops;
- ``no-check us`` and ``checks``: the same compiled without any bounds check (unsafe; only to measure), and
  what the checks cost;
- ``runner us``: the external runner's own per-run median (``--runner``), the best of 3 invocations, and
  ``code/runner``.

It also reports BPF instructions executed, the host/interpreter ratio, the JIT compile time and that a second
compile of the same bytes is a cache hit.

``--runner CMD``: a command run per program on the raw program (``{prog}``) and the packet (``{packet}``)
files, both appended when CMD names neither, with ``{n}`` replaced by the repeat count and ``{ctx}`` by the
context the program expects (``xdp``, ``skb`` or ``raw``: r1 = the packet). It must
load/compile the program once, run it on the packet (r1 = an ``xdp_md`` whose data/data_end span the packet for
XDP programs) ``{n}`` times, print r0 in hex as the first line of stdout and, on stdout or stderr, a line
containing ``median <microseconds per run>``. bench/ubpf_bench.c is such a runner for ubpf:

    python bench/host_speed.py [--repeat 2000] [--runner "ubpf_bench -j -c {ctx} -n {n}"]
"""

from __future__ import annotations

import argparse
import ctypes
import glob
import os
import re
import shlex
import statistics
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

# The native timing loop: n calls of the JIT entry, clock_gettime(CLOCK_MONOTONIC) around each, ns into out[i].
# The run state's stop flag, instruction count and taint are reset before each call, as a new run_host has them.
LOOP_IR = """
define i64 @bench_loop(ptr %entry, ptr %state, i64 %r1, i64 %r2, i64 %r3, i64 %r4, i64 %r5, i64 %r10,
                       ptr %frame, i64 %n, ptr %clock, ptr %out) {
start:
  %ts = alloca [2 x i64], align 8
  %nsp = getelementptr i64, ptr %ts, i64 1
  %count = getelementptr i64, ptr %state, i64 1
  %taint = getelementptr i64, ptr %state, i64 3
  br label %loop
loop:
  %i = phi i64 [ 0, %start ], [ %next, %loop ]
  store i64 0, ptr %state
  store i64 0, ptr %count
  store i64 0, ptr %taint
  call i32 %clock(i32 1, ptr %ts)
  %s0 = load i64, ptr %ts
  %n0 = load i64, ptr %nsp
  %r0 = call i64 %entry(ptr %state, i64 %r1, i64 %r2, i64 %r3, i64 %r4, i64 %r5, i64 %r10, ptr %frame, i64 0)
  call i32 %clock(i32 1, ptr %ts)
  %s1 = load i64, ptr %ts
  %n1 = load i64, ptr %nsp
  %ds = sub i64 %s1, %s0
  %dsn = mul i64 %ds, 1000000000
  %dn = sub i64 %n1, %n0
  %d = add i64 %dsn, %dn
  %slot = getelementptr i64, ptr %out, i64 %i
  store i64 %d, ptr %slot
  %next = add i64 %i, 1
  %done = icmp uge i64 %next, %n
  br i1 %done, label %exit, label %loop
exit:
  ret i64 %r0
}
"""
_LOOP_T = ctypes.CFUNCTYPE(ctypes.c_uint64, *[ctypes.c_void_p] * 2, *[ctypes.c_uint64] * 6, ctypes.c_void_p,
                           ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p)
_loop = None


def _native_loop():
    global _loop
    if _loop is None:
        import llvmlite.binding as llvm

        cg = jit().codegen(2)
        mod = llvm.parse_assembly(LOOP_IR)
        mod.triple, mod.data_layout = cg.triple, cg.data_layout
        engine = llvm.create_mcjit_compiler(mod, cg.target_machine())
        engine.finalize_object()
        _loop = (engine, _LOOP_T(engine.get_function_address("bench_loop")),
                 ctypes.cast(ctypes.CDLL(None).clock_gettime, ctypes.c_void_p).value)
    return _loop


def _effects(result):
    return (result.r0, result.packet, result.maps, result.trace, result.ctx_changed)


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def code_time(prog, obj, packet, j: Jit, repeat: int, rounds: int = 3) -> tuple[float, int]:
    """(seconds per run of the JIT code alone, r0 of the first run): one runtime, the entry called ``repeat``
    times from the native loop; the median per run, the best of ``rounds`` such loops (the machine is shared)."""
    from bpfx.execute.runtime import Runtime
    from bpfx.llvm import host

    _, loop, clock = _native_loop()
    rt = Runtime(prog, packet=packet, obj=obj)
    run_host(prog, rt, budget=10_000_000, jit_=j)  # compile, fill the cache
    entry = ctypes.cast(j.entry(prog, 2, frozenset()), ctypes.c_void_p)
    best, first = float("inf"), None
    for n in [1] + [repeat] * rounds:
        rt = Runtime(prog, packet=packet, obj=obj)  # a fresh packet: programs may rewrite it
        run = host._Run(rt, 10_000_000)
        previous = getattr(host._current, "run", None)
        host._current.run = run
        out = (ctypes.c_uint64 * n)()
        a = rt.entry_args
        try:
            r0 = loop(entry, run.state, a[0], a[1], a[2], a[3], a[4], rt.stack_top, run.frame(), n, clock, out)
        finally:
            host._current.run = previous
            run.buffers.clear()
        if run.fault is not None:
            raise run.fault[0]
        if first is None:
            first = r0
        else:
            best = min(best, statistics.median(out) * 1e-9)
    return best, first


def runner_time(runner: str, prog, packet, repeat: int, rounds: int = 3) -> tuple[float | None, int | None, str]:
    """(seconds per run, r0, error) of the external runner on the raw program and the packet: its median per run,
    the best of ``rounds`` invocations."""
    ctx = {"xdp": "xdp", "sched_cls": "skb", "sched_act": "skb", "socket_filter": "skb"}.get(prog.prog_type, "raw")
    best, r0 = None, None
    with tempfile.TemporaryDirectory() as tmp:
        code, pkt = os.path.join(tmp, "prog.bin"), os.path.join(tmp, "packet.bin")
        open(code, "wb").write(encode(prog.insns))
        open(pkt, "wb").write(packet)
        words = [w.replace("{n}", str(repeat)).replace("{ctx}", ctx) for w in shlex.split(runner)]
        if not any("{prog}" in w or "{packet}" in w for w in words):
            words += ["{prog}", "{packet}"]
        cmd = [w.replace("{prog}", code).replace("{packet}", pkt) for w in words]
        for _ in range(rounds):
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            out = done.stdout + "\n" + done.stderr
            median = re.search(r"median\s+([0-9.]+)", out)
            if done.returncode or median is None:
                return None, None, (done.stderr.strip().splitlines() or ["no median"])[-1]
            t = float(median.group(1)) * 1e-6
            best = t if best is None else min(best, t)
            try:
                r0 = int(done.stdout.split()[0], 16)
            except (IndexError, ValueError):
                r0 = None
    return best, r0, ""


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
    ap.add_argument("--repeat", type=int, default=2000, help="runs per median (the interpreter: 1/100 of it)")
    ap.add_argument("--runner", help="external runner command (see the module docstring)")
    ap.add_argument("--only", help="comma-separated program names")
    args = ap.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    j = jit()
    unchecked = Jit(checked=False)
    head = (f"{'program':<14} {'BPF insns':>9} {'interp us':>10} {'api us':>8} {'xapi':>6} {'prep us':>8}"
            f" {'ratio':>6} {'jit ms':>7}"
            f" {'cache':>5} {'code us':>8} {'no-check':>8} {'checks':>6}")
    if args.runner:
        head += f" {'runner us':>9} {'code/runner':>11}"
    print(head)
    total_i = total_h = total_p = 0.0
    for name, prog, obj, packet in programs():
        if only and name not in only:
            continue
        want = bpfx.run(prog, "interp", packet=packet, obj=obj)
        before = j.compile_seconds
        got = bpfx.run(prog, "host", packet=packet, obj=obj)
        compile_ms = (j.compile_seconds - before) * 1000
        assert (got.r0, got.packet, got.maps) == (want.r0, want.packet, want.maps), name
        misses = j.misses
        t_interp = _median(lambda p=prog, k=packet, o=obj: bpfx.run(p, "interp", packet=k, obj=o),
                           max(3, args.repeat // 100))
        t_api = _median(lambda p=prog, k=packet, o=obj: bpfx.run(p, "host", packet=k, obj=o), args.repeat)
        prepared = bpfx.prepare(prog, "host", obj=obj)
        assert _effects(prepared.run(packet=packet)) == _effects(want), name
        t_prep = _median(lambda r=prepared.run, k=packet: r(packet=k), args.repeat)
        cached = "hit" if j.misses == misses else "MISS"
        total_i, total_h, total_p = total_i + t_interp, total_h + t_api, total_p + t_prep
        line = (f"{name:<14} {want.insn_count:>9} {t_interp * 1e6:>10.1f} {t_api * 1e6:>8.2f}"
                f" {t_interp / t_api:>5.0f}x {t_prep * 1e6:>8.2f} {t_interp / t_prep:>5.0f}x {compile_ms:>7.1f}"
                f" {cached:>5}")
        code = None
        if not prog.maps:  # helpers with side effects would accumulate state over the repeated calls
            code, r0 = code_time(prog, obj, packet, j, args.repeat)
            bare, r0_bare = code_time(prog, obj, packet, unchecked, args.repeat)
            assert r0 == r0_bare == want.r0, (name, r0, r0_bare, want.r0)
            line += f" {code * 1e6:>8.3f} {bare * 1e6:>8.3f} {code / bare - 1:>+6.0%}"
        else:
            line += f" {'-':>8} {'-':>8} {'-':>6}"
        if args.runner:
            t_run, r0, err = runner_time(args.runner, prog, packet, args.repeat)
            if t_run is None:
                line += f"  ({err[:60]})"
            else:
                line += f" {t_run * 1e6:>9.3f}"
                if r0 is not None and r0 != want.r0:
                    line += f"  (runner r0 {r0:#x} != {want.r0:#x})"
                elif code is not None:
                    line += f" {code / t_run:>10.2f}x"
        print(line, flush=True)
    print(f"all: host {total_i / total_p:.0f}x the interpreter prepared, {total_i / total_h:.0f}x through bpfx.run "
          f"(run time, compile excluded; each run includes the runtime set-up, the ctypes call and the Result)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
