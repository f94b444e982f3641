"""bpfx target plugin: nfp (Netronome NFP-6xxx flow-processor microengines).

Loaded through the ``bpfx.targets`` entry point like a vendor's plugin; it imports only bpfx's public API. Code
runs on the plugin's own executable model of the microengine (model.py): no CPU emulator runs NFP code. What the
firmware offers (helpers, limits, load addresses) comes from a :class:`Firmware` description: the public NIC
firmware's by default, a driver's own through :func:`use_firmware`, or the ``_abi_bpf_capabilities`` TLV blob
named by ``BPFX_NFP_CAPABILITIES`` (a file).
"""

from __future__ import annotations

import os

from bpfx import BpfxError, TargetInfo, hookimpl, target_hookimpl

from .firmware import DEFAULT, Firmware, parse_capabilities

EM_NFP = 250

INFO = TargetInfo(
    name="nfp",
    description="Netronome NFP-6xxx microengine (32-bit, A/B register banks, firmware helpers), run on bpfx's model",
    word_size=32,
    endian="little",
    e_machine=EM_NFP,
    # a NIC microengine has no memory protection: what the verifier cannot prove is checked at run time
    safety="checked",
)

_chosen: list[Firmware] = []


def use_firmware(fw: Firmware | None) -> None:
    """Compile and run for ``fw`` from now on (None: back to the default)."""
    _chosen[:] = [fw] if fw is not None else []


def firmware() -> Firmware:
    if _chosen:
        return _chosen[0]
    path = os.environ.get("BPFX_NFP_CAPABILITIES")
    if path:
        try:
            with open(path, "rb") as f:
                blob = f.read()
        except OSError as exc:
            raise BpfxError(f"cannot read the firmware capabilities (BPFX_NFP_CAPABILITIES): {exc.strerror}",
                            file=path) from None
        return parse_capabilities(blob)
    return DEFAULT


@hookimpl
def bpfx_targets():
    return [INFO]


@target_hookimpl(INFO)
def bpfx_abi(target):
    from .abi import NFP_ABI

    return NFP_ABI


@target_hookimpl(INFO)
def bpfx_selector(target, abi, features):
    from .select import NfpSelector

    return NfpSelector(abi, firmware())


@target_hookimpl(INFO)
def bpfx_helpers(target, prog_type):
    from .firmware import HELPER_NAMES, HELPER_PRANDOM
    from .helpers import helper_table

    return helper_table(firmware(), HELPER_NAMES, HELPER_PRANDOM)


@target_hookimpl(INFO)
def bpfx_machine(target):
    from .model import NfpExecutor

    return NfpExecutor(firmware)
