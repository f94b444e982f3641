"""The bpf_conformance runner: ``.data`` files on any target, and the official runner's plugin protocol."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from ..front.asm import assemble
from ..errors import BpfxError, Unsupported, UsageError
from ..fileio import read_input
from ..front.isa import GROUPS, Insn, decode, requirement
from ..front.program import Program

DEFAULT_GROUPS = frozenset(GROUPS)  # bpfx passes every group, callx included


@dataclass
class ConformanceTest:
    path: str
    insns: list[Insn]
    mem: bytes
    result: int | None
    error: str | None


@dataclass
class Summary:
    passed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, what went wrong)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    #: files the target rejected at compile time with Unsupported: (path, the one-line error naming the insn)
    unsupported: list[tuple[str, str]] = field(default_factory=list)

    def line(self) -> str:
        line = f"{len(self.passed)} passed, {len(self.failed)} failed, {len(self.skipped)} skipped"
        return line + (f", {len(self.unsupported)} unsupported" if self.unsupported else "")


def parse_file(path: str) -> ConformanceTest:
    """Parse a ``.data`` file; anything malformed is a ``BpfxError`` naming the file and what is wrong."""
    text = read_input(path, what="conformance test", text=True)
    try:
        return _parse(path, text)
    except (ValueError, OverflowError) as exc:
        raise BpfxError(f"malformed conformance test: {exc}", file=path) from None


def _parse(path: str, text: str) -> ConformanceTest:
    sections: dict[str, list[str]] = {}
    current = None
    for raw in text.splitlines():
        if "--" in raw and raw.strip().startswith("--"):
            current = raw.strip()[2:].strip()
            sections[current] = []
            continue
        if current is not None:
            sections[current].append(raw)
    if "raw" in sections:
        words = [int(w.split("#")[0], 16) for w in sections["raw"] if w.split("#")[0].strip()]
        if any(not 0 <= w < 1 << 64 for w in words):
            raise ValueError("a raw instruction is not a 64-bit word")
        insns = decode(b"".join(w.to_bytes(8, "little") for w in words))
    elif "asm" in sections:
        insns = assemble("\n".join(sections["asm"]), file=path)
    else:
        raise BpfxError("no asm or raw section", file=path)
    mem_text = " ".join(line.split("#")[0] for line in sections.get("mem", []))
    mem = bytes(int(b, 16) for b in mem_text.split())  # ValueError for a token that is not a byte
    result = None
    body = [line.split("#")[0].strip() for line in sections.get("result", [])]
    body = [b for b in body if b]
    if body:
        result = int(body[0], 16) if body[0].lower().startswith(("0x", "-0x")) else int(body[0])
        result &= (1 << 64) - 1
    error = "\n".join(sections["error"]).strip() if "error" in sections else None
    return ConformanceTest(path, insns, mem, result, error)


def _program(test: ConformanceTest) -> Program:
    name = os.path.splitext(os.path.basename(test.path))[0]
    return Program(name=name, section="conformance", prog_type="mem", insns=test.insns, file=test.path)


def skip_reason(test: ConformanceTest, cpu_version: int, groups: frozenset[str]) -> str | None:
    for insn in test.insns:
        if insn.opcode == 0 and insn.dst == insn.src == insn.off == 0:
            continue  # second slot of lddw
        version, group = requirement(insn)
        if version > cpu_version:
            return f"needs cpu v{version} (running v{cpu_version})"
        if group not in groups:
            return f"needs group {group} (not enabled)"
    return None


class TestUnsupported(Exception):
    """The target cannot compile the test's program (a compile-time ``Unsupported``)."""


