"""nfp relocations and the helper table derived from the firmware description.

The relocation numbers are the Linux nfp JIT's ``enum nfp_relo_type`` order (BR_REL .. IMMED_REL); the last two
are bpfx's own: a map's address is not known at compile time here (the kernel patches the firmware's table id at
translation), so its two ``immed`` halves carry relocations. A relocated word keeps its type in bits 56-63 until
the loader clears them and recomputes the ECC bits, as the driver does.
"""

from __future__ import annotations

from bpfx import HelperEntry, LinkError, RelocType

from . import encode as E

RELO_BR_REL, RELO_GO_OUT, RELO_GO_ABORT, RELO_CALL_PUSH, RELO_CALL_POP, RELO_NEXT_PKT, RELO_BR_HELPER, \
    RELO_IMMED_REL, RELO_IMMED_ABS_LO, RELO_IMMED_ABS_HI = range(1, 11)
DONE_SYMBOL = "nfp_done"  # the firmware's DONE address (NEXT_PKT)


def _word(code: bytearray, offset: int) -> int:
    return int.from_bytes(code[offset:offset + 8], "little")


def _put(code: bytearray, offset: int, word: int) -> None:
    code[offset:offset + 8] = E.with_ecc(word & E.OP_MASK).to_bytes(8, "little")


def _set_addr(code: bytearray, offset: int, addr: int, name: str) -> None:
    word = _word(code, offset)
    dec = E.unpack(word)
    if dec is None or dec[0] not in ("br", "br_bset"):
        raise LinkError(f"{name} relocation at byte {offset} is not on a branch")
    if not 0 <= addr < (1 << 14):
        raise LinkError(f"{name}: branch address {addr} is outside the 14-bit instruction store")
    word &= ~((0x1FFF << 22) | (1 << 40))
    _put(code, offset, word | (addr & 0x1FFF) << 22 | (addr >> 13) << 40)


def immed_value(word: int) -> int:
    """The 16-bit value of an immed word."""
    _cls, f = E.unpack(word)
    low = f["b"] if f["b"] >= E.UR_IMM else f["a"]
    return (f["imm"] << 8) | (low & 0xFF)


def _set_immed(code: bytearray, offset: int, value: int, name: str) -> None:
    word = _word(code, offset)
    dec = E.unpack(word)
    if dec is None or dec[0] != "immed":
        raise LinkError(f"{name} relocation at byte {offset} is not on an immed")
    if not 0 <= value < 0x10000:
        raise LinkError(f"{name}: value {value:#x} does not fit the 16-bit immediate")
    f = dec[1]
    lo_field = 10 if f["b"] >= E.UR_IMM else 0
    word &= ~((0xFF << lo_field) | (0xFF << 20))
    _put(code, offset, word | (value & 0xFF) << lo_field | (value >> 8) << 20)


def _absolute(name: str):
    def apply(code: bytearray, offset: int, value: int, pc: int) -> None:
        _set_addr(code, offset, value // 8, name)
    return apply


def _plus_start(code: bytearray, offset: int, value: int, pc: int) -> None:
    dec = E.unpack(_word(code, offset))
    f = dec[1]
    _set_addr(code, offset, (f["addr"] | f["addr_hi"] << 13) + value // 8, "BR_REL")


def _immed_plus_start(code: bytearray, offset: int, value: int, pc: int) -> None:
    _set_immed(code, offset, immed_value(_word(code, offset)) + value // 8, "IMMED_REL")


def _immed_abs(shift: int, name: str):
    def apply(code: bytearray, offset: int, value: int, pc: int) -> None:
        _set_immed(code, offset, (value >> shift) & 0xFFFF, name)
    return apply


#: value = S + A in bytes of the instruction store (a word address times 8); BR_REL/IMMED_REL add the program's
#: load address (START), the others set an absolute address or value
RELOC_TYPES = {
    RELO_BR_REL: RelocType("BR_REL", _plus_start),
    RELO_GO_OUT: RelocType("GO_OUT", _absolute("GO_OUT")),
    RELO_GO_ABORT: RelocType("GO_ABORT", _absolute("GO_ABORT")),
    RELO_CALL_PUSH: RelocType("CALL_PUSH", _absolute("CALL_PUSH")),
    RELO_CALL_POP: RelocType("CALL_POP", _absolute("CALL_POP")),
    RELO_NEXT_PKT: RelocType("NEXT_PKT", _absolute("NEXT_PKT")),
    RELO_BR_HELPER: RelocType("BR_HELPER", _absolute("BR_HELPER")),
    RELO_IMMED_REL: RelocType("IMMED_REL", _immed_plus_start),
    RELO_IMMED_ABS_LO: RelocType("IMMED_ABS_LO", _immed_abs(0, "IMMED_ABS_LO")),
    RELO_IMMED_ABS_HI: RelocType("IMMED_ABS_HI", _immed_abs(16, "IMMED_ABS_HI")),
}


def _prandom(cg, selector) -> None:
    selector.prandom(cg)


def helper_table(firmware, names: dict[int, str], prandom_id: int) -> dict[int, HelperEntry]:
    """The helpers this firmware offers: subroutines by address (word address * 8, the relocation value
    convention), get_prandom_u32 inline when the firmware has the RANDOM capability."""
    table = {hid: HelperEntry(hid, names.get(hid, f"helper_{hid}"), address=addr * 8)
             for hid, addr in firmware.helper_addresses().items()}
    if firmware.random:
        table[prandom_id] = HelperEntry(prandom_id, names[prandom_id], inline=_prandom)
    return table
