"""What the device's firmware offers a program: the description the helper table, the limits and the model's
firmware come from.

A downstream driver reads the ``_abi_bpf_capabilities`` TLV blob out of its firmware (``parse_capabilities``)
and the control-BAR values (stack size, maximum program length, START/DONE) and hands the result to
``bpfx_nfp.use_firmware``; without one the public NIC firmware's values from nfp.md are used.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from bpfx import BpfxError

# capability TLV types (nfp.md §3)
TLV_FUNC, TLV_ADJUST_HEAD, TLV_MAPS, TLV_RANDOM, TLV_QUEUE_SELECT, TLV_ADJUST_TAIL, TLV_ABI_VERSION, \
    TLV_CMSG_MULTI_ENT = range(1, 9)
ADJUST_HEAD_NO_META = 1

HELPER_MAP_LOOKUP, HELPER_MAP_UPDATE, HELPER_MAP_DELETE = 1, 2, 3
HELPER_PRANDOM, HELPER_ADJUST_HEAD, HELPER_ADJUST_TAIL, HELPER_PERF_EVENT_OUTPUT = 7, 44, 65, 25
#: the UAPI names of the helpers a firmware can offer (the symbols are bpf_<name>)
HELPER_NAMES = {1: "map_lookup_elem", 2: "map_update_elem", 3: "map_delete_elem", 7: "get_prandom_u32",
                25: "perf_event_output", 44: "xdp_adjust_head", 65: "xdp_adjust_tail"}


@dataclass(frozen=True)
class AdjustHead:
    flags: int = ADJUST_HEAD_NO_META
    off_min: int = 44
    off_max: int = 248
    guaranteed_sub: int = 84
    guaranteed_add: int = 112


@dataclass(frozen=True)
class MapLimits:
    types: int = (1 << 1) | (1 << 2)  # BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_ARRAY
    max_maps: int = 0
    max_elems: int = 0
    max_key_sz: int = 0
    max_val_sz: int = 0
    max_elem_sz: int = 0


@dataclass(frozen=True)
class Firmware:
    """One firmware's offer. Addresses are microcode-store word addresses."""

    #: FUNC TLVs: helper id -> address of the firmware subroutine
    funcs: dict[int, int] = field(default_factory=lambda: {HELPER_MAP_LOOKUP: 0x200})
    adjust_head: AdjustHead | None = AdjustHead()
    adjust_tail: bool = False
    random: bool = False
    queue_select: bool = False
    maps: MapLimits | None = MapLimits()
    abi_version: int = 2
    stack_size: int = 512  # control BAR STACK_SZ (64-byte units there)
    max_len: int = 2560  # control BAR MAX_LEN: instruction-store words for the program
    start: int = 3072  # control BAR START: where the program is loaded
    done: int = 2048  # control BAR DONE: where a program hands the packet back
    #: where this bpfx model's firmware serves the packet helpers the Linux JIT inlines (adjust_head/tail): the
    #: packet bookkeeping is the shared runtime's, so the model's firmware does it
    inline_subroutines: dict[int, int] = field(default_factory=lambda: {HELPER_ADJUST_HEAD: 0x300,
                                                                        HELPER_ADJUST_TAIL: 0x308})

    def helper_addresses(self) -> dict[int, int]:
        """Helper id -> firmware subroutine address, for every helper reached by a call (get_prandom_u32, with
        the RANDOM capability, is inline: a read of the pseudo-random CSR)."""
        out = dict(self.funcs)
        offered = {HELPER_ADJUST_HEAD: self.adjust_head is not None, HELPER_ADJUST_TAIL: self.adjust_tail}
        for hid, ok in offered.items():
            if ok and hid in self.inline_subroutines:
                out.setdefault(hid, self.inline_subroutines[hid])
        return out


DEFAULT = Firmware()


def parse_capabilities(blob: bytes, base: Firmware = DEFAULT) -> Firmware:
    """Read an ``_abi_bpf_capabilities`` blob (little-endian u32 type, u32 length, value; repeated) into a
    Firmware: what the blob says replaces ``base``'s helper/map/adjust facts; the BAR values stay."""
    funcs: dict[int, int] = {}
    changes: dict = {"adjust_head": None, "adjust_tail": False, "random": False, "queue_select": False,
                     "maps": None}
    off = 0
    while off < len(blob):
        if off + 8 > len(blob):
            raise BpfxError(f"capability TLV header at byte {off} is cut short", file="_abi_bpf_capabilities")
        typ, length = struct.unpack_from("<II", blob, off)
        value = blob[off + 8:off + 8 + length]
        if len(value) != length:
            raise BpfxError(f"capability TLV {typ} at byte {off} says {length} bytes, {len(value)} follow",
                            file="_abi_bpf_capabilities")
        if typ == TLV_FUNC:
            if length < 8:
                raise BpfxError(f"FUNC TLV at byte {off} is {length} bytes, needs 8", file="_abi_bpf_capabilities")
            hid, addr = struct.unpack_from("<II", value)
            funcs[hid] = addr
        elif typ == TLV_ADJUST_HEAD:
            fields = struct.unpack_from("<5I", value.ljust(20, b"\0"))
            changes["adjust_head"] = AdjustHead(*fields)
        elif typ == TLV_MAPS:
            changes["maps"] = MapLimits(*struct.unpack_from("<6I", value.ljust(24, b"\0")))
        elif typ == TLV_RANDOM:
            changes["random"] = True
        elif typ == TLV_QUEUE_SELECT:
            changes["queue_select"] = True
        elif typ == TLV_ADJUST_TAIL:
            changes["adjust_tail"] = True
        elif typ == TLV_ABI_VERSION:
            changes["abi_version"] = struct.unpack_from("<I", value.ljust(4, b"\0"))[0]
        off += 8 + length
    return replace(base, funcs=funcs, **changes)


def capabilities_blob(fw: Firmware) -> bytes:
    """The TLV blob a firmware with ``fw``'s offer would carry (the inverse of ``parse_capabilities``)."""
    def tlv(typ: int, value: bytes = b"") -> bytes:
        return struct.pack("<II", typ, len(value)) + value

    out = b"".join(tlv(TLV_FUNC, struct.pack("<II", hid, addr)) for hid, addr in sorted(fw.funcs.items()))
    if fw.adjust_head is not None:
        a = fw.adjust_head
        out += tlv(TLV_ADJUST_HEAD, struct.pack("<5I", a.flags, a.off_min, a.off_max, a.guaranteed_sub,
                                                a.guaranteed_add))
    if fw.maps is not None:
        m = fw.maps
        out += tlv(TLV_MAPS, struct.pack("<6I", m.types, m.max_maps, m.max_elems, m.max_key_sz, m.max_val_sz,
                                         m.max_elem_sz))
    if fw.random:
        out += tlv(TLV_RANDOM)
    if fw.queue_select:
        out += tlv(TLV_QUEUE_SELECT)
    if fw.adjust_tail:
        out += tlv(TLV_ADJUST_TAIL)
    return out + tlv(TLV_ABI_VERSION, struct.pack("<I", fw.abi_version))
