"""Every native target against the reference interpreter: examples, fuzzing, hardening, vendor variants.

Targets are discovered, not listed: a plugin that adds a target with a selector and a machine is covered here
without new test code.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bpfx
from bpfx.tools.fuzz import compare, random_program
from bpfx.plugins import all_targets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.o")))
NATIVE = [t.name for t in all_targets() if t.abi() is not None and t.machine() is not None]
PACKET = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(range(200))


def test_there_is_a_native_target():
    assert "arm64" in NATIVE


@pytest.mark.parametrize("target", NATIVE)
@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_examples_match_the_interpreter(target, path):
    obj = bpfx.load(path)
    for prog in obj.programs:
        for packet in (PACKET, bytes(4096)):
            want = bpfx.run(prog, "interp", packet=packet, obj=obj)
            try:
                got = bpfx.run(prog, target, packet=packet, obj=obj)
            except bpfx.Unsupported as err:  # a target may reject a program at compile time, never run it wrongly
                pytest.skip(f"{target} rejects it: {err}")
            assert (got.r0, got.packet, got.maps, got.trace, got.ctx_changed) == \
                (want.r0, want.packet, want.maps, want.trace, want.ctx_changed)


@pytest.mark.parametrize("target", NATIVE)
def test_seed_proof_of_concept(target):
    prog = bpfx.load(os.path.join(ROOT, "examples", "xdp_adjust_head.o")).program()
    result = bpfx.run(prog, target, packet=bytes(4096))
    assert (result.r0, result.return_name, result.packet_len) == (2, "XDP_PASS", 4084)


@pytest.mark.parametrize("target", NATIVE)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), length=st.integers(5, 60))
def test_random_programs_match_the_interpreter(target, seed, length):
    prog = random_program(random.Random(seed), length=length)
    assert compare(prog, target, rejected=[]) is None  # programs a target rejects as unsupported are not run


USER_CONSTANTS = (0x1234567, 0x7654321, 0x5A5A5A5, 0x1122334455667788)


def _pieces(c: int) -> set[int]:
    """The pieces ISAs build a constant from: whole 32-bit halves, 16-bit chunks (move-wide ISAs) and the
    rounded upper 20 bits of each half (lui-style ISAs)."""
    halves = {c & 0xFFFFFFFF, c >> 32}
    return (halves | {c} | {(c >> s) & 0xFFFF for s in (0, 16, 32, 48)}
            | {((h + 0x800) >> 12) & 0xFFFFF for h in halves}) - {0, 0xFFFF}


def _revealed(image, disasm) -> set[int]:
    """Every user constant (or a piece of one) the code shows: numbers in the target's disassembly, and 32-bit
    little-endian words at any byte offset of the code."""
    import re

    pieces = {c: _pieces(c) for c in USER_CONSTANTS}
    shown: set[int] = set()
    if disasm is not None:
        for _, _, text in disasm(image.code, 0):
            shown |= {int(n, 0) & (2**64 - 1) for n in re.findall(r"-?0x[0-9a-fA-F]+|-?\b\d+\b", text)}
    code = image.code
    words = {int.from_bytes(code[i:i + 4], "little") for i in range(len(code) - 3)}
    return {c for c, ps in pieces.items() if ps & shown or ({c & 0xFFFFFFFF, c >> 32} - {0}) & words}


@pytest.mark.parametrize("target", NATIVE)
def test_hardened_code_hides_user_immediates(target):
    from bpfx.execute.runner import compile as compile_seeded
    from bpfx.front.asm import assemble
    from bpfx.plugins import get_target

    insns = assemble("mov %r0, 0x1234567\nadd %r0, 0x7654321\nstdw [%r10-8], 0x5a5a5a5\n"
                     "lddw %r2, 0x1122334455667788\nldxdw %r1, [%r10-8]\nadd %r0, %r1\nadd %r0, %r2\nexit\n")
    prog = bpfx.Program(name="h", section="t", prog_type="mem", insns=insns, file="<t>")
    disasm = getattr(get_target(target).selector(), "disassembler", None)
    plain = bpfx.compile(prog, target)
    assert _revealed(plain, disasm), "the check sees none of the constants even in plain code"
    want = bpfx.run(prog, "interp", mem=b"")
    for seed in (1, 2, 3):
        hard = compile_seeded(prog, target, harden=True, seed=seed)
        assert _revealed(hard, disasm) == set()
        assert len(hard.code) > len(plain.code)
    assert bpfx.run(prog, target, mem=b"", harden=True).r0 == want.r0


@pytest.mark.skipif(not importlib.util.find_spec("bpfx_acme"), reason="sample vendor plugin not installed")
def test_vendor_plugin_runs_with_its_own_layout_and_helper_addresses():
    import bpfx_acme

    prog = bpfx.load(os.path.join(ROOT, "examples", "xdp_adjust_head.o")).program()
    image = bpfx.compile(prog, "acme")
    assert not any(r.symbol == "bpf_xdp_adjust_head" for r in image.relocs)  # a direct call to firmware
    result = bpfx.run(prog, "acme", packet=bytes(4096))
    assert (result.r0, result.packet_len) == (2, 4084)
    assert bpfx_acme.FIRMWARE_HELPERS[44] == 0x0800_4400


def test_driver_api_resolves_maps_and_keeps_other_relocations():
    path = os.path.join(ROOT, "examples", "xdp_counters.o")
    if not os.path.exists(path):
        pytest.skip("example xdp_counters.o not built")
    prog = bpfx.load(path).programs[0]
    names = {bpfx.map_symbol(m.name) for m in prog.maps}
    image = bpfx.compile(prog, "arm64", helpers={1: 0x4000_0000})
    assert {r.symbol for r in image.relocs if r.kind == "map"} <= names
    resolved = bpfx.compile(prog, "arm64", helpers={1: 0x4000_0000}, maps={n: 0x9000_0000 for n in names})
    assert not [r for r in resolved.relocs if r.kind == "map"]
    assert not [r for r in resolved.relocs if r.symbol == "bpf_map_lookup_elem"]


@pytest.mark.parametrize("target", ["interp"] + NATIVE)
def test_tail_call_replaces_the_program(target):
    """bpf_tail_call(ctx, prog_array, 0) runs `second` in place of the caller; index 1 is empty and falls through."""
    from bpfx import MapDef, Object
    from bpfx.front.isa import Insn, Pseudo, ld_imm64

    prog_array = MapDef("jump_table", 3, 4, 4, 2, values=((0, "second"),))

    def first_with(index: int) -> list:
        lo, hi = ld_imm64(2, 0, Pseudo.MAP_FD)
        return [lo, hi, Insn(0xB7, 3, 0, 0, index), Insn(0x85, 0, 0, 0, 12),  # r0 = tail_call(r1, map, index)
                Insn(0xB7, 0, 0, 0, 1), Insn(0x95)]                            # not replaced: XDP_DROP

    second = bpfx.Program("second", "xdp", "xdp", [Insn(0xB7, 0, 0, 0, 3), Insn(0x95)], maps=[prog_array])
    for index, want in ((0, 3), (1, 1)):
        first = bpfx.Program("first", "xdp", "xdp", first_with(index), maps=[prog_array])
        obj = Object("<t>", [first, second], [prog_array])
        try:
            assert bpfx.run(first, target, obj=obj).r0 == want
        except bpfx.Unsupported as err:
            pytest.skip(f"{target} rejects it: {err}")


def test_context_field_missing_from_the_device_layout_is_a_compile_error():
    from bpfx.front.asm import assemble

    prog = bpfx.Program("p", "xdp", "xdp", assemble("ldxw %r0, [%r1+20]\nexit"), file="p.s")  # egress_ifindex
    with pytest.raises(bpfx.Unsupported) as err:
        bpfx.compile(prog, "arm64")
    assert str(err.value) == ("p.s:xdp:insn 0: context field xdp_md.egress_ifindex is not in the device layout "
                              "bpfx_xdp_md")
    assert bpfx.run(prog, "interp").r0 == 0  # the interpreter runs the UAPI layout itself


def test_fuzz_command():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "fuzz", "-t", "arm64", "-n", "25", "--seed", "7"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "25 passed, 0 failed"
