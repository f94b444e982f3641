"""The arm64 register map and AAPCS64 facts.

    BPF      native   why
    r0       x7       return value; kept out of x0 so r1 (ctx) and r0 never collide across a helper call
    r1-r5    x0-x4    AAPCS64 argument registers: helper arguments need no moves
    r6-r9    x19-x22  callee-saved: survive helper calls for free
    r10      x25      callee-saved frame pointer of the BPF stack
    AX       x9       hidden register of constant blinding / legalisation
    scratch  x10-x12  temporaries inside one BPF instruction

The same choice as the Linux arm64 JIT (arch/arm64/net/bpf_jit_comp.c).
"""

from __future__ import annotations

from bpfx import ABI

X29, X30, SP, XZR = 29, 30, 31, 31
TMP, TMP2, TMP3 = 10, 11, 12

REGS = {0: 7, 1: 0, 2: 1, 3: 2, 4: 3, 5: 4, 6: 19, 7: 20, 8: 21, 9: 22, 10: 25, 11: 9}

ARM64_ABI = ABI(
    regs=REGS,
    arg_regs=(0, 1, 2, 3, 4, 5, 6, 7),
    ret_reg=0,
    callee_saved=frozenset(range(19, 29)),
    scratch=(TMP, TMP2, TMP3),
    reg_names={**{i: f"x{i}" for i in range(31)}, 31: "sp"},
    stack_align=16,
    udiv_by_zero_is_zero=True,  # UDIV/SDIV by 0 give 0
    umod_by_zero_is_dst=True,  # mod = dst - (dst / src) * src = dst when the quotient is 0
    sdiv_overflow_safe=True,  # SDIV INT_MIN, -1 gives INT_MIN without a trap; MSUB then gives 0
    shifts_mask_count=True,  # LSLV/LSRV/ASRV use the count modulo the data size
    alu32_zero_extends=True,  # every W-register write zeroes the upper half
    has_bswap=True,
)
