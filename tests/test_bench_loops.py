"""bench/loops (the compute kernels the LLVM-tier and host benchmarks time) give the interpreter's answer on every
target that runs code, at -O0 and -O2: a benchmark of wrong code would be no benchmark."""

from __future__ import annotations

import os
import sys

import pytest

import bpfx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from _loops import PACKET, build  # noqa: E402

RUNS = [("arm64", 0), ("riscv64", 0), ("host", 0), ("arm64", 2), ("riscv64", 2)]


@pytest.fixture(scope="module")
def loops():
    obj = build()
    if obj is None:
        pytest.skip("clang and libbpf-dev are needed to build bench/loops/loops.c")
    return {p.name: p for p in obj.programs}


@pytest.mark.parametrize("name", ["sieve", "checksum", "fnv", "bubble", "collatz", "tlv"])
def test_every_target_agrees_with_the_interpreter(loops, name):
    prog = loops[name]
    want = bpfx.run(prog, "interp", packet=PACKET)
    for target, opt in RUNS:
        got = bpfx.run(prog, target, packet=PACKET, opt=opt)
        assert (got.r0, got.packet, got.maps) == (want.r0, want.packet, want.maps), (target, opt)
