"""The LLVM tier (-O1..-O3 for every target with an LLVM triple) and the host JIT target, against the interpreter.

Targets are discovered: a plugin whose target (or its base) declares an LLVM triple and can be emulated is
covered here without new test code.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys

import pytest

import bpfx
from bpfx.front.asm import assemble
from bpfx.front.isa import Insn, Pseudo, ld_imm64
from bpfx.plugins import all_targets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.o")))
LLVM_NATIVE = [t.name for t in all_targets() if t.llvm_info() is not None and t.machine() is not None]
PACKET = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(range(200))
TCP = open(os.path.join(ROOT, "tests", "data", "ipv4_tcp.bin"), "rb").read()


def _suite() -> str | None:
    from bpfx import testing

    return testing.conformance_dir(ROOT)


def _effects(result):
    return (result.r0, result.packet, result.maps, result.trace, result.ctx_changed, result.redirects)


def test_arm64_has_the_llvm_tier():
    assert "arm64" in LLVM_NATIVE
    assert "llvm" in bpfx.targets()["arm64"]["hooks"]


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_examples_same_effects_at_O0_O2_and_on_host(path):
    obj = bpfx.load(path)
    for prog in obj.programs:
        for packet in (PACKET, TCP, bytes(4096), bytes(20)):
            want = _effects(bpfx.run(prog, "interp", packet=packet, obj=obj))
            assert _effects(bpfx.run(prog, "host", packet=packet, obj=obj)) == want
            for target in LLVM_NATIVE:
                assert _effects(bpfx.run(prog, target, packet=packet, obj=obj)) == want
                assert _effects(bpfx.run(prog, target, packet=packet, obj=obj, opt=2)) == want, target


@pytest.mark.parametrize("target", LLVM_NATIVE)
@pytest.mark.parametrize("opt", [2])
def test_conformance_suite_through_llvm(target, opt):
    suite = _suite()
    if suite is None:
        from bpfx import testing

        pytest.skip(testing.NO_SUITE)
    from bpfx.tools.conformance import run_conformance

    summary = run_conformance([suite], target, opt=opt)
    assert (summary.failed, summary.skipped, len(summary.passed)) == ([], [], 313)


def test_host_instruction_counts_match_the_interpreter():
    obj = bpfx.load(os.path.join(ROOT, "examples", "xdp_checksum.o"))
    prog = obj.program()
    assert bpfx.run(prog, "host", packet=TCP, obj=obj).insn_count == \
        bpfx.run(prog, "interp", packet=TCP, obj=obj).insn_count


# -- the host target's bounds checks: the interpreter's faults, never a touch of host memory ----------------------

WILD = {
    "store far outside": ("lddw %r1, 0x7fff12345678\nstw [%r1+0], 1\nmov %r0, 0\nexit",
                          "p.s:mem:insn 2: invalid write of 4 bytes at 0x7fff12345678 (outside every mapped region)"),
    "load above the stack": ("mov %r1, %r10\nldxdw %r0, [%r1+0]\nexit",
                             "p.s:mem:insn 1: invalid read of 8 bytes at 0x2010000 (outside every mapped region)"),
    "load straddling the end of mem": ("ldxw %r0, [%r1+14]\nexit",
                                       "p.s:mem:insn 0: invalid read of 4 bytes at 0x500000e (outside every mapped "
                                       "region)"),
    "atomic on a null pointer": ("mov %r1, 0\nmov %r2, 1\nlock add32 [%r1+0], %r2\nexit",
                                 "p.s:mem:insn 2: invalid read of 4 bytes at 0x0 (outside every mapped region)"),
    "address over 4 GiB": ("lddw %r1, 0x100000000\nldxb %r0, [%r1+0]\nexit",
                           "p.s:mem:insn 2: invalid read of 1 bytes at 0x100000000 (outside every mapped region)"),
    "endless loop": ("mov %r0, 0\nadd %r0, 1\nja -2", "p.s:mem:insn 2: instruction budget of 1000 exhausted"),
}


@pytest.mark.parametrize("name", WILD)
def test_host_faults_exactly_as_the_interpreter(name):
    text, message = WILD[name]
    prog = bpfx.Program("p", "mem", "mem", assemble(text), file="p.s")
    for target in ("interp", "host"):
        with pytest.raises(bpfx.RuntimeFault) as err:
            bpfx.run(prog, target, mem=bytes(16), budget=1000)
        assert str(err.value) == message, target


def _interp_and_host(prog, **kw):
    out = []
    for target in ("interp", "host"):
        try:
            out.append(bpfx.run(prog, target, **kw).r0)
        except bpfx.RuntimeFault as err:
            out.append(str(err))
    return out


def _regions(prog):
    from bpfx.llvm import legalise
    from bpfx.llvm.host import access_regions

    legal = legalise(prog)
    return access_regions(prog, legal.insns, legal.origin)


# r2 = r10 + a 64-bit value read from mem: the verifier knows r2 points into the stack, not where
STACK_WANDER = "mov %r2, %r10\nldxdw %r3, [%r1+0]\nadd %r2, %r3\nldxb %r0, [%r2+0]\nexit"


@pytest.mark.parametrize("where", ["this frame", "bottom of the stack", "below the stack", "above", "mem"])
def test_host_stack_fast_check_falls_back_to_the_full_check(where):
    """An unproven access through a stack pointer gets one compare against the stack's bounds; an address it
    does not cover (another region, or none) takes the full check: the interpreter's value or fault."""
    from bpfx.execute.runtime import layout

    prog = bpfx.Program("p", "mem", "mem", assemble(STACK_WANDER), file="p.s")
    assert _regions(prog)[3] == ("stack", False)
    delta = {"this frame": -1, "bottom of the stack": -layout.STACK_SIZE, "below the stack": -layout.STACK_SIZE - 1,
             "above": 5, "mem": layout.MEM_BASE + 9 - layout.STACK_TOP}[where]
    mem = (delta & (1 << 64) - 1).to_bytes(8, "little") + bytes(range(1, 17))
    want, got = _interp_and_host(prog, mem=mem)
    assert got == want
    fault = f"p.s:mem:insn 3: invalid read of 1 bytes at 0x{layout.STACK_TOP + delta:x} (outside every mapped region)"
    assert want == {"this frame": 0, "bottom of the stack": 0, "mem": 2}.get(where, fault)


