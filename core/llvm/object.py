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
    line_map = _line_map(elf)
    reloc_types = target.reloc_types()
    helper_syms = {e.symbol for e in table.entries.values() if e.symbol}
    relocs = []
    rela = elf.get_section_by_name(".rela.text")
    entries = list(rela.iter_relocations()) if rela is not None else []
    at = {r["r_offset"]: r for r in entries}
    for r in entries:
        sym = symtab.get_symbol(r["r_info_sym"])
        name, rtype, addend = sym.name, r["r_info_type"], r["r_addend"]
        if sym["st_shndx"] == text_index and sym["st_info"]["type"] != "STT_FUNC" and sym["st_value"] in at:
            # A low part that names the label of its high-part partner (RISC-V %pcrel_lo): the record takes the
            # partner's symbol, with an addend moved by the distance between the two instructions, so a loader
            # applies it as any pc-relative relocation: lo12(S + A - P) with P the low part's own address.
            partner = at[sym["st_value"]]
            name = symtab.get_symbol(partner["r_info_sym"]).name
            addend = partner["r_addend"] + (r["r_offset"] - sym["st_value"])
        if name in lifted.globals:
            symbol, kind = lifted.globals[name]
        elif name in helper_syms:
            symbol, kind = name, "helper"
        else:  # e.g. a runtime-library call (__atomic_*, __udivdi3) for what the target cannot do inline
            raise Unsupported(f"LLVM code for {target.name} calls or refers to {name or 'a local section'!r} "
                              f"(relocation type {rtype}), which is neither a helper nor a map: the target cannot "
                              f"do this instruction inline", file=program.file, section=program.section,
                              insn=_owner(line_map, r["r_offset"]))
        if rtype not in reloc_types:
            raise Unsupported(f"LLVM emitted relocation type {rtype} against {name!r}, which target {target.name} "
                              f"does not declare (bpfx_reloc_types)", file=program.file, section=program.section)
        relocs.append(Reloc(r["r_offset"], rtype, symbol, addend, kind))
    line_map = line_map or tuple(sorted((off, next((s for s, n in lifted.functions.items() if n == name), 0))
                                              for name, off in funcs.items()))
    data = {map_symbol(m.name): m.initial for m in program.maps if m.initial is not None}
    return Image(target=target.name, code=code, relocs=tuple(sorted(relocs, key=lambda r: r.offset)),
                 symbols=funcs, entry=lifted.entry, line_map=line_map, stack_size=_frame_bytes(elf), frame_offset=0,
                 reloc_types=dict(reloc_types), prog_type=program.prog_type, data=data,
                 e_machine=target.info.e_machine)


def _line_map(elf) -> tuple[tuple[int, int], ...]:
    """(native offset, BPF index) from the object's DWARF line table (the lifter's line is BPF index + 1; line 0,
    code no instruction owns, is -1 as for prologues). Empty when the object has none or it cannot be read."""
    if not elf.has_dwarf_info():
        return ()
    try:
        rows = _line_rows(elf.get_dwarf_info(), None)
    except Exception:  # noqa: BLE001 - pyelftools cannot relocate every target's DWARF (RISC-V): do it here
        try:
            rows = _line_rows(elf.get_dwarf_info(relocate_dwarf_sections=False), _set_address_bases(elf))
        except Exception:  # noqa: BLE001 - a line map is a convenience; never fail a compile over it
            return ()
    out: list[tuple[int, int]] = []
    for address in sorted(rows):
        if not out or out[-1][1] != rows[address]:
            out.append((address, rows[address]))
    return tuple(out)


def _set_address_bases(elf) -> list[int]:
    """S + A of each relocation in .debug_line, in order: in a relocatable object these are exactly the
    DW_LNE_set_address operands that start each function's sequence."""
    rela = elf.get_section_by_name(".rela.debug_line")
    if rela is None:
        return []
    symtab = elf.get_section(rela["sh_link"])
    return [symtab.get_symbol(r["r_info_sym"])["st_value"] + r["r_addend"]
            for r in sorted(rela.iter_relocations(), key=lambda r: r["r_offset"])]


def _line_rows(dwarf, bases: list[int] | None) -> dict[int, int]:
    from elftools.dwarf.constants import DW_LNE_set_address

    rows: dict[int, int] = {}
    base, k = 0, 0
    for cu in dwarf.iter_CUs():
        for entry in dwarf.line_program_for_CU(cu).get_entries():
            if bases is not None and entry.command == DW_LNE_set_address:
                # the operand is unrelocated (RELA keeps S + A outside the section); with no relocation of its
                # own it is a plain offset from the previous one's base
                if k < len(bases):
                    base, k = bases[k] - entry.args[0], k + 1
            state = entry.state
            if state is not None and not state.end_sequence:
                rows[base + state.address] = state.line - 1
    return rows


def _owner(line_map, offset: int) -> int | None:
    """The BPF instruction the native code at ``offset`` belongs to, if the line map knows."""
    owner = None
    for off, idx in line_map:
        if off > offset:
            break
        owner = idx if idx >= 0 else None
    return owner


def _frame_bytes(elf) -> int:
    """Native stack the program needs at most: the sum over its functions of the largest CFA offset in each one's
    call-frame information (an upper bound: no call chain has a function twice). 0 when there is none."""
    try:
        dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
        if not dwarf.has_CFI():
            return 0
        total = 0
        for entry in dwarf.CFI_entries():
            if type(entry).__name__ == "FDE":
                rows = entry.get_decoded().table
                total += max((row["cfa"].offset or 0 for row in rows if "cfa" in row), default=0)
        return total
    except Exception:  # noqa: BLE001 - a frame size is a convenience; never fail a compile over it
        return 0
