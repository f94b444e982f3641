"""The talk's proof of concept for real: clang-built BPF, compiled by bpfx, cross-linked with the bare-metal
harness (examples/baremetal/arm64) and run under qemu-system-aarch64 -M virt."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import bpfx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HARNESS = os.path.join(ROOT, "examples", "baremetal", "arm64")
TOOLS = ("aarch64-linux-gnu-gcc", "aarch64-linux-gnu-ld", "qemu-system-aarch64", "make")
missing = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (Debian gcc-aarch64-linux-gnu, "
                                                      "qemu-system-arm, make)")

THREE_LINES = ["Entering XDP prog (pkt len: 4096)", "adjust head: 12", "After XDP prog (ret: 2, pkt len: 4084)"]
HEADER = open(os.path.join(ROOT, "tests", "data", "ipv4_tcp.bin"), "rb").read()[:34]
PACKET = HEADER + bytes(i & 0xFF for i in range(len(HEADER), 4096))  # what harness.c builds


def _bpfx(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bpfx.cli", *args], capture_output=True, text=True, timeout=120)


HAS_COMPILE = _bpfx("compile", "--help").returncode == 0


def _make(tmp_path, *args: str) -> None:
    proc = subprocess.run(["make", "-s", "-C", HARNESS, f"BUILD={tmp_path / 'build'}", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _boot(tmp_path) -> list[str]:
    """Run the linked image; PSCI SYSTEM_OFF ends QEMU, and the timeout catches an image that never gets there."""
    # -nic none: the default virtio NIC needs efi-virtio.rom, which --no-install-recommends leaves out.
    out = subprocess.run(["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-nographic", "-nic", "none",
                          "-kernel", str(tmp_path / "build" / "env.elf")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def run_compiled(tmp_path, example: str, opt: str = "-O0") -> list[str]:
    """bpfx compile the example (LL/SC atomics: Cortex-A57 has no LSE), link it with its maps, boot it."""
    source = os.path.join(ROOT, "examples", example)
    obj = tmp_path / "prog.o"
    proc = _bpfx("compile", source, "-t", "arm64", opt, "--mattr=-lse", "-f", "elf", "-o", str(obj))
    assert proc.returncode == 0, proc.stderr
    _make(tmp_path, f"PROG={obj}", f"ENTRY={bpfx.load(source).program().name}", f"BPF_OBJ={source}")
    return _boot(tmp_path)


def test_harness_with_the_c_standin_prints_the_three_lines(tmp_path):
    """The harness alone (startup, UART, helper, power-off), with standin_xdp.c built by the cross gcc."""
    _make(tmp_path, "standin")
    assert _boot(tmp_path) == THREE_LINES


def test_proof_of_concept_prints_the_three_lines(tmp_path):
    """bpfx output when the compiler exists (then it must work: no silent fallback), else the C stand-in."""
    if HAS_COMPILE:
        assert run_compiled(tmp_path, "xdp_adjust_head.o") == THREE_LINES
    else:
        _make(tmp_path, "standin")
        assert _boot(tmp_path) == THREE_LINES


@pytest.mark.skipif(not HAS_COMPILE, reason="bpfx has no compile command yet")
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
@pytest.mark.parametrize("example", ["xdp_adjust_head.o", "xdp_macswap.o", "xdp_counters.o", "xdp_checksum.o"])
def test_every_xdp_example_matches_the_interpreter(tmp_path, example, opt):
    """r0, packet length and every map entry, from the cross-linked image under QEMU and from the oracle; -O2 is
    the LLVM tier's object (adrp/add relocations linked by GNU ld)."""
    lines = run_compiled(tmp_path, example, opt)
    obj = bpfx.load(os.path.join(ROOT, "examples", example))
    want = bpfx.run(obj.program(), "interp", packet=PACKET, obj=obj)
    after = lines.index(f"After XDP prog (ret: {want.r0}, pkt len: {want.packet_len})")
    got_maps = sorted(lines[after + 1:])
    want_maps = sorted(f"map {name}[{key}] = {value}" for name, entries in want.maps.items()
                       if not name.startswith(".") for key, value in entries.items())
    assert got_maps == want_maps


OOB = "ldxw %r2, [%r1+0]\nldxb %r0, [%r2+5000]\nmov %r0, 2\nexit\n"  # reads past the harness's 4096-byte packet


@pytest.mark.skipif(not HAS_COMPILE, reason="bpfx has no compile command yet")
def test_checked_code_faults_through_bpfx_fault(tmp_path):
    """The harness's bpfx_fault prints the instruction and reason, and leaves QEMU with status 3 (semihosting)."""
    source = tmp_path / "oob.s"
    source.write_text(OOB)
    obj = tmp_path / "oob.o"
    proc = _bpfx("compile", str(source), "--prog-type", "xdp", "-t", "arm64", "--safety", "checked", "--mattr=-lse",
                 "-f", "elf", "-o", str(obj))
    assert proc.returncode == 0, proc.stderr
    _make(tmp_path, f"PROG={obj}", "ENTRY=oob")
    out = subprocess.run(["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-nographic", "-nic", "none",
                          "-semihosting", "-kernel", str(tmp_path / "build" / "env.elf")], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 3, out.stderr
    assert out.stdout.splitlines()[-1].strip() == "bpfx_fault: insn 1, reason 1"  # 1: packet access out of bounds
