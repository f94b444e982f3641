"""BTF and .BTF.ext: types (for map definitions, externs and CO-RE), func/line info, CO-RE relocation records.

Every kind of the UAPI (linux/btf.h) parses; lookups that follow type references guard against cycles, so a
malformed or hostile BTF gives a ValidationError, never a hang or a TypeError.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import LinkError, ValidationError

# BTF kinds (linux/btf.h)
INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT = range(1, 12)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)
_MODIFIERS = frozenset({TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG})
# extra bytes after the 12-byte common header: fixed, or per member (vlen)
_FIXED = {INT: 4, ARRAY: 12, VAR: 4, DECL_TAG: 4}
_PER_MEMBER = {STRUCT: 12, UNION: 12, ENUM: 8, FUNC_PROTO: 8, DATASEC: 12, ENUM64: 12}
_MAX_DEPTH = 64  # type chains longer than this are cycles (the kernel's limit is 32 modifiers)

# CO-RE relocation kinds (libbpf's enum bpf_core_relo_kind)
CORE_KINDS = ("field_byte_offset", "field_byte_size", "field_exists", "field_signed", "field_lshift_u64",
              "field_rshift_u64", "type_id_local", "type_id_target", "type_exists", "type_size",
              "enumval_exists", "enumval_value", "type_matches")


@dataclass(frozen=True)
class BtfType:
    kind: int
    name: str
    size_type: int  # size (int, struct, union, enum, datasec, float) or referenced type id
    info_flag: bool
    vlen: int
    extra: object  # int | tuple | list of member tuples, per kind


class LineInfo(NamedTuple):  # a tuple: objects carry one per source line, and building them is most of parse_ext
    insn: int  # instruction index within its section
    file: str
    source: str
    line: int
    col: int


@dataclass(frozen=True)
class CoreRelo:
    insn: int  # instruction index within its section
    type_id: int
    access: str  # "0:1:2" for fields, enumerator index for enums
    kind: int


class BTF:
    def __init__(self, data: bytes, *, endian: str = "<", file: str | None = None):
        self.file = file
        self.e = endian
        if len(data) < 24:
            raise self._bad("truncated header")
        magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(
            endian + "HBBIIIII", data, 0)
        if magic != 0xEB9F:
            raise self._bad("bad magic")
        self.strings = bytes(data[hdr_len + str_off:hdr_len + str_off + str_len])
        self._names: dict[int, str] = {}
        self.types: list[BtfType] = [BtfType(0, "", 0, False, 0, None)]  # id 0 is void
        pos, end = hdr_len + type_off, hdr_len + type_off + type_len
        if end > len(data):
            raise self._bad("type section runs past the end")
        e = endian
        while pos < end:
            name_off, info, size_type = struct.unpack_from(e + "III", data, pos)
            pos += 12
            kind, vlen, flag = (info >> 24) & 0x1F, info & 0xFFFF, bool(info >> 31)
            extra: object = None
            if kind in _PER_MEMBER:
                width = _PER_MEMBER[kind]
                fmt = e + ("III" if width == 12 else "II")
                if kind == ENUM:
                    fmt = e + "Ii"
                extra = [struct.unpack_from(fmt, data, pos + i * width) for i in range(vlen)]
                pos += width * vlen
            elif kind in _FIXED:
                width = _FIXED[kind]
                extra = struct.unpack_from(e + "I" * (width // 4), data, pos)
                extra = extra[0] if width == 4 else extra
                pos += width
            elif kind == 0 or kind > ENUM64:
                raise self._bad(f"unknown kind {kind} for type {len(self.types)}")
            self.types.append(BtfType(kind, self.name(name_off), size_type, flag, vlen, extra))

    def _bad(self, why: str) -> ValidationError:
        return ValidationError(f"malformed BTF: {why}", file=self.file, section=".BTF")

    def name(self, off: int) -> str:
        cached = self._names.get(off)
        if cached is None:
            end = self.strings.find(b"\0", off)
            cached = self._names[off] = self.strings[off:end if end >= 0 else len(self.strings)].decode(
                "utf-8", "replace")
        return cached

    def type(self, tid: int) -> BtfType:
        if not 0 <= tid < len(self.types):
            raise self._bad(f"reference to type {tid}, which does not exist")
        return self.types[tid]

    def resolve(self, tid: int) -> tuple[int, BtfType]:
        """Skip typedefs and qualifiers: (id, type)."""
        for _ in range(_MAX_DEPTH):
            t = self.type(tid)
            if t.kind not in _MODIFIERS:
                return tid, t
            tid = t.size_type
        raise self._bad(f"type {tid} is part of a reference cycle")

    def size(self, tid: int, depth: int = 0) -> int:
        if depth > _MAX_DEPTH:
            raise self._bad(f"type {tid} is part of a reference cycle")
        tid, t = self.resolve(tid)
        if t.kind == PTR:
            return 8
        if t.kind == ARRAY:
            elem, _index, nelems = t.extra
            return nelems * self.size(elem, depth + 1)
        if t.kind in (INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT):
            return t.size_type
        if t.kind == VAR:
            return self.size(t.size_type, depth + 1)
        return 0

    def members(self, tid: int) -> list[tuple[str, int, int, int]]:
        """(name, type id, bit offset, bitfield size) of a struct or union."""
        _, t = self.resolve(tid)
        if t.kind not in (STRUCT, UNION):
            return []
        out = []
        for name_off, mtype, off in t.extra:
            if t.info_flag:  # kind_flag: offset is bitfield size << 24 | bit offset
                out.append((self.name(name_off), mtype, off & 0xFFFFFF, off >> 24))
            else:
                out.append((self.name(name_off), mtype, off, 0))
        return out

    def find(self, name: str, kinds=None) -> int | None:
        for tid, t in enumerate(self.types):
            if t.name == name and (kinds is None or t.kind in kinds):
                return tid
        return None

    def datasec(self, name: str) -> list[tuple[str, int, int, int]]:
        """(variable name, var type id, offset, size) of the variables in DATASEC ``name``."""
        out = []
        for t in self.types:
            if t.kind == DATASEC and t.name == name:
                for var, off, size in t.extra:
                    vt = self.type(var)
                    out.append((vt.name, vt.size_type if vt.kind == VAR else var, off, size))
        return out

    def struct_layout(self, tid: int) -> dict[str, tuple[int, int, bool]]:
        """Flattened fields of a struct: name -> (byte offset, size, is_pointer); arrays of scalars become
        name0, name1, ... (cb[5] -> cb0..cb4) and anonymous unions/structs are inlined."""
        out: dict[str, tuple[int, int, bool]] = {}

        def walk(tid: int, base: int, depth: int) -> None:
            if depth > 8:
                return
            for name, mtype, bitoff, bitsize in self.members(tid):
                off = base + bitoff // 8
                _, mt = self.resolve(mtype)
                if bitsize:
                    continue
                if not name and mt.kind in (STRUCT, UNION):
                    walk(mtype, off, depth + 1)
                elif mt.kind == ARRAY:
                    elem, _i, count = mt.extra
                    esize = self.size(elem)
                    for k in range(count):
                        out[f"{name}{k}"] = (off + k * esize, esize, False)
                elif mt.kind == UNION and name:  # __bpf_md_ptr: a pointer widened to 8 bytes
                    inner = self.members(mtype)
                    is_ptr = any(self.resolve(m[1])[1].kind == PTR for m in inner)
                    out[name] = (off, self.size(mtype), is_ptr)
                else:
                    out[name] = (off, self.size(mtype), mt.kind == PTR)

        walk(tid, 0, 0)
        return out

    # -- maps ------------------------------------------------------------------------------------------------
    def map_fields(self, var_type: int) -> dict[str, object]:
        """The ``__uint``/``__type``/``__array`` members of a BTF-defined map: name -> int, or
        key_size/value_size, and ``values`` -> (byte offset in the struct, inner map type id or None)."""
        fields: dict[str, object] = {}
        for mname, mtype, bitoff, _ in self.members(var_type):
            _, mt = self.resolve(mtype)
            if mt.kind == PTR:
                _, target = self.resolve(mt.size_type)
                if mname in ("key", "value"):
                    fields[mname + "_size"] = self.size(mt.size_type)
                elif target.kind == ARRAY:
                    fields[mname] = target.extra[2]
            elif mt.kind == ARRAY and mname == "values":  # __array(values, struct inner / prog proto)
                elem = mt.extra[0]
                _, pt = self.resolve(elem)
                inner = self.resolve(pt.size_type)[0] if pt.kind == PTR else None
                fields["values"] = (bitoff // 8, inner)
            elif mname in ("key_size", "value_size") and mt.kind == PTR:
                pass
        return fields


def parse_ext(data: bytes, btf: BTF, *, endian: str = "<", file: str | None = None):
    """.BTF.ext -> ({section: {insn: func type id}}, {section: [LineInfo]}, {section: [CoreRelo]})."""
    e = endian

    def bad(why):
        return ValidationError(f"malformed .BTF.ext: {why}", file=file, section=".BTF.ext")

    if len(data) < 24:
        raise bad("truncated header")
    magic, _v, _f, hdr_len = struct.unpack_from(e + "HBBI", data, 0)
    if magic != 0xEB9F:
        raise bad("bad magic")
    func_off, func_len, line_off, line_len = struct.unpack_from(e + "IIII", data, 8)
    core_off = core_len = 0
    if hdr_len >= 32:
        core_off, core_len = struct.unpack_from(e + "II", data, 24)

    def record_blocks(off: int, length: int, min_size: int):
        """(section, its records as one block, record size): what struct.iter_unpack walks."""
        if not length:
            return
        pos = hdr_len + off
        end = pos + length
        rec_size = struct.unpack_from(e + "I", data, pos)[0]
        if rec_size < min_size:
            raise bad(f"record size {rec_size} is smaller than {min_size}")
        pos += 4
        while pos < end:
            sec_off, count = struct.unpack_from(e + "II", data, pos)
            pos += 8
            block = data[pos:pos + count * rec_size]
            if len(block) < count * rec_size:
                raise struct.error(f"{count} records of {rec_size} bytes run past the end of .BTF.ext")
            yield btf.name(sec_off), block, rec_size
            pos += count * rec_size

    def rows(off: int, length: int, fields: str):
        """(section, the leading u32 fields of each record)."""
        for sec, block, rec_size in record_blocks(off, length, 4 * len(fields)):
            pad = rec_size - 4 * len(fields)
            for row in struct.iter_unpack(e + fields + (f"{pad}x" if pad else ""), block):
                yield sec, row

    funcs: dict[str, dict[int, int]] = {}
    for sec, (off, tid) in rows(func_off, func_len, "II"):
        funcs.setdefault(sec, {})[off // 8] = tid
    lines: dict[str, list[LineInfo]] = {}
    name, text = btf.name, {}  # source lines repeat (inlined code): strip each once
    for sec, (off, file_off, line_off_, col) in rows(line_off, line_len, "IIII"):
        src = text.get(line_off_)
        if src is None:
            src = text[line_off_] = name(line_off_).strip()
        lines.setdefault(sec, []).append(LineInfo(off // 8, name(file_off), src, col >> 10, col & 0x3FF))
    relos: dict[str, list[CoreRelo]] = {}
    for sec, (off, tid, access_off, kind) in rows(core_off, core_len, "IIII"):
        relos.setdefault(sec, []).append(CoreRelo(off // 8, tid, btf.name(access_off), kind))
    return funcs, lines, relos


def _essential(name: str) -> str:
    """libbpf's "essential name": ``task_struct___v510`` and ``task_struct`` are the same type."""
    i = name.find("___")
    return name[:i] if i > 0 else name


