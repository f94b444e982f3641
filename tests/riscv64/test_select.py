"""riscv64 selector behaviour the conformance suite cannot reach: branch relaxation across all three forms,
the C and Zba/Zbb feature variants against the interpreter, and clean rejections."""

from __future__ import annotations

import capstone
import pytest

import bpfx
from bpfx.front.asm import assemble

FEATURES = [{}, {"c": True}, {"zba": True, "zbb": True}, {"c": True, "zba": True, "zbb": True}]


def program(source: str, name: str = "t") -> bpfx.Program:
    return bpfx.Program(name=name, section="t", prog_type="mem", insns=assemble(source), file="<t>")


def both(prog: bpfx.Program, features: dict, mem: bytes = bytes(16)) -> tuple[int, int]:
    want = bpfx.run(prog, "interp", mem=mem)
    got = bpfx.run(prog, "riscv64", mem=mem, features=features)
    return got.r0, want.r0


@pytest.mark.parametrize("features", FEATURES, ids=str)
@pytest.mark.parametrize("taken", [True, False])
def test_branches_relax_past_4k_and_still_land(features, taken):
    """A conditional jump and a ja over ~20 KiB of code need the inverted-bcc-over-jal and jal forms."""
    body = "lddw %r7, 0x123456789abcdef1\n" * 700  # 2 slots, auipc+ld from the constant pool each
    src = f"mov %r0, {7 if taken else 8}\njeq %r0, 7, +{1400 + 3}\nmov %r6, 1\nja +1400\n{body}mov %r0, 3\nexit\n"
    prog = program(src)
    image = bpfx.compile(prog, "riscv64", features=features)
    assert len(image.code) > 4096
    got, want = both(prog, features)
    assert got == want == (7 if taken else 3)


def test_long_branch_uses_auipc_jalr_and_reaches_its_target():
    """Past +-1 MiB the branch becomes an inverted bcc over auipc t1 + jalr zero (too big to run in the emulator's
    1 MiB code slot, so the encoding is decoded and its target checked against the line map)."""
    body = "be64 %r0\n" * 16000  # 17 instructions each without Zbb: ~1.09 MiB
    prog = program(f"mov %r0, 1\nmov %r1, 1\njne %r0, %r1, +16000\n{body}exit\n")
    image = bpfx.compile(prog, "riscv64")
    start = dict((i, off) for off, i in reversed(image.line_map))
    branch, target = start[2], start[16003]  # the jne; the exit (its epilogue)
    md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64)
    b, auipc, jalr = md.disasm(image.code[branch:branch + 12], branch)
    assert (b.mnemonic, b.op_str) == ("beq", "a5, a0, 0xc")  # inverted jne, skipping the 8-byte long jump
    hi = int.from_bytes(image.code[branch + 4:branch + 8], "little") >> 12
    lo = int.from_bytes(image.code[branch + 8:branch + 12], "little") >> 20
    hi, lo = (hi - (1 << 20) if hi >> 19 else hi), (lo - (1 << 12) if lo >> 11 else lo)
    assert (auipc.mnemonic, jalr.mnemonic, jalr.op_str.split(",")[:2]) == ("auipc", "jalr", ["zero", " t1"])
    assert branch + 4 + (hi << 12) + lo == target
    assert target - branch > 1 << 20


@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_alu32_results_are_zero_extended_and_jmp32_sees_only_the_low_half(features):
    src = """
        lddw %r1, 0xfffffffe80000000
        add32 %r1, 1
        lddw %r5, 0x80000001
        mov %r0, 0
        jne %r1, %r5, +12
        lddw %r2, 0x1ffffffff
        jne32 %r2, -1, +9
        jeq %r2, -1, +8
        mov32 %r3, %r2
        lddw %r4, 0xffffffff
        jne %r3, %r4, +5
        jslt32 %r3, 0, +1
        exit
        mov32 %r0, -2
        rsh32 %r0, 1
        arsh32 %r2, 4
        add %r0, %r2
        exit
    """
    got, want = both(program(src), features)
    assert got == want == 0x7FFFFFFF + 0xFFFFFFFF


