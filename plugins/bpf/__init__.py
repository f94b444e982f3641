"""bpfx target plugin: bpf — the IR handoff ("Option 2"): device-normalised BPF for a device's own VM.

The core pipeline runs as for any target (validation, legalisation against the device VM's capabilities, context
rewriting to the device layout, helper renumbering, map relocations); the output is one flat BPF program. It runs
on bpfx's interpreter here and on the freestanding C runtime (``bpfx export-runtime``) on a device. This module
holds the hook implementations and nothing else.
"""

from __future__ import annotations

from bpfx import TargetInfo, hookimpl, target_hookimpl

EM_BPF = 247

INFO = TargetInfo(
    name="bpf",
    description="device-normalised BPF for a device VM (IR handoff; runs on the C runtime of export-runtime)",
    word_size=64,
    endian="little",
    e_machine=EM_BPF,
    # the device VM this IR is handed to need not check memory itself: the checks travel in the BPF
    safety="checked",
)


@hookimpl
def bpfx_targets():
    return [INFO]


@target_hookimpl(INFO)
def bpfx_abi(target):
    from .abi import BPF_ABI

    return BPF_ABI


@target_hookimpl(INFO)
def bpfx_selector(target, abi, features):
    from .select import BpfSelector

    return BpfSelector(abi)


@target_hookimpl(INFO)
def bpfx_machine(target):
    from .execute import BpfExecutor

    return BpfExecutor(target.name)
