"""arm64 relocations: how a loader (or the emulator) patches calls and map addresses.

Helper calls are ``bl`` with R_AARCH64_CALL26; map addresses are movz/movk
quadruples with R_AARCH64_MOVW_UABS_G3 / G2_NC / G1_NC / G0_NC, so the code is
position-independent apart from these records. Code from the LLVM tier (small
code model, PIC) also uses ``b`` (JUMP26) for tail calls and adrp + add/ldr/str
(ADR_PREL_PG_HI21 + ADD/LDST*_ABS_LO12_NC) for map addresses, which need the
target within +-4 GiB of the code. Numbers from the AArch64 ELF ABI.
"""

from __future__ import annotations

from bpfx import LinkError, RelocType

R_AARCH64_MOVW_UABS_G0_NC = 264
R_AARCH64_MOVW_UABS_G1_NC = 266
R_AARCH64_MOVW_UABS_G2_NC = 268
R_AARCH64_MOVW_UABS_G3 = 269
R_AARCH64_ADR_PREL_PG_HI21 = 275
R_AARCH64_ADD_ABS_LO12_NC = 277
R_AARCH64_LDST8_ABS_LO12_NC = 278
R_AARCH64_JUMP26 = 282
R_AARCH64_CALL26 = 283
R_AARCH64_LDST16_ABS_LO12_NC = 284
R_AARCH64_LDST32_ABS_LO12_NC = 285
R_AARCH64_LDST64_ABS_LO12_NC = 286
R_AARCH64_LDST128_ABS_LO12_NC = 299

#: the movz/movk relocation for each 16-bit chunk (hw = 0..3)
MOVW_BY_HW = (R_AARCH64_MOVW_UABS_G0_NC, R_AARCH64_MOVW_UABS_G1_NC, R_AARCH64_MOVW_UABS_G2_NC,
              R_AARCH64_MOVW_UABS_G3)


def _patch(code: bytearray, offset: int, mask: int, bits: int) -> None:
    word = int.from_bytes(code[offset:offset + 4], "little")
    code[offset:offset + 4] = ((word & ~mask) | (bits & mask)).to_bytes(4, "little")


def _movw(hw: int):
    def apply(code: bytearray, offset: int, value: int, pc: int) -> None:
        _patch(code, offset, 0xFFFF << 5, ((value >> (16 * hw)) & 0xFFFF) << 5)
    return apply


def _call26(code: bytearray, offset: int, value: int, pc: int) -> None:
    delta = value - pc
    if delta & 3 or not -(1 << 27) <= delta < (1 << 27):
        raise LinkError(f"R_AARCH64_CALL26 target 0x{value:x} is out of range of a bl at 0x{pc:x}")
    _patch(code, offset, (1 << 26) - 1, delta >> 2)


def _adrp(code: bytearray, offset: int, value: int, pc: int) -> None:
    delta = (value >> 12) - (pc >> 12)
    if not -(1 << 20) <= delta < (1 << 20):
        raise LinkError(f"R_AARCH64_ADR_PREL_PG_HI21 target 0x{value:x} is out of range of an adrp at 0x{pc:x}")
    _patch(code, offset, (3 << 29) | (0x7FFFF << 5), ((delta & 3) << 29) | (((delta >> 2) & 0x7FFFF) << 5))


def _lo12(shift: int):
    """add (shift 0) or a load/store whose unsigned offset is scaled by 1 << shift: bits [11:shift] of S + A."""
    def apply(code: bytearray, offset: int, value: int, pc: int) -> None:
        if value & ((1 << shift) - 1):
            raise LinkError(f"target 0x{value:x} of a {8 << shift}-bit load/store is not {1 << shift}-byte aligned")
        _patch(code, offset, 0xFFF << 10, ((value & 0xFFF) >> shift) << 10)
    return apply


_LO12 = {R_AARCH64_ADD_ABS_LO12_NC: ("R_AARCH64_ADD_ABS_LO12_NC", 0),
         R_AARCH64_LDST8_ABS_LO12_NC: ("R_AARCH64_LDST8_ABS_LO12_NC", 0),
         R_AARCH64_LDST16_ABS_LO12_NC: ("R_AARCH64_LDST16_ABS_LO12_NC", 1),
         R_AARCH64_LDST32_ABS_LO12_NC: ("R_AARCH64_LDST32_ABS_LO12_NC", 2),
         R_AARCH64_LDST64_ABS_LO12_NC: ("R_AARCH64_LDST64_ABS_LO12_NC", 3),
         R_AARCH64_LDST128_ABS_LO12_NC: ("R_AARCH64_LDST128_ABS_LO12_NC", 4)}

RELOC_TYPES = {
    R_AARCH64_CALL26: RelocType("R_AARCH64_CALL26", _call26),
    R_AARCH64_JUMP26: RelocType("R_AARCH64_JUMP26", _call26),
    R_AARCH64_ADR_PREL_PG_HI21: RelocType("R_AARCH64_ADR_PREL_PG_HI21", _adrp),
    **{t: RelocType(name, _lo12(shift)) for t, (name, shift) in _LO12.items()},
    **{t: RelocType(name, _movw(hw)) for hw, (t, name) in enumerate(zip(
        MOVW_BY_HW, ("R_AARCH64_MOVW_UABS_G0_NC", "R_AARCH64_MOVW_UABS_G1_NC", "R_AARCH64_MOVW_UABS_G2_NC",
                     "R_AARCH64_MOVW_UABS_G3")))},
}
