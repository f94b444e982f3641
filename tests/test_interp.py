"""Interpreter and runtime corner cases, each against a value worked out by hand."""

from __future__ import annotations

import pytest

from bpfx import Program, RuntimeFault, run
from bpfx.front.asm import assemble
from bpfx.execute.runtime import layout

M64 = (1 << 64) - 1


def r0(text: str, target: str = "interp", **kw) -> int:
    prog = Program(name="t", section="t", prog_type=kw.pop("ptype", "mem"), insns=assemble(text), file="t.s")
    return run(prog, target, **kw).r0


@pytest.mark.parametrize("target", ["interp", "arm64"])
@pytest.mark.parametrize("text,want", [
    ("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit", 0),
    ("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit", 7),
    ("lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1\nexit", 7),  # 32-bit mod by 0 zero-extends dst
    ("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit", 1 << 63),
    ("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit", 0),
    ("mov %r0, -7\nsdiv %r0, 2\nexit", (-3) & M64),
    ("mov %r0, -7\nsmod %r0, 2\nexit", (-1) & M64),
    ("lddw %r1, 0x100000000\nmov %r0, 5\ndiv32 %r0, %r1\nexit", 0),  # the 32-bit divisor is 0
    ("mov %r0, 1\nlsh %r0, 65\nexit", 2),  # the count is masked
    ("mov32 %r0, -1\nexit", 0xFFFFFFFF),
    ("mov %r0, -1\nexit", M64),
    ("mov %r1, 0x80\nmovsx864 %r0, %r1\nexit", (-128) & M64),
    ("mov %r1, 0x8000\nmovsx1632 %r0, %r1\nexit", 0xFFFF8000),
    ("lddw %r0, 0x0102030405060708\nbe16 %r0\nexit", 0x0807),
    ("lddw %r0, 0x0102030405060708\nle32 %r0\nexit", 0x05060708),
    ("lddw %r0, 0x0102030405060708\nbswap64 %r0\nexit", 0x0807060504030201),
    ("stdw [%r10-8], 5\nmov %r1, 3\nlock fetch add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r1\n"
     "exit", 0x805),
    ("stw [%r10-4], 9\nmov %r0, 9\nmov %r1, 4\nlock cmpxchg32 [%r10-4], %r1\nldxw %r0, [%r10-4]\nexit", 4),
    ("stb [%r10-1], 0x80\nldxsb %r0, [%r10-1]\nexit", (-128) & M64),
    ("mov %r0, 1\njslt %r0, -1, +1\nmov %r0, 2\nexit", 2),
    ("mov32 %r0, -1\njgt32 %r0, 5, +1\nmov %r0, 0\nexit", 0xFFFFFFFF),
    ("mov %r6, 5\nmov %r1, 2\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r6, 100\nmov %r0, %r1\nexit", 7),
])
def test_semantics(target, text, want):
    assert r0(text, target) == want


def test_memory_fault_names_the_instruction():
    with pytest.raises(RuntimeFault) as err:
        r0("mov %r1, 0\nldxdw %r0, [%r1+0]\nexit")
    assert str(err.value) == "t.s:t:insn 1: invalid read of 8 bytes at 0x0 (outside every mapped region)"


def test_budget_stops_a_runaway_program():
    with pytest.raises(RuntimeFault, match="insn 0: instruction budget of 1000 exhausted"):
        r0("ja -1\nexit", budget=1000)


def test_arm64_budget_stops_a_runaway_program():
    with pytest.raises(RuntimeFault, match="instruction budget of 5000 native instructions exhausted"):
        r0("mov %r0, 0\nloop:\nadd %r0, 1\nja loop\nexit", "arm64", budget=5000)


def test_unwind_helper_stops_the_program():
    assert r0("mov %r1, 0\ncall 5\nmov %r0, 2\nexit") == 0
    assert r0("mov %r1, 3\ncall 5\nmov %r0, 2\nexit") == 2


def test_layout_is_below_4gib():
    assert layout.MAP_BASE + 8 * layout.MAP_STRIDE < 1 << 32


@pytest.mark.parametrize("value_size", [1, 4, 8, 12])
def test_array_map_changes_name_exactly_the_slots_that_changed(value_size):
    from bpfx import MapDef
    from bpfx.execute.runtime import Memory
    from bpfx.execute.runtime.maps import MapState

    state = MapState(MapDef("a", 2, 4, value_size, 40), layout.MAP_BASE, Memory())
    assert state.changes() == {}
    want = {}
    for index, fill in ((0, 1), (17, 0xAB), (39, 0xFF)):
        value = bytes([fill]) * value_size
        state.update(index.to_bytes(4, "little"), value, 0)
        want[index.to_bytes(4, "little").hex()] = value.hex()
        assert state.changes() == want
    state.update((17).to_bytes(4, "little"), bytes(value_size), 0)  # back to what it was
    del want[(17).to_bytes(4, "little").hex()]
    assert state.changes() == want
