"""Output formats, read back by independent tools: pyelftools, llvm-objdump, GNU ld, a C compiler."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

import bpfx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTERS = os.path.join(ROOT, "examples", "xdp_counters.o")
CHECKSUM = os.path.join(ROOT, "examples", "xdp_checksum.o")


def compile_to(tmp_path, src, fmt, *extra):
    out = tmp_path / f"out.{fmt}"
    subprocess.run([sys.executable, "-m", "bpfx.cli", "compile", src, "-t", "arm64", "-f", fmt, "-o", str(out),
                    *extra], check=True, capture_output=True)
    return out


def test_elf_reads_back_with_pyelftools(tmp_path):
    out = compile_to(tmp_path, COUNTERS, "elf")
    image = bpfx.compile(bpfx.load(COUNTERS).program(), "arm64")
    with open(out, "rb") as f:
        elf = ELFFile(f)
        assert (elf["e_type"], elf["e_machine"], elf.elfclass) == ("ET_REL", "EM_AARCH64", 64)
        assert elf.get_section_by_name(".text").data() == image.code
        syms = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}
        entry = syms["xdp_counters"]
        assert (entry["st_info"]["type"], entry["st_info"]["bind"], entry["st_size"]) == \
            ("STT_FUNC", "STB_GLOBAL", len(image.code))
        for name in ("bpf_map_lookup_elem", "bpf_map_update_elem", "proto_count", "bytes_by_src"):
            assert syms[name]["st_shndx"] == "SHN_UNDEF"
        rela = elf.get_section_by_name(".rela.text")
        got = sorted((r["r_offset"], r["r_info_type"], r["r_addend"]) for r in rela.iter_relocations())
        assert got == sorted((r.offset, r.type, r.addend) for r in image.relocs)


@pytest.mark.skipif(shutil.which("llvm-objdump") is None, reason="llvm-objdump (Debian llvm) not installed")
def test_llvm_objdump_shows_the_relocations(tmp_path):
    out = compile_to(tmp_path, COUNTERS, "elf")
    text = subprocess.run(["llvm-objdump", "-dr", str(out)], capture_output=True, text=True, check=True).stdout
    assert "<xdp_counters>:" in text
    assert "R_AARCH64_CALL26\tbpf_map_lookup_elem" in text
    for kind in ("G3", "G2_NC", "G1_NC", "G0_NC"):
        assert f"R_AARCH64_MOVW_UABS_{kind}\tproto_count" in text


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-gcc") is None, reason="gcc-aarch64-linux-gnu not installed")
def test_gnu_ld_links_it_and_resolves_calls_and_data(tmp_path):
    out = compile_to(tmp_path, CHECKSUM, "elf")
    stub = tmp_path / "main.c"
    stub.write_text("unsigned long xdp_checksum(void *);\nvoid _start(void) { xdp_checksum(0); }\n")
    subprocess.run(["aarch64-linux-gnu-gcc", "-ffreestanding", "-nostdlib", "-static", "-o", str(tmp_path / "a.out"),
                    str(stub), str(out)], check=True, capture_output=True)
    with open(tmp_path / "a.out", "rb") as f:
        elf = ELFFile(f)
        syms = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()}
        text = elf.get_section_by_name(".text")
        code = text.data()
        base = text["sh_addr"]
    image = bpfx.compile(bpfx.load(CHECKSUM).program(), "arm64")
    start = syms["xdp_checksum"] - base
    for r in image.relocs:  # the four movz/movk now build the address of `bss` in .data
        word = int.from_bytes(code[start + r.offset:start + r.offset + 4], "little")
        hw = (word >> 21) & 3
        assert (word >> 5) & 0xFFFF == (syms["bss"] >> (16 * hw)) & 0xFFFF


def test_raw_and_relocs_json(tmp_path):
    out = compile_to(tmp_path, COUNTERS, "bin")
    image = bpfx.compile(bpfx.load(COUNTERS).program(), "arm64")
    assert out.read_bytes() == image.code
    meta = json.loads((tmp_path / "out.bin.relocs.json").read_text())
    assert meta["entry"] == "xdp_counters" and len(meta["relocs"]) == len(image.relocs)
    assert {r["type_name"] for r in meta["relocs"]} >= {"R_AARCH64_CALL26", "R_AARCH64_MOVW_UABS_G3"}


@pytest.mark.skipif(shutil.which("cc") is None, reason="no host C compiler")
def test_c_array_compiles(tmp_path):
    out = compile_to(tmp_path, COUNTERS, "c")
    subprocess.run(["cc", "-c", "-Wall", "-Werror", "-o", str(tmp_path / "x.o"), "-x", "c", str(out)], check=True)
    text = out.read_text()
    assert "const size_t xdp_counters_relocs_len = 15;" in text
    assert '"bpf_map_lookup_elem", 0}, /* R_AARCH64_CALL26 helper */' in text


def test_listing_interleaves_bpf_and_native(tmp_path):
    out = compile_to(tmp_path, COUNTERS, "listing")
    text = out.read_text()
    assert "    ;    0: ldxw %r2, [%r1+4]" in text
    assert "ldr x1, [x0, #8]" in text  # ctx->data_end moved to the device layout's 8-byte pointer at offset 8
    assert "; R_AARCH64_CALL26 bpf_map_lookup_elem" in text


def test_failed_compile_leaves_no_file(tmp_path):
    bad = tmp_path / "bad.s"
    bad.write_text("call 99\nexit\n")
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "compile", str(bad), "-t", "arm64", "-o",
                          str(tmp_path / "x.o")], capture_output=True, text=True)
    assert out.returncode == 1 and not (tmp_path / "x.o").exists()
    assert "unknown helper 99 for program type mem" in out.stderr


def test_listing_of_a_variable_length_target_shows_memory_order_and_relocations_inside_instructions():
    import capstone

    from bpfx import Image, Reloc, RelocType
    from bpfx.back.writers.listing import write_listing

    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)

    def disasm(code, address):
        return [(i.address, i.size, f"{i.mnemonic} {i.op_str}".strip()) for i in md.disasm(code, address)]

    code = bytes.fromhex("48b8" + "00" * 8 + "c3")  # movabs rax, <counters>; ret
    image = Image(target="x86-64", code=code, relocs=(Reloc(2, 1, "counters", 0, "map"),), symbols={"f": 0},
                  entry="f", line_map=((0, 0), (10, 1)), stack_size=0, frame_offset=0,
                  reloc_types={1: RelocType("R_X86_64_64", lambda *a: None)})
    lines = write_listing(image, disasm=disasm).splitlines()
    assert lines[3] == "         0:  48b80000000000000000  movabs rax, 0    ; R_X86_64_64 counters @+2"
    assert lines[5] == "         a:  c3                    ret"
