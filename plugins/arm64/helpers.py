"""arm64 relocations: how a loader (or the emulator) patches calls and map addresses.

Helper calls are ``bl`` with R_AARCH64_CALL26; map addresses are movz/movk
quadruples with R_AARCH64_MOVW_UABS_G3 / G2_NC / G1_NC / G0_NC, so the code is
position-independent apart from these records. Numbers from the AArch64 ELF ABI.
"""

from __future__ import annotations

from bpfx import LinkError, RelocType

R_AARCH64_MOVW_UABS_G0_NC = 264
R_AARCH64_MOVW_UABS_G1_NC = 266
R_AARCH64_MOVW_UABS_G2_NC = 268
R_AARCH64_MOVW_UABS_G3 = 269
R_AARCH64_CALL26 = 283

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


RELOC_TYPES = {
    R_AARCH64_CALL26: RelocType("R_AARCH64_CALL26", _call26),
    **{t: RelocType(name, _movw(hw)) for hw, (t, name) in enumerate(zip(
        MOVW_BY_HW, ("R_AARCH64_MOVW_UABS_G0_NC", "R_AARCH64_MOVW_UABS_G1_NC", "R_AARCH64_MOVW_UABS_G2_NC",
                     "R_AARCH64_MOVW_UABS_G3")))},
}
