"""The public API: everything a driver or a target plugin may use.

Bundled plugins import only from here (or the same names from ``bpfx``), so a
vendor's plugin has every power ours have.
"""

from __future__ import annotations

from .front import isa
from .back.codegen import CodeGen, Frame, map_symbol
from .back.emit import BranchForm, Emitter
from .errors import BpfxError, LinkError, RuntimeFault, Unsupported, UsageError, ValidationError
from .hookspecs import hookimpl
from .front.isa import Insn, Kind
from .front.program import MapDef, Object, Program
from .front.verify import RegFact, ValueFacts, known_constant, value_facts
from .back.target import (ABI, ContextField, ContextLayout, HelperEntry, HelperTable, Image, Machine, Reloc, RelocType,
                     TargetInfo)


def load(path: str, *, prog_type: str | None = None) -> Object:
    """Load a BPF ELF object (.o), assembly (.s) or raw instructions (.bin), validated."""
    from .front.loader import load as _load

    return _load(path, prog_type=prog_type)


def compile(program: Program, target: str, *, helpers: dict | None = None, context: ContextLayout | None = None,
            maps: dict | None = None, opt: int = 0, harden: bool = False, features: dict | None = None,
            safety: str | None = None) -> Image:
    """Compile ``program`` for ``target``.

    :param helpers: helper id -> absolute address (int) or :class:`HelperEntry`; others stay relocations
        against ``bpf_<name>``.
    :param context: the device's :class:`ContextLayout` (default: the target's, else specs/).
    :param maps: map name -> absolute address of the driver's map object; those relocations are applied to the
        returned code and dropped from ``Image.relocs`` (the rest stay as records).
    :param opt: 0 = the direct selector; >0 = the LLVM tier where the target has one.
    :param safety: ``structural`` (the validator's checks only), ``verify`` (raise ValidationError unless the
        verifier proves the program memory-safe) or ``checked`` (run-time checks for what it cannot prove, a fault
        where it proves an access always fails); default: the target's (checked for code generators).
    """
    from .execute.runner import compile as _compile

    if opt:
        raise Unsupported("the LLVM tier (opt > 0) is not available yet")
    image = _compile(program, target, helpers=helpers, context=context, harden=harden, features=features,
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


def run(program: Program, target: str = "interp", **kwargs):
    """Run ``program`` on ``target`` (see :func:`bpfx.run.run_program` for the keywords); returns a Result."""
    from .execute.runner import run_program

    return run_program(program, target, **kwargs)


def targets() -> dict[str, dict]:
    """Every registered target: name -> description, distribution, version, hooks."""
    from .plugins import all_targets, describe

    return {t.name: describe(t) for t in all_targets()}


__all__ = [
    "ABI", "BpfxError", "BranchForm", "CodeGen", "ContextField", "ContextLayout", "Emitter", "Frame", "HelperEntry",
    "HelperTable", "Image", "Insn", "Kind", "LinkError", "Machine", "MapDef", "Object", "Program", "RegFact", "Reloc",
    "RelocType", "RuntimeFault", "TargetInfo", "Unsupported", "UsageError", "ValidationError", "ValueFacts", "compile",
    "hookimpl", "isa", "known_constant", "load", "map_symbol", "resolve", "run", "targets", "value_facts",
]