def run_test(test: ConformanceTest, target: str, *, harden: bool = False, features: dict | None = None,
             opt: int = 0) -> str | None:
    """None when the test passes, else what went wrong; raises TestUnsupported when the target rejects the
    program at compile time (a test that expects an error still passes then)."""
    from ..execute.runner import run_program
    from ..front.validate import validate

    prog = _program(test)
    try:
        validate(prog)
        result = run_program(prog, target, mem=test.mem, harden=harden, features=features, opt=opt)
    except Unsupported as err:
        if test.error is not None:
            return None
        raise TestUnsupported(str(err)) from None
    except BpfxError as err:
        if test.error is not None:
            return None
        return f"error: {err}"
    if test.error is not None:
        return f"expected an error ({test.error!r}), got r0 = 0x{result.r0:x}"
    if test.result is None:
        return f"the test has no result section (got r0 = 0x{result.r0:x})"
    if result.r0 != test.result:
        return f"expected 0x{test.result:x}, got 0x{result.r0:x}"
    return None


def collect(paths: list[str]) -> list[str]:
    files = []
    for path in paths:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".data"))
        elif os.path.exists(path):
            files.append(path)
        else:
            raise BpfxError("no such file or directory", file=path)
    return files


def run_conformance(paths: list[str], target: str, *, cpu_version: int = 4, groups=None, harden: bool = False,
                    report=None, features: dict | None = None, opt: int = 0) -> Summary:
    groups = DEFAULT_GROUPS if groups is None else frozenset(groups)
    summary = Summary()
    for path in collect(paths):
        try:
            test = parse_file(path)
        except BpfxError as err:
            summary.failed.append((path, f"cannot parse: {err}"))
            if report:
                report(f"FAIL {path}: cannot parse: {err}")
            continue
        reason = skip_reason(test, cpu_version, groups)
        if reason:
            summary.skipped.append((path, reason))
            continue
        try:
            problem = run_test(test, target, harden=harden, features=features, opt=opt)
        except TestUnsupported as exc:
            summary.unsupported.append((path, str(exc)))
            continue
        if problem:
            summary.failed.append((path, problem))
            if report:
                report(f"FAIL {path}: {problem}")
        else:
            summary.passed.append(path)
    return summary


def cmd_conformance(args) -> int:
    from ..plugins import get_target

    get_target(args.target)
    groups = None
    if args.groups:
        groups = {g.strip() for g in args.groups.split(",") if g.strip()}
        unknown = groups - set(GROUPS)
        if unknown:
            raise UsageError(f"unknown group(s) {', '.join(sorted(unknown))} (groups: {', '.join(GROUPS)})")
    if not 1 <= args.cpu_version <= 4:
        raise UsageError("--cpu-version must be 1, 2, 3 or 4")
    from ..execute.runner import _features

    summary = run_conformance(args.paths, args.target, cpu_version=args.cpu_version, groups=groups,
                              harden=args.harden, report=print, features=_features(args.mattr), opt=args.opt)
    for path, reason in summary.skipped:
        print(f"SKIP {path}: {reason}")
    for _path, reason in summary.unsupported:
        print(f"UNSUPPORTED {reason}")
    if args.verbose:
        for path in summary.passed:
            print(f"PASS {path}")
    print(summary.line())
    return 1 if summary.failed else 0


def run_plugin_protocol(memory: str, target: str, *, harden: bool = False, features=None) -> int:
    """The bpf_conformance plugin protocol: program hex on stdin, memory hex argument, r0 hex on stdout.

    Errors go to stderr as one line with exit status 1 (the runner compares them with a test's
    ``-- error`` text)."""
    from ..execute.runner import run_program
    from ..front.validate import validate

    text = sys.stdin.read()
    try:
        code = bytes.fromhex("".join(text.split()))
        mem = bytes.fromhex("".join(memory.split())) if memory else b""
    except ValueError:
        print("bpfx: input is not hex", file=sys.stderr)
        return 1
    if len(code) % 8:
        print(f"bpfx: program of {len(code)} bytes is not a whole number of instructions", file=sys.stderr)
        return 1
    prog = Program(name="plugin", section="conformance", prog_type="mem", insns=decode(code), file="<stdin>")
    try:
        validate(prog)
        result = run_program(prog, target, mem=mem, harden=harden, features=features)
    except UsageError as err:
        print(f"bpfx: {err}", file=sys.stderr)
        return 2
    except BpfxError as err:
        print(str(err), file=sys.stderr)
        return 1
    print(f"{result.r0:x}")
    return 0


