"""Loading BPF ELF objects as libbpf (and iproute2, and older libbpf) do.

Programs: every function symbol in an executable section other than ``.text`` is a program (global or static,
several per section); a section without function symbols (old clang, hand-built objects) is one program named
after its global label or, failing that, after the section. ``.text`` functions are subprograms, appended to
each program that calls them or takes their address (BPF_PSEUDO_FUNC callbacks for bpf_loop and friends).

Maps: BTF-defined (``.maps``), legacy ``maps``/``maps/*`` sections of ``struct bpf_map_def`` or iproute2's
``struct bpf_elf_map`` (any record size of at least 20 bytes: the first five u32 mean the same in both),
global data (``.rodata``, ``.data``, ``.bss`` and their ``.name`` variants) as one-entry arrays, and
``.kconfig`` externs as one more read-only array. Map references become LD_IMM64 with ``Pseudo.MAP_FD`` (or
``MAP_VALUE``) and an index into ``Program.maps``; ``__ksym`` externs become plain 64-bit constants.

Big-endian objects (``clang -target bpfeb``) are decoded into the same instructions as their little-endian
twin; ``Program.endian`` records the byte order so that running them on a little-endian target is refused.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import zlib

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from ..errors import BpfxError, LinkError, ValidationError
from ..fileio import MAX_INPUT, read_input
from . import btf as B
from .isa import INSN_SIZE, LD_IMM64, CallKind, Insn, Pseudo, s32
from .program import MapDef, MapType, Object, Program
from .progtypes import UNSPEC, infer_types, prog_type_for_section

EM_NONE, EM_BPF = 0, 247
R_BPF_NONE, R_BPF_64_64, R_BPF_64_ABS64, R_BPF_64_ABS32, R_BPF_64_NODYLD32, R_BPF_64_32 = 0, 1, 2, 3, 4, 10
DATA_PREFIXES = (".rodata", ".data", ".bss")
SHF_EXECINSTR = 0x4
MIN_MAP_DEF = 20  # five u32: type, key_size, value_size, max_entries, flags
_ID_KEY = re.compile(r"(\d+|0x[0-9a-fA-F]+)/(\d+|0x[0-9a-fA-F]+)")  # iproute2's SEC("ID/KEY") tail-call slots
_INNER_IDX = 5  # bpf_map_def.inner_map_idx (u32 index 5); bpf_elf_map keeps its inner_idx at u32 index 8


class _Fail(Exception):
    pass


def load_elf(path: str, data: bytes | None = None, *, externs: dict[str, int] | None = None,
             btf=None, prog_type: str | None = None) -> Object:
    """Load a BPF ELF object.

    :param externs: values of ``__kconfig`` externs and addresses of ``__ksym`` externs, by name.
    :param btf: the target's BTF (bytes, a path, or a parsed ``BTF``) that CO-RE relocations are applied to.
    :param prog_type: program type for every program (lets any executable section load).
    """
    if data is None:
        data = read_input(path)
    try:
        return _Loader(path, data, externs or {}, btf, prog_type).load()
    except BpfxError:
        raise
    except (ELFError, struct.error, ValueError, IndexError, KeyError, AttributeError, TypeError,
            UnicodeDecodeError, AssertionError, RecursionError, OverflowError, MemoryError, ArithmeticError,
            LookupError, zlib.error) as exc:
        # the parser's boundary: whatever pyelftools or a walk over malformed tables raises is bad input
        raise ValidationError(f"malformed ELF object ({type(exc).__name__}: {str(exc)[:200]})", file=path) from None


class _Func:
    __slots__ = ("name", "section", "start", "end", "is_global")

    def __init__(self, name: str, section: str, start: int, end: int, is_global: bool = True):
        self.name, self.section, self.start, self.end, self.is_global = name, section, start, end, is_global


_STT = {0: "STT_NOTYPE", 1: "STT_OBJECT", 2: "STT_FUNC", 3: "STT_SECTION", 4: "STT_FILE", 5: "STT_COMMON",
        6: "STT_TLS"}
_STB = {0: "STB_LOCAL", 1: "STB_GLOBAL", 2: "STB_WEAK"}


class _Sym:
    """An ELF symbol, read the way pyelftools presents one (``sym["st_value"]``, ``sym["st_info"]["type"]``)."""

    __slots__ = ("name", "_fields")

    def __init__(self, strtab: bytes, name_off: int, info: int, _other: int, shndx: int, value: int, size: int):
        end = strtab.find(b"\0", name_off)
        self.name = strtab[name_off:end if end >= 0 else len(strtab)].decode("utf-8", "replace")
        self._fields = {"st_value": value, "st_size": size, "st_shndx": shndx,
                        "st_info": {"type": _STT.get(info & 0xF, f"STT_{info & 0xF}"),
                                    "bind": _STB.get(info >> 4, f"STB_{info >> 4}")}}

    def __getitem__(self, key: str):
        return self._fields[key]


def decode_be(body: bytes) -> list[Insn]:
    """Big-endian BPF (``-target bpfeb``): dst is the high nibble of the register byte, off and imm are
    big-endian; the result is the same Insn a little-endian object holds."""
    return [Insn(op, regs >> 4, regs & 0xF, off, imm) for op, regs, off, imm in struct.iter_unpack(">BBhi", body)]


def _decode_le(body: bytes) -> list[Insn]:
    return [Insn(op, regs & 0xF, regs >> 4, off, imm) for op, regs, off, imm in struct.iter_unpack("<BBhi", body)]


class _Loader:
    def __init__(self, path: str, data: bytes, externs: dict[str, int], btf, prog_type: str | None):
        self.path = path
        self.elf = ELFFile(io.BytesIO(data))
        self._check_sizes(len(data))
        self.externs = externs
        self.target_btf = btf
        self.prog_type = prog_type

    def _check_sizes(self, size: int) -> None:
        """Every section's declared extent must lie in the file (NOBITS: at most MAX_INPUT bytes), checked
        before anything reads or allocates it."""
        elf = self.elf
        if elf["e_shnum"] > size // max(elf["e_shentsize"], 1):
            raise self.fail(f"malformed ELF object: {elf['e_shnum']} section headers do not fit in a file of "
                            f"{size} bytes")
        for i in range(elf.num_sections()):
            h = elf._get_section_header(i)
            if h["sh_type"] == "SHT_NOBITS":
                if h["sh_size"] > MAX_INPUT:
                    raise self.fail(f"malformed ELF object: section {i} declares {h['sh_size']} bytes "
                                    f"(limit {MAX_INPUT})")
            elif h["sh_type"] != "SHT_NULL" and h["sh_offset"] + h["sh_size"] > size:
                raise self.fail(f"malformed ELF object: section {i} ({h['sh_offset']} + {h['sh_size']} bytes) "
                                f"runs past the end of the file ({size} bytes)")

    def fail(self, message: str, section: str | None = None, insn: int | None = None, cls=ValidationError):
        return cls(message, file=self.path, section=section, insn=insn)

    def load(self) -> Object:
        elf = self.elf
        if elf.elfclass != 64:
            raise self.fail("not a 64-bit ELF object")
        self.endian = "little" if elf.little_endian else "big"
        self.e = "<" if elf.little_endian else ">"
        machine = elf.header["e_machine"]
        if machine not in ("EM_BPF", EM_BPF, "EM_NONE", EM_NONE):
            raise self.fail(f"wrong e_machine {machine} (expected EM_BPF, 247)")
        self.sections = list(elf.iter_sections())
        symtab = elf.get_section_by_name(".symtab")
        self.symbols = self._symbols(symtab) if symtab is not None else []
        self.code: dict[str, list[Insn]] = {}
        decode = _decode_le if self.e == "<" else decode_be
        for sec in self.sections:
            if sec["sh_flags"] & SHF_EXECINSTR and sec["sh_type"] == "SHT_PROGBITS" and sec["sh_size"]:
                body = sec.data()
                if len(body) % INSN_SIZE:
                    raise self.fail(f"section size {len(body)} is not a multiple of 8", sec.name)
                self.code[sec.name] = decode(body)
        self.relocs = self._relocations()
        self.btf = self._btf()
        self.ext_funcs, self.ext_lines, core = {}, {}, {}
        ext = elf.get_section_by_name(".BTF.ext")
        if ext is not None and self.btf is not None:
            self.ext_funcs, self.ext_lines, core = B.parse_ext(ext.data(), self.btf, endian=self.e, file=self.path)
        self._apply_core(core)
        self.maps, self.map_index = self._maps()
        self.funcs = self._functions()
        license_sec = elf.get_section_by_name("license")
        license = license_sec.data().split(b"\0")[0].decode("latin-1") if license_sec else ""
        version_sec = elf.get_section_by_name("version")
        version = None
        if version_sec is not None and version_sec["sh_size"] >= 4:
            version = struct.unpack_from(self.e + "I", version_sec.data())[0]
        self._static_initialisers()
        self.missing_externs: list[str] = []
        programs = []
        for fn in self._entries():
            ptype = self.prog_type or self._type_for(fn.section)
            programs.append(self._link(fn, ptype, license))
        if self.missing_externs:
            names = ", ".join(sorted(set(self.missing_externs)))
            raise self.fail(f"unresolved extern(s) {names}: pass their values (externs={{name: value}}, "
                            "--extern NAME=VALUE)", cls=LinkError)
        if not programs:
            raise self.fail("no programs (no executable section other than .text)")
        if self.prog_type is None:
            infer_types(programs, members=self._tail_slots(programs))
        return Object(self.path, programs, list(self.maps), license, version=version, endian=self.endian)

    def _tail_slots(self, programs: list[Program]) -> dict[int, int]:
        """iproute2's ``SEC("ID/KEY")``: the program goes into slot KEY of the prog array whose ``bpf_elf_map.id``
        is ID (cilium's ``2/1``). Program index -> map index, where exactly one prog array has that id."""
        out = {}
        for k, prog in enumerate(programs):
            m = _ID_KEY.match(prog.section)
            if not m:
                continue
            ident = int(m.group(1), 0)
            arrays = [i for i, mid in self.legacy_ids.items()
                      if mid == ident and self.maps[i].type == MapType.PROG_ARRAY]
            if len(arrays) == 1:
                out[k] = arrays[0]
        return out

    def _type_for(self, section: str) -> str:
        ptype = prog_type_for_section(section)
        return ptype.name if ptype is not None else UNSPEC

    # -- sections and symbols ---------------------------------------------------------------------------------
    def _symbols(self, symtab) -> list[_Sym]:
        """The symbol table, read in bulk (pyelftools' per-symbol parsing dominates loading big objects)."""
        link = symtab["sh_link"]
        strtab = self.sections[link].data() if 0 < link < len(self.sections) else b""
        body = symtab.data()
        body = body[:len(body) - len(body) % 24]
        return [_Sym(strtab, *entry) for entry in struct.iter_unpack(self.e + "IBBHQQ", body)]

    def _sec_name(self, sym) -> str | None:
        shndx = sym["st_shndx"]
        if not isinstance(shndx, int) or not 0 < shndx < len(self.sections):
            return None
        return self.sections[shndx].name

    def _functions(self) -> list[_Func]:
        """Function symbols of every code section, each ending where the next begins (or at st_size)."""
        by_section: dict[str, dict[int, tuple[str, int, bool]]] = {}
        for sym in self.symbols:
            if sym["st_info"]["type"] != "STT_FUNC":
                continue
            sec = self._sec_name(sym)
            if sec not in self.code:
                continue
            start = sym["st_value"] // INSN_SIZE
            is_global = sym["st_info"]["bind"] in ("STB_GLOBAL", "STB_WEAK")
            by_section.setdefault(sec, {}).setdefault(start, (sym.name, sym["st_size"] // INSN_SIZE, is_global))
        funcs = []
        for sec, starts in by_section.items():
            ordered = sorted(starts)
            n = len(self.code[sec])
            for k, start in enumerate(ordered):
                name, size, is_global = starts[start]
                nxt = ordered[k + 1] if k + 1 < len(ordered) else n
                end = min(start + size, nxt) if size else nxt
                if not 0 <= start < end <= n:
                    raise self.fail(f"function {name!r} [{start}, {end}) is outside its section", sec)
                funcs.append(_Func(name, sec, start, end, is_global))
        funcs.sort(key=lambda f: (f.section, f.start))
        return funcs

    def _entries(self) -> list[_Func]:
        """The programs: function symbols of program sections; a legacy section without any is one program."""
        called = self._call_targets()
        out = []
        for sec, insns in self.code.items():
            if sec == ".text":
                continue
            funcs = [f for f in self.funcs if f.section == sec]
            if funcs:
                entries = [f for f in funcs if f.is_global] or [f for f in funcs if (sec, f.start) not in called]
                out += entries or funcs[:1]
                continue
            labels = sorted({s["st_value"] // INSN_SIZE: s.name for s in self.symbols
                             if self._sec_name(s) == sec and s["st_info"]["bind"] == "STB_GLOBAL"
                             and s["st_info"]["type"] in ("STT_NOTYPE", "STT_FUNC") and s.name}.items())
            if not labels or labels[0][0] != 0:
                labels.insert(0, (0, sec))
            for k, (start, name) in enumerate(labels):
                end = labels[k + 1][0] if k + 1 < len(labels) else len(insns)
                fn = _Func(name, sec, start, end)
                self.funcs.append(fn)
                out.append(fn)
        if not out:  # as libbpf: when .text is the only code, its global functions are the programs
            out = [f for f in self.funcs if f.section == ".text" and f.is_global]
        return out

    def _call_targets(self) -> set[tuple[str, int]]:
        out = set()
        for sec, insns in self.code.items():
            relocs = self.relocs.get(sec, {})
            for at, insn in enumerate(insns):
                if insn.opcode == 0x85 and insn.src == CallKind.LOCAL and at not in relocs:
                    out.add((sec, at + 1 + insn.imm))
        return out

    def _relocations(self) -> dict[str, dict[int, tuple[int, object]]]:
        """Code section -> {insn index: (type, symbol)}; ``.maps``/``maps`` -> {byte offset: ...} too."""
        out: dict[str, dict[int, tuple[int, object]]] = {}
        for sec in self.sections:
            if sec["sh_type"] not in ("SHT_REL", "SHT_RELA"):
                continue
            if not 0 <= sec["sh_info"] < len(self.sections):
                raise self.fail(f"relocation section {sec.name} names section {sec['sh_info']}")
            target = self.sections[sec["sh_info"]]
            is_code = target.name in self.code
            if not is_code and not (target.name == ".maps" or target.name.startswith("maps")):
                continue
            table = out.setdefault(target.name, {})
            fmt = self.e + ("QQq" if sec["sh_type"] == "SHT_RELA" else "QQ")
            body = sec.data()
            body = body[:len(body) - len(body) % struct.calcsize(fmt)]
            for offset, info, *_addend in struct.iter_unpack(fmt, body):
                rtype, symbol = info & 0xFFFFFFFF, info >> 32
                if symbol >= len(self.symbols):
                    raise self.fail(f"relocation against unknown symbol {symbol}", target.name)
                sym = self.symbols[symbol]
                if not is_code:
                    table[offset] = (rtype, sym)
                    continue
                index = offset // INSN_SIZE
                if offset % INSN_SIZE or index >= len(self.code[target.name]):
                    raise self.fail(f"relocation at offset {offset} is outside the code", target.name)
                if rtype == R_BPF_NONE:
                    # old LLVM (EM_NONE objects such as ovs' datapath) wrote type 0 for map references and calls;
                    # libbpf goes by the instruction, not the type, and so do we
                    insn = self.code[target.name][index]
                    rtype = R_BPF_64_64 if insn.opcode == LD_IMM64 else R_BPF_64_32 if insn.opcode == 0x85 else None
                if rtype in (None, R_BPF_64_NODYLD32):
                    continue
                if rtype not in (R_BPF_64_64, R_BPF_64_32, R_BPF_64_ABS64, R_BPF_64_ABS32):
                    raise self.fail(f"unknown relocation type {rtype}", target.name, index)
                table[index] = (rtype, sym)
        return out

    def _btf(self) -> B.BTF | None:
        sec = self.elf.get_section_by_name(".BTF")
        return B.BTF(sec.data(), endian=self.e, file=self.path) if sec is not None else None

    # -- CO-RE ------------------------------------------------------------------------------------------------
    def _apply_core(self, relos: dict[str, list[B.CoreRelo]]) -> None:
        if not any(relos.values()):
            return
        target = self.target_btf
        if target is not None and not isinstance(target, B.BTF):
            name = target if isinstance(target, str) else "<btf>"
            raw = target
            if isinstance(target, str):
                try:
                    with open(target, "rb") as f:
                        raw = f.read()
                except OSError as exc:
                    raise BpfxError(f"cannot read BTF: {exc.strerror}", file=target) from None
            if raw[:4] == b"\x7fELF":  # an ELF file (vmlinux, a module, an object): its .BTF section
                sec = ELFFile(io.BytesIO(raw)).get_section_by_name(".BTF")
                if sec is None:
                    raise ValidationError("no .BTF section", file=name)
                raw = sec.data()
            target = B.BTF(raw, file=name)
        for sec, items in relos.items():
            code = self.code.get(sec)
            if code is None:
                continue
            for relo in items:
                if not 0 <= relo.insn < len(code):
                    raise self.fail(f"CO-RE relocation at instruction {relo.insn} is outside the code", sec)
                try:
                    value = _uapi_core(relo, self.btf) if target is None else None
                    if value is None:
                        value = B.core_value(relo, self.btf, target, where=self.path)
                except BpfxError as err:
                    raise err.at(section=sec, insn=relo.insn) from None
                insn = code[relo.insn]
                op_class = insn.opcode & 7
                if not -(1 << 31) <= value < (1 << 32) or (op_class in (1, 2, 3) and not -0x8000 <= value < 0x8000):
                    raise self.fail(f"CO-RE relocation value {value} does not fit the instruction", sec, relo.insn)
                if op_class in (1, 2, 3) and insn.opcode != LD_IMM64:  # LDX, ST, STX: the offset moves
                    code[relo.insn] = insn._replace(off=value)
                elif insn.opcode == LD_IMM64:
                    code[relo.insn] = insn._replace(imm=s32(value & 0xFFFFFFFF))
                else:
                    code[relo.insn] = insn._replace(imm=value)

    # -- maps -------------------------------------------------------------------------------------------------
    def _maps(self) -> tuple[list[MapDef], dict[tuple[str, int], int]]:
        maps: list[MapDef] = []
        index: dict[tuple[str, int], int] = {}  # (section, offset of the definition) -> map index
        self.btf_maps: dict[str, tuple[int, dict]] = {}  # name -> (index, fields) for static initialisers
        self.legacy_ids: dict[int, int] = {}  # map index -> the u32 after map_flags in a legacy definition
        maps_sec = self.elf.get_section_by_name(".maps")
        if maps_sec is not None:
            if self.btf is None:
                raise self.fail("a .maps section needs BTF (build with -g)", ".maps")
            sizes = {name: (tid, off) for name, tid, off, _size in self.btf.datasec(".maps")}
            for sym in self.symbols:
                if self._sec_name(sym) != ".maps" or sym["st_info"]["type"] in ("STT_SECTION", "STT_FILE"):
                    continue
                if sym.name not in sizes:
                    raise self.fail(f"map {sym.name!r} has no BTF definition", ".maps")
                tid, _off = sizes[sym.name]
                mapdef, fields = self._btf_map(sym.name, tid)
                index[(".maps", sym["st_value"])] = len(maps)
                self.btf_maps[sym.name] = (len(maps), fields, sym["st_value"])
                maps.append(mapdef)
        for sec in self.sections:
            if sec.name == "maps" or sec.name.startswith("maps/"):
                self._legacy_maps(sec, maps, index)
        for sec in self.sections:
            if sec.name.startswith(DATA_PREFIXES) and sec["sh_type"] in ("SHT_PROGBITS", "SHT_NOBITS"):
                size = sec["sh_size"]
                if size == 0:
                    continue
                initial = bytes(size) if sec["sh_type"] == "SHT_NOBITS" else sec.data()
                index[(sec.name, -1)] = len(maps)
                maps.append(MapDef(sec.name, MapType.ARRAY, 4, size, 1, 0, initial))
        self.kconfig = self._kconfig(maps, index)
        return maps, index

    def _btf_map(self, name: str, tid: int) -> tuple[MapDef, dict]:
        fields = self.btf.map_fields(tid)
        inner = None
        values = fields.get("values")
        if values is not None and values[1] is not None and fields.get("type") in (MapType.ARRAY_OF_MAPS,
                                                                                   MapType.HASH_OF_MAPS):
            inner, _ = self._btf_map(f"{name}.inner", values[1])
        mtype = int(fields.get("type", 0))
        value_size = int(fields.get("value_size", 0))
        if not value_size and mtype in (MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
            value_size = 4  # as libbpf: the values are program or map fds
        return MapDef(name, mtype, int(fields.get("key_size", 0)), value_size, int(fields.get("max_entries", 0)),
                      int(fields.get("map_flags", 0)), inner=inner), fields

    def _legacy_maps(self, sec, maps: list[MapDef], index: dict) -> None:
        body = sec.data()
        syms = sorted((s["st_value"], s.name) for s in self.symbols
                      if self._sec_name(s) == sec.name and s["st_info"]["type"] not in ("STT_SECTION", "STT_FILE"))
        if not syms and body:  # no map symbols: one definition for the whole section (iproute2's maps/NAME)
            syms = [(0, sec.name.split("/", 1)[1] if "/" in sec.name else sec.name)]
        if not syms:
            return
        if len(syms) > 1:
            gaps = {b[0] - a[0] for a, b in zip(syms, syms[1:])}
            size = min(gaps)
        else:
            size = len(body) - syms[0][0]
        if size < MIN_MAP_DEF or any((off - syms[0][0]) % size for off, _ in syms):
            raise self.fail(f"map definitions of {size} bytes (need at least {MIN_MAP_DEF}, evenly spaced)",
                            sec.name)
        first = len(maps)
        raw: list[tuple[int, ...]] = []
        for off, name in syms:
            words = struct.unpack_from(self.e + "I" * (min(size, len(body) - off) // 4), body, off)
            mtype, key, value, entries, flags = words[:5]
            raw.append(words)
            index[(sec.name, off)] = len(maps)
            if len(words) > 5:  # bpf_elf_map.id (iproute2, cilium); bpf_map_def has inner_map_idx there
                self.legacy_ids[len(maps)] = words[5]
            maps.append(MapDef(name, mtype, key, value, entries, flags))
        # map-in-map: bpf_map_def.inner_map_idx (or bpf_elf_map.inner_idx) names the inner map's template
        for k, words in enumerate(raw):
            mdef = maps[first + k]
            if mdef.type not in (MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
                continue
            idx = words[8] if size >= 36 else (words[_INNER_IDX] if len(words) > _INNER_IDX else 0)
            if idx < len(raw):
                maps[first + k] = _replace(mdef, inner=maps[first + idx])

    def _kconfig(self, maps: list[MapDef], index: dict) -> dict[str, tuple[int, int]]:
        """``.kconfig`` externs: one read-only array holding the values the caller supplied."""
        if self.btf is None:
            return {}
        variables = self.btf.datasec(".kconfig")
        if not variables:
            return {}
        out = {}
        size = 0
        for name, tid, _off, _sz in variables:  # as libbpf: the object leaves the layout to the loader
            sz = max(self.btf.size(tid), 1)
            align = min(sz, 8)
            size = (size + align - 1) // align * align
            out[name] = (size, sz)
            size += sz
        data = bytearray(size)
        for name, (off, sz) in out.items():
            if name in self.externs:
                value = int(self.externs[name]) & ((1 << (8 * sz)) - 1)
                data[off:off + sz] = value.to_bytes(sz, "little" if self.e == "<" else "big")
        index[(".kconfig", -1)] = len(maps)
        maps.append(MapDef(".kconfig", MapType.ARRAY, 4, size, 1, 0, bytes(data)))
        return out

    def _static_initialisers(self) -> None:
        """PROG_ARRAY and map-in-map ``.values = { [i] = &prog_or_map }``: relocations in .maps."""
        relocs = self.relocs.get(".maps", {})
        if not relocs:
            return
        spans = sorted((start, name) for name, (_i, _f, start) in self.btf_maps.items())
        updates: dict[str, list[tuple[int, str]]] = {}
        for offset, (_rtype, sym) in sorted(relocs.items()):
            owner = None
            for start, name in spans:
                if start <= offset:
                    owner = (start, name)
            if owner is None:
                continue
            start, name = owner
            _i, fields, _s = self.btf_maps[name]
            values = fields.get("values")
            if values is None:
                raise self.fail(f"map {name!r} has an initialiser but no values member", ".maps")
            slot = (offset - start - values[0]) // 8
            updates.setdefault(name, []).append((slot, sym.name))
        for name, items in updates.items():
            i = self.btf_maps[name][0]
            self.maps[i] = _replace(self.maps[i], values=tuple(items))

    # -- linking a program ------------------------------------------------------------------------------------
    def _func_at(self, section: str, index: int) -> _Func:
        for fn in self.funcs:
            if fn.section == section and fn.start <= index < fn.end:
                return fn
        if section in self.code and 0 <= index < len(self.code[section]):
            # no symbol covers it (stripped or old objects): a function from here to the next known start
            starts = [f.start for f in self.funcs if f.section == section and f.start > index]
            fn = _Func(f"{section.lstrip('.')}_{index}", section, index, min(starts, default=len(
                self.code[section])), False)
            self.funcs.append(fn)
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
                        tsec = self._sec_name(sym)
                        if tsec is None:
                            if self.btf is not None and any(v[0] == sym.name for v in self.btf.datasec(".ksyms")):
                                raise self.fail(f"call to kfunc {sym.name!r}: kernel functions are not supported",
                                                fn.section, at, LinkError)
                            raise self.fail(f"call to undefined function {sym.name!r}", fn.section, at, LinkError)
                        target = sym["st_value"] // INSN_SIZE + insn.imm + 1
                    else:
                        tsec, target = fn.section, at + 1 + insn.imm
                    callee = self._func_at(tsec, target)
                    if all(callee is not f for f in order):
                        order.append(callee)
                    calls.append((len(insns), callee, target - callee.start))
                elif insn.opcode == 0x85 and insn.src == CallKind.KFUNC and rel is not None:
                    raise self.fail(f"kfunc call to {rel[1].name!r} is not supported", fn.section, at, LinkError)
                elif rel is not None and rel[0] == R_BPF_64_32:
                    raise self.fail("R_BPF_64_32 relocation on an instruction that is not a call", fn.section, at)
                elif rel is not None and rel[0] == R_BPF_64_64:
                    if insn.opcode != LD_IMM64:
                        raise self.fail("R_BPF_64_64 relocation on an instruction that is not lddw", fn.section, at)
                    if k + 1 >= len(body):
                        raise self.fail("lddw is missing its second slot", fn.section, at)
                    sym, second = rel[1], body[k + 1]
                    tsec = self._sec_name(sym)
                    if tsec in self.code:  # address of a function: BPF_PSEUDO_FUNC
                        off = sym["st_value"] + (insn.imm if sym["st_info"]["type"] == "STT_SECTION" else 0)
                        callee = self._func_at(tsec, off // INSN_SIZE)
                        if all(callee is not f for f in order):
                            order.append(callee)
                        calls.append((len(insns), callee, off // INSN_SIZE - callee.start))
                        insns += [insn._replace(src=Pseudo.FUNC), second]
                    else:
                        insns += self._map_ref(fn, at, insn, second, sym)
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
        lines = []
        for f in order:
            for li in self.ext_lines.get(f.section, ()):
                if f.start <= li.insn < f.end:
                    lines.append((base[id(f)] + li.insn - f.start, _line_text(li)))
        lines.sort()
        return Program(name=entry.name, section=entry.section, prog_type=ptype, insns=insns, file=self.path,
                       functions=functions, maps=list(self.maps), license=license, lines=lines, endian=self.endian)

    def _map_ref(self, fn: _Func, at: int, insn: Insn, second: Insn, sym) -> list[Insn]:
        sec = self._sec_name(sym)
        if sec is None:
            return self._extern(fn, at, insn, second, sym)
        is_section = sym["st_info"]["type"] == "STT_SECTION"
        value = sym["st_value"] + (insn.imm if is_section else 0)
        if (sec, value) in self.map_index:
            return [insn._replace(src=Pseudo.MAP_FD, imm=self.map_index[(sec, value)]), second]
        if (sec, -1) in self.map_index:
            offset = sym["st_value"] + insn.imm
            size = self.maps[self.map_index[(sec, -1)]].value_size
            if not 0 <= offset <= size:
                raise self.fail(f"lddw refers to offset {offset} of {sec} ({size} bytes)", fn.section, at)
            return [insn._replace(src=Pseudo.MAP_VALUE, imm=self.map_index[(sec, -1)]), second._replace(imm=offset)]
        raise self.fail(f"lddw refers to {sym.name or sec!r} in section {sec!r}, which is not a map or global data",
                        fn.section, at)

    def _extern(self, fn: _Func, at: int, insn: Insn, second: Insn, sym) -> list[Insn]:
        name = sym.name
        if name in self.kconfig:
            if name not in self.externs:
                self.missing_externs.append(name)
            off = self.kconfig[name][0] + insn.imm
            return [insn._replace(src=Pseudo.MAP_VALUE, imm=self.map_index[(".kconfig", -1)]),
                    second._replace(imm=off)]
        if name not in self.externs:  # __ksym (or any other extern): its address
            self.missing_externs.append(name)
            return [insn, second]
        value = (int(self.externs[name]) + insn.imm) & ((1 << 64) - 1)
        lo, hi = value & 0xFFFFFFFF, value >> 32
        return [insn._replace(src=Pseudo.IMM64, imm=lo - (1 << 32) if lo >> 31 else lo),
                second._replace(imm=hi - (1 << 32) if hi >> 31 else hi)]


def _uapi_core(relo: B.CoreRelo, btf: B.BTF) -> int | None:
    """Without a target BTF, relocations against a UAPI context struct (``struct bpf_sock_ops``, ...) resolve
    against the object's own definition: those layouts are kernel ABI (fields are only ever appended)."""
    from .progtypes import program_types

    _, t = btf.resolve(relo.type_id)
    if not t.name or not any(p.ctx_struct == t.name for p in program_types().values()):
        return None
    return B.core_value(relo, btf, btf, where=None)


def _replace(mapdef: MapDef, **changes) -> MapDef:
    import dataclasses

    return dataclasses.replace(mapdef, **changes)


_SPACE = re.compile(r"\s+")


@functools.lru_cache(maxsize=65536)
def _line_text(li: B.LineInfo) -> str:
    where = li.file.rsplit("/", 1)[-1]
    return f"{where}:{li.line}: {_SPACE.sub(' ', li.source)}" if li.source else f"{where}:{li.line}"
