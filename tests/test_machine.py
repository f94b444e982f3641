"""The unicorn executor for any ISA: stack-pushed return addresses, variable-length instruction counting,
setup after mapping, and frame_offset, checked with hand-encoded x86-64 Images (no x86 plugin needed)."""

from __future__ import annotations

import capstone
import pytest
import unicorn
from unicorn import x86_const as X

import bpfx
from bpfx import HelperImpl, HelperTable, Image, Machine, RuntimeFault
from bpfx.execute.runtime import Runtime, layout
from bpfx.execute.machine import HELPER_COST

X86_64 = Machine(
    uc_arch=unicorn.UC_ARCH_X86, uc_mode=unicorn.UC_MODE_64, pc=X.UC_X86_REG_RIP, sp=X.UC_X86_REG_RSP,
    arg_regs=(X.UC_X86_REG_RDI, X.UC_X86_REG_RSI, X.UC_X86_REG_RDX, X.UC_X86_REG_RCX, X.UC_X86_REG_R8),
    ret_reg=X.UC_X86_REG_RAX, return_insn=b"\xc3", link_reg=None, insn_size=0,
    decoder=(capstone.CS_ARCH_X86, capstone.CS_MODE_64))


def _image(code: bytes, frame_offset: int = 0) -> Image:
    return Image(target="x86-64", code=code, relocs=(), symbols={"f": 0}, entry="f", line_map=((0, 0),),
                 stack_size=0, frame_offset=frame_offset)


def _runtime(mem: bytes = b"abc", impls=None) -> Runtime:
    prog = bpfx.Program(name="f", section="t", prog_type="mem", insns=[bpfx.Insn(0x95)], file="<x86>")
    rt = Runtime(prog, mem=mem, helper_impls=impls)
    rt.helper_table = HelperTable({h: bpfx.HelperEntry(h, i.name, symbol=f"bpf_{i.name}")
                                   for h, i in (impls or {}).items()})
    return rt


def test_ret_through_a_pushed_return_address_gives_r0_back():
    code = bytes.fromhex("488d4705" "c3")  # lea rax, [rdi+5]; ret
    result = X86_64.run(_image(code), _runtime(), 100)
    assert result.r0 == layout.MEM_BASE + 5
    assert result.insn_count == 2


def test_variable_length_code_counts_instructions_not_bytes():
    # mov ecx, 10 (5 bytes); L: dec ecx (2); jnz L (2); mov eax, ecx (2); ret (1)
    code = bytes.fromhex("b90a000000" "ffc9" "75fc" "89c8" "c3")
    result = X86_64.run(_image(code), _runtime(), 1000)
    assert result.r0 == 0
    assert result.insn_count == 1 + 10 * 2 + 2


def test_an_infinite_loop_stops_at_the_budget():
    with pytest.raises(RuntimeFault, match="instruction budget of 5000 native instructions exhausted"):
        X86_64.run(_image(bytes.fromhex("ebfe")), _runtime(), 5000)  # jmp $


def test_helper_trampoline_returns_through_the_stack():
    impl = HelperImpl(2, "twice", lambda call, a1, *_: 2 * a1 + len(call.read(layout.MEM_BASE, 3)))
    tramp = layout.TRAMPOLINE_BASE + 16 * 2
    # mov edi, 20; movabs rax, tramp; call rax; add rax, 1; ret
    code = (bytes.fromhex("bf14000000") + b"\x48\xb8" + tramp.to_bytes(8, "little") + bytes.fromhex("ffd0")
            + bytes.fromhex("4883c001") + b"\xc3")
    result = X86_64.run(_image(code), _runtime(impls={2: impl}), 1000)
    assert result.r0 == 2 * 20 + 3 + 1
    # mov, movabs, call; the trampoline's ret; add, ret; and the helper call's charge
    assert result.insn_count == 3 + 1 + 2 + HELPER_COST


def test_frame_offset_is_measured_from_the_sp_after_the_pushed_return_address():
    # mov dword [rsp-4], 0x11223344; xor eax, eax; ret  -- r10 = SP at entry (frame_offset 0)
    code = bytes.fromhex("c74424fc44332211" "31c0" "c3")
    result = X86_64.run(_image(code), _runtime(), 100)
    assert result.stack[-4:] == bytes.fromhex("44332211")


def test_setup_sees_the_mapped_layout():
    seen = {}

    def setup(uc, where):
        seen["layout"] = where
        seen["stack"] = bytes(uc.mem_read(where.stack_top - 8, 8))  # the stack is mapped already

    machine = Machine(**{**X86_64.__dict__, "setup": setup})
    machine.run(_image(bytes.fromhex("31c0c3")), _runtime(), 100)
    where = seen["layout"]
    assert (where.stack_top, where.exit_addr, where.code_base) == (layout.STACK_TOP, layout.TRAMPOLINE_BASE - 0x1000,
                                                                   layout.CODE_BASE)
    assert ("mem", layout.MEM_BASE, 3) in where.regions and seen["stack"] == bytes(8)


@pytest.mark.parametrize("target", ["arm64", "riscv64"])
@pytest.mark.parametrize("mem_size", [4090, 4096])  # a region ending inside a page, and at a page's end
@pytest.mark.parametrize("text, size", [("ldxw %r0, [%r1+{off}]\nexit", 4),
                                        ("ldxh %r0, [%r1+{off}]\nbe16 %r0\nexit", 2),
                                        ("mov %r2, 7\nstxdw [%r1+{off}], %r2\nmov %r0, 0\nexit", 8)])
def test_an_access_running_past_a_regions_end_faults_as_on_the_interpreter(target, mem_size, text, size):
    """It starts inside the region: unicorn alone would let it through (the rest of the page is mapped) or
    report the first byte of the next page; the interpreter names the access as it starts."""
    from bpfx.front.asm import assemble

    for off in (mem_size - size + 1, mem_size - 1):
        prog = bpfx.Program(name="t", section="s", prog_type="mem", insns=assemble(text.format(off=off)), file="t.o")
        with pytest.raises(bpfx.BpfxError) as want:
            bpfx.run(prog, "interp", mem=bytes(mem_size))
        with pytest.raises(bpfx.BpfxError) as got:
            bpfx.run(prog, target, mem=bytes(mem_size))
        assert str(got.value) == str(want.value)
        assert f"at 0x{layout.MEM_BASE + off:x} " in str(got.value)
