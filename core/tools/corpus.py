"""``bpfx check-objects DIR``: load every BPF object under a directory and compile each program for a target.

Prints, per object, whether it loaded (and why not) and its program count; per program, whether it compiles
(and why not, as the one-line error a user would see). The closing line gives the counts. Anything that is not
a ``BpfxError`` is a bug in bpfx: it is counted and printed as a traceback line, and the exit code is 1.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field

from ..errors import BpfxError, LinkError, Unsupported


@dataclass
class Report:
    objects: int = 0
    loaded: int = 0
    programs: int = 0
    compiled: int = 0
    tracebacks: int = 0
    #: with run=True: programs run on the interpreter and the target, and how many of them disagree
    ran: int = 0
    differ: int = 0
    #: error class name -> count, for programs that did not compile
    failures: Counter = field(default_factory=Counter)
    #: program type -> programs typed by inference (no SEC name gave their type)
    inferred: Counter = field(default_factory=Counter)
    #: first words of each load failure -> count
    load_failures: Counter = field(default_factory=Counter)
    lines: list[str] = field(default_factory=list)

    def summary(self, target: str) -> str:
        failed = ", ".join(f"{n} {k}" for k, n in sorted(self.failures.items()))
        pct = 100.0 * self.loaded / self.objects if self.objects else 0.0
        inferred = ""
        if self.inferred:
            inferred = f" ({sum(self.inferred.values())} typed by inference: " + ", ".join(
                f"{n} {k}" for k, n in self.inferred.most_common()) + ")"
        ran = f"; {self.ran} run on interp and {target}, {self.differ} differ" if self.ran else ""
        return (f"{self.objects} objects: {self.loaded} loaded ({pct:.1f}%), {self.objects - self.loaded} not; "
                f"{self.programs} programs{inferred}: {self.compiled} compile for {target}"
                + (f", {failed}" if failed else "") + ran + f"; {self.tracebacks} tracebacks")


def objects_under(root: str, exclude: tuple[str, ...] = ()) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in exclude)
        out += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".o")]
    return out


def default_target() -> str:
    """The first target (by name) bpfx itself ships that generates code (arm64 today)."""
    from ..plugins import all_targets, describe

    native = [t for t in all_targets() if t.abi() is not None]
    bundled = [t.name for t in native if describe(t)["distribution"] == "bpfx"]
    return (bundled or [t.name for t in native] or ["interp"])[0]


# What --run feeds every program: an Ethernet/IPv4/TCP packet (the runtime's default context for other types).
RUN_PACKET = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(100)
RUN_BUDGET = 20_000


def _outcome(program, target: str, obj) -> tuple:
    from ..execute.runner import run_program

    try:
        r = run_program(program, target, packet=RUN_PACKET, obj=obj, budget=RUN_BUDGET)
    except BpfxError as err:  # the same kind of refusal on both counts as agreement
        if "budget" in err.message:  # counted in BPF instructions by the interpreter, native ones by emulators
            return ("budget",)
        return ("error", type(err).__name__)
    return ("ok", r.r0, r.packet, r.maps, r.output, r.redirects)


def check_objects(root: str, target: str | None = None, *, exclude: tuple[str, ...] = (),
                  prog_type: str | None = None, compile_programs: bool = True, run: bool = False) -> Report:
    """Load (and compile) every ``.o`` under ``root``; a Report with one line per object and program. With
    ``run``, each program that compiles also runs on the interpreter and on the target, and the two must agree
    (r0, packet, maps, output records, redirects; or the same kind of error)."""
    from ..execute.runner import compile as compile_program
    from ..front.loader import load
    from ..front.progtypes import UNSPEC

    target = target or default_target()
    rep = Report()
    for path in objects_under(root, exclude):
        rel = os.path.relpath(path, root)
        rep.objects += 1
        try:
            obj = load(path)
        except BpfxError as err:
            rep.lines.append(f"{rel}: not loaded: {err.message}")
            rep.load_failures[type(err).__name__] += 1
            continue
        except Exception as exc:  # a bpfx bug: keep going, count it
            rep.tracebacks += 1
            rep.lines.append(f"{rel}: TRACEBACK {type(exc).__name__}: {exc}")
            continue
        rep.loaded += 1
        rep.programs += len(obj.programs)
        rep.lines.append(f"{rel}: loaded, {len(obj.programs)} program{'s' if len(obj.programs) != 1 else ''}")
        if not compile_programs:
            continue
        for prog in obj.programs:
            if prog_type and (prog.prog_type == UNSPEC or prog.type_reason):  # --prog-type wins over inference
                prog.prog_type, prog.type_reason = prog_type, ""
                prog.validated = False  # validated as untyped: the chosen type's rules (helpers, LD_ABS) apply now
            why = ""
            if prog.prog_type != UNSPEC and prog.type_reason:  # (the refusal of an untyped one says why)
                rep.inferred[prog.prog_type] += 1
                why = f"; {prog.type_reason}"
            head = f"  {prog.section} ({prog.name}, {prog.prog_type}, {len(prog.insns)} insns{why})"
            try:
                image = compile_program(prog, target)
            except (Unsupported, LinkError) as err:
                rep.failures[type(err).__name__] += 1
                where = f"insn {err.insn}: " if err.insn is not None else ""
                rep.lines.append(f"{head}: {type(err).__name__}: {where}{err.message}")
                continue
            except BpfxError as err:
                rep.failures[type(err).__name__] += 1
                rep.lines.append(f"{head}: {type(err).__name__}: {err.message}")
                continue
            except Exception as exc:
                rep.tracebacks += 1
                rep.lines.append(f"{head}: TRACEBACK {type(exc).__name__}: {exc}")
                continue
            rep.compiled += 1
            note = ""
            if run:
                try:
                    ref, got = _outcome(prog, "interp", obj), _outcome(prog, target, obj)
                except Exception as exc:
                    rep.tracebacks += 1
                    rep.lines.append(f"{head}: TRACEBACK while running: {type(exc).__name__}: {exc}")
                    continue
                if ("budget",) in (ref, got):
                    rep.lines.append(f"{head}: ok, {len(image.code)} bytes, not compared (budget exhausted)")
                    continue
                rep.ran += 1
                if ref != got:
                    rep.differ += 1
                    note = f", DIFFERS: interp {str(ref)[:80]} vs {target} {str(got)[:80]}"
                else:
                    note = f", runs alike ({ref[0]}{'' if ref[0] == 'ok' else ' ' + ref[1]})"
            rep.lines.append(f"{head}: ok, {len(image.code)} bytes{note}")
    return rep


def cmd_check_objects(args) -> int:
    target = args.target or default_target()
    rep = check_objects(args.dir, target, exclude=tuple(args.exclude or ()), prog_type=args.prog_type,
                        compile_programs=not args.load_only, run=args.run)
    if not args.quiet:
        for line in rep.lines:
            print(line)
    print(rep.summary(target))
    sys.stdout.flush()
    return 1 if rep.tracebacks or rep.differ else 0


def register(sub) -> None:
    p = sub.add_parser("check-objects", help="load every BPF object under a directory and compile its programs",
                       description="Walk DIR for .o files; print per object whether it loads (or why not) and its "
                                   "program count, per program whether it compiles for the target (or the one-line "
                                   "reason), and a closing line with the counts. Exit 1 if bpfx itself failed "
                                   "(a traceback) on any input.")
    p.add_argument("dir")
    p.add_argument("-t", "--target", help="target to compile for (default: the first native target bpfx ships)")
    p.add_argument("--exclude", action="append", metavar="DIRNAME",
                   help="skip directories of this name (repeatable), e.g. --exclude invalid")
    p.add_argument("--prog-type", help="program type for programs whose section names none")
    p.add_argument("--load-only", action="store_true", help="only load, do not compile")
    p.add_argument("--run", action="store_true", help="also run each compiled program on the interpreter and the "
                                                      "target (a TCP packet, empty maps) and compare; exit 1 if "
                                                      "any differ")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the closing line")
    p.set_defaults(func=cmd_check_objects)