@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_byte_swaps_and_sign_extensions(features):
    src = """
        lddw %r0, 0x0102030405068788
        mov %r1, %r0
        be16 %r1
        mov %r2, %r0
        be32 %r2
        mov %r3, %r0
        bswap64 %r3
        movsx864 %r4, %r0
        movsx1664 %r5, %r0
        movsx3264 %r6, %r2
        movsx832 %r7, %r0
        le16 %r0
        xor %r0, %r1
        xor %r0, %r2
        xor %r0, %r3
        xor %r0, %r4
        xor %r0, %r5
        xor %r0, %r6
        xor %r0, %r7
        exit
    """
    got, want = both(program(src), features)
    assert got == want


def test_large_stack_offsets_and_r10_as_a_value():
    src = """
        mov %r1, %r10
        add %r1, -512
        stdw [%r1+0], 0x1234
        ldxdw %r0, [%r10-512]
        mov %r2, %r10
        add %r2, -512
        jne %r2, %r1, +7
        lddw %r3, 0x10000
        add %r3, %r1
        stxdw [%r10-8], %r10
        ldxdw %r4, [%r10-8]
        jne %r4, %r10, +1
        exit
        mov %r0, 0
        exit
    """
    # (stack addresses are compared, not subtracted into r0: validation rejects anything derived from them at exit)
    got, want = both(program(src), {})
    assert got == want == 0x1234



def test_li_sequences_build_every_value():
    """li_words against unicorn for edge values and 3000 random ones of every width, with their lengths bounded."""
    import random

    import unicorn
    from unicorn import riscv_const as R

    from bpfx_riscv.select import li_words

    uc = unicorn.Uc(unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64)
    uc.mem_map(0x1000, 0x1000)
    rng = random.Random(8)
    values = [0, 1, -1, 2047, 2048, -2048, -2049, 0x7FFFF800, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 63,
              (1 << 63) - 1, 0x123456789ABCDEF1, 0x7FFFFFFFFFFF0000]
    values += [rng.getrandbits(rng.randrange(1, 65)) * rng.choice((1, -1)) for _ in range(3000)]
    for v in values:
        words = li_words(17, v)
        code = b"".join(w.to_bytes(4, "little") for w in words)
        uc.mem_write(0x1000, code)
        uc.emu_start(0x1000, 0x1000 + len(code))
        assert uc.reg_read(R.UC_RISCV_REG_A7) == v & ((1 << 64) - 1), hex(v)
        assert len(words) <= 8
        if -(1 << 31) <= v < (1 << 31):
            assert len(words) <= 2
    assert len(li_words(17, 0xFFFFFFFF)) == 2  # addi -1; srli 32


@pytest.mark.parametrize("features", [{"abs64": True}, {"abs64": True, "c": True}], ids=str)
@pytest.mark.parametrize("example", ["xdp_counters.o", "xdp_checksum.o"])
def test_map_addresses_from_64_bit_literals(features, example):
    """abs64: each map reference is auipc+ld of an R_RISCV_64 literal (what QEMU virt's RAM above 2 GiB needs)."""
    import os

    path = os.path.join(os.path.dirname(__file__), "..", "..", "examples", example)
    obj = bpfx.load(path)
    prog = obj.program()
    image = bpfx.compile(prog, "riscv64", features=features)
    assert {r.type for r in image.relocs if r.kind in ("map", "map_value")} == {2}  # R_RISCV_64
    packet = bytes.fromhex("0242ac1100020242ac1100030800") + bytes(range(100))
    want = bpfx.run(prog, "interp", packet=packet, obj=obj)
    got = bpfx.run(prog, "riscv64", packet=packet, obj=obj, features=features)
    assert want.maps and (got.r0, got.maps, got.packet) == (want.r0, want.maps, want.packet)


def test_li64_builds_every_value_in_at_most_six_words():
    """li64_words (lddw): li, or the halves built apart in rd and a temporary and added."""
    import random

    import unicorn
    from unicorn import riscv_const as R

    from bpfx_riscv.select import li64_words

    uc = unicorn.Uc(unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64)
    uc.mem_map(0x1000, 0x1000)
    rng = random.Random(9)
    values = [0x1122334455667788, 0x7FFFFFFF80000000, 0x80000000FFFFFFFF, 0xFFFFFFFF7FFFFFFF, (1 << 63) - 1]
    values += [rng.getrandbits(64) for _ in range(2000)]
    for v in values:
        words = li64_words(17, v, 6)
        code = b"".join(w.to_bytes(4, "little") for w in words)
        uc.mem_write(0x1000, code)
        uc.emu_start(0x1000, 0x1000 + len(code))
        assert uc.reg_read(R.UC_RISCV_REG_A7) == v & ((1 << 64) - 1), hex(v)
        assert len(words) <= 6, hex(v)