def core_value(relo: CoreRelo, local: BTF, target: BTF | None, *, where: str) -> int:
    """The value a CO-RE relocation takes against ``target`` (the device's or kernel's BTF)."""
    kind = CORE_KINDS[relo.kind] if relo.kind < len(CORE_KINDS) else f"kind {relo.kind}"
    _, lt = local.resolve(relo.type_id)
    spec = [int(x) for x in relo.access.split(":") if x != ""] if relo.access else [0]
    # the local access path, as names: what the error names and what the target is searched for
    path: list[str] = []
    tid = relo.type_id
    if kind.startswith("field"):
        for idx in spec[1:]:
            _, t = local.resolve(tid)
            if t.kind in (STRUCT, UNION):
                mems = local.members(tid)
                if idx >= len(mems):
                    raise ValidationError(f"CO-RE access {relo.access} is out of range of {lt.name}", file=where)
                path.append(mems[idx][0])
                tid = mems[idx][1]
            elif t.kind == ARRAY:
                path.append(f"[{idx}]")
                tid = t.extra[0]
    what = f"{_kind_name(lt)} {lt.name}" + "".join(("" if p.startswith("[") else ".") + p for p in path if p)
    if target is local and kind.startswith("field"):  # same definitions: follow the indices
        return _local_field(relo, local, spec, kind, what, where)
    if target is None:
        raise LinkError(f"CO-RE relocation ({kind}) against {what} needs the target's BTF (btf=..., --btf FILE)",
                        file=where)
    ttid = target.find(_essential(lt.name), (lt.kind,)) if lt.name else None
    if kind in ("type_exists", "type_matches"):
        return int(ttid is not None)
    if ttid is None:
        if kind == "field_exists":
            return 0
        raise LinkError(f"CO-RE relocation ({kind}): {_kind_name(lt)} {lt.name} is not in the target BTF",
                        file=where)
    if kind == "type_size":
        return target.size(ttid)
    if kind in ("type_id_local", "type_id_target"):
        return relo.type_id if kind == "type_id_local" else ttid
    if kind in ("enumval_exists", "enumval_value"):
        name = local.name(lt.extra[spec[0]][0])
        for nm, val, *hi in target.resolve(ttid)[1].extra:
            if target.name(nm) == name:
                return 1 if kind == "enumval_exists" else (val if not hi else val | (hi[0] << 32))
        if kind == "enumval_exists":
            return 0
        raise LinkError(f"CO-RE relocation: enumerator {lt.name}::{name} is not in the target BTF", file=where)
    # fields: walk the same names through the target type
    bit = spec[0] * 8 * target.size(ttid)
    cur = ttid
    size = target.size(cur)
    for step in path:
        _, t = target.resolve(cur)
        if step.startswith("["):
            elem = t.extra[0] if t.kind == ARRAY else None
            if elem is None:
                raise LinkError(f"CO-RE relocation ({kind}): {what} is not an array in the target BTF", file=where)
            bit += int(step[1:-1]) * 8 * target.size(elem)
            cur = elem
            size = target.size(elem)
            continue
        match = _find_member(target, cur, step)
        if match is None:
            if kind == "field_exists":
                return 0
            raise LinkError(f"CO-RE relocation ({kind}): field {what} is not in the target BTF", file=where)
        off, mtype = match
        bit += off
        cur = mtype
        size = target.size(mtype)
    if kind == "field_exists":
        return 1
    if kind == "field_byte_offset":
        return bit // 8
    if kind == "field_byte_size":
        return size
    if kind == "field_signed":
        _, t = target.resolve(cur)
        return int(t.kind == INT and bool((t.extra >> 24) & 1) or t.kind == ENUM)
    raise LinkError(f"CO-RE relocation kind {kind} against {what} is not supported", file=where)


