"""C output: the code as an array, its entry points and a relocation table a driver can apply."""

from __future__ import annotations

import re

from ..target import Image


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", name)


def write_c(image: Image) -> str:
    name = _ident(image.entry)
    lines = [f"/* bpfx: {image.target} code for {image.entry} ({len(image.code)} bytes). */",
             "#include <stddef.h>", "#include <stdint.h>", "",
             "#ifndef BPFX_RELOC_DEFINED", "#define BPFX_RELOC_DEFINED",
             "struct bpfx_reloc { uint32_t offset; uint32_t type; const char *symbol; int64_t addend; };",
             "#endif", "", f"const unsigned char {name}_code[{max(len(image.code), 1)}] = {{"]
    code = image.code or b"\0"
    for i in range(0, len(code), 12):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in code[i:i + 12]) + ",")
    lines += ["};", f"const size_t {name}_code_len = {len(image.code)};"]
    for sym, off in image.symbols.items():
        lines.append(f"const size_t {name}_{_ident(sym)}_offset = {off};" if sym != image.entry
                     else f"const size_t {name}_entry_offset = {off};")
    relocs = image.relocs
    lines.append(f"const struct bpfx_reloc {name}_relocs[{max(len(relocs), 1)}] = {{")
    for r in relocs:
        type_name = image.reloc_types[r.type].name if r.type in image.reloc_types else ""
        lines.append(f'    {{{r.offset}, {r.type}, "{r.symbol}", {r.addend}}}, /* {type_name} {r.kind} */')
    if not relocs:
        lines.append("    {0, 0, 0, 0}, /* none */")
    lines += ["};", f"const size_t {name}_relocs_len = {len(relocs)};", ""]
    return "\n".join(lines)
