"""Bit-exact RV64 encoders, named after the RISC-V unprivileged ISA manual's formats and mnemonics.

Every function returns one instruction as an int: a 32-bit word for the base formats (R, I, S, B, U, J) and
the M, A, Zba and Zbb extensions, a 16-bit halfword for the C extension's compressed forms (``c_*``). Each
format has one general encoder taking its fields (``i_type(imm12, rs1, funct3, rd, opcode)``) and thin aliases
named after the assembler mnemonics (``addi``, ``ld``, ...). Registers are ints 0..31 (x0 is the zero
register); compressed forms that take x8..x15 only (``rd'``) take the full register number and check it.
Branch and jump offsets count bytes from the instruction itself. Every field is range-checked: a value that
does not fit raises ValueError naming it.

``compress(word)`` returns the C-extension halfword equivalent to a 32-bit word, or None: the selector writes
32-bit forms and lets this one function choose compressed encodings, as an assembler with ``+c`` does.
"""

from __future__ import annotations

from bpfx import fields

ZERO, RA, SP, GP, TP = 0, 1, 2, 3, 4
T0, T1, T2 = 5, 6, 7
S0, S1 = 8, 9
A0, A1, A2, A3, A4, A5, A6, A7 = range(10, 18)
T3 = 28

# major opcodes (inst[6:0])
LOAD, MISC_MEM, OP_IMM, AUIPC, OP_IMM_32 = 0x03, 0x0F, 0x13, 0x17, 0x1B
STORE, AMO, OP, LUI, OP_32 = 0x23, 0x2F, 0x33, 0x37, 0x3B
BRANCH, JALR, JAL, SYSTEM = 0x63, 0x67, 0x6F, 0x73

ABI_NAMES = ("zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1", "a2", "a3", "a4", "a5",
             "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6")


# -- field checks ------------------------------------------------------------------------------------------------
_u, _s = fields.unsigned, fields.signed


def _regs(*regs: int) -> None:
    for r in regs:
        if r >> 5 or r < 0:
            _u(r, 5, "register")


def _even(offset: int, what: str) -> None:
    if offset & 1:
        raise ValueError(f"{what} offset {offset} is not a multiple of 2")


# -- base formats ------------------------------------------------------------------------------------------------
# Each format checks all its fields in one comparison chain (the hot path); only a failing value goes through
# the per-field checks, which raise naming it.
def r_type(funct7: int, rs2: int, rs1: int, funct3: int, rd: int, opcode: int) -> int:
    if not (0 <= funct7 < 128 and 0 <= rs2 < 32 and 0 <= rs1 < 32 and 0 <= funct3 < 8 and 0 <= rd < 32
            and 0 <= opcode < 128):
        _regs(rs2, rs1, rd)
        _u(funct7, 7, "funct7"), _u(funct3, 3, "funct3"), _u(opcode, 7, "opcode")
    return funct7 << 25 | rs2 << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode


def i_type(imm12: int, rs1: int, funct3: int, rd: int, opcode: int) -> int:
    """imm12 is signed (-2048..2047)."""
    if not (-2048 <= imm12 < 2048 and 0 <= rs1 < 32 and 0 <= funct3 < 8 and 0 <= rd < 32 and 0 <= opcode < 128):
        _regs(rs1, rd)
        _s(imm12, 12, "imm12"), _u(funct3, 3, "funct3"), _u(opcode, 7, "opcode")
    return (imm12 & 0xFFF) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode


def s_type(imm12: int, rs2: int, rs1: int, funct3: int, opcode: int) -> int:
    if not (-2048 <= imm12 < 2048 and 0 <= rs2 < 32 and 0 <= rs1 < 32 and 0 <= funct3 < 8 and 0 <= opcode < 128):
        _regs(rs2, rs1)
        _s(imm12, 12, "imm12"), _u(funct3, 3, "funct3"), _u(opcode, 7, "opcode")
    imm = imm12 & 0xFFF
    return (imm >> 5) << 25 | rs2 << 20 | rs1 << 15 | funct3 << 12 | (imm & 0x1F) << 7 | opcode


