"""A small ELF64 relocatable-object writer, for the object layouts clang no longer emits (legacy maps sections,
programs without function symbols, EM_NONE) and for SEC names without writing C."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB, SHT_REL = 1, 2, 3, 9
STT_NOTYPE, STT_OBJECT, STT_FUNC, STT_SECTION = 0, 1, 2, 3
STB_LOCAL, STB_GLOBAL = 0, 1
CODE, DATA = 0x6, 0x3  # SHF_ALLOC|SHF_EXECINSTR, SHF_WRITE|SHF_ALLOC
R_BPF_64_64, R_BPF_64_32 = 1, 10


@dataclass
class Sym:
    name: str
    section: str | None  # None: undefined
    value: int = 0
    size: int = 0
    type: int = STT_FUNC
    bind: int = STB_GLOBAL


@dataclass
class Obj:
    sections: list[tuple[str, int, bytes]] = field(default_factory=list)  # (name, flags, data)
    symbols: list[Sym] = field(default_factory=list)
    relocs: dict[str, list[tuple[int, str, int]]] = field(default_factory=dict)  # section -> (off, sym, type)
    machine: int = 247

    def code(self, name: str, insns: list) -> Obj:
        from bpfx.front.isa import encode

        self.sections.append((name, CODE, encode(insns)))
        return self

    def data(self, name: str, data: bytes) -> Obj:
        self.sections.append((name, DATA, data))
        return self

    def sym(self, *args, **kwargs) -> Obj:
        self.symbols.append(Sym(*args, **kwargs))
        return self

    def rel(self, section: str, offset: int, symbol: str, rtype: int = R_BPF_64_64) -> Obj:
        self.relocs.setdefault(section, []).append((offset, symbol, rtype))
        return self

    def build(self) -> bytes:
        names = [""] + [s[0] for s in self.sections]
        rel_secs = [(f".rel{name}", name) for name in self.relocs]
        names += [r[0] for r in rel_secs] + [".symtab", ".strtab", ".shstrtab"]
        index = {n: i for i, n in enumerate(names)}
        shstr = _strtab(names)
        # symbols: a section symbol per section, then the given ones (locals first)
        syms = [Sym("", None, type=STT_NOTYPE, bind=STB_LOCAL)]
        syms += [Sym("", s[0], type=STT_SECTION, bind=STB_LOCAL) for s in self.sections]
        given = sorted(self.symbols, key=lambda s: s.bind != STB_LOCAL)
        syms += given
        first_global = next((i for i, s in enumerate(syms) if s.bind != STB_LOCAL), len(syms))
        strtab = _strtab([s.name for s in syms])
        sym_index = {s.name: i for i, s in enumerate(syms) if s.name}
        for i, s in enumerate(syms):
            if s.type == STT_SECTION:
                sym_index.setdefault(s.section, i)
        symdata = b"".join(struct.pack("<IBBHQQ", strtab[1][s.name] if s.name else 0, (s.bind << 4) | s.type, 0,
                                       index[s.section] if s.section else 0, s.value, s.size) for s in syms)
        bodies = [b""] + [s[2] for s in self.sections]
        heads = [(0, 0, 0, 0, 0, 0)] + [(SHT_PROGBITS, flags, 0, 0, 8, 0) for _n, flags, _d in self.sections]
        symtab_idx = index[".symtab"]
        for _rname, target in rel_secs:
            bodies.append(b"".join(struct.pack("<QQ", off, (sym_index[sym] << 32) | rtype)
                                   for off, sym, rtype in self.relocs[target]))
            heads.append((SHT_REL, 0, symtab_idx, index[target], 8, 16))
        bodies += [symdata, strtab[0], shstr[0]]
        heads += [(SHT_SYMTAB, 0, index[".strtab"], first_global, 8, 24), (SHT_STRTAB, 0, 0, 0, 1, 0),
                  (SHT_STRTAB, 0, 0, 0, 1, 0)]
        out = bytearray(64)
        offsets = []
        for body in bodies:
            out += bytes(-len(out) % 8)
            offsets.append(len(out))
            out += body
        out += bytes(-len(out) % 8)
        shoff = len(out)
        for i, (body, (stype, flags, link, info, align, entsize)) in enumerate(zip(bodies, heads)):
            out += struct.pack("<IIQQQQIIQQ", shstr[1][names[i]] if i else 0, stype, flags, 0,
                               offsets[i] if i else 0, len(body), link, info, align, entsize)
        out[:64] = (b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
                    + struct.pack("<HHIQQQIHHHHHH", 1, self.machine, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(bodies),
                                  index[".shstrtab"]))
        return bytes(out)

    def write(self, path) -> str:
        with open(path, "wb") as f:
            f.write(self.build())
        return str(path)


def _strtab(names: list[str]) -> tuple[bytes, dict[str, int]]:
    data, where = bytearray(b"\0"), {"": 0}
    for n in names:
        if n and n not in where:
            where[n] = len(data)
            data += n.encode() + b"\0"
    return bytes(data), where
