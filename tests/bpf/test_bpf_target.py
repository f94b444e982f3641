"""The bpf target: what the device receives is normalised BPF (device ctx layout, device helper indices, map
references as relocations), and it runs to the interpreter's results."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import types

import pytest

import bpfx
import bpfx.cli
from bpfx import TargetInfo, hookimpl, isa
from bpfx.back.codegen import compile_program
from bpfx.execute.runtime import Runtime
from bpfx.front.asm import assemble
from bpfx.plugins import build_registry, get_target
from bpfx_bpf.abi import device_abi
from bpfx_bpf.execute import BpfExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


def example(name):
    obj = bpfx.load(os.path.join(EXAMPLES, name))
    return obj, obj.program()


def mem_program(text: str) -> bpfx.Program:
    return bpfx.Program(name="t", section="t", prog_type="mem", insns=assemble(text), file="<t>")


def test_context_accesses_are_rewritten_to_the_device_layout():
    _, prog = example("xdp_macswap.o")
    assert prog.insns[1:3] == [isa.Insn(0x61, 2, 1, 4), isa.Insn(0x61, 1, 1, 0)]  # ldxw xdp_md.data_end, .data
    image = bpfx.compile(prog, "bpf")
    out = isa.decode(image.code)
    assert out[1:3] == [isa.Insn(0x79, 2, 1, 8), isa.Insn(0x79, 1, 1, 0)]  # ldxdw from bpfx_xdp_md
    assert out[3:] == prog.insns[3:]  # nothing else changes
    assert image.e_machine == 247 and image.relocs == ()


def test_a_driver_layout_is_honoured():
    _, prog = example("xdp_macswap.o")
    layout = bpfx.ContextLayout("nic_md", 24, {0: bpfx.ContextField("data", 8, 8, "ptr"),
                                               4: bpfx.ContextField("data_end", 16, 8, "ptr")})
    out = isa.decode(bpfx.compile(prog, "bpf", context=layout).code)
    assert out[1:3] == [isa.Insn(0x79, 2, 1, 16), isa.Insn(0x79, 1, 1, 8)]
    tcp = bytes.fromhex("ffffffffffff0011223344550800") + bytes(40)
    want = bpfx.run(prog, "interp", packet=tcp)
    got = bpfx.run(prog, "bpf", packet=tcp, context=layout)
    assert (got.r0, got.packet) == (want.r0, want.packet)


def test_helper_calls_take_the_device_index():
    _, prog = example("xdp_adjust_head.o")
    calls = [i.imm for i in isa.decode(bpfx.compile(prog, "bpf").code) if i.opcode == isa.CALL]
    assert calls == [44]  # no table: the UAPI id
    calls = [i.imm for i in isa.decode(bpfx.compile(prog, "bpf", helpers={44: 3}).code) if i.opcode == isa.CALL]
    assert calls == [3]
    result = bpfx.run(prog, "bpf", packet=bytes(4096), helpers={44: 3})
    assert (result.r0, result.packet_len) == (2, 4084)


def test_a_partial_device_table_cannot_merge_two_helpers():
    obj, prog = example("xdp_counters.o")  # calls bpf_map_lookup_elem (1) and bpf_map_update_elem (2)
    with pytest.raises(bpfx.LinkError, match="helpers map_lookup_elem and map_update_elem both have device helper "
                                             "index 1"):
        bpfx.compile(prog, "bpf", helpers={2: 1})
    # 44 is renumbered onto 1, but this program never calls 44: its calls of helper 1 stay helper 1
    tcp = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(40)
    got = bpfx.run(prog, "bpf", packet=tcp, obj=obj, helpers={44: 1})
    want = bpfx.run(prog, "interp", packet=tcp, obj=obj)
    assert (got.r0, got.maps) == (want.r0, want.maps) and want.maps


def test_map_references_are_relocations_a_driver_resolves():
    obj, prog = example("xdp_counters.o")
    image = bpfx.compile(prog, "bpf")
    assert {(r.type, r.symbol, r.kind) for r in image.relocs} == {(1, "proto_count", "map"),
                                                                  (1, "bytes_by_src", "map")}
    ids = {"proto_count": 0x11, "bytes_by_src": 0x2200000033}
    resolved = bpfx.compile(prog, "bpf", maps=ids)
    assert resolved.relocs == ()
    for r in image.relocs:
        lo, hi = isa.decode(resolved.code[r.offset:r.offset + 16])
        assert (lo.opcode, lo.src, isa.imm64(lo, hi)) == (0x18, 0, ids[r.symbol])


def test_subprograms_are_appended_and_local_calls_kept():
    obj, prog = example("xdp_checksum.o")
    image = bpfx.compile(prog, "bpf")
    assert set(image.symbols) == {"xdp_checksum", "sum_words", "fold"} and image.symbols["xdp_checksum"] == 0
    out = isa.decode(image.code)
    local = [pc + 1 + i.imm for pc, i in enumerate(out) if i.opcode == isa.CALL and i.src == 1]
    assert local and {8 * t for t in local} <= set(image.symbols.values())


def test_elf_output_is_em_bpf_with_its_relocations(tmp_path):
    from elftools.elf.elffile import ELFFile

    out = tmp_path / "counters.o"
    assert bpfx.cli.main(["compile", os.path.join(EXAMPLES, "xdp_counters.o"), "-t", "bpf", "-o", str(out)]) == 0
    with open(out, "rb") as f:
        elf = ELFFile(f)
        assert elf["e_machine"] == "EM_BPF"
        rela = elf.get_section_by_name(".rela.text")
        symtab = elf.get_section_by_name(".symtab")
        relocs = [(r["r_offset"], r["r_info_type"], symtab.get_symbol(r["r_info_sym"]).name)
                  for r in rela.iter_relocations()]
        code = elf.get_section_by_name(".text").data()
    image = bpfx.compile(bpfx.load(os.path.join(EXAMPLES, "xdp_counters.o")).program(), "bpf")
    assert code == image.code
    assert relocs == [(r.offset, 1, r.symbol) for r in image.relocs]


def test_c_array_output(tmp_path):
    out = tmp_path / "p.c"
    assert bpfx.cli.main(["compile", os.path.join(EXAMPLES, "xdp_adjust_head.o"), "-t", "bpf", "-f", "c",
                          "-o", str(out)]) == 0
    text = out.read_text()
    assert "const unsigned char xdp_prog_code[64]" in text and "0xb7, 0x02, 0x00, 0x00, 0x0c" in text


def test_far_branches_are_relaxed_and_still_right():
    """A device VM whose division by zero traps gets guards; 12000 guarded divisions push a branch past the
    16-bit offset range, so the selector's 3-slot long form (with gotol) is used."""
    vm = _variant("slowvm", device_abi(div_by_zero_safe=False))
    body = "\n".join(["div %r3, %r2"] * 12000)
    prog = mem_program(f"mov %r2, 0\nmov %r3, 5\nmov %r0, 7\njeq %r1, 0, +12000\n{body}\nmov %r0, %r3\nexit\n")
    image = vm.compile(prog)
    out = isa.decode(image.code)
    assert any(i.opcode == 0x06 for i in out)  # gotol
    for mem in (b"", b"x"):  # r1 = 0 (jump taken) or a pointer
        assert vm.run(image, prog, mem).r0 == bpfx.run(prog, "interp", mem=mem).r0