def b_type(offset: int, rs2: int, rs1: int, funct3: int, opcode: int = BRANCH) -> int:
    """offset in bytes, even, -4096..4094."""
    if not (-4096 <= offset < 4096 and not offset & 1 and 0 <= rs2 < 32 and 0 <= rs1 < 32 and 0 <= funct3 < 8
            and 0 <= opcode < 128):
        _regs(rs2, rs1)
        _even(offset, "branch")
        _s(offset, 13, "branch offset"), _u(funct3, 3, "funct3"), _u(opcode, 7, "opcode")
    return b_offset(offset) | rs2 << 20 | rs1 << 15 | funct3 << 12 | opcode


def b_offset(offset: int) -> int:
    """The B format's offset field: the bits of ``offset`` (even, -4096..4094; the caller checks) where the format
    scatters them, to OR into a branch encoded with offset 0 (also for NumPy arrays of offsets)."""
    imm = offset & 0x1FFF
    return (imm >> 12 & 1) << 31 | (imm >> 5 & 0x3F) << 25 | (imm >> 1 & 0xF) << 8 | (imm >> 11 & 1) << 7


def u_type(imm20: int, rd: int, opcode: int) -> int:
    """imm20 is the upper immediate as its 20-bit field (0..0xFFFFF)."""
    if not (0 <= imm20 < (1 << 20) and 0 <= rd < 32 and 0 <= opcode < 128):
        _regs(rd)
        _u(imm20, 20, "imm20"), _u(opcode, 7, "opcode")
    return imm20 << 12 | rd << 7 | opcode


def j_type(offset: int, rd: int, opcode: int = JAL) -> int:
    """offset in bytes, even, -1 MiB..1 MiB-2."""
    if not (-(1 << 20) <= offset < (1 << 20) and not offset & 1 and 0 <= rd < 32 and 0 <= opcode < 128):
        _regs(rd)
        _even(offset, "jump")
        _s(offset, 21, "jump offset"), _u(opcode, 7, "opcode")
    return j_offset(offset) | rd << 7 | opcode


def j_offset(offset: int) -> int:
    """The J format's offset field: the bits of ``offset`` (even, +-1 MiB; the caller checks) where the format
    scatters them (as b_offset; also for NumPy arrays of offsets)."""
    imm = offset & 0x1FFFFF
    return (imm >> 20 & 1) << 31 | (imm >> 1 & 0x3FF) << 21 | (imm >> 11 & 1) << 20 | (imm >> 12 & 0xFF) << 12


# -- RV64I -------------------------------------------------------------------------------------------------------
def lui(rd: int, imm20: int) -> int:
    return u_type(imm20, rd, LUI)


def auipc(rd: int, imm20: int) -> int:
    return u_type(imm20, rd, AUIPC)


def jal(rd: int, offset: int) -> int:
    return j_type(offset, rd)


def jalr(rd: int, rs1: int, imm12: int = 0) -> int:
    return i_type(imm12, rs1, 0, rd, JALR)


def ret() -> int:
    return jalr(ZERO, RA, 0)


BEQ, BNE, BLT, BGE, BLTU, BGEU = 0, 1, 4, 5, 6, 7


def branch(funct3: int, rs1: int, rs2: int, offset: int) -> int:
    if funct3 in (2, 3):
        raise ValueError(f"branch funct3 {funct3} is reserved")
    return b_type(offset, rs2, rs1, funct3)


def beq(rs1: int, rs2: int, offset: int) -> int:
    return branch(BEQ, rs1, rs2, offset)


def bne(rs1: int, rs2: int, offset: int) -> int:
    return branch(BNE, rs1, rs2, offset)


def blt(rs1: int, rs2: int, offset: int) -> int:
    return branch(BLT, rs1, rs2, offset)


def bge(rs1: int, rs2: int, offset: int) -> int:
    return branch(BGE, rs1, rs2, offset)


def bltu(rs1: int, rs2: int, offset: int) -> int:
    return branch(BLTU, rs1, rs2, offset)


def bgeu(rs1: int, rs2: int, offset: int) -> int:
    return branch(BGEU, rs1, rs2, offset)


