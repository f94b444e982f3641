"""Load + validate + CFG speed and memory on a generated 1M-instruction program; or loading real objects.

    python bench/load_speed.py [--size 1000000]
    python bench/load_speed.py --objects DIR [--exclude invalid]

Generates a valid program (ALU, stack loads/stores, forward branches, lddw, helper calls; r1-r5 are not read
after a call until written, as the validator requires), writes it as raw
instructions, then times bpfx.load (decode + validate) and build_cfg (blocks, edges), and reports insns/s and
the peak RSS of the process. With ``--objects``, loads every ``.o`` under DIR as ``bpfx.load`` does (ELF,
relocations, .BTF.ext, program-type inference, validation), best of three passes, and reports program
instructions per second.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time

import bpfx
from bpfx.front.cfg import build_cfg
from bpfx.front.isa import ALU_OPS, JMP_OPS, MODES, SIZES, Cls, Insn, SRC_K, SRC_X, encode, ld_imm64


def generate(size: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    insns: list[Insn] = []
    alu = [ALU_OPS[o] for o in ("add", "sub", "mul", "or", "and", "xor", "lsh", "rsh", "mov")]
    clobbered: set[int] = set()  # r1-r5 after a helper call: the validator rejects reading them until written

    def readable() -> int:
        return rng.choice([r for r in range(10) if r not in clobbered])

    def written(op: int, reg: int | None = None) -> int:
        reg = rng.randrange(10) if reg is None else reg
        if op == ALU_OPS["mov"] or reg not in clobbered:
            clobbered.discard(reg)
            return reg
        return readable()

    while len(insns) < size - 6:
        roll = rng.random()
        if roll < 0.25:
            op = rng.choice(alu)
            src = readable()
            insns.append(Insn(Cls.ALU64 | SRC_X | op, written(op), src))
        elif roll < 0.5:
            op = rng.choice(alu)
            insns.append(Insn(Cls.ALU64 | SRC_K | op, written(op), 0, 0, rng.randrange(64)))
        elif roll < 0.7:
            off = -8 * rng.randrange(1, 64)
            if roll < 0.6:
                insns.append(Insn(Cls.STX | MODES["mem"] | SIZES["dw"], 10, readable(), off))
            else:
                insns.append(Insn(Cls.LDX | MODES["mem"] | SIZES["dw"], written(ALU_OPS["mov"]), 10, off))
        elif roll < 0.85:
            insns.append(Insn(Cls.JMP | SRC_K | JMP_OPS["jne"], readable(), 0, rng.randrange(0, 3), 7))
            insns += [Insn(Cls.ALU64 | SRC_K | ALU_OPS["add"], 0, 0, 0, 1)] * 3
        elif roll < 0.95:
            insns += ld_imm64(written(ALU_OPS["mov"]), rng.getrandbits(64))
        else:
            insns.append(Insn(Cls.JMP | JMP_OPS["call"], 0, 0, 0, 5))
            clobbered.update(range(1, 6))
    insns += [Insn(Cls.ALU64 | SRC_K | ALU_OPS["mov"], 0)] * (size - 1 - len(insns))
    insns.append(Insn(Cls.JMP | JMP_OPS["exit"]))
    return encode(insns)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--objects", metavar="DIR", help="load the .o files under DIR instead (a real-object corpus)")
    ap.add_argument("--exclude", action="append", default=[], metavar="DIRNAME")
    args = ap.parse_args(argv)
    if args.objects:
        return objects(args.objects, tuple(args.exclude))
    data = generate(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.bin")
        with open(path, "wb") as f:
            f.write(data)
        t0 = time.perf_counter()
        obj = bpfx.load(path)
        t1 = time.perf_counter()
        cfg = build_cfg(obj.program())
        cfg.back_edges  # noqa: B018 - dominators and back edges are part of the CFG figure
        t2 = time.perf_counter()
    n = len(obj.program().insns)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{n:,} insns: load+validate {n / (t1 - t0):,.0f} insns/s, CFG {n / (t2 - t1):,.0f} insns/s, "
          f"together {n / (t2 - t0):,.0f} insns/s ({len(cfg.blocks):,} blocks); peak RSS {rss:,.0f} MiB")
    return 0


def objects(root: str, exclude: tuple[str, ...]) -> int:
    from bpfx.errors import BpfxError
    from bpfx.front.loader import load
    from bpfx.tools.corpus import objects_under

    paths = objects_under(root, exclude)
    best, n, loaded = float("inf"), 0, 0
    for _ in range(3):
        n = loaded = 0
        t0 = time.perf_counter()
        for path in paths:
            try:
                obj = load(path)
            except BpfxError:
                continue
            loaded += 1
            n += sum(len(p.insns) for p in obj.programs)
        best = min(best, time.perf_counter() - t0)
    print(f"{loaded} of {len(paths)} objects, {n:,} program insns: {best:.2f} s, {n / best:,.0f} insns/s (best of 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
