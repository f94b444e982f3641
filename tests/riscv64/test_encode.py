"""riscv64 encoders, checked three ways: exact bytes against llvm-mc (one subprocess for the whole table, with
``.option norvc`` for the 32-bit rows and ``.option rvc`` for the compressed ones), the same instruction back from
capstone's disassembly (which has no Zba/Zbb: those rows say None), and ``compress()`` against llvm-mc's own
compression of every 32-bit row and of the forms the selector emits most."""

from __future__ import annotations

import inspect
import re
import shutil
import subprocess

import capstone
import pytest

import bpfx_riscv.encode as E
from bpfx_riscv.encode import A0, A1, A2, A5, RA, S0, S1, SP, T0, T1, T2, T3, ZERO

# (word, the text llvm-mc must encode to exactly that word[, capstone's spelling when it prints another; None when
# capstone cannot decode it])
TABLE: list[tuple] = [
    # R/I/S/B/U/J general forms
    (E.r_type(0, 2, 1, 0, 3, E.OP), "add gp, ra, sp"),
    (E.i_type(-2048, 5, 0, 6, E.OP_IMM), "addi t1, t0, -2048"),
    (E.s_type(2047, 7, 8, 3, E.STORE), "sd t2, 2047(s0)"),
    (E.b_type(-4096, 2, 1, 0), "beq ra, sp, -4096"),
    (E.u_type(0xFFFFF, 10, E.LUI), "lui a0, 1048575"),
    (E.j_type(-(1 << 20), 1), "jal ra, -1048576", "jal -1048576"),
    # RV64I
    (E.lui(A0, 0x12345), "lui a0, 74565"),
    (E.auipc(RA, 0), "auipc ra, 0"),
    (E.auipc(T1, 0x80000), "auipc t1, 524288"),
    (E.jal(ZERO, 2), "jal zero, 2", "j 2"),
    (E.jal(RA, (1 << 20) - 2), "jal ra, 1048574", "jal 1048574"),
    (E.jalr(RA, RA, 0), "jalr ra, 0(ra)", "jalr ra"),
    (E.jalr(ZERO, T1, -2048), "jalr zero, -2048(t1)", "jalr zero, t1, -2048"),
    (E.ret(), "ret"),
    (E.beq(A5, ZERO, 4094), "beq a5, zero, 4094", "beqz a5, 4094"),
    (E.bne(T1, T2, -2), "bne t1, t2, -2"),
    (E.blt(A0, A1, 8), "blt a0, a1, 8"),
    (E.bge(A0, A1, 12), "bge a0, a1, 12"),
    (E.bltu(ZERO, A5, 16), "bltu zero, a5, 16"),
    (E.bgeu(31, 30, 2048), "bgeu t6, t5, 2048"),
    (E.branch(E.BNE, A0, A1, 100), "bne a0, a1, 100"),
    (E.lb(A0, A1, -1), "lb a0, -1(a1)"),
    (E.lh(A0, SP, 2), "lh a0, 2(sp)"),
    (E.lw(A0, A1, 2047), "lw a0, 2047(a1)"),
    (E.ld(A5, SP, 504), "ld a5, 504(sp)"),
    (E.lbu(A0, A1, 0), "lbu a0, 0(a1)"),
    (E.lhu(A0, A1, -2048), "lhu a0, -2048(a1)"),
    (E.lwu(A0, T3, 4), "lwu a0, 4(t3)"),
    (E.load(8, False, A0, A1, 8), "ld a0, 8(a1)"),
    (E.sb(A0, A1, -1), "sb a0, -1(a1)"),
    (E.sh(ZERO, SP, 6), "sh zero, 6(sp)"),
    (E.sw(T1, A1, 2047), "sw t1, 2047(a1)"),
    (E.sd(RA, SP, 8), "sd ra, 8(sp)"),
    (E.store(8, S1, SP, -8), "sd s1, -8(sp)"),
    (E.addi(A0, A0, 1), "addi a0, a0, 1"),
    (E.addi(SP, SP, -560), "addi sp, sp, -560"),
    (E.slti(A0, A1, -5), "slti a0, a1, -5"),
    (E.sltiu(A0, A1, 5), "sltiu a0, a1, 5"),
    (E.xori(A0, A1, -1), "xori a0, a1, -1", "not a0, a1"),
    (E.ori(A0, A1, 2047), "ori a0, a1, 2047"),
    (E.andi(T1, A0, 255), "andi t1, a0, 255"),
    (E.addiw(A0, A1, -2048), "addiw a0, a1, -2048"),
    (E.mv(A5, A0), "mv a5, a0"),
    (E.sext_w(T1, A5), "sext.w t1, a5"),
    (E.nop(), "nop"),
    (E.slli(A0, A1, 63), "slli a0, a1, 63"),
    (E.srli(A0, A0, 32), "srli a0, a0, 32"),
    (E.srai(A0, A1, 1), "srai a0, a1, 1"),
    (E.slliw(A0, A1, 31), "slliw a0, a1, 31"),
    (E.srliw(A0, A1, 0), "srliw a0, a1, 0"),
    (E.sraiw(A0, A1, 17), "sraiw a0, a1, 17"),
    (E.add(A0, A1, A2), "add a0, a1, a2"),
    (E.sub(A0, A1, A2), "sub a0, a1, a2"),
    (E.sll(A0, A1, A2), "sll a0, a1, a2"),
    (E.slt(A0, A1, A2), "slt a0, a1, a2"),
    (E.sltu(A0, A1, A2), "sltu a0, a1, a2"),
    (E.xor(A0, A1, A2), "xor a0, a1, a2"),
    (E.srl(A0, A1, A2), "srl a0, a1, a2"),
    (E.sra(A0, A1, A2), "sra a0, a1, a2"),
    (E.or_(A0, A1, A2), "or a0, a1, a2"),
    (E.and_(A0, A1, A2), "and a0, a1, a2"),
    (E.addw(A0, A1, A2), "addw a0, a1, a2"),
    (E.subw(A0, A1, A2), "subw a0, a1, a2"),
    (E.sllw(A0, A1, A2), "sllw a0, a1, a2"),
    (E.srlw(A0, A1, A2), "srlw a0, a1, a2"),
    (E.sraw(A0, A1, A2), "sraw a0, a1, a2"),
    (E.neg(A0, A1), "neg a0, a1"),
    (E.negw(A0, A1), "negw a0, a1"),
    (E.fence(), "fence rw, rw"),
    (E.fence("iorw", "w"), "fence iorw, w"),
    (E.ecall(), "ecall"),
    (E.ebreak(), "ebreak"),
    # M
    (E.mul(A0, A1, A2), "mul a0, a1, a2"),
    (E.mulh(A0, A1, A2), "mulh a0, a1, a2"),
    (E.mulhsu(A0, A1, A2), "mulhsu a0, a1, a2"),
    (E.mulhu(A0, A1, A2), "mulhu a0, a1, a2"),
    (E.div(A0, A1, A2), "div a0, a1, a2"),
    (E.divu(A0, A1, A2), "divu a0, a1, a2"),
    (E.rem(A0, A1, A2), "rem a0, a1, a2"),
    (E.remu(A0, A1, A2), "remu a0, a1, a2"),
    (E.mulw(A0, A1, A2), "mulw a0, a1, a2"),
    (E.divw(A0, A1, A2), "divw a0, a1, a2"),
    (E.divuw(A0, A1, A2), "divuw a0, a1, a2"),
    (E.remw(A0, A1, A2), "remw a0, a1, a2"),
    (E.remuw(A0, A1, A2), "remuw a0, a1, a2"),
    # A
    (E.amo("add", 8, ZERO, A1, A0), "amoadd.d zero, a1, (a0)"),
    (E.amo("add", 4, A1, A1, T1, aq=True, rl=True), "amoadd.w.aqrl a1, a1, (t1)"),
    (E.amo("swap", 8, A1, A1, A0, aq=True, rl=True), "amoswap.d.aqrl a1, a1, (a0)"),
    (E.amo("xor", 4, ZERO, A1, A0), "amoxor.w zero, a1, (a0)"),
    (E.amo("or", 8, A2, A1, A0, aq=True), "amoor.d.aq a2, a1, (a0)"),
    (E.amo("and", 4, A2, A1, A0, rl=True), "amoand.w.rl a2, a1, (a0)"),
    (E.amo("min", 8, A2, A1, A0), "amomin.d a2, a1, (a0)"),
    (E.amo("max", 4, A2, A1, A0), "amomax.w a2, a1, (a0)"),
    (E.amo("minu", 8, A2, A1, A0), "amominu.d a2, a1, (a0)"),
    (E.amo("maxu", 4, A2, A1, A0), "amomaxu.w a2, a1, (a0)"),
    (E.lr(8, T2, T1, aq=True, rl=True), "lr.d.aqrl t2, (t1)"),
    (E.lr(4, T2, A0), "lr.w t2, (a0)"),
    (E.sc(8, T3, A1, T1, rl=True), "sc.d.rl t3, a1, (t1)"),
    (E.sc(4, T3, A5, A0), "sc.w t3, a5, (a0)"),
    # Zba
    (E.sh1add(A0, A1, A2), "sh1add a0, a1, a2", None),
    (E.sh2add(A0, A1, A2), "sh2add a0, a1, a2", None),
    (E.sh3add(A0, A1, A2), "sh3add a0, a1, a2", None),
    (E.add_uw(A0, A1, A2), "add.uw a0, a1, a2", None),
    (E.zext_w(A5, A5), "zext.w a5, a5", None),
    (E.slli_uw(A0, A1, 63), "slli.uw a0, a1, 63", None),
    # Zbb
    (E.andn(A0, A1, A2), "andn a0, a1, a2", None),
    (E.orn(A0, A1, A2), "orn a0, a1, a2", None),
    (E.xnor(A0, A1, A2), "xnor a0, a1, a2", None),
    (E.min_(A0, A1, A2), "min a0, a1, a2", None),
    (E.minu(A0, A1, A2), "minu a0, a1, a2", None),
    (E.max_(A0, A1, A2), "max a0, a1, a2", None),
    (E.maxu(A0, A1, A2), "maxu a0, a1, a2", None),
    (E.rol(A0, A1, A2), "rol a0, a1, a2", None),
    (E.ror(A0, A1, A2), "ror a0, a1, a2", None),
    (E.rori(A0, A1, 63), "rori a0, a1, 63", None),
    (E.clz(A0, A1), "clz a0, a1", None),
    (E.ctz(A0, A1), "ctz a0, a1", None),
    (E.cpop(A0, A1), "cpop a0, a1", None),
    (E.sext_b(A0, A1), "sext.b a0, a1", None),
    (E.sext_h(A0, A1), "sext.h a0, a1", None),
    (E.zext_h(A0, A1), "zext.h a0, a1", None),
    (E.rev8(A5, A5), "rev8 a5, a5", None),
    (E.orc_b(A0, A1), "orc.b a0, a1", None),
]
CTABLE: list[tuple] = [
    (E.c_addi4spn(A0, 4), "c.addi4spn a0, sp, 4"),
    (E.c_addi4spn(S0, 1020), "c.addi4spn s0, sp, 1020"),
    (E.c_lw(A0, A1, 124), "c.lw a0, 124(a1)"),
    (E.c_ld(A5, S1, 248), "c.ld a5, 248(s1)"),
    (E.c_sw(A0, A1, 4), "c.sw a0, 4(a1)"),
    (E.c_sd(A0, A1, 0), "c.sd a0, 0(a1)"),
    (E.c_nop(), "c.nop"),
    (E.c_addi(A0, -32), "c.addi a0, -32"),
    (E.c_addi(T1, 31), "c.addi t1, 31"),
    (E.c_addiw(A0, 0), "c.addiw a0, 0"),
    (E.c_li(T3, -1), "c.li t3, -1"),
    (E.c_addi16sp(-512), "c.addi16sp sp, -512"),
    (E.c_addi16sp(496), "c.addi16sp sp, 496"),
    (E.c_lui(A0, 0xFFFE0), "c.lui a0, 1048544"),
    (E.c_lui(A0, 31), "c.lui a0, 31"),
    (E.c_srli(A0, 63), "c.srli a0, 63"),
    (E.c_srai(A5, 1), "c.srai a5, 1"),
    (E.c_andi(A0, -1), "c.andi a0, -1"),
    (E.c_sub(A0, A1), "c.sub a0, a1"),
    (E.c_xor(A0, A1), "c.xor a0, a1"),
    (E.c_or(S0, A5), "c.or s0, a5"),
    (E.c_and(A0, A1), "c.and a0, a1"),
    (E.c_subw(A0, A1), "c.subw a0, a1"),
    (E.c_addw(A0, A1), "c.addw a0, a1"),
    (E.c_j(-2048), "c.j -2048"),
    (E.c_j(2046), "c.j 2046"),
    (E.c_beqz(A0, -256), "c.beqz a0, -256"),
    (E.c_bnez(A5, 254), "c.bnez a5, 254"),
    (E.c_slli(T1, 32), "c.slli t1, 32"),
    (E.c_lwsp(A0, 252), "c.lwsp a0, 252(sp)"),
    (E.c_ldsp(RA, 504), "c.ldsp ra, 504(sp)"),
    (E.c_swsp(A0, 252), "c.swsp a0, 252(sp)"),
    (E.c_sdsp(RA, 504), "c.sdsp ra, 504(sp)"),
    (E.c_jr(RA), "c.jr ra"),
    (E.c_jalr(T1), "c.jalr t1"),
    (E.c_mv(A5, A0), "c.mv a5, a0"),
    (E.c_add(A0, S1), "c.add a0, s1"),
    (E.c_ebreak(), "c.ebreak"),
]
# 32-bit words the selector emits, each with a compressed form llvm-mc also picks (or rejects) under +c
COMPRESSIBLE = [
    E.addi(SP, SP, -48), E.addi(SP, SP, 48), E.addi(A0, SP, 16), E.addi(A5, ZERO, 31), E.addi(A5, ZERO, -33),
    E.addi(T1, T1, 0), E.addi(A0, A0, 32), E.sd(RA, SP, 8), E.sd(S1, SP, 504), E.sd(S1, SP, 512),
    E.ld(RA, SP, 8), E.ld(A5, A0, 8), E.ld(A5, A0, 256), E.ld(A5, A0, 4), E.lw(A5, A0, 124), E.lw(A5, SP, 8),
    E.sw(A5, A0, 4), E.sw(A5, SP, 8), E.sd(A5, A0, 248), E.sd(T1, A0, 8), E.lwu(A5, A0, 4), E.lbu(A5, A0, 0),
    E.slli(A5, A5, 32), E.srli(A5, A5, 32), E.srai(A5, A5, 56), E.srli(T1, T1, 1), E.slli(T1, A0, 3),
    E.andi(A5, A5, 31), E.andi(A5, A5, -32), E.andi(A5, A5, 255), E.andi(T1, T1, 1),
    E.addiw(A5, A5, 0), E.addiw(A5, A5, -32), E.addiw(T1, A5, 0), E.lui(A5, 1), E.lui(A5, 0xFFFFF),
    E.lui(A5, 32), E.lui(SP, 1), E.add(A5, A5, A0), E.add(A5, A0, A5), E.add(A5, ZERO, A0), E.add(A5, A0, A1),
    E.sub(A5, A5, A0), E.sub(A5, A0, A5), E.and_(A5, A0, A5), E.or_(A5, A5, A0), E.xor(A5, A5, T1),
    E.addw(A5, A5, A0), E.addw(A5, A0, A5), E.subw(A5, A5, A0), E.mul(A5, A5, A0),
    E.jalr(ZERO, RA, 0), E.jalr(RA, T1, 0), E.jalr(RA, T1, 4), E.jal(ZERO, -2048), E.jal(ZERO, 2048),
    E.beq(A5, ZERO, -256), E.bne(A0, ZERO, 254), E.bne(A0, ZERO, 256), E.beq(T1, ZERO, 8), E.beq(ZERO, A5, 8),
    E.nop(), E.ebreak(),
]


