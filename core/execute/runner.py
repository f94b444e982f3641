"""Compiling and running programs on any target: the ``run`` and ``compile`` commands and their API."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import BpfxError, Unsupported, UsageError
from ..fileio import read_input, write_text
from .runtime.layout import MAX_MEM, MAX_PACKET
from ..plugins import get_target, registry
from ..front.program import Object, Program

DEFAULT_BUDGET = 10_000_000  # BPF instructions for the interpreter; native instructions for emulated targets
SAFETY_MODES = ("structural", "verify", "checked")


def apply_safety(program: Program, safety: str, *, mem: bytes | None = None, known_mem: bool = False,
                 helpers=()) -> Program:
    """The program to run or compile under ``safety``: as is (structural: the validator's checks only), as is
    once the verifier proved it safe (verify), or with run-time checks for what it could not prove (checked).

    :param known_mem: for ``mem`` programs, whether ``mem`` is the memory block r1 will point to (runs), so
        accesses can be proven against its size; compiled code does not know it and checks them.
    """
    from ..front.verify import verify

    if safety not in SAFETY_MODES:
        raise UsageError(f"unknown safety mode {safety!r} (modes: {', '.join(SAFETY_MODES)})")
    if safety == "structural":
        return program
    from ..front.validate import validate

    validate(program, helpers=helpers)  # helpers: ids allowed beyond the program type's (a target's own)
    check_ctx_stores(program)  # the same error in every mode, before checked code turns the store into a fault
    mem_size = len(mem or b"") if known_mem else None
    analysis = verify(program, mem_size=mem_size, checked=safety == "checked")
    if safety == "verify":
        return program
    from ..back.legalize import checked

    return checked(program, analysis)


def check_ctx_stores(program: Program) -> None:
    """A store to a context field the program type does not let it write is a ValidationError (what the
    context pass checks for compiled targets); once per instruction list, as ``Program.arrays`` caches."""
    from ..front.progtypes import prog_type

    ptype = prog_type(program.prog_type)
    done = program.__dict__.get("_ctx_stores_checked")
    # (writable_all types too: check_stores also refuses partial loads of pointer fields)
    if not ptype.ctx_struct or (done and done[0] is program.insns and done[1] == len(program.insns)):
        return
    from ..front.cfg import build_cfg

    ptype.check_stores(program, build_cfg(program).ctx_accesses)
    program.__dict__["_ctx_stores_checked"] = (program.insns, len(program.insns))


def _ctx_layout(target, program: Program, context):
    from ..front.progtypes import prog_type

    if not prog_type(program.prog_type).ctx_struct:
        return None
    layout = context or target.context(program.prog_type)
    if layout is None:  # the UAPI layout itself
        return None
    return {f.name: (f.off, f.size) for f in layout.fields.values()}


def check_context(context) -> None:
    """``context=`` is None or a :class:`bpfx.ContextLayout`."""
    from ..back.target import ContextLayout

    if context is not None and not isinstance(context, ContextLayout):
        raise UsageError(f"context must be a ContextLayout, not {type(context).__name__}")


def split_helpers(helpers: dict | None) -> tuple[dict, dict]:
    """Split a caller's ``helpers`` into (addresses: id -> int | HelperEntry, implementations: id -> HelperImpl |
    callable), checking each value."""
    from ..back.target import HelperEntry, HelperImpl

    addresses, impls = {}, {}
    for hid, value in (helpers or {}).items():
        if not isinstance(hid, int) or isinstance(hid, bool) or not -2**31 <= hid < 2**31:
            raise UsageError(f"helper id {hid!r} is not a 32-bit integer")
        if isinstance(value, HelperImpl) or (callable(value) and not isinstance(value, HelperEntry)):
            impls[hid] = value
        elif isinstance(value, HelperEntry) or (isinstance(value, int) and not isinstance(value, bool)):
            if isinstance(value, int) and not 0 <= value < 2**64:
                raise UsageError(f"helper {hid}: address {value:#x} does not fit a 64-bit address")
            addresses[hid] = value
        else:
            raise UsageError(f"helper {hid}: expected an address (int), a HelperEntry or an implementation "
                             f"(callable), not {type(value).__name__}")
    return addresses, impls


def allowed_helpers(tgt, prog_type: str, helpers: dict | None = None, *, impls: dict | None = None) -> frozenset[int]:
    """Helper ids a program of ``prog_type`` may call on ``tgt``: the type's UAPI set, every id the target's
    plugins implement or give an entry, and the caller's ``helpers`` (``impls``: ``tgt.helper_impls`` of them,
    when the caller has it already)."""
    addresses, custom = split_helpers(helpers)
    table = tgt.helpers(prog_type, addresses, impls if impls is not None else tgt.helper_impls(prog_type, custom))
    return frozenset(table.entries)


def compile(program: Program, target: str, *, helpers: dict | None = None, context=None,
            harden: bool = False, features: dict | None = None, seed: int | None = None, opt: int = 0,
            safety: str | None = None):
    """Compile ``program`` for ``target`` and return an :class:`bpfx.Image` (``opt`` > 0: the LLVM tier).

    :param safety: structural | verify | checked (default: the target's, see ``Target.default_safety``); the
        run-time checks of ``checked`` are BPF, so the LLVM tier compiles them like the rest.
    """
    check_context(context)
    addresses, impls = split_helpers(helpers)
    tgt = get_target(target)
    impls = tgt.helper_impls(program.prog_type, impls)
    original = program
    check_ctx_stores(program)  # every tier (the LLVM tier has no context pass of its own)
    program = apply_safety(program, safety or tgt.default_safety(), helpers=allowed_helpers(tgt, program.prog_type,
                                                                                              helpers))
    origin = program.__dict__.get("origin")
    try:
        image = _compiler(tgt, helpers=addresses, impls=impls, context=context, harden=harden, features=features,
                          seed=seed, opt=opt)(program)
    except BpfxError as err:
        if origin is not None and err.insn is not None and 0 <= err.insn < len(origin):
            err.insn = origin[err.insn]
        raise
    if origin is None or program is original:
        return image
    import dataclasses

    # the line map names the instructions of the program as written; checks belong to the access they guard
    return dataclasses.replace(image, line_map=tuple((off, origin[b] if b >= 0 else b) for off, b in image.line_map))


def _compiler(tgt, *, helpers, impls, context, harden, features, seed, opt):
    """Program -> Image for ``tgt``: the baseline selector at -O0, else the LLVM tier."""
    if opt:
        from ..llvm import compile_program as llvm_compile

        return lambda prog: llvm_compile(prog, tgt, opt=opt, helpers=helpers, impls=impls, context=context,
                                         features=features, harden=harden)
    from ..back.codegen import compile_program

    return lambda prog: compile_program(prog, tgt, helpers=helpers, impls=impls, context=context, harden=harden,
                                        features=features, seed=seed)


def run_program(program: Program, target: str = "interp", *, packet: bytes | None = None, mem: bytes | None = None,
                obj: Object | None = None, budget: int = DEFAULT_BUDGET, harden: bool = False,
                helpers: dict | None = None, context=None, features: dict | None = None,
                seed: int | None = None, map_init=None, opt: int = 0, safety: str | None = None):
    """Run ``program`` on ``target`` (interpreted, or compiled and run by the target's executor); returns a
    Result. ``helpers`` maps helper ids to addresses (as for compile) or to implementations (callables or
    HelperImpl), which override the runtime's built-ins on every target. ``opt`` > 0 compiles through the LLVM
    tier; targets that run programs themselves (interp, host) ignore it (host always optimises).

    :param safety: structural | verify | checked (default: the target's, see ``Target.default_safety``).
    """
    plain = helpers is None and context is None and features is None and seed is None
    key = (id(program), target, id(obj), budget, harden, opt, safety)
    prepared = _PREPARED.get(key) if plain else None
    if prepared is None or not prepared.still(program, obj):
        prepared = Prepared(program, target, obj=obj, budget=budget, harden=harden, helpers=helpers,
                            context=context, features=features, seed=seed, opt=opt, safety=safety)
        # kept for the next run of the same Program object only where nothing can go stale: no caller
        # helpers, and no executor (whose helper table may follow a plugin's state)
        if plain and prepared.executor is None:
            if len(_PREPARED) >= 64:
                _PREPARED.clear()
            _PREPARED[key] = prepared
    return prepared.run(packet=packet, mem=mem, map_init=map_init)


_PREPARED: dict[tuple, Prepared] = {}


class Prepared:
    """A program made ready to run on a target once (target, helpers, validation, safety, the compiled image)
    and run any number of times with :meth:`run`; each run starts from a fresh runtime, so it gives the
    Result a separate :func:`run_program` call would. ``bpfx.prepare`` returns one."""

    def __init__(self, program: Program, target: str = "interp", *, obj: Object | None = None,
                 budget: int = DEFAULT_BUDGET, harden: bool = False, helpers: dict | None = None, context=None,
                 features: dict | None = None, seed: int | None = None, opt: int = 0, safety: str | None = None):
        from ..back.codegen import check_runnable
        from ..front.validate import validate

        tgt = get_target(target)
        check_runnable(program, tgt)
        check_context(context)
        if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
            raise UsageError(f"budget must be a positive int, not {budget!r}")
        addresses, custom = split_helpers(helpers)
        self.impls = impls = tgt.helper_impls(program.prog_type, custom)
        self.allowed = allowed_helpers(tgt, program.prog_type, helpers, impls=impls)
        validate(program, helpers=self.allowed)
        check_ctx_stores(program)
        self.tgt, self.source, self.obj, self.budget = tgt, program, obj, budget
        self._insns = (program.insns, len(program.insns), program.functions, program.maps, program.prog_type)
        self._entry = registry().targets.get(tgt.name)
        self.mode = safety or tgt.default_safety()
        self.options = {"harden": harden, "opt": opt}
        self.executor = tgt.machine()
        self._run = tgt.runner(self.options) if self.executor is None else None
        self._programs: dict[int | None, Program] = {}  # by mem size where the verifier's proof depends on it
        self._tail: dict[int, Program] = {}
        self._images: dict[int, tuple[Program, object]] = {}
        if self.executor is not None:
            self.ctx_layout = _ctx_layout(tgt, program, context)
            self.compile_fn = _compiler(tgt, helpers=addresses, impls=impls, context=context, harden=harden,
                                        features=features, seed=seed, opt=opt)
            self.helper_table = tgt.helpers(program.prog_type, addresses, impls)

    def still(self, program: Program, obj: Object | None) -> bool:
        """Whether this is still what preparing ``program`` (with ``obj``) for the same target would give: the
        same Program and Object, its instructions, functions and maps not replaced, the target's plugin the
        same."""
        src, entry = self.source, self._entry
        return (src is program and self.obj is obj and program.insns is self._insns[0]
                and len(program.insns) == self._insns[1] and program.functions is self._insns[2]
                and program.maps is self._insns[3] and program.prog_type == self._insns[4]
                and registry().targets.get(self.tgt.name) is entry)

    def _tail_target(self, target_prog: Program) -> Program:
        """A tail call's target runs under the same safety mode (checked code stays checked)."""
        key = id(target_prog)
        hit = self._tail.get(key)
        if hit is None or hit[0] is not target_prog:
            hit = self._tail[key] = (target_prog, apply_safety(target_prog, self.mode, helpers=self.allowed))
        return hit[1]

    def _program(self, mem) -> Program:
        key = len(mem or b"") if self.mode != "structural" and self.source.prog_type == "mem" else None
        program = self._programs.get(key)
        if program is None:
            from ..front.validate import validate

            program = apply_safety(self.source, self.mode, mem=mem, known_mem=True)
            if self.executor is None:
                validate(program, helpers=self.impls)
            self._programs[key] = program
        return program

    def run(self, packet: bytes | None = None, mem: bytes | None = None, map_init=None):
        """Run once on ``packet`` (ctx programs) or ``mem`` (``mem`` programs), maps initialised from
        ``map_init`` ({map name: {key bytes: value bytes}}); returns a Result."""
        from .runtime import Runtime

        for name, value in (("packet", packet), ("mem", mem)):
            if value is not None and not isinstance(value, (bytes, bytearray, memoryview)):
                raise UsageError(f"{name} must be bytes, not {type(value).__name__}")
        program = self._program(mem)
        if self.executor is None:
            rt = Runtime(program, packet=packet, mem=mem, obj=self.obj, map_init=map_init, helper_impls=self.impls)
            rt.prepare = self._tail_target
            result = self._run(program, rt, self.budget)
            if result is None:
                raise Unsupported(f"target {self.tgt.name} can neither run programs nor be emulated here")
            return result
        rt = Runtime(program, packet=packet, mem=mem, obj=self.obj, map_init=map_init, ctx_layout=self.ctx_layout,
                     helper_impls=self.impls)
        rt.prepare = self._tail_target
        hit = self._images.get(id(program))
        if hit is None or hit[0] is not program:
            hit = self._images[id(program)] = (program, self.compile_fn(program))
        rt.helper_table = self.helper_table
        rt.compile = self.compile_fn
        try:
            return self.executor.run(hit[1], rt, self.budget)
        except BpfxError as err:
            raise err.at(file=program.file, section=program.section) from None


def load_for(path: str, tgt, *, prog_type: str | None = None, externs: dict[str, int] | None = None,
             btf=None) -> Object:
    """Load ``path`` and validate each program with the helpers ``tgt`` provides beyond the UAPI ones."""
    from ..front.loader import load
    from ..front.validate import validate

    obj = load(path, prog_type=prog_type, validate=False, externs=externs, btf=btf)
    for prog in obj.programs:
        validate(prog, helpers=allowed_helpers(tgt, prog.prog_type))
    return obj


# -- command line ----------------------------------------------------------------------------------------------

def _features(spec: str | None) -> dict[str, bool] | None:
    if not spec:
        return None
    out = {}
    for part in spec.split(","):
        part = part.strip()
        if not part or part[0] not in "+-":
            raise UsageError(f"--mattr takes +feature or -feature, not {part!r}")
        out[part[1:]] = part[0] == "+"
    return out


def _packet(args) -> bytes | None:
    if args.packet:
        return read_input(args.packet, what="packet", limit=MAX_PACKET)
    if args.packet_size is not None:
        if not 0 <= args.packet_size <= 65536:
            raise UsageError("--packet-size must be between 0 and 65536")
        return bytes(i & 0xFF for i in range(args.packet_size))
    return None


def cmd_run(args) -> int:
    obj = load_for(args.file, get_target(args.target), prog_type=args.prog_type, externs=_externs(args),
                   btf=args.btf)
    program = obj.program(args.section)
    mem = None
    if args.mem:
        mem = read_input(args.mem, what="memory file", limit=MAX_MEM)
    result = run_program(program, args.target, packet=_packet(args), mem=mem, obj=obj, budget=args.budget,
                         harden=args.harden, features=_features(args.mattr), opt=args.opt, safety=args.safety)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    name = result.return_name
    print(f"r0 = {result.r0}" + (f" ({name})" if name else "") + f"  [0x{result.r0:x}]")
    if result.packet_len is not None:
        print(f"packet length = {result.packet_len}")
    for map_name, entries in result.maps.items():
        for key, value in entries.items():
            print(f"map {map_name}[{key}] = {value if value is not None else '(deleted)'}")
    for name, value in result.ctx_changed.items():
        print(f"ctx {name} = {value} [0x{value:x}]")
    for line in result.trace:
        print(f"trace: {line}")
    return 0


def cmd_compile(args) -> int:
    from ..back.writers import FORMATS, write

    tgt = get_target(args.target)
    obj = load_for(args.file, tgt, prog_type=args.prog_type, externs=_externs(args), btf=args.btf)
    program = obj.program(args.section)
    if args.emit:
        if not args.opt:
            raise UsageError("--emit shows the LLVM tier's output: give -O1, -O2 or -O3")
        if tgt.name == "host":  # what the host JIT compiles: the checked, virtual-address model
            from ..llvm.host import jit

            lib = jit().library(program, args.opt)
            text = lib.llvm_ir if args.emit == "llvm" else lib.emit_assembly()
        else:
            from ..llvm import emit_text

            text = emit_text(program, tgt, args.emit, opt=args.opt, harden=args.harden,
                             features=_features(args.mattr))
        if args.output in (None, "-"):
            sys.stdout.write(text)
        else:
            write_text(args.output, text)
        return 0
    if tgt.abi() is None and not (args.opt and tgt.llvm_info()):
        raise UsageError(f"target {args.target} does not generate code; choose a native target (--list-targets)")
    image = compile(program, args.target, harden=args.harden, features=_features(args.mattr), opt=args.opt,
                    safety=args.safety)
    fmt = args.format
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")
    out = args.output
    if out is None:
        if fmt == "listing":
            out = "-"
        else:
            stem = os.path.splitext(os.path.basename(args.file))[0]
            out = f"{stem}.{args.target}" + {"elf": ".o", "bin": ".bin", "c": ".c"}[fmt]
    disasm = getattr(tgt.selector(), "disassembler", None)
    write(image, fmt, out, program=program, disasm=disasm, abi=None if args.opt else tgt.abi())  # LLVM allocates
    if out != "-":
        print(f"{out}: {len(image.code)} bytes of {args.target} code for {len(program.insns)} BPF instructions, "
              f"{len(image.relocs)} relocations", file=sys.stderr)
    return 0


def _externs(args) -> dict[str, int]:
    """--extern NAME=VALUE options as a dict."""
    externs = {}
    for item in args.extern or ():
        name, sep, value = item.partition("=")
        try:
            externs[name] = int(value, 0)
        except ValueError:
            raise UsageError(f"--extern takes NAME=VALUE with an integer value, not {item!r}") from None
        if not sep or not name:
            raise UsageError(f"--extern takes NAME=VALUE, not {item!r}")
    return externs


def _common(p, default_target: str | None) -> None:
    p.add_argument("file", help="BPF ELF object (.o), assembly (.s) or raw instructions (.bin)")
    p.add_argument("-t", "--target", default=default_target, required=default_target is None,
                   help="target name (see bpfx --list-targets)" + (f"; default {default_target}"
                                                                   if default_target else ""))
    p.add_argument("--section", "-s", help="program to use: its section or function name (default: the only one)")
    p.add_argument("--prog-type", help="program type (xdp, sched_cls, socket_filter, kprobe, mem, ...; see "
                                       "specs/program_types.toml): default mem for .s/.bin input; ELF objects take it "
                                       "from the section name, and any executable section loads with this")
    p.add_argument("--extern", action="append", metavar="NAME=VALUE",
                   help="value of a __kconfig extern or address of a __ksym extern (repeatable)")
    p.add_argument("--btf", metavar="FILE", help="target BTF (raw, e.g. /sys/kernel/btf/vmlinux) for CO-RE "
                                                 "relocations")
    p.add_argument("--harden", action="store_true", help="blind constants (the kernel's JIT hardening)")
    p.add_argument("--mattr", help="target features, e.g. +lse or -lse")
    p.add_argument("--safety", choices=SAFETY_MODES,
                   help="structural: the validator's checks only; verify: reject what the verifier cannot prove "
                        "safe; checked: compile a run-time check for it (default: the target's, structural "
                        "unless its plugin says otherwise)")
    p.add_argument("-O", dest="opt", type=_opt_level, default=0, metavar="N",
                   help="0: the baseline selector (default); 1-3: the LLVM tier at that optimisation level")


def _opt_level(text: str) -> int:
    if text not in ("0", "1", "2", "3"):
        raise argparse.ArgumentTypeError(f"optimisation level must be 0, 1, 2 or 3, not {text!r}")
    return int(text)


def register(sub) -> None:
    p = sub.add_parser("run", help="run a program on a target (interpreted or emulated)",
                       description="Run a BPF program and print r0 (with its return-code name), the packet length "
                                   "after the run, changed map entries and trace output.")
    _common(p, "interp")
    p.add_argument("--packet", help="file with the packet bytes (xdp, tc, socket programs)")
    p.add_argument("--packet-size", type=int, help="use a generated packet of N bytes")
    p.add_argument("--mem", help="file with the memory block for 'mem' programs (r1 = pointer, r2 = length)")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="instruction budget (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print the result as JSON (r0, packet_len, maps, trace)")
    p.set_defaults(func=cmd_run)
    c = sub.add_parser("compile", help="compile a program to native code",
                       description="Compile a BPF program for a target. Formats: elf (ET_REL object with "
                                   ".rela.text, links with binutils), bin (raw code + OUT.relocs.json), c (C array "
                                   "with a relocation table), listing (BPF interleaved with native code).")
    _common(c, None)
    c.add_argument("-o", "--output", help="output file ('-' for stdout; default: FILE stem + target + suffix)")
    c.add_argument("-f", "--format", default="elf", help="elf | bin | c | listing (default elf)")
    c.add_argument("--emit", choices=("llvm", "asm"), help="with -O1..-O3: print the optimised LLVM IR or the "
                                                            "target assembly instead of writing code")
    c.set_defaults(func=cmd_compile)
