"""The nfp target: encodings against the documented field layouts, ECC, the disassembler's round trip, the
microengine model's semantics, and whole programs against the interpreter."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bpfx
from bpfx_nfp import encode as E
from bpfx_nfp import use_firmware
from bpfx_nfp.disasm import format_word, parse
from bpfx_nfp.firmware import DEFAULT, Firmware, capabilities_blob, parse_capabilities
from bpfx_nfp.model import Model

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")


# -- encodings: fields placed where nfp.md's table says -------------------------------------------------------

def test_known_answers_from_the_documented_layouts():
    assert E.alu(("a", 3), ("a", 4), "+", ("b", 5)) == 0x0A000000000 | 4 | 5 << 10 | 3 << 20 | 0x01 << 31
    # a B-bank left operand swaps the fields (bit 30); a destination in both banks sets bit 41
    assert E.alu(("both", 3), ("b", 4), "-", ("a", 5)) == \
        0x0A000000000 | 5 | 4 << 10 | 3 << 20 | 1 << 30 | 0x15 << 31 | 1 << 41
    assert E.immed(("b", 7), 0x1234) == 0x0F000000000 | (0x300 | 0x34) | 7 << 10 | 0x12 << 20
    assert E.NOP == 0x0F000000000 | 0x300 | 0x300 << 10
    assert E.br("beq", 3100, 1) == 0x0D800000020 | 2 << 14 | 1 << 20 | 3100 << 22
    assert E.br("br", 9000) == 0x0D800000020 | 0x18 | 2 << 14 | (9000 & 0x1FFF) << 22 | 1 << 40
    assert E.shf(("b", 1), None, "none", ("a", 2), "shl", 28) == \
        0x08000000000 | 2 | 2 << 8 | 0 << 10 | 1 << 19 | 1 << 20 | 28 << 28 | 1 << 36
    assert E.local_csr_wr(0x64, ("b", 22)) == 0x0FC00000000 | 0x300 | 22 << 10 | 1 << 21 | (0x64 >> 2) << 22
    assert E.mul("32x32", "last", ("both", 4)) == 0x0F800000000 | 4 | 4 << 20 | 3 << 31 | 1 << 41
    assert E.cmd("read8", 0, ("a", 2), ("i", 12), 3) == \
        2 | (0x20 | 12) << 10 | 1 << 18 | 3 << 25 | 0x43 << 32 | 4 << 42
    # restricted immediates: bits 5-6 of the value move up one place (RE_REG_IMM_encode)
    assert E.shf(("a", 0), None, "none", ("i", 0x7F), "shr", 1) & 0x3FC00 == (0x20 | 0x1F | 0xC0) << 10


def _parity_ecc(op: int) -> int:
    polys = [0x0FF800007FFF, 0x11F801FF801F, 0x1E387E0781E1, 0x17CB8E388E22, 0x1AF5B2C93244, 0x1F56D5525488,
             0x0DAF69A46910]
    return sum((sum((op >> b) & (p >> b) & 1 for b in range(45)) & 1) << i for i, p in enumerate(polys))


@given(st.integers(0, (1 << 45) - 1))
def test_ecc_bits_are_the_parities_of_the_seven_polynomials(op):
    word = E.with_ecc(op)
    assert word >> 45 == _parity_ecc(op) and word & E.OP_MASK == op and E.ecc_ok(word)
    assert not E.ecc_ok(word ^ (1 << (op % 45)))  # any single flipped opcode bit shows


GPR = st.integers(0, 31)
SRC = st.one_of(st.tuples(st.just("a"), GPR), st.tuples(st.just("x"), GPR),
                st.tuples(st.just("i"), st.integers(0, 255)), st.tuples(st.just("lm"), st.integers(0, 3),
                                                                         st.integers(0, 7)))
BSRC = st.one_of(st.tuples(st.just("b"), GPR), st.tuples(st.just("i"), st.integers(0, 255)))
DST = st.one_of(st.tuples(st.sampled_from(["a", "b", "both"]), GPR), st.tuples(st.just("x"), GPR), st.none())


@st.composite
def words(draw):
    kind = draw(st.sampled_from(["alu", "shf", "ld_field", "immed", "br", "br_bset", "rtn", "mul", "csr", "cmd"]))
    if kind == "alu":
        return E.alu(draw(DST), draw(SRC), draw(st.sampled_from(list(E.ALU_OPS))), draw(BSRC))
    if kind == "shf":
        return E.shf(draw(DST.filter(lambda d: d is None or d[0] != "x")), draw(st.one_of(st.none(), st.tuples(
            st.just("a"), GPR))), draw(st.sampled_from(list(E.SHF_OPS))), draw(BSRC.filter(lambda o: o[0] == "b")),
            draw(st.sampled_from(list(E.SHF_SC))), draw(st.integers(0, 31)))
    if kind == "ld_field":
        return E.ld_field(draw(st.tuples(st.just("a"), GPR)), draw(st.integers(0, 15)), draw(st.tuples(
            st.just("b"), GPR)), draw(st.sampled_from(list(E.SHF_SC))), draw(st.integers(0, 31)),
            zero=draw(st.booleans()))
    if kind == "immed":
        return E.immed(draw(st.tuples(st.sampled_from(["a", "b", "both"]), GPR)), draw(st.integers(0, 0xFFFF)),
                       width=draw(st.sampled_from(["all", "byte", "word"])), shift=draw(st.integers(0, 2)),
                       inv=draw(st.booleans()))
    if kind == "br":
        return E.br(draw(st.sampled_from(list(E.BR_CONDS))), draw(st.integers(0, (1 << 14) - 1)),
                    draw(st.integers(0, 2)))
    if kind == "br_bset":
        return E.br_bset(draw(st.tuples(st.sampled_from(["a", "b"]), GPR)), draw(st.integers(0, 31)),
                         draw(st.integers(0, (1 << 14) - 1)), set_=draw(st.booleans()), defer=draw(st.integers(0, 2)))
    if kind == "rtn":
        return E.rtn(draw(st.tuples(st.sampled_from(["a", "b"]), GPR)), draw(st.integers(0, 3)))
    if kind == "mul":
        step = draw(st.sampled_from(list(E.MUL_STEPS)))
        if step in ("last", "last2"):
            return E.mul("32x32", step, draw(st.tuples(st.sampled_from(["a", "b", "both"]), GPR)))
        return E.mul(draw(st.sampled_from(list(E.MUL_TYPES))), step, draw(st.tuples(st.just("a"), GPR)),
                     draw(BSRC))
    if kind == "csr":
        if draw(st.booleans()):
            return E.local_csr_rd(draw(st.sampled_from([0x64, 0x6C, 0x94, 0x9C, 0x148])))
        return E.local_csr_wr(draw(st.sampled_from([0x64, 0x6C, 0x94, 0x9C])), draw(st.tuples(
            st.sampled_from(["a", "b"]), GPR)))
    return E.cmd(draw(st.sampled_from(list(E.CMDS))), draw(st.integers(0, 31)), draw(st.tuples(st.just("a"), GPR)),
                 draw(st.one_of(st.tuples(st.just("b"), GPR), st.tuples(st.just("i"), st.integers(0, 127)))),
                 draw(st.integers(0, 7)), mode=draw(st.sampled_from(list(E.CMD_MODES))))


@settings(max_examples=400, deadline=None)
@given(words())
def test_disassembler_round_trips_every_encoded_word(word):
    text = format_word(word)
    assert E.unpack(word) is not None
    assert parse(text) == word, text


# -- the model ----------------------------------------------------------------------------------------------

class _Runtime:
    """Just enough runtime for a model run of hand-written words: a stack region, no helpers."""

    class _Table:
        entries: dict = {}

    helper_table = _Table()
    entry_args = (0, 0, 0, 0, 0)
    exit_requested = False

    def __init__(self):
        from bpfx.execute.runtime import Memory

        self.memory = Memory()
        self.memory.add("stack", 0x2000000, bytes(0x10000))


def _run(words_: list[int], fw: Firmware = DEFAULT):
    """Run words (then a branch to DONE) on the model's own loop; returns the final state."""
    from bpfx import Image

    model = Model(fw, _Runtime(), 1000)
    code = b"".join(E.with_ecc(w).to_bytes(8, "little") for w in words_ + [E.br("br", fw.done)])
    model.run(Image("nfp", code, (), {"t": 0}, "t", (), 0, 0))
    return model.st