@pytest.mark.parametrize("features", FEATURES[1:], ids=str)
def test_random_programs_with_each_feature_set_match_the_interpreter(features):
    """The hypothesis test in test_targets.py runs the default features; these run C and Zba/Zbb."""
    import random

    from bpfx.tools.fuzz import compare, random_program

    for seed in range(25):
        prog = random_program(random.Random(seed), length=40)
        assert compare(prog, "riscv64", features=features) is None, seed


@pytest.mark.parametrize("features", [{}, {"zbb": True}], ids=str)
def test_every_byte_swap_on_random_values(features):
    """be/le/bswap of each width on values with every byte distinct and the upper half set, against interp."""
    import random

    rng = random.Random(5)
    ops = ["be16", "be32", "be64", "le16", "le32", "le64", "bswap16", "bswap32", "bswap64"]
    lines = []
    for op in ops:
        for _ in range(4):
            lines += [f"lddw %r1, {rng.getrandbits(64):#x}", f"{op} %r1", "xor %r0, %r1", "lsh %r0, 1"]
    got, want = both(program("\n".join(["mov %r0, 0", *lines, "exit"])), features)
    assert got == want


def native_text(image, pc: int, features=None) -> list[str]:
    """The disassembly of what BPF instruction ``pc`` became."""
    disasm = bpfx.plugins.get_target("riscv64").selector(features or {}).disassembler
    starts = sorted(off for off, i in image.line_map if i == pc)
    ends = [off for off, _ in image.line_map if off > starts[0]] + [len(image.code)]
    return [text for _a, _s, text in disasm(image.code[starts[0]:min(ends)], 0)]


@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_dead_zero_extensions_are_skipped_and_live_ones_kept(features):
    """ALU32 results whose upper half nobody reads keep the W forms' sign extension; every path that reads the
    upper half (a 64-bit compare on one branch, r0 at exit) still sees it cleared."""
    src = """
        mov32 %r1, -1
        stxw [%r10-4], %r1
        mov32 %r2, 0x7fffffff
        add32 %r2, 1
        jslt32 %r2, 0, +2
        mov %r0, 1
        exit
        mov32 %r3, %r2
        add32 %r3, 5
        jeq %r3, 0xffffffff, +2
        mov32 %r0, %r3
        exit
        mov %r0, 7
        exit
    """
    prog = program(src)
    image = bpfx.compile(prog, "riscv64", features=features)
    assert native_text(image, 0, features) in (["addi a0, zero, -1"], ["c.li a0, -1"])  # no zero-extension
    assert native_text(image, 3, features)[0] in ("addiw a1, a1, 1", "c.addiw a1, 1")
    assert len(native_text(image, 3, features)) == 1
    assert len(native_text(image, 8, features)) == (2 if features.get("zba") else 3)  # read by the 64-bit jeq
    got, want = both(prog, features)
    assert got == want == 0x80000005


@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_32_bit_atomic_fetches_zero_extend_only_when_read(features):
    src = """
        lddw %r1, 0x80000000
        stxdw [%r10-8], %r1
        lddw %r2, 0x90000000
        lock fetch add32 [%r10-8], %r2
        mov %r0, %r2
        lddw %r3, 0x123
        lock fetch add32 [%r10-8], %r3
        stxw [%r10-16], %r3
        ldxw %r4, [%r10-16]
        add %r0, %r4
        lddw %r0, 0xffffffff80000000
        lock cmpxchg32 [%r10-8], %r1
        add %r0, %r4
        exit
    """
    got, want = both(program(src), features)
    assert got == want


