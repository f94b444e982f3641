"""Option 2 for real: the device-normalised BPF of the seed's proof of concept, interpreted by the exported C
runtime inside a bare-metal firmware (examples/baremetal/bpfvm) under QEMU virt, for aarch64 and riscv64."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import bpfx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE = os.path.join(ROOT, "examples", "baremetal", "bpfvm")
ARCHES = {  # tools, and the QEMU command line that boots the firmware
    "aarch64": (("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-ld", "qemu-system-aarch64", "make"),
                ["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-nographic", "-nic", "none"]),
    "riscv64": (("riscv64-linux-gnu-gcc", "riscv64-linux-gnu-ld", "qemu-system-riscv64", "make"),
                ["qemu-system-riscv64", "-M", "virt", "-bios", "none", "-nographic", "-nic", "none"]),
}


def _arch(name: str):
    missing = [t for t in ARCHES[name][0] if shutil.which(t) is None]
    return pytest.param(name, marks=pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} "
                                                       "(Debian gcc-aarch64-linux-gnu qemu-system-arm, "
                                                       "gcc-riscv64-linux-gnu qemu-system-misc, make)"))


arches = pytest.mark.parametrize("arch", [_arch(a) for a in ARCHES])
HEADER = open(os.path.join(ROOT, "tests", "data", "ipv4_tcp.bin"), "rb").read()[:34]
PACKET = HEADER + bytes(i & 0xFF for i in range(len(HEADER), 4096))  # what firmware.c builds


def boot(tmp_path, arch: str, source: str, entry: str, *compile_args: str, bpf_obj: str = "") -> list[str]:
    prog_c = tmp_path / "prog.c"
    bpfx_cmd = [sys.executable, "-m", "bpfx.cli"]
    proc = subprocess.run([*bpfx_cmd, "compile", source, "-t", "bpf", "-f", "c", "-o", str(prog_c), *compile_args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    build = tmp_path / "build"
    proc = subprocess.run(["make", "-s", "-C", FIRMWARE, f"ARCH={arch}", f"BUILD={build}", f"PROG_C={prog_c}",
                           f"ENTRY={entry}", f"BPF_OBJ={bpf_obj}", f"PYTHON={sys.executable}",
                           f"BPFX={' '.join(bpfx_cmd)}"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = subprocess.run([*ARCHES[arch][1], "-kernel", str(build / "firmware.elf")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


@arches
def test_the_seed_proof_of_concept_prints_the_three_lines(tmp_path, arch):
    lines = boot(tmp_path, arch, os.path.join(ROOT, "examples", "xdp_adjust_head.o"), "xdp_prog")
    assert lines[:3] == ["Entering XDP prog (pkt len: 4096)", "adjust head: 12",
                         "After XDP prog (ret: 2, pkt len: 4084)"]
    want = bpfx.run(bpfx.load(os.path.join(ROOT, "examples", "xdp_adjust_head.o")).program(), "interp",
                    packet=PACKET)
    assert lines[3] == f"packet: {want.packet[:16].hex()}"


@arches
@pytest.mark.parametrize("example", ["xdp_macswap.o", "xdp_counters.o", "xdp_checksum.o"])
def test_examples_match_the_interpreter(tmp_path, arch, example):
    """r0, packet, executed instructions and maps: the firmware allocates the maps (gen_maps.py), applies the
    R_BPF_64_64 records of prog.c with bpfx_vm_relocate and implements the map helpers in C."""
    source = os.path.join(ROOT, "examples", example)
    obj = bpfx.load(source)
    lines = boot(tmp_path, arch, source, obj.program().name, bpf_obj=source)
    want = bpfx.run(obj.program(), "interp", packet=PACKET, obj=obj)
    assert lines[1:4] == [f"After XDP prog (ret: {want.r0}, pkt len: {want.packet_len})",
                          f"packet: {want.packet[:16].hex()}",
                          f"insns executed: {want.insn_count}"]  # the context rewrite is one-for-one here
    assert sorted(lines[4:]) == sorted(f"map {bpfx.map_symbol(name)}[{key}] = {value}"
                                       for name, entries in want.maps.items() for key, value in entries.items())


@arches
def test_an_out_of_bounds_packet_read_is_a_fault_on_the_device(tmp_path, arch):
    source = tmp_path / "oob.s"
    source.write_text("ldxw %r2, [%r1]\nldxb %r0, [%r2+8000]\nexit\n")  # 8000 bytes into a 4608-byte buffer
    lines = boot(tmp_path, arch, str(source), "oob", "--prog-type", "xdp")
    # bpf defaults to checked: the check compiled in before the read fails (BPFX_FAULT_CHECK, the BPF insn)
    assert lines[1] == "bpfx_vm fault 8 at insn 1"