def test_model_alu_carry_chain_and_flags():
    st_ = _run([E.immed(("both", 0), 0, inv=True),
                E.immed(("both", 1), 0), E.alu(("both", 2), ("a", 0), "+", ("i", 1)),
                E.alu(("both", 3), ("a", 1), "+carry", ("i", 0))])
    assert (st_.a[2], st_.a[3], st_.b[3]) == (0, 1, 1)


def test_model_asr_takes_its_sign_from_the_previous_alu_result():
    st_ = _run([E.immed(("both", 0), 0x8000, shift=2), E.alu(None, None, "b", ("a", 0)),
                E.shf(("both", 1), None, "asr", ("b", 0), "shr", 4),
                E.alu(None, None, "b", ("i", 1)), E.shf(("both", 2), None, "asr", ("b", 0), "shr", 4)])
    assert (st_.a[1], st_.a[2]) == (0xF8000000, 0x08000000)


def test_model_indirect_shift_uses_the_previous_alu_result():
    st_ = _run([E.immed(("both", 0), 1), E.alu(None, ("i", 32), "-", ("i", 5)),
                E.shf(("both", 1), None, "none", ("b", 0), "shl", 0)])
    assert st_.a[1] == 1 << 5


def test_model_multiply_steps_and_high_word():
    st_ = _run([E.immed(("both", 0), 0, inv=True), E.immed(("both", 1), 3),
                E.mul("start", "step1", ("a", 0), ("b", 1))]
               + [E.mul("32x32", s, ("a", 0), ("b", 1)) for s in ("step1", "step2", "step3", "step4")]
               + [E.mul("32x32", "last", ("both", 2)), E.mul("32x32", "last2", ("both", 3))])
    assert st_.a[2] | st_.a[3] << 32 == 0xFFFFFFFF * 3