def test_a_device_vm_without_atomics_or_sdiv_rejects_them_by_name():
    vm = _variant("tinyvm", device_abi(atomics=False, sdiv=False))
    with pytest.raises(bpfx.Unsupported, match=r"insn 1: 64-bit atomic add is not supported"):
        vm.compile(mem_program("stdw [%r10-8], 1\nlock add [%r10-8], %r1\nmov %r0, 0\nexit\n"))
    with pytest.raises(bpfx.Unsupported, match=r"insn 1: signed div \(sdiv\) is not supported"):
        vm.compile(mem_program("mov %r0, 7\nsdiv %r0, -2\nexit\n"))


def test_a_device_vm_without_zero_extension_gets_it_in_bpf():
    vm = _variant("zextvm", device_abi(alu32_zero_extends=False))
    prog = mem_program("lddw %r0, 0xffffffffffffffff\nadd32 %r0, 1\nexit\n")
    image = vm.compile(prog)
    ops = [i.opcode for i in isa.decode(image.code)]
    assert ops.count(0x67) == 1 and ops.count(0x77) == 1  # lsh 32; rsh 32 after the ALU32 add
    assert vm.run(image, prog, b"").r0 == 0


class _Variant:
    def __init__(self, name, target):
        self.name, self.target = name, target

    def compile(self, prog):
        return compile_program(prog, self.target)

    def run(self, image, prog, mem):
        rt = Runtime(prog, mem=mem)
        rt.helper_table = self.target.helpers(prog.prog_type)
        return BpfExecutor(self.name).run(image, rt, 1_000_000)


