"""The bpf target's ABI: BPF registers stay BPF registers, and a BPF VM has every BPF semantic natively.

```
 BPF   r0   r1-r5   r6-r9          r10          r11 (AX)
 VM    r0   r1-r5   r6-r9 (saved)  frame ptr    scratch the legaliser may use (the C runtime has it)
```

A device VM that lacks something declares a variant target (``TargetInfo(base="bpf")``) whose ``bpfx_abi``
returns ``device_abi(...)`` with that capability off: the core's legaliser then rewrites (division guards,
zero-extension, shift masks) or rejects (atomics, byte swaps, signed division) exactly as for a CPU.
"""

from __future__ import annotations

from bpfx import ABI


def device_abi(*, atomics: bool = True, atomic_widths: frozenset[int] = frozenset({4, 8}), bswap: bool = True,
               sdiv: bool = True, div_by_zero_safe: bool = True, shifts_mask_count: bool = True,
               alu32_zero_extends: bool = True) -> ABI:
    """The ABI of a BPF VM with the given capabilities (the defaults: everything the ISA defines)."""
    return ABI(
        regs={i: i for i in range(12)},
        arg_regs=(1, 2, 3, 4, 5),
        ret_reg=0,
        callee_saved=frozenset({6, 7, 8, 9, 10}),
        scratch=(),
        reg_names={**{i: f"r{i}" for i in range(11)}, 11: "ax"},
        stack_align=8,
        udiv_by_zero_is_zero=div_by_zero_safe,
        umod_by_zero_is_dst=div_by_zero_safe,
        sdiv_overflow_safe=div_by_zero_safe,
        shifts_mask_count=shifts_mask_count,
        alu32_zero_extends=alu32_zero_extends,
        has_bswap=bswap,
        atomic_widths=atomic_widths,
        has_atomics=atomics,
        has_sdiv=sdiv,
    )


BPF_ABI = device_abi()
