"""NFP-6xxx microengine instruction words: the one table of encodings, encoders and a decoder.

A word is 45 opcode bits, then 7 ECC bits (45-51), stored as a little-endian u64; bits 56-63 carry the
relocation type until the loader applies it (nfp.md §1, §3). Field layouts, opcode bases, operand encodings and
the ECC polynomials are the documented ones (Linux ``nfp_asm.h``/``nfp_asm.c``, recorded in nfp.md). Each class
is identified by ``word & mask == base``; the masks cover the opcode bits no field of the class uses.

Operands are small tuples, independent of their encoding:
``("a", n)`` / ``("b", n)`` GPR n of bank A / B, ``("both", n)`` (destinations: both banks), ``("x", n)`` transfer
register n, ``("lm", idx, off)`` local memory through ActLMAddr<idx>, ``("i", value)`` immediate, ``None`` none.
"""

from __future__ import annotations

from functools import lru_cache

OP_BITS = 45
ECC_POLYS = (0x0FF800007FFF, 0x11F801FF801F, 0x1E387E0781E1, 0x17CB8E388E22, 0x1AF5B2C93244, 0x1F56D5525488,
             0x0DAF69A46910)
RELO_SHIFT = 56
OP_MASK = (1 << OP_BITS) - 1

# class -> (base, mask, {field: (low bit, width)})
CLASSES: dict[str, tuple[int, int, dict[str, tuple[int, int]]]] = {
    "alu": (0x0A000000000, 0x1E000000000, {
        "a": (0, 10), "b": (10, 10), "dst": (20, 10), "swap": (30, 1), "op": (31, 5), "dst_ab": (36, 1),
        "wr_both": (41, 1), "src_lmextn": (42, 1), "dst_lmextn": (43, 1)}),
    "shf": (0x08000000000, 0x1E000000000, {
        "a": (0, 8), "sc": (8, 2), "b": (10, 8), "i8": (18, 1), "swap": (19, 1), "dst": (20, 8), "shift": (28, 5),
        "op": (33, 3), "dst_ab": (36, 1), "wr_both": (41, 1), "src_lmextn": (42, 1), "dst_lmextn": (43, 1)}),
    "ld_field": (0x0C000000000, 0x1FE00E00000, {
        "a": (0, 8), "sc": (8, 2), "b": (10, 8), "i8": (18, 1), "swap": (19, 1), "zero": (20, 1),
        "bytemask": (24, 4), "shift": (28, 5), "wr_both": (41, 1), "src_lmextn": (42, 1), "dst_lmextn": (43, 1)}),
    "br": (0x0D800000020, 0x0F8000C3CE0, {
        "cond": (0, 5), "ev_pip": (8, 2), "css": (14, 4), "defer": (20, 2), "addr": (22, 13), "addr_hi": (40, 1)}),
    "br_bset": (0x0D000000000, 0x0F800080300, {
        "a": (0, 8), "b": (10, 8), "set": (18, 1), "defer": (20, 2), "addr": (22, 13), "addr_hi": (40, 1),
        "src_lmextn": (42, 1)}),
    "br_alu": (0x0E800000000, 0x1FF80000000, {
        "a": (0, 10), "b": (10, 10), "defer": (20, 2), "imm_hi": (22, 9), "src_lmextn": (42, 1),
        "dst_lmextn": (43, 1)}),
    "immed": (0x0F000000000, 0x1F800000000, {
        "a": (0, 10), "b": (10, 10), "imm": (20, 8), "width": (29, 2), "inv": (31, 1), "shift": (33, 2),
        "wr_both": (41, 1), "src_lmextn": (42, 1), "dst_lmextn": (43, 1)}),
    "mul": (0x0F800000000, 0x1FE00000000, {
        "a": (0, 10), "b": (10, 10), "step": (20, 3), "dst_ab": (23, 1), "swap": (30, 1), "type": (31, 2),
        "wr_both": (41, 1), "src_lmextn": (42, 1), "dst_lmextn": (43, 1)}),
    "local_csr": (0x0FC00000000, 0x1FE00000000, {
        "a": (0, 10), "b": (10, 10), "write": (21, 1), "addr": (22, 11), "src_lmextn": (42, 1),
        "dst_lmextn": (43, 1)}),
    # commands: bits 39 and 40 clear; the target+action code says which memory operation
    "cmd": (0x00000000000, 0x18000000000, {
        "a": (0, 8), "ctx": (8, 2), "b": (10, 8), "token": (18, 2), "xfer": (20, 5), "count": (25, 3),
        "sig": (28, 4), "tgt_cmd": (32, 7), "indir": (41, 1), "mode": (42, 3)}),
}

