"""The talk's proof of concept for real: clang-built BPF, compiled by bpfx, cross-linked, run under QEMU."""

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
pytestmark = pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (gcc-aarch64-linux-gnu, "
                                                      "qemu-system-arm, make)")


HEADER = open(os.path.join(ROOT, "tests", "data", "ipv4_tcp.bin"), "rb").read()[:34]
PACKET = HEADER + bytes(i & 0xFF for i in range(len(HEADER), 4096))  # what harness.c builds


def run_in_qemu(tmp_path, example: str) -> list[str]:
    obj = tmp_path / "prog.o"
    subprocess.run([sys.executable, "-m", "bpfx.cli", "compile", os.path.join(ROOT, "examples", example), "-t",
                    "arm64", "--mattr=-lse", "-o", str(obj)], check=True, capture_output=True)
    entry = bpfx.load(os.path.join(ROOT, "examples", example)).program().name
    subprocess.run(["make", "-s", "-C", HARNESS, f"PROG_OBJ={obj}", f"PROG={entry}", f"BUILD={tmp_path / 'build'}",
                    f"BPF_OBJ={os.path.join(ROOT, 'examples', example)}"], check=True, capture_output=True)
    out = subprocess.run(["qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a57", "-nographic", "-kernel",
                          str(tmp_path / "build" / "env.elf")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0  # PSCI SYSTEM_OFF ends QEMU
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def test_proof_of_concept_prints_the_three_lines(tmp_path):
    assert run_in_qemu(tmp_path, "xdp_adjust_head.o") == [
        "Entering XDP prog (pkt len: 4096)",
        "adjust head: 12",
        "After XDP prog (ret: 2, pkt len: 4084)",
    ]


@pytest.mark.parametrize("example", ["xdp_adjust_head.o", "xdp_macswap.o", "xdp_counters.o", "xdp_checksum.o"])
def test_every_xdp_example_matches_the_interpreter(tmp_path, example):
    """r0, packet length and every map entry, from the cross-linked image under QEMU and from the oracle."""
    lines = run_in_qemu(tmp_path, example)
    obj = bpfx.load(os.path.join(ROOT, "examples", example))
    want = bpfx.run(obj.program(), "interp", packet=PACKET, obj=obj)
    after = lines.index(f"After XDP prog (ret: {want.r0}, pkt len: {want.packet_len})")
    got_maps = sorted(lines[after + 1:])
    want_maps = sorted(f"map {name}[{key}] = {value}" for name, entries in want.maps.items()
                       if not name.startswith(".") for key, value in entries.items())
    assert got_maps == want_maps
