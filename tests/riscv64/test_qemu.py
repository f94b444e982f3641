"""The proof of concept on riscv64: clang-built BPF, compiled by bpfx, cross-linked with the bare-metal harness
(examples/baremetal/riscv64) and run under qemu-system-riscv64 -M virt -bios none; and the ELF writer's
relocations as GNU ld applies them, byte for byte against the plugin's own RelocTypes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

import bpfx
from bpfx.back.writers.elf import write_elf

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(ROOT, "examples", "baremetal", "riscv64")
TOOLS = ("riscv64-linux-gnu-gcc", "riscv64-linux-gnu-ld", "qemu-system-riscv64", "make")
missing = [t for t in TOOLS if shutil.which(t) is None]
needs_tools = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (Debian gcc-riscv64-linux-gnu, "
                                                       "binutils-riscv64-linux-gnu, qemu-system-misc, make)")

THREE_LINES = ["Entering XDP prog (pkt len: 4096)", "adjust head: 12", "After XDP prog (ret: 2, pkt len: 4084)"]
HEADER = open(os.path.join(ROOT, "tests", "data", "ipv4_tcp.bin"), "rb").read()[:34]
PACKET = HEADER + bytes(i & 0xFF for i in range(len(HEADER), 4096))  # what harness.c builds
# The default QEMU rv64 CPU has C; Zba and Zbb are turned on for the code that uses them.
VARIANTS = {"+abs64": "rv64", "+abs64,+c": "rv64", "+abs64,+c,+zba,+zbb": "rv64,zba=true,zbb=true"}


def _bpfx(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpfx.cli", *args], capture_output=True, text=True, timeout=120)


def _make(tmp_path, *args: str) -> None:
    proc = subprocess.run(["make", "-s", "-C", HARNESS, f"BUILD={tmp_path / 'build'}", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _boot(tmp_path, cpu: str = "rv64") -> list[str]:
    """Run the linked image; the SiFive test device ends QEMU, and the timeout catches an image that never does."""
    out = subprocess.run(["qemu-system-riscv64", "-M", "virt", "-cpu", cpu, "-bios", "none", "-nographic", "-nic",
                          "none", "-kernel", str(tmp_path / "build" / "env.elf")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def run_compiled(tmp_path, example: str, mattr: str) -> list[str]:
    source = os.path.join(ROOT, "examples", example)
    obj = tmp_path / "prog.o"
    proc = _bpfx("compile", source, "-t", "riscv64", f"--mattr={mattr}", "-f", "elf", "-o", str(obj))
    assert proc.returncode == 0, proc.stderr
    _make(tmp_path, f"PROG={obj}", f"ENTRY={bpfx.load(source).program().name}", f"BPF_OBJ={source}")
    return _boot(tmp_path, VARIANTS[mattr])


@needs_tools
def test_harness_with_the_c_standin_prints_the_three_lines(tmp_path):
    _make(tmp_path, "standin")
    assert _boot(tmp_path) == THREE_LINES


@needs_tools
@pytest.mark.parametrize("mattr", list(VARIANTS))
def test_proof_of_concept_prints_the_three_lines(tmp_path, mattr):
    assert run_compiled(tmp_path, "xdp_adjust_head.o", mattr) == THREE_LINES


@needs_tools
@pytest.mark.parametrize("mattr", ["+abs64", "+abs64,+c,+zba,+zbb"])
@pytest.mark.parametrize("example", ["xdp_macswap.o", "xdp_counters.o", "xdp_checksum.o"])
def test_every_xdp_example_matches_the_interpreter(tmp_path, example, mattr):
    """r0, packet length and every map entry, from the cross-linked image under QEMU and from the oracle."""
    lines = run_compiled(tmp_path, example, mattr)
    obj = bpfx.load(os.path.join(ROOT, "examples", example))
    want = bpfx.run(obj.program(), "interp", packet=PACKET, obj=obj)
    after = lines.index(f"After XDP prog (ret: {want.r0}, pkt len: {want.packet_len})")
    got_maps = sorted(lines[after + 1:])
    want_maps = sorted(f"map {name}[{key}] = {value}" for name, entries in want.maps.items()
                       if not name.startswith(".") for key, value in entries.items())
    assert got_maps == want_maps


@pytest.mark.skipif(shutil.which("riscv64-linux-gnu-ld") is None, reason="needs riscv64-linux-gnu-ld (Debian "
                                                                         "binutils-riscv64-linux-gnu)")
@pytest.mark.parametrize("mattr", [{}, {"abs64": True, "c": True}], ids=str)
def test_gnu_ld_applies_the_relocations_as_the_plugin_does(tmp_path, mattr):
    """Link the ELF object at fixed addresses; ld's .text must equal bpfx.resolve() with the same symbols."""
    obj = bpfx.load(os.path.join(ROOT, "examples", "xdp_counters.o"))
    image = bpfx.compile(obj.program(), "riscv64", features=mattr)
    (tmp_path / "prog.o").write_bytes(write_elf(image))
    text = 0x10000
    symbols = {s: 0x20000 + 0x100 * i for i, s in enumerate(sorted({r.symbol for r in image.relocs}))}
    assert {"bpf_map_lookup_elem", "proto_count"} <= set(symbols)
    proc = subprocess.run(["riscv64-linux-gnu-ld", "-e", image.entry, f"-Ttext=0x{text:x}", "-o",
                           str(tmp_path / "out"), *[f"--defsym={s}=0x{a:x}" for s, a in symbols.items()],
                           str(tmp_path / "prog.o")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "out", "rb") as f:
        linked = ELFFile(f).get_section_by_name(".text").data()
    assert linked == bpfx.resolve(image, symbols, base=text).code



@needs_tools
def test_checked_code_faults_through_bpfx_fault(tmp_path):
    """The harness's bpfx_fault prints the instruction and reason; the test device's FINISHER_FAIL exits with 3."""
    source = tmp_path / "oob.s"
    source.write_text("ldxw %r2, [%r1+0]\nldxb %r0, [%r2+5000]\nmov %r0, 2\nexit\n")  # past the 4096-byte packet
    obj = tmp_path / "oob.o"
    proc = _bpfx("compile", str(source), "--prog-type", "xdp", "-t", "riscv64", "--safety", "checked",
                 "--mattr=+abs64,+c", "-f", "elf", "-o", str(obj))
    assert proc.returncode == 0, proc.stderr
    _make(tmp_path, f"PROG={obj}", "ENTRY=oob")
    out = subprocess.run(["qemu-system-riscv64", "-M", "virt", "-cpu", "rv64", "-bios", "none", "-nographic", "-nic",
                          "none", "-kernel", str(tmp_path / "build" / "env.elf")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 3, out.stderr
    assert out.stdout.splitlines()[-1].strip() == "bpfx_fault: insn 1, reason 1"  # 1: packet access out of bounds
