"""The arm64 instruction selector: one section per BPF instruction class.

The core's codegen driver calls ``lower`` for every instruction except calls
and exit, and the primitives (``move``, ``call``, ``call_local``, ``jump``)
for those. Immediates use the one-instruction forms where they fit (add/sub
imm12, logical bitmask immediates, scaled load/store offsets) and a scratch
register otherwise. Every encoding comes from encode.py.
"""

from __future__ import annotations

from bpfx import BranchForm, TableSelector, Unsupported, isa

from . import encode as E
from .abi import SP, TMP, TMP2, TMP3, X29, X30, XZR
from .helpers import MOVW_BY_HW, R_AARCH64_CALL26, RELOC_TYPES

MASK64 = (1 << 64) - 1
Cls, Kind = isa.Cls, isa.Kind
# enum members as module constants for per-instruction code (an IntEnum member lookup costs 80 ns on Python 3.11)
_ALU64, _JMP, _K_LDXSX = Cls.ALU64, Cls.JMP, Kind.LDXSX

# BPF conditional jump -> A64 condition after `cmp dst, src` (jset: after `tst`)
COND = {
    "jeq": E.Cond.EQ, "jne": E.Cond.NE, "jgt": E.Cond.HI, "jge": E.Cond.HS, "jlt": E.Cond.LO,
    "jle": E.Cond.LS, "jsgt": E.Cond.GT, "jsge": E.Cond.GE, "jslt": E.Cond.LT, "jsle": E.Cond.LE,
    "jset": E.Cond.NE,
}
# ALU ops that are one data-processing instruction on two registers
ALU_REG = {
    "add": lambda sf, d, n, m: E.add_reg(sf, d, n, m),
    "sub": lambda sf, d, n, m: E.sub_reg(sf, d, n, m),
    "or": lambda sf, d, n, m: E.orr_reg(sf, d, n, m),
    "and": lambda sf, d, n, m: E.and_reg(sf, d, n, m),
    "xor": lambda sf, d, n, m: E.eor_reg(sf, d, n, m),
    "lsh": lambda sf, d, n, m: E.lslv(sf, d, n, m),
    "rsh": lambda sf, d, n, m: E.lsrv(sf, d, n, m),
    "arsh": lambda sf, d, n, m: E.asrv(sf, d, n, m),
    "mul": lambda sf, d, n, m: E.madd(sf, d, n, m, XZR),
}
# logical ops with a bitmask-immediate form: encode name
LOGICAL_IMM = {"or": E.orr_imm, "and": E.and_imm, "xor": E.eor_imm}
SHIFT_IMM = {"lsh": E.lsl_imm, "rsh": E.lsr_imm, "arsh": E.asr_imm}
# load/store sizes in bytes -> the A64 size field
SIZE_LOG2 = {1: 0, 2: 1, 4: 2, 8: 3}
# LSE atomic ops (imm & ~FETCH) -> encoder; "and" is ldclr of the complement
LSE = {isa.ATOMIC_OPS["add"]: E.ldadd, isa.ATOMIC_OPS["or"]: E.ldset, isa.ATOMIC_OPS["xor"]: E.ldeor}
LLSC_OP = {isa.ATOMIC_OPS["add"]: "add", isa.ATOMIC_OPS["or"]: "or", isa.ATOMIC_OPS["and"]: "and",
           isa.ATOMIC_OPS["xor"]: "xor"}


# the short forms' offset fields for many branches at once (BranchForm.place): (which offsets reach, their bits)
def _place_imm19(offs):  # b.cond, cbz/cbnz
    return (offs & 3 == 0) & (offs >= -(1 << 20)) & (offs < (1 << 20)), (offs >> 2 & 0x7FFFF) << 5


def _place_imm26(offs):  # b, bl
    return (offs & 3 == 0) & (offs >= -(1 << 27)) & (offs < (1 << 27)), offs >> 2 & 0x3FFFFFF


def _branch_cond(cond: int) -> tuple[BranchForm, ...]:
    """b.cond (+-1 MiB), else b.!cond over a b (+-128 MiB)."""
    inverse = cond ^ 1

    def short(off: int):
        if off & 3 or not -(1 << 20) <= off < (1 << 20):
            return None
        return E.b_cond(cond, off >> 2).to_bytes(4, "little")

    def long(off: int):
        off -= 4
        if off & 3 or not -(1 << 27) <= off < (1 << 27):
            return None
        return E.b_cond(inverse, 2).to_bytes(4, "little") + E.b(off >> 2).to_bytes(4, "little")

    return (BranchForm(4, short, E.b_cond(cond, 0), _place_imm19), BranchForm(8, long))


