"""bpf relocations (the numbers of the BPF ELF ABI, as clang and libbpf use them).

Map references are LD_IMM64 pairs with R_BPF_64_64: the loader writes the map's id or address into the two
immediate halves. The pair is emitted as a plain constant load (src 0) so a patched program needs nothing else.
Helper calls carry the device's helper index in their immediate and need no record.
"""

from __future__ import annotations

from bpfx import RelocType

R_BPF_64_64 = 1
R_BPF_64_32 = 10


def _ld_imm64(code: bytearray, offset: int, value: int, pc: int) -> None:
    value &= (1 << 64) - 1
    code[offset + 1] &= 0x0F  # src = 0: a plain 64-bit constant once patched
    code[offset + 4:offset + 8] = (value & 0xFFFFFFFF).to_bytes(4, "little")
    code[offset + 12:offset + 16] = (value >> 32).to_bytes(4, "little")


def _imm32(code: bytearray, offset: int, value: int, pc: int) -> None:
    code[offset + 4:offset + 8] = (value & 0xFFFFFFFF).to_bytes(4, "little")


RELOC_TYPES = {
    R_BPF_64_64: RelocType("R_BPF_64_64", _ld_imm64),
    R_BPF_64_32: RelocType("R_BPF_64_32", _imm32),
}
