"""The optimising tier: BPF -> LLVM IR (lift.py) -> optimised native code for any target with an LLVM triple.

Target-neutral: the triple and features come from the target's ``TargetInfo`` and the relocation types from
its ``bpfx_reloc_types`` hook (or its selector's ``reloc_types``). The object LLVM emits is read back into an
:class:`~bpfx.Image` with the same relocation records the baseline tier makes (object.py), so writers,
listings and emulated runs do not care which tier made it. ``host.py`` JIT-compiles the same IR for the
machine bpfx runs on (the ``host`` target).
"""

from __future__ import annotations

from ..back.target import ABI
from ..errors import BpfxError, Unsupported

#: the legaliser's view of LLVM IR: every semantic the lifter spells out itself, so only the context rewrite
#: and callx expansion run
LLVM_ABI = ABI(regs={}, arg_regs=(), ret_reg=0, callee_saved=frozenset(), scratch=(), reg_names={},
               udiv_by_zero_is_zero=True, umod_by_zero_is_dst=True, sdiv_overflow_safe=True, shifts_mask_count=True,
               alu32_zero_extends=True)


#: the most BPF instructions the LLVM tier takes: LLVM's time grows faster than the program (host, loaded
#: machine: 50k instructions 42 s, 100k 226 s, 1M unfinished after 20 min at 4.9 GB), so a larger program is a
#: clean refusal rather than a hang; the baseline tier takes the validator's 1M
MAX_LLVM_INSNS = 100_000


def legalise(program, *, layout=None, helpers=frozenset()):
    """Validate and legalise ``program`` for the lifter: ctx rewrite to ``layout`` (None: keep the UAPI layout)
    and callx expansion over the UAPI helpers plus ``helpers`` (ids). Returns the core's ``Legalized``."""
    from ..back.legalize import legalize
    from ..front.progtypes import prog_type as get_prog_type
    from ..front.validate import function_starts, validate

    validate(program, helpers=helpers)
    if len(program.insns) > MAX_LLVM_INSNS:
        raise Unsupported(f"program has {len(program.insns)} instructions; the LLVM tier (host, -O1..-O3) compiles "
                          f"at most {MAX_LLVM_INSNS}")
    ptype = get_prog_type(program.prog_type)
    accesses = None
    if layout is not None and ptype.ctx_struct:
        from ..front.cfg import build_cfg

        accesses = build_cfg(program).ctx_accesses
    else:
        layout = None
    functions = {s: program.functions.get(s, f"{program.name}_sub{s}") for s in function_starts(program)}
    return legalize(program.insns, functions, LLVM_ABI, prog_type=ptype,
                    allowed_helpers=frozenset(ptype.helper_ids) | frozenset(helpers),
                    ctx_layout=layout, ctx_accesses=accesses)


def _features(target, overrides) -> str:
    parts = [p for p in target.llvm_info().llvm_features.split(",") if p]
    own = target.llvm_info().non_llvm_features
    parts += [("+" if on else "-") + name for name, on in target.features(overrides).items() if name not in own]
    return ",".join(parts)


def library(program, target, *, opt: int = 2, helpers: dict | None = None, impls: dict | None = None, context=None,
            features: dict | None = None, harden: bool = False):
    """Lift ``program`` for ``target`` (a ``bpfx.plugins.Target``) and return (finalised Library, Lifted, helper
    table). ``helpers`` are the caller's addresses, ``impls`` the helper implementations (as for the baseline)."""
    from .codegen import Codegen, set_options
    from .lift import lift

    info = target.llvm_info()
    triple = info.llvm_triple if info is not None else None
    if not triple:
        raise Unsupported(f"target {target.name} has no LLVM triple: the LLVM tier (-O{opt}) cannot serve it; "
                          f"use -O0", file=program.file, section=program.section)
    if harden:
        raise Unsupported("constant blinding (--harden) is not available with the LLVM tier: its optimiser "
                          "would fold the blinded constants back; use -O0", file=program.file, section=program.section)
    try:
        from ..front.progtypes import prog_type as get_prog_type

        layout = (context or target.context(program.prog_type)) if get_prog_type(program.prog_type).ctx_struct \
            else None
        table = target.helpers(program.prog_type, helpers, impls)
        legal = legalise(program, layout=layout, helpers=frozenset(table.entries))
        lifted = lift(program, legal.insns, legal.origin, legal.functions, table, mode="native", target=target.name)
        set_options(info.llvm_options)
        lib = Codegen(triple, features=_features(target, features), opt=opt, reloc=info.llvm_reloc).library(
            program.name)
        lib.add_ir(lifted.module)
        lib.finalize()
    except BpfxError as err:
        raise err.at(file=program.file, section=program.section) from None
    return lib, lifted, table


def compile_program(program, target, *, opt: int = 2, helpers: dict | None = None, impls: dict | None = None,
                    context=None, features: dict | None = None, harden: bool = False):
    """Compile ``program`` for ``target`` through LLVM; returns an :class:`~bpfx.Image`."""
    from .object import image_from_object

    lib, lifted, table = library(program, target, opt=opt, helpers=helpers, impls=impls, context=context,
                                 features=features, harden=harden)
    return image_from_object(lib.emit_object(), program, target, lifted, table)


def emit_text(program, target, what: str, **kwargs) -> str:
    """The optimised LLVM IR (``what="llvm"``) or the target assembly (``"asm"``) for ``program``."""
    lib, _, _ = library(program, target, **kwargs)
    return lib.llvm_ir if what == "llvm" else lib.emit_assembly()
