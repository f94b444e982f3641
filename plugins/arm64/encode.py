"""Bit-exact A64 encoders, named after the Arm ARM's encoding classes.

Every function returns one 32-bit instruction word. Register 31 means SP or
XZR as the class defines; fields are range-checked (ValueError).
"""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache

SP = XZR = 31


class Cond(IntEnum):
    EQ = 0
    NE = 1
    HS = 2
    LO = 3
    MI = 4
    PL = 5
    VS = 6
    VC = 7
    HI = 8
    LS = 9
    GE = 10
    LT = 11
    GT = 12
    LE = 13
    AL = 14


def _u(value: int, bits: int, what: str) -> int:
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{what} {value} does not fit in {bits} unsigned bits")
    return value


def _s(value: int, bits: int, what: str) -> int:
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise ValueError(f"{what} {value} does not fit in {bits} signed bits")
    return value & ((1 << bits) - 1)


def _reg(r: int) -> int:
    return _u(r, 5, "register")


def _regs(*regs: int) -> None:
    """Range-check several register fields at once (the hot encoders call this once, not per field)."""
    for r in regs:
        if r >> 5 or r < 0:
            _u(r, 5, "register")


# -- Data processing, immediate: add/sub (immediate) -----------------------------------------------------------
ADD_SUB_IMM = 0b100010 << 23


def add_sub_imm(sf: int, op: int, s: int, rd: int, rn: int, imm12: int, shift12: int = 0) -> int:
    return (sf << 31 | op << 30 | s << 29 | ADD_SUB_IMM | shift12 << 22 | _u(imm12, 12, "imm12") << 10
            | _reg(rn) << 5 | _reg(rd))


def _imm12(imm: int) -> tuple[int, int]:
    if 0 <= imm < 4096:
        return imm, 0
    if imm & 0xFFF == 0 and 0 <= imm >> 12 < 4096:
        return imm >> 12, 1
    raise ValueError(f"immediate {imm} is not an add/sub immediate")


def add_imm(sf: int, rd: int, rn: int, imm: int) -> int:
    return add_sub_imm(sf, 0, 0, rd, rn, *_imm12(imm))


def sub_imm(sf: int, rd: int, rn: int, imm: int) -> int:
    return add_sub_imm(sf, 1, 0, rd, rn, *_imm12(imm))


def cmp_imm(sf: int, rn: int, imm: int) -> int:
    return add_sub_imm(sf, 1, 1, XZR, rn, *_imm12(imm))


def cmn_imm(sf: int, rn: int, imm: int) -> int:
    return add_sub_imm(sf, 0, 1, XZR, rn, *_imm12(imm))


def mov_sp(rd: int, rn: int) -> int:
    """mov to or from SP (add rd, rn, #0)."""
    return add_sub_imm(1, 0, 0, rd, rn, 0)


# -- Data processing, immediate: logical (immediate) -------------------------------------------------------------
LOGICAL_IMM = 0b100100 << 23


@lru_cache(maxsize=4096)
def encode_bitmask_imm(value: int, width: int) -> tuple[int, int, int] | None:
    """(N, immr, imms) for a logical immediate of ``width`` bits, or None when it has no such encoding.

    A logical immediate is a rotated run of ones in an element of 2, 4, ... 64 bits, repeated."""
    mask = (1 << width) - 1
    value &= mask
    if value in (0, mask):
        return None
    size = width
    while size > 2:  # the smallest repeating element
        half = size >> 1
        low = (1 << half) - 1
        if value & low != (value >> half) & low:
            break
        size = half
    emask = (1 << size) - 1
    elem = value & emask
    wraps = elem & 1 and elem >> (size - 1)
    run = (~elem & emask) if wraps else elem  # the zeros run when the ones wrap around
    low_bit = run & -run
    if (run + low_bit) & run:
        return None  # not one contiguous run
    start, length = low_bit.bit_length() - 1, run.bit_length() - (low_bit.bit_length() - 1)
    if wraps:  # ones start right after the zeros run and have size - zeros bits
        start, length = (start + length) % size, size - length
    n = 1 if size == 64 else 0
    imms = ((~(size - 1) << 1) & 0x3F) | (length - 1)
    return n, (size - start) % size, imms


