"""riscv64 relocations: how a loader (or the emulator) patches calls and map addresses.

Helper calls are ``auipc ra, 0; jalr ra, 0(ra)`` with one R_RISCV_CALL_PLT on the auipc (it patches both,
reaching +-2 GiB); map addresses are ``lui rd, %hi(sym); addi rd, rd, %lo(sym)`` with R_RISCV_HI20 and
R_RISCV_LO12_I (the medlow code model: the symbol must lie within +-2 GiB of address 0), or, with the
``abs64`` feature, an 8-byte R_RISCV_64 literal the code loads pc-relatively. Relocated instructions are never
compressed. Numbers from the RISC-V ELF psABI.
"""

from __future__ import annotations

from bpfx import LinkError, RelocType

R_RISCV_64 = 2
R_RISCV_CALL_PLT = 19
R_RISCV_HI20 = 26
R_RISCV_LO12_I = 27
R_RISCV_LO12_S = 28  # the LLVM tier folds %lo(sym) into a store's offset


def _patch(code: bytearray, offset: int, mask: int, bits: int) -> None:
    word = int.from_bytes(code[offset:offset + 4], "little")
    code[offset:offset + 4] = ((word & ~mask) | (bits & mask)).to_bytes(4, "little")


def _hi_lo(value: int, what: str, where: int) -> tuple[int, int]:
    """Split a signed 32-bit value into the (hi20, lo12) of lui/auipc + addi/jalr (lo12 is sign-extended)."""
    value = value - (1 << 64) if value >> 63 & 1 else value
    if not -(1 << 31) - 0x800 <= value < (1 << 31) - 0x800:
        raise LinkError(f"{what} value 0x{value & ((1 << 64) - 1):x} is out of range at 0x{where:x}")
    hi = (value + 0x800) >> 12
    return hi & 0xFFFFF, value & 0xFFF


def _call_plt(code: bytearray, offset: int, value: int, pc: int) -> None:
    hi, lo = _hi_lo(value - pc, "R_RISCV_CALL_PLT", pc)
    _patch(code, offset, 0xFFFFF000, hi << 12)
    _patch(code, offset + 4, 0xFFF00000, lo << 20)


def _hi20(code: bytearray, offset: int, value: int, pc: int) -> None:
    _patch(code, offset, 0xFFFFF000, _hi_lo(value, "R_RISCV_HI20", pc)[0] << 12)


def _lo12_i(code: bytearray, offset: int, value: int, pc: int) -> None:
    _patch(code, offset, 0xFFF00000, (value & 0xFFF) << 20)


def _lo12_s(code: bytearray, offset: int, value: int, pc: int) -> None:
    lo = value & 0xFFF
    _patch(code, offset, (0x7F << 25) | (0x1F << 7), ((lo >> 5) << 25) | ((lo & 0x1F) << 7))


def _abs64(code: bytearray, offset: int, value: int, pc: int) -> None:
    code[offset:offset + 8] = (value & ((1 << 64) - 1)).to_bytes(8, "little")


RELOC_TYPES = {
    R_RISCV_64: RelocType("R_RISCV_64", _abs64),
    R_RISCV_CALL_PLT: RelocType("R_RISCV_CALL_PLT", _call_plt),
    R_RISCV_HI20: RelocType("R_RISCV_HI20", _hi20),
    R_RISCV_LO12_I: RelocType("R_RISCV_LO12_I", _lo12_i),
    R_RISCV_LO12_S: RelocType("R_RISCV_LO12_S", _lo12_s),
}
