"""Reading the object LLVM emitted back into an Image with the core's relocation records."""

from __future__ import annotations

import io

from elftools.elf.constants import SH_FLAGS
from elftools.elf.elffile import ELFFile

from ..back.codegen import map_symbol
from ..back.target import Image, Reloc
from ..errors import Unsupported


def image_from_object(data: bytes, program, target, lifted, table) -> Image:
    """``data`` is the ET_REL object of ``lifted`` (one program, helpers from ``table``); returns its Image."""
    elf = ELFFile(io.BytesIO(data))
    text_index = None
    for index, sec in enumerate(elf.iter_sections()):
        if not sec["sh_flags"] & SH_FLAGS.SHF_ALLOC or not sec["sh_size"]:
            continue
        if sec.name != ".text":
            raise Unsupported(f"LLVM placed {sec['sh_size']} bytes in section {sec.name} for {target.name}; "
                              f"the LLVM tier makes code-only images", file=program.file, section=program.section)
        text_index = index
    code = elf.get_section(text_index).data() if text_index is not None else b""
    symtab = elf.get_section_by_name(".symtab")
    funcs = {}
    for sym in symtab.iter_symbols():
        if sym["st_info"]["type"] == "STT_FUNC" and sym["st_shndx"] == text_index:
            funcs[sym.name] = sym["st_value"]
    reloc_types = target.reloc_types()
    helper_syms = {e.symbol for e in table.entries.values() if e.symbol}
    relocs = []
    rela = elf.get_section_by_name(".rela.text")
    for r in rela.iter_relocations() if rela is not None else ():
        name = symtab.get_symbol(r["r_info_sym"]).name
        rtype = r["r_info_type"]
        if name in lifted.globals:
            symbol, kind = lifted.globals[name]
        elif name in helper_syms:
            symbol, kind = name, "helper"
        else:
            raise Unsupported(f"LLVM code for {target.name} refers to {name or 'a local section'!r} (relocation "
                              f"type {rtype}), which is neither a helper nor a map", file=program.file,
                              section=program.section)
        if rtype not in reloc_types:
            raise Unsupported(f"LLVM emitted relocation type {rtype} against {name!r}, which target {target.name} "
                              f"does not declare (bpfx_reloc_types)", file=program.file, section=program.section)
        relocs.append(Reloc(r["r_offset"], rtype, symbol, r["r_addend"], kind))
    names = {name: start for start, name in lifted.functions.items()}
    # no per-instruction line map through LLVM: each function's code maps to its first BPF instruction
    line_map = tuple(sorted((off, names.get(name, 0)) for name, off in funcs.items()))
    data = {map_symbol(m.name): m.initial for m in program.maps if m.initial is not None}
    return Image(target=target.name, code=code, relocs=tuple(sorted(relocs, key=lambda r: r.offset)),
                 symbols=funcs, entry=lifted.entry, line_map=line_map, stack_size=0, frame_offset=0,
                 reloc_types=dict(reloc_types), prog_type=program.prog_type, data=data,
                 e_machine=target.info.e_machine)
