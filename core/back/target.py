"""The data a target plugin hands the core, and what the core hands back.

Plugins build these frozen dataclasses in their hook implementations; the
core never looks inside a plugin for anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class TargetInfo:
    """What a target is. ``e_machine`` is the ELF machine number its objects carry."""

    name: str
    description: str
    word_size: int = 64  # bits of a native register; below 64, ABI.regs holds register tuples
    endian: str = "little"
    e_machine: int = 0
    #: the LLVM tier's target triple (-O1..-O3); a target with ``base`` inherits its base's when it has none
    llvm_triple: str | None = None
    #: extra LLVM target features (``"+m,+a,-relax"``); ``features`` below are passed to LLVM too, as +name/-name
    llvm_features: str = ""
    #: the LLVM tier's relocation model for this target's objects: "pic" (PC-relative and GOT-free where LLVM
    #: can) or "static" (absolute addresses, e.g. RISC-V's lui/addi pairs, whose relocations a loader applies
    #: one by one, where PIC code pairs PCREL_HI20/LO12 records through local labels)
    llvm_reloc: str = "pic"
    #: LLVM command-line options the LLVM tier sets for this target (process-wide, so only backend-specific ones),
    #: e.g. to keep constants out of data sections the tier's code-only images cannot carry
    llvm_options: tuple[str, ...] = ()
    #: features that are bpfx's own (code-shape choices), not LLVM subtarget features: the LLVM tier leaves them out
    non_llvm_features: frozenset[str] = frozenset()
    #: optional features a user may turn off or on (``-mattr``-like), with their defaults
    features: dict[str, bool] = field(default_factory=dict)
    #: name of the target whose selector/ABI/machine this one reuses (a vendor variant), if any
    base: str | None = None
    #: default ``--safety`` (structural | verify | checked); None: structural. A device core has no MMU: a target
    #: whose programs run unprotected should say checked (what the verifier cannot prove is checked at run time)
    safety: str | None = None


@dataclass(frozen=True)
class ABI:
    """How BPF state lives on the native core, and what the core lacks.

    ``regs`` maps BPF r0..r10 (and 11, the hidden AX register the core uses for
    constant blinding and legalisation) to native register numbers. On a core whose registers are narrower
    than 64 bits (``TargetInfo.word_size`` 32) a BPF register lives in several native registers: its value is
    then a tuple, least significant word first (``{0: (0, 1), 1: (2, 3), ...}``), and so are ``arg_regs``
    entries and ``ret_reg``. The core treats such a tuple as one location (helper-argument moves hand the
    selector's ``move`` whole tuples); :meth:`parts` gives the native registers of any location. The
    capability flags tell the legaliser which BPF rewrites this target needs.
    :meth:`check` (run by the core when it first asks a plugin for its ABI) holds the
    register facts to the BPF semantics: what the core relies on is checked, not assumed.
    """

    regs: dict[int, int | tuple[int, ...]]
    arg_regs: tuple[int | tuple[int, ...], ...]  # native C argument registers (or register tuples), in order
    ret_reg: int | tuple[int, ...]  # native C return register (or register tuple)
    #: native registers a C callee preserves: BPF r6-r9 and r10 must live in them (they survive helper calls)
    callee_saved: frozenset[int]
    #: registers the selector may use inside one BPF instruction; none may hold a BPF register
    scratch: tuple[int, ...]
    reg_names: dict[int, str]  # native register number -> name: the listing's register map and ABI errors
    #: native stack alignment at calls; the core rounds ``Image.stack_size`` up to it
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
    #: signed division and modulo (cpu v4 ``sdiv``/``smod``); False rejects them naming the instruction
    has_sdiv: bool = True
    #: signed immediate width the selector accepts in ALU, jump and store instructions; wider ones are built in
    #: AX by the legaliser from pieces that fit (32: every BPF immediate fits)
    imm_bits: int = 32

    @staticmethod
    def parts(reg: int | tuple[int, ...]) -> tuple[int, ...]:
        """The native registers of one location: ``(reg,)`` for a register, the tuple itself for a pair."""
        return reg if isinstance(reg, tuple) else (reg,)

    def name(self, reg: int | tuple[int, ...]) -> str:
        if isinstance(reg, tuple):
            return ":".join(self.reg_names.get(r, str(r)) for r in reg)
        return self.reg_names.get(reg, str(reg))

    def check(self) -> list[str]:
        """What is wrong with this description (empty when it is consistent)."""
        problems = []
        missing = [r for r in range(11) if r not in self.regs]
        if missing:
            problems.append(f"no native register for BPF r{', r'.join(map(str, missing))}")
        if len(self.arg_regs) < 5:
            problems.append(f"{len(self.arg_regs)} argument registers: helpers take 5")
        for bpf in (6, 7, 8, 9, 10):
            if bpf in self.regs and not set(self.parts(self.regs[bpf])) <= self.callee_saved:
                problems.append(f"BPF r{bpf} is in {self.name(self.regs[bpf])}, which a C callee may clobber "
                                "(r6-r10 must survive helper calls)")
        mapped = {n: b for b, loc in self.regs.items() for n in self.parts(loc)}
        for reg in self.scratch:
            if reg in mapped:
                problems.append(f"scratch register {self.name(reg)} also holds BPF r{mapped[reg]}")
        if self.stack_align <= 0 or self.stack_align & (self.stack_align - 1):
            problems.append(f"stack alignment {self.stack_align} is not a power of two")
        return problems

    def describe(self) -> str:
        """The register map as one line, e.g. ``r0=x7 r1=x0 ... ax=x9``."""
        return " ".join(f"{'ax' if b == 11 else f'r{b}'}={self.name(n)}" for b, n in sorted(self.regs.items()))


@dataclass(frozen=True)
class HelperEntry:
    """How one helper id is reached on a target.

    Exactly one of: ``address`` (an absolute address the driver knows), ``symbol``
    (a relocation against it, resolved at link/load time), or ``inline`` (a
    function ``inline(cg, selector)`` that emits the helper's body in place through
    the :class:`bpfx.CodeGen` ``cg``; the BPF arguments are already in the native
    argument registers and r0 is read from the native return register afterwards).
    ``implemented`` marks an entry made for a :class:`HelperImpl` (a vendor's firmware helper or a driver's
    own): a target whose helpers come from firmware (no generic call mechanism) offers exactly those and the
    ones its plugin gives addresses or inline bodies for.
    """

    id: int
    name: str
    symbol: str | None = None
    address: int | None = None
    inline: Callable | None = None
    implemented: bool = False


@dataclass(frozen=True)
class HelperTable:
    entries: dict[int, HelperEntry]

    def get(self, helper_id: int) -> HelperEntry | None:
        return self.entries.get(helper_id)

    def merged(self, other: HelperTable | dict[int, HelperEntry]) -> HelperTable:
        more = other.entries if isinstance(other, HelperTable) else other
        return HelperTable({**self.entries, **more})


@dataclass(frozen=True)
class HelperImpl:
    """A helper's implementation for emulated runs (the interpreter and every executor share it).

    ``fn(call, a1, a2, a3, a4, a5) -> int`` receives a :class:`bpfx.HelperCall` (memory by address, the run's
    maps, the trace) and the five BPF argument registers; what it returns is r0. A vendor's firmware helper
    (an id beyond the UAPI ones) or a driver's own helper is run this way; ``name`` gives the symbol native
    code calls (``bpf_<name>``) where no address is known.
    """

    id: int
    name: str
    fn: Callable[..., int]


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


class LineMap(Sequence):
    """(native offset, BPF instruction index) pairs, ascending by offset: a sequence of 2-tuples kept as two lists
    of ints, because a million-instruction image would otherwise hold a million tuples, which cost memory and a
    scan by the cyclic garbage collector right after compiling (a tenth of a 1M-instruction compile)."""

    __slots__ = ("offsets", "indices")

    def __init__(self, offsets: list[int], indices: list[int]) -> None:
        assert len(offsets) == len(indices)
        self.offsets = offsets
        self.indices = indices

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return LineMap(self.offsets[i], self.indices[i])
        return self.offsets[i], self.indices[i]

    def __iter__(self):
        return zip(self.offsets, self.indices)

    def __eq__(self, other) -> bool:
        if isinstance(other, LineMap):
            return self.offsets == other.offsets and self.indices == other.indices
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"LineMap({list(self)!r})"


@dataclass(frozen=True)
class Image:
    """Native code for one program (with its subprograms) and what it needs to load."""

    target: str
    code: bytes
    relocs: tuple[Reloc, ...]
    symbols: dict[str, int]  # function name -> offset; the entry program's name included
    entry: str
    line_map: Sequence[tuple[int, int]]  # (native offset, BPF instruction index), ascending: a LineMap or a tuple
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
class MachineLayout:
    """Where the core put things in the emulator, handed to ``Machine.setup`` after memory is mapped."""

    stack_top: int  # the initial stack pointer before any return address is pushed
    exit_addr: int  # the return address the entry function is called with
    code_base: int  # where the first image is placed
    regions: tuple[tuple[str, int, int], ...]  # (name, base, size) of every runtime region


class Executor(Protocol):
    """Runs compiled Images: what ``bpfx_machine`` returns.

    The core's implementation is :class:`Machine` (unicorn). A target whose code no CPU emulator runs (a
    microengine model, a vendor's cycle simulator) returns its own object with this one method.
    """

    def run(self, image: Image, runtime, budget: int):
        """Run ``image`` against ``runtime`` and return ``runtime.result(r0, stack=..., insn_count=...)``.

        ``runtime`` (a :class:`bpfx.Runtime`) holds the memory regions (``runtime.memory.regions``: packet,
        ctx, stack, maps, at the addresses the interpreter uses), ``runtime.entry_args`` (r1..r5 at entry),
        ``runtime.helper_table`` (the :class:`HelperTable` the image was compiled with, to resolve helper
        relocations), ``runtime.call_helper(id, args) -> r0`` (the shared helper implementations),
        ``runtime.map_address(i)``/``map_value_address(i)`` (map relocations), ``runtime.compile(program)``
        (for a pending tail call: ``runtime.pending_tail_call`` is set after a successful ``bpf_tail_call``)
        and ``runtime.exit_requested``. ``budget`` bounds the native instructions executed; exceeding it
        raises :class:`bpfx.RuntimeFault`, as does any access outside the regions.
        """


@dataclass(frozen=True)
class Machine:
    """How the core runs a target's Image under unicorn: the core's :class:`Executor`.

    Register fields are unicorn register ids. ``return_insn`` is what a helper
    trampoline executes after the core has run the helper in Python (e.g. arm64
    ``ret``, x86 ``ret``).

    The entry function is called as the native C convention calls a function: the context pointer (r1) in
    ``arg_regs[0]``, the stack pointer at ``MachineLayout.stack_top``, and the return address in
    ``link_reg`` or, when ``link_reg`` is None, pushed on the stack (``word_size`` bytes, little-endian; the
    stack pointer then starts one word lower, as after an x86 ``call``).
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
    #: ``setup(uc, layout: MachineLayout)``, called after the runtime's memory and the trampolines are mapped:
    #: CPU models, system registers, extra mappings
    setup: Callable | None = None
    #: bytes per instruction, for counting executed instructions; 0: variable length, each executed basic block
    #: is decoded once with ``decoder`` to count its instructions
    insn_size: int = 4
    #: for insn_size=0: capstone (arch, mode), or a function ``count(code: bytes) -> instructions`` (for
    #: extensions capstone does not decode)
    decoder: tuple[int, int] | Callable[[bytes], int] | None = None
    word_size: int = 8  # bytes of a pushed return address

    def run(self, image: Image, runtime, budget: int):
        from ..execute.machine import execute

        return execute(self, image, runtime, budget=budget)


class Selector(Protocol):
    """The contract of ``bpfx_selector``: everything the core calls on a selector.

    ``cg`` is the :class:`bpfx.CodeGen`: ``cg.em`` the :class:`bpfx.Emitter` (``emit``/``emit_bytes``,
    ``branch(label, forms)``, ``reloc``; ``mark(Emitter.DATA)`` then ``align(n)`` for a constant pool after the
    last function's epilogue, which listings show as data and instruction counts skip), ``cg.reg`` the
    BPF->native register map, ``cg.abi``, ``cg.frame``, ``cg.unsupported(pc, what)``, and
    ``cg.upper_half_dead(pc, reg)`` (whether anything reads the upper 32 bits of BPF ``reg`` as the instruction
    at ``pc`` leaves them: a core whose 32-bit operations do not zero-extend skips the extension where it is
    dead; see that method for what it assumes of the lowerings; ``cg.upper_live_after()`` gives the same facts as
    a list, for asking at every instruction), and ``cg.local_def(pc, reg)`` (the instruction that last wrote
    ``reg`` on the straight-line path into ``pc``, or None: what the selector's own lowering of it left in the
    native register, e.g. a value already extended, holds at ``pc``; ``cg.operand_defs(opcodes)`` gives it for
    the dst and src of every instruction with one of ``opcodes`` at once, vectorised). Labels are BPF slot
    indices (ints) for jump targets, ``("func", slot)`` and ``("exit", slot)`` for functions.

    A lowering may clobber the native register of AX (BPF register 11) and the ABI's ``scratch`` registers,
    nothing else: the legaliser never leaves a value live in AX across a BPF instruction it did not write AX in.
    Calls and exits are the core's: it moves helper arguments (``move``), then calls ``call`` (or the helper's
    ``inline``), and turns ``exit`` into ``jump`` to the function's exit label.
    """

    #: ELF relocation number -> :class:`RelocType`, for every relocation the selector records
    reloc_types: dict[int, RelocType]

    def prologue(self, cg, frame) -> None:
        """Emit the function's entry; set ``frame.frame_offset`` (native SP right after the call that
        entered the function, return address included, minus the function's BPF r10) and
        ``frame.native_stack`` (bytes of native stack the frame uses)."""

    def epilogue(self, cg, frame) -> None:
        """Emit the return: r0's native register to the native return register, restore, return."""

    def lower(self, cg, pc: int, insn, nxt) -> None:
        """Lower one BPF instruction (``nxt`` is the second slot of an lddw, else None); raise
        :class:`bpfx.Unsupported` (``cg.unsupported(pc, what)``) for what the target cannot do."""

    def move(self, cg, dst: int, src: int) -> None:
        """Copy native register ``src`` to ``dst`` (64-bit)."""

    def call(self, cg, entry: HelperEntry) -> None:
        """Call a helper by ``entry.address`` or a relocation against ``entry.symbol``."""

    def call_local(self, cg, label) -> None:
        """Call the BPF function at ``label`` (a ``("func", slot)`` label)."""

    def jump(self, cg, label) -> None:
        """Jump unconditionally to ``label``."""

    # Optional members, found with getattr:
    #   lowering_table() -> list of 256 callables (cg, pc, insn, nxt) or None: the fast path, per opcode
    #   memo_plan() -> list of 256 None or BY_INSN/BY_SELECTOR/BY_UPPER (see TableSelector.keyed), with memo (a
    #       dict, the current frame's: key -> bytes, or for a conditional jump (bytes before the branch, its forms,
    #       its first form's placeholder bytes)) and
    #       memo_key(cg, pc, insn): the driver makes a pure instruction's key, looks it up in memo itself and calls
    #       the lowering only on a miss, with the key as a fifth argument
    #   disassembler -> callable(code: bytes, address: int) -> [(address, size, text)]: listings and bench;
    #       an optional ``footer(image) -> str`` attribute closes the listing (e.g. size against a code-store limit)


#: the optional members of a selector the core looks for
SELECTOR_OPTIONAL = ("lowering_table", "memo_plan", "memo", "memo_key", "disassembler")
