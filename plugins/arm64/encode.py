"""Bit-exact A64 encoders, named after the Arm ARM's encoding classes (section C4.1, "A64 instruction set encoding").

Every function returns one 32-bit instruction word (an int). Each class has one general encoder taking the
class's fields (``add_sub_imm(sf, op, s, rd, rn, imm12, shift12)``) and thin aliases named after the
assembler mnemonics (``add_imm``, ``cmp_imm``, ...). Registers are ints 0..31; register 31 means SP or XZR/WZR
as the class defines (noted per class). ``sf`` selects the W (0) or X (1) form. Loads and stores take ``size``
as log2 of the access width (B=0, H=1, W=2, X=3). Branch offsets count instructions, load/store and adr
offsets count bytes. Every field is range-checked: a value that does not fit raises ValueError naming it.
"""

from __future__ import annotations

from bpfx import fields

from enum import IntEnum
from functools import lru_cache

# Register 31 is SP in address and add/sub-immediate operands, the zero register elsewhere.
SP = XZR = WZR = 31
FP, LR = 29, 30
# load/store access sizes (the `size` field: log2 of the width in bytes)
B, H, W, X = 0, 1, 2, 3


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


def invert(cond: int) -> Cond:
    """The opposite condition (EQ <-> NE, ...); AL has none."""
    if not 0 <= cond < Cond.AL:
        raise ValueError(f"condition {cond} has no inverse")
    return Cond(cond ^ 1)


# -- field checks ------------------------------------------------------------------------------------------------
_u, _s = fields.unsigned, fields.signed


def _reg(r: int) -> int:
    return _u(r, 5, "register")


def _regs(*regs: int) -> None:
    """Range-check several register fields at once (the hot encoders call this once, not per field)."""
    for r in regs:
        if r >> 5 or r < 0:
            _u(r, 5, "register")


def _bits(**fields: int) -> None:
    """Check one-bit fields (sf, op, S, ...)."""
    for name, v in fields.items():
        if v not in (0, 1):
            raise ValueError(f"{name} {v} must be 0 or 1")