@pytest.mark.parametrize("offset", [0, -1, 3000, 1 << 20, "ctx"])
def test_host_packet_fast_check_falls_back_to_the_full_check(offset):
    """The same for an unproven packet access: inside the packet region (headroom included) by the fast
    check, in the context region through the full one, or the interpreter's fault."""
    from bpfx.execute.runtime import layout

    data = layout.PACKET_BASE + layout.PACKET_HEADROOM
    if offset == "ctx":
        offset = layout.CTX_BASE + 4 - data
    prog = bpfx.Program("p", "xdp", "xdp", assemble(f"ldxw %r2, [%r1+0]\nadd %r2, {offset}\nldxb %r0, [%r2+0]\n"
                                                   "exit"), file="p.s")
    assert _regions(prog)[2] == (layout.PACKET_BASE >> 24, False)
    want, got = _interp_and_host(prog, packet=PACKET)
    assert got == want
    expect = {0: PACKET[0], -1: 0, layout.CTX_BASE + 4 - data: (data + len(PACKET)) & 0xFF}  # ctx+4: data_end
    assert want == expect.get(offset, f"p.s:xdp:insn 2: invalid read of 1 bytes at 0x{data + offset:x} (outside "
                                      f"every mapped region)")


@pytest.mark.parametrize("where", ["packet", "ctx", "last byte", "past the end"])
def test_host_grouped_checks_keep_the_interpreters_order(where):
    """Two accesses through one register share one fast check over both; when it fails, the rest of the block
    runs again with each access checked in order: both translated, or the fault at the second one."""
    from bpfx.execute.runtime import layout

    data = layout.PACKET_BASE + layout.PACKET_HEADROOM
    last = len(PACKET) + layout.PACKET_TAILROOM - 1  # the packet region's last byte, from data
    add = {"packet": 10, "ctx": layout.CTX_BASE - data, "last byte": last, "past the end": last + 1}[where]
    prog = bpfx.Program("p", "xdp", "xdp", assemble(
        f"ldxw %r2, [%r1+0]\nadd %r2, {add}\nldxb %r0, [%r2+0]\nldxb %r3, [%r2+1]\nlsh %r3, 8\nor %r0, %r3\n"
        "exit"), file="p.s")
    assert _regions(prog)[2] == _regions(prog)[3] == (layout.PACKET_BASE >> 24, False)
    want, got = _interp_and_host(prog, packet=PACKET)
    assert got == want
    expect = {"packet": PACKET[10] | PACKET[11] << 8, "ctx": data & 0xFFFF,  # data, the ctx's first field
              "last byte": f"p.s:xdp:insn 3: invalid read of 1 bytes at 0x{data + last + 1:x} (outside every mapped "
                           "region)",
              "past the end": f"p.s:xdp:insn 2: invalid read of 1 bytes at 0x{data + last + 1:x} (outside every "
                              "mapped region)"}
    assert want == expect[where]


# Each writes 0x7fffffff over ctx->data_end in a way the verifier does not accept, then reads data + 20000 below
# that data_end: an access the verifier proves (it trusts data_end) but outside the packet region. The host must
# stop trusting the proofs and fault as the interpreter does, never read its own memory there.
def _corrupt(how: str) -> str:
    from bpfx.execute.runtime import layout

    corrupt = {
        "store": f"lddw %r5, {layout.CTX_BASE + 4}\nstw [%r5+0], 0x7fffffff\n",
        "helper": f"stdw [%r10-8], 0x7fffffff\nlddw %r1, {layout.CTX_BASE + 4}\nmov %r2, 4\nmov %r3, %r10\n"
                  "add %r3, -8\ncall 113\n",  # bpf_probe_read_kernel(&ctx->data_end, 4, stack)
    }[how.split()[0]]
    read = "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 20001\nmov %r0, 0\njgt %r4, %r3, +1\n" \
           "ldxb %r0, [%r2+20000]\nexit\n"
    if how.endswith("callee"):  # the callee, given the context, does the read
        return "mov %r6, %r1\n" + corrupt + "mov %r1, %r6\ncall local sub\nexit\nsub:\n" + read
    return "mov %r6, %r1\n" + corrupt + "mov %r1, %r6\n" + read