ALU_OPS = {"b": 0x00, "+": 0x01, "~b": 0x04, "+16": 0x05, "and": 0x08, "~a&b": 0x0C, "-carry": 0x0D,
           "a&~b": 0x10, "+carry": 0x11, "or": 0x14, "-": 0x15, "xor": 0x18}
ALU_NAMES = {v: k for k, v in ALU_OPS.items()}
BR_CONDS = {"beq": 0x00, "bne": 0x01, "bmi": 0x02, "bhs": 0x04, "blo": 0x05, "bge": 0x08, "blt": 0x09, "br": 0x18}
BR_NAMES = {v: k for k, v in BR_CONDS.items()}
SHF_OPS = {"none": 0, "and": 2, "or": 5, "asr": 6}
SHF_NAMES = {v: k for k, v in SHF_OPS.items()}
SHF_SC = {"rot": 0, "shr": 1, "shl": 2, "dshr": 3}
SHF_SC_NAMES = {v: k for k, v in SHF_SC.items()}
IMMED_WIDTH = {"all": 0, "byte": 1, "word": 2}
MUL_TYPES = {"start": 0, "24x8": 1, "16x16": 2, "32x32": 3}
MUL_TYPE_NAMES = {v: k for k, v in MUL_TYPES.items()}
MUL_STEPS = {"step1": 0, "step2": 1, "step3": 2, "step4": 3, "last": 4, "last2": 5}
MUL_STEP_NAMES = {v: k for k, v in MUL_STEPS.items()}
# memory commands: name -> (token, target+action); the nfp_asm.c codes. The model's memory is the shared runtime's
# little-endian memory: read8/write8_swap move count+1 bytes (1-8) in host order through two transfer registers;
# add adds the transfer register(s) (count 0: 32-bit, 1: 64-bit) atomically.
CMDS = {"read8": (1, 0x43), "write8_swap": (2, 0x42), "read32_swap": (2, 0x5C), "add": (0, 0x47)}
CMD_NAMES = {v: k for k, v in CMDS.items()}
CMD_MODES = {"40b_ab": 0, "40b_ba": 1, "32b": 4}
CMD_MODE_NAMES = {v: k for k, v in CMD_MODES.items()}
CSR_ACT_LM_ADDR = (0x64, 0x6C, 0x94, 0x9C)
CSR_PSEUDO_RND_NUM = 0x148
CSR_NAMES = {0x64: "ActLMAddr0", 0x6C: "ActLMAddr1", 0x94: "ActLMAddr2", 0x9C: "ActLMAddr3",
             0x148: "PseudoRandNum"}
BR_CSS_NONE = 2
CMD_CTX_SWAP = 0

# operand encodings (nfp.md "Operand encodings")
UR_XFR, UR_LM, UR_LM_IDX, UR_LM_POSTMOD, UR_NN, UR_IMM, UR_NO_DST = 0x180, 0x200, 0x20, 0x10, 0x280, 0x300, 0x300
RE_IMM, RE_NO_DST, RE_LM, RE_LM_IDX, RE_XFR = 0x20, 0x20, 0x50, 0x08, 0x80
NUM_GPRS = 32  # per bank in 4-context mode
NUM_XFER = 32


