"""The cost of --safety=checked: accesses the verifier proves, and native instructions executed with the checks.

For the examples (run with a 1 KiB packet) and the conformance corpus (memory block as given), on TARGET:
- memory accesses proven / checked / rejected by the verifier (what checked mode leaves free);
- native instructions executed (unicorn's count) under structural and under checked, and the overhead;
- the same for conformance programs compiled without knowing their memory size, where every access is checked
  against the block's end at run time (the worst case: nothing proven);
- verifier speed (BPF instructions analysed per second).

    python bench/safety.py [-t arm64]
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import bpfx
from bpfx import testing
from bpfx.execute.runner import apply_safety
from bpfx.front.program import Program
from bpfx.front.verify import analyse
from bpfx.tools.conformance import parse_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def examples():
    for path in sorted(glob.glob(os.path.join(ROOT, "examples", "*.o"))):
        obj = bpfx.load(path)
        for prog in obj.programs:
            yield prog, {"packet": bytes(range(256)) * 4, "obj": obj}


def conformance():
    d = testing.conformance_dir(ROOT)
    for path in sorted(glob.glob(os.path.join(d or "", "*.data"))):
        test = parse_file(path)
        if test.result is None:
            continue
        yield Program(os.path.basename(path)[:-5], "conformance", "mem", test.insns, file=path), {"mem": test.mem}


def measure(target: str, corpus, *, known_mem: bool = True) -> dict:
    counts = {"proven": 0, "checked": 0, "fault": 0, "rejected": 0}
    plain = checked = programs = insns = 0
    secs = 0.0
    for prog, kw in corpus:
        t0 = time.perf_counter()
        mem = kw.get("mem")
        analysis = analyse(prog, mem_size=len(mem or b"") if known_mem and prog.prog_type == "mem" else None)
        secs += time.perf_counter() - t0
        insns += len(prog.insns)
        for k, v in analysis.counts().items():
            counts[k] += v
        with_checks = apply_safety(prog, "checked", mem=mem, known_mem=known_mem)
        plain += bpfx.run(prog, target, safety="structural", **kw).insn_count
        checked += bpfx.run(with_checks, target, safety="structural", **kw).insn_count
        programs += 1
    total = sum(counts.values())
    return {"programs": programs, "accesses": total, "proven_pct": 100.0 * counts["proven"] / max(1, total),
            **counts, "executed_plain": plain, "executed_checked": checked,
            "overhead_pct": 100.0 * (checked - plain) / max(1, plain), "verify_insns_per_s": insns / max(secs, 1e-9)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-t", "--target", default="arm64")
    args = ap.parse_args()
    rows = [("examples", measure(args.target, examples())),
            ("conformance, memory size known", measure(args.target, conformance())),
            ("conformance, compiled without the size", measure(args.target, conformance(), known_mem=False))]
    for name, r in rows:
        print(f"{name}: {r['programs']} programs, {r['accesses']} accesses: {r['proven']} proven "
              f"({r['proven_pct']:.1f}%), {r['checked']} checked, {r['fault']} fault, {r['rejected']} rejected; "
              f"{args.target} executed {r['executed_plain']} native insns structural, {r['executed_checked']} "
              f"checked (+{r['overhead_pct']:.1f}%); verifier {r['verify_insns_per_s']:.0f} BPF insns/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
