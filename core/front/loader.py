"""Loading any input: BPF ELF objects, assembly text, raw instructions."""

from __future__ import annotations

import os

from ..errors import ValidationError
from ..fileio import read_input
from .program import Object, Program

ELF_MAGIC = b"\x7fELF"


def load(path: str, *, prog_type: str | None = None, validate: bool = True, helpers=(),
         externs: dict[str, int] | None = None, btf=None) -> Object:
    """Load ``path`` (ELF object, .s assembly or raw .bin), validated unless ``validate`` is False
    (``helpers``: ids allowed beyond the program type's, see ``validate``).

    ``prog_type`` applies to every program (and lets any executable section load); ``externs`` gives
    ``__kconfig`` values and ``__ksym`` addresses by name; ``btf`` is the target BTF for CO-RE relocations."""
    if prog_type is not None:
        from ..errors import UsageError
        from .progtypes import program_types

        if prog_type not in program_types():
            raise UsageError(f"unknown program type {prog_type!r} (known: {', '.join(program_types())})")
    data = read_input(path)
    if data[:4] == ELF_MAGIC:
        from .elf import load_elf

        obj = load_elf(path, data, externs=externs, btf=btf, prog_type=prog_type)
    else:
        name = os.path.splitext(os.path.basename(path))[0]
        if path.endswith((".s", ".asm")):
            from .asm import assemble

            try:
                text = data.decode()
            except UnicodeDecodeError:
                raise ValidationError("assembly file is not text", file=path) from None
            insns = assemble(text, file=path)
        else:
            if len(data) % 8:
                raise ValidationError(f"raw program of {len(data)} bytes is not a whole number of 8-byte "
                                      "instructions", file=path)
            from .isa import LazyInsns

            insns = LazyInsns(data)
        prog = Program(name=name, section=name, prog_type=prog_type or "mem", insns=insns, file=path)
        obj = Object(path, [prog])
    if validate:
        from .validate import validate as check

        for prog in obj.programs:
            check(prog, helpers=helpers)
    return obj