def _scaled(offset: int, scale: int, bits: int, what: str, signed: bool) -> int:
    """A byte offset as a field counting ``scale``-byte units."""
    if offset % scale:
        raise ValueError(f"{what} {offset} is not a multiple of {scale}")
    return _s(offset // scale, bits, what) if signed else _u(offset // scale, bits, what)


def _width(sf: int) -> int:
    _bits(sf=sf)
    return 64 if sf else 32


# -- Data processing, immediate: add/sub (immediate); rd is SP unless S=1 (then XZR), rn is SP ----------------------
ADD_SUB_IMM = 0b100010 << 23


def add_sub_imm(sf: int, op: int, s: int, rd: int, rn: int, imm12: int, shift12: int = 0) -> int:
    if (sf | op | s | shift12) >> 1:
        _bits(sf=sf, op=op, S=s, shift12=shift12)
    return (sf << 31 | op << 30 | s << 29 | ADD_SUB_IMM | shift12 << 22 | _u(imm12, 12, "imm12") << 10
            | _reg(rn) << 5 | _reg(rd))


def _imm12(imm: int) -> tuple[int, int]:
    """A byte count as (imm12, shift12): 0..4095, or a multiple of 4096 up to 4095 << 12."""
    if 0 <= imm < 4096:
        return imm, 0
    if imm & 0xFFF == 0 and 0 <= imm >> 12 < 4096:
        return imm >> 12, 1
    raise ValueError(f"immediate {imm} is not an add/sub immediate (0..4095, optionally shifted left by 12)")


def add_imm(sf, rd, rn, imm):
    return add_sub_imm(sf, 0, 0, rd, rn, *_imm12(imm))


def adds_imm(sf, rd, rn, imm):
    return add_sub_imm(sf, 0, 1, rd, rn, *_imm12(imm))


def sub_imm(sf, rd, rn, imm):
    return add_sub_imm(sf, 1, 0, rd, rn, *_imm12(imm))


def subs_imm(sf, rd, rn, imm):
    return add_sub_imm(sf, 1, 1, rd, rn, *_imm12(imm))


def cmp_imm(sf, rn, imm):
    return add_sub_imm(sf, 1, 1, XZR, rn, *_imm12(imm))


def cmn_imm(sf, rn, imm):
    return add_sub_imm(sf, 0, 1, XZR, rn, *_imm12(imm))


def mov_sp(rd: int, rn: int) -> int:
    """mov to or from SP (add rd, rn, #0): the one move that reads or writes SP."""
    return add_sub_imm(1, 0, 0, rd, rn, 0)


# -- Data processing, immediate: logical (immediate); rd is SP unless opc=ANDS (then XZR), rn is XZR ---------------
LOGICAL_IMM = 0b100100 << 23
AND, ORR, EOR, ANDS = 0b00, 0b01, 0b10, 0b11  # opc, shared with logical (shifted register)


@lru_cache(maxsize=4096)
def encode_bitmask_imm(value: int, width: int) -> tuple[int, int, int] | None:
    """(N, immr, imms) for a logical immediate of ``width`` (32 or 64) bits, or None when it has no encoding.

    A logical immediate is an element of 2, 4, ... 64 bits holding one rotated run of ones, repeated to fill
    the width; all-zeros and all-ones are not encodable. Negative values are taken as two's complement; a value
    that does not fit in ``width`` bits has no encoding."""
    if width not in (32, 64):
        raise ValueError(f"bitmask immediate width {width} must be 32 or 64")
    mask = (1 << width) - 1
    if not -(1 << (width - 1)) <= value <= mask:
        return None
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
    width = _width(sf)
    enc = encode_bitmask_imm(value, width)
    if enc is None:
        raise ValueError(f"{value:#x} is not a {width}-bit logical (bitmask) immediate")
    n, immr, imms = enc
    return (sf << 31 | _u(opc, 2, "opc") << 29 | LOGICAL_IMM | n << 22 | immr << 16 | imms << 10 | _reg(rn) << 5
            | _reg(rd))


def and_imm(sf, rd, rn, value):
    return logical_imm(sf, AND, rd, rn, value)


def orr_imm(sf, rd, rn, value):
    return logical_imm(sf, ORR, rd, rn, value)


def eor_imm(sf, rd, rn, value):
    return logical_imm(sf, EOR, rd, rn, value)


def ands_imm(sf, rd, rn, value):
    return logical_imm(sf, ANDS, rd, rn, value)


def tst_imm(sf, rn, value):
    return logical_imm(sf, ANDS, XZR, rn, value)


# -- Data processing, immediate: move wide; rd 31 is XZR -------------------------------------------------------------
MOVE_WIDE = 0b100101 << 23
MOVN, MOVZ, MOVK = 0b00, 0b10, 0b11


def move_wide(sf: int, opc: int, rd: int, imm16: int, hw: int) -> int:
    if hw >= (4 if sf == 1 else 2) or hw < 0:
        _bits(sf=sf)
        raise ValueError(f"hw {hw} does not fit a {'64' if sf else '32'}-bit move (0..{3 if sf else 1})")
    if opc not in (MOVN, MOVZ, MOVK):
        raise ValueError(f"move wide opc {opc} is unallocated")
    if imm16 >> 16 or imm16 < 0:
        _u(imm16, 16, "imm16")
    _regs(rd)
    return sf << 31 | opc << 29 | MOVE_WIDE | hw << 21 | imm16 << 5 | rd


def movn(sf, rd, imm16, hw=0):
    return move_wide(sf, MOVN, rd, imm16, hw)


def movz(sf, rd, imm16, hw=0):
    return move_wide(sf, MOVZ, rd, imm16, hw)


def movk(sf, rd, imm16, hw=0):
    return move_wide(sf, MOVK, rd, imm16, hw)


# -- Data processing, immediate: bitfield; registers 31 are XZR -----------------------------------------------------
BITFIELD = 0b100110 << 23
SBFM, UBFM = 0b00, 0b10


def bitfield(sf: int, opc: int, rd: int, rn: int, immr: int, imms: int) -> int:
    width = _width(sf)
    if opc not in (SBFM, 0b01, UBFM):
        raise ValueError(f"bitfield opc {opc} is unallocated")
    if not (0 <= immr < width and 0 <= imms < width):
        raise ValueError(f"bitfield immr {immr} / imms {imms} out of range 0..{width - 1}")
    return sf << 31 | opc << 29 | BITFIELD | sf << 22 | immr << 16 | imms << 10 | _reg(rn) << 5 | _reg(rd)


def sbfm(sf, rd, rn, immr, imms):
    return bitfield(sf, SBFM, rd, rn, immr, imms)


def ubfm(sf, rd, rn, immr, imms):
    return bitfield(sf, UBFM, rd, rn, immr, imms)


def sxtb(sf, rd, rn):
    return sbfm(sf, rd, rn, 0, 7)


def sxth(sf, rd, rn):
    return sbfm(sf, rd, rn, 0, 15)


def sxtw(sf, rd, rn):
    """sxtw xd, wn (64-bit only; sf is accepted for symmetry with sxtb/sxth and must be 1)."""
    if sf != 1:
        raise ValueError("sxtw has only a 64-bit form (sf=1)")
    return sbfm(1, rd, rn, 0, 31)


def uxtb(rd, rn):
    """uxtb wd, wn (writing a W register also clears the upper half of the X register)."""
    return ubfm(0, rd, rn, 0, 7)


def uxth(rd, rn):
    return ubfm(0, rd, rn, 0, 15)


def _shift(sf: int, shift: int) -> int:
    width = _width(sf)
    if not 0 <= shift < width:
        raise ValueError(f"shift {shift} out of range 0..{width - 1}")
    return width


def lsl_imm(sf, rd, rn, shift):
    width = _shift(sf, shift)
    return ubfm(sf, rd, rn, (-shift) % width, width - 1 - shift)


def lsr_imm(sf, rd, rn, shift):
    return ubfm(sf, rd, rn, shift, _shift(sf, shift) - 1)


def asr_imm(sf, rd, rn, shift):
    return sbfm(sf, rd, rn, shift, _shift(sf, shift) - 1)


# -- Data processing, register: add/sub and logical (shifted register); registers 31 are XZR ----------------------
ADD_SUB_SHIFTED = 0b01011 << 24
LOGICAL_SHIFTED = 0b01010 << 24
LSL, LSR, ASR, ROR = 0, 1, 2, 3  # the shift field (ROR only in the logical class)


def _shifted(sf, shift, amount, shifts):
    if shift not in shifts:
        raise ValueError(f"shift type {shift} not allowed here (one of {shifts})")
    if not 0 <= amount < (64 if sf else 32):
        raise ValueError(f"shift amount {amount} out of range 0..{63 if sf else 31}")


def add_sub_shifted_reg(sf, op, s, rd, rn, rm, shift=LSL, amount=0):
    if (sf | op | s) >> 1:
        _bits(sf=sf, op=op, S=s)
    if shift or amount:
        _shifted(sf, shift, amount, (LSL, LSR, ASR))
    _regs(rd, rn, rm)
    return sf << 31 | op << 30 | s << 29 | ADD_SUB_SHIFTED | shift << 22 | rm << 16 | amount << 10 | rn << 5 | rd


def logical_shifted_reg(sf, opc, n, rd, rn, rm, shift=LSL, amount=0):
    if (sf | n) >> 1 or opc >> 2:
        _bits(sf=sf, N=n)
        _u(opc, 2, "opc")
    if shift or amount:
        _shifted(sf, shift, amount, (LSL, LSR, ASR, ROR))
    _regs(rd, rn, rm)
    return sf << 31 | opc << 29 | LOGICAL_SHIFTED | shift << 22 | n << 21 | rm << 16 | amount << 10 | rn << 5 | rd


def add_reg(sf, rd, rn, rm):
    return add_sub_shifted_reg(sf, 0, 0, rd, rn, rm)


def adds_reg(sf, rd, rn, rm):
    return add_sub_shifted_reg(sf, 0, 1, rd, rn, rm)


def sub_reg(sf, rd, rn, rm):
    return add_sub_shifted_reg(sf, 1, 0, rd, rn, rm)


def subs_reg(sf, rd, rn, rm):
    return add_sub_shifted_reg(sf, 1, 1, rd, rn, rm)


def cmp_reg(sf, rn, rm):
    return add_sub_shifted_reg(sf, 1, 1, XZR, rn, rm)


def cmn_reg(sf, rn, rm):
    return add_sub_shifted_reg(sf, 0, 1, XZR, rn, rm)


def neg(sf, rd, rm):
    return add_sub_shifted_reg(sf, 1, 0, rd, XZR, rm)


def and_reg(sf, rd, rn, rm):
    return logical_shifted_reg(sf, AND, 0, rd, rn, rm)


def orr_reg(sf, rd, rn, rm):
    return logical_shifted_reg(sf, ORR, 0, rd, rn, rm)


def eor_reg(sf, rd, rn, rm):
    return logical_shifted_reg(sf, EOR, 0, rd, rn, rm)


def ands_reg(sf, rd, rn, rm):
    return logical_shifted_reg(sf, ANDS, 0, rd, rn, rm)


def bic_reg(sf, rd, rn, rm):
    return logical_shifted_reg(sf, AND, 1, rd, rn, rm)


def tst_reg(sf, rn, rm):
    return logical_shifted_reg(sf, ANDS, 0, XZR, rn, rm)


def mov_reg(sf, rd, rm):
    """mov rd, rm (orr rd, zr, rm); register 31 is XZR here, use mov_sp for SP."""
    return orr_reg(sf, rd, XZR, rm)


def mvn(sf, rd, rm):
    return logical_shifted_reg(sf, ORR, 1, rd, XZR, rm)


# -- Data processing, register: 2 source; registers 31 are XZR -----------------------------------------------------
DP_2SRC = 0b11010110 << 21
UDIV, SDIV, LSLV, LSRV, ASRV, RORV = 0b000010, 0b000011, 0b001000, 0b001001, 0b001010, 0b001011


def data_proc_2src(sf, opcode, rd, rn, rm):
    if opcode not in (UDIV, SDIV, LSLV, LSRV, ASRV, RORV):
        raise ValueError(f"data-processing (2 source) opcode {opcode:#08b} is not one of ours")
    if sf >> 1:
        _bits(sf=sf)
    _regs(rd, rn, rm)
    return sf << 31 | DP_2SRC | rm << 16 | opcode << 10 | rn << 5 | rd


def udiv(sf, rd, rn, rm):
    return data_proc_2src(sf, UDIV, rd, rn, rm)


def sdiv(sf, rd, rn, rm):
    return data_proc_2src(sf, SDIV, rd, rn, rm)


def lslv(sf, rd, rn, rm):
    return data_proc_2src(sf, LSLV, rd, rn, rm)


def lsrv(sf, rd, rn, rm):
    return data_proc_2src(sf, LSRV, rd, rn, rm)


def asrv(sf, rd, rn, rm):
    return data_proc_2src(sf, ASRV, rd, rn, rm)


def rorv(sf, rd, rn, rm):
    return data_proc_2src(sf, RORV, rd, rn, rm)


# -- Data processing, register: 1 source; registers 31 are XZR -----------------------------------------------------
DP_1SRC = 1 << 30 | 0b11010110 << 21
RBIT, REV16, REV32, REV64, CLZ = 0b000000, 0b000001, 0b000010, 0b000011, 0b000100
# REV32 (opcode 2) with sf=0 is REV of a W register; opcode 3 exists only with sf=1
DP_1SRC_OPCODES = {0: (RBIT, REV16, REV32, CLZ), 1: (RBIT, REV16, REV32, REV64, CLZ)}


def data_proc_1src(sf, opcode, rd, rn):
    if opcode not in DP_1SRC_OPCODES.get(sf, ()):
        _bits(sf=sf)
        raise ValueError(f"data-processing (1 source) opcode {opcode:#08b} is not allocated for sf={sf}")
    return sf << 31 | DP_1SRC | opcode << 10 | _reg(rn) << 5 | _reg(rd)


def rbit(sf, rd, rn):
    return data_proc_1src(sf, RBIT, rd, rn)


def rev16(sf, rd, rn):
    """REV16: reverse the bytes in each halfword."""
    return data_proc_1src(sf, REV16, rd, rn)


def rev32(rd, rn):
    """REV32 xd, xn: reverse the bytes in each word of an X register."""
    return data_proc_1src(1, REV32, rd, rn)


def rev(sf, rd, rn):
    """REV: reverse all bytes of a W (sf=0) or X (sf=1) register."""
    return data_proc_1src(sf, REV64 if sf else REV32, rd, rn)


def clz(sf, rd, rn):
    return data_proc_1src(sf, CLZ, rd, rn)


# -- Data processing, register: 3 source; registers 31 are XZR -----------------------------------------------------
DP_3SRC = 0b11011 << 24
MADD, SMULH, UMULH = 0b000, 0b010, 0b110  # op31; o0 picks add (0) or subtract (1)


def data_proc_3src(sf, o0, rd, rn, rm, ra, op31=MADD):
    if op31 != MADD and (sf != 1 or o0 != 0 or op31 not in (SMULH, UMULH)):
        raise ValueError(f"data-processing (3 source) op31 {op31:#05b} with sf={sf}, o0={o0} is not one of ours")
    if (sf | o0) >> 1:
        _bits(sf=sf, o0=o0)
    return (sf << 31 | DP_3SRC | op31 << 21 | _reg(rm) << 16 | o0 << 15 | _reg(ra) << 10 | _reg(rn) << 5
            | _reg(rd))


def madd(sf, rd, rn, rm, ra):
    return data_proc_3src(sf, 0, rd, rn, rm, ra)


def msub(sf, rd, rn, rm, ra):
    return data_proc_3src(sf, 1, rd, rn, rm, ra)


def mul(sf, rd, rn, rm):
    return madd(sf, rd, rn, rm, XZR)


def smulh(rd, rn, rm):
    return data_proc_3src(1, 0, rd, rn, rm, XZR, SMULH)


def umulh(rd, rn, rm):
    return data_proc_3src(1, 0, rd, rn, rm, XZR, UMULH)


# -- Data processing, register: conditional select; registers 31 are XZR ------------------------------------------
COND_SELECT = 0b11010100 << 21
# (op, op2) per instruction
CSEL, CSINC, CSINV, CSNEG = (0, 0b00), (0, 0b01), (1, 0b00), (1, 0b01)


def _cond(cond: int) -> int:
    return _u(cond, 4, "condition")


def cond_select(sf, op, op2, rd, rn, rm, cond):
    _bits(sf=sf, op=op)
    if op2 not in (0, 1):
        raise ValueError(f"conditional select op2 {op2} is unallocated")
    _regs(rd, rn, rm)
    return sf << 31 | op << 30 | COND_SELECT | rm << 16 | _cond(cond) << 12 | op2 << 10 | rn << 5 | rd


def csel(sf, rd, rn, rm, cond):
    return cond_select(sf, *CSEL, rd, rn, rm, cond)


def csinc(sf, rd, rn, rm, cond):
    return cond_select(sf, *CSINC, rd, rn, rm, cond)


def csinv(sf, rd, rn, rm, cond):
    return cond_select(sf, *CSINV, rd, rn, rm, cond)


def csneg(sf, rd, rn, rm, cond):
    return cond_select(sf, *CSNEG, rd, rn, rm, cond)


def cset(sf, rd, cond):
    """rd = 1 if cond else 0 (csinc rd, zr, zr, !cond)."""
    return csinc(sf, rd, XZR, XZR, invert(cond))


def csetm(sf, rd, cond):
    """rd = all ones if cond else 0 (csinv rd, zr, zr, !cond)."""
    return csinv(sf, rd, XZR, XZR, invert(cond))


# -- Branches, exception generating and system instructions ------------------------------------------------------
B_COND = 0x54000000
B_IMM, BL_IMM = 0x14000000, 0x94000000
BR, BLR, RET = 0xD61F0000, 0xD63F0000, 0xD65F0000
COMPARE_BRANCH = 0b011010 << 25  # cbz/cbnz: op picks nz
TEST_BRANCH = 0b011011 << 25  # tbz/tbnz


def b_cond(cond: int, imm19: int) -> int:
    """b.cond to ``imm19`` instructions from this one (±1 MiB)."""
    return B_COND | _s(imm19, 19, "imm19") << 5 | _cond(cond)


def b(imm26: int) -> int:
    """b to ``imm26`` instructions from this one (±128 MiB)."""
    return B_IMM | _s(imm26, 26, "imm26")


def bl(imm26: int) -> int:
    return BL_IMM | _s(imm26, 26, "imm26")


def br(rn: int) -> int:
    return BR | _reg(rn) << 5


def blr(rn: int) -> int:
    return BLR | _reg(rn) << 5


def ret(rn: int = LR) -> int:
    return RET | _reg(rn) << 5


def compare_branch(sf: int, op: int, rt: int, imm19: int) -> int:
    """cbz (op=0) / cbnz (op=1) rt (31 = zero register), ``imm19`` instructions away."""
    if (sf | op) >> 1:
        _bits(sf=sf, op=op)
    return sf << 31 | COMPARE_BRANCH | op << 24 | _s(imm19, 19, "imm19") << 5 | _reg(rt)


def cbz(sf, rt, imm19):
    return compare_branch(sf, 0, rt, imm19)


def cbnz(sf, rt, imm19):
    return compare_branch(sf, 1, rt, imm19)


def test_branch(op: int, rt: int, bit: int, imm14: int) -> int:
    """tbz (op=0) / tbnz (op=1): branch ``imm14`` instructions away (±32 KiB) if bit ``bit`` of rt is zero/set.
    Bits 32..63 name the X register, 0..31 the W register."""
    _bits(op=op)
    _u(bit, 6, "bit number")
    return (bit >> 5) << 31 | TEST_BRANCH | op << 24 | (bit & 0x1F) << 19 | _s(imm14, 14, "imm14") << 5 | _reg(rt)


test_branch.__test__ = False  # not a pytest test, whatever its name


def tbz(rt, bit, imm14):
    return test_branch(0, rt, bit, imm14)


def tbnz(rt, bit, imm14):
    return test_branch(1, rt, bit, imm14)


# exception generation: opc, LL
EXCEPTION = 0xD4000000
SVC, HVC, SMC, BRK = (0b000, 0b01), (0b000, 0b10), (0b000, 0b11), (0b001, 0b00)


def exception(opc: int, ll: int, imm16: int) -> int:
    return EXCEPTION | _u(opc, 3, "opc") << 21 | _u(imm16, 16, "imm16") << 5 | _u(ll, 2, "LL")


def svc(imm16: int) -> int:
    return exception(*SVC, imm16)


def hvc(imm16: int) -> int:
    """Hypervisor call (PSCI on QEMU virt: x0 = function id, e.g. 0x84000008 SYSTEM_OFF)."""
    return exception(*HVC, imm16)


def smc(imm16: int) -> int:
    return exception(*SMC, imm16)


def brk(imm16: int) -> int:
    return exception(*BRK, imm16)


NOP = 0xD503201F
DMB = 0xD50330BF  # | CRm << 8
BARRIER_OPTIONS = {"oshld": 1, "oshst": 2, "osh": 3, "nshld": 5, "nshst": 6, "nsh": 7, "ishld": 9, "ishst": 10,
                   "ish": 11, "ld": 13, "st": 14, "sy": 15}


def dmb(option: str) -> int:
    if option not in BARRIER_OPTIONS:
        raise ValueError(f"dmb option {option!r} is not one of {', '.join(BARRIER_OPTIONS)}")
    return DMB | BARRIER_OPTIONS[option] << 8


def dmb_ish() -> int:
    return dmb("ish")


def nop() -> int:
    return NOP


# -- PC-relative addressing; rd 31 is XZR ----------------------------------------------------------------------
ADR, ADRP = 0x10000000, 0x90000000


def pc_rel(op: int, rd: int, imm21: int) -> int:
    imm = _s(imm21, 21, "imm21")
    return (ADRP if op else ADR) | (imm & 3) << 29 | (imm >> 2) << 5 | _reg(rd)


def adr(rd: int, offset: int) -> int:
    """adr rd, . + offset (bytes, ±1 MiB)."""
    return pc_rel(0, rd, offset)


def adrp(rd: int, offset: int) -> int:
    """adrp rd: rd = (this address & ~0xFFF) + offset; ``offset`` in bytes, a multiple of 4096 (±4 GiB)."""
    if offset % 4096:
        raise ValueError(f"adrp offset {offset} is not a multiple of 4096")
    return pc_rel(1, rd, offset // 4096)


# -- Loads and stores: register (unsigned immediate), (unscaled immediate), (register offset) ------------------------
# rn 31 is SP, rt 31 is the zero register. opc for each kind of access; "ldrs" sign-extends into an X register.
LDST_OPC = {"str": 0b00, "ldr": 0b01, "ldrs": 0b10}
LDST_UIMM = 0b111001 << 24
LDST_UNSCALED_IMM = 0b111000 << 24
LDST_REG_OFFSET = 0b111000 << 24 | 1 << 21 | 0b011 << 13 | 0b10 << 10  # option LSL (0b011), S=0


def _ldst_size(size: int, opc: int) -> None:
    if opc not in (0, 1, 2) or size >> 2 or size < 0 or (opc == 2 and size == 3):  # opc 2, size 3 is PRFM
        raise ValueError(f"load/store size {size} with opc {opc} is not one of str/ldr/ldrs (ldrs up to W)")


def ldst_unsigned_imm(size: int, opc: int, rt: int, rn: int, imm12: int) -> int:
    """The offset ``imm12`` counts units of the access size (the aliases below take bytes)."""
    _ldst_size(size, opc)
    _regs(rt, rn)
    return size << 30 | LDST_UIMM | opc << 22 | _u(imm12, 12, "scaled offset") << 10 | rn << 5 | rt


def ldst_unscaled(size: int, opc: int, rt: int, rn: int, imm9: int) -> int:
    """ldur/stur/ldurs*: a signed byte offset -256..255."""
    _ldst_size(size, opc)
    return size << 30 | LDST_UNSCALED_IMM | opc << 22 | _s(imm9, 9, "offset") << 12 | _reg(rn) << 5 | _reg(rt)


def ldst_reg(size: int, opc: int, rt: int, rn: int, rm: int) -> int:
    """[rn, rm] (option LSL #0); rm 31 is XZR."""
    _ldst_size(size, opc)
    return size << 30 | LDST_REG_OFFSET | opc << 22 | _reg(rm) << 16 | _reg(rn) << 5 | _reg(rt)


def _bind(fn, opc):
    return lambda size, rt, rn, x: fn(size, opc, rt, rn, x)


LDST_IMM = {k: _bind(ldst_unsigned_imm, v) for k, v in LDST_OPC.items()}
LDST_UNSCALED = {k: _bind(ldst_unscaled, v) for k, v in LDST_OPC.items()}
LDST_REG = {k: _bind(ldst_reg, v) for k, v in LDST_OPC.items()}


def ldr_imm(size, rt, rn, offset):
    """ldr{b,h,,} rt, [rn, #offset]: offset in bytes, a multiple of the access size, 0..4095 units."""
    return ldst_unsigned_imm(size, LDST_OPC["ldr"], rt, rn, _scaled(offset, 1 << size, 12, "offset", False))


def str_imm(size, rt, rn, offset):
    return ldst_unsigned_imm(size, LDST_OPC["str"], rt, rn, _scaled(offset, 1 << size, 12, "offset", False))


def ldrs_imm(size, rt, rn, offset):
    """ldrsb/ldrsh/ldrsw xt, [rn, #offset] (sign-extended to 64 bits)."""
    return ldst_unsigned_imm(size, LDST_OPC["ldrs"], rt, rn, _scaled(offset, 1 << size, 12, "offset", False))


def ldur(size, rt, rn, offset):
    return ldst_unscaled(size, LDST_OPC["ldr"], rt, rn, offset)


def stur(size, rt, rn, offset):
    return ldst_unscaled(size, LDST_OPC["str"], rt, rn, offset)


def ldurs(size, rt, rn, offset):
    """ldursb/ldursh/ldursw xt, [rn, #offset]."""
    return ldst_unscaled(size, LDST_OPC["ldrs"], rt, rn, offset)


def ldr_reg(size, rt, rn, rm):
    return ldst_reg(size, LDST_OPC["ldr"], rt, rn, rm)


def str_reg(size, rt, rn, rm):
    return ldst_reg(size, LDST_OPC["str"], rt, rn, rm)


def ldrs_reg(size, rt, rn, rm):
    return ldst_reg(size, LDST_OPC["ldrs"], rt, rn, rm)


# -- Loads and stores: register pair; rn 31 is SP, rt/rt2 31 the zero register -------------------------------------
LDST_PAIR = 0b101 << 27
PAIR_POST, PAIR_OFFSET, PAIR_PRE = 0b01, 0b10, 0b11  # the addressing mode field (bits 24:23)


def ldst_pair(opc: int, mode: int, load: int, rt: int, rt2: int, rn: int, offset: int) -> int:
    """LDP/STP of W (opc 0b00) or X (opc 0b10) registers; ``offset`` in bytes, a multiple of the register size,
    -64..63 registers."""
    if opc not in (0b00, 0b10) or mode not in (PAIR_POST, PAIR_OFFSET, PAIR_PRE):
        raise ValueError(f"register pair opc {opc} / mode {mode} is not ldp/stp of W or X registers")
    _bits(load=load)
    _regs(rt, rt2, rn)
    if mode != PAIR_OFFSET and rn != SP and rn in (rt, rt2):
        raise ValueError("ldp/stp with writeback must not use the base register as a data register")
    if load and rt == rt2:
        raise ValueError("ldp into the same register twice is unpredictable")
    imm7 = _scaled(offset, 8 if opc else 4, 7, "pair offset", signed=True)
    return opc << 30 | LDST_PAIR | mode << 23 | load << 22 | imm7 << 15 | rt2 << 10 | rn << 5 | rt


def _pair(mode, load):
    def enc(sf, rt, rt2, rn, offset):
        _bits(sf=sf)
        return ldst_pair(sf << 1, mode, load, rt, rt2, rn, offset)
    return enc


stp = _pair(PAIR_OFFSET, 0)
ldp = _pair(PAIR_OFFSET, 1)
stp_pre = _pair(PAIR_PRE, 0)
ldp_pre = _pair(PAIR_PRE, 1)
stp_post = _pair(PAIR_POST, 0)
ldp_post = _pair(PAIR_POST, 1)


# -- Atomic memory operations (LSE, ARMv8.1); rn 31 is SP, rs/rt 31 the zero register ------------------------------
ATOMIC_MEMORY = 0b111000 << 24 | 1 << 21
# (o3, opc) per operation
LDADD, LDCLR, LDEOR, LDSET, SWP = (0, 0b000), (0, 0b001), (0, 0b010), (0, 0b011), (1, 0b000)


def atomic_memory(size, a, r, rs, o3, opc, rn, rt):
    """ld<op>{a,l,al}{b,h} rs, rt, [rn]: rt receives the old value, [rn] = old <op> rs. a/r: acquire/release."""
    _u(size, 2, "size")
    _bits(A=a, R=r, o3=o3)
    if opc >> 3 or opc < 0 or (o3 and opc):
        raise ValueError(f"atomic memory o3 {o3} / opc {opc} is not one of ldadd/ldclr/ldeor/ldset/swp")
    return (size << 30 | ATOMIC_MEMORY | a << 23 | r << 22 | _reg(rs) << 16 | o3 << 15 | opc << 12
            | _reg(rn) << 5 | _reg(rt))


def _lse(o3, opc):
    def enc(size, rs, rt, rn, *, acquire=False, release=False):
        return atomic_memory(size, int(acquire), int(release), rs, o3, opc, rn, rt)
    return enc


def _lse_al(o3, opc):
    def enc(size, rs, rt, rn):
        return atomic_memory(size, 1, 1, rs, o3, opc, rn, rt)
    return enc


ldadd, ldclr, ldeor, ldset, swp = (_lse(*f) for f in (LDADD, LDCLR, LDEOR, LDSET, SWP))
ldaddal, ldclral, ldeoral, ldsetal, swpal = (_lse_al(*f) for f in (LDADD, LDCLR, LDEOR, LDSET, SWP))


# -- Load/store exclusive, load-acquire/store-release, compare and swap; rn 31 is SP --------------------------------
# size 001000 o2 L o1 Rs o0 Rt2 Rn Rt; unused Rs/Rt2 fields are all ones
LDST_EXCLUSIVE = 0b001000 << 24 | 0x1F << 10
# (o2, L, o1, o0) per instruction
STXR, STLXR, LDXR, LDAXR = (0, 0, 0, 0), (0, 0, 0, 1), (0, 1, 0, 0), (0, 1, 0, 1)
STLR, LDAR = (1, 0, 0, 1), (1, 1, 0, 1)
CAS, CASL, CASA, CASAL = (1, 0, 1, 0), (1, 0, 1, 1), (1, 1, 1, 0), (1, 1, 1, 1)


def ldst_exclusive(size, o2, load, o1, o0, rs, rt, rn):
    _u(size, 2, "size")
    _bits(o2=o2, L=load, o1=o1, o0=o0)
    return (size << 30 | LDST_EXCLUSIVE | o2 << 23 | load << 22 | o1 << 21 | _reg(rs) << 16 | o0 << 15
            | _reg(rn) << 5 | _reg(rt))


def _load(fields):
    def enc(size, rt, rn):
        return ldst_exclusive(size, *fields, 0x1F, rt, rn)
    return enc


def _store_exclusive(fields):
    def enc(size, rs, rt, rn):
        """rs (a W register) receives 0 on success, 1 on failure; it must differ from rt and rn."""
        if rs in (rt, rn):
            raise ValueError("store-exclusive status register must differ from the data and base registers")
        return ldst_exclusive(size, *fields, rs, rt, rn)
    return enc


def _store_release(fields):
    def enc(size, rt, rn):
        return ldst_exclusive(size, *fields, 0x1F, rt, rn)
    return enc


ldxr, ldaxr, ldar = _load(LDXR), _load(LDAXR), _load(LDAR)
stxr, stlxr = _store_exclusive(STXR), _store_exclusive(STLXR)
stlr = _store_release(STLR)


def _cas(fields):
    def enc(size, rs, rt, rn):
        """compare rs with [rn], store rt if equal; rs receives the old value."""
        return ldst_exclusive(size, *fields, rs, rt, rn)
    return enc


cas, casa, casl, casal = (_cas(f) for f in (CAS, CASA, CASL, CASAL))
