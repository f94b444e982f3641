"""bpfx target plugin: arm64 (AArch64, A64 instruction set).

Loaded through the ``bpfx.targets`` entry point exactly like a vendor's
plugin; it imports only bpfx's public API. This module holds the hook
implementations and nothing else.
"""

from __future__ import annotations

from bpfx import Machine, TargetInfo, hookimpl, target_hookimpl

EM_AARCH64 = 183

INFO = TargetInfo(
    name="arm64",
    description="AArch64 (A64), Linux-JIT register map, LSE atomics or LL/SC",
    word_size=64,
    endian="little",
    e_machine=EM_AARCH64,
    llvm_triple="aarch64-unknown-none-elf",
    features={"lse": True},
)


@hookimpl
def bpfx_targets():
    return [INFO]


@target_hookimpl(INFO)
def bpfx_abi(target):
    from .abi import ARM64_ABI

    return ARM64_ABI


@target_hookimpl(INFO)
def bpfx_selector(target, abi, features):
    from .select import Arm64Selector

    return Arm64Selector(abi, lse=features.get("lse", True))


@target_hookimpl(INFO)
def bpfx_reloc_types(target):
    from .helpers import RELOC_TYPES

    return RELOC_TYPES


@target_hookimpl(INFO)
def bpfx_machine(target):
    import unicorn
    from unicorn import arm64_const as A

    return Machine(
        uc_arch=unicorn.UC_ARCH_ARM64,
        uc_mode=unicorn.UC_MODE_ARM,
        pc=A.UC_ARM64_REG_PC,
        sp=A.UC_ARM64_REG_SP,
        arg_regs=tuple(getattr(A, f"UC_ARM64_REG_X{i}") for i in range(8)),
        ret_reg=A.UC_ARM64_REG_X0,
        link_reg=A.UC_ARM64_REG_X30,
        return_insn=(0xD65F03C0).to_bytes(4, "little"),  # ret
        cpu_model=A.UC_CPU_ARM64_MAX,  # the model with LSE atomics
        insn_size=4,
    )
