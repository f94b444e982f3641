"""The public API: everything a driver or a target plugin may use.

Bundled plugins import only from here (or the same names from ``bpfx``), so a
vendor's plugin has every power ours have.
"""

from __future__ import annotations

from .front import isa
from .back.codegen import CodeGen, Frame, map_symbol
from .back import fields
from .back.emit import BranchForm, Emitter
from .back.selector import BY_INSN, BY_SELECTOR, BY_UPPER, TableSelector
from .errors import BpfxError, LinkError, RuntimeFault, Unsupported, UsageError, ValidationError
from .front.asm import format_insn
from .hookspecs import hookimpl, target_hookimpl
from .front.isa import Insn, Kind
from .front.program import MapDef, Object, Program
from .back.target import (ABI, ContextField, ContextLayout, Executor, HelperEntry, HelperImpl, HelperTable, Image,
                          Machine, MachineLayout, Reloc, RelocType, Selector, TargetInfo)
from .execute.runtime import HelperCall, Result, Runtime
from .front.verify import RegFact, ValueFacts, known_constant, value_facts


def load(path: str, *, prog_type: str | None = None, helpers=(), externs: dict[str, int] | None = None,
         btf=None) -> Object:
    """Load a BPF ELF object (.o), assembly (.s) or raw instructions (.bin), validated.

    :param prog_type: the program type for input that does not name one (or to override the SEC name's); any
        executable section loads with it.
    :param helpers: helper ids to accept beyond the program type's UAPI set (a device's firmware helpers).
    :param externs: ``__kconfig`` extern values and ``__ksym`` addresses, by name.
    :param btf: the target's BTF (bytes or path) that CO-RE relocations are applied against.
    """
    from .front.loader import load as _load

    return _load(path, prog_type=prog_type, helpers=helpers, externs=externs, btf=btf)


def compile(program: Program, target: str, *, helpers: dict | None = None, context: ContextLayout | None = None,
            maps: dict | None = None, opt: int = 0, harden: bool = False, features: dict | None = None,
            safety: str | None = None) -> Image:
    """Compile ``program`` for ``target``.

    :param helpers: helper id -> absolute address (int) or :class:`HelperEntry`; others stay relocations
        against ``bpf_<name>``. A :class:`HelperImpl` or callable adds a helper the program may call (its
        implementation matters only to runs).
    :param context: the device's :class:`ContextLayout` (default: the target's, else specs/).
    :param maps: map name -> absolute address of the driver's map object; those relocations are applied to the
        returned code and dropped from ``Image.relocs`` (the rest stay as records).
    :param opt: 0 = the direct selector; 1-3 = the LLVM tier at -O1..-O3, for targets with an LLVM triple
        (others raise Unsupported).
    :param safety: ``structural`` (the validator's checks only), ``verify`` (raise ValidationError unless the
        verifier proves the program memory-safe) or ``checked`` (run-time checks for what it cannot prove, a fault
        where it proves an access always fails); default: the target's (checked for code generators).
    """
    from .execute.runner import compile as _compile

    image = _compile(program, target, helpers=helpers, context=context, harden=harden, features=features, opt=opt,
                     safety=safety)
    if maps:
        image = resolve(image, maps)
    return image


def resolve(image: Image, symbols: dict[str, int], *, base: int | None = None) -> Image:
    """Apply the relocations whose symbol is in ``symbols`` (PC-relative ones need ``base``, the load address);
    return an Image with those patched and only the others left as records."""
    import dataclasses

    code = bytearray(image.code)
    left = []
    for r in image.relocs:
        if r.symbol in symbols:
            pc = (base or 0) + r.offset
            image.reloc_types[r.type].apply(code, r.offset, symbols[r.symbol] + r.addend, pc)
        else:
            left.append(r)
    return dataclasses.replace(image, code=bytes(code), relocs=tuple(left))


def run(program: Program, target: str = "interp", **kwargs) -> Result:
    """Run ``program`` on ``target``; returns a :class:`Result`.

    Keywords: ``packet``/``mem`` (input bytes), ``obj`` (the Object, for tail calls), ``budget``, ``harden``,
    ``features``, ``context`` (a ContextLayout), ``map_init`` ({map name: {key bytes: value bytes}}), and
    ``helpers``: helper id -> implementation, a callable ``fn(call, a1, a2, a3, a4, a5) -> r0`` or a
    :class:`HelperImpl` (``call`` is a :class:`HelperCall`: memory by address, maps, trace), overriding or
    adding to the runtime's helpers on the interpreter and every target alike; an int or HelperEntry value
    is a helper address for the compiled code, as in :func:`compile`.
    """
    from .execute.runner import run_program

    return run_program(program, target, **kwargs)


def prepare(program: Program, target: str = "interp", **kwargs):
    """``program`` made ready to run many times on ``target``: ``bpfx.prepare(prog, "host").run(packet=...)``
    (``mem=``, ``map_init=`` per run too). Target look-up, helpers, validation, the safety pass and compilation
    happen once, here; each run starts from a fresh runtime (fresh maps, context, packet), so it returns exactly
    the Result :func:`run` would. Keywords: those of :func:`run` other than ``packet``, ``mem`` and
    ``map_init``."""
    from .execute.runner import Prepared

    return Prepared(program, target, **kwargs)


def interpret(program: Program, runtime: Runtime, *, budget: int = 10_000_000, prepare=None) -> Result:
    """Run ``program`` on the reference interpreter against ``runtime`` (for executors of targets whose code is
    BPF, e.g. a device that interprets normalised BPF). ``prepare(program) -> Program``, if given, turns a tail
    call's target into what runs in its place (such an executor normalises the callee too)."""
    from .execute.interp import interpret as _interpret

    return _interpret(program, runtime, budget=budget, prepare=prepare)


def targets() -> dict[str, dict]:
    """Every registered target: name -> description, distribution, version, hooks."""
    from .plugins import all_targets, describe

    return {t.name: describe(t) for t in all_targets()}


__all__ = [
    "ABI", "BY_INSN", "BY_SELECTOR", "BY_UPPER", "BpfxError", "BranchForm", "CodeGen", "ContextField",
    "ContextLayout", "Emitter", "Executor", "Frame", "HelperCall", "HelperEntry", "HelperImpl", "HelperTable",
    "Image", "Insn", "Kind", "LinkError", "Machine", "MachineLayout", "MapDef", "Object", "Program", "RegFact",
    "Reloc", "RelocType", "Result", "Runtime", "RuntimeFault", "Selector", "TableSelector", "TargetInfo",
    "Unsupported", "UsageError", "ValidationError", "ValueFacts", "compile", "fields", "format_insn", "hookimpl",
    "interpret", "isa", "known_constant", "load", "map_symbol", "prepare", "resolve", "run", "target_hookimpl",
    "targets", "value_facts",
]
