"""Loading clang-built BPF ELF objects (``clang -O2 -g -target bpf -c``) with pyelftools.

Each global function in an executable section (other than ``.text``) becomes
a Program; the ``.text`` functions it calls are appended to it with their
calls resolved; map references become LD_IMM64 with ``Pseudo.MAP_FD`` (or
``MAP_VALUE`` for global data) and an index into ``Program.maps``.
"""

from __future__ import annotations

import io
import struct

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import BpfxError, ValidationError
from .isa import INSN_SIZE, LD_IMM64, CallKind, Insn, Pseudo, decode
from .program import MapDef, MapType, Object, Program
from .progtypes import prog_type_for_section

EM_BPF = 247
R_BPF_64_64 = 1
R_BPF_64_ABS64 = 2
R_BPF_64_ABS32 = 3
R_BPF_64_32 = 10
DATA_PREFIXES = (".rodata", ".data", ".bss")
SHF_EXECINSTR = 0x4


class _Fail(Exception):
    pass


def load_elf(path: str, data: bytes | None = None) -> Object:
    if data is None:
        with open(path, "rb") as f:
            data = f.read()
    try:
        return _Loader(path, data).load()
    except BpfxError:
        raise
    except (ELFError, struct.error, ValueError, IndexError, KeyError, AttributeError, TypeError,
            UnicodeDecodeError, AssertionError) as exc:
        raise ValidationError(f"malformed ELF object ({type(exc).__name__}: {exc})", file=path) from None


class _Func:
    def __init__(self, name: str, section: str, start: int, end: int):
        self.name, self.section, self.start, self.end = name, section, start, end


