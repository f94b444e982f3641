"""How the core runs riscv64 code under unicorn, including the Zba/Zbb instructions unicorn lacks.

unicorn 2 (QEMU 5) executes RV64IMAC but raises an illegal-instruction exception for every Zba and Zbb
instruction. ``setup`` therefore hooks that exception: the word is matched against encode.py's own Zba/Zbb
encoders (so no second table of encodings exists), executed in Python, and execution resumes after it. Any
other illegal instruction is a RuntimeFault. QEMU (``-cpu rv64,zba=true,zbb=true``) runs the same code
natively, which is how the bare-metal examples check it independently.
"""

from __future__ import annotations

from bpfx import Machine, RuntimeFault

from . import encode as E

MASK = (1 << 64) - 1


def _s64(v: int) -> int:
    return v - (1 << 64) if v >> 63 else v


def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return (v - (1 << bits) if v >> (bits - 1) else v) & MASK


def _rotl(v: int, n: int) -> int:
    n &= 63
    return ((v << n) | (v >> (64 - n))) & MASK if n else v


def _clz(v: int) -> int:
    return 64 - v.bit_length()


def _ctz(v: int) -> int:
    return 64 if v == 0 else (v & -v).bit_length() - 1


def _orc_b(v: int) -> int:
    return sum(0xFF << (8 * i) for i in range(8) if (v >> (8 * i)) & 0xFF)


# encoder -> semantics on unsigned 64-bit values
BINARY = (
    (E.sh1add, lambda a, b: (a << 1) + b), (E.sh2add, lambda a, b: (a << 2) + b),
    (E.sh3add, lambda a, b: (a << 3) + b), (E.add_uw, lambda a, b: (a & 0xFFFFFFFF) + b),
    (E.andn, lambda a, b: a & ~b), (E.orn, lambda a, b: a | ~b), (E.xnor, lambda a, b: ~(a ^ b)),
    (E.min_, lambda a, b: a if _s64(a) < _s64(b) else b), (E.max_, lambda a, b: a if _s64(a) > _s64(b) else b),
    (E.minu, min), (E.maxu, max), (E.rol, lambda a, b: _rotl(a, b)), (E.ror, lambda a, b: _rotl(a, -b)),
)
UNARY = (
    (E.clz, _clz), (E.ctz, _ctz), (E.cpop, lambda a: bin(a).count("1")), (E.sext_b, lambda a: _sext(a, 8)),
    (E.sext_h, lambda a: _sext(a, 16)), (E.zext_h, lambda a: a & 0xFFFF),
    (E.rev8, lambda a: int.from_bytes(a.to_bytes(8, "little"), "big")), (E.orc_b, _orc_b),
)
SHIFT = ((E.slli_uw, lambda a, n: (a & 0xFFFFFFFF) << n), (E.rori, lambda a, n: _rotl(a, -n)))


def execute_zb(word: int, read) -> tuple[int, int] | None:
    """(rd, value) of the Zba/Zbb instruction ``word`` given ``read(reg)``, or None if it is not one."""
    rd, rs1, rs2, shamt = word >> 7 & 31, word >> 15 & 31, word >> 20 & 31, word >> 20 & 63
    for enc, fn in BINARY:
        if enc(rd, rs1, rs2) == word:
            return rd, fn(read(rs1), read(rs2)) & MASK
    for enc, fn in UNARY:
        if enc(rd, rs1) == word:
            return rd, fn(read(rs1)) & MASK
    for enc, fn in SHIFT:
        if enc(rd, rs1, shamt) == word:
            return rd, fn(read(rs1), shamt) & MASK
    return None


def zb_text(word: int) -> str | None:
    """Assembler text of a Zba/Zbb word (for listings: capstone 5 has no bit-manipulation extensions)."""
    rd, rs1, rs2, shamt = word >> 7 & 31, word >> 15 & 31, word >> 20 & 31, word >> 20 & 63
    n = E.ABI_NAMES

    def name(enc) -> str:
        return enc.__name__.rstrip("_").replace("_", ".")

    for enc, _ in BINARY:
        if enc(rd, rs1, rs2) == word:
            return f"{name(enc)} {n[rd]}, {n[rs1]}, {n[rs2]}"
    for enc, _ in UNARY:
        if enc(rd, rs1) == word:
            return f"{name(enc)} {n[rd]}, {n[rs1]}"
    for enc, _ in SHIFT:
        if enc(rd, rs1, shamt) == word:
            return f"{name(enc)} {n[rd]}, {n[rs1]}, {shamt}"
    return None


def _count_insns(code: bytes) -> int:
    """Instructions in a block of RV64GC code: a halfword whose low two bits are not 11 starts a compressed
    (2-byte) instruction, anything else a 4-byte one."""
    n = pos = 0
    while pos < len(code):
        pos += 2 if code[pos] & 3 != 3 else 4
        n += 1
    return n


def _setup(uc, layout) -> None:
    import unicorn
    from unicorn import riscv_const as R

    x0 = R.UC_RISCV_REG_X0

    def read(reg: int) -> int:
        return uc.reg_read(x0 + reg) if reg else 0

    def on_exception(uc, intno, _user) -> None:
        nxt = uc.reg_read(R.UC_RISCV_REG_PC)  # unicorn reports the address after the faulting 4-byte word
        word = int.from_bytes(uc.mem_read(nxt - 4, 4), "little") if intno == 2 else None
        done = execute_zb(word, read) if word is not None else None
        if done is None:
            what = f"illegal instruction 0x{word:08x}" if word is not None else f"exception {intno}"
            raise RuntimeFault(f"{what} at native address 0x{nxt - 4:x}")
        if done[0]:
            uc.reg_write(x0 + done[0], done[1])
        uc.reg_write(R.UC_RISCV_REG_PC, nxt)

    uc.hook_add(unicorn.UC_HOOK_INTR, on_exception)


def machine() -> Machine:
    import unicorn
    from unicorn import riscv_const as R

    return Machine(
        uc_arch=unicorn.UC_ARCH_RISCV,
        uc_mode=unicorn.UC_MODE_RISCV64,
        pc=R.UC_RISCV_REG_PC,
        sp=R.UC_RISCV_REG_SP,
        arg_regs=tuple(getattr(R, f"UC_RISCV_REG_A{i}") for i in range(8)),
        ret_reg=R.UC_RISCV_REG_A0,
        link_reg=R.UC_RISCV_REG_RA,
        return_insn=E.ret().to_bytes(4, "little"),
        setup=_setup,
        insn_size=0,  # 2-byte compressed and 4-byte instructions mix when the c feature is on
        decoder=_count_insns,
    )
