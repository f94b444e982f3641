"""The riscv64 register map and LP64 facts.

    BPF      native      why
    r0       a5 (x15)    return value; kept out of a0 so r1 (ctx) and r0 never collide across a helper call
    r1-r5    a0-a4       LP64 argument registers: helper arguments need no moves
    r6-r9    s1-s4       callee-saved: survive helper calls for free
    r10      s5          callee-saved frame pointer of the BPF stack (set only when its value escapes;
                         r10-relative loads and stores address sp directly)
    AX       t0          hidden register of constant blinding / legalisation
    scratch  t1-t3       temporaries inside one BPF instruction

The same choice as the Linux riscv JIT (arch/riscv/net/bpf_jit_comp64.c). a5 and a0-a4 are all in x8..x15, so
the C extension's three-bit register fields reach r0-r5.
"""

from __future__ import annotations

from bpfx import ABI

from .encode import ABI_NAMES, RA, SP, T0, T1, T2, T3, ZERO  # noqa: F401 - re-exported for select.py

REGS = {0: 15, 1: 10, 2: 11, 3: 12, 4: 13, 5: 14, 6: 9, 7: 18, 8: 19, 9: 20, 10: 21, 11: T0}

RISCV64_ABI = ABI(
    regs=REGS,
    arg_regs=(10, 11, 12, 13, 14, 15, 16, 17),
    ret_reg=10,
    callee_saved=frozenset({8, 9, *range(18, 28)}),  # s0-s11
    scratch=(T1, T2, T3),
    reg_names=dict(enumerate(ABI_NAMES)),
    stack_align=16,  # LP64: sp is 16-byte aligned at every call
    udiv_by_zero_is_zero=False,  # divu/divuw by 0 give all ones: the legaliser guards it
    umod_by_zero_is_dst=True,  # remu/remuw by 0 give the dividend (32-bit: zero-extended by the selector)
    sdiv_overflow_safe=True,  # div INT_MIN, -1 gives INT_MIN and rem gives 0, without a trap
    shifts_mask_count=True,  # sll/srl/sra use the count's low 6 bits, the *w forms its low 5
    # The W forms sign-extend their 32-bit results; the selector zero-extends every ALU32 result itself
    # (zext.w with Zba, slli+srli otherwise) and skips it where the value is already zero-extended, which the
    # legaliser's generic lsh/rsh pair could not.
    alu32_zero_extends=True,
    has_bswap=True,  # rev8 with Zbb, a shift/or sequence otherwise
    atomic_widths=frozenset({4, 8}),  # AMO .w/.d and lr/sc; there are no 8/16-bit AMOs
)