def _words(text: str, sizes: list[int]) -> list[int]:
    out = [int.from_bytes(bytes(int(b, 16) for b in m.group(1).split(",")), "little")
           for m in re.finditer(r"encoding: \[(.*?)\]", text)]
    assert len(out) == len(sizes)
    return out


def _text(word: int, size: int) -> str:
    """An instruction llvm-mc assembles to exactly ``word``: its capstone spelling with the C extension off."""
    md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64)
    (insn,) = md.disasm(word.to_bytes(size, "little"), 0)
    return f"{insn.mnemonic} {insn.op_str}"


@pytest.fixture(scope="module")
def llvm_mc():
    """(exact words of TABLE, of CTABLE, llvm-mc's compression of TABLE, of COMPRESSIBLE), in one subprocess."""
    mc = shutil.which("llvm-mc")
    if mc is None:
        pytest.skip("llvm-mc is not installed (Debian package llvm): cannot check encodings against it")
    source = (".option norvc\n" + "".join(row[1] + "\n" for row in TABLE)
              + ".option rvc\n" + "".join(row[1] + "\n" for row in CTABLE)
              + "".join(row[1] + "\n" for row in TABLE)
              + "".join(_text(w, 4) + "\n" for w in COMPRESSIBLE))
    proc = subprocess.run([mc, "-triple=riscv64", "-mattr=+m,+a,+c,+zba,+zbb", "-show-encoding"], input=source,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    words = _words(proc.stdout, [0] * (2 * len(TABLE) + len(CTABLE) + len(COMPRESSIBLE)))
    a, b, c = len(TABLE), len(TABLE) + len(CTABLE), 2 * len(TABLE) + len(CTABLE)
    return words[:a], words[a:b], words[b:c], words[c:]


def test_every_encoder_is_in_the_table():
    public = {name for name, fn in inspect.getmembers(E, callable)
              if not name.startswith("_") and not isinstance(fn, type) and name not in ("annotations",)}
    with open(__file__) as f:
        source = f.read()
    table_source = source[source.index("TABLE: list"):source.index("# 32-bit words the selector")]
    used = set(re.findall(r"\bE\.(\w+)\(", table_source))
    assert public - used - {"compress", "invert_branch", "b_offset", "j_offset", "cb_offset", "cj_offset"} == set()


def test_offset_fields_are_the_formats_offset_fields():
    """What the selector's short branches OR into a branch encoded once with offset 0 (the encoders are checked by
    the table): every even offset in range, as ints and as one NumPy array (how the Emitter places them)."""
    import numpy as np

    for field, encode, reach in ((E.b_offset, lambda off: E.branch(E.BLTU, 9, 18, off), 4096),
                                 (E.j_offset, lambda off: E.jal(E.RA, off), 1 << 20),
                                 (E.cb_offset, lambda off: E.c_bnez(E.A5, off), 256),
                                 (E.cj_offset, E.c_j, 2048)):
        offsets = list(range(-reach, reach, 2 if reach <= 4096 else 2046))
        base = encode(0)
        assert [base | field(off) for off in offsets] == [encode(off) for off in offsets], field.__name__
        assert (base | field(np.array(offsets, dtype=np.int64))).tolist() == [encode(off) for off in offsets]


@pytest.mark.parametrize("index", range(len(TABLE)), ids=[row[1] for row in TABLE])
def test_bytes_match_llvm_mc(llvm_mc, index):
    word, text = TABLE[index][:2]
    assert f"{word:08x}" == f"{llvm_mc[0][index]:08x}", text


@pytest.mark.parametrize("index", range(len(CTABLE)), ids=[row[1] for row in CTABLE])
def test_compressed_bytes_match_llvm_mc(llvm_mc, index):
    word, text = CTABLE[index][:2]
    assert word >> 16 == 0
    assert f"{word:04x}" == f"{llvm_mc[1][index]:04x}", text


def test_compress_agrees_with_llvm_mc(llvm_mc):
    """Under +c llvm-mc picks a compressed form exactly when compress() finds one, and the same one."""
    rows = [row[0] for row in TABLE] + COMPRESSIBLE
    want = llvm_mc[2] + llvm_mc[3]
    got = [E.compress(w) if E.compress(w) is not None else w for w in rows]
    diffs = [(f"{w:08x}", f"{g:x}", f"{m:x}") for w, g, m in zip(rows, got, want) if g != m]
    assert diffs == []
    assert sum(1 for w in COMPRESSIBLE if E.compress(w) is not None) >= 35  # the table does exercise compress()


def _norm(text: str) -> str:
    """Lower case, single spaces, every number as a decimal (capstone prints hex)."""
    text = re.sub(r"\s+", " ", text.lower().strip())
    return re.sub(r"(?<![\w.])(-?(?:0x[0-9a-f]+|\d+))", lambda m: str(int(m.group(1), 0)), text)


CS = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)