def logical_imm(sf: int, opc: int, rd: int, rn: int, value: int) -> int:
    enc = encode_bitmask_imm(value, 64 if sf else 32)
    if enc is None:
        raise ValueError(f"0x{value:x} is not a logical immediate")
    n, immr, imms = enc
    return sf << 31 | opc << 29 | LOGICAL_IMM | n << 22 | immr << 16 | imms << 10 | _reg(rn) << 5 | _reg(rd)


def and_imm(sf, rd, rn, value):
    return logical_imm(sf, 0b00, rd, rn, value)


def orr_imm(sf, rd, rn, value):
    return logical_imm(sf, 0b01, rd, rn, value)


def eor_imm(sf, rd, rn, value):
    return logical_imm(sf, 0b10, rd, rn, value)


def tst_imm(sf, rn, value):
    return logical_imm(sf, 0b11, XZR, rn, value)


# -- Data processing, immediate: move wide -----------------------------------------------------------------------
MOVE_WIDE = 0b100101 << 23


def move_wide(sf: int, opc: int, rd: int, imm16: int, hw: int) -> int:
    if hw >= (2 if sf == 0 else 4) or hw < 0:
        raise ValueError(f"hw {hw} too large for a {'64' if sf else '32'}-bit move")
    if imm16 >> 16 or imm16 < 0:
        _u(imm16, 16, "imm16")
    _regs(rd)
    return sf << 31 | opc << 29 | MOVE_WIDE | hw << 21 | imm16 << 5 | rd


def movn(sf, rd, imm16, hw=0):
    return move_wide(sf, 0b00, rd, imm16, hw)


def movz(sf, rd, imm16, hw=0):
    return move_wide(sf, 0b10, rd, imm16, hw)


def movk(sf, rd, imm16, hw=0):
    return move_wide(sf, 0b11, rd, imm16, hw)


# -- Data processing, immediate: bitfield ------------------------------------------------------------------------
BITFIELD = 0b100110 << 23


def bitfield(sf: int, opc: int, rd: int, rn: int, immr: int, imms: int) -> int:
    limit = 64 if sf else 32
    if not (0 <= immr < limit and 0 <= imms < limit):
        raise ValueError("bitfield immr/imms out of range")
    return sf << 31 | opc << 29 | BITFIELD | sf << 22 | immr << 16 | imms << 10 | _reg(rn) << 5 | _reg(rd)


def sbfm(sf, rd, rn, immr, imms):
    return bitfield(sf, 0b00, rd, rn, immr, imms)


def ubfm(sf, rd, rn, immr, imms):
    return bitfield(sf, 0b10, rd, rn, immr, imms)


def sxtb(sf, rd, rn):
    return sbfm(sf, rd, rn, 0, 7)


def sxth(sf, rd, rn):
    return sbfm(sf, rd, rn, 0, 15)


def sxtw(sf, rd, rn):
    return sbfm(1, rd, rn, 0, 31)


def uxth(rd, rn):
    return ubfm(0, rd, rn, 0, 15)


def lsl_imm(sf, rd, rn, shift):
    width = 64 if sf else 32
    return ubfm(sf, rd, rn, (-shift) % width, width - 1 - shift)


def lsr_imm(sf, rd, rn, shift):
    return ubfm(sf, rd, rn, shift, (64 if sf else 32) - 1)


def asr_imm(sf, rd, rn, shift):
    return sbfm(sf, rd, rn, shift, (64 if sf else 32) - 1)


# -- Data processing, register -----------------------------------------------------------------------------------
ADD_SUB_SHIFTED = 0b01011 << 24
LOGICAL_SHIFTED = 0b01010 << 24
DP_2SRC = 0b11010110 << 21
DP_1SRC = 1 << 30 | 0b11010110 << 21
DP_3SRC = 0b11011 << 24


def add_sub_shifted_reg(sf, op, s, rd, rn, rm, shift=0, amount=0):
    _regs(rd, rn, rm)
    return (sf << 31 | op << 30 | s << 29 | ADD_SUB_SHIFTED | shift << 22 | rm << 16
            | _u(amount, 6, "shift amount") << 10 | rn << 5 | rd)


def logical_shifted_reg(sf, opc, n, rd, rn, rm, shift=0, amount=0):
    _regs(rd, rn, rm)
    return (sf << 31 | opc << 29 | LOGICAL_SHIFTED | shift << 22 | n << 21 | rm << 16
            | _u(amount, 6, "shift amount") << 10 | rn << 5 | rd)