@pytest.mark.parametrize("how", ["store", "helper", "store in the caller, read in the callee"])
def test_host_distrusts_proofs_once_the_context_may_be_corrupt(how):
    prog = bpfx.Program("p", "xdp", "xdp", assemble(_corrupt(how)), file="p.s")
    assert any(proven for _, proven in _regions(prog).values())  # the read is proven
    want, got = _interp_and_host(prog, packet=bytes(64))
    assert got == want
    assert isinstance(want, str) and "invalid read of 1 bytes" in want


def test_host_proven_accesses_are_not_checked():
    """Accesses the verifier proves in bounds (ctx fields, packet bytes below a data_end test) compile to plain
    loads: the function's fast version has no bounds check (its slow version, run only once the run is tainted,
    checks everything)."""
    from bpfx.llvm import legalise
    from bpfx.llvm.lift import lift

    prog = bpfx.Program("p", "xdp", "xdp", assemble(
        "ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\nmov %r0, 0\njgt %r4, %r3, +1\n"
        "ldxh %r0, [%r2+12]\nexit"))
    regions = _regions(prog)
    assert all(proven for _, proven in regions.values()) and len(regions) == 3
    legal = legalise(prog)
    fn = lift(prog, legal.insns, legal.origin, {0: "bpf_entry"}, None, mode="host", regions=regions).module.get_global(
        "bpf_entry")
    names = [block.name for block in fn.blocks]
    slow = names.index("S0")  # the slow version's blocks come after the fast version's
    assert not [n for n in names[:slow] if n.startswith("oob")]
    assert len([n for n in names[slow:] if n.startswith("oob")]) == 3
    assert bpfx.run(prog, "host", packet=PACKET).r0 == bpfx.run(prog, "interp", packet=PACKET).r0 == 0x0008


def test_host_frames_are_the_interpreters():
    """8 nested frames (the most the validator allows), each storing to its own frame and the callee reading its
    caller's frame through a pointer: r10 values and frame contents are the interpreter's (r0 is not: a stack
    address returned is a pointer leak the validator rejects)."""
    fn = assemble("mov %r2, %r10\nstxdw [%r10-8], %r2\nldxdw %r0, [%r1-8]\nmov %r1, %r10\ncall local next\n"
                  "exit\nnext:\nmov %r0, 0\nexit")[:5]
    insns, functions = [], {}
    for i in range(8):
        functions[len(insns)] = f"f{i}"
        insns += fn + [Insn(0x95)] if i < 7 else fn[:4] + [Insn(0x95)]
    # the entry keeps the returned frame address on its stack and returns 0 (returning it is a pointer leak)
    insns[5:5] = assemble("stxdw [%r10-16], %r0\nmov %r0, 0")
    insns[4] = insns[4]._replace(imm=insns[4].imm + 2)
    functions = {k + 2 if k else k: v for k, v in functions.items()}
    insns = [Insn(0xBF, 1, 10)] + insns  # r1 = r10 for the entry's first load
    functions = {0: "p", **{k + 1: v for k, v in functions.items() if k}}
    prog = bpfx.Program("p", "mem", "mem", insns, file="p.s", functions=functions)
    want = bpfx.run(prog, "interp")
    got = bpfx.run(prog, "host")
    assert (got.r0, got.stack) == (want.r0, want.stack)


def test_host_stack_pointers_escape_to_helpers_and_maps():
    """A key on the stack, passed by pointer to the map helpers, then the value written through the returned
    pointer: the helpers see the JIT code's stores, the JIT code sees the helpers' memory."""
    obj = bpfx.load(os.path.join(ROOT, "examples", "xdp_counters.o"))
    prog = obj.program()
    for _ in range(2):
        want = bpfx.run(prog, "interp", packet=TCP, obj=obj)
        got = bpfx.run(prog, "host", packet=TCP, obj=obj)
        assert got.maps == want.maps != {}


@pytest.mark.parametrize("target", ["host", "interp", "arm64"])
def test_prepared_runs_give_the_interpreters_results(target):
    """One prepared program, run on one packet after another: each run is the interpreter's separate run (maps,
    packet and context start afresh, whatever the run before did to them)."""
    packets = (PACKET, TCP, bytes(20), TCP[:40], PACKET, bytes(4096), TCP)
    for path in EXAMPLES:
        obj = bpfx.load(path)
        for prog in obj.programs:
            prepared = bpfx.prepare(prog, target, obj=obj)
            for packet in packets:
                want = _effects(bpfx.run(prog, "interp", packet=packet, obj=obj))
                assert _effects(prepared.run(packet=packet)) == want, (path, prog.name, target, len(packet))


# r0 = mem[mem[0]]: mem[0] = 8 reads in bounds, 200 faults; the store to mem[1] is undone by the next run's mem
INDEXED = "ldxb %r2, [%r1+0]\nstb [%r1+1], 7\nadd %r1, %r2\nldxb %r0, [%r1+0]\nexit"
LOOP_BY_MEM = "ldxb %r2, [%r1+0]\nmov %r0, 0\nadd %r0, 1\njlt %r0, %r2, -2\nexit"


