"""The nfp register map: each BPF register is a pair of 32-bit GPRs, written to both banks.

    BPF      GPRs (A and B)  why
    r0-r9    2n (low), 2n+1 (high)   the Linux nfp JIT's map; firmware subroutines keep GPR 12-22 (r6-r9)
    r10      24, 25                   the frame pointer lives in registers here (the JIT folds it into LMEM)
    AX       26, 27                   hidden register of legalisation
    scratch  20, 21, 23, 28-31        temporaries inside one BPF instruction (20/21 as in the JIT)
    A22      stack base (set by the firmware before the program starts)
    B22      packet length (the firmware's packet vector word 0)

GPRs up to 31 are used, so the code assumes 4-context mode (restricted operands reach GPR 0-31). Sources of one
instruction come from different banks: a BPF register's copy in bank A is the left operand, its copy in bank B
the right one, so any two BPF registers can meet in one instruction.
"""

from __future__ import annotations

from bpfx import ABI

STACK_BASE_A = 22  # A22
PKT_LEN_B = 22  # B22
SCRATCH = (20, 21, 23, 28, 29, 30, 31)
RET_ADDR = 21  # B21 carries return addresses of bpf-to-bpf calls; firmware subroutines return through B0
LM_CSR_LATENCY = 3  # a local_csr write of ActLMAddrN is seen by the 4th instruction after it

REGS = {**{n: (2 * n, 2 * n + 1) for n in range(10)}, 10: (24, 25), 11: (26, 27)}

NFP_ABI = ABI(
    regs=REGS,
    arg_regs=tuple(REGS[n] for n in range(1, 6)),  # firmware helpers read r1-r5 where they are
    ret_reg=REGS[0],
    callee_saved=frozenset(range(12, 20)) | frozenset(REGS[10]),  # firmware keeps GPR 12-22 (+ r10's pair)
    scratch=SCRATCH,
    reg_names={n: f"gpr{n}" for n in range(32)},
    stack_align=8,
    udiv_by_zero_is_zero=True,  # only division by a constant is compiled, and never by 0 (the legaliser folds it)
    umod_by_zero_is_dst=True,
    sdiv_overflow_safe=False,  # x / -1 becomes neg
    shifts_mask_count=False,  # the legaliser masks register shift counts; the selector then splits at 32
    alu32_zero_extends=True,  # every 32-bit result clears the high GPR
    has_bswap=True,
)