def add_reg(sf, rd, rn, rm):
    return add_sub_shifted_reg(sf, 0, 0, rd, rn, rm)


def sub_reg(sf, rd, rn, rm):
    return add_sub_shifted_reg(sf, 1, 0, rd, rn, rm)


def cmp_reg(sf, rn, rm):
    return add_sub_shifted_reg(sf, 1, 1, XZR, rn, rm)


def and_reg(sf, rd, rn, rm):
    return logical_shifted_reg(sf, 0b00, 0, rd, rn, rm)


def orr_reg(sf, rd, rn, rm):
    return logical_shifted_reg(sf, 0b01, 0, rd, rn, rm)


def eor_reg(sf, rd, rn, rm):
    return logical_shifted_reg(sf, 0b10, 0, rd, rn, rm)


def tst_reg(sf, rn, rm):
    return logical_shifted_reg(sf, 0b11, 0, XZR, rn, rm)


def mov_reg(sf, rd, rm):
    return orr_reg(sf, rd, XZR, rm)


def mvn(sf, rd, rm):
    return logical_shifted_reg(sf, 0b01, 1, rd, XZR, rm)


def data_proc_2src(sf, opcode, rd, rn, rm):
    _regs(rd, rn, rm)
    return sf << 31 | DP_2SRC | rm << 16 | opcode << 10 | rn << 5 | rd


def udiv(sf, rd, rn, rm):
    return data_proc_2src(sf, 0b000010, rd, rn, rm)


def sdiv(sf, rd, rn, rm):
    return data_proc_2src(sf, 0b000011, rd, rn, rm)


def lslv(sf, rd, rn, rm):
    return data_proc_2src(sf, 0b001000, rd, rn, rm)


def lsrv(sf, rd, rn, rm):
    return data_proc_2src(sf, 0b001001, rd, rn, rm)


def asrv(sf, rd, rn, rm):
    return data_proc_2src(sf, 0b001010, rd, rn, rm)


def data_proc_1src(sf, opcode, rd, rn):
    return sf << 31 | DP_1SRC | opcode << 10 | _reg(rn) << 5 | _reg(rd)


def rev16(sf, rd, rn):
    return data_proc_1src(sf, 0b000001, rd, rn)


def rev(sf, rd, rn):
    """REV: reverse all bytes of a W (sf=0) or X (sf=1) register."""
    return data_proc_1src(sf, 0b000011 if sf else 0b000010, rd, rn)


def data_proc_3src(sf, o0, rd, rn, rm, ra):
    return sf << 31 | DP_3SRC | _reg(rm) << 16 | o0 << 15 | _reg(ra) << 10 | _reg(rn) << 5 | _reg(rd)


def madd(sf, rd, rn, rm, ra):
    return data_proc_3src(sf, 0, rd, rn, rm, ra)


def msub(sf, rd, rn, rm, ra):
    return data_proc_3src(sf, 1, rd, rn, rm, ra)


# -- Branches ----------------------------------------------------------------------------------------------------
def b_cond(cond: int, imm19: int) -> int:
    return 0x54000000 | _s(imm19, 19, "imm19") << 5 | cond


def b(imm26: int) -> int:
    return 0x14000000 | _s(imm26, 26, "imm26")


def bl(imm26: int) -> int:
    return 0x94000000 | _s(imm26, 26, "imm26")


def br(rn: int) -> int:
    return 0xD61F0000 | _reg(rn) << 5


def blr(rn: int) -> int:
    return 0xD63F0000 | _reg(rn) << 5


def ret(rn: int = 30) -> int:
    return 0xD65F0000 | _reg(rn) << 5


def compare_branch(sf: int, op: int, rt: int, imm19: int) -> int:
    return sf << 31 | 0b011010 << 25 | op << 24 | _s(imm19, 19, "imm19") << 5 | _reg(rt)


def cbz(sf, rt, imm19):
    return compare_branch(sf, 0, rt, imm19)


def cbnz(sf, rt, imm19):
    return compare_branch(sf, 1, rt, imm19)


# -- Loads and stores --------------------------------------------------------------------------------------------
# opc for each kind of access; "ldrs" sign-extends into an X register
LDST_OPC = {"str": 0b00, "ldr": 0b01, "ldrs": 0b10}


