"""Typed views of specs/: program types and helper prototypes."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import bpfx_specs

from ..errors import ValidationError


@dataclass(frozen=True)
class HelperProto:
    id: int
    name: str  # UAPI name without the bpf_ prefix
    args: tuple[str, ...]
    ret: str

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

    def helper(self, helper_id: int) -> HelperProto | None:
        """The prototype of a helper this program type may call, or None."""
        if helper_id not in self.helper_ids:
            return None
        if helper_id in self.helper_overrides:
            return HelperProto(helper_id, self.helper_overrides[helper_id], ("int",), "int")
        return helpers().get(helper_id)

    def return_name(self, r0: int) -> str | None:
        return self.return_codes.get(r0)


@cache
def helpers() -> dict[int, HelperProto]:
    return {int(k): HelperProto(int(k), v["name"], tuple(v["args"]), v["ret"])
            for k, v in bpfx_specs.load("helpers").items()}


@cache
def program_types() -> dict[str, ProgType]:
    out = {}
    for name, spec in bpfx_specs.load("program_types").items():
        out[name] = ProgType(
            name=name,
            sections=tuple(spec["sections"]),
            ctx_struct=spec["ctx_struct"],
            ctx_size=spec["ctx_size"],
            packet=spec["packet"],
            helper_ids=frozenset(spec["helpers"]),
            return_codes={int(k): v for k, v in spec.get("return_codes", {}).items()},
            ctx_fields={k: tuple(v) for k, v in spec.get("ctx_fields", {}).items()},
            device_struct=spec.get("device_struct", ""),
            device_ctx_size=spec.get("device_ctx_size", 0),
            device_ctx={k: DeviceField(*v) for k, v in spec.get("device_ctx", {}).items()},
            helper_overrides={int(k): v for k, v in spec.get("helper_overrides", {}).items()},
        )
    return out


def prog_type(name: str) -> ProgType:
    try:
        return program_types()[name]
    except KeyError:
        known = ", ".join(program_types())
        raise ValidationError(f"unknown program type {name!r} (known: {known})") from None


def prog_type_for_section(section: str) -> ProgType | None:
    """The program type a SEC name selects (exact name or prefix ending in '/'), or None."""
    for ptype in program_types().values():
        for pat in ptype.sections:
            if section == pat or (pat.endswith("/") and section.startswith(pat)) or section.startswith(pat + "/"):
                return ptype
    return None