def invert_branch(funct3: int) -> int:
    """The branch condition that is true exactly when ``funct3``'s is false (beq <-> bne, blt <-> bge, ...)."""
    if funct3 in (2, 3) or not 0 <= funct3 < 8:
        raise ValueError(f"branch funct3 {funct3} is reserved")
    return funct3 ^ 1


# loads: funct3 by (size in bytes, signed)
LOAD_F3 = {(1, True): 0, (2, True): 1, (4, True): 2, (8, True): 3, (1, False): 4, (2, False): 5, (4, False): 6}
STORE_F3 = {1: 0, 2: 1, 4: 2, 8: 3}


def load(size: int, signed: bool, rd: int, rs1: int, imm12: int) -> int:
    """lb/lh/lw/ld (signed) and lbu/lhu/lwu (unsigned); ld is both."""
    f3 = LOAD_F3.get((size, signed or size == 8))
    if f3 is None:
        raise ValueError(f"no load of size {size}")
    return i_type(imm12, rs1, f3, rd, LOAD)


def store(size: int, rs2: int, rs1: int, imm12: int) -> int:
    if size not in STORE_F3:
        raise ValueError(f"no store of size {size}")
    return s_type(imm12, rs2, rs1, STORE_F3[size], STORE)


def lb(rd, rs1, imm12): return load(1, True, rd, rs1, imm12)  # noqa: E704
def lh(rd, rs1, imm12): return load(2, True, rd, rs1, imm12)  # noqa: E704
def lw(rd, rs1, imm12): return load(4, True, rd, rs1, imm12)  # noqa: E704
def ld(rd, rs1, imm12): return load(8, True, rd, rs1, imm12)  # noqa: E704
def lbu(rd, rs1, imm12): return load(1, False, rd, rs1, imm12)  # noqa: E704
def lhu(rd, rs1, imm12): return load(2, False, rd, rs1, imm12)  # noqa: E704
def lwu(rd, rs1, imm12): return load(4, False, rd, rs1, imm12)  # noqa: E704
def sb(rs2, rs1, imm12): return store(1, rs2, rs1, imm12)  # noqa: E704
def sh(rs2, rs1, imm12): return store(2, rs2, rs1, imm12)  # noqa: E704
def sw(rs2, rs1, imm12): return store(4, rs2, rs1, imm12)  # noqa: E704
def sd(rs2, rs1, imm12): return store(8, rs2, rs1, imm12)  # noqa: E704


def _op_imm(f3: int, w: bool):
    def enc(rd: int, rs1: int, imm12: int) -> int:
        return i_type(imm12, rs1, f3, rd, OP_IMM_32 if w else OP_IMM)
    return enc


addi, slti, sltiu, xori, ori, andi = (_op_imm(f3, False) for f3 in (0, 2, 3, 4, 6, 7))
addiw = _op_imm(0, True)


def mv(rd: int, rs1: int) -> int:
    return addi(rd, rs1, 0)


def sext_w(rd: int, rs1: int) -> int:
    return addiw(rd, rs1, 0)


def nop() -> int:
    return addi(ZERO, ZERO, 0)


def _shift_imm(f3: int, hi6: int, w: bool, what: str):
    bits = 5 if w else 6

    def enc(rd: int, rs1: int, shamt: int) -> int:
        if not 0 <= shamt < (1 << bits):
            raise ValueError(f"{what} shift amount {shamt} out of range 0..{(1 << bits) - 1}")
        return i_type(0, rs1, f3, rd, OP_IMM_32 if w else OP_IMM) | (hi6 << 6 | shamt) << 20
    return enc


slli = _shift_imm(1, 0, False, "slli")
srli = _shift_imm(5, 0, False, "srli")
srai = _shift_imm(5, 0x10, False, "srai")
slliw = _shift_imm(1, 0, True, "slliw")
srliw = _shift_imm(5, 0, True, "srliw")
sraiw = _shift_imm(5, 0x10, True, "sraiw")


def _op(funct7: int, f3: int, w: bool):
    def enc(rd: int, rs1: int, rs2: int) -> int:
        return r_type(funct7, rs2, rs1, f3, rd, OP_32 if w else OP)
    return enc