class EncodeError(ValueError):
    """An operand or field the encoding cannot express (a selector bug, never user input)."""


def _ecc_slow(word: int) -> int:
    out = 0
    for i, poly in enumerate(ECC_POLYS):
        out |= (bin(word & poly).count("1") & 1) << i
    return out


# Parity is linear over XOR, so the ECC of a word is the XOR of the ECCs of its bytes: one table per byte.
_ECC_BYTES = [[_ecc_slow(v << (8 * i)) for v in range(256)] for i in range(6)]


def ecc(word: int) -> int:
    """The 7 ECC bits of a 45-bit opcode: bit i = parity(opcode & ECC_POLYS[i])."""
    word &= OP_MASK
    t = _ECC_BYTES
    return (t[0][word & 0xFF] ^ t[1][word >> 8 & 0xFF] ^ t[2][word >> 16 & 0xFF] ^ t[3][word >> 24 & 0xFF]
            ^ t[4][word >> 32 & 0xFF] ^ t[5][word >> 40 & 0xFF])


def with_ecc(word: int) -> int:
    op = word & OP_MASK
    return op | ecc(op) << OP_BITS | (word & ~((1 << 52) - 1))


def ecc_ok(word: int) -> bool:
    return (word >> OP_BITS) & 0x7F == ecc(word & OP_MASK)


def pack(cls: str, **fields: int) -> int:
    """Build a word of class ``cls`` from field values (ECC and relocation bits not included)."""
    base, _mask, layout = CLASSES[cls]
    word = base
    for name, value in fields.items():
        lo, width = layout[name]
        if not 0 <= value < (1 << width):
            raise EncodeError(f"{cls}.{name} = {value} does not fit {width} bits")
        word |= value << lo
    return word


_ORDER = ("br", "br_bset", "br_alu", "local_csr", "mul", "immed", "ld_field", "alu", "shf", "cmd")


def classify(word: int) -> str | None:
    for cls in _ORDER:
        base, mask, _ = CLASSES[cls]
        if word & mask == base:
            return cls
    return None


def unpack(word: int) -> tuple[str, dict[str, int]] | None:
    """(class, fields) of a word (ECC and relocation bits ignored), or None for no known class."""
    word &= OP_MASK
    cls = classify(word)
    if cls is None:
        return None
    _base, _mask, layout = CLASSES[cls]
    return cls, {name: (word >> lo) & ((1 << width) - 1) for name, (lo, width) in layout.items()}


# -- operands --------------------------------------------------------------------------------------------------

def _ur(op, is_dst: bool) -> tuple[int, int]:
    """(10-bit unrestricted code, lmextn) of one operand."""
    if op is None:
        return (UR_NO_DST if is_dst else 0), 0
    kind = op[0]
    if kind in ("a", "b", "both"):
        if not 0 <= op[1] < NUM_GPRS:
            raise EncodeError(f"GPR {op[1]} out of range")
        return op[1], 0
    if kind == "x":
        if not 0 <= op[1] < NUM_XFER:
            raise EncodeError(f"transfer register {op[1]} out of range")
        return UR_XFR | op[1], 0
    if kind == "lm":
        idx, off = op[1], op[2]
        if not 0 <= idx < 4 or not 0 <= off < 16:
            raise EncodeError(f"LM operand {op} out of range")
        return UR_LM | (idx & 1) * UR_LM_IDX | off, idx >> 1
    if kind == "i":
        if is_dst or not 0 <= op[1] < 256:
            raise EncodeError(f"immediate {op[1]} does not fit an unrestricted operand")
        return UR_IMM | op[1], 0
    raise EncodeError(f"bad operand {op!r}")