@pytest.mark.parametrize("target", ["host", "interp"])
def test_a_fault_in_one_prepared_run_does_not_leak_into_the_next(target):
    prog = bpfx.Program("p", "mem", "mem", assemble(INDEXED), file="p.s")
    prepared = bpfx.prepare(prog, target, budget=1000)
    good = bytes([8, 0, 0, 0, 0, 0, 0, 0, 42]) + bytes(7)
    for mem in (good, bytes([200]) + bytes(15), good, bytes([1]) + bytes(15), bytes([250]) + bytes(15), good):
        want = _interp_and_host(prog, mem=mem, budget=1000)[0]
        try:
            got = prepared.run(mem=mem).r0
        except bpfx.RuntimeFault as err:
            got = str(err)
        assert got == want, mem[0]
    assert prepared.run(mem=good).r0 == 42
    assert prepared.run(mem=bytes([1]) + bytes(15)).r0 == 7  # its own store, then the load of it
    loop = bpfx.prepare(bpfx.Program("l", "mem", "mem", assemble(LOOP_BY_MEM), file="l.s"), target, budget=300)
    assert loop.run(mem=bytes([100])).r0 == 100
    with pytest.raises(bpfx.RuntimeFault, match="budget of 300 exhausted"):
        loop.run(mem=bytes([255]))  # 2 instructions a trip: over the budget
    result = loop.run(mem=bytes([5]))
    assert (result.r0, result.insn_count) == (5, bpfx.run(loop.source, "interp", mem=bytes([5])).insn_count)


def test_prepared_runs_skip_the_run_hook(monkeypatch):
    """Targets that run programs themselves hand a prepared program a per-run function (``bpfx_runner``), so its
    runs do not dispatch ``bpfx_run``; a target without one goes through ``bpfx_run`` every run."""
    from bpfx import plugins

    prog = bpfx.Program("p", "mem", "mem", assemble("mov %r0, 12345\nexit"))
    prepared = [bpfx.prepare(prog, name) for name in ("host", "interp")]

    def no_dispatch(*args):
        raise AssertionError("bpfx_run dispatched")

    monkeypatch.setattr(plugins.Target, "run", no_dispatch)
    assert [p.run().r0 for p in prepared] == [12345, 12345]
    monkeypatch.setattr(plugins.Target, "_first", lambda self, hook, **kw: None)
    with pytest.raises(AssertionError, match="bpfx_run dispatched"):
        plugins.get_target("host").runner({})(prog, None, 1000)


@pytest.mark.parametrize("target", ["host", "interp"])
def test_run_reuses_the_preparation_of_the_same_program_until_it_changes(target):
    from bpfx.execute import runner

    prog = bpfx.Program("p", "mem", "mem", assemble("mov %r0, 7\nexit"), file="p.s")
    assert bpfx.run(prog, target).r0 == 7
    kept = [p for p in runner._PREPARED.values() if p.source is prog]
    assert len(kept) == 1 and bpfx.run(prog, target).r0 == 7
    assert [p for p in runner._PREPARED.values() if p.source is prog] == kept
    prog.insns = assemble("mov %r0, 8\nexit")  # a new list: validated and prepared again
    assert bpfx.run(prog, target).r0 == 8
    assert bpfx.run(prog, target, budget=100).r0 == 8  # another budget: another preparation
    called = []
    with_helper = bpfx.run(bpfx.Program("h", "mem", "mem", assemble("call 5\nexit")), target,
                           helpers={5: lambda call, *a: called.append(a) or 3})
    assert (with_helper.r0, len(called)) == (3, 1)


# Counted loops (one block, iv += step, back while iv < / <= bound): r1 = start, r3 = step, r4 = bound from mem
COUNTED = {
    "jlt imm": "ldxdw %r3, [%r1+8]\nldxdw %r1, [%r1+0]\nmov %r2, 0\nadd %r2, 3\nadd %r1, %r3\njlt %r1, 1000, -3\n"
               "mov %r0, %r2\nexit",
    "jgt reg": "ldxdw %r3, [%r1+8]\nldxdw %r4, [%r1+16]\nldxdw %r1, [%r1+0]\nmov %r2, 0\nadd %r2, 3\n"
               "add %r1, %r3\njgt %r4, %r1, -3\nmov %r0, %r2\nexit",
    "jle reg": "ldxdw %r3, [%r1+8]\nldxdw %r4, [%r1+16]\nldxdw %r1, [%r1+0]\nmov %r2, 0\nadd %r2, 3\n"
               "add %r1, %r3\njle %r1, %r4, -3\nmov %r0, %r2\nexit",
    "jge imm step": "ldxdw %r4, [%r1+16]\nldxdw %r1, [%r1+0]\nmov %r2, 0\nstxb [%r10-1], %r2\nadd %r2, 3\n"
                    "add %r1, 7\njge %r4, %r1, -3\nmov %r0, %r2\nexit",
}
M64 = (1 << 64) - 1


