"""Malformed-input campaign (issue 12): mutate ELF objects, assembly, raw programs and conformance ``.data`` files
and run every command on them; count clean errors, tracebacks (exit 70 or an escaping exception), hangs and
interp/arm64 divergences.

    python bench/malformed.py -n 2000 [--seed 1] [--timeout 20] [--targets interp,arm64] [--keep DIR]

Inputs run in a forked worker process. A command that takes more than ``--timeout`` CPU seconds is a hang; the
parent also kills a worker that gives no answer in 3 x ``--timeout`` wall-clock seconds per command (counted as a
hang) and starts another. Commands run in-process through ``bpfx.cli.main`` (the same code as the
``bpfx`` command, without paying Python start-up per run).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

ASM_SEEDS = [
    "mov %r0, 7\nexit\n",
    "mov %r1, 0\nl:\nadd %r1, 1\njlt %r1, 100, l\nmov %r0, %r1\nexit\n",
    "mov %r2, 5\nstxdw [%r10-8], %r2\nldxdw %r0, [%r10-8]\nexit\n",
    "f0:\ncall local f1\nexit\nf1:\nmov %r0, 3\nexit\n",
    "lddw %r0, 0x123456789abcdef0\nrsh %r0, 32\nexit\n",
    "mov %r0, 10\nmov %r1, 3\ndiv %r0, %r1\nmod %r0, %r1\nexit\n",
    "mov32 %r0, -1\nbe16 %r0\nle64 %r0\nexit\n",
]
INTERESTING64 = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF, 1 << 32, 1 << 62, (1 << 64) - 1]
TEXT_TOKENS = ["0x7fffffffffffffff", "-1", "99999999999999999999", "%r11", "+65536", "[%r10+40000]", "\x00",
               "\xff", "lddw", "call local x", "gotol +4294967296", "-- raw", "-- mem", "-- result", "-- asm",
               "zz", "exit", "callx %r1", "ja -1", "stdw [%r10+8], 1"]


def _seeds() -> list[tuple[str, bytes]]:
    from bpfx.front.asm import assemble
    from bpfx.front.isa import encode

    seeds = [("elf", open(p, "rb").read()) for p in sorted(glob.glob(os.path.join(REPO, "examples", "*.o")))]
    for text in ASM_SEEDS:
        seeds.append(("asm", text.encode()))
        seeds.append(("raw", encode(assemble(text))))
    from bpfx.testing import conformance_dir

    conf = conformance_dir(REPO) or ""
    for path in sorted(glob.glob(os.path.join(conf, "*.data")))[:40]:
        seeds.append(("data", open(path, "rb").read()))
    for text in ASM_SEEDS[:3]:
        seeds.append(("data", f"-- asm\n{text}-- result\n0x7\n".encode()))
    return seeds


def mutate(rng: random.Random, kind: str, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 8))):
        op = rng.randrange(7 if kind in ("asm", "data") else 5)
        if not buf:
            buf += bytes(rng.randrange(256) for _ in range(8))
        i = rng.randrange(len(buf))
        if op == 0:  # flip a bit
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # an interesting byte
            buf[i] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x01, 0x85, 0x95, 0x18))
        elif op == 2:  # an interesting 64-bit (or 32-bit) field, aligned like ELF/BPF fields
            i &= ~3 if rng.random() < 0.5 else ~7
            width = rng.choice((4, 8))
            buf[i:i + width] = (rng.choice(INTERESTING64) & ((1 << 8 * width) - 1)).to_bytes(width, "little")
        elif op == 3:  # truncate
            del buf[rng.randrange(len(buf)):]
        elif op == 4:  # duplicate a chunk
            j = rng.randrange(i, min(len(buf), i + 64) + 1)
            buf[i:i] = buf[i:j] * rng.choice((1, 2, 16))
        elif op == 5:  # text: a hostile token
            buf[i:i] = (" " + rng.choice(TEXT_TOKENS) + " ").encode("latin-1")
        else:  # text: delete or duplicate a line
            lines = bytes(buf).split(b"\n")
            k = rng.randrange(len(lines))
            if rng.random() < 0.5:
                del lines[k]
            else:
                lines.insert(k, lines[k])
            buf = bytearray(b"\n".join(lines))
    return bytes(buf)


SUFFIX = {"elf": ".o", "asm": ".s", "raw": ".bin", "data": ".data"}


def commands(kind: str, path: str, out: str, targets: list[str]) -> list[list[str]]:
    if kind == "data":
        return [["conformance", path, "-t", t] for t in targets]
    cmds = [["disasm", path], ["cfg", path]]
    if kind == "asm":
        cmds.append(["asm", path, "-o", out])
    cmds += [["run", path, "-t", t, "--json"] for t in targets]
    cmds += [["compile", path, "-t", t, "-o", out] for t in targets if t != "interp"]
    return cmds


_PARSER = []


def _run_cli(argv: list[str]) -> tuple[int, str, str]:
    from bpfx import cli

    if not _PARSER:
        _PARSER.append(cli.build_parser())
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv, _PARSER[0])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException as exc:  # noqa: BLE001 - an escaping exception is exactly what we count
            return 70, "", f"escaped {type(exc).__name__}: {exc}"
    return code, out.getvalue(), err.getvalue()


def _worker(conn, tmpdir: str) -> None:
    os.environ.pop("BPFX_DEBUG", None)
    while True:
        job = conn.recv()
        if job is None:
            return
        index, kind, data, targets = job
        path = os.path.join(tmpdir, f"in{SUFFIX[kind]}")
        out = os.path.join(tmpdir, "out.bin")
        with open(path, "wb") as f:
            f.write(data)
        results = []
        for argv in commands(kind, path, out, targets):
            start = time.process_time()  # CPU seconds: on a shared machine wall time measures the neighbours
            code, stdout, stderr = _run_cli(argv)
            results.append((argv, code, stdout, stderr, time.process_time() - start))
        conn.send((index, results))


def _classify(results, counts: dict, problems: list, data: bytes, kind: str) -> None:
    runs = {}
    for argv, code, stdout, stderr, _elapsed in results:
        counts["runs"] += 1
        lines = stderr.strip().splitlines()
        if code == 70 or "Traceback" in stderr or len(lines) > 1 and code != 0 and argv[0] != "conformance":
            counts["tracebacks"] += 1
            problems.append(("traceback", kind, argv[0], stderr.strip()[-300:], data))
        elif code == 0:
            counts["ok"] += 1
        else:
            counts["clean_errors"] += 1
        if argv[0] == "run":
            runs[argv[3]] = (code, _outcome(stdout), lines[-1] if lines else "")
    if "interp" in runs:
        ref = runs["interp"]
        for target, got in runs.items():
            if target == "interp":
                continue
            # compile-time refusals (Unsupported, a target limit) are not divergences; results and faults are
            if got[0] == 0 and ref[0] == 0 and got[1] != ref[1] or (got[0] == 0) != (ref[0] == 0) and \
                    not _refusal(got[2] if got[0] else ref[2]):
                counts["divergences"] += 1
                problems.append(("divergence", kind, target, f"interp {ref} vs {target} {got}", data))


def _outcome(stdout: str):
    """What must agree between targets: everything in the Result but the (native) instruction count."""
    import json

    try:
        result = json.loads(stdout)
    except ValueError:
        return stdout
    result.pop("insn_count", None)
    return result


def _refusal(message: str) -> bool:
    # the budget counts BPF instructions on the interpreter and native ones under emulation: a run near the
    # budget may end on one side only; that is a resource limit, not a wrong result
    return any(word in message for word in ("not supported", "cannot compile", "does not fit", "unsupported",
                                             "limit", "instruction budget", "is not in the device layout"))


def campaign(n: int, *, seed: int = 1, timeout: float = 20.0, targets=("interp", "arm64"),
             keep: str | None = None, progress=None) -> dict:
    rng = random.Random(seed)
    by_kind: dict[str, list[bytes]] = {}
    for kind, data in _seeds():
        by_kind.setdefault(kind, []).append(data)
    kinds = sorted(by_kind)
    counts = {"inputs": 0, "runs": 0, "ok": 0, "clean_errors": 0, "tracebacks": 0, "hangs": 0, "divergences": 0}
    problems: list = []
    ctx = mp.get_context("fork")
    _run_cli(["disasm", os.devnull])  # import every command module and build the parser once, before forking
    with tempfile.TemporaryDirectory(prefix="bpfx-malformed-") as tmpdir:
        proc = conn = None
        for index in range(n):
            if proc is None:
                conn, child = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(child, tmpdir), daemon=True)
                proc.start()
            kind = rng.choice(kinds)  # each kind as often, however many seeds it has
            data = mutate(rng, kind, rng.choice(by_kind[kind]))
            counts["inputs"] += 1
            conn.send((index, kind, data, list(targets)))
            budget = 3 * timeout * (len(commands(kind, "x", "y", list(targets))))  # wall clock, for real hangs
            if conn.poll(budget):
                _, results = conn.recv()
                if any(elapsed > timeout for *_, elapsed in results):
                    counts["hangs"] += 1
                    slow = max(results, key=lambda r: r[4])
                    problems.append(("slow", kind, slow[0][0], f"{slow[4]:.1f} s", data))
                _classify(results, counts, problems, data, kind)
            else:
                counts["hangs"] += 1
                problems.append(("hang", kind, "", f"no answer in {budget:.0f} s", data))
                proc.kill()
                proc.join()
                proc = None
            if progress and (index + 1) % 500 == 0:
                progress(index + 1, counts)
        if proc is not None:
            conn.send(None)
            proc.join(5)
    if keep:
        os.makedirs(keep, exist_ok=True)
        for i, (what, kind, cmd, _msg, data) in enumerate(problems):
            with open(os.path.join(keep, f"{i:04d}-{what}-{cmd}{SUFFIX[kind]}"), "wb") as f:
                f.write(data)
    counts["problems"] = [(what, kind, cmd, msg) for what, kind, cmd, msg, _ in problems]
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=1000, help="number of mutated inputs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds one command may take")
    ap.add_argument("--targets", default="interp,arm64")
    ap.add_argument("--keep", help="save the inputs behind each problem here")
    args = ap.parse_args(argv)
    start = time.monotonic()
    counts = campaign(args.n, seed=args.seed, timeout=args.timeout, targets=args.targets.split(","), keep=args.keep,
                      progress=lambda i, c: print(f"  {i}: {_line(c)}", file=sys.stderr, flush=True))
    for what, kind, cmd, msg in counts["problems"][:50]:
        print(f"{what} [{kind} {cmd}]: {msg}")
    print(f"{_line(counts)} in {time.monotonic() - start:.0f} s")
    return 1 if counts["tracebacks"] or counts["hangs"] or counts["divergences"] else 0


def _line(c: dict) -> str:
    return (f"{c['inputs']} inputs, {c['runs']} runs: {c['ok']} ok, {c['clean_errors']} clean errors, "
            f"{c['tracebacks']} tracebacks, {c['hangs']} hangs, {c['divergences']} divergences")


if __name__ == "__main__":
    sys.exit(main())