def cmd_plugin(args) -> int:
    return run_plugin_protocol(args.memory, args.target, harden=args.harden)


def plugin_main(argv: list[str] | None = None) -> int:
    """``bpfx-conformance-plugin [MEMHEX] [-t TARGET] [--harden] [--mattr +f,-g]``: the argument order the
    official runner uses (``--plugin_path bpfx-conformance-plugin --plugin_options "-t arm64"``). The memory
    argument comes first and is absent when a test has no memory; options may arrive split on spaces (empty
    pieces included) or as one string."""
    import argparse
    import shlex

    args = list(sys.argv[1:] if argv is None else argv)
    memory = ""
    if args and not args[0].startswith("-") and all(c in "0123456789abcdefABCDEF \t" for c in args[0]):
        memory = args.pop(0)
    options = [piece for arg in args for piece in shlex.split(arg)]
    parser = argparse.ArgumentParser(
        prog="bpfx-conformance-plugin",
        description="Plugin for the bpf_conformance runner: reads the program as hex from stdin, runs it with "
                    "MEMHEX as its memory (r1 = address, r2 = length) on a bpfx target, prints r0 in hex. "
                    "Run the suite with: bpf_conformance_runner --test_file_directory TESTS --cpu_version v4 "
                    "--plugin_path bpfx-conformance-plugin --plugin_options \"-t TARGET\"")
    parser.add_argument("-t", "--target", default="interp", help="bpfx target (default interp)")
    parser.add_argument("--harden", action="store_true", help="blind constants")
    parser.add_argument("--mattr", help="target features, e.g. -lse")
    ns = parser.parse_args(options)
    from ..execute.runner import _features

    try:
        features = _features(ns.mattr)
    except UsageError as err:
        parser.error(str(err))
    return run_plugin_protocol(memory, ns.target, harden=ns.harden, features=features)


def register(sub) -> None:
    p = sub.add_parser("conformance", help="run bpf_conformance .data files on a target",
                       description="Run bpf_conformance test files. Each failure is printed with its file, the "
                                   "expected and the actual result; the last line is 'N passed, M failed, K skipped'.")
    p.add_argument("paths", nargs="+", metavar="PATH", help=".data files or directories of them")
    p.add_argument("-t", "--target", required=True)
    p.add_argument("--cpu-version", type=int, default=4, help="skip tests that need a newer cpu version (1-4)")
    p.add_argument("--groups", help=f"enabled conformance groups (default all: {','.join(GROUPS)})")
    p.add_argument("--harden", action="store_true", help="blind constants")
    p.add_argument("--mattr", help="target features, e.g. +c,+zba or -lse")
    p.add_argument("-O", dest="opt", type=int, choices=(0, 1, 2, 3), default=0, metavar="N",
                   help="0: baseline selector (default); 1-3: the LLVM tier")
    p.add_argument("-v", "--verbose", action="store_true", help="also list passing files")
    p.set_defaults(func=cmd_conformance)
    q = sub.add_parser("conformance-plugin", help="the official bpf_conformance runner's plugin protocol",
                       description="Read a program as hex from stdin, run it with MEMHEX as memory, print r0 in hex. "
                                   "The official runner calls the bpfx-conformance-plugin script instead, "
                                   "which takes its argument order (memory first).")
    q.add_argument("memory", nargs="?", default="", metavar="MEMHEX")
    q.add_argument("-t", "--target", default="interp")
    q.add_argument("--harden", action="store_true", help="blind constants")
    q.set_defaults(func=cmd_plugin)