add, sll, slt, sltu, xor, srl, or_, and_ = (_op(0, f3, False) for f3 in (0, 1, 2, 3, 4, 5, 6, 7))
sub, sra = _op(0x20, 0, False), _op(0x20, 5, False)
addw, sllw, srlw = _op(0, 0, True), _op(0, 1, True), _op(0, 5, True)
subw, sraw = _op(0x20, 0, True), _op(0x20, 5, True)
# M
mul, mulh, mulhsu, mulhu, div, divu, rem, remu = (_op(1, f3, False) for f3 in range(8))
mulw, divw, divuw, remw, remuw = (_op(1, f3, True) for f3 in (0, 4, 5, 6, 7))


def neg(rd: int, rs: int) -> int:
    return sub(rd, ZERO, rs)


def negw(rd: int, rs: int) -> int:
    return subw(rd, ZERO, rs)


def fence(pred: str = "rw", succ: str = "rw") -> int:
    """fence pred, succ with each set a string of i, o, r, w."""
    def bits(s: str) -> int:
        if not s or any(c not in "iorw" for c in s):
            raise ValueError(f"fence set {s!r} is not a combination of i, o, r, w")
        return sum(8 >> "iorw".index(c) for c in set(s))
    return bits(pred) << 24 | bits(succ) << 20 | MISC_MEM


def ecall() -> int:
    return SYSTEM


def ebreak() -> int:
    return 1 << 20 | SYSTEM


# -- A -----------------------------------------------------------------------------------------------------------
AMO_OPS = {"add": 0x00, "swap": 0x01, "lr": 0x02, "sc": 0x03, "xor": 0x04, "or": 0x08, "and": 0x0C, "min": 0x10,
           "max": 0x14, "minu": 0x18, "maxu": 0x1C}


def amo(op: str, size: int, rd: int, rs2: int, rs1: int, aq: bool = False, rl: bool = False) -> int:
    """The A extension: amo<op>.w/.d rd, rs2, (rs1); lr takes rs2 = 0."""
    if op not in AMO_OPS:
        raise ValueError(f"unknown AMO operation {op!r}")
    if size not in (4, 8):
        raise ValueError(f"AMO size {size} must be 4 or 8")
    if op == "lr" and rs2:
        raise ValueError("lr takes no rs2")
    return r_type(AMO_OPS[op] << 2 | int(aq) << 1 | int(rl), rs2, rs1, 2 if size == 4 else 3, rd, AMO)


def lr(size: int, rd: int, rs1: int, aq: bool = False, rl: bool = False) -> int:
    return amo("lr", size, rd, 0, rs1, aq, rl)


def sc(size: int, rd: int, rs2: int, rs1: int, aq: bool = False, rl: bool = False) -> int:
    return amo("sc", size, rd, rs2, rs1, aq, rl)


# -- Zba / Zbb ---------------------------------------------------------------------------------------------------
sh1add, sh2add, sh3add = (_op(0x10, f3, False) for f3 in (2, 4, 6))
add_uw = _op(0x04, 0, True)
andn, orn, xnor = _op(0x20, 7, False), _op(0x20, 6, False), _op(0x20, 4, False)
min_, minu, max_, maxu = (_op(0x05, f3, False) for f3 in (4, 5, 6, 7))
rol, ror = _op(0x30, 1, False), _op(0x30, 5, False)


def zext_w(rd: int, rs1: int) -> int:
    """Zba: add.uw rd, rs1, zero."""
    return add_uw(rd, rs1, ZERO)


def slli_uw(rd: int, rs1: int, shamt: int) -> int:
    """Zba: zero-extend the low 32 bits of rs1, then shift left."""
    if not 0 <= shamt < 64:
        raise ValueError(f"slli.uw shift amount {shamt} out of range 0..63")
    return i_type(0, rs1, 1, rd, OP_IMM_32) | (0x02 << 6 | shamt) << 20


def _unary(imm12: int, f3: int, opcode: int = OP_IMM):
    def enc(rd: int, rs1: int) -> int:
        _regs(rd, rs1)
        return imm12 << 20 | rs1 << 15 | f3 << 12 | rd << 7 | opcode
    return enc