@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_long_constants_come_from_an_aligned_pool_after_the_code(features):
    """Constants needing more than two instructions are loaded by auipc+ld from one 8-byte-aligned pool after the
    last function, one entry per value; branches relaxed before it (jumps over > 4 KiB) do not misalign it."""
    values = [0x123456789ABCDEF1, 0x0FEDCBA987654321, 0x8000000000000001, 0x123456789ABCDEF1, 0x100000000]
    body = "".join(f"lddw %r{1 + i}, {v:#x}\nxor %r0, %r{1 + i}\n" for i, v in enumerate(values))
    filler = "mov32 %r6, 1\n" * 2501  # c.li with C: an odd number of halfwords before the pool
    src = f"mov %r0, 0\njeq %r0, 1, +{2501 + 1}\nja +2501\n{filler}{body}exit\n"
    prog = program(src)
    image = bpfx.compile(prog, "riscv64", features=features)
    pool = next(off for off, i in image.line_map if i == bpfx.Emitter.DATA)
    assert pool > 4096
    data = image.code[pool:]
    entries = [v for v in values[:3]]  # the duplicate shares an entry; 0x100000000 is li + slli
    start = len(image.code) - 8 * len(entries)
    assert start % 8 == 0 and set(data[:start - pool]) == {0}
    assert [int.from_bytes(image.code[a:a + 8], "little") for a in range(start, len(image.code), 8)] == entries
    first = 3 + 2501
    assert [t.split()[0] for t in native_text(image, first, features)] == ["auipc", "ld"]
    assert len(native_text(image, first + 4 * 3, features)) == 2  # 0x100000000: li 1; slli 32
    got, want = both(prog, features)
    assert got == want


def test_listing_shows_the_pool_as_data():
    prog = program("lddw %r0, 0x123456789abcdef1\nexit\n")
    from bpfx.back.writers.listing import write_listing

    sel = bpfx.plugins.get_target("riscv64").selector({})
    text = write_listing(bpfx.compile(prog, "riscv64"), program=prog, disasm=sel.disassembler)
    assert "    ; constants" in text and ".quad 0x123456789abcdef1" in text


def test_no_two_instruction_constant_goes_to_the_pool():
    """_short_li only skips building sequences that are longer than two instructions."""
    import random

    from bpfx_riscv.select import POOL_OVER, _short_li, li64_words

    rng = random.Random(4)
    mask = (1 << 64) - 1
    values = list(range(-3000, 3000)) + [rng.getrandbits(64) for _ in range(3000)]
    for _ in range(3000):
        bits, shift, ones = rng.randrange(1, 40), rng.randrange(60), rng.randrange(30)
        body = rng.getrandbits(bits)
        values += [body << shift, -(body << shift), mask >> shift, mask << shift, body << shift | ((1 << ones) - 1)]
    for v in values:
        assert _short_li(v & mask) or len(li64_words(17, v & mask, 6)) > POOL_OVER, hex(v & mask)


@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_pool_reads_after_emulated_zba_words_are_the_selectors_own(features):
    """A pool load in the block after an emulated Zba word runs while unicorn's pc still names the BPF load before
    it: the machine tells the selector's pool reads by address, not by the executing instruction."""
    src = """
        lddw %r1, 0x1111111111111111
        stxdw [%r10-8], %r1
        lddw %r1, 0x2222222222222222
        lock xchg32 [%r10-8], %r1
        ldxdw %r2, [%r10-8]
        lddw %r0, 0x1111111122222222
        jne %r2, %r0, +2
        mov %r0, %r1
        exit
        mov %r0, 7
        exit
    """
    got, want = both(program(src), features)
    assert got == want == 0x11111111