@pytest.mark.parametrize("name", COUNTED)
def test_host_counted_loops_agree_with_the_interpreter(name):
    """The version of a counted loop without budget tests runs only when every trip fits the budget; steps of 0,
    steps that wrap, first values past the bound and bounds at the top of the range take the plain loop."""
    import struct

    prog = bpfx.Program("c", "mem", "mem", assemble(COUNTED[name]), file="c.s")
    cases = [(0, 1, 1000), (5, 3, 900), (999, 1, 1000), (1000, 1, 1000), (2000, 1, 1000), (0, 0, 10),
             (0, 1 << 63, 1000), (10, M64, 1000), (M64 - 5, 1, M64), (M64 - 5, 2, M64 - 1), (0, 7, 0)]
    for start, step, bound in cases:
        mem = struct.pack("<QQQ", start, step, bound)
        full = None
        for budget in (100, 3000, 10**6):
            got = _interp_and_host(prog, mem=mem, budget=budget)
            if isinstance(got[0], str):  # the budget ran out: the same fault (host names the jump or the exit)
                assert all(f"instruction budget of {budget} exhausted" in g for g in got), (start, step, bound, got)
            else:
                assert got[0] == got[1], (start, step, bound, budget)
                full = bpfx.run(prog, "interp", mem=mem, budget=budget).insn_count
        if full is not None:  # exactly enough, and one short (the fault then comes at the exit, as interpreted)
            assert bpfx.run(prog, "host", mem=mem, budget=full).insn_count == full
            assert _interp_and_host(prog, mem=mem, budget=full - 1)[1] == \
                f"c.s:mem:insn {len(prog.insns) - 1}: instruction budget of {full - 1} exhausted"


def _budget_blind(outcome):
    """A budget fault without its instruction: host names the jump or exit that found it, the interpreter the
    instruction that crossed it."""
    return re.sub(r"insn \d+: (instruction budget)", r"\1", outcome) if isinstance(outcome, str) else outcome


# A counted loop storing through r10 - 400 + iv: the assume bounds iv by the loop's bound, which mem sets; the
# store's check must stay wherever that bound does not keep it inside the stack
COUNTED_STORE = ("ldxdw %r3, [%r1+8]\nldxdw %r4, [%r1+16]\nldxdw %r1, [%r1+0]\nmov %r0, 0\n"
                 "mov %r7, %r10\nadd %r7, -400\nadd %r7, %r1\nstb [%r7+0], 1\nadd %r0, 1\nadd %r1, %r3\n"
                 "jgt %r4, %r1, -7\nexit")


def test_host_counted_loop_keeps_the_checks_its_bound_does_not_imply():
    import struct

    prog = bpfx.Program("s", "mem", "mem", assemble(COUNTED_STORE), file="s.s")
    for start, step, bound in ((0, 1, 400), (0, 3, 400), (390, 1, 400), (0, 1, 401), (0, 7, 100000),
                               (395, 1, 1 << 40), (M64 - 500, 1, M64), (500, 1, 600), (0, 0, 400)):
        mem = struct.pack("<QQQ", start, step, bound)
        got = [_budget_blind(g) for g in _interp_and_host(prog, mem=mem, budget=100000)]
        assert got[0] == got[1], (start, step, bound, got)
    assert _interp_and_host(prog, mem=struct.pack("<QQQ", 0, 1, 401), budget=100000)[1] == \
        "s.s:mem:insn 7: invalid write of 1 bytes at 0x2010000 (outside every mapped region)"


def test_host_random_counted_loops_agree_with_the_interpreter():
    """Random one-block loops (ALU on other registers, stack and mem accesses, some through iv), random first
    values, steps, bounds and budgets: the host's Result or fault is the interpreter's."""
    import random
    import struct

    rng = random.Random(20261125)
    ops = ["add %r{d}, {k}", "xor %r{d}, %r{s}", "mul %r{d}, {k}", "lsh %r{d}, 3", "mov %r{d}, %r{s}",
           "stxb [%r10-{o}], %r{s}", "ldxb %r{d}, [%r10-{o}]", "ldxb %r{d}, [%r6+0]", "stxb [%r6+0], %r{s}"]
    for n in range(12):
        body = []
        for _ in range(rng.randint(1, 5)):
            body.append(rng.choice(ops).format(d=rng.choice((0, 2, 5, 8)), s=rng.choice((0, 1, 2, 5)),
                                               k=rng.randint(1, 9), o=rng.randint(1, 64)))
        jump = rng.choice(["jlt %r1, %r4, -{n}", "jle %r1, %r4, -{n}", "jgt %r4, %r1, -{n}", "jge %r4, %r1, -{n}",
                           "jlt %r1, 300, -{n}"])
        loop = body[:rng.randint(0, len(body))] + ["add %r1, %r3"] + body[len(body):]
        pre = "mov %r9, %r1\nldxdw %r3, [%r9+8]\nldxdw %r4, [%r9+16]\nldxdw %r1, [%r9+0]\nmov %r6, %r9\n" \
              "add %r6, %r1\nmov %r0, 0\nmov %r2, 0\nmov %r5, 0\nmov %r8, 0\n"
        text = pre + "\n".join(loop + [jump.format(n=len(loop) + 1), "exit"])
        prog = bpfx.Program(f"r{n}", "mem", "mem", assemble(text), file="r.s")
        for start, step, bound in ((0, 1, 20), (3, 2, 17), (0, rng.randint(1, 9), 300), (5, 1, 4), (0, 0, 9),
                                   (M64 - 3, 1, M64), (0, 1, 40)):
            mem = struct.pack("<QQQ", start, step, bound) + bytes(24)
            for budget in (50, 400, 100000):
                got = [_budget_blind(g) for g in _interp_and_host(prog, mem=mem, budget=budget)]
                assert got[0] == got[1], (text, start, step, bound, budget, got)