clz, ctz, cpop = _unary(0x600, 1), _unary(0x601, 1), _unary(0x602, 1)
sext_b, sext_h = _unary(0x604, 1), _unary(0x605, 1)
rev8, orc_b = _unary(0x6B8, 5), _unary(0x287, 5)
zext_h = _unary(0x080, 4, OP_32)


def rori(rd: int, rs1: int, shamt: int) -> int:
    if not 0 <= shamt < 64:
        raise ValueError(f"rori shift amount {shamt} out of range 0..63")
    return i_type(0, rs1, 5, rd, OP_IMM) | (0x18 << 6 | shamt) << 20


# Encoders made by the factories above carry their own names (``add_uw``, ``sext_b``), for listings and errors.
for _name, _fn in list(globals().items()):
    if callable(_fn) and getattr(_fn, "__name__", None) == "enc":
        _fn.__name__ = _fn.__qualname__ = _name


# -- C (compressed, 16-bit) --------------------------------------------------------------------------------------
def _creg(r: int) -> int:
    """The 3-bit field of a register in x8..x15."""
    if not 8 <= r <= 15:
        raise ValueError(f"register x{r} is not one of x8..x15 (compressed rd'/rs1'/rs2')")
    return r - 8


def _nz(r: int, what: str) -> int:
    _regs(r)
    if r == 0:
        raise ValueError(f"{what} must not be x0")
    return r