def _variant(name, abi):
    plugin = types.SimpleNamespace(
        bpfx_targets=hookimpl(lambda: [TargetInfo(name, "a device VM", e_machine=247, base="bpf")]),
        bpfx_abi=hookimpl(lambda target: abi if target.name == name else None))
    reg = build_registry(extra_plugins=(plugin,))
    return _Variant(name, get_target(name, reg))


def test_disassembly_listing():
    _, prog = example("xdp_adjust_head.o")
    image = bpfx.compile(prog, "bpf")
    from bpfx.back.writers.listing import write_listing

    text = write_listing(image, program=prog, disasm=get_target("bpf").selector().disassembler)
    assert "call 44" in text and text.rstrip().endswith("exit")
    assert struct.unpack_from("<B", image.code, len(image.code) - 8)[0] == isa.EXIT


@pytest.mark.parametrize("harden", [False, True])
def test_a_fault_names_the_source_instruction(harden):
    """The normalised program faults at its own slot; the error names the BPF instruction it came from."""
    text = "ldxw %r2, [%r1]\nmov %r3, 1\nadd %r3, 2\nldxb %r0, [%r2+8000]\nexit\n"
    prog = bpfx.Program(name="oob", section="xdp", prog_type="xdp", insns=assemble(text), file="oob.s")
    with pytest.raises(bpfx.RuntimeFault) as want:
        bpfx.run(prog, "interp")
    with pytest.raises(bpfx.RuntimeFault) as got:
        bpfx.run(prog, "bpf", harden=harden, safety="structural")  # the memory model's fault, not a check's
    assert str(got.value) == str(want.value) and got.value.insn == 3


@pytest.mark.skipif(shutil.which("llvm-objdump") is None, reason="llvm-objdump is not installed (Debian llvm)")
def test_llvm_reads_the_elf_output_as_bpf(tmp_path):
    """An independent reader: llvm-objdump disassembles the object as BPF with its R_BPF_64_64 records."""
    out = tmp_path / "counters.o"
    assert bpfx.cli.main(["compile", os.path.join(EXAMPLES, "xdp_counters.o"), "-t", "bpf", "-o", str(out)]) == 0
    text = subprocess.run(["llvm-objdump", "-dr", str(out)], capture_output=True, text=True, check=True).stdout
    assert "file format elf64-bpf" in text and "<xdp_counters>:" in text
    image = bpfx.compile(bpfx.load(os.path.join(EXAMPLES, "xdp_counters.o")).program(), "bpf")
    relocs = re.findall(r"^\s*([0-9a-f]+):\s+R_BPF_64_64\s+(\w+)$", text, re.M)
    assert [(int(off, 16), sym) for off, sym in relocs] == [(r.offset, r.symbol) for r in image.relocs]
    assert "call 1" in text and "call 2" in text