def _branch_cbz(nonzero: bool, sf: int, rt: int) -> tuple[BranchForm, ...]:
    first, inverse = (E.cbnz, E.cbz) if nonzero else (E.cbz, E.cbnz)

    def short(off: int):
        if off & 3 or not -(1 << 20) <= off < (1 << 20):
            return None
        return first(sf, rt, off >> 2).to_bytes(4, "little")

    def long(off: int):
        off -= 4
        if off & 3 or not -(1 << 27) <= off < (1 << 27):
            return None
        return inverse(sf, rt, 2).to_bytes(4, "little") + E.b(off >> 2).to_bytes(4, "little")

    return (BranchForm(4, short, first(sf, rt, 0), _place_imm19), BranchForm(8, long))


def _uncond(link: bool) -> tuple[BranchForm, ...]:
    enc = E.bl if link else E.b

    def form(off: int):
        if off & 3 or not -(1 << 27) <= off < (1 << 27):
            return None
        return enc(off >> 2).to_bytes(4, "little")

    return (BranchForm(4, form, enc(0), _place_imm26),)


B_FORMS = _uncond(False)
BL_FORMS = _uncond(True)
COND_FORMS = {c: _branch_cond(c) for c in set(COND.values())}
CBZ_FORMS = {(nz, sf, r): _branch_cbz(nz, sf, r) for nz in (False, True) for sf in (0, 1) for r in range(31)}