def _re(op, is_dst: bool) -> tuple[int, int, int]:
    """(8-bit restricted code, i8 bit, lmextn) of one operand."""
    if op is None:
        return (RE_NO_DST if is_dst else 0), 0, 0
    kind = op[0]
    if kind in ("a", "b", "both"):
        if not 0 <= op[1] < NUM_GPRS:
            raise EncodeError(f"GPR {op[1]} out of range")
        return op[1], 0, 0
    if kind == "x":
        if not 0 <= op[1] < NUM_XFER:
            raise EncodeError(f"transfer register {op[1]} out of range")
        return RE_XFR | op[1], 0, 0
    if kind == "lm":
        idx, off = op[1], op[2]
        if not 0 <= idx < 4 or not 0 <= off < 8:
            raise EncodeError(f"LM operand {op} out of range of a restricted operand")
        return RE_LM | (idx & 1) * RE_LM_IDX | off, 0, idx >> 1
    if kind == "i":
        v = op[1]
        if is_dst or not 0 <= v < 256:
            raise EncodeError(f"immediate {v} does not fit a restricted operand")
        return RE_IMM | (v & 0x1F) | ((v & 0x60) << 1), v >> 7, 0
    raise EncodeError(f"bad operand {op!r}")


def _bank(op) -> str | None:
    return op[0] if op is not None and op[0] in ("a", "b") else None


def _sources(lreg, rreg) -> tuple[object, object, int]:
    """Place the left/right operands in the A/B fields: a B-bank left or A-bank right operand swaps them."""
    lb, rb = _bank(lreg), _bank(rreg)
    if lb is not None and lb == rb:
        raise EncodeError(f"both sources in bank {lb.upper()}")
    if lb == "b" or rb == "a":
        return rreg, lreg, 1
    return lreg, rreg, 0


def _dst_bits(dst) -> tuple[int, int]:
    """(dst_ab, wr_both) of a destination operand."""
    if dst is None:
        return 0, 0
    return (1 if dst[0] == "b" else 0), (1 if dst[0] == "both" else 0)


def _ur_sources(lreg, rreg):
    areg, breg, swap = _sources(lreg, rreg)
    a, ea = _ur(areg, False)
    b, eb = _ur(breg, False)
    return a, b, swap, ea | eb


def _re_sources(lreg, rreg, imm8: bool):
    areg, breg, swap = _sources(lreg, rreg)
    a, ia, ea = _re(areg, False)
    b, ib, eb = _re(breg, False)
    if (ia or ib) and not imm8:
        raise EncodeError("8-bit immediate where only 7 bits are allowed")
    return a, b, swap, ia | ib, ea | eb


# -- instruction classes ---------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def alu(dst, lreg, op: str, rreg) -> int:
    """dst = lreg OP rreg (op "b": dst = rreg, "~b": dst = ~rreg)."""
    a, b, swap, src_ext = _ur_sources(lreg, rreg)
    d, dst_ext = _ur(dst, True)
    dst_ab, both = _dst_bits(dst)
    return pack("alu", a=a, b=b, dst=d, swap=swap, op=ALU_OPS[op], dst_ab=dst_ab, wr_both=both,
                src_lmextn=src_ext, dst_lmextn=dst_ext)


@lru_cache(maxsize=4096)
def shf(dst, lreg, op: str, rreg, sc: str, amount: int) -> int:
    """dst = lreg OP (rreg shifted by ``amount``; 0 = indirect, the low 5 bits of the previous ALU result).

    ``amount`` is the encoded field: for ``shl`` a left shift by n is encoded as 32 - n."""
    a, b, swap, i8, src_ext = _re_sources(lreg, rreg, True)
    d, _, dst_ext = _re(dst, True)
    dst_ab, both = _dst_bits(dst)
    return pack("shf", a=a, sc=SHF_SC[sc], b=b, i8=i8, swap=swap, dst=d, shift=amount, op=SHF_OPS[op],
                dst_ab=dst_ab, wr_both=both, src_lmextn=src_ext, dst_lmextn=dst_ext)