def test_model_rejects_a_multiply_read_before_its_last_step():
    with pytest.raises(bpfx.RuntimeFault, match="before its last step"):
        _run([E.mul("start", "step1", ("a", 0), ("b", 1)), E.mul("32x32", "step1", ("a", 0), ("b", 1)),
              E.mul("32x32", "last", ("both", 2))])


def test_model_lm_pointer_writes_take_three_instructions():
    write = [E.immed(("both", 0), 16), E.local_csr_wr(0x64, ("a", 0))]
    st_ = _run(write + [E.NOP] * 3 + [E.alu(("lm", 0, 1), None, "b", ("i", 7))])
    assert st_.lm[16 // 4 + 1] == 7
    with pytest.raises(bpfx.RuntimeFault, match="within 3 instructions"):
        _run(write + [E.NOP] * 2 + [E.alu(("lm", 0, 1), None, "b", ("i", 7))])


def test_model_rejects_reading_an_lm_pointer_csr_with_its_write_in_flight():
    write = [E.immed(("both", 0), 64), E.local_csr_wr(0x9C, ("a", 0))]
    st_ = _run(write + [E.NOP] * 3 + [E.local_csr_rd(0x9C), E.immed(("a", 5), 0)])
    assert st_.a[5] == 64
    with pytest.raises(bpfx.RuntimeFault, match="read of CSR 0x9c within 3 instructions"):
        _run(write + [E.NOP] * 2 + [E.local_csr_rd(0x9C), E.immed(("a", 5), 0)])


def test_bpf_to_bpf_calls_keep_their_save_areas_in_local_memory():
    from bpfx.front.asm import assemble

    text = ("mov %r6, 5\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r6, 7\nmov %r0, %r6\ncall local g\n"
            "add %r0, %r6\nexit\ng:\nmov %r6, 100\nmov %r0, %r6\nexit\n")
    prog = bpfx.Program("p", "c", "mem", assemble(text))
    words = [t for _, _, t in __import__("bpfx_nfp.disasm").disasm.disassemble(bpfx.compile(prog, "nfp").code)]
    assert "local_csr_wr[ActLMAddr3, a20]" in words and "alu[lm3[0], a0, b, b21]" in words
    assert bpfx.run(prog, "nfp").r0 == bpfx.run(prog, "interp").r0 == 112


STACK_PROGRAM = """
lddw %r1, 0x8899aabbccddeeff
stxdw [%r10-8], %r1
stxdw [%r10-512], %r1
stb [%r10-3], 0x81
sth [%r10-302], -2
stw [%r10-100], 0x12345678
stxb [%r10-101], %r1
stxh [%r10-104], %r1
ldxb %r2, [%r10-3]
ldxh %r3, [%r10-302]
ldxsh %r4, [%r10-302]
ldxsb %r5, [%r10-8]
ldxsw %r6, [%r10-512]
ldxdw %r7, [%r10-104]
mov %r8, 5
lock add [%r10-8], %r8
mov %r9, 3
lock fetch or [%r10-96], %r9
mov %r0, %r1
lock cmpxchg [%r10-512], %r9
add %r0, %r2
add %r0, %r3
add %r0, %r4
add %r0, %r5
add %r0, %r6
add %r0, %r7
add %r0, %r9
ldxdw %r1, [%r10-8]
add %r0, %r1
ldxdw %r1, [%r10-512]
add %r0, %r1
exit
"""


def test_a_stack_no_pointer_escapes_lives_in_local_memory():
    # structural: it reads r10-102, never written (checked code would fault there)
    from bpfx.front.asm import assemble

    prog = bpfx.Program("p", "c", "mem", assemble(STACK_PROGRAM))
    code = bpfx.compile(prog, "nfp", safety="structural").code
    text = " ".join(t for _, _, t in __import__("bpfx_nfp.disasm").disasm.disassemble(code))
    assert "local_csr_wr[ActLMAddr0" in text and "local_csr_wr[ActLMAddr2" in text and "cmd[" not in text
    want, got = bpfx.run(prog, "interp"), bpfx.run(prog, "nfp", safety="structural")
    assert (got.r0, got.stack) == (want.r0, want.stack)
    escaped = bpfx.Program("p", "c", "mem", assemble(STACK_PROGRAM.replace("exit\n", "mov %r2, %r10\nexit\n")))
    assert "cmd[" in " ".join(t for _, _, t in __import__("bpfx_nfp.disasm").disasm.disassemble(
        bpfx.compile(escaped, "nfp", safety="structural").code))
    assert bpfx.run(escaped, "nfp", safety="structural").r0 == bpfx.run(escaped, "interp").r0


def test_model_runs_defer_slots_before_the_branch():
    st_ = _run([E.br("br", DEFAULT.start + 3, defer=1), E.immed(("both", 0), 5), E.immed(("both", 0), 6)])
    assert st_.a[0] == 5
    with pytest.raises(bpfx.RuntimeFault, match="branch in a defer slot"):
        _run([E.br("br", DEFAULT.start + 3, defer=1), E.br("br", DEFAULT.start + 3)])


# -- firmware --------------------------------------------------------------------------------------------------

def test_capability_blob_round_trip_and_defaults():
    fw = Firmware(funcs={1: 0x200, 2: 0x210}, random=True, adjust_tail=True)
    assert parse_capabilities(capabilities_blob(fw)) == fw
    assert DEFAULT.helper_addresses() == {1: 0x200, 44: 0x300}  # public firmware: map_lookup (+ adjust_head)
    with pytest.raises(bpfx.BpfxError, match="cut short"):
        parse_capabilities(b"\1\0\0\0")


# -- whole programs -------------------------------------------------------------------------------------------

RICH = Firmware(funcs={1: 0x200, 2: 0x210, 3: 0x220}, random=True, adjust_tail=True)


def test_firmware_from_a_capabilities_file(tmp_path, monkeypatch):
    blob = tmp_path / "caps.bin"
    blob.write_bytes(capabilities_blob(RICH))
    monkeypatch.setenv("BPFX_NFP_CAPABILITIES", str(blob))
    prog = bpfx.load(os.path.join(EXAMPLES, "xdp_counters.o")).program()
    assert any(r.symbol == "bpf_map_update_elem" for r in bpfx.compile(prog, "nfp").relocs)
    monkeypatch.setenv("BPFX_NFP_CAPABILITIES", str(tmp_path / "missing.bin"))
    with pytest.raises(bpfx.BpfxError, match="cannot read the firmware capabilities"):
        bpfx.compile(prog, "nfp")


@pytest.fixture
def rich_firmware():
    use_firmware(RICH)
    yield RICH
    use_firmware(None)


def test_seed_proof_of_concept():
    prog = bpfx.load(os.path.join(EXAMPLES, "xdp_adjust_head.o")).program()
    result = bpfx.run(prog, "nfp", packet=bytes(4096))
    assert (result.r0, result.packet_len) == (2, 4084)


def test_map_counters_update_through_the_firmware(rich_firmware):
    obj = bpfx.load(os.path.join(EXAMPLES, "xdp_counters.o"))
    prog = obj.program()
    image = bpfx.compile(prog, "nfp")
    helpers = {r.symbol for r in image.relocs if r.kind == "helper"}
    assert helpers == {"bpf_map_lookup_elem", "bpf_map_update_elem"}
    packet = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(40)
    want = bpfx.run(prog, "interp", packet=packet, obj=obj)
    got = bpfx.run(prog, "nfp", packet=packet, obj=obj)
    assert got.maps == want.maps and got.maps and got.r0 == want.r0


@pytest.mark.parametrize("name", ["xdp_adjust_head.o", "xdp_checksum.o", "xdp_counters.o", "xdp_macswap.o",
                                  "tc_classifier.o"])
def test_examples_match_the_interpreter(name, rich_firmware):
    obj = bpfx.load(os.path.join(EXAMPLES, name))
    packet = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(200)
    for prog in obj.programs:
        for pkt in (packet, bytes(4096)):
            want = bpfx.run(prog, "interp", packet=pkt, obj=obj)
            got = bpfx.run(prog, "nfp", packet=pkt, obj=obj)
            assert (got.r0, got.packet, got.maps) == (want.r0, want.packet, want.maps)


def test_prandom_reads_the_csr_inline_when_the_firmware_has_random(rich_firmware):
    # structural: r0 is not an XDP action here (checked code would return XDP_ABORTED)
    from bpfx.front.asm import assemble

    prog = bpfx.Program("p", "xdp", "xdp", assemble("call 7\nmov %r6, %r0\ncall 7\nadd %r0, %r6\nexit"))
    code = bpfx.compile(prog, "nfp", safety="structural").code
    text = " ".join(t for _, _, t in __import__("bpfx_nfp.disasm").disasm.disassemble(code))
    assert "local_csr_rd[PseudoRandNum]" in text and "BR_HELPER" not in text
    assert bpfx.run(prog, "nfp", safety="structural").r0 == bpfx.run(prog, "interp").r0


def test_xdp_verdicts_reach_the_firmware_as_action_bytes():
    # structural: -1 must reach the firmware as it is (checked code would return XDP_ABORTED)
    from bpfx.front.asm import assemble
    from bpfx_nfp.model import Model

    seen = []
    original = Model._verdict

    def verdict(self):
        seen.append((self.st.b[0], (self.st.a[0] >> 16) & 0xFF))
        return original(self)

    Model._verdict = verdict
    try:
        for r0 in (0, 1, 2, 3, 4, -1):
            prog = bpfx.Program("p", "xdp", "xdp", assemble(f"mov %r0, {r0}\nexit"))
            assert bpfx.run(prog, "nfp", safety="structural").r0 == r0 & (2**64 - 1)
    finally:
        Model._verdict = original
    assert [a for _, a in seen] == [0x82, 0x22, 0x11, 0x44, 0x82, 0x82]


def test_a_helper_the_firmware_lacks_is_a_compile_error():
    prog = bpfx.load(os.path.join(EXAMPLES, "xdp_counters.o")).program()
    with pytest.raises(bpfx.Unsupported) as err:
        bpfx.compile(prog, "nfp")
    assert "helper map_update_elem (2) is not offered by the nfp firmware" in str(err.value)


def test_division_by_a_register_is_a_compile_error():
    # structural: the memory block's size is unknown at compile time, so checked code would check the load
    from bpfx.front.asm import assemble

    prog = bpfx.Program("p", "conformance", "mem", assemble("ldxw %r1, [%r1]\nmov %r0, 7\ndiv %r0, %r1\nexit"),
                        file="p.s")
    with pytest.raises(bpfx.Unsupported) as err:
        bpfx.compile(prog, "nfp", safety="structural")
    assert str(err.value) == ("p.s:conformance:insn 2: unsupported on nfp: div by a register whose value is not "
                              "known at compile time: the NFP has no divider (a known divisor compiles to "
                              "multiply/shift code)")


def test_division_by_a_register_the_core_proves_constant():
    from bpfx.front.asm import assemble

    for op in ("div", "mod", "sdiv", "smod", "div32", "mod32", "sdiv32", "smod32"):
        for k in (0, 1, -1, 3, -7, 0x80000000, 12345):
            text = f"lddw %r0, 0x8765432187654321\nlddw %r1, {k & 0xFFFFFFFFFFFFFFFF}\n{op} %r0, %r1\nexit"
            prog = bpfx.Program("p", "c", "mem", assemble(text))
            assert bpfx.run(prog, "nfp").r0 == bpfx.run(prog, "interp").r0, text


def test_division_by_constants_matches_the_interpreter():
    from bpfx.front.asm import assemble

    for op in ("div", "mod", "sdiv", "smod"):
        for width in ("", "32"):
            for x in (0, 7, -7, 0x7FFFFFFF, -0x80000000, 123456789):
                for k in (1, 3, 7, 16, -5, 0x7FFFFFFF, -0x80000000, 1000):
                    text = f"lddw %r0, {x & 0xFFFFFFFFFFFFFFFF}\n{op}{width} %r0, {k}\nexit"
                    prog = bpfx.Program("p", "c", "mem", assemble(text))
                    want = bpfx.run(prog, "interp").r0
                    assert bpfx.run(prog, "nfp").r0 == want, text


def test_program_over_the_instruction_store_is_a_compile_error():
    from bpfx.front.asm import assemble

    use_firmware(Firmware(max_len=8))
    try:
        prog = bpfx.Program("p", "c", "mem", assemble("mov %r0, 1\n" * 6 + "exit"), file="p.s")
        with pytest.raises(bpfx.Unsupported, match="needs 16 instruction words; the firmware's instruction store "
                                                   "holds 8"):
            bpfx.compile(prog, "nfp")
    finally:
        use_firmware(None)


def test_listing_ends_with_the_word_count_against_the_limit():
    from bpfx.back.writers import render
    from bpfx.plugins import get_target

    prog = bpfx.load(os.path.join(EXAMPLES, "xdp_adjust_head.o")).program()
    image = bpfx.compile(prog, "nfp")
    text = render(image, "listing", program=prog, disasm=get_target("nfp").selector().disassembler)[""].decode()
    assert text.splitlines()[-1] == f"; {len(image.code) // 8} of 2560 instruction words (the firmware's " \
                                    "instruction store)"
    assert "call 44" in text and "br[" in text


def test_elf_output_carries_em_nfp():
    prog = bpfx.load(os.path.join(EXAMPLES, "xdp_adjust_head.o")).program()
    from bpfx.back.writers import render

    elf = render(bpfx.compile(prog, "nfp"), "elf")[""]
    assert int.from_bytes(elf[18:20], "little") == 250


def test_conformance_suite():
    from bpfx import testing

    path = testing.conformance_dir(ROOT)
    if path is None:
        pytest.skip(testing.NO_SUITE)
    from bpfx.tools.conformance import run_conformance

    summary = run_conformance([path], "nfp")
    assert summary.failed == []
    assert len(summary.passed) >= 250
    assert all("unsupported on nfp" in reason or "not offered by the nfp firmware" in reason
               for _, reason in summary.unsupported)


def test_random_programs_with_constant_divisors_match_the_interpreter():
    """The fuzzer's programs divide by registers, which nfp rejects: with every divisor made an immediate, the
    same programs (calls, atomics, every ALU and jump form) must all compile and agree with the interpreter."""
    import random

    from bpfx import isa
    from bpfx.tools.fuzz import compare, random_program

    for seed in range(30):
        rng = random.Random(seed)
        prog = random_program(rng, length=60)
        insns = []
        for insn in prog.insns:
            info = isa.OPCODES[insn.opcode]
            if info and info.kind == isa.Kind.ALU and info.op in ("div", "mod") and info.src_reg:
                insn = insn._replace(opcode=insn.opcode & ~0x08, src=0,
                                     imm=rng.choice([3, 7, -5, 1000, 2**31 - 1, -2**31, 16]))
            insns.append(insn)
        prog = bpfx.Program(prog.name, prog.section, prog.prog_type, insns, prog.file, dict(prog.functions))
        assert compare(prog, "nfp") is None, seed
