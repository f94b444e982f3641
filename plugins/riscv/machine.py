"""How the core runs riscv64 code under unicorn."""

from __future__ import annotations

from bpfx import Machine


def machine() -> Machine:
    import unicorn
    from unicorn import riscv_const as R

    from .encode import ret

    return Machine(
        uc_arch=unicorn.UC_ARCH_RISCV,
        uc_mode=unicorn.UC_MODE_RISCV64,
        pc=R.UC_RISCV_REG_PC,
        sp=R.UC_RISCV_REG_SP,
        arg_regs=tuple(getattr(R, f"UC_RISCV_REG_A{i}") for i in range(8)),
        ret_reg=R.UC_RISCV_REG_A0,
        link_reg=R.UC_RISCV_REG_RA,
        return_insn=ret().to_bytes(4, "little"),
        insn_size=4,
    )