@lru_cache(maxsize=4096)
def ld_field(dst, bytemask: int, src, sc: str = "rot", amount: int = 0, zero: bool = False) -> int:
    """Replace the bytes of ``dst`` selected by ``bytemask`` with those of ``src`` shifted (others kept, or
    cleared with ``zero``)."""
    if dst is None or dst[0] not in ("a", "b"):
        raise EncodeError("ld_field needs a GPR destination in bank A or B")
    a, b, swap, i8, src_ext = _re_sources(dst, src, True)
    return pack("ld_field", a=a, sc=SHF_SC[sc], b=b, i8=i8, swap=swap, zero=int(zero), bytemask=bytemask,
                shift=amount, src_lmextn=src_ext)


@lru_cache(maxsize=4096)
def immed(dst, value: int, *, width: str = "all", shift: int = 0, inv: bool = False) -> int:
    """dst = (value << 8 * shift), inverted with ``inv``; width "word"/"byte" replaces only that part."""
    if not 0 <= value < 0x10000:
        raise EncodeError(f"immed value {value:#x} does not fit 16 bits")
    imm = ("i", value & 0xFF)
    if dst[0] == "b":
        a, ea = _ur(imm, False)
        b, eb = _ur(dst, False)
    else:
        a, ea = _ur(dst, False)
        b, eb = _ur(imm, False)
    _dst_ab, both = _dst_bits(dst)
    return pack("immed", a=a, b=b, imm=value >> 8, width=IMMED_WIDTH[width], inv=int(inv), shift=shift,
                wr_both=both, src_lmextn=ea | eb, dst_lmextn=ea | eb)


@lru_cache(maxsize=4096)
def br(cond: str, addr: int, defer: int = 0) -> int:
    if not 0 <= addr < (1 << 14):
        raise EncodeError(f"branch address {addr} out of range")
    return pack("br", cond=BR_CONDS[cond], ev_pip=0, css=BR_CSS_NONE, defer=defer, addr=addr & 0x1FFF,
                addr_hi=addr >> 13)


@lru_cache(maxsize=4096)
def br_bset(src, bit: int, addr: int, *, set_: bool = True, defer: int = 0) -> int:
    """Branch if bit ``bit`` of ``src`` is set (``set_``) or clear; the bit is encoded as a rotate, bit + 1."""
    a, b, _swap, _i8, ext = _re_sources(src, ("i", bit + 1), False)
    return pack("br_bset", a=a, b=b, set=int(set_), defer=defer, addr=addr & 0x1FFF, addr_hi=addr >> 13,
                src_lmextn=ext)


@lru_cache(maxsize=4096)
def rtn(src, defer: int = 0) -> int:
    """Branch to the address held in ``src`` (br_alu: the target is the OR of both fields, the other is 0)."""
    a, b, _swap, ext = _ur_sources(src, ("i", 0))
    return pack("br_alu", a=a, b=b, defer=defer, src_lmextn=ext)


@lru_cache(maxsize=4096)
def mul(type_: str, step: str, lreg, rreg=None) -> int:
    """A multiply step. For ``last``/``last2`` the left operand is the destination."""
    if step in ("last", "last2"):
        d, ext = _ur(lreg, True)
        dst_ab, both = _dst_bits(lreg)
        return pack("mul", a=d, b=_ur(rreg, False)[0], step=MUL_STEPS[step], dst_ab=dst_ab, type=MUL_TYPES[type_],
                    wr_both=both, dst_lmextn=ext)
    a, b, swap, ext = _ur_sources(lreg, rreg)
    return pack("mul", a=a, b=b, step=MUL_STEPS[step], swap=swap, type=MUL_TYPES[type_], src_lmextn=ext)


@lru_cache(maxsize=4096)
def local_csr_wr(csr: int, src) -> int:
    """Write a local CSR from ``src`` (the value is the OR of both source fields; the other is immediate 0)."""
    a, b, _swap, ext = _ur_sources(src, ("i", 0))
    return pack("local_csr", a=a, b=b, write=1, addr=csr >> 2, src_lmextn=ext)