@pytest.mark.parametrize("index", range(len(TABLE + CTABLE)), ids=[row[1] for row in TABLE + CTABLE])
def test_capstone_decodes_the_same_instruction(index):
    word, text, *alias = (TABLE + CTABLE)[index]
    size = 2 if index >= len(TABLE) else 4
    decoded = list(CS.disasm(word.to_bytes(size, "little"), 0))
    if alias and alias[0] is None:
        assert decoded == [] or decoded[0].size != size, f"capstone now decodes {text}: give the row its spelling"
        return
    assert len(decoded) == 1, f"capstone cannot decode {word:08x} ({text})"
    assert _norm(f"{decoded[0].mnemonic} {decoded[0].op_str}") == _norm(alias[0] if alias else text)


ERRORS = [
    (lambda: E.addi(A0, A0, 2048), "imm12 2048 does not fit in 12 signed bits"),
    (lambda: E.addi(A0, A0, -2049), "imm12 -2049 does not fit in 12 signed bits"),
    (lambda: E.addi(32, A0, 0), "register 32 does not fit in 5 unsigned bits"),
    (lambda: E.add(A0, -1, A1), "register -1"),
    (lambda: E.r_type(128, 0, 0, 0, 0, E.OP), "funct7 128 does not fit in 7 unsigned bits"),
    (lambda: E.i_type(0, 0, 8, 0, E.OP_IMM), "funct3 8 does not fit in 3 unsigned bits"),
    (lambda: E.u_type(0, 0, 128), "opcode 128 does not fit in 7 unsigned bits"),
    (lambda: E.sd(A0, SP, 2048), "imm12 2048"),
    (lambda: E.lui(A0, 1 << 20), "imm20 1048576 does not fit in 20 unsigned bits"),
    (lambda: E.auipc(A0, -1), "imm20 -1"),
    (lambda: E.beq(A0, A1, 4096), "branch offset 4096 does not fit in 13 signed bits"),
    (lambda: E.bne(A0, A1, -4098), "branch offset -4098"),
    (lambda: E.beq(A0, A1, 3), "branch offset 3 is not a multiple of 2"),
    (lambda: E.branch(2, A0, A1, 0), "branch funct3 2 is reserved"),
    (lambda: E.invert_branch(3), "branch funct3 3 is reserved"),
    (lambda: E.jal(RA, 1 << 20), "jump offset 1048576 does not fit in 21 signed bits"),
    (lambda: E.jal(RA, 1), "jump offset 1 is not a multiple of 2"),
    (lambda: E.load(3, True, A0, A0, 0), "no load of size 3"),
    (lambda: E.store(16, A0, A0, 0), "no store of size 16"),
    (lambda: E.slli(A0, A0, 64), "slli shift amount 64 out of range 0..63"),
    (lambda: E.srliw(A0, A0, 32), "srliw shift amount 32 out of range 0..31"),
    (lambda: E.sraiw(A0, A0, -1), "sraiw shift amount -1"),
    (lambda: E.slli_uw(A0, A0, 64), "slli.uw shift amount 64"),
    (lambda: E.rori(A0, A0, 64), "rori shift amount 64"),
    (lambda: E.fence("rx", "w"), "fence set 'rx'"),
    (lambda: E.amo("nand", 8, 0, 0, 0), "unknown AMO operation 'nand'"),
    (lambda: E.amo("add", 2, 0, 0, 0), "AMO size 2 must be 4 or 8"),
    (lambda: E.amo("lr", 8, 0, 1, 0), "lr takes no rs2"),
    (lambda: E.c_addi4spn(A0, 0), "c.addi4spn immediate must not be 0"),
    (lambda: E.c_addi4spn(A0, 1024), "c.addi4spn offset/4 256 does not fit in 8 unsigned bits"),
    (lambda: E.c_addi4spn(A0, 6), "c.addi4spn offset 6 is not a multiple of 4"),
    (lambda: E.c_addi4spn(T1, 4), "register x6 is not one of x8..x15"),
    (lambda: E.c_lw(A0, A1, 128), "c.lw/c.sw offset/4 32 does not fit in 5 unsigned bits"),
    (lambda: E.c_ld(A0, A1, 4), "c.ld/c.sd offset 4 is not a multiple of 8"),
    (lambda: E.c_sd(A0, T0, 0), "register x5 is not one of x8..x15"),
    (lambda: E.c_addi(A0, 0), "c.addi immediate must not be 0"),
    (lambda: E.c_addi(A0, 32), "c immediate 32 does not fit in 6 signed bits"),
    (lambda: E.c_addi(ZERO, 1), "c.addi rd must not be x0"),
    (lambda: E.c_li(ZERO, 1), "c.li rd must not be x0"),
    (lambda: E.c_addiw(A0, -33), "c immediate -33"),
    (lambda: E.c_addi16sp(8), "c.addi16sp immediate 8 must be a non-zero multiple of 16"),
    (lambda: E.c_addi16sp(512), "c.addi16sp immediate 512 does not fit in 10 signed bits"),
    (lambda: E.c_lui(SP, 1), "c.lui rd must not be x0 or sp"),
    (lambda: E.c_lui(A0, 32), "c.lui imm20 0x20 is not a non-zero 6-bit signed value"),
    (lambda: E.c_lui(A0, 0), "c.lui imm20 0x0"),
    (lambda: E.c_srli(A0, 0), "c.srli shift amount 0 out of range 1..63"),
    (lambda: E.c_srai(A0, 64), "c.srai shift amount 64"),
    (lambda: E.c_slli(A0, 0), "c.slli shift amount 0"),
    (lambda: E.c_slli(ZERO, 1), "c.slli rd must not be x0"),
    (lambda: E.c_andi(A0, 32), "c.andi immediate 32 does not fit in 6 signed bits"),
    (lambda: E.c_sub(A0, T1), "register x6 is not one of x8..x15"),
    (lambda: E.c_j(2048), "c.j offset 2048 does not fit in 12 signed bits"),
    (lambda: E.c_j(1), "c.j offset 1 is not a multiple of 2"),
    (lambda: E.c_beqz(A0, 256), "c.beqz/c.bnez offset 256 does not fit in 9 signed bits"),
    (lambda: E.c_bnez(T1, 0), "register x6 is not one of x8..x15"),
    (lambda: E.c_lwsp(A0, 256), "c.lwsp offset/4 64 does not fit in 6 unsigned bits"),
    (lambda: E.c_ldsp(ZERO, 8), "c.ldsp rd must not be x0"),
    (lambda: E.c_swsp(A0, 2), "c.swsp offset 2 is not a multiple of 4"),
    (lambda: E.c_sdsp(A0, 512), "c.sdsp offset/8 64 does not fit in 6 unsigned bits"),
    (lambda: E.c_jr(ZERO), "c.jr rs1 must not be x0"),
    (lambda: E.c_jalr(ZERO), "c.jalr rs1 must not be x0"),
    (lambda: E.c_mv(A0, ZERO), "c.mv rs2 must not be x0"),
    (lambda: E.c_add(ZERO, A0), "c.add rd must not be x0"),
]


@pytest.mark.parametrize("call,message", ERRORS, ids=[m for _, m in ERRORS])
def test_field_out_of_range_raises(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_invert_branch_pairs_conditions():
    assert [E.invert_branch(f) for f in (E.BEQ, E.BNE, E.BLT, E.BGE, E.BLTU, E.BGEU)] == [
        E.BNE, E.BEQ, E.BGE, E.BLT, E.BGEU, E.BLTU]


def test_compress_never_changes_what_an_instruction_does():
    """compress() returns None for the forms C lacks: hints (rd = x0), out-of-range or misaligned immediates."""
    for word in (E.addi(ZERO, ZERO, 1), E.addi(A0, A1, 1), E.slli(ZERO, ZERO, 1),
                 E.ld(A5, A0, 4), E.sd(A5, A0, 256), E.lui(A0, 32), E.lui(SP, 1), E.jal(RA, 8),
                 E.beq(A0, A1, 8), E.bne(T1, ZERO, 8), E.sub(A0, A1, A0), E.jalr(RA, T1, 4), E.mul(A0, A0, A1)):
        assert E.compress(word) is None, f"{word:08x}"