def test_host_names_the_instruction_that_went_over_the_budget():
    """A budget that runs out in a block ending in a backward jump (or the exit) is named at the instruction the
    interpreter names, the first one over; one that ran out in an earlier, unchecked block at the check."""
    text = "mov %r1, 0\nmov %r2, 0\nadd %r2, 3\nadd %r1, 1\nlddw %r3, 0x100000000\njlt %r1, 100, -5\n" \
           "mov %r0, %r2\nexit"
    prog = bpfx.Program("b", "mem", "mem", assemble(text), file="b.s")
    exact = 0
    for budget in range(2, 60):
        got = _interp_and_host(prog, budget=budget)
        assert _budget_blind(got[0]) == _budget_blind(got[1])
        exact += got[0] == got[1]
    assert exact == 58
    assert _interp_and_host(prog, budget=1) == ["b.s:mem:insn 1: instruction budget of 1 exhausted",
                                                "b.s:mem:insn 6: instruction budget of 1 exhausted"]


def test_host_checks_the_budget_at_the_exit_too():
    prog = bpfx.Program("s", "mem", "mem", assemble("mov %r0, 1\nmov %r0, 2\nmov %r0, 3\nexit"), file="s.s")
    assert _interp_and_host(prog, budget=3) == ["s.s:mem:insn 3: instruction budget of 3 exhausted"] * 2
    assert _interp_and_host(prog, budget=4) == [3, 3]
    loop = bpfx.Program("l", "mem", "mem", assemble("mov %r0, 0\nadd %r0, 1\njlt %r0, 50, -2\nexit"), file="l.s")
    for budget in (101, 102, 1 << 62, (1 << 63) + 5, M64):  # what is left of a budget is a signed word
        assert _interp_and_host(loop, budget=budget) == ([50, 50] if budget > 101 else
                                                         ["l.s:mem:insn 3: instruction budget of 101 exhausted"] * 2)


def test_host_caches_compiled_programs():
    from bpfx.llvm.host import jit

    prog = bpfx.Program("cached", "mem", "mem", assemble("mov %r0, 12345\nexit"))
    assert bpfx.run(prog, "host").r0 == 12345
    misses = jit().misses
    same = bpfx.Program("again", "mem", "mem", assemble("mov %r0, 12345\nexit"))
    assert bpfx.run(same, "host").r0 == 12345
    assert jit().misses == misses
    other = bpfx.Program("other", "mem", "mem", assemble("mov %r0, 54321\nexit"))
    assert bpfx.run(other, "host").r0 == 54321
    assert jit().misses == misses + 1


@pytest.mark.parametrize("target", ["host"] + LLVM_NATIVE)
def test_tail_call_through_the_runtime(target):
    from bpfx import MapDef, Object

    prog_array = MapDef("jump_table", 3, 4, 4, 2, values=((0, "second"),))
    second = bpfx.Program("second", "xdp", "xdp", [Insn(0xB7, 0, 0, 0, 3), Insn(0x95)], maps=[prog_array])
    for index, want in ((0, 3), (1, 1)):
        lo, hi = ld_imm64(2, 0, Pseudo.MAP_FD)
        first = bpfx.Program("first", "xdp", "xdp", [lo, hi, Insn(0xB7, 3, 0, 0, index), Insn(0x85, 0, 0, 0, 12),
                                                     Insn(0xB7, 0, 0, 0, 1), Insn(0x95)], maps=[prog_array])
        obj = Object("<t>", [first, second], [prog_array])
        assert bpfx.run(first, target, obj=obj, opt=2).r0 == want


def test_host_fuzz_agrees_with_the_interpreter():
    from bpfx.tools.fuzz import fuzz

    assert [(seed, problem) for seed, problem, _ in fuzz("host", 40, 1234)] == []


@pytest.mark.parametrize("target", LLVM_NATIVE)
def test_O2_fuzz_agrees_with_the_interpreter(target):
    from bpfx.tools.fuzz import fuzz

    assert [(seed, problem) for seed, problem, _ in fuzz(target, 25, 99, opt=2)] == []


# -- images, relocations, fallbacks ---------------------------------------------------------------------------------

@pytest.mark.parametrize("target", LLVM_NATIVE)
def test_relocations_are_the_baseline_records(target):
    obj = bpfx.load(os.path.join(ROOT, "examples", "xdp_counters.o"))
    prog = obj.program()
    base = bpfx.compile(prog, target)
    opt = bpfx.compile(prog, target, opt=2)
    assert {(r.symbol, r.kind) for r in opt.relocs} == {(r.symbol, r.kind) for r in base.relocs}
    assert opt.symbols[opt.entry] == 0 and opt.entry == "xdp_counters"
    assert 512 < opt.stack_size < 1024  # one BPF frame plus saved registers, from the object's CFI
    resolved = bpfx.compile(prog, target, opt=2, maps={"proto_count": 0x1000_0000, "bytes_by_src": 0x1100_0000})
    assert not [r for r in resolved.relocs if r.kind == "map"]


