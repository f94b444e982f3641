"""What the loaders produce: an Object of Programs and MapDefs.

A Program is self-contained: its instruction slots already have every
subprogram appended and every local call resolved, and each map reference is
an LD_IMM64 with ``src = Pseudo.MAP_FD`` (or ``MAP_VALUE``) whose ``imm`` is
an index into ``Program.maps``. Nothing downstream needs the ELF again.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import IntEnum

from ..errors import BpfxError
from .isa import SLOT_DTYPE, Insn

@contextmanager
def gc_paused():
    """No cyclic garbage collection inside: for passes that allocate an object or more per instruction and make no
    reference cycles worth collecting, where the collector would rescan every live object again and again (a third
    of a 1M-instruction compile, 40% of building its CFG)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


_KEEPING = False  # (keep_freed_memory has run)


def keep_freed_memory() -> None:
    """Ask the C allocator to keep the memory this process frees, for a process that compiles (the CLI does this
    first): large blocks (NumPy arrays, big lists, the code) come from the heap instead of fresh mappings, and the
    heap is not trimmed. A 1M-instruction compile makes and drops hundreds of MiB of such blocks, and every page
    mapped afresh costs a page fault (~3.6 us on the virtual machine this was measured on: 0.1-0.15 s a compile).
    Process-wide, so the library never does it by itself; nothing happens where malloc is not glibc's."""
    import ctypes
    import os

    global _KEEPING
    if _KEEPING or not hasattr(os, "confstr") or not (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
        return
    _KEEPING = True
    mallopt = ctypes.CDLL(None).mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    m_trim_threshold, m_mmap_threshold = -1, -3  # (malloc.h)
    mallopt(m_mmap_threshold, 32 << 20)  # the largest glibc takes on 64-bit
    mallopt(m_trim_threshold, (1 << 31) - 1)


class MapType(IntEnum):
    """The UAPI numbers (linux/bpf.h) of the map types the runtime implements."""

    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    LRU_HASH = 9
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13


@dataclass(frozen=True)
class MapDef:
    name: str
    type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    #: initial contents of entry 0 (global data: .rodata/.data/.bss become one-entry arrays)
    initial: bytes | None = None
    #: for PROG_ARRAY: index -> program name, from a static initialiser
    values: tuple[tuple[int, str], ...] = ()
    #: for ARRAY_OF_MAPS / HASH_OF_MAPS: the inner map's template
    inner: MapDef | None = None


@dataclass
class Program:
    name: str  # the entry function's symbol name (or the file stem)
    section: str  # SEC name, e.g. "xdp" or "tc"
    prog_type: str  # key into specs: "xdp", "sched_cls", "socket_filter", "mem", ...
    insns: list[Insn]
    file: str = "<input>"
    #: slot index -> function name; 0 is the entry, the others are bpf-to-bpf subprograms
    functions: dict[int, str] = field(default_factory=dict)
    maps: list[MapDef] = field(default_factory=list)
    license: str = ""
    #: (slot index, source line) pairs when the object carried BTF line info; else empty
    lines: list[tuple[int, str]] = field(default_factory=list)
    #: byte order of the object it came from ("big" for clang -target bpfeb); only targets of that order run it
    endian: str = "little"
    #: how the type was chosen when the section named none: "inferred sched_cls: calls bpf_skb_load_bytes", or why
    #: it could not be ("not inferred: ..."); empty when the SEC name or --prog-type gave it
    type_reason: str = ""
    #: the instruction that type_reason is about (the context access whose meaning depends on the type), if any
    type_insn: int | None = field(default=None, compare=False, repr=False)
    #: set by validate() once these instructions passed, so compiling a loaded program does not validate twice
    validated: bool = field(default=False, compare=False, repr=False)

    def arrays(self):
        """(opcode, dst, src, off, imm) as NumPy arrays, for vectorised analyses (cached per instruction list)."""
        import numpy as np

        cached = self.__dict__.get("_arrays")
        if cached is not None and cached[0] is self.insns and cached[1] == len(self.insns):
            return cached[2]
        raw = self.raw()
        a = np.frombuffer(raw, dtype=SLOT_DTYPE)
        regs = a["regs"]
        arrays = (a["op"], regs & 0xF, regs >> 4, a["off"].astype(np.int64), a["imm"].astype(np.int64))
        self.__dict__["_arrays"] = (self.insns, len(self.insns), arrays)
        return arrays

    def raw(self) -> bytes:
        """The instructions as 8-byte slots (cached per instruction list, as ``arrays``: assign a new list rather
        than change one in place once the program has been validated or run)."""
        from .isa import encode

        cached = self.__dict__.get("_raw")
        if cached is not None and cached[0] is self.insns and cached[1] == len(self.insns):
            return cached[2]
        try:
            raw = encode(self.insns)  # free for LazyInsns, which keep their bytes
        except BpfxError as err:  # a field that does not fit
            raise err.at(file=self.file, section=self.section) from None
        self.__dict__["_raw"] = (self.insns, len(self.insns), raw)
        return raw

    def __post_init__(self) -> None:
        if not self.functions:
            self.functions = {0: self.name}

    def __len__(self) -> int:
        return len(self.insns)

    def function_ranges(self) -> list[tuple[str, int, int]]:
        """(name, first slot, end slot) for each function, in slot order."""
        starts = sorted(self.functions)
        ends = starts[1:] + [len(self.insns)]
        return [(self.functions[s], s, e) for s, e in zip(starts, ends)]


@dataclass
class Object:
    file: str
    programs: list[Program]
    maps: list[MapDef] = field(default_factory=list)
    license: str = ""
    #: the ``version`` section (kernel version for old kprobe loaders), if any
    version: int | None = None
    endian: str = "little"

    def program(self, section_or_name: str | None = None) -> Program:
        """The program with that section or function name; the only one when None."""
        from ..errors import UsageError

        if section_or_name is None:
            if len(self.programs) == 1:
                return self.programs[0]
            names = ", ".join(p.section for p in self.programs)
            raise UsageError(f"{len(self.programs)} programs; choose one with --section ({names})", file=self.file)
        for prog in self.programs:
            if section_or_name in (prog.section, prog.name):
                return prog
        names = ", ".join(p.section for p in self.programs) or "none"
        raise UsageError(f"no program {section_or_name!r} (programs: {names})", file=self.file)
