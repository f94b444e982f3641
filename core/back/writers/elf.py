"""ELF64 ET_REL output, written with struct: .text, .rela.text, .data/.rodata, .symtab, .strtab.

The entry function is a global STT_FUNC; subprograms are local functions;
helpers (``bpf_<name>``) and maps are undefined globals; global data is
defined in .data (.rodata for read-only sections) under its map symbol.
"""

from __future__ import annotations

import struct
from bisect import bisect_right

from ..target import Image

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_RELA = 1, 2, 3, 4
SHF_WRITE, SHF_ALLOC, SHF_EXECINSTR, SHF_INFO_LINK = 0x1, 0x2, 0x4, 0x40
STB_LOCAL, STB_GLOBAL = 0, 1
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3


class _Strings:
    def __init__(self) -> None:
        self.data = bytearray(b"\0")
        self.index: dict[str, int] = {"": 0}

    def add(self, s: str) -> int:
        if s not in self.index:
            self.index[s] = len(self.data)
            self.data += s.encode() + b"\0"
        return self.index[s]


def write_elf(image: Image, elfclass: int = 64) -> bytes:
    if elfclass != 64:
        raise ValueError("only ELFCLASS64 output is implemented")
    shstr, strtab = _Strings(), _Strings()
    sections: list[dict] = [dict(name="", type=0, flags=0, data=b"", link=0, info=0, align=0, entsize=0)]

    def section(**kw) -> int:
        sections.append(dict(dict(flags=0, link=0, info=0, align=1, entsize=0), **kw))
        return len(sections) - 1

    text = section(name=".text", type=SHT_PROGBITS, flags=SHF_ALLOC | SHF_EXECINSTR, data=image.code, align=4)
    data_secs: dict[str, int] = {}
    data_syms: list[tuple[str, int, int, int]] = []  # (name, section, offset, size)
    for sym, blob in image.data.items():
        name = ".rodata" if sym.startswith("rodata") else ".data"
        if name not in data_secs:
            flags = SHF_ALLOC | (0 if name == ".rodata" else SHF_WRITE)
            data_secs[name] = section(name=name, type=SHT_PROGBITS, flags=flags, data=bytearray(), align=8)
        sec = sections[data_secs[name]]
        off = (len(sec["data"]) + 7) & ~7
        sec["data"] += bytes(off - len(sec["data"])) + blob
        data_syms.append((sym, data_secs[name], off, len(blob)))

    # symbols: null, section symbols, local functions, then globals
    symbols = [(0, 0, 0, 0, 0)]  # (name offset, info, shndx, value, size)
    for idx in [text, *data_secs.values()]:
        symbols.append((0, (STB_LOCAL << 4) | STT_SECTION, idx, 0, 0))
    bounds = sorted(image.symbols.values()) + [len(image.code)]

    def size_of(off: int) -> int:  # bisect: 100,000 functions must not take quadratic time
        return bounds[bisect_right(bounds, off)] - off if off < len(image.code) else 0

    for name, off in sorted(image.symbols.items(), key=lambda kv: kv[1]):
        if name != image.entry:
            symbols.append((strtab.add(name), (STB_LOCAL << 4) | STT_FUNC, text, off, size_of(off)))
    first_global = len(symbols)
    index: dict[str, int] = {}
    entry_off = image.symbols[image.entry]
    index[image.entry] = len(symbols)
    symbols.append((strtab.add(image.entry), (STB_GLOBAL << 4) | STT_FUNC, text, entry_off, size_of(entry_off)))
    for name, sec, off, size in data_syms:
        index[name] = len(symbols)
        symbols.append((strtab.add(name), (STB_GLOBAL << 4) | STT_OBJECT, sec, off, size))
    for r in image.relocs:
        if r.symbol not in index:
            index[r.symbol] = len(symbols)
            symbols.append((strtab.add(r.symbol), (STB_GLOBAL << 4) | STT_NOTYPE, 0, 0, 0))
    symtab_data = b"".join(struct.pack("<IBBHQQ", n, info, 0, shndx, value, size)
                           for n, info, shndx, value, size in symbols)
    rela = b"".join(struct.pack("<QQq", r.offset, (index[r.symbol] << 32) | r.type, r.addend) for r in image.relocs)
    symtab = section(name=".symtab", type=SHT_SYMTAB, data=symtab_data, align=8, entsize=24, info=first_global)
    strtab_idx = section(name=".strtab", type=SHT_STRTAB, data=bytes(strtab.data))
    sections[symtab]["link"] = strtab_idx
    if image.relocs:
        section(name=".rela.text", type=SHT_RELA, flags=SHF_INFO_LINK, data=rela, link=symtab, info=text, align=8,
                entsize=24)
    section(name=".note.GNU-stack", type=SHT_PROGBITS, data=b"")
    shstrndx = section(name=".shstrtab", type=SHT_STRTAB, data=b"")
    for sec in sections:
        sec["name_off"] = shstr.add(sec["name"])
    sections[shstrndx]["data"] = bytes(shstr.data)

    out = bytearray(64)
    for sec in sections[1:]:
        align = max(sec["align"], 1)
        out += bytes(-len(out) % align)
        sec["offset"] = len(out)
        out += sec["data"]
    out += bytes(-len(out) % 8)
    shoff = len(out)
    sections[0]["offset"] = 0
    for sec in sections:
        out += struct.pack("<IIQQQQIIQQ", sec.get("name_off", 0), sec["type"], sec["flags"], 0, sec["offset"],
                           len(sec["data"]), sec["link"], sec["info"], sec["align"], sec["entsize"])
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # ELFCLASS64, little-endian, version 1, SysV
    out[:64] = ident + struct.pack("<HHIQQQIHHHHHH", 1, image.e_machine, 1, 0, 0, shoff, 0, 64, 0, 0, 64,
                                   len(sections), shstrndx)
    return bytes(out)