def mov_imm_words(value: int, sf: int) -> list[int]:
    """The shortest movz/movn/movk (or orr bitmask) sequence that puts ``value`` in a register (rd = 0)."""
    width = 64 if sf else 32
    mask = (1 << width) - 1
    value &= mask
    if value >> 16 == 0:  # the common case: one movz
        return [E.movz(sf, 0, value, 0)]
    if (~value & mask) >> 16 == 0:
        return [E.movn(sf, 0, ~value & 0xFFFF, 0)]
    if E.encode_bitmask_imm(value, width) is not None:
        return [E.orr_imm(sf, 0, XZR, value)]
    chunks = [(value >> (16 * hw)) & 0xFFFF for hw in range(width // 16)]
    zeros, ones = chunks.count(0), chunks.count(0xFFFF)
    words = []
    if ones > zeros:  # start from all ones with movn
        first = True
        for hw, chunk in enumerate(chunks):
            if chunk == 0xFFFF:
                continue
            words.append(E.movn(sf, 0, ~chunk & 0xFFFF, hw) if first else E.movk(sf, 0, chunk, hw))
            first = False
        return words or [E.movn(sf, 0, 0, 0)]
    first = True
    for hw, chunk in enumerate(chunks):
        if chunk == 0:
            continue
        words.append(E.movz(sf, 0, chunk, hw) if first else E.movk(sf, 0, chunk, hw))
        first = False
    return words or [E.movz(sf, 0, 0, 0)]


class Arm64Selector(TableSelector):
    reloc_types = RELOC_TYPES

    def __init__(self, abi, *, lse: bool = True):
        self.abi = abi
        self.lse = lse
        self.r = abi.regs
        self.labels = 0
        super().__init__()

    # -- primitives the core uses --------------------------------------------------------------------------
    def move(self, cg, dst: int, src: int) -> None:
        cg.em.emit32(E.mov_reg(1, dst, src))

    def call(self, cg, entry) -> None:
        if entry.address is not None:
            self._mov_imm(cg.em, TMP, entry.address, 1)
            cg.em.emit32(E.blr(TMP))
        else:
            cg.em.reloc(R_AARCH64_CALL26, entry.symbol, 0, "helper")
            cg.em.emit32(E.bl(0))

    def call_local(self, cg, label) -> None:
        cg.em.branch(label, BL_FORMS)

    def jump(self, cg, label) -> None:
        cg.em.branch(label, B_FORMS)

    @property
    def disassembler(self):
        import capstone

        md = capstone.Cs(capstone.CS_ARCH_ARM64, capstone.CS_MODE_ARM)

        def disasm(code: bytes, address: int):
            return [(i.address, i.size, f"{i.mnemonic} {i.op_str}".strip()) for i in md.disasm(code, address)]

        return disasm

    # -- frames ---------------------------------------------------------------------------------------------
    def _saved(self, frame) -> list[int]:
        natives = sorted({self.r[b] for b in frame.written} & self.abi.callee_saved)
        return natives

    def prologue(self, cg, frame) -> None:
        em = cg.em
        saved = self._saved(frame)
        pairs = [saved[i:i + 2] for i in range(0, len(saved), 2)]
        pushed = 0
        if frame.makes_calls:
            em.emit32(E.stp_pre(1, X29, X30, SP, -16))
            em.emit32(E.mov_sp(X29, SP))
            pushed += 16
        for pair in pairs:
            second = pair[1] if len(pair) == 2 else XZR
            em.emit32(E.stp_pre(1, pair[0], second, SP, -16))
            pushed += 16
        stack = (frame.stack_size + 15) & ~15
        if 10 in frame.written:
            em.emit32(E.mov_sp(self.r[10], SP))
            if stack:
                em.emit32(E.sub_imm(1, SP, SP, stack))
        frame.extra.update(pairs=pairs, stack=stack)
        self.use_frame(stack)
        frame.frame_offset = pushed
        frame.native_stack = pushed + stack

    def epilogue(self, cg, frame) -> None:
        em = cg.em
        if frame.extra["stack"]:
            em.emit32(E.mov_sp(SP, self.r[10]))
        for pair in reversed(frame.extra["pairs"]):
            second = pair[1] if len(pair) == 2 else XZR
            em.emit32(E.ldp_post(1, pair[0], second, SP, 16))
        if frame.makes_calls:
            em.emit32(E.ldp_post(1, X29, X30, SP, 16))
        if frame.is_entry and self.r[0] != self.abi.ret_reg:
            em.emit32(E.mov_reg(1, self.abi.ret_reg, self.r[0]))
        em.emit32(E.ret(X30))

    # -- dispatch (TableSelector) ---------------------------------------------------------------------------
    def lowerings(self):
        return {
            Kind.ALU: self._alu, Kind.ENDIAN: self._endian, Kind.JA: self._ja, Kind.JCOND: self._jcond,
            Kind.LDX: self._ldx, Kind.LDXSX: self._ldx, Kind.ST: self._st, Kind.STX: self._stx,
            Kind.ATOMIC: self._atomic, Kind.LD_IMM64: self._ld_imm64,
        }

    def is_pure(self, info) -> bool:
        # LSE atomics are single instructions (the LL/SC loops branch); a conditional jump is its compare, then
        # the branch
        return super().is_pure(info) or (self.lse and info.kind == Kind.ATOMIC) or info.kind == Kind.JCOND

    # -- immediates -----------------------------------------------------------------------------------------
    def _mov_imm(self, em, rd: int, value: int, sf: int) -> None:
        for word in mov_imm_words(value, sf):
            em.emit32(word | rd)

    # -- ALU / ALU64 ----------------------------------------------------------------------------------------
    def _alu(self, cg, pc, insn, nxt) -> None:
        em, r = cg.em, self.r
        info = isa.OPCODES[insn.opcode]
        sf = 1 if info.cls == _ALU64 else 0
        op, d = info.op, r[insn.dst]
        if op == "neg":
            em.emit32(E.sub_reg(sf, d, XZR, d))
            return
        if info.src_reg:
            s = r[insn.src]
            if op == "mov":
                if insn.off:
                    em.emit32({8: E.sxtb, 16: E.sxth, 32: E.sxtw}[insn.off](sf, d, s))
                else:
                    em.emit32(E.mov_reg(sf, d, s))
                return
            self._alu_reg(em, op, sf, d, s, insn.off == 1)
            return
        imm = insn.imm
        width = 64 if sf else 32
        value = imm & ((1 << width) - 1)  # ALU64 sign-extends imm; ALU32 takes its 32 bits
        if op == "mov":
            self._mov_imm(em, d, value, sf)
            return
        if op in ("add", "sub"):
            signed = imm if op == "add" else -imm
            if 0 <= signed < 4096 or (signed > 0 and signed & 0xFFF == 0 and signed < (1 << 24)):
                em.emit32(E.add_imm(sf, d, d, signed))
                return
            if -4096 < signed < 0 or (signed < 0 and -signed & 0xFFF == 0 and -signed < (1 << 24)):
                em.emit32(E.sub_imm(sf, d, d, -signed))
                return
        elif op in LOGICAL_IMM and E.encode_bitmask_imm(value, width) is not None:
            em.emit32(LOGICAL_IMM[op](sf, d, d, value))
            return
        elif op in SHIFT_IMM:
            em.emit32(SHIFT_IMM[op](sf, d, d, imm & (width - 1)))
            return
        self._mov_imm(em, TMP, value, sf)
        self._alu_reg(em, op, sf, d, TMP, insn.off == 1)

    def _alu_reg(self, em, op: str, sf: int, d: int, s: int, signed: bool) -> None:
        if op in ALU_REG:
            em.emit32(ALU_REG[op](sf, d, d, s))
        elif op == "div":
            em.emit32((E.sdiv if signed else E.udiv)(sf, d, d, s))
        elif op == "mod":  # d - (d / s) * s; a zero quotient (s == 0) leaves d, INT_MIN % -1 gives 0
            em.emit32((E.sdiv if signed else E.udiv)(sf, TMP2, d, s))
            em.emit32(E.msub(sf, d, TMP2, s, d))
        else:
            raise Unsupported(f"ALU operation {op}")

    def _endian(self, cg, pc, insn, nxt) -> None:
        em, d = cg.em, self.r[insn.dst]
        swap = isa.OPCODES[insn.opcode].cls == _ALU64 or insn.opcode & isa.SRC_X  # bswap, or be on LE
        width = insn.imm
        if not swap:  # le on a little-endian core: truncate
            if width == 16:
                em.emit32(E.uxth(d, d))
            elif width == 32:
                em.emit32(E.mov_reg(0, d, d))
            return
        if width == 16:
            em.emit32(E.rev16(0, d, d))
            em.emit32(E.uxth(d, d))
        elif width == 32:
            em.emit32(E.rev(0, d, d))
        else:
            em.emit32(E.rev(1, d, d))

    # -- jumps ----------------------------------------------------------------------------------------------
    def _ja(self, cg, pc, insn, nxt) -> None:
        cg.em.branch(isa.jump_target(pc, insn), B_FORMS)

    def _jcond(self, cg, pc, insn, nxt) -> None:
        em, r = cg.em, self.r
        info = isa.OPCODES[insn.opcode]
        sf = 1 if info.cls == _JMP else 0
        width = 64 if sf else 32
        d = r[insn.dst]
        target = pc + 1 + insn.off
        op = info.op
        if info.src_reg:
            s = r[insn.src]
            em.emit32(E.tst_reg(sf, d, s) if op == "jset" else E.cmp_reg(sf, d, s))
        else:
            value = insn.imm & ((1 << width) - 1)
            if op in ("jeq", "jne") and insn.imm == 0:
                em.branch(target, CBZ_FORMS[(op == "jne", sf, d)])
                return
            if op == "jset":
                if E.encode_bitmask_imm(value, width) is not None:
                    em.emit32(E.tst_imm(sf, d, value))
                else:
                    self._mov_imm(em, TMP, value, sf)
                    em.emit32(E.tst_reg(sf, d, TMP))
            elif 0 <= insn.imm < 4096:
                em.emit32(E.cmp_imm(sf, d, insn.imm))
            elif -4096 < insn.imm < 0:
                em.emit32(E.cmn_imm(sf, d, -insn.imm))
            else:
                self._mov_imm(em, TMP, value, sf)
                em.emit32(E.cmp_reg(sf, d, TMP))
        em.branch(target, COND_FORMS[COND[op]])

    # -- memory ---------------------------------------------------------------------------------------------
    def _address(self, cg, base_bpf: int, off: int, size: int) -> tuple[str, int, int]:
        """How to reach base + off: ("imm", rn, scaled), ("unscaled", rn, off) or ("reg", rn, rm)."""
        rn = self.r[base_bpf]
        if base_bpf == 10 and cg.frame.extra.get("stack"):  # r10 + off is sp + (stack + off)
            sp_off = cg.frame.extra["stack"] + off
            if sp_off >= 0 and sp_off % size == 0 and sp_off // size < 4096:
                return ("imm", SP, sp_off // size)
        if off >= 0 and off % size == 0 and off // size < 4096:
            return ("imm", rn, off // size)
        if -256 <= off < 256:
            return ("unscaled", rn, off)
        self._mov_imm(cg.em, TMP3, off & MASK64, 1)
        return ("reg", rn, TMP3)

    def _ldst(self, cg, kind: str, rt: int, base_bpf: int, off: int, size: int) -> None:
        mode, rn, x = self._address(cg, base_bpf, off, size)
        enc = {"imm": E.LDST_IMM, "unscaled": E.LDST_UNSCALED, "reg": E.LDST_REG}[mode][kind]
        cg.em.emit32(enc(SIZE_LOG2[size], rt, rn, x))

    def _ldx(self, cg, pc, insn, nxt) -> None:
        info = isa.OPCODES[insn.opcode]
        kind = "ldrs" if info.kind == _K_LDXSX else "ldr"
        self._ldst(cg, kind, self.r[insn.dst], insn.src, insn.off, info.size)

    def _st(self, cg, pc, insn, nxt) -> None:
        info = isa.OPCODES[insn.opcode]
        if insn.imm == 0:
            src = XZR
        else:
            src = TMP
            self._mov_imm(cg.em, TMP, insn.imm & MASK64, 1)
        self._ldst(cg, "str", src, insn.dst, insn.off, info.size)

    def _stx(self, cg, pc, insn, nxt) -> None:
        info = isa.OPCODES[insn.opcode]
        self._ldst(cg, "str", self.r[insn.src], insn.dst, insn.off, info.size)

    def _atomic(self, cg, pc, insn, nxt) -> None:
        em, r = cg.em, self.r
        info = isa.OPCODES[insn.opcode]
        sz = SIZE_LOG2[info.size]
        sf = 1 if info.size == 8 else 0
        addr = r[insn.dst]
        if insn.off:
            if 0 < insn.off < 4096:
                em.emit32(E.add_imm(1, TMP2, addr, insn.off))
            elif -4096 < insn.off < 0:
                em.emit32(E.sub_imm(1, TMP2, addr, -insn.off))
            else:
                self._mov_imm(em, TMP2, insn.off & MASK64, 1)
                em.emit32(E.add_reg(1, TMP2, addr, TMP2))
            addr = TMP2
        s, fetch, op = r[insn.src], insn.imm & isa.ATOMIC_FETCH, insn.imm & ~isa.ATOMIC_FETCH
        if self.lse:
            if insn.imm == isa.ATOMIC_OPS["cmpxchg"]:
                em.emit32(E.casal(sz, r[0], s, addr))
            elif insn.imm == isa.ATOMIC_OPS["xchg"]:
                em.emit32(E.swpal(sz, s, s, addr))
            else:
                operand = s
                if op == isa.ATOMIC_OPS["and"]:  # ldclr clears the bits set in its operand
                    em.emit32(E.mvn(sf, TMP, s))
                    operand = TMP
                enc = E.ldclr if op == isa.ATOMIC_OPS["and"] else LSE[op]
                em.emit32(enc(sz, operand, s if fetch else XZR, addr, acquire=bool(fetch), release=bool(fetch)))
            return
        self._atomic_llsc(cg, pc, insn, sz, sf, addr, s, fetch, op)

    def _atomic_llsc(self, cg, pc, insn, sz, sf, addr, s, fetch, op) -> None:
        """Load-exclusive / store-exclusive loop for cores without LSE (feature -lse)."""
        em, r = cg.em, self.r
        self.labels += 1
        loop, done = ("llsc", self.labels), ("llsc-done", self.labels)
        # x9 (AX) is free here: the legaliser never leaves AX live across an atomic instruction
        old, new, status = TMP, TMP3, r[11]
        em.bind(loop)
        em.emit32(E.ldaxr(sz, old, addr))
        if insn.imm == isa.ATOMIC_OPS["cmpxchg"]:
            em.emit32(E.cmp_reg(sf, old, r[0]))
            em.branch(done, COND_FORMS[E.Cond.NE])
            em.emit32(E.stlxr(sz, status, s, addr))
            em.branch(loop, CBZ_FORMS[(True, 0, status)])
            em.bind(done)
            em.emit32(E.mov_reg(sf, r[0], old))
            em.emit32(E.dmb_ish())
            return
        if insn.imm == isa.ATOMIC_OPS["xchg"]:
            value = s
        else:
            em.emit32(ALU_REG[LLSC_OP[op]](sf, new, old, s))
            value = new
        em.emit32(E.stlxr(sz, status, value, addr))
        em.branch(loop, CBZ_FORMS[(True, 0, status)])
        em.emit32(E.dmb_ish())
        if fetch:
            em.emit32(E.mov_reg(sf, s, old))

    # -- 64-bit immediates and map addresses ----------------------------------------------------------------
    def _ld_imm64(self, cg, pc, insn, nxt) -> None:
        em, d = cg.em, self.r[insn.dst]
        ref = cg.ld_imm64_symbol(insn, nxt)
        if ref is None:
            self._mov_imm(em, d, isa.imm64(insn, nxt), 1)
            return
        symbol, addend, kind = ref
        for hw in (3, 2, 1, 0):  # movz #:abs_g3:sym, then movk g2_nc, g1_nc, g0_nc
            em.reloc(MOVW_BY_HW[hw], symbol, addend, kind)
            em.emit32(E.movz(1, d, 0, hw) if hw == 3 else E.movk(1, d, 0, hw))
