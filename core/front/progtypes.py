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
        """Refuse stores to context fields this type may not write (the kernel's ``*_is_valid_access``)."""
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


def unknown_section_error(section: str, cls=None):
    """The error for running or compiling a program whose section selects no program type."""
    from ..errors import Unsupported

    near = closest_section(section)
    hint = f" (closest known: {near!r})" if near else ""
    return (cls or Unsupported)(f"section {section!r} selects no program type{hint}; choose one with --prog-type")
