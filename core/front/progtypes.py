"""Typed views of specs/: program types and helper prototypes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import bpfx_specs

from ..errors import ValidationError


UNSPEC = "unspec"  # the program type of a section no SEC name matches: loads, but needs --prog-type to run


@dataclass(frozen=True)
class HelperProto:
    id: int
    name: str  # UAPI name without the bpf_ prefix
    args: tuple[str, ...]
    ret: str
    ctx: str = ""  # the context struct the helper takes, if it takes one (limits it to those program types)

    @property
    def symbol(self) -> str:
        """The symbol native code calls: ``bpf_<name>``."""
        return f"bpf_{self.name}"


@dataclass(frozen=True)
class DeviceField:
    uapi_off: int
    off: int
    size: int
    kind: str  # "ptr" or "u32"/"u64"


@dataclass(frozen=True)
class ProgType:
    name: str
    sections: tuple[str, ...]
    ctx_struct: str
    ctx_size: int
    packet: bool
    helper_ids: frozenset[int]
    return_codes: dict[int, str]
    ctx_fields: dict[str, tuple[int, int]]  # UAPI name -> (offset, size)
    device_struct: str
    device_ctx_size: int
    device_ctx: dict[str, DeviceField]  # UAPI name -> default device field
    helper_overrides: dict[int, str]  # id -> helper name, where this type redefines an id
    writable: frozenset[str] = frozenset()  # ctx fields a program may store to
    writable_all: bool = False  # the whole context is the program's (syscall, tracepoint buffers)
    pointers: frozenset[str] = frozenset()  # ctx fields that hold pointers
    #: the values of r0's low 32 bits the type defines at exit ([lo, hi]; None: any), and what the kernel does
    #: with another (return_other: the code it acts on instead; None: its verifier rejects the program)
    return_range: tuple[int, int] | None = None
    return_other: int | None = None

    def helper(self, helper_id: int) -> HelperProto | None:
        """The prototype of a helper this program type may call, or None."""
        if helper_id not in self.helper_ids:
            return None
        if helper_id in self.helper_overrides:
            return HelperProto(helper_id, self.helper_overrides[helper_id], ("int",), "int")
        return helpers().get(helper_id)

    def return_name(self, r0: int) -> str | None:
        return self.return_codes.get(r0)

    def check_stores(self, program, accesses) -> None:
        """Refuse stores to context fields this type may not write and loads of part of a pointer field (the
        kernel's ``*_is_valid_access``; a native target cannot place such a load, the interpreter would read it)."""
        for pc, acc in sorted(accesses.items()):
            if acc.is_store:
                continue
            for name in self.pointers:
                off, size = self.ctx_fields.get(name, (-1, 0))
                if off <= acc.offset < off + size and (acc.offset, acc.size) != (off, size):
                    raise ValidationError(f"narrow load of context pointer {self.ctx_struct}.{name}",
                                          file=program.file, section=program.section, insn=pc)
        if self.writable_all:
            return
        for pc, acc in sorted(accesses.items()):
            if not acc.is_store:
                continue
            covering = [n for n, (off, size) in self.ctx_fields.items() if off <= acc.offset < off + size]
            if not any(n in self.writable for n in covering):  # unions (sock_ops args/reply): any writable one
                name = covering[0] if covering else None
                what = f"{self.ctx_struct}.{name}" if name else f"{self.ctx_struct} offset {acc.offset}"
                raise ValidationError(f"store to the read-only context field {what} ({self.name} programs may "
                                      f"write: {', '.join(sorted(self.writable)) or 'nothing'})", file=program.file,
                                      section=program.section, insn=pc)


@cache
def helpers() -> dict[int, HelperProto]:
    return {int(k): HelperProto(int(k), v["name"], tuple(v["args"]), v["ret"], v.get("ctx", ""))
            for k, v in bpfx_specs.load("helpers").items()}


def helper_by_name(name: str) -> HelperProto | None:
    return next((h for h in helpers().values() if h.name == name), None)


@cache
def program_types() -> dict[str, ProgType]:
    specs = bpfx_specs.load("program_types")
    out = {}
    for name, spec in specs.items():
        ctx_spec = specs[spec["ctx_from"]] if "ctx_from" in spec else spec
        dev_spec = specs[spec["device_from"]] if "device_from" in spec else spec
        struct = spec["ctx_struct"]
        if "helpers" in spec:
            allowed = frozenset(spec["helpers"])
        elif name == UNSPEC:  # not known yet: the type chosen later decides
            allowed = frozenset(helpers())
        else:  # every helper, but those taking another program type's context
            allowed = frozenset(h.id for h in helpers().values() if not h.ctx or h.ctx == struct)
        out[name] = ProgType(
            name=name,
            sections=tuple(spec["sections"]),
            ctx_struct=struct,
            ctx_size=spec["ctx_size"],
            packet=spec["packet"],
            helper_ids=allowed,
            return_codes={int(k): v for k, v in spec.get("return_codes", {}).items()},
            ctx_fields={k: tuple(v) for k, v in ctx_spec.get("ctx_fields", {}).items()},
            device_struct=dev_spec.get("device_struct", ""),
            device_ctx_size=dev_spec.get("device_ctx_size", 0),
            device_ctx={k: DeviceField(*v) for k, v in dev_spec.get("device_ctx", {}).items()},
            helper_overrides={int(k): v for k, v in spec.get("helper_overrides", {}).items()},
            writable=frozenset(spec.get("writable", ())),
            return_range=tuple(spec["return_range"]) if "return_range" in spec else None,
            return_other=spec.get("return_other"),
            writable_all=spec.get("writable_all", False),
            pointers=frozenset(ctx_spec.get("pointers", ())),
        )
    return out


def prog_type(name: str) -> ProgType:
    try:
        return program_types()[name]
    except KeyError:
        known = ", ".join(program_types())
        raise ValidationError(f"unknown program type {name!r} (known: {known})") from None


@cache
def _section_table() -> tuple[list[tuple[str, bool, ProgType]], list[tuple[str, ProgType]]]:
    """(pattern, takes an attach target, type) in table order, and (base name, type) longest first."""
    exact = []
    for ptype in program_types().values():
        for pat in ptype.sections:
            exact.append((pat.rstrip("+"), pat.endswith("+"), ptype))
    prefixes = sorted(((p, t) for p, _plus, t in exact), key=lambda item: -len(item[0]))
    return exact, prefixes


def prog_type_for_section(section: str) -> ProgType | None:
    """The program type a SEC name selects, or None.

    As libbpf: an exact name, or ``name/<target>`` for names that take an attach target (``kprobe/do_exit``,
    ``tracepoint/sched/sched_switch``); then, as libbpf before 1.0 and iproute2 did, the longest SEC name the
    section starts with (``socket1``, ``xdp_prog``, ``cgroup/sock1``, ``tc/tail``)."""
    exact, prefixes = _section_table()
    for name, plus, ptype in exact:
        if section == name or (plus and section.startswith(name + "/")):
            return ptype
    for name, ptype in prefixes:
        if section.startswith(name):
            return ptype
    return None


def section_names() -> list[str]:
    """Every SEC name of the table, as libbpf writes them (``kprobe+`` takes an attach target)."""
    return [p for t in program_types().values() for p in t.sections]


def closest_section(section: str) -> str | None:
    """The known SEC name nearest to an unknown one (for the refusal message)."""
    import difflib

    if section.startswith("."):  # .text and friends: no SEC name to be near
        return None
    names = [p.rstrip("+") for p in section_names()]
    head = section.split("/", 1)[0]
    match = difflib.get_close_matches(section, names, n=1, cutoff=0.6) or difflib.get_close_matches(
        head, names, n=1, cutoff=0.6)
    return match[0] if match else None


def unknown_section_error(section: str, cls=None, why: str = ""):
    """The error for running or compiling a program whose section selects no program type (``why``: the
    inference's ``Program.type_reason``)."""
    from ..errors import Unsupported

    near = closest_section(section)
    hint = f" (closest known: {near!r})" if near else ""
    why = f"; {why}" if why else ""
    return (cls or Unsupported)(f"section {section!r} selects no program type{hint}{why}; choose one with "
                                "--prog-type")


# -- program types of sections no SEC name types: inferred from evidence ----------------------------------------
# iproute2's tc (and cilium, ovs) load every program of an object with the one type given on the command line, so
# their section names (cilium's "2/1", "from-netdev", ovs' "tail-3") say nothing. The evidence, strongest first:
#   1. prog arrays: the kernel requires the programs of one prog array (those that tail-call through it and those
#      in it) to share a type, so a program sharing one with typed programs takes their type;
#   2. what the program does: a helper whose prototype takes one context struct (bpf_skb_load_bytes: __sk_buff,
#      bpf_xdp_adjust_head: xdp_md), LD_ABS/LD_IND (__sk_buff), context reads that are __sk_buff fields past the
#      end of xdp_md, or a u32 context field used as an address on every path where only one struct has a pointer
#      (a u32 at 0 is xdp_md.data; __sk_buff.len there is no pointer); the struct gives the type by
#      INFER_DEFAULT (or the one type that has it);
#   3. if the object's typed programs (by SEC name or by 1-2) all have one type, its remaining programs take it;
#   4. a program that reads no context field, calls no context-specific helper and uses no LD_ABS (nor does any
#      program sharing a prog array with it, one of which tail-calls through it) compiles the same under every
#      type: it takes CONTEXT_FREE_TYPE (PREVAIL's default for unknown sections).
# A type is only given if everything the program does is valid for it (helpers, context fields, LD_ABS);
# conflicting or no evidence leaves the program untyped, with the reason in Program.type_reason.
INFER_DEFAULT = {"__sk_buff": "sched_cls", "xdp_md": "xdp"}  # sched_cls: iproute2's tc loads them so
CONTEXT_FREE_TYPE = "socket_filter"


@dataclass
class _Evidence:
    structs: dict[str, str]  # context struct -> what showed it ("calls bpf_skb_load_bytes")
    helpers: frozenset[int]
    ld_abs: bool
    accesses: list | None  # ctx accesses (CtxAccess), None when the program could not be analysed
    prog_arrays: set[int]  # indices (into Program.maps) of the prog arrays it tail-calls through or is in
    first_access: tuple | None = None  # (pc, CtxAccess) of its first context access: its meaning depends on the type


def _field_at(ptype: ProgType, off: int, size: int) -> str | None:
    for name, (foff, fsize) in ptype.ctx_fields.items():
        if foff <= off and off + size <= foff + fsize:
            return name
    return None


def _evidence(program, full: bool = True) -> _Evidence:
    """What ``program`` does that narrows its type; only its prog arrays unless ``full``."""
    import numpy as np

    from ..errors import BpfxError
    from .isa import OPCODES, Kind
    from .program import MapType
    from .validate import second_slots

    op, _dst, src, _off, imm = program.arrays()
    first = ~second_slots(op)
    table = helpers()
    ids = frozenset(int(i) for i in np.unique(imm[first & (op == 0x85) & (src == 0)]))
    ld_abs = any(OPCODES[o] is not None and OPCODES[o].kind in (Kind.LD_ABS, Kind.LD_IND) for o in np.unique(op))
    refs = {int(i) for i in np.unique(imm[first & (op == 0x18) & (src == 1)])}
    arrays = set(i for i in refs if 0 <= i < len(program.maps) and program.maps[i].type == MapType.PROG_ARRAY)
    structs: dict[str, str] = {}
    if not full:
        return _Evidence(structs, ids, ld_abs, None, arrays)
    for hid in sorted(ids):
        proto = table.get(hid)
        if proto is not None and proto.ctx:
            structs.setdefault(proto.ctx, f"calls {proto.symbol}")
    if ld_abs:
        structs.setdefault("__sk_buff", "uses LD_ABS/LD_IND packet loads")
    accesses = first_access = None
    untyped = program.prog_type
    # the context accesses, analysed as if the context were an __sk_buff (any struct would do); validated first
    # with every helper allowed, which is what validating an untyped program checks (and, as a type is given only
    # where its helpers and LD_ABS are allowed, what validating it with that type would check)
    program.prog_type = INFER_DEFAULT["__sk_buff"]
    try:
        from .cfg import build_cfg
        from .validate import validate

        validate(program, helpers=frozenset(table))
        cfg = build_cfg(program)
        by_pc = cfg.ctx_accesses
        accesses = list(by_pc.values())
        first_access = (min(by_pc), by_pc[min(by_pc)]) if by_pc else None
        derefs = _dereferenced_fields(program, cfg, by_pc)
    except BpfxError:
        derefs = []
    finally:
        program.prog_type = untyped
    for off, size in derefs:  # a context field used as an address: the structs with a pointer there
        owners = {(t.ctx_struct, n) for t in program_types().values() for n, f in t.ctx_fields.items()
                  if f == (off, size) and n in t.pointers}
        if len({s for s, _n in owners}) == 1:
            (struct, name), *_ = sorted(owners)
            structs.setdefault(struct, f"dereferences {struct}.{name}")
    if accesses:
        skb, xdp = prog_type(INFER_DEFAULT["__sk_buff"]), prog_type(INFER_DEFAULT["xdp_md"])
        if all(_field_at(skb, a.offset, a.size) for a in accesses):
            past = [a for a in accesses if a.offset >= xdp.ctx_size]
            if past:
                verb = "writes" if past[0].is_store else "reads"
                structs.setdefault("__sk_buff", f"{verb} __sk_buff.{_field_at(skb, past[0].offset, past[0].size)}")
    return _Evidence(structs, ids, ld_abs, accesses, arrays, first_access)


@cache
def _u32_pointer_fields() -> frozenset[tuple[int, int]]:
    """(offset, 4) of every u32 context field some program type holds a pointer in (xdp_md, __sk_buff)."""
    return frozenset(f for t in program_types().values() for n, f in t.ctx_fields.items()
                     if n in t.pointers and f[1] == 4)


def _dereferenced_fields(program, cfg, ctx_loads: dict) -> list[tuple[int, int]]:
    """(offset, size) of the context fields whose loaded value some load or store uses as its address, on every
    path to it (a must-analysis: registers keep a field only where all predecessors agree)."""
    from .isa import OPCODES, Cls, Kind

    # u32 pointer fields only: those pointers (xdp_md, __sk_buff) are the kernel's rewrites, while an 8-byte
    # context word used as an address is also any tracing program's BTF argument
    wanted = _u32_pointer_fields()
    loads = {pc: (a.offset, a.size) for pc, a in ctx_loads.items()
             if not a.is_store and (a.offset, a.size) in wanted}
    if not loads:
        return []
    insns = program.insns
    # each block as a list of actions: (0, address reg, loaded reg or -1, loaded field or None), (1, dst, src) for
    # a 64-bit register copy, (2,) for a call, (3, dst) for any other write; pointer +/- offset keeps the field
    acts: list[list[tuple]] = []
    for block in cfg.blocks:
        out = []
        for pc in cfg._slots(block):
            insn = insns[pc]
            info = OPCODES[insn.opcode]
            kind = info.kind
            if kind in (Kind.LDX, Kind.LDXSX):
                out.append((0, -1 if pc in ctx_loads else insn.src, insn.dst, loads.get(pc)))
            elif kind in (Kind.ST, Kind.STX, Kind.ATOMIC):
                fetch = kind == Kind.ATOMIC and insn.imm & 1
                out.append((0, -1 if pc in ctx_loads else insn.dst,
                            (0 if insn.imm == 0xF1 else insn.src) if fetch else -1, None))
            elif kind == Kind.ALU and info.cls == Cls.ALU64 and info.op == "mov" and info.src_reg and not insn.off:
                out.append((1, insn.dst, insn.src))
            elif kind == Kind.ALU and info.cls == Cls.ALU64 and (info.op == "add" or (
                    info.op == "sub" and not info.src_reg)):
                continue
            elif kind in (Kind.CALL, Kind.CALLX):
                out.append((2,))
            elif kind in (Kind.ALU, Kind.ENDIAN, Kind.LD_IMM64):
                out.append((3, insn.dst))
        acts.append(out)

    def run(b: int, state: dict, found: set | None) -> dict:
        for act in acts[b]:
            code = act[0]
            if code == 0:
                _c, base, dst, value = act
                if found is not None and base in state:
                    found.add(state[base])
                if value is not None:
                    state[dst] = value
                elif dst >= 0:
                    state.pop(dst, None)
            elif code == 1:
                if act[2] in state:
                    state[act[1]] = state[act[2]]
                else:
                    state.pop(act[1], None)
            elif code == 2:
                for r in (0, 1, 2, 3, 4, 5):
                    state.pop(r, None)
            else:
                state.pop(act[1], None)
        return state

    ins: dict[int, dict] = {cfg.block_at[fn]: {} for fn in cfg.functions}
    changed = True
    while changed:  # sweeps in block order (clang's layout is close to reverse post-order): a few suffice
        changed = False
        for b, block in enumerate(cfg.blocks):
            if b not in ins:
                continue
            state = run(b, dict(ins[b]), None)
            for succ in block.succs:
                old = ins.get(succ)
                if old is None:
                    ins[succ] = dict(state)
                    changed = True
                elif any(state.get(r) != v for r, v in old.items()):
                    ins[succ] = {r: v for r, v in old.items() if state.get(r) == v}
                    changed = True
    found: set = set()
    for b, state in ins.items():  # evidence only from the settled states
        run(b, dict(state), found)
    return sorted(found)


def _default_type(struct: str) -> str | None:
    if struct in INFER_DEFAULT:
        return INFER_DEFAULT[struct]
    having = [t.name for t in program_types().values() if t.ctx_struct == struct]
    return having[0] if len(having) == 1 else None


def _fits(ev: _Evidence, ptype: ProgType) -> str | None:
    """Why ``ptype`` cannot be this program's type, or None if all it does is valid there."""
    from .validate import LD_ABS_TYPES

    other = [s for s in ev.structs if s != ptype.ctx_struct]
    if other:
        return f"it {ev.structs[other[0]]} ({other[0]})"
    bad = sorted(ev.helpers - ptype.helper_ids)
    if bad:
        proto = helpers().get(bad[0])
        return f"it calls {proto.symbol if proto else f'helper {bad[0]}'}"
    if ev.ld_abs and ptype.name not in LD_ABS_TYPES:
        return "it uses LD_ABS/LD_IND"
    for a in ev.accesses or ():
        if not _field_at(ptype, a.offset, a.size):
            return f"it accesses {a.size} bytes at context offset {a.offset}"
    return None


def infer_types(programs: list, members: dict[int, int] | None = None) -> None:
    """Type the programs whose section selects none (``UNSPEC``) from evidence (see above), in place: each gets
    ``prog_type`` and ``type_reason`` ("inferred sched_cls: calls bpf_skb_load_bytes"), or keeps ``UNSPEC`` with
    the reason no type could be chosen. ``members``: program index -> index of the prog array the loader's
    convention puts it in (iproute2's ``SEC("2/1")``); PROG_ARRAY static initialisers are read from the maps."""
    typed = {i for i, p in enumerate(programs) if p.prog_type != UNSPEC}
    untyped = [i for i in range(len(programs)) if i not in typed]
    if not untyped:
        return
    from .program import MapType

    ev = {i: _evidence(p, full=i not in typed) for i, p in enumerate(programs)}
    calls_through = {i for i, e in ev.items() if e.prog_arrays}  # before the members join: who tail-calls
    slots = dict(members or {})
    for m, mdef in enumerate(programs[0].maps):
        for _slot, name in mdef.values if mdef.type == MapType.PROG_ARRAY else ():  # .values = { [i] = &prog }
            slots.update((i, m) for i, p in enumerate(programs) if p.name == name)
    for i, m in slots.items():
        ev[i].prog_arrays |= {m}
    # groups: programs sharing a prog array (union-find over map indices)
    parent = list(range(len(programs)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_array: dict[int, list[int]] = {}
    for i, e in ev.items():
        for m in e.prog_arrays:
            by_array.setdefault(m, []).append(i)
    for sharing in by_array.values():
        for i in sharing[1:]:
            parent[find(i)] = find(sharing[0])
    groups: dict[int, list[int]] = {}
    for i in range(len(programs)):
        groups.setdefault(find(i), []).append(i)

    def array_name(i: int, j: int) -> str:
        shared = ev[i].prog_arrays & ev[j].prog_arrays
        m = min(shared) if shared else min(ev[i].prog_arrays)
        return programs[i].maps[m].name

    def give(i: int, name: str, why: str) -> None:
        reason = _fits(ev[i], prog_type(name))
        if reason is None:
            programs[i].prog_type, programs[i].type_reason = name, f"inferred {name}: {why}"
        else:
            programs[i].type_reason = f"not inferred: {why}, but {reason}"

    for group in groups.values():
        todo = [i for i in group if i not in typed]
        if not todo:
            continue
        known = {programs[i].prog_type: i for i in group if i in typed}
        if len(known) > 1:
            names = ", ".join(sorted(known))
            for i in todo:
                programs[i].type_reason = f"not inferred: its prog array's typed programs have several types ({names})"
            continue
        if known:
            (name, j), = known.items()
            for i in todo:
                give(i, name, f"shares prog array {array_name(i, j)!r} with {programs[j].section!r} ({name})")
            continue
        structs: dict[str, tuple[int, str]] = {}
        for i in todo:
            for struct, what in ev[i].structs.items():
                structs.setdefault(struct, (i, what))
        if len(structs) > 1:
            shown = "; ".join(f"{programs[i].section!r} {what} ({s})" for s, (i, what) in structs.items())
            for i in todo:
                programs[i].type_reason = f"not inferred: conflicting evidence: {shown}"
            continue
        if not structs:
            continue
        (struct, (j, what)), = structs.items()
        name = _default_type(struct)
        if name is None:
            for i in todo:
                programs[i].type_reason = f"not inferred: several program types take {struct} ({what})"
            continue
        for i in todo:
            if struct in ev[i].structs:
                give(i, name, ev[i].structs[struct])
            else:
                give(i, name, f"shares prog array {array_name(i, j)!r} with {programs[j].section!r} ({what})")
    kinds = {p.prog_type for p in programs if p.prog_type != UNSPEC}
    if len(kinds) == 1:
        (name,) = kinds
        for i in untyped:
            if programs[i].prog_type == UNSPEC and not programs[i].type_reason:
                give(i, name, f"every other program of the object is {name}")
    context_free = {i for i in untyped if programs[i].prog_type == UNSPEC and ev[i].accesses == []
                    and not ev[i].structs and not ev[i].ld_abs}
    for i in untyped:
        if programs[i].prog_type != UNSPEC or programs[i].type_reason:
            continue
        group = groups[find(i)]  # a prog array's programs share the type; members nobody calls may be any type's
        if all(j in context_free for j in group) and (not ev[i].prog_arrays or calls_through & set(group)):
            give(i, CONTEXT_FREE_TYPE, "uses no context field or context-specific helper (any type compiles it the "
                                       "same)")
        elif ev[i].first_access is not None:
            # the program reads its context, and that access means different fields under different types
            pc, a = ev[i].first_access
            meanings = " or ".join(sorted({f"{t.ctx_struct}.{f} ({name})" for name in INFER_DEFAULT.values()
                                           for t in [prog_type(name)] if (f := _field_at(t, a.offset, a.size))}))
            meanings = meanings or "no field of " + " or ".join(INFER_DEFAULT)
            programs[i].type_reason = (f"not inferred: its context access of {a.size} bytes at offset {a.offset} "
                                       f"is {meanings}, and nothing else tells the type (a context-specific helper, "
                                       "LD_ABS, a prog array shared with typed programs)")
            programs[i].type_insn = pc
        else:
            programs[i].type_reason = ("not inferred: no evidence (a context-specific helper or field, LD_ABS, a prog "
                                       "array shared with typed programs)")
