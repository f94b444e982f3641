"""The one table of the eBPF instruction set (RFC 9669, ISA v4).

Everything else in bpfx (assembler, validator, interpreter, legaliser, every
selector) reads opcodes through this module: ``OPCODES[opcode]`` gives an
``OpInfo`` saying what the byte means, ``check()`` says whether the other
fields are valid for it, and ``requirement()`` gives the conformance version
and group an instruction needs.

An instruction is 8 bytes, little-endian: opcode, dst:4 | src:4, off (s16),
imm (s32). LD_IMM64 takes two slots; its second slot is an ``Insn`` with
opcode 0 that carries the upper 32 bits in ``imm``.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Sequence
from operator import itemgetter
from enum import IntEnum
from typing import NamedTuple

INSN_SIZE = 8
MAX_INSNS = 1_000_000  # the kernel's limit for a privileged program
STACK_SIZE = 512  # bytes per BPF frame
MAX_CALL_DEPTH = 8  # BPF-to-BPF frames, as the kernel allows
NREGS = 11  # r0..r10
R10 = 10  # frame pointer, read-only


class Cls(IntEnum):
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


SRC_K = 0x00  # operand is imm
SRC_X = 0x08  # operand is the src register

# ALU/ALU64 operation codes (opcode & 0xf0). 'end' is the byte-swap family.
ALU_OPS = {
    "add": 0x00, "sub": 0x10, "mul": 0x20, "div": 0x30, "or": 0x40, "and": 0x50,
    "lsh": 0x60, "rsh": 0x70, "neg": 0x80, "mod": 0x90, "xor": 0xa0, "mov": 0xb0,
    "arsh": 0xc0, "end": 0xd0,
}
# JMP/JMP32 operation codes (opcode & 0xf0).
JMP_OPS = {
    "ja": 0x00, "jeq": 0x10, "jgt": 0x20, "jge": 0x30, "jset": 0x40, "jne": 0x50,
    "jsgt": 0x60, "jsge": 0x70, "call": 0x80, "exit": 0x90, "jlt": 0xa0, "jle": 0xb0,
    "jslt": 0xc0, "jsle": 0xd0,
}
COND_JUMPS = frozenset(JMP_OPS) - {"ja", "call", "exit"}
# Load/store size codes (opcode & 0x18) and their widths in bytes.
SIZES = {"w": 0x00, "h": 0x08, "b": 0x10, "dw": 0x18}
SIZE_BYTES = {"w": 4, "h": 2, "b": 1, "dw": 8}
# Load/store modes (opcode & 0xe0).
MODES = {"imm": 0x00, "abs": 0x20, "ind": 0x40, "mem": 0x60, "memsx": 0x80, "atomic": 0xc0}
# Atomic operations (imm of STX|ATOMIC); FETCH is or-ed in. XCHG and CMPXCHG always fetch.
ATOMIC_OPS = {"add": 0x00, "or": 0x40, "and": 0x50, "xor": 0xa0, "xchg": 0xe1, "cmpxchg": 0xf1}
ATOMIC_FETCH = 0x01
ATOMIC_IMMS = frozenset(
    [v for v in ATOMIC_OPS.values()] + [v | ATOMIC_FETCH for k, v in ATOMIC_OPS.items() if k not in ("xchg", "cmpxchg")]
)
# MOV with off != 0 is a sign-extending move (cpu v4); DIV/MOD with off 1 are signed.
MOVSX_OFFS_ALU64 = (8, 16, 32)
MOVSX_OFFS_ALU32 = (8, 16)
ENDIAN_WIDTHS = (16, 32, 64)


class Pseudo(IntEnum):
    """src field of LD_IMM64: what the 64-bit immediate means."""

    IMM64 = 0
    MAP_FD = 1
    MAP_VALUE = 2  # map fd in imm, offset into the value in the next slot's imm
    BTF_ID = 3
    FUNC = 4  # address of a subprogram: imm is relative to the next instruction
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


class CallKind(IntEnum):
    """src field of JMP|CALL."""

    HELPER = 0
    LOCAL = 1  # bpf-to-bpf call, imm = target - (pc + 1)
    KFUNC = 2


class Kind(IntEnum):
    """What an opcode byte does; the key every 256-entry dispatch table is built from."""

    ALU = 1  # ALU/ALU64 arithmetic, logic, shifts, mov, neg
    ENDIAN = 2  # le/be (ALU class) and bswap (ALU64 class)
    JA = 3  # JMP|JA (off) and JMP32|JA = gotol (imm)
    JCOND = 4
    CALL = 5
    CALLX = 6  # call through a register (number in dst)
    EXIT = 7
    LDX = 8
    LDXSX = 9  # sign-extending load (MEMSX)
    ST = 10
    STX = 11
    ATOMIC = 12
    LD_IMM64 = 13
    LD_ABS = 14  # legacy packet access, decoded but rejected by the validator
    LD_IND = 15


class OpInfo(NamedTuple):
    kind: Kind
    cls: Cls
    op: str  # ALU/JMP op name, 'end', or '' for memory instructions
    src_reg: bool  # operand comes from the src register (X form)
    size: int  # access width in bytes for memory instructions, else 0
    is64: bool  # ALU64 / JMP (64-bit compare) / 8-byte access


def _build_opcodes() -> list[OpInfo | None]:
    table: list[OpInfo | None] = [None] * 256
    for cls in (Cls.ALU, Cls.ALU64):
        for name, code in ALU_OPS.items():
            for src in (SRC_K, SRC_X):
                kind = Kind.ENDIAN if name == "end" else Kind.ALU
                if name == "neg" and src == SRC_X:
                    continue
                if name == "end" and cls == Cls.ALU64 and src == SRC_X:
                    continue
                table[cls | src | code] = OpInfo(kind, cls, name, src == SRC_X, 0, cls == Cls.ALU64)
    for cls in (Cls.JMP, Cls.JMP32):
        for name, code in JMP_OPS.items():
            for src in (SRC_K, SRC_X):
                if name in COND_JUMPS:
                    kind = Kind.JCOND
                elif cls == Cls.JMP32 and name != "ja":
                    continue  # JMP32 has no call or exit
                elif src == SRC_X and name != "call":
                    continue
                elif name == "ja":
                    kind = Kind.JA
                elif name == "call":
                    kind = Kind.CALLX if src == SRC_X else Kind.CALL
                else:
                    kind = Kind.EXIT
                table[cls | src | code] = OpInfo(kind, cls, name, src == SRC_X, 0, cls == Cls.JMP)
    for sname, scode in SIZES.items():
        nbytes = SIZE_BYTES[sname]
        table[Cls.LDX | MODES["mem"] | scode] = OpInfo(Kind.LDX, Cls.LDX, "", True, nbytes, nbytes == 8)
        table[Cls.ST | MODES["mem"] | scode] = OpInfo(Kind.ST, Cls.ST, "", False, nbytes, nbytes == 8)
        table[Cls.STX | MODES["mem"] | scode] = OpInfo(Kind.STX, Cls.STX, "", True, nbytes, nbytes == 8)
        if sname != "dw":
            table[Cls.LDX | MODES["memsx"] | scode] = OpInfo(Kind.LDXSX, Cls.LDX, "", True, nbytes, False)
            table[Cls.LD | MODES["abs"] | scode] = OpInfo(Kind.LD_ABS, Cls.LD, "", False, nbytes, False)
            table[Cls.LD | MODES["ind"] | scode] = OpInfo(Kind.LD_IND, Cls.LD, "", True, nbytes, False)
        if sname in ("w", "dw"):
            table[Cls.STX | MODES["atomic"] | scode] = OpInfo(Kind.ATOMIC, Cls.STX, "", True, nbytes, nbytes == 8)
    table[Cls.LD | MODES["imm"] | SIZES["dw"]] = OpInfo(Kind.LD_IMM64, Cls.LD, "", False, 8, True)
    return table


#: opcode byte -> OpInfo, or None for an opcode that does not exist.
OPCODES: list[OpInfo | None] = _build_opcodes()

LD_IMM64 = Cls.LD | MODES["imm"] | SIZES["dw"]  # 0x18
CALL = Cls.JMP | JMP_OPS["call"]  # 0x85
EXIT = Cls.JMP | JMP_OPS["exit"]  # 0x95


class Insn(NamedTuple):
    """One 8-byte instruction slot. A NamedTuple rather than a dataclass: immutable,
    unpackable, and about three times cheaper to build, which matters at 1M instructions."""

    opcode: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    @property
    def info(self) -> OpInfo | None:
        return OPCODES[self.opcode]

    def encode(self) -> bytes:
        return _PACK(self.opcode, (self.src << 4) | self.dst, self.off, self.imm)


_STRUCT = struct.Struct("<BBhi")
_PACK = _STRUCT.pack
#: the same slot as a NumPy structured dtype (regs: dst in the low nibble, src in the high one); viewed as "<u8",
#: a slot's 8 bytes as one little-endian int
SLOT_DTYPE = [("op", "u1"), ("regs", "u1"), ("off", "<i2"), ("imm", "<i4")]


def decode(data: bytes | bytearray | memoryview) -> list[Insn]:
    """Bytes -> instruction slots. The length must be a multiple of 8 (the loader checks)."""
    make = Insn
    return [make(op, regs & 0xF, regs >> 4, off, imm) for op, regs, off, imm in _STRUCT.iter_unpack(data)]


class LazyInsns(Sequence):
    """Instruction slots decoded on first use: loading and validating a large program (which work on NumPy
    arrays of the raw bytes) never pays for a million Insn objects unless something indexes them."""

    __slots__ = ("raw", "_list")

    def __init__(self, raw: bytes):
        self.raw = bytes(raw)
        self._list: list[Insn] | None = None

    def _items(self) -> list[Insn]:
        if self._list is None:
            self._list = decode(self.raw)
        return self._list

    def __len__(self) -> int:
        return len(self.raw) // INSN_SIZE

    def __getitem__(self, index):
        return self._items()[index]

    def __iter__(self):
        return iter(self._items())

    def __eq__(self, other) -> bool:
        return list(self) == list(other)

    def __repr__(self) -> str:
        return f"LazyInsns({len(self)} slots)"


def encode(insns: list[Insn] | tuple[Insn, ...]) -> bytes:
    """Instruction slots -> 8 bytes each; a field that does not fit (or is no int) raises ValidationError naming
    its slot. Field by field (a C-level pass per field, then NumPy puts them together): a million slots in a
    fraction of the time an Insn-by-Insn pack takes."""
    import numpy as np

    from ..errors import ValidationError

    if isinstance(insns, LazyInsns):
        return insns.raw
    try:
        op, dst, src = (bytes(map(itemgetter(k), insns)) for k in range(3))
        off, imm = array("h", map(itemgetter(3), insns)), array("i", map(itemgetter(4), insns))
        dst_field, src_field = np.frombuffer(dst, dtype=np.uint8), np.frombuffer(src, dtype=np.uint8)
        if len(insns) and max(dst_field.max(), src_field.max()) > 15:
            raise ValueError
        regs = dst_field | src_field << 4
    except (TypeError, ValueError, OverflowError):
        for pc, insn in enumerate(insns):
            for name, value, bits in zip(("opcode", "dst", "src", "off", "imm"), insn, (8, 4, 4, -16, -32)):
                low, high = (0, (1 << bits) - 1) if bits > 0 else (-(1 << (-bits - 1)), (1 << (-bits - 1)) - 1)
                if not isinstance(value, int) or not low <= value <= high:
                    raise ValidationError(f"{name} {value!r} does not fit the instruction's {abs(bits)}-bit "
                                          f"{'signed ' if bits < 0 else ''}field", insn=pc) from None
        raise
    out = np.empty(len(insns), dtype=SLOT_DTYPE)
    out["op"] = np.frombuffer(op, dtype=np.uint8)
    out["regs"] = regs
    out["off"] = np.frombuffer(off, dtype=np.int16)
    out["imm"] = np.frombuffer(imm, dtype=np.int32)
    return out.tobytes()


def ld_imm64(dst: int, value: int, src: int = Pseudo.IMM64) -> tuple[Insn, Insn]:
    """The two slots of LD_IMM64 for a 64-bit value (taken modulo 2**64)."""
    value &= (1 << 64) - 1
    lo, hi = value & 0xFFFFFFFF, value >> 32
    return (Insn(LD_IMM64, dst, src, 0, s32(lo)), Insn(0, 0, 0, 0, s32(hi)))


def imm64(first: Insn, second: Insn) -> int:
    """The unsigned 64-bit value an LD_IMM64 pair loads."""
    return (first.imm & 0xFFFFFFFF) | ((second.imm & 0xFFFFFFFF) << 32)


def s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def s16(x: int) -> int:
    x &= 0xFFFF
    return x - (1 << 16) if x & 0x8000 else x


def jump_target(pc: int, insn: Insn) -> int | None:
    """Slot index control may go to from a jump, gotol or local call at ``pc``; None otherwise."""
    field = TARGET_FIELD[insn[0]]
    if field == TARGET_IN_OFF:
        return pc + 1 + insn[3]
    if field == TARGET_IN_IMM or (field == TARGET_IN_IMM_IF_LOCAL and insn[2] == CallKind.LOCAL):
        return pc + 1 + insn[4]
    return None


def _target_field(info: OpInfo | None) -> int:
    if info is None:
        return 0
    if info.kind == Kind.JCOND or (info.kind == Kind.JA and info.cls != Cls.JMP32):
        return TARGET_IN_OFF
    if info.kind == Kind.JA:  # gotol
        return TARGET_IN_IMM
    return TARGET_IN_IMM_IF_LOCAL if info.kind == Kind.CALL else 0


# where jump_target finds an opcode's offset (asked for every jump of every pass: a table, not a chain of tests;
# the legaliser's vectorised passes index it with whole opcode arrays)
TARGET_IN_OFF, TARGET_IN_IMM, TARGET_IN_IMM_IF_LOCAL = 1, 2, 3  # (the last: a call, when src is CallKind.LOCAL)
TARGET_FIELD = [_target_field(info) for info in OPCODES]


def uses_src_reg(info: OpInfo) -> bool:
    """Whether the src field names a register (rather than being zero or a sub-opcode)."""
    return info.src_reg and info.kind not in (Kind.CALLX, Kind.ENDIAN)


_CALL_KINDS = frozenset(CallKind)
_PSEUDOS = frozenset(Pseudo)


def check(insn: Insn, nxt: Insn | None = None) -> str | None:
    """Why ``insn`` is not a valid instruction, or None when it is.

    ``nxt`` is the following slot (needed for LD_IMM64). Register numbers are
    checked here; what the registers are used for (r10 writes) is the
    validator's business.
    """
    info = OPCODES[insn.opcode]
    if info is None:
        return f"unknown opcode 0x{insn.opcode:02x}"
    kind = info.kind
    if insn.dst >= NREGS:
        return f"bad register r{insn.dst}"
    if uses_src_reg(info) and insn.src >= NREGS:
        return f"bad register r{insn.src}"
    if kind == Kind.ALU:
        if info.op in ("div", "mod"):
            if insn.off not in (0, 1):
                return f"{info.op} with offset {insn.off} (must be 0 or 1)"
        elif info.op == "mov" and insn.off:
            allowed = MOVSX_OFFS_ALU64 if info.is64 else MOVSX_OFFS_ALU32
            if not info.src_reg or insn.off not in allowed:
                return f"mov with offset {insn.off} is not a valid movsx"
        elif insn.off:
            return f"nonzero offset {insn.off} in an ALU instruction"
        if info.src_reg and insn.imm:
            return "nonzero imm in a register-operand ALU instruction"
        if info.op == "neg" and insn.imm:
            return "nonzero imm in neg"
        if not info.src_reg and insn.src:
            return "nonzero src in an immediate-operand ALU instruction"
    elif kind == Kind.ENDIAN:
        if insn.imm not in ENDIAN_WIDTHS:
            return f"byte swap width {insn.imm} (must be 16, 32 or 64)"
        if insn.src or insn.off:
            return "nonzero src or offset in a byte swap"
    elif kind == Kind.JA:
        if insn.dst or insn.src:
            return "nonzero register in ja"
        if info.cls == Cls.JMP32 and insn.off:
            return "nonzero offset in gotol"
        if info.cls == Cls.JMP and insn.imm:
            return "nonzero imm in ja"
    elif kind == Kind.JCOND:
        if info.src_reg and insn.imm:
            return "nonzero imm in a register-operand jump"
        if not info.src_reg and insn.src:
            return "nonzero src in an immediate-operand jump"
    elif kind == Kind.CALL:
        if insn.src not in _CALL_KINDS:
            return f"call with unknown src {insn.src}"
        if insn.dst or insn.off:
            return "nonzero dst or offset in call"
    elif kind == Kind.CALLX:
        if insn.src or insn.off or insn.imm:
            return "callx takes only a register in dst"
    elif kind == Kind.EXIT:
        if insn.dst or insn.src or insn.off or insn.imm:
            return "nonzero field in exit"
    elif kind in (Kind.LDX, Kind.LDXSX):
        if insn.imm:
            return "nonzero imm in a load"
    elif kind == Kind.ST:
        if insn.src:
            return "nonzero src in a store of an immediate"
    elif kind == Kind.STX:
        if insn.imm:
            return "nonzero imm in a register store"
    elif kind == Kind.ATOMIC:
        if insn.imm not in ATOMIC_IMMS:
            return f"unknown atomic operation 0x{insn.imm & 0xffffffff:x}"
    elif kind == Kind.LD_IMM64:
        if insn.src not in _PSEUDOS:
            return f"lddw with unknown src {insn.src}"
        if insn.off:
            return "nonzero offset in lddw"
        if nxt is None:
            return "lddw is missing its second slot"
        if nxt.opcode or nxt.dst or nxt.src or nxt.off:
            return "second slot of lddw must be zero but for imm"
    return None


# Conformance gating: (minimum cpu version, group) per instruction, as bpf_conformance assigns them.
GROUPS = ("base32", "base64", "atomic32", "atomic64", "divmul32", "divmul64", "callx", "packet")


def requirement(insn: Insn) -> tuple[int, str]:
    """The (cpu version, conformance group) an instruction needs."""
    info = OPCODES[insn.opcode]
    if info is None:
        return (1, "base32")
    kind, cls, op = info.kind, info.cls, info.op
    if kind in (Kind.LD_ABS, Kind.LD_IND):
        return (1, "packet")
    if kind == Kind.CALLX:
        return (1, "callx")
    if kind == Kind.ATOMIC:
        return (3, "atomic64" if info.is64 else "atomic32")
    if kind == Kind.LDXSX:
        return (4, "base32")
    if kind == Kind.ENDIAN:
        version = 4 if cls == Cls.ALU64 else 1
        return (version, "base64" if insn.imm == 64 else "base32")
    if kind == Kind.ALU:
        wide = cls == Cls.ALU64
        if op in ("mul", "div", "mod"):
            version = 4 if insn.off else 1
            return (version, "divmul64" if wide else "divmul32")
        if op == "mov" and insn.off:
            return (4, "base64" if wide else "base32")
        return (1, "base64" if wide else "base32")
    if cls == Cls.JMP32:
        return (4 if kind == Kind.JA else 3, "base32")
    if kind == Kind.JCOND:
        version = 2 if op in ("jlt", "jle", "jslt", "jsle") else 1
        return (version, "base64")
    if kind == Kind.CALL:
        return (3 if insn.src else 1, "base32")
    if kind in (Kind.LDX, Kind.ST, Kind.STX):
        return (1, "base64" if info.size == 8 else "base32")
    return (1, "base64" if kind in (Kind.LD_IMM64, Kind.JA) else "base32")
