"""The data a target plugin hands the core, and what the core hands back.

Plugins build these frozen dataclasses in their hook implementations; the
core never looks inside a plugin for anything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class TargetInfo:
    """What a target is. ``e_machine`` is the ELF machine number its objects carry."""

    name: str
    description: str
    word_size: int = 64
    endian: str = "little"
    e_machine: int = 0
    llvm_triple: str | None = None
    llvm_features: str = ""
    #: optional features a user may turn off or on (``-mattr``-like), with their defaults
    features: dict[str, bool] = field(default_factory=dict)
    #: name of the target whose selector/ABI/machine this one reuses (a vendor variant), if any
    base: str | None = None
    #: default ``--safety`` (structural | verify | checked); None: checked for code generators (a device core has
    #: no MMU: what the verifier cannot prove is checked at run time), structural for the interpreter
    safety: str | None = None


@dataclass(frozen=True)
class ABI:
    """How BPF state lives on the native core, and what the core lacks.

    ``regs`` maps BPF r0..r10 (and 11, the hidden AX register the core uses for
    constant blinding and legalisation) to native register numbers. The
    capability flags tell the legaliser which BPF rewrites this target needs.
    """

    regs: dict[int, int]
    arg_regs: tuple[int, ...]  # native C argument registers, in order
    ret_reg: int  # native C return register
    callee_saved: frozenset[int]
    scratch: tuple[int, ...]  # free for the selector inside one BPF instruction
    reg_names: dict[int, str]  # native register number -> name, for listings
    stack_align: int = 16
    # Capabilities read by core/legalize.py: True means the target does it natively.
    udiv_by_zero_is_zero: bool = False
    umod_by_zero_is_dst: bool = False
    sdiv_overflow_safe: bool = False  # INT_MIN / -1 does not trap
    shifts_mask_count: bool = False
    alu32_zero_extends: bool = False
    has_bswap: bool = True
    atomic_widths: frozenset[int] = frozenset({4, 8})
    has_atomics: bool = True
    #: signed immediate width the selector accepts in ALU, jump and store instructions; wider ones are built in
    #: AX by the legaliser from pieces that fit (32: every BPF immediate fits)
    imm_bits: int = 32


@dataclass(frozen=True)
class HelperEntry:
    """How one helper id is reached on a target.

    Exactly one of: ``address`` (an absolute address the driver knows), ``symbol``
    (a relocation against it, resolved at link/load time), or ``inline`` (a
    function ``inline(emitter, selector)`` that emits the helper's body in place).
    """

    id: int
    name: str
    symbol: str | None = None
    address: int | None = None
    inline: Callable | None = None


@dataclass(frozen=True)
class HelperTable:
    entries: dict[int, HelperEntry]

    def get(self, helper_id: int) -> HelperEntry | None:
        return self.entries.get(helper_id)

    def merged(self, other: HelperTable | dict[int, HelperEntry]) -> HelperTable:
        more = other.entries if isinstance(other, HelperTable) else other
        return HelperTable({**self.entries, **more})


@dataclass(frozen=True)
class ContextField:
    """One device field a UAPI context field is rewritten to."""

    name: str
    off: int
    size: int
    kind: str = "u32"  # "ptr" widens a u32 UAPI pointer field to a native pointer


@dataclass(frozen=True)
class ContextLayout:
    """UAPI ctx field offset -> device field. An access outside it is a compile error."""

    struct: str
    size: int
    fields: dict[int, ContextField]  # keyed by UAPI offset

    def by_name(self) -> dict[str, ContextField]:
        return {f.name: f for f in self.fields.values()}


@dataclass(frozen=True)
class Reloc:
    """A place in the code the loader must patch: ``type`` is the target's own ELF
    relocation number, ``kind`` says what it refers to (helper, map, map_value, func)."""

    offset: int
    type: int
    symbol: str
    addend: int = 0
    kind: str = "helper"


@dataclass(frozen=True)
class RelocType:
    """A target relocation: its ELF name and how a loader applies it.

    ``apply(code, offset, value, pc)`` patches ``code`` in place, where value is
    S + A (symbol address plus addend) and pc is the address of ``offset``.
    """

    name: str
    apply: Callable[[bytearray, int, int, int], None]


@dataclass(frozen=True)
class Image:
    """Native code for one program (with its subprograms) and what it needs to load."""

    target: str
    code: bytes
    relocs: tuple[Reloc, ...]
    symbols: dict[str, int]  # function name -> offset; the entry program's name included
    entry: str
    line_map: tuple[tuple[int, int], ...]  # (native offset, BPF instruction index), ascending
    stack_size: int  # bytes of native stack the entry frame needs
    frame_offset: int  # native SP at entry minus the entry function's BPF r10
    reloc_types: dict[int, RelocType] = field(default_factory=dict)
    prog_type: str = ""
    #: global-data maps' initial contents, by map symbol (what an ELF writer puts in .data/.rodata)
    data: dict[str, bytes] = field(default_factory=dict)
    e_machine: int = 0
    constants_note: str = ""

    def entry_offset(self) -> int:
        return self.symbols[self.entry]


@dataclass(frozen=True)
class Machine:
    """How the core runs a target's Image under unicorn.

    Register fields are unicorn register ids. ``return_insn`` is what a helper
    trampoline executes after the core has run the helper in Python (e.g. arm64
    ``ret``); ``setup(uc)`` can set CPU models or system registers.
    """

    uc_arch: int
    uc_mode: int
    pc: int
    sp: int
    arg_regs: tuple[int, ...]
    ret_reg: int
    return_insn: bytes
    link_reg: int | None = None  # where a call's return address goes (None: pushed on the stack)
    cpu_model: int | None = None
    setup: Callable | None = None
    insn_size: int = 4  # for counting executed instructions (0: variable length, count blocks)


class Selector(Protocol):
    """The contract of ``bpfx_selector``: see core/codegen.py and hookspecs.py."""

    def prologue(self, em, frame) -> None: ...
    def epilogue(self, em, frame) -> None: ...
    def lower(self, em, pc: int, insn, nxt) -> None: ...
