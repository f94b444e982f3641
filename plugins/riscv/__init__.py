"""bpfx target plugin: riscv64 (RV64IMA, with the C, Zba and Zbb extensions as features).

Loaded through the ``bpfx.targets`` entry point exactly like a vendor's plugin; it imports only bpfx's public
API. This module holds the hook implementations and nothing else.

Where each feature runs: unicorn (``bpfx run``/``conformance``/``fuzz``) executes RV64IMAC natively; it has
no Zba or Zbb, so the machine's ``setup`` executes the few Zba/Zbb instructions the selector emits in Python
(see machine.py). QEMU (``qemu-system-riscv64 -cpu rv64,zba=true,zbb=true``) runs all of them natively.
"""

from __future__ import annotations

from bpfx import TargetInfo, hookimpl, target_hookimpl

EM_RISCV = 243

INFO = TargetInfo(
    name="riscv64",
    description="RISC-V RV64IMA (+C, Zba, Zbb), Linux-JIT register map",
    word_size=64,
    endian="little",
    e_machine=EM_RISCV,
    llvm_triple="riscv64-unknown-none-elf",
    # unaligned-scalar-mem: BPF accesses may be unaligned and the baseline emits plain ld/sd for them too;
    # without it LLVM splits every such access into byte loads and stores
    llvm_features="+m,+a,-relax,+unaligned-scalar-mem",
    llvm_reloc="static",  # lui/addi with HI20/LO12 records the loader applies one by one
    llvm_options=("--riscv-disable-using-constant-pool-for-large-ints",),  # 64-bit constants built in code
    # abs64: map addresses from 64-bit literals (R_RISCV_64) instead of lui+addi (R_RISCV_HI20/LO12_I), for
    # maps outside +-2 GiB of address 0 (e.g. RAM at 0x80000000 on QEMU virt)
    features={"c": False, "zba": False, "zbb": False, "abs64": False},
    non_llvm_features=frozenset({"abs64"}),
)


@hookimpl
def bpfx_targets():
    return [INFO]


@target_hookimpl(INFO)
def bpfx_abi(target):
    from .abi import RISCV64_ABI

    return RISCV64_ABI


@target_hookimpl(INFO)
def bpfx_selector(target, abi, features):
    from .select import Riscv64Selector

    return Riscv64Selector(abi, c=features.get("c", False), zba=features.get("zba", False),
                           zbb=features.get("zbb", False), abs64=features.get("abs64", False))


@target_hookimpl(INFO)
def bpfx_machine(target):
    from .machine import machine

    return machine()