class _Loader:
    def __init__(self, path: str, data: bytes):
        self.path = path
        self.elf = ELFFile(io.BytesIO(data))

    def fail(self, message: str, section: str | None = None, insn: int | None = None):
        return ValidationError(message, file=self.path, section=section, insn=insn)

    def load(self) -> Object:
        elf = self.elf
        if elf.elfclass != 64 or not elf.little_endian:
            raise self.fail("not a 64-bit little-endian ELF object")
        if elf["e_machine"] != "EM_BPF" and elf.header["e_machine"] != EM_BPF:
            raise self.fail(f"wrong e_machine {elf['e_machine']} (expected EM_BPF, 247)")
        self.sections = list(elf.iter_sections())
        symtab = elf.get_section_by_name(".symtab")
        if symtab is None:
            raise self.fail("no symbol table")
        self.symbols = list(symtab.iter_symbols())
        self.code: dict[str, list[Insn]] = {}
        for sec in self.sections:
            if sec["sh_flags"] & SHF_EXECINSTR and sec["sh_type"] == "SHT_PROGBITS":
                body = sec.data()
                if len(body) % INSN_SIZE:
                    raise self.fail(f"section size {len(body)} is not a multiple of 8", sec.name)
                self.code[sec.name] = decode(body)
        self.relocs = self._relocations()
        self.maps, self.map_index = self._maps()
        self.funcs = self._functions()
        license_sec = elf.get_section_by_name("license")
        license = license_sec.data().split(b"\0")[0].decode("latin-1") if license_sec else ""
        programs = []
        for fn in self.funcs:
            if fn.section == ".text" or not self._is_global(fn):
                continue
            ptype = prog_type_for_section(fn.section)
            if ptype is None:
                raise self.fail(f"unknown program section {fn.section!r}: no program type uses it", fn.section)
            programs.append(self._link(fn, ptype.name, license))
        if not programs:
            raise self.fail("no programs (no global function in a program section)")
        return Object(self.path, programs, list(self.maps), license)

    def _is_global(self, fn: _Func) -> bool:
        return self._global.get((fn.section, fn.start), False)

    # -- sections and symbols ---------------------------------------------------------------------------------------
    def _functions(self) -> list[_Func]:
        funcs = []
        self._global: dict[tuple[str, int], bool] = {}
        for sym in self.symbols:
            if sym["st_info"]["type"] != "STT_FUNC" or sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS"):
                continue
            sec = self.sections[sym["st_shndx"]]
            if sec.name not in self.code:
                continue
            start = sym["st_value"] // INSN_SIZE
            size = sym["st_size"] // INSN_SIZE or len(self.code[sec.name]) - start
            funcs.append(_Func(sym.name, sec.name, start, start + size))
            self._global[(sec.name, start)] = sym["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")
        funcs.sort(key=lambda f: (f.section, f.start))
        return funcs

    def _relocations(self) -> dict[str, dict[int, tuple[int, object]]]:
        """Code section -> {insn index: (type, symbol)}."""
        out: dict[str, dict[int, tuple[int, object]]] = {}
        for sec in self.sections:
            if sec["sh_type"] != "SHT_REL":
                continue
            target = self.sections[sec["sh_info"]]
            if target.name not in self.code:
                continue
            table = out.setdefault(target.name, {})
            for rel in sec.iter_relocations():
                offset, rtype = rel["r_offset"], rel["r_info_type"]
                index = offset // INSN_SIZE
                if offset % INSN_SIZE or index >= len(self.code[target.name]):
                    raise self.fail(f"relocation at offset {offset} is outside the code", target.name)
                if rtype not in (R_BPF_64_64, R_BPF_64_32, R_BPF_64_ABS64, R_BPF_64_ABS32):
                    raise self.fail(f"unknown relocation type {rtype}", target.name, index)
                if rel["r_info_sym"] >= len(self.symbols):
                    raise self.fail(f"relocation against unknown symbol {rel['r_info_sym']}", target.name, index)
                table[index] = (rtype, self.symbols[rel["r_info_sym"]])
        return out

    # -- maps -----------------------------------------------------------------------------------------------------
    def _maps(self) -> tuple[list[MapDef], dict[tuple[str, int], int]]:
        maps: list[MapDef] = []
        index: dict[tuple[str, int], int] = {}  # (section, symbol value) -> map index
        btf = self._btf()
        maps_sec = self.elf.get_section_by_name(".maps")
        if maps_sec is not None:
            defs = btf.maps() if btf else {}
            for sym in self.symbols:
                if sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS") or self.sections[sym["st_shndx"]].name != ".maps":
                    continue
                if sym["st_info"]["type"] == "STT_SECTION":
                    continue
                if sym.name not in defs:
                    raise self.fail(f"map {sym.name!r} has no BTF definition", ".maps")
                index[(".maps", sym["st_value"])] = len(maps)
                maps.append(defs[sym.name])
        legacy = self.elf.get_section_by_name("maps")
        if legacy is not None:
            body = legacy.data()
            for sym in self.symbols:
                if sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS") or self.sections[sym["st_shndx"]].name != "maps":
                    continue
                if sym["st_info"]["type"] == "STT_SECTION":
                    continue
                off = sym["st_value"]
                mtype, key, value, entries, flags = struct.unpack_from("<5I", body, off)
                index[("maps", off)] = len(maps)
                maps.append(MapDef(sym.name, mtype, key, value, entries, flags))
        for sec in self.sections:
            if sec.name.startswith(DATA_PREFIXES) and sec["sh_type"] in ("SHT_PROGBITS", "SHT_NOBITS") \
                    and not sec.name.startswith(".rel"):
                size = sec["sh_size"]
                if size == 0:
                    continue
                initial = bytes(size) if sec["sh_type"] == "SHT_NOBITS" else sec.data()
                index[(sec.name, -1)] = len(maps)
                maps.append(MapDef(sec.name, MapType.ARRAY, 4, size, 1, 0, initial))
        return maps, index

    def _btf(self):
        sec = self.elf.get_section_by_name(".BTF")
        return _BTF(sec.data(), self) if sec is not None else None

    # -- linking a program ----------------------------------------------------------------------------------------
    def _func_at(self, section: str, index: int) -> _Func:
        for fn in self.funcs:
            if fn.section == section and fn.start <= index < fn.end:
                return fn
        raise self.fail(f"call to instruction {index}, which is in no function", section)

    def _link(self, entry: _Func, ptype: str, license: str) -> Program:
        """Concatenate the entry function and every function it reaches; resolve calls and map references."""
        order = [entry]
        base: dict[int, int] = {}
        insns: list[Insn] = []
        calls: list[tuple[int, _Func, int]] = []  # (slot, callee, offset into the callee)
        i = 0
        while i < len(order):
            fn = order[i]
            body = self.code[fn.section][fn.start:fn.end]
            relocs = self.relocs.get(fn.section, {})
            base[id(fn)] = len(insns)
            k = 0
            while k < len(body):
                at, insn = fn.start + k, body[k]
                rel = relocs.get(at)
                if insn.opcode == 0x85 and insn.src == CallKind.LOCAL:
                    if rel is not None:
                        sym = rel[1]
                        tsec = self.sections[sym["st_shndx"]].name
                        target = sym["st_value"] // INSN_SIZE + insn.imm + 1
                    else:
                        tsec, target = fn.section, at + 1 + insn.imm
                    callee = self._func_at(tsec, target)
                    if all(callee is not f for f in order):
                        order.append(callee)
                    calls.append((len(insns), callee, target - callee.start))
                elif rel is not None and rel[0] == R_BPF_64_32:
                    raise self.fail("R_BPF_64_32 relocation on an instruction that is not a call", fn.section, at)
                elif rel is not None and rel[0] == R_BPF_64_64:
                    if insn.opcode != LD_IMM64:
                        raise self.fail("R_BPF_64_64 relocation on an instruction that is not lddw", fn.section, at)
                    first, second = self._map_ref(fn, at, insn, body[k + 1] if k + 1 < len(body) else None, rel[1])
                    insns += [first, second]
                    k += 2
                    continue
                insns.append(insn)
                if insn.opcode == LD_IMM64 and k + 1 < len(body):
                    insns.append(body[k + 1])
                    k += 1
                k += 1
            i += 1
        for slot, callee, delta in calls:
            insns[slot] = insns[slot]._replace(imm=base[id(callee)] + delta - slot - 1)
        functions = {base[id(f)]: f.name for f in order}
        return Program(name=entry.name, section=entry.section, prog_type=ptype, insns=insns, file=self.path,
                       functions=functions, maps=list(self.maps), license=license)

    def _map_ref(self, fn: _Func, at: int, insn: Insn, second: Insn | None, sym) -> tuple[Insn, Insn]:
        if second is None:
            raise self.fail("lddw is missing its second slot", fn.section, at)
        if sym["st_shndx"] in ("SHN_UNDEF", "SHN_ABS", "SHN_COMMON"):
            raise self.fail(f"reference to undefined symbol {sym.name!r}", fn.section, at)
        sec = self.sections[sym["st_shndx"]].name
        if (sec, sym["st_value"]) in self.map_index:
            return insn._replace(src=Pseudo.MAP_FD, imm=self.map_index[(sec, sym["st_value"])]), second
        if (sec, -1) in self.map_index:
            offset = sym["st_value"] + insn.imm
            return (insn._replace(src=Pseudo.MAP_VALUE, imm=self.map_index[(sec, -1)]),
                    second._replace(imm=offset))
        raise self.fail(f"lddw refers to {sym.name or sec!r} in section {sec!r}, which is not a map or global data",
                        fn.section, at)