@pytest.mark.parametrize("target", LLVM_NATIVE)
def test_global_data_loads_and_stores_at_O2(target):
    """Constant addresses into global data fold into load/store offsets (arm64 LDST*_ABS_LO12_NC, riscv64
    LO12_I/LO12_S): every width, the interpreter's map contents."""
    from bpfx import MapDef, Object

    bss = MapDef(".bss", 2, 4, 32, 1, initial=bytes(32))
    lo, hi = ld_imm64(1, 0, Pseudo.MAP_VALUE)
    one = [Insn(0x72, 1, 0, 3, 7), Insn(0x71, 0, 1, 3), Insn(0x95)]  # a lone store: its %lo folds into it
    every = [Insn(0x72, 1, 0, 3, 7), Insn(0x6A, 1, 0, 6, 0x1234), Insn(0x62, 1, 0, 12, -5),
             Insn(0x7A, 1, 0, 16, 99), Insn(0x71, 0, 1, 3), Insn(0x69, 2, 1, 6), Insn(0x0F, 0, 2),
             Insn(0x79, 2, 1, 16), Insn(0x0F, 0, 2), Insn(0x95)]
    for body, r0 in ((one, 7), (every, 7 + 0x1234 + 99)):
        prog = bpfx.Program("p", "xdp", "xdp", [lo, hi] + body, maps=[bss])
        obj = Object("<t>", [prog], [bss])
        want = bpfx.run(prog, "interp", obj=obj)
        got = bpfx.run(prog, target, obj=obj, opt=2)
        assert (got.r0, got.maps) == (want.r0, want.maps) and want.r0 == r0


def test_arm64_O2_is_smaller_and_calls_helpers_by_symbol():
    obj = bpfx.load(os.path.join(ROOT, "examples", "xdp_adjust_head.o"))
    image = bpfx.compile(obj.program(), "arm64", opt=2)
    assert [(r.symbol, r.kind, r.type) for r in image.relocs] == [("bpf_xdp_adjust_head", "helper", 283)]
    assert len(image.code) < len(bpfx.compile(obj.program(), "arm64").code)


def test_target_without_a_triple_is_unsupported():
    from bpfx.llvm import compile_program
    from bpfx.plugins import get_target

    prog = bpfx.Program("p", "mem", "mem", assemble("mov %r0, 1\nexit"), file="p.s")
    with pytest.raises(bpfx.Unsupported, match="^p.s:mem: target interp has no LLVM triple"):
        compile_program(prog, get_target("interp"))
    with pytest.raises(bpfx.Unsupported, match="--harden"):
        bpfx.compile(prog, "arm64", opt=2, harden=True)


def test_what_llvm_cannot_express_is_unsupported_naming_the_instruction():
    prog = bpfx.Program("p", "mem", "mem", [Insn(0xB7, 0, 0, 0, 0), Insn(0x18, 0, Pseudo.BTF_ID, 0, 0), Insn(0),
                                            Insn(0x95)], file="p.s")
    with pytest.raises(bpfx.Unsupported) as err:
        bpfx.compile(prog, "arm64", opt=2)
    assert str(err.value) == "p.s:mem:insn 1: unsupported by the LLVM tier on arm64: lddw with src 3 (BTF_ID)"


def test_cli_emit_compile_and_run(tmp_path):
    src = os.path.join(ROOT, "examples", "xdp_adjust_head.o")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "bpfx.cli", *args], capture_output=True, text=True)

    ir = cli("compile", src, "-t", "arm64", "-O2", "--emit", "llvm")
    assert ir.returncode == 0 and "define" in ir.stdout and "@xdp_prog(" in ir.stdout
    assert "call i64 @bpf_xdp_adjust_head(" in ir.stdout
    asm = cli("compile", src, "-t", "arm64", "-O2", "--emit", "asm")
    assert asm.returncode == 0 and "bl\tbpf_xdp_adjust_head" in asm.stdout
    out = tmp_path / "x.o"
    made = cli("compile", src, "-t", "arm64", "-O2", "-o", str(out))
    assert made.returncode == 0 and out.read_bytes()[:4] == b"\x7fELF"
    ran = cli("run", src, "-t", "arm64", "-O2", "--packet-size", "4096")
    assert ran.returncode == 0 and ran.stdout.splitlines()[:2] == ["r0 = 2 (XDP_PASS)  [0x2]", "packet length = 4084"]
    host = cli("run", src, "-t", "host", "--packet-size", "4096")
    assert host.stdout == ran.stdout
    host_ir = cli("compile", src, "-t", "host", "-O2", "--emit", "llvm")
    assert host_ir.returncode == 0 and "@bpf_entry(" in host_ir.stdout and "bpfx_host_helper" in host_ir.stdout
    bad = cli("compile", src, "-t", "arm64", "--emit", "asm")
    assert bad.returncode == 2 and "give -O1, -O2 or -O3" in bad.stderr