def _scaled_u(value: int, scale: int, bits: int, what: str) -> int:
    if value % scale:
        raise ValueError(f"{what} offset {value} is not a multiple of {scale}")
    _u(value // scale, bits, f"{what} offset/{scale}")
    return value


def _b(value: int, hi: int, lo: int) -> int:
    return (value >> lo) & ((1 << (hi - lo + 1)) - 1)


def c_addi4spn(rd: int, uimm: int) -> int:
    """rd' = sp + uimm (4..1020, multiple of 4)."""
    if uimm == 0:
        raise ValueError("c.addi4spn immediate must not be 0")
    _scaled_u(uimm, 4, 8, "c.addi4spn")
    return (_b(uimm, 5, 4) << 11 | _b(uimm, 9, 6) << 7 | _b(uimm, 2, 2) << 6 | _b(uimm, 3, 3) << 5
            | _creg(rd) << 2)


def _c_lsw(f3: int, r: int, rs1: int, uimm: int) -> int:
    _scaled_u(uimm, 4, 5, "c.lw/c.sw")
    return f3 << 13 | _b(uimm, 5, 3) << 10 | _creg(rs1) << 7 | _b(uimm, 2, 2) << 6 | _b(uimm, 6, 6) << 5 | _creg(r) << 2


def _c_lsd(f3: int, r: int, rs1: int, uimm: int) -> int:
    _scaled_u(uimm, 8, 5, "c.ld/c.sd")
    return f3 << 13 | _b(uimm, 5, 3) << 10 | _creg(rs1) << 7 | _b(uimm, 7, 6) << 5 | _creg(r) << 2


def c_lw(rd: int, rs1: int, uimm: int) -> int:
    return _c_lsw(2, rd, rs1, uimm)


def c_ld(rd: int, rs1: int, uimm: int) -> int:
    return _c_lsd(3, rd, rs1, uimm)


def c_sw(rs2: int, rs1: int, uimm: int) -> int:
    return _c_lsw(6, rs2, rs1, uimm)


def c_sd(rs2: int, rs1: int, uimm: int) -> int:
    return _c_lsd(7, rs2, rs1, uimm)


def _ci(f3: int, rd: int, imm6: int, op: int) -> int:
    imm = _s(imm6, 6, "c immediate")
    return f3 << 13 | (imm >> 5) << 12 | rd << 7 | (imm & 0x1F) << 2 | op


def c_nop() -> int:
    return 0x0001


def c_addi(rd: int, nzimm: int) -> int:
    if nzimm == 0:
        raise ValueError("c.addi immediate must not be 0")
    return _ci(0, _nz(rd, "c.addi rd"), nzimm, 1)


def c_addiw(rd: int, imm: int) -> int:
    return _ci(1, _nz(rd, "c.addiw rd"), imm, 1)


def c_li(rd: int, imm: int) -> int:
    return _ci(2, _nz(rd, "c.li rd"), imm, 1)


def c_addi16sp(nzimm: int) -> int:
    """sp += nzimm (-512..496, multiple of 16, not 0)."""
    if nzimm == 0 or nzimm % 16:
        raise ValueError(f"c.addi16sp immediate {nzimm} must be a non-zero multiple of 16")
    imm = _s(nzimm, 10, "c.addi16sp immediate")
    return (3 << 13 | _b(imm, 9, 9) << 12 | SP << 7 | _b(imm, 4, 4) << 6 | _b(imm, 6, 6) << 5 | _b(imm, 8, 7) << 3
            | _b(imm, 5, 5) << 2 | 1)


def c_lui(rd: int, imm20: int) -> int:
    """rd = imm20 << 12 with imm20 the 20-bit field of the equivalent lui (its low 6 bits sign-extended)."""
    if rd in (ZERO, SP):
        raise ValueError("c.lui rd must not be x0 or sp")
    _u(imm20, 20, "imm20")
    signed = imm20 - (1 << 20) if imm20 >> 19 else imm20
    if signed == 0 or not -32 <= signed < 32:
        raise ValueError(f"c.lui imm20 0x{imm20:x} is not a non-zero 6-bit signed value")
    return _ci(3, _nz(rd, "c.lui rd"), signed, 1)


def _cb_shift(f2: int, rd: int, shamt: int, what: str) -> int:
    if not 0 < shamt < 64:
        raise ValueError(f"{what} shift amount {shamt} out of range 1..63")
    return 4 << 13 | (shamt >> 5) << 12 | f2 << 10 | _creg(rd) << 7 | (shamt & 0x1F) << 2 | 1


def c_srli(rd: int, shamt: int) -> int:
    return _cb_shift(0, rd, shamt, "c.srli")


def c_srai(rd: int, shamt: int) -> int:
    return _cb_shift(1, rd, shamt, "c.srai")


def c_andi(rd: int, imm: int) -> int:
    imm6 = _s(imm, 6, "c.andi immediate")
    return 4 << 13 | (imm6 >> 5) << 12 | 2 << 10 | _creg(rd) << 7 | (imm6 & 0x1F) << 2 | 1


def _ca(w: int, f2: int, rd: int, rs2: int) -> int:
    return 4 << 13 | w << 12 | 3 << 10 | _creg(rd) << 7 | f2 << 5 | _creg(rs2) << 2 | 1


def c_sub(rd, rs2): return _ca(0, 0, rd, rs2)  # noqa: E704
def c_xor(rd, rs2): return _ca(0, 1, rd, rs2)  # noqa: E704
def c_or(rd, rs2): return _ca(0, 2, rd, rs2)  # noqa: E704
def c_and(rd, rs2): return _ca(0, 3, rd, rs2)  # noqa: E704
def c_subw(rd, rs2): return _ca(1, 0, rd, rs2)  # noqa: E704
def c_addw(rd, rs2): return _ca(1, 1, rd, rs2)  # noqa: E704


def c_j(offset: int) -> int:
    _even(offset, "c.j")
    return 5 << 13 | cj_offset(_s(offset, 12, "c.j offset")) | 1


def cj_offset(offset: int) -> int:
    """c.j's offset field, as j_offset (``offset`` even, -2048..2046, or its 12-bit field)."""
    i = offset & 0xFFF
    return (_b(i, 11, 11) << 12 | _b(i, 4, 4) << 11 | _b(i, 9, 8) << 9 | _b(i, 10, 10) << 8 | _b(i, 6, 6) << 7
            | _b(i, 7, 7) << 6 | _b(i, 3, 1) << 3 | _b(i, 5, 5) << 2)


def _cbranch(f3: int, rs1: int, offset: int) -> int:
    _even(offset, "c.beqz/c.bnez")
    return f3 << 13 | cb_offset(_s(offset, 9, "c.beqz/c.bnez offset")) | _creg(rs1) << 7 | 1


def cb_offset(offset: int) -> int:
    """c.beqz/c.bnez's offset field, as j_offset (``offset`` even, -256..254, or its 9-bit field)."""
    i = offset & 0x1FF
    return _b(i, 8, 8) << 12 | _b(i, 4, 3) << 10 | _b(i, 7, 6) << 5 | _b(i, 2, 1) << 3 | _b(i, 5, 5) << 2


def c_beqz(rs1: int, offset: int) -> int:
    return _cbranch(6, rs1, offset)


def c_bnez(rs1: int, offset: int) -> int:
    return _cbranch(7, rs1, offset)


def c_slli(rd: int, shamt: int) -> int:
    if not 0 < shamt < 64:
        raise ValueError(f"c.slli shift amount {shamt} out of range 1..63")
    return (shamt >> 5) << 12 | _nz(rd, "c.slli rd") << 7 | (shamt & 0x1F) << 2 | 2


def c_lwsp(rd: int, uimm: int) -> int:
    _scaled_u(uimm, 4, 6, "c.lwsp")
    return 2 << 13 | _b(uimm, 5, 5) << 12 | _nz(rd, "c.lwsp rd") << 7 | _b(uimm, 4, 2) << 4 | _b(uimm, 7, 6) << 2 | 2


def c_ldsp(rd: int, uimm: int) -> int:
    _scaled_u(uimm, 8, 6, "c.ldsp")
    return 3 << 13 | _b(uimm, 5, 5) << 12 | _nz(rd, "c.ldsp rd") << 7 | _b(uimm, 4, 3) << 5 | _b(uimm, 8, 6) << 2 | 2


def c_swsp(rs2: int, uimm: int) -> int:
    _scaled_u(uimm, 4, 6, "c.swsp")
    _regs(rs2)
    return 6 << 13 | _b(uimm, 5, 2) << 9 | _b(uimm, 7, 6) << 7 | rs2 << 2 | 2


def c_sdsp(rs2: int, uimm: int) -> int:
    _scaled_u(uimm, 8, 6, "c.sdsp")
    _regs(rs2)
    return 7 << 13 | _b(uimm, 5, 3) << 10 | _b(uimm, 8, 6) << 7 | rs2 << 2 | 2


def c_jr(rs1: int) -> int:
    return 4 << 13 | _nz(rs1, "c.jr rs1") << 7 | 2


def c_jalr(rs1: int) -> int:
    return 4 << 13 | 1 << 12 | _nz(rs1, "c.jalr rs1") << 7 | 2


def c_mv(rd: int, rs2: int) -> int:
    return 4 << 13 | _nz(rd, "c.mv rd") << 7 | _nz(rs2, "c.mv rs2") << 2 | 2


def c_add(rd: int, rs2: int) -> int:
    return 4 << 13 | 1 << 12 | _nz(rd, "c.add rd") << 7 | _nz(rs2, "c.add rs2") << 2 | 2


def c_ebreak() -> int:
    return 0x9002


# -- compression -------------------------------------------------------------------------------------------------
def _sext(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) & 1 else value


def _is_c(r: int) -> bool:
    return 8 <= r <= 15


def compress(word: int) -> int | None:
    """The 16-bit C-extension instruction that does exactly what the 32-bit ``word`` does, or None.

    Covers the forms this plugin emits (and llvm-mc compresses the same way); hints (rd = x0) are never chosen.
    """
    opcode, rd, f3 = word & 0x7F, word >> 7 & 0x1F, word >> 12 & 7
    rs1, rs2, f7 = word >> 15 & 0x1F, word >> 20 & 0x1F, word >> 25
    imm_i = _sext(word >> 20, 12)
    try:
        if opcode == OP_IMM:
            if f3 == 0:  # addi
                if rs1 == ZERO and rd != ZERO and -32 <= imm_i < 32:
                    return c_li(rd, imm_i)
                if rd == SP and rs1 == SP and imm_i and imm_i % 16 == 0:
                    return c_addi16sp(imm_i)
                if rs1 == SP and _is_c(rd) and 0 < imm_i < 1024 and imm_i % 4 == 0:
                    return c_addi4spn(rd, imm_i)
                if imm_i == 0 and rd != ZERO and rs1 != ZERO:
                    return c_mv(rd, rs1)
                if rd == rs1 and rd != ZERO and imm_i and -32 <= imm_i < 32:
                    return c_addi(rd, imm_i)
                if rd == rs1 == ZERO and imm_i == 0:
                    return c_nop()
                return None
            shamt, hi6 = word >> 20 & 0x3F, word >> 26
            if f3 == 1 and hi6 == 0 and rd == rs1 and rd != ZERO and shamt:
                return c_slli(rd, shamt)
            if f3 == 5 and hi6 in (0, 0x10) and rd == rs1 and _is_c(rd) and shamt:
                return (c_srai if hi6 else c_srli)(rd, shamt)
            if f3 == 7 and rd == rs1 and _is_c(rd) and -32 <= imm_i < 32:
                return c_andi(rd, imm_i)
            return None
        if opcode == OP_IMM_32 and f3 == 0 and rd == rs1 and rd != ZERO and -32 <= imm_i < 32:
            return c_addiw(rd, imm_i)
        if opcode == LUI and rd not in (ZERO, SP):
            imm20 = word >> 12
            if imm20 and -32 <= _sext(imm20, 20) < 32:
                return c_lui(rd, imm20)
            return None
        if opcode == OP and f7 == 0 and f3 == 0 and rd != ZERO:  # add
            if rs1 == ZERO and rs2 != ZERO:
                return c_mv(rd, rs2)
            if rs2 == ZERO and rs1 != ZERO:
                return c_mv(rd, rs1)
            if rd == rs1 and rs2 != ZERO:
                return c_add(rd, rs2)
            if rd == rs2 and rs1 != ZERO:
                return c_add(rd, rs1)
            return None
        if opcode in (OP, OP_32) and _is_c(rd) and _is_c(rs2 if rd == rs1 else rs1):
            w = opcode == OP_32
            table = {(0x20, 0): c_subw if w else c_sub, (0, 0): c_addw if w else None}
            if not w:
                table.update({(0, 4): c_xor, (0, 6): c_or, (0, 7): c_and})
            enc = table.get((f7, f3))
            if enc is None:
                return None
            if rd == rs1 and _is_c(rs2):
                return enc(rd, rs2)
            if rd == rs2 and (f7, f3) != (0x20, 0):  # commutative: rd = rs1 op rd
                return enc(rd, rs1)
            return None
        if opcode == LOAD and f3 in (2, 3) and rd != ZERO:
            size = 4 if f3 == 2 else 8
            if imm_i >= 0 and imm_i % size == 0:
                if rs1 == SP and imm_i < 64 * size:
                    return (c_lwsp if size == 4 else c_ldsp)(rd, imm_i)
                if _is_c(rd) and _is_c(rs1) and imm_i < 32 * size:
                    return (c_lw if size == 4 else c_ld)(rd, rs1, imm_i)
            return None
        if opcode == STORE and f3 in (2, 3):
            size = 4 if f3 == 2 else 8
            imm = _sext((word >> 25) << 5 | rd, 12)
            if imm >= 0 and imm % size == 0:
                if rs1 == SP and imm < 64 * size:
                    return (c_swsp if size == 4 else c_sdsp)(rs2, imm)
                if _is_c(rs2) and _is_c(rs1) and imm < 32 * size:
                    return (c_sw if size == 4 else c_sd)(rs2, rs1, imm)
            return None
        if opcode == JALR and f3 == 0 and imm_i == 0 and rs1 != ZERO and rd in (ZERO, RA):
            return (c_jr if rd == ZERO else c_jalr)(rs1)
        if opcode == JAL and rd == ZERO:
            off = _sext((word >> 31) << 20 | (word >> 12 & 0xFF) << 12 | (word >> 20 & 1) << 11
                        | (word >> 21 & 0x3FF) << 1, 21)
            return c_j(off) if -2048 <= off < 2048 else None
        if opcode == BRANCH and f3 in (BEQ, BNE) and rs2 == ZERO and _is_c(rs1):
            off = _sext((word >> 31) << 12 | (word >> 7 & 1) << 11 | (word >> 25 & 0x3F) << 5 | (word >> 8 & 0xF) << 1,
                        13)
            return (c_beqz if f3 == BEQ else c_bnez)(rs1, off) if -256 <= off < 256 else None
        if word == ebreak():
            return c_ebreak()
    except ValueError:
        return None
    return None