# Instructions that leave {r} in each state the selector tracks for JMP32 (Riscv64Selector._state): constants,
# loads of each width, sign-extending loads and moves, W-form and 64-bit-logic ALU32 results, masks, shifts and
# swaps; r3 and r4 hold 64-bit values, [r10-8] holds r4.
EXT_DEFS = [
    "mov32 %{r}, -5", "mov32 %{r}, 0x7ffffff0", "mov %{r}, -0x80000000", "mov %{r}, 9", "lddw %{r}, 0xffffffff",
    "lddw %{r}, 0x1ffffffff", "ldxw %{r}, [%r10-8]", "ldxh %{r}, [%r10-6]", "ldxb %{r}, [%r10-5]",
    "ldxsw %{r}, [%r10-8]", "ldxsh %{r}, [%r10-6]", "mov32 %{r}, %r3", "mov %{r}, %r3", "movsx832 %{r}, %r3",
    "movsx1664 %{r}, %r3", "add32 %{r}, %r3", "or32 %{r}, %r3", "xor32 %{r}, -1", "and %{r}, 0x7ff0",
    "and32 %{r}, -16", "rsh %{r}, 33", "rsh %{r}, 32", "rsh32 %{r}, 5", "arsh %{r}, 40", "be16 %{r}", "be32 %{r}",
    "le32 %{r}", "bswap64 %{r}", "neg32 %{r}", "xor %{r}, -0x100", "ldxsh %{r}, [%r10-6]\nor32 %{r}, 0x12345",
    "mov32 %{r}, 0x7f00\nxor32 %{r}, -0x10", "ldxw %{r}, [%r10-8]\nand %{r}, %r3", "ldxh %{r}, [%r10-6]\nor %{r}, %r3",
]
JMP32_CONDS = ["jeq", "jne", "jgt", "jge", "jlt", "jle", "jsgt", "jsge", "jslt", "jsle", "jset"]
EXT_VALUES = [(0x8000_0001_8000_0000, 0x0000_0001_7fff_ffff), (0x0000_0000_ffff_fffb, 0xffff_ffff_8000_fff0)]


def jmp32_after_defs(first: str, values: tuple[int, int], live: bool) -> str:
    """``first`` into r1, then every definition into r2, and each condition on the two (and on immediates)
    right after them, so the compare sees the definitions' native registers; ``live``: 64-bit reads follow."""
    lines = [f"lddw %r3, {values[0]:#x}", f"lddw %r4, {values[1]:#x}", "stxdw [%r10-8], %r4", "mov %r0, 0"]
    tail = ["xor %r0, %r1", "xor %r0, %r2"] if live else []
    for second in EXT_DEFS:
        for cond in JMP32_CONDS:
            lines += ["mov %r1, %r4", "mov %r2, %r3", first.format(r="r1"), second.format(r="r2"),
                      f"{cond}32 %r1, %r2, +1", "add %r0, 1", "lsh %r0, 1", *tail]
    for imm in (0, 7, -1, 2047, -2048, 0x7FFFFFF0, -0x80000000, 0x12345):
        for cond in JMP32_CONDS:
            lines += ["mov %r1, %r4", first.format(r="r1"), f"{cond}32 %r1, {imm}, +1", "add %r0, 1", "lsh %r0, 1",
                      *tail[:1]]
    return "\n".join(lines + ["exit"])


@pytest.mark.parametrize("first", EXT_DEFS)
def test_jmp32_skips_extensions_only_where_the_operands_allow(first):
    """Every condition after every kind of definition of both operands, live and dead upper halves, against the
    interpreter (a skipped sext.w on an operand that is not extended the same way as the other one would flip
    some of these compares); Zbb changes the swaps' and sign extensions' lowerings."""
    runs = [({}, values, live) for values in EXT_VALUES for live in (False, True)]
    for features, values, live in runs + [({"zba": True, "zbb": True}, EXT_VALUES[0], True)]:
        got, want = both(program(jmp32_after_defs(first, values, live)), features)
        assert got == want, (features, values, live)


def test_jmp32_on_extended_registers_compares_them_directly():
    src = """
        ldxw %r1, [%r1+0]
        ldxh %r2, [%r1+4]
        jgt32 %r1, %r2, +3
        ldxsw %r3, [%r1+8]
        jslt32 %r3, -7, +1
        jne32 %r2, 0, +0
        mov32 %r4, %r1
        jeq32 %r4, %r5, +0
        exit
    """
    image = bpfx.compile(program(src), "riscv64")

    def text(pc):  # without the branch offsets
        return [t.rsplit(",", 1)[0] if t[0] == "b" else t for t in native_text(image, pc)]

    assert text(2) == ["bltu a1, a0"]  # both zero-extended: no sext.w
    assert text(4) == ["addi t2, zero, -7", "blt a2, t2"]  # sign-extended, against the li of the immediate
    assert text(5) == ["bnez a1"]
    assert text(7) == ["subw t1, a3, a4", "beqz t1"]  # r5 unknown: eq/ne on the 32-bit difference