def test_pcrel_lo_relocations_name_their_partners_symbol():
    """Target-neutral object reading on a triple no bundled plugin has yet (riscv64): a %pcrel_lo relocation
    against the label of its %pcrel_hi partner comes back against the partner's symbol, addend moved by the
    distance, so a loader applies it from value - pc like any pc-relative relocation."""
    import dataclasses

    from bpfx import RelocType
    from bpfx.llvm import library
    from bpfx.llvm.object import image_from_object
    from bpfx.plugins import get_target

    arm64 = get_target("arm64")

    class RiscV:
        name = "rv"
        info = dataclasses.replace(arm64.info, name="rv", llvm_triple="riscv64-unknown-elf", llvm_features="+m,+a",
                                   features={})
        llvm_info = lambda self: self.info  # noqa: E731
        features = lambda self, overrides=None: {}  # noqa: E731
        context = lambda self, prog_type: arm64.context(prog_type)  # noqa: E731
        helpers = lambda self, *args: arm64.helpers(*args)  # noqa: E731
        reloc_types = lambda self: {t: RelocType(str(t), None) for t in (19, 23, 24, 25)}  # noqa: E731

    obj = bpfx.load(os.path.join(ROOT, "examples", "xdp_counters.o"))
    lib, lifted, table = library(obj.program(), RiscV(), opt=2)
    image = image_from_object(lib.emit_object(), obj.program(), RiscV(), lifted, table)
    his = {r.offset: r for r in image.relocs if r.type == 23}
    los = [r for r in image.relocs if r.type in (24, 25)]
    assert los and len(his) == len(los)
    for lo in los:
        hi = max(off for off in his if off < lo.offset)
        assert (lo.symbol, lo.kind, lo.addend) == (his[hi].symbol, his[hi].kind, his[hi].addend + lo.offset - hi)
    assert {(r.symbol, r.kind) for r in image.relocs} == {(r.symbol, r.kind) for r in bpfx.compile(
        obj.program(), "arm64").relocs}


@pytest.mark.parametrize("target", LLVM_NATIVE)
def test_line_map_from_debug_info_locates_faults(target):
    """The object's DWARF line table becomes the Image's line map, so a fault in -O2 code names its BPF insn."""
    prog = bpfx.Program("p", "mem", "mem", assemble("mov %r0, 0\nlddw %r1, 0x7fff12345678\nstw [%r1+0], 1\nexit"),
                        file="p.s")
    image = bpfx.compile(prog, target, opt=2)
    offsets = [off for off, _ in image.line_map]
    assert offsets == sorted(offsets) and {idx for _, idx in image.line_map} <= {-1, 0, 1, 2, 3, 4}
    assert 3 in {idx for _, idx in image.line_map}
    with pytest.raises(bpfx.RuntimeFault, match=r"^p\.s:mem:insn 3: "):
        bpfx.run(prog, target, opt=2)


# -- bench/host_speed.py: the per-run timing on both sides -------------------------------------------------------

def _host_speed():
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import host_speed
    finally:
        sys.path.pop(0)
    return host_speed


def test_host_speed_times_the_jit_code_in_a_native_loop():
    """The native loop runs the JIT entry as run_host does: the first run's r0 is the interpreter's, and a run
    takes a positive, finite time (the loop resets the stop flag and count, or the budget would end it)."""
    from bpfx.llvm.host import jit

    prog = bpfx.Program("p", "mem", "mem", assemble("mov %r0, 0\nmov %r1, 0\nloop:\nadd %r0, %r1\nadd %r1, 1\n"
                                                    "jlt %r1, 1000, loop\nexit"))
    seconds, r0 = _host_speed().code_time(prog, None, None, jit(), 50)
    assert r0 == bpfx.run(prog, "interp").r0 == 499500
    assert 0 < seconds < 0.01


def test_host_speed_runner_protocol(tmp_path):
    """--runner: {n} and {ctx} substituted, program and packet files appended, r0 from the first stdout line, the
    per-run median from a "median X" line (microseconds), the best of the rounds; a failing runner's last error
    line is reported."""
    runner = tmp_path / "runner.py"
    runner.write_text("\n".join([
        "import sys",
        "args = sys.argv[1:]",
        "if args[0] != '7':",
        "    sys.exit('bad n')",
        "prog, pkt = open(args[-2], 'rb').read(), open(args[-1], 'rb').read()",
        "print(hex(len(prog) * 1000 + len(pkt)))",
        "print('per-run us: median', 2.5 if args[1] == 'xdp' else 9, file=sys.stderr)"]) + "\n")
    prog = bpfx.Program("p", "xdp", "xdp", assemble("mov %r0, 2\nexit"))
    t, r0, err = _host_speed().runner_time(f"{sys.executable} {runner} {{n}} {{ctx}}", prog, bytes(60), 7)
    assert (t, r0, err) == (pytest.approx(2.5e-6), 16 * 1000 + 60, "")  # 2 instructions, 60 packet bytes
    t, r0, err = _host_speed().runner_time(f"{sys.executable} -c 'import sys; sys.exit(\"no such op\")'", prog,
                                           bytes(60), 7)
    assert (t, r0, err) == (None, None, "no such op")