class _BTF:
    """Just enough of BTF to read BTF-defined maps (``struct { __uint(type, ...); ... } name SEC(".maps")``)."""

    KIND_SIZE = {1: 4, 3: 12, 6: 8, 13: 8, 14: 4, 15: 12, 17: 4, 19: 12}  # extra bytes: per type, or per member
    PER_MEMBER = {4: 12, 5: 12, 6: 8, 13: 8, 15: 12, 19: 12}

    def __init__(self, data: bytes, loader: _Loader):
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<HBBIIIII",
                                                                                                    data, 0)
        if magic != 0xEB9F:
            raise loader.fail("bad BTF magic", ".BTF")
        self.strings = data[hdr_len + str_off:hdr_len + str_off + str_len]
        self.types: list[tuple] = [None]  # id 0 is void
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        while pos < end:
            name_off, info, size_type = struct.unpack_from("<III", data, pos)
            pos += 12
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            extra: object = None
            if kind in self.PER_MEMBER:
                width = self.PER_MEMBER[kind]
                extra = [struct.unpack_from("<III" if width == 12 else "<II", data, pos + i * width)
                         for i in range(vlen)]
                pos += width * vlen
            elif kind in (1, 14, 17):
                extra = struct.unpack_from("<I", data, pos)[0]
                pos += 4
            elif kind == 3:
                extra = struct.unpack_from("<III", data, pos)
                pos += 12
            self.types.append((kind, self.name(name_off), size_type, extra))

    def name(self, off: int) -> str:
        return self.strings[off:self.strings.index(b"\0", off)].decode()

    def resolve(self, tid: int) -> tuple:
        kind, name, size_type, extra = self.types[tid]
        while kind in (8, 9, 10, 11, 18):  # typedef, volatile, const, restrict, type tag
            tid = size_type
            kind, name, size_type, extra = self.types[tid]
        return self.types[tid]

    def size(self, tid: int) -> int:
        kind, _name, size_type, extra = self.resolve(tid)
        if kind == 2:
            return 8
        if kind == 3:
            return extra[2] * self.size(extra[0])
        return size_type

    def maps(self) -> dict[str, MapDef]:
        out = {}
        for kind, name, _size, extra in self.types[1:]:
            if kind != 15 or name != ".maps":
                continue
            for var_type, _offset, _size in extra:
                vkind, vname, vtype, _ = self.types[var_type]
                fields = {}
                skind, _, _, members = self.resolve(vtype)
                if skind != 4:
                    continue
                for mname_off, mtype, _moff in members:
                    mname = self.name(mname_off)
                    pkind, _, target, _ = self.resolve(mtype)
                    if pkind != 2:
                        continue
                    tkind, _, _, textra = self.resolve(target)
                    if mname in ("key", "value"):
                        fields[mname + "_size"] = self.size(target)
                    elif tkind == 3:
                        fields[mname] = textra[2]
                out[vname] = MapDef(vname, fields.get("type", 0), fields.get("key_size", 0),
                                    fields.get("value_size", 0), fields.get("max_entries", 0),
                                    fields.get("map_flags", 0))
        return out
