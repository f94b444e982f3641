"""A vendor's bpfx plugin, as a vendor would write it: the ACME SmartNIC.

ACME's packet engine is an arm64 core, so the target reuses bpfx's arm64
selector and ABI (``base="arm64"``) and adds only what the device defines:
its own context struct and the fixed addresses of its firmware helpers.
It imports nothing but bpfx's public API.
"""

from __future__ import annotations

import zlib

from bpfx import ContextField, ContextLayout, HelperEntry, HelperImpl, TargetInfo, hookimpl

INFO = TargetInfo(name="acme", description="ACME SmartNIC packet core (arm64 variant)", e_machine=183,
                  base="arm64")

# struct acme_xdp_md { uint32_t flags; uint32_t ingress_port; void *pkt; void *pkt_end; }
ACME_XDP = ContextLayout(
    struct="acme_xdp_md",
    size=24,
    fields={
        0: ContextField("data", 8, 8, "ptr"),
        4: ContextField("data_end", 16, 8, "ptr"),
        12: ContextField("ingress_ifindex", 4, 4, "u32"),
    },
)

# Firmware entry points of ACME's helpers (bpf_map_lookup_elem, bpf_xdp_adjust_head, ...), and of one helper
# only ACME has: acme_crc32(ptr, len), id 0x1000.
FIRMWARE_HELPERS = {1: 0x0800_0100, 2: 0x0800_0200, 3: 0x0800_0300, 44: 0x0800_4400, 0x1000: 0x0801_0000}
ACME_CRC32 = 0x1000


@hookimpl
def bpfx_targets():
    return [INFO]


@hookimpl
def bpfx_context(target, prog_type):
    if target.name == INFO.name and prog_type == "xdp":
        return ACME_XDP
    return None


@hookimpl
def bpfx_helpers(target, prog_type):
    if target.name != INFO.name:
        return None
    names = {1: "map_lookup_elem", 2: "map_update_elem", 3: "map_delete_elem", 44: "xdp_adjust_head",
             ACME_CRC32: "acme_crc32"}
    return {hid: HelperEntry(hid, names[hid], address=addr) for hid, addr in FIRMWARE_HELPERS.items()}


def _crc32(call, ptr, length, *_):
    return zlib.crc32(call.read(ptr, length))


@hookimpl
def bpfx_helper_impls(target, prog_type):
    """What ACME's firmware helper does, so ``bpfx run -t acme`` runs programs that call it."""
    if target.name != INFO.name:
        return None
    return [HelperImpl(ACME_CRC32, "acme_crc32", _crc32)]