@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_byte_swaps_after_loads_constants_and_jump_targets(features):
    """Swaps fused with the load before them (base = destination too, and r10-based), swaps of constants (folded),
    of halfwords known zero-extended, and of a value a jump lands on (neither fused nor folded), against interp."""
    lines = ["lddw %r1, 0x8899aabbccddeeff", "stxdw [%r10-8], %r1", "lddw %r1, 0x0123456789abcdef",
             "stxdw [%r10-16], %r1", "mov %r0, 0"]
    for op, width in (("be16", 16), ("bswap16", 16), ("be32", 32), ("bswap32", 32), ("be64", 64), ("bswap64", 64)):
        size = {16: "h", 32: "w", 64: "dw"}[width]
        for off in (-16, -15, -8, -5):
            if off + width // 8 > 0:
                continue
            lines += [f"ldx{size} %r2, [%r10{off}]", f"{op} %r2", "xor %r0, %r2", "lsh %r0, 3",
                      "mov %r3, %r10", f"ldx{size} %r3, [%r3{off}]", f"{op} %r3", "add %r0, %r3"]
        for const in ("lddw %r4, 0xf1e2d3c4b5a69788", "mov %r4, -0x7edcba99", "mov32 %r4, -0x7edcba99",
                      "mov %r4, 0x1234", "ldxb %r4, [%r10-7]", "ldxh %r4, [%r10-6]"):
            lines += [const, f"{op} %r4", "xor %r0, %r4", "rsh %r0, 1"]
        lines += [f"ldx{size} %r5, [%r10-8]", "jeq %r0, 12345, +0", f"{op} %r5", "add %r0, %r5"]  # lands on it
    prog = program("\n".join(lines + ["exit"]))
    got, want = both(prog, features)
    assert got == want


def test_a_halfword_load_and_its_swap_become_four_byte_loads_and_shifts():
    image = bpfx.compile(program("ldxh %r0, [%r1+2]\nbe16 %r0\nldxw %r1, [%r1+4]\nbswap32 %r1\nexit"), "riscv64")
    assert native_text(image, 0) == ["lbu t1, 2(a0)", "lbu a5, 3(a0)", "slli t1, t1, 8", "or a5, a5, t1"]
    assert native_text(image, 2) == ["lbu t1, 4(a0)", "lbu t2, 5(a0)", "slli t1, t1, 0x18", "slli t2, t2, 0x10",
                                     "or t1, t1, t2", "lbu t2, 6(a0)", "slli t2, t2, 8", "or t1, t1, t2",
                                     "lbu a0, 7(a0)", "or a0, a0, t1"]
    start = {i: off for off, i in image.line_map}
    assert start[1] == start[2] and start[3] == start[4]  # the swaps themselves emit nothing
    image = bpfx.compile(program("lddw %r0, 0x1122334455667788\nbe64 %r0\nexit"), "riscv64")
    assert [t.split()[0] for t in native_text(image, 2)] == ["auipc", "ld"]  # the swapped constant, from the pool
    assert (0x8877665544332211).to_bytes(8, "little") in image.code
    image = bpfx.compile(program("mov %r0, 0x1234\nbe16 %r0\nexit"), "riscv64")
    assert native_text(image, 1) == ["lui a5, 3", "addiw a5, a5, 0x412"]


@pytest.mark.parametrize("features", FEATURES, ids=str)
def test_a_u32_with_bit_31_set_comes_from_the_pool_when_its_upper_half_is_read(features):
    prog = program("mov32 %r0, -5\nmov32 %r1, -0x789abcde\nadd32 %r1, 1\nadd %r0, %r1\nexit")
    image = bpfx.compile(prog, "riscv64", features=features)
    assert [t.split()[0] for t in native_text(image, 0, features)] == ["auipc", "ld"]
    assert (0xFFFFFFFB).to_bytes(8, "little") in image.code
    assert len(native_text(image, 1, features)) <= 2  # read only by add32: the sign-extended li
    got, want = both(prog, features)
    assert got == want == 0xFFFFFFFB + 0x87654323