def ldst_unsigned_imm(size: int, opc: int, rt: int, rn: int, imm12: int) -> int:
    _regs(rt, rn)
    return size << 30 | 0b111001 << 24 | opc << 22 | _u(imm12, 12, "scaled offset") << 10 | rn << 5 | rt


def ldst_unscaled(size: int, opc: int, rt: int, rn: int, imm9: int) -> int:
    return size << 30 | 0b111000 << 24 | opc << 22 | _s(imm9, 9, "offset") << 12 | _reg(rn) << 5 | _reg(rt)


def ldst_reg(size: int, opc: int, rt: int, rn: int, rm: int) -> int:
    """[rn, rm] (option LSL #0)."""
    return (size << 30 | 0b111000 << 24 | opc << 22 | 1 << 21 | _reg(rm) << 16 | 0b011 << 13 | 0b10 << 10
            | _reg(rn) << 5 | _reg(rt))


def _bind(fn, opc):
    return lambda size, rt, rn, x: fn(size, opc, rt, rn, x)


LDST_IMM = {k: _bind(ldst_unsigned_imm, v) for k, v in LDST_OPC.items()}
LDST_UNSCALED = {k: _bind(ldst_unscaled, v) for k, v in LDST_OPC.items()}
LDST_REG = {k: _bind(ldst_reg, v) for k, v in LDST_OPC.items()}


def ldst_pair(opc: int, mode: int, load: int, rt: int, rt2: int, rn: int, offset: int) -> int:
    """LDP/STP; mode 0b01 post-index, 0b10 signed offset, 0b11 pre-index; 64-bit offset in bytes."""
    if offset % 8:
        raise ValueError("pair offset must be a multiple of 8")
    return (opc << 30 | 0b101 << 27 | mode << 23 | load << 22 | _s(offset // 8, 7, "pair offset") << 15
            | _reg(rt2) << 10 | _reg(rn) << 5 | _reg(rt))


def stp_pre(sf, rt, rt2, rn, offset):
    return ldst_pair(0b10 if sf else 0b00, 0b11, 0, rt, rt2, rn, offset)


def ldp_post(sf, rt, rt2, rn, offset):
    return ldst_pair(0b10 if sf else 0b00, 0b01, 1, rt, rt2, rn, offset)


# -- Atomics (LSE) and exclusives --------------------------------------------------------------------------------
def atomic_memory(size, a, r, rs, o3, opc, rn, rt):
    return (size << 30 | 0b111000 << 24 | a << 23 | r << 22 | 1 << 21 | _reg(rs) << 16 | o3 << 15 | opc << 12
            | _reg(rn) << 5 | _reg(rt))


def _lse(opc, o3=0):
    def enc(size, rs, rt, rn, *, acquire=False, release=False):
        return atomic_memory(size, int(acquire), int(release), rs, o3, opc, rn, rt)
    return enc


ldadd = _lse(0b000)
ldclr = _lse(0b001)
ldeor = _lse(0b010)
ldset = _lse(0b011)
swp = _lse(0b000, o3=1)


def swpal(size, rs, rt, rn):
    return swp(size, rs, rt, rn, acquire=True, release=True)


def casal(size, rs, rt, rn):
    """CASAL: compare rs with [rn], store rt if equal; rs receives the old value."""
    return size << 30 | 0b001000 << 24 | 1 << 23 | 1 << 22 | 1 << 21 | _reg(rs) << 16 | 1 << 15 | 0x1F << 10 \
        | _reg(rn) << 5 | _reg(rt)


def ldaxr(size, rt, rn):
    return size << 30 | 0b001000 << 24 | 1 << 22 | 0x1F << 16 | 1 << 15 | 0x1F << 10 | _reg(rn) << 5 | _reg(rt)


def stlxr(size, rs, rt, rn):
    return size << 30 | 0b001000 << 24 | _reg(rs) << 16 | 1 << 15 | 0x1F << 10 | _reg(rn) << 5 | _reg(rt)


def dmb_ish() -> int:
    return 0xD5033BBF


def nop() -> int:
    return 0xD503201F


def hvc(imm16: int) -> int:
    return 0xD4000002 | _u(imm16, 16, "imm16") << 5