@lru_cache(maxsize=4096)
def local_csr_rd(csr: int) -> int:
    """Read a local CSR: the ``immed`` that follows receives its value."""
    return pack("local_csr", a=0, b=0, write=0, addr=csr >> 2)


@lru_cache(maxsize=4096)
def cmd(name: str, xfer: int, lreg, rreg, count: int, *, mode: str = "32b", ctx: int = CMD_CTX_SWAP,
        indir: bool = False) -> int:
    """A memory command on address lreg + rreg (32-bit mode) with transfer registers from ``xfer``."""
    token, tgt_cmd = CMDS[name]
    a, b, _swap, _i8, _ext = _re_sources(lreg, rreg, False)
    return pack("cmd", a=a, ctx=ctx, b=b, token=token, xfer=xfer, count=count, sig=0, tgt_cmd=tgt_cmd,
                indir=int(indir), mode=CMD_MODES[mode])


#: an immed with no destination in either field (the JIT's nop)
NOP = pack("immed", a=UR_NO_DST, b=UR_NO_DST)


# -- operand decoding (shared by the disassembler and the model) ------------------------------------------------

def ur_operand(code: int, bank: str, lmextn: int, is_dst: bool = False, dst_bank: str | None = None):
    """The operand tuple of a 10-bit unrestricted code read through the A or B field (``bank``)."""
    if code < 0x100:
        return (dst_bank or bank, code) if code < NUM_GPRS else ("?", code)
    if UR_XFR <= code < UR_XFR + NUM_XFER:
        return ("x", code - UR_XFR)
    if UR_LM <= code < UR_NN:
        if code & UR_LM_POSTMOD:
            return ("?", code)
        return ("lm", (code >> 5 & 1) | lmextn << 1, code & 0xF)
    if code >= UR_IMM:
        return None if is_dst and code == UR_NO_DST else ("i", code & 0xFF)
    return ("?", code)


def re_operand(code: int, bank: str, i8: int, lmextn: int, is_dst: bool = False, dst_bank: str | None = None):
    """The operand tuple of an 8-bit restricted code."""
    if code & RE_IMM:
        if is_dst:
            return None if code == RE_NO_DST else ("?", code)
        return ("i", (code & 0x1F) | (code >> 1 & 0x60) | i8 << 7)
    if code < NUM_GPRS:
        return (dst_bank or bank, code)
    if code & 0xF0 == RE_LM:
        return ("lm", (code >> 3 & 1) | lmextn << 1, code & 7)
    if code & 0xE0 == RE_XFR:
        return ("x", code & 0x1F)
    return ("?", code)


def dst_bank(f: dict[str, int]) -> str:
    return "both" if f.get("wr_both") else ("b" if f.get("dst_ab") else "a")


def sources(f: dict[str, int], restricted: bool):
    """(left, right) operand tuples of a two-source instruction, undoing the swap."""
    if restricted:
        a = re_operand(f["a"], "a", f.get("i8", 0), f.get("src_lmextn", 0))
        b = re_operand(f["b"], "b", f.get("i8", 0), f.get("src_lmextn", 0))
    else:
        a = ur_operand(f["a"], "a", f.get("src_lmextn", 0))
        b = ur_operand(f["b"], "b", f.get("src_lmextn", 0))
    return (b, a) if f.get("swap") else (a, b)


def immed_fields(f: dict[str, int]):
    """(destination operand, 16-bit value) of an immed: the destination is the field that is not an
    immediate (B when it holds a register, else A), the other field carries the value's low byte."""
    if f["b"] < UR_IMM:
        dst = ur_operand(f["b"], "b", f["dst_lmextn"], True)
        low = f["a"]
    elif f["a"] < UR_IMM:
        dst = ur_operand(f["a"], "a", f["dst_lmextn"], True, "both" if f["wr_both"] else "a")
        low = f["b"]
    else:
        dst, low = None, f["b"]
    return dst, (f["imm"] << 8) | (low & 0xFF)