def _local_field(relo: CoreRelo, btf: BTF, spec: list[int], kind: str, what: str, where) -> int:
    tid = relo.type_id
    bit = spec[0] * 8 * btf.size(tid)
    size = btf.size(tid)
    for idx in spec[1:]:
        _, t = btf.resolve(tid)
        if t.kind in (STRUCT, UNION):
            _name, tid, off, _bits = btf.members(tid)[idx]
            bit += off
        elif t.kind == ARRAY:
            tid = t.extra[0]
            bit += idx * 8 * btf.size(tid)
        size = btf.size(tid)
    if kind == "field_exists":
        return 1
    if kind == "field_byte_offset":
        return bit // 8
    if kind == "field_byte_size":
        return size
    raise LinkError(f"CO-RE relocation kind {kind} against {what} is not supported", file=where)


def _find_member(btf: BTF, tid: int, name: str, depth: int = 0):
    """(bit offset, type id) of member ``name``, looking into anonymous members too."""
    if depth > 8:
        return None
    for mname, mtype, bitoff, _bits in btf.members(tid):
        if mname == name:
            return bitoff, mtype
        if not mname:
            inner = _find_member(btf, mtype, name, depth + 1)
            if inner is not None:
                return bitoff + inner[0], inner[1]
    return None


def _kind_name(t: BtfType) -> str:
    return {STRUCT: "struct", UNION: "union", ENUM: "enum", ENUM64: "enum"}.get(t.kind, "type")
