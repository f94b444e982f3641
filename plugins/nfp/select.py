"""The nfp instruction selector: BPF on 32-bit register pairs, one section per BPF instruction class.

Every BPF register is a GPR pair written to both banks (``("both", lo)``); a two-source instruction reads its
left operand from bank A and its right one from bank B. Constants that fit 8 bits are operands; wider ones go
through scratch GPRs with ``immed``. Every word comes from encode.py; branches carry BR_REL, the entry's exit
NEXT_PKT, helper calls BR_HELPER and return addresses IMMED_REL, as the Linux nfp JIT's image does.
"""

from __future__ import annotations

from bpfx import BranchForm, Unsupported, isa

from . import encode as E
from .abi import RET_ADDR, STACK_BASE_A
from .helpers import (DONE_SYMBOL, RELO_BR_HELPER, RELO_BR_REL, RELO_IMMED_ABS_HI, RELO_IMMED_ABS_LO,
                      RELO_IMMED_REL, RELO_NEXT_PKT, RELOC_TYPES)

M32 = 0xFFFFFFFF
Cls, Kind = isa.Cls, isa.Kind
FRAME = 512
SAVE_AREA = 64  # bytes of local memory per call level: the return address and r6-r9 (words 0, 1-8)
SAVE_BASE = 2048  # local memory byte address of the first call level's save area (LM3)
LM_STACK_BASE = 0  # local memory byte address of the entry function's stack when it lives there
# XDP verdict -> firmware action byte (low nibble: 1 pass, 2 drop, 4 redirect; high nibble: the statistic):
# aborted 0x82, drop 0x22, pass 0x11, tx 0x44, as the Linux JIT's outro and the firmware's ebpf_reentry agree
XDP_ACTION_TABLE = 0x44112282
XDP_ABORT = 0x82
HELPER_PLACEHOLDER = 15000  # BR_HELPER words hold 15000 + helper id until the loader patches them
SIZE_NAME = {1: "b", 2: "h", 4: "w", 8: "dw"}
# BPF condition -> (branch condition, operands swapped)
ORDERED = {"jge": ("bhs", False), "jlt": ("blo", False), "jgt": ("blo", True), "jle": ("bhs", True),
           "jsge": ("bge", False), "jslt": ("blt", False), "jsgt": ("blt", True), "jsle": ("bge", True)}
LOGIC = {"and": ("and", "and"), "or": ("or", "or"), "xor": ("xor", "xor"), "add": ("+", "+carry"),
         "sub": ("-", "-carry")}


def A(n: int):
    return ("a", n)


def B(n: int):
    return ("b", n)


def BOTH(n: int):
    return ("both", n)


def I(v: int):  # noqa: E743 - the operand constructor, named like A/B
    return ("i", v)


def LM3(word: int):
    return ("lm", 3, word)


class NfpSelector:
    reloc_types = RELOC_TYPES

    def __init__(self, abi, firmware):
        self.abi = abi
        self.fw = firmware
        self.r = abi.regs
        self.entry = ""
        self.nlabels = 0
        self.lm_stack = False  # the current function's BPF stack lives in local memory (see lm_frame_ok)
        self.lm2_window = None  # the 64-byte window of that stack ActLMAddr2 points at, while known
        self.leaders: frozenset[int] = frozenset()

    # -- emission ---------------------------------------------------------------------------------------------
    @staticmethod
    def w(em, word: int, relo: int = 0) -> None:
        em.emit((E.with_ecc(word) | relo << E.RELO_SHIFT).to_bytes(8, "little"))

    def label(self):
        self.nlabels += 1
        return ("nfp", self.nlabels)

    def br(self, em, cond: str, label, defer: int = 0) -> None:
        pos = em.pos
        em.reloc(RELO_BR_REL, self.entry, 0, "func")

        def enc(off: int, pos=pos):
            if (pos + off) // 8 >= 1 << 14:
                return None  # beyond the 14-bit address field: the emitter reports it
            return (E.with_ecc(E.br(cond, (pos + off) // 8, defer)) | RELO_BR_REL << E.RELO_SHIFT).to_bytes(8, "little")

        em.branch(label, (BranchForm(8, enc),))

    def const(self, em, dst, value: int) -> None:
        """dst = a 32-bit constant in one or two immed words."""
        value &= M32
        w = self.w
        if value < 0x10000:
            w(em, E.immed(dst, value))
        elif value & 0xFFFF == 0:
            w(em, E.immed(dst, value >> 16, shift=2))
        elif ~value & M32 < 0x10000:
            w(em, E.immed(dst, ~value & 0xFFFF, inv=True))
        elif value & 0xFF == 0 and value >> 8 < 0x10000:
            w(em, E.immed(dst, value >> 8, shift=1))
        else:
            w(em, E.immed(dst, value & 0xFFFF))
            w(em, E.immed(dst, value >> 16, width="word", shift=2))

    def operand(self, em, value: int, bank: str, scratch: int):
        """An operand holding a 32-bit constant: an 8-bit immediate, else loaded into GPR ``scratch``."""
        value &= M32
        if value < 256:
            return I(value)
        reg = (bank, scratch)
        self.const(em, reg, value)
        return reg

    def zero_hi(self, em, d: int) -> None:
        self.w(em, E.immed(BOTH(self.r[d][1]), 0))

    def mov_pair(self, em, dst: tuple[int, int], src: tuple[int, int]) -> None:
        if dst != src:
            self.w(em, E.alu(BOTH(dst[0]), None, "b", B(src[0])))
            self.w(em, E.alu(BOTH(dst[1]), None, "b", B(src[1])))

    # -- primitives the core uses -----------------------------------------------------------------------------
    def move(self, cg, dst, src) -> None:
        self.mov_pair(cg.em, dst, src)

    def call(self, cg, entry) -> None:
        em = cg.em
        self.lm2_window = None  # firmware subroutines may move the LM pointers
        if entry.address is None and entry.inline is None and not entry.implemented:
            raise Unsupported(f"helper {entry.name} ({entry.id}) is not offered by the nfp firmware",
                              insn=em.line_indices[-1] if em.line_indices else None)
        em.reloc(RELO_BR_HELPER, f"bpf_{entry.name}", 0, "helper")
        self.w(em, E.br("br", HELPER_PLACEHOLDER + entry.id, defer=1), RELO_BR_HELPER)
        ret = em.pos // 8 + 1
        em.reloc(RELO_IMMED_REL, self.entry, 0, "func")
        self.w(em, E.immed(B(0), ret), RELO_IMMED_REL)  # defer slot: the firmware returns through B0

    def call_local(self, cg, label) -> None:
        em = cg.em
        self.lm2_window = None
        self.br(em, "br", label, defer=1)
        ret = em.pos // 8 + 1
        em.reloc(RELO_IMMED_REL, self.entry, 0, "func")
        self.w(em, E.immed(B(RET_ADDR), ret), RELO_IMMED_REL)

    def prandom(self, cg) -> None:
        """get_prandom_u32 inline: the immed after a local_csr_rd receives the CSR's value."""
        r0lo, r0hi = self.r[0]
        self.w(cg.em, E.local_csr_rd(E.CSR_PSEUDO_RND_NUM))
        self.w(cg.em, E.immed(BOTH(r0lo), 0))
        self.w(cg.em, E.immed(BOTH(r0hi), 0))

    def jump(self, cg, label) -> None:
        self.br(cg.em, "br", label)

    @property
    def disassembler(self):
        from .disasm import disassemble

        max_len = self.fw.max_len

        def disasm(code: bytes, address: int):
            return disassemble(code, address)

        def footer(image) -> str:
            return f"; {len(image.code) // 8} of {max_len} instruction words (the firmware's instruction store)"

        disasm.footer = footer
        return disasm

    # -- frames -----------------------------------------------------------------------------------------------
    def _lm3_step(self, em, delta: str) -> None:
        """ActLMAddr3 += or -= one save area: read the CSR (the next immed receives it), adjust, write it back.
        The new pointer takes effect 3 instructions after the write."""
        w = self.w
        w(em, E.local_csr_rd(E.CSR_ACT_LM_ADDR[3]))
        w(em, E.immed(A(20), 0))
        w(em, E.alu(A(20), A(20), delta, I(SAVE_AREA)))
        w(em, E.local_csr_wr(E.CSR_ACT_LM_ADDR[3], A(20)))

    def prologue(self, cg, frame) -> None:
        em, w, r10 = cg.em, self.w, self.r[10]
        self.lm_stack = frame.is_entry and self.lm_frame_ok(cg.insns, frame.start, frame.end)
        self.lm2_window = None
        self.leaders = frozenset(t for pc, insn in enumerate(cg.insns) if isa.OPCODES[insn.opcode] is not None
                                 and (t := isa.jump_target(pc, insn)) is not None)
        if frame.is_entry:
            self.entry = frame.name
            w(em, E.immed(B(20), FRAME))
            w(em, E.alu(BOTH(r10[0]), A(STACK_BASE_A), "+", B(20)))
            w(em, E.immed(BOTH(r10[1]), 0))
            if self.lm_stack:  # the frame is local memory words 0-127: ActLMAddr0 = 0, usable 3 words later
                w(em, E.immed(A(20), LM_STACK_BASE))
                w(em, E.local_csr_wr(E.CSR_ACT_LM_ADDR[0], A(20)))
                for _ in range(3):
                    w(em, E.NOP)
            if frame.makes_calls:  # the call stack of return addresses and saved r6-r9 lives in local memory
                w(em, E.immed(A(20), SAVE_BASE - SAVE_AREA))
                w(em, E.local_csr_wr(E.CSR_ACT_LM_ADDR[3], A(20)))
            return
        # push a save area (LM3) and this frame's r10; the r10 update fills the CSR's latency
        self._lm3_step(em, "+")
        w(em, E.immed(B(20), FRAME))
        w(em, E.alu(BOTH(r10[0]), A(r10[0]), "+", B(20)))
        w(em, E.NOP)
        w(em, E.alu(LM3(0), None, "b", B(RET_ADDR)))
        saved = [r for r in (6, 7, 8, 9) if r in frame.written]
        frame.extra["saved"] = saved
        for r in saved:
            lo, hi = self.r[r]
            w(em, E.alu(LM3(2 * r - 11), None, "b", B(lo)))
            w(em, E.alu(LM3(2 * r - 10), None, "b", B(hi)))

    def epilogue(self, cg, frame) -> None:
        em, w, r10 = cg.em, self.w, self.r[10]
        if frame.is_entry:
            if cg.program.prog_type == "xdp":
                self.xdp_outro(em)
            em.reloc(RELO_NEXT_PKT, DONE_SYMBOL, 0, "func")
            w(em, E.br("br", 0), RELO_NEXT_PKT)
        else:
            for r in frame.extra.get("saved", ()):
                lo, hi = self.r[r]
                w(em, E.alu(BOTH(lo), None, "b", LM3(2 * r - 11)))
                w(em, E.alu(BOTH(hi), None, "b", LM3(2 * r - 10)))
            w(em, E.alu(BOTH(RET_ADDR), None, "b", LM3(0)))
            self._lm3_step(em, "-")
            w(em, E.immed(B(20), FRAME))
            w(em, E.alu(BOTH(r10[0]), A(r10[0]), "-", B(20)))
            w(em, E.rtn(B(RET_ADDR)))  # the third instruction after the CSR write: the caller sees the new LM3
        words = em.pos // 8
        if words > self.fw.max_len:
            raise Unsupported(f"program needs {words} instruction words; the firmware's instruction store holds "
                              f"{self.fw.max_len}")

    def xdp_outro(self, em) -> None:
        """The firmware's view of an XDP verdict, as the Linux JIT's outro gives it: the action byte
        (XDP_ACTIONS[r0], abort for anything above 3) in bits 16-23 of A0. Only bank A's copy changes: r0 stays
        whole in bank B."""
        w = self.w
        r0lo, r0hi = self.r[0]
        abort, done = self.label(), self.label()
        w(em, E.alu(None, A(r0hi), "or", I(0)))
        self.br(em, "bne", abort)
        w(em, E.alu(None, A(r0lo), "-", I(4)))
        self.br(em, "bhs", abort)
        w(em, E.shf(A(20), None, "none", B(r0lo), "shl", 32 - 3))  # 8 * r0: the table byte's position
        w(em, E.alu(None, None, "b", A(20)))
        self.const(em, B(21), XDP_ACTION_TABLE)
        w(em, E.shf(A(20), None, "none", B(21), "shr", 0))
        self.br(em, "br", done)
        em.bind(abort)
        w(em, E.immed(A(20), XDP_ABORT))
        em.bind(done)
        w(em, E.alu(B(23), None, "b", A(20)))  # ld_field's source must sit in the other bank
        w(em, E.ld_field(A(r0lo), 0b0100, B(23), "shl", 32 - 16))

    # -- dispatch ---------------------------------------------------------------------------------------------
    def lower(self, cg, pc: int, insn, nxt) -> None:
        if pc in self.leaders:
            self.lm2_window = None  # another path may arrive with ActLMAddr2 elsewhere
        info = isa.OPCODES[insn.opcode]
        kind = info.kind
        if kind == Kind.ALU:
            self.alu(cg, pc, insn, info)
        elif kind == Kind.ENDIAN:
            self.endian(cg, insn, info)
        elif kind == Kind.JCOND:
            self.jcond(cg, pc, insn, info)
        elif kind == Kind.JA:
            self.jump(cg, isa.jump_target(pc, insn))
        elif kind in (Kind.LDX, Kind.LDXSX):
            self.load(cg, insn, info, kind == Kind.LDXSX)
        elif kind in (Kind.ST, Kind.STX):
            self.store(cg, insn, info, kind == Kind.ST)
        elif kind == Kind.ATOMIC:
            self.atomic(cg, pc, insn, info)
        elif kind == Kind.LD_IMM64:
            self.ld_imm64(cg, insn, nxt)
        else:
            raise cg.unsupported(pc, f"{kind.name} instructions")

    # -- ALU / ALU64 ------------------------------------------------------------------------------------------
    def alu(self, cg, pc: int, insn, info) -> None:
        em, w = cg.em, self.w
        wide = info.cls == Cls.ALU64
        op = info.op
        dlo, dhi = self.r[insn.dst]
        if info.src_reg:
            slo, shi = self.r[insn.src]
        if op == "mov":
            if insn.off:
                return self.movsx(em, insn, wide)
            if info.src_reg:
                w(em, E.alu(BOTH(dlo), None, "b", B(slo)))
                if wide:
                    w(em, E.alu(BOTH(dhi), None, "b", B(shi)))
            else:
                self.const(em, BOTH(dlo), insn.imm)
                if wide:
                    self.const(em, BOTH(dhi), M32 if insn.imm < 0 else 0)
            if not wide:
                self.zero_hi(em, insn.dst)
            return
        if op in LOGIC:
            lo_op, hi_op = LOGIC[op]
            if info.src_reg:
                rlo, rhi = B(slo), B(shi)
            else:
                rlo = self.operand(em, insn.imm, "b", 20)
                rhi = self.operand(em, M32 if insn.imm < 0 else 0, "b", 21) if wide else None
            w(em, E.alu(BOTH(dlo), A(dlo), lo_op, rlo))
            if wide:
                w(em, E.alu(BOTH(dhi), A(dhi), hi_op, rhi))
            else:
                self.zero_hi(em, insn.dst)
            return
        if op == "neg":
            w(em, E.alu(BOTH(dlo), I(0), "-", B(dlo)))
            if wide:
                w(em, E.alu(BOTH(dhi), I(0), "-carry", B(dhi)))
            else:
                self.zero_hi(em, insn.dst)
            return
        if op == "mul":
            return self.mul(em, insn, info, wide)
        if op in ("div", "mod"):
            k = insn.imm
            if info.src_reg:
                k = self.known_divisor(cg, pc, insn.src, wide, bool(insn.off))
                if k is None:
                    name = ("s" if insn.off else "") + op
                    raise cg.unsupported(pc, f"{name} by a register whose value is not known at compile time: the "
                                             "NFP has no divider (a known divisor compiles to multiply/shift code)")
                if k == 0 or (insn.off and k == -1):
                    return self.divmod_trivial(em, insn, wide, op == "mod", k)
            return self.divmod(em, insn, wide, op == "mod", bool(insn.off), k)
        if op in ("lsh", "rsh", "arsh"):
            if info.src_reg:
                return self.shift_reg(em, insn, op, wide)
            return self.shift_imm(em, insn.dst, op, insn.imm & (63 if wide else 31), wide)
        raise cg.unsupported(pc, f"ALU operation {op}")

    def mul32(self, em, dst, left, right, high=None) -> None:
        w = self.w
        w(em, E.mul("start", "step1", left, right))
        for step in ("step1", "step2", "step3", "step4"):
            w(em, E.mul("32x32", step, left, right))
        w(em, E.mul("32x32", "last", dst))
        if high is not None:
            w(em, E.mul("32x32", "last2", high))

    def mul(self, em, insn, info, wide: bool) -> None:
        w = self.w
        dlo, dhi = self.r[insn.dst]
        if info.src_reg:
            slo, shi = self.r[insn.src]
            rlo, rhi = B(slo), B(shi)
        else:
            self.const(em, B(20), insn.imm)
            self.const(em, B(21), M32 if insn.imm < 0 else 0)
            rlo, rhi = B(20), B(21)
        if not wide:
            self.mul32(em, BOTH(dlo), A(dlo), rlo)
            self.zero_hi(em, insn.dst)
            return
        self.mul32(em, BOTH(28), A(dlo), rlo, BOTH(29))
        self.mul32(em, BOTH(30), A(dlo), rhi)
        w(em, E.alu(BOTH(29), A(29), "+", B(30)))
        self.mul32(em, BOTH(30), A(dhi), rlo)
        w(em, E.alu(BOTH(dhi), A(29), "+", B(30)))
        w(em, E.alu(BOTH(dlo), None, "b", B(28)))

    def movsx(self, em, insn, wide: bool) -> None:
        dlo, dhi = self.r[insn.dst]
        slo, _ = self.r[insn.src]
        self.sign_extend(em, (dlo, dhi), B(slo), insn.off, wide)

    def sign_extend(self, em, dst: tuple[int, int], src, bits: int, wide: bool) -> None:
        """dst pair = the low ``bits`` of ``src`` sign-extended (to 64 bits, or to 32 with a zero high word)."""
        w = self.w
        dlo, dhi = dst
        if bits < 32:
            w(em, E.shf(BOTH(dlo), None, "none", src, "shl", bits))  # << (32 - bits): encoded as 32 - n
            w(em, E.alu(None, None, "b", A(dlo)))  # the sign for asr
            w(em, E.shf(BOTH(dlo), None, "asr", B(dlo), "shr", 32 - bits))
        elif src != B(dlo):
            w(em, E.alu(BOTH(dlo), None, "b", src))
        if wide:
            w(em, E.alu(None, None, "b", A(dlo)))
            w(em, E.shf(BOTH(dhi), None, "asr", B(dlo), "shr", 31))
        else:
            w(em, E.immed(BOTH(dhi), 0))

    # shifts ---------------------------------------------------------------------------------------------------
    def shift_imm(self, em, dst: int, op: str, n: int, wide: bool) -> None:
        w = self.w
        lo, hi = self.r[dst]
        if not wide:
            if n:
                if op == "lsh":
                    w(em, E.shf(BOTH(lo), None, "none", B(lo), "shl", 32 - n))
                elif op == "rsh":
                    w(em, E.shf(BOTH(lo), None, "none", B(lo), "shr", n))
                else:
                    w(em, E.alu(None, None, "b", A(lo)))
                    w(em, E.shf(BOTH(lo), None, "asr", B(lo), "shr", n))
            self.zero_hi(em, dst)
            return
        if n == 0:
            return
        if op == "lsh":
            if n < 32:
                w(em, E.shf(BOTH(hi), A(hi), "none", B(lo), "dshr", 32 - n))
                w(em, E.shf(BOTH(lo), None, "none", B(lo), "shl", 32 - n))
            else:
                if n == 32:
                    w(em, E.alu(BOTH(hi), None, "b", B(lo)))
                else:
                    w(em, E.shf(BOTH(hi), None, "none", B(lo), "shl", 64 - n))
                w(em, E.immed(BOTH(lo), 0))
        elif op == "rsh":
            if n < 32:
                w(em, E.shf(BOTH(lo), A(hi), "none", B(lo), "dshr", n))
                w(em, E.shf(BOTH(hi), None, "none", B(hi), "shr", n))
            else:
                if n == 32:
                    w(em, E.alu(BOTH(lo), None, "b", B(hi)))
                else:
                    w(em, E.shf(BOTH(lo), None, "none", B(hi), "shr", n - 32))
                w(em, E.immed(BOTH(hi), 0))
        else:
            if n < 32:
                w(em, E.shf(BOTH(lo), A(hi), "none", B(lo), "dshr", n))
                w(em, E.alu(None, None, "b", A(hi)))
                w(em, E.shf(BOTH(hi), None, "asr", B(hi), "shr", n))
            else:
                w(em, E.alu(None, None, "b", A(hi)))
                if n == 32:
                    w(em, E.alu(BOTH(lo), None, "b", B(hi)))
                else:
                    w(em, E.shf(BOTH(lo), None, "asr", B(hi), "shr", n - 32))
                w(em, E.alu(None, None, "b", A(hi)))
                w(em, E.shf(BOTH(hi), None, "asr", B(hi), "shr", 31))

    def _signed_amount(self, em, value_reg: int, count) -> None:
        """Previous ALU result = the sign bit of ``value_reg`` | the shift count (0-31), for an indirect asr."""
        w = self.w
        w(em, E.shf(A(23), None, "none", B(value_reg), "shr", 31))
        w(em, E.shf(A(23), None, "none", A(23), "shl", 1))  # << 31
        w(em, E.alu(None, A(23), "or", count))

    def shift_reg(self, em, insn, op: str, wide: bool) -> None:
        """Shift by a register: the legaliser has masked the count, so it is 0-63 (0-31 for 32 bits)."""
        w = self.w
        lo, hi = self.r[insn.dst]
        s = self.r[insn.src][0]
        if not wide:
            if op == "lsh":
                w(em, E.alu(None, I(32), "-", B(s)))  # an indirect shl shifts by 32 - (prev & 31)
                w(em, E.shf(BOTH(lo), None, "none", B(lo), "shl", 0))
            elif op == "rsh":
                w(em, E.alu(None, None, "b", B(s)))
                w(em, E.shf(BOTH(lo), None, "none", B(lo), "shr", 0))
            else:
                self._signed_amount(em, lo, B(s))
                w(em, E.shf(BOTH(lo), None, "asr", B(lo), "shr", 0))
            self.zero_hi(em, insn.dst)
            return
        done, big = self.label(), self.label()
        w(em, E.alu(None, None, "b", B(s)))
        self.br(em, "beq", done)
        self._br_bit(em, A(s), 5, big)
        if op == "lsh":
            w(em, E.alu(None, I(32), "-", B(s)))
            w(em, E.shf(BOTH(hi), A(hi), "none", B(lo), "dshr", 0))
            w(em, E.shf(BOTH(lo), None, "none", B(lo), "shl", 0))
            self.br(em, "br", done)
            em.bind(big)
            w(em, E.alu(None, I(64), "-", B(s)))
            w(em, E.shf(BOTH(hi), None, "none", B(lo), "shl", 0))
            w(em, E.immed(BOTH(lo), 0))
        elif op == "rsh":
            w(em, E.shf(BOTH(lo), A(hi), "none", B(lo), "dshr", 0))
            w(em, E.shf(BOTH(hi), None, "none", B(hi), "shr", 0))
            self.br(em, "br", done)
            em.bind(big)
            w(em, E.shf(BOTH(lo), None, "none", B(hi), "shr", 0))
            w(em, E.immed(BOTH(hi), 0))
        else:
            w(em, E.shf(BOTH(lo), A(hi), "none", B(lo), "dshr", 0))
            self._signed_amount(em, hi, B(s))
            w(em, E.shf(BOTH(hi), None, "asr", B(hi), "shr", 0))
            self.br(em, "br", done)
            em.bind(big)
            self._signed_amount(em, hi, B(s))
            w(em, E.shf(BOTH(lo), None, "asr", B(hi), "shr", 0))
            w(em, E.alu(None, None, "b", A(hi)))
            w(em, E.shf(BOTH(hi), None, "asr", B(hi), "shr", 31))
        em.bind(done)

    def _br_bit(self, em, src, bit: int, label, set_: bool = True) -> None:
        pos = em.pos
        em.reloc(RELO_BR_REL, self.entry, 0, "func")

        def enc(off: int, pos=pos):
            if (pos + off) // 8 >= 1 << 14:
                return None
            word = E.br_bset(src, bit, (pos + off) // 8, set_=set_)
            return (E.with_ecc(word) | RELO_BR_REL << E.RELO_SHIFT).to_bytes(8, "little")

        em.branch(label, (BranchForm(8, enc),))

    # division by a constant -----------------------------------------------------------------------------------
    def known_divisor(self, cg, pc: int, reg: int, wide: bool, signed: bool) -> int | None:
        """The divisor in ``reg`` if the core's value tracking proves it constant (signed for sdiv/smod)."""
        if reg > 10:
            return None  # AX: a register of the legaliser's, which the analysis of the program never sees
        if getattr(self, "_facts_of", None) is not cg.program:
            from bpfx import value_facts

            try:
                self._facts = value_facts(cg.program)
            except Exception:  # noqa: BLE001 - an analysis failure only means no constant is known here
                self._facts = None
            self._facts_of = cg.program
        if self._facts is None:
            return None
        value = self._facts.known_constant(cg.origin[pc], reg)
        if value is None:
            return None
        bits = 64 if wide else 32
        value &= (1 << bits) - 1
        if signed and value >> (bits - 1):
            value -= 1 << bits
        return value

    def divmod_trivial(self, em, insn, wide: bool, is_mod: bool, k: int) -> None:
        """Division by 0 (quotient 0, dividend kept) and signed division by -1 (negation, remainder 0)."""
        w = self.w
        lo, hi = self.r[insn.dst]
        if k == 0 and is_mod:
            pass
        elif k == 0 or is_mod:
            w(em, E.immed(BOTH(lo), 0))
            w(em, E.immed(BOTH(hi), 0))
        else:
            w(em, E.alu(BOTH(lo), I(0), "-", B(lo)))
            if wide:
                w(em, E.alu(BOTH(hi), I(0), "-carry", B(hi)))
        if not wide:
            self.zero_hi(em, insn.dst)

    def divmod(self, em, insn, wide: bool, is_mod: bool, signed: bool, k: int) -> None:
        """dst = dst / k or dst % k for a constant k (signed: as a signed number of the operation's width)."""
        w = self.w
        lo, hi = self.r[insn.dst]
        bits = 64 if wide else 32
        mask = (1 << bits) - 1
        neg_k = False
        if signed:
            neg_k = k < 0
            divisor = abs(k)
        else:
            divisor = k & mask  # ALU64 sign-extends the immediate
        if signed:  # |x|, remembering x's sign in A23
            w(em, E.alu(A(23), None, "b", B(hi if wide else lo)))
            skip = self.label()
            self._br_bit(em, A(hi if wide else lo), 31, skip, set_=False)
            w(em, E.alu(BOTH(lo), I(0), "-", B(lo)))
            if wide:
                w(em, E.alu(BOTH(hi), I(0), "-carry", B(hi)))
            em.bind(skip)
        if divisor & (divisor - 1) == 0:
            shift = divisor.bit_length() - 1
            if is_mod:
                self.const(em, B(20), (divisor - 1) & M32)
                w(em, E.alu(BOTH(lo), A(lo), "and", B(20)))
                if wide:
                    self.const(em, B(21), (divisor - 1) >> 32)
                    w(em, E.alu(BOTH(hi), A(hi), "and", B(21)))
            else:
                self.shift_imm(em, insn.dst, "rsh", shift, wide)
        elif divisor >> (bits - 1):
            self._divmod_big(em, lo, hi, divisor, is_mod, wide)
        elif not wide:
            self._divmod_reciprocal(em, lo, divisor, is_mod)
        else:
            self._divmod_loop(em, lo, hi, divisor, is_mod, wide)
        if not wide:
            self.zero_hi(em, insn.dst)
        if signed:  # quotient negative when the signs differ; remainder takes the dividend's sign
            done = self.label()
            if is_mod or not neg_k:
                self._br_bit(em, A(23), 31, done, set_=False)
            else:
                self._br_bit(em, A(23), 31, done, set_=True)
            w(em, E.alu(BOTH(lo), I(0), "-", B(lo)))
            if wide:
                w(em, E.alu(BOTH(hi), I(0), "-carry", B(hi)))
            else:
                self.zero_hi(em, insn.dst)
            em.bind(done)

    def _divmod_big(self, em, lo, hi, divisor, is_mod, wide) -> None:
        """A divisor with its top bit set: the quotient is 0 or 1."""
        w = self.w
        less, done = self.label(), self.label()
        self.const(em, B(20), divisor & M32)
        if wide:
            self.const(em, B(21), divisor >> 32)
        w(em, E.alu(BOTH(26), A(lo), "-", B(20)))
        if wide:
            w(em, E.alu(BOTH(27), A(hi), "-carry", B(21)))
        self.br(em, "blo", less)
        if is_mod:
            w(em, E.alu(BOTH(lo), None, "b", B(26)))
            if wide:
                w(em, E.alu(BOTH(hi), None, "b", B(27)))
            em.bind(less)
            return
        w(em, E.immed(BOTH(lo), 1))
        if wide:
            w(em, E.immed(BOTH(hi), 0))
        self.br(em, "br", done)
        em.bind(less)
        w(em, E.immed(BOTH(lo), 0))
        if wide:
            w(em, E.immed(BOTH(hi), 0))
        em.bind(done)

    def _divmod_reciprocal(self, em, lo, divisor, is_mod) -> None:
        """32-bit x / d by reciprocal multiply (Granlund and Montgomery 1994, fig. 4.1): with l = ceil(log2 d)
        and m = floor(2^32 (2^l - d) / d) + 1, t = mulhi(m, x) and q = (t + ((x - t) >> 1)) >> (l - 1), exact for
        every 32-bit x."""
        w = self.w
        shift = (divisor - 1).bit_length()
        magic = ((1 << 32) * ((1 << shift) - divisor)) // divisor + 1
        self.const(em, B(20), magic)
        self.mul32(em, BOTH(27), A(lo), B(20), BOTH(26))  # 26 = t = mulhi(m, x)
        w(em, E.alu(BOTH(27), A(lo), "-", B(26)))
        w(em, E.shf(BOTH(27), None, "none", B(27), "shr", 1))
        w(em, E.alu(BOTH(26), A(26), "+", B(27)))
        if shift > 1:
            w(em, E.shf(BOTH(26), None, "none", B(26), "shr", shift - 1))
        if not is_mod:
            w(em, E.alu(BOTH(lo), None, "b", B(26)))
            return
        self.const(em, B(20), divisor)
        self.mul32(em, BOTH(27), A(26), B(20))
        w(em, E.alu(BOTH(lo), A(lo), "-", B(27)))

    def _divmod_loop(self, em, lo, hi, divisor, is_mod, wide) -> None:
        """64-bit shift-subtract division by a constant below 2^63: one quotient bit per iteration (a 64-bit
        reciprocal needs the high half of a 128-bit product: four 32x32 multiplies and a carry chain)."""
        w = self.w
        loop, skip = self.label(), self.label()
        bits = 64 if wide else 32
        # q = 28:29, r = 30:31 (both banks), divisor in B20:B21, counter in A20, r - divisor in 26:27
        w(em, E.alu(BOTH(28), None, "b", B(lo)))
        w(em, E.immed(BOTH(30), 0))
        self.const(em, B(20), divisor & M32)
        if wide:
            w(em, E.alu(BOTH(29), None, "b", B(hi)))
            w(em, E.immed(BOTH(31), 0))
            self.const(em, B(21), divisor >> 32)
        w(em, E.immed(A(20), bits))
        em.bind(loop)
        if wide:
            w(em, E.shf(BOTH(31), A(31), "none", B(30), "dshr", 31))
            w(em, E.shf(BOTH(30), A(30), "none", B(29), "dshr", 31))
            w(em, E.shf(BOTH(29), A(29), "none", B(28), "dshr", 31))
        else:
            w(em, E.shf(BOTH(30), A(30), "none", B(28), "dshr", 31))
        w(em, E.shf(BOTH(28), None, "none", B(28), "shl", 31))
        w(em, E.alu(BOTH(26), A(30), "-", B(20)))
        if wide:
            w(em, E.alu(BOTH(27), A(31), "-carry", B(21)))
        self.br(em, "blo", skip)
        w(em, E.alu(BOTH(30), None, "b", B(26)))
        if wide:
            w(em, E.alu(BOTH(31), None, "b", B(27)))
        w(em, E.alu(BOTH(28), A(28), "or", I(1)))
        em.bind(skip)
        w(em, E.alu(A(20), A(20), "-", I(1)))
        self.br(em, "bne", loop)
        src = 30 if is_mod else 28
        w(em, E.alu(BOTH(lo), None, "b", B(src)))
        if wide:
            w(em, E.alu(BOTH(hi), None, "b", B(src + 1)))

    # byte swaps -----------------------------------------------------------------------------------------------
    def _bswap32(self, em, dst: int, src) -> None:
        """dst (both banks) = bswap32(src); uses A/B 23."""
        w = self.w
        w(em, E.shf(A(23), None, "none", src, "rot", 8))
        w(em, E.ld_field(A(23), 0b0101, src, "rot", 24))
        w(em, E.alu(BOTH(dst), None, "b", A(23)))

    def endian(self, cg, insn, info) -> None:
        em, w = cg.em, self.w
        lo, hi = self.r[insn.dst]
        width = insn.imm
        swap = info.cls == Cls.ALU64 or info.src_reg  # bswap, or to_be on this little-endian core
        if not swap:
            if width == 16:
                self.const(em, B(20), 0xFFFF)
                w(em, E.alu(BOTH(lo), A(lo), "and", B(20)))
            if width in (16, 32):
                w(em, E.immed(BOTH(hi), 0))
            return
        if width == 16:
            w(em, E.ld_field(A(23), 0b0001, B(lo), "shr", 8, zero=True))
            w(em, E.ld_field(A(23), 0b0010, B(lo), "shl", 24))
            w(em, E.alu(BOTH(lo), None, "b", A(23)))
            w(em, E.immed(BOTH(hi), 0))
        elif width == 32:
            self._bswap32(em, lo, B(lo))
            w(em, E.immed(BOTH(hi), 0))
        else:
            w(em, E.alu(BOTH(28), None, "b", B(lo)))
            self._bswap32(em, lo, B(hi))
            self._bswap32(em, hi, B(28))

    # -- jumps ------------------------------------------------------------------------------------------------
    def jcond(self, cg, pc: int, insn, info) -> None:
        em, w = cg.em, self.w
        wide = info.cls == Cls.JMP
        target = isa.jump_target(pc, insn)
        op = info.op
        dlo, dhi = self.r[insn.dst]
        swapped = op in ORDERED and ORDERED[op][1]
        if info.src_reg:
            slo, shi = self.r[insn.src]
            src_lo_a, src_lo_b, src_hi_a, src_hi_b = A(slo), B(slo), A(shi), B(shi)
        else:
            k_hi = M32 if insn.imm < 0 else 0
            bank = "a" if swapped else "b"
            src_lo_a = src_lo_b = self.operand(em, insn.imm, bank, 20)
            src_hi_a = src_hi_b = self.operand(em, k_hi, bank, 21) if wide else None
        if op in ("jeq", "jne", "jset"):
            alu_op = "and" if op == "jset" else "xor"
            cond = "beq" if op == "jeq" else "bne"
            if wide:
                w(em, E.alu(A(23), A(dlo), alu_op, src_lo_b))
                w(em, E.alu(B(23), A(dhi), alu_op, src_hi_b))
                w(em, E.alu(None, A(23), "or", B(23)))
            else:
                w(em, E.alu(None, A(dlo), alu_op, src_lo_b))
            self.br(em, cond, target)
            return
        cond, swapped = ORDERED[op]
        if swapped:
            left_lo, right_lo, left_hi, right_hi = src_lo_a, B(dlo), src_hi_a, B(dhi)
        else:
            left_lo, right_lo, left_hi, right_hi = A(dlo), src_lo_b, A(dhi), src_hi_b
        w(em, E.alu(None, left_lo, "-", right_lo))
        if wide:
            w(em, E.alu(None, left_hi, "-carry", right_hi))
        self.br(em, cond, target)

    # -- memory -----------------------------------------------------------------------------------------------
    def address(self, em, base: int, off: int):
        """(left, right) operands of a command's address base + off."""
        lo = self.r[base][0]
        if 0 <= off < 128:
            return A(lo), I(off)
        self.const(em, B(20), off)
        return A(lo), B(20)

    @staticmethod
    def lm_frame_ok(insns, start: int, end: int) -> bool:
        """Whether a function's stack can live in local memory: it has one, r10 is only ever the base of loads,
        stores and atomics (never copied, so no pointer into the frame exists), each naturally aligned."""
        used = False
        for insn in insns[start:end]:
            info = isa.OPCODES[insn.opcode]
            if info is None:
                continue
            kind = info.kind
            if kind in (Kind.LDX, Kind.LDXSX) and insn.src == 10 or kind in (Kind.ST, Kind.STX, Kind.ATOMIC) \
                    and insn.dst == 10:
                if insn.off % info.size or not -FRAME <= insn.off < 0:
                    return False
                used = True
            elif info.src_reg and insn.src == 10 and kind not in (Kind.LDX, Kind.LDXSX, Kind.JCOND):
                return False
            if kind in (Kind.ST, Kind.STX, Kind.ATOMIC) and insn.src == 10 and info.src_reg:
                return False
        return used

    def lm_slot(self, em, off: int) -> tuple[int, int]:
        """(ActLMAddr index, word offset) of the stack word holding byte r10 + off, moving ActLMAddr2 to its
        64-byte window first when needed (3 words of latency)."""
        word = (FRAME + off) // 4
        window, idx = divmod(word, 16)
        if window == 0:
            return 0, idx
        if self.lm2_window != window:
            self.w(em, E.immed(A(20), LM_STACK_BASE + 64 * window))
            self.w(em, E.local_csr_wr(E.CSR_ACT_LM_ADDR[2], A(20)))
            for _ in range(3):
                self.w(em, E.NOP)
            self.lm2_window = window
        return 2, idx

    def lm_load(self, em, insn, size: int, signed: bool) -> None:
        w = self.w
        lo, hi = self.r[insn.dst]
        ptr, idx = self.lm_slot(em, insn.off)
        if size == 8:
            w(em, E.alu(BOTH(lo), None, "b", ("lm", ptr, idx)))
            w(em, E.alu(BOTH(hi), None, "b", ("lm", ptr, idx + 1)))
            return
        byte = (FRAME + insn.off) % 4
        w(em, E.alu(B(23), None, "b", ("lm", ptr, idx)))
        if byte:
            w(em, E.shf(B(23), None, "none", B(23), "shr", 8 * byte))
        if signed:
            self.sign_extend(em, (lo, hi), B(23), 8 * size, True)
            return
        if size == 4:
            w(em, E.alu(BOTH(lo), None, "b", B(23)))
        elif size == 1:
            w(em, E.alu(BOTH(lo), I(0xFF), "and", B(23)))
        else:
            self.const(em, A(20), 0xFFFF)
            w(em, E.alu(BOTH(lo), A(20), "and", B(23)))
        w(em, E.immed(BOTH(hi), 0))

    def lm_store(self, em, insn, size: int, src: tuple[int, int] | None) -> None:
        """Store the pair ``src`` (or, when None, the instruction's immediate) to the LM stack."""
        w = self.w
        ptr, idx = self.lm_slot(em, insn.off)
        if src is None:
            if size >= 4:
                self.const(em, ("lm", ptr, idx), insn.imm)
                if size == 8:
                    w(em, E.immed(("lm", ptr, idx + 1), 0, inv=insn.imm < 0))
                return
            self.const(em, B(28), insn.imm)
            src_lo = B(28)
        else:
            src_lo = B(src[0])
            if size >= 4:
                w(em, E.alu(("lm", ptr, idx), None, "b", src_lo))
                if size == 8:
                    w(em, E.alu(("lm", ptr, idx + 1), None, "b", B(src[1])))
                return
        byte = (FRAME + insn.off) % 4
        mask = (0xFF if size == 1 else 0xFFFF) << (8 * byte)
        self.const(em, B(20), mask)
        w(em, E.alu(A(23), ("lm", ptr, idx), "a&~b", B(20)))  # the other bytes of the word
        if byte:
            w(em, E.shf(A(21), None, "none", src_lo, "shl", 32 - 8 * byte))
        else:
            w(em, E.alu(A(21), None, "b", src_lo))
        w(em, E.alu(B(21), A(21), "and", B(20)))
        w(em, E.alu(("lm", ptr, idx), A(23), "or", B(21)))

    def lm_atomic(self, em, insn, info) -> None:
        """Atomics on the LM stack: this context's private memory, so read, modify and write is atomic."""
        w = self.w
        size = info.size
        wide = size == 8
        op = insn.imm
        base = op & ~isa.ATOMIC_FETCH
        slo, shi = self.r[insn.src]
        ptr, idx = self.lm_slot(em, insn.off)
        lo_m, hi_m = ("lm", ptr, idx), ("lm", ptr, idx + 1)
        w(em, E.alu(BOTH(28), None, "b", lo_m))  # the old value
        if wide:
            w(em, E.alu(BOTH(29), None, "b", hi_m))
        if base in (0x00, 0x40, 0x50, 0xA0):
            lo_op, hi_op = {0x40: ("or", "or"), 0x50: ("and", "and"), 0xA0: ("xor", "xor"),
                            0x00: ("+", "+carry")}[base]
            w(em, E.alu(lo_m, A(28), lo_op, B(slo)))
            if wide:
                w(em, E.alu(hi_m, A(29), hi_op, B(shi)))
        elif op == isa.ATOMIC_OPS["xchg"]:
            w(em, E.alu(lo_m, None, "b", B(slo)))
            if wide:
                w(em, E.alu(hi_m, None, "b", B(shi)))
        else:  # cmpxchg
            r0lo, r0hi = self.r[0]
            keep = self.label()
            if wide:
                w(em, E.alu(A(23), A(28), "xor", B(r0lo)))
                w(em, E.alu(B(23), A(r0hi), "xor", B(29)))
                w(em, E.alu(None, A(23), "or", B(23)))
            else:
                w(em, E.alu(None, A(28), "xor", B(r0lo)))
            self.br(em, "bne", keep)
            w(em, E.alu(lo_m, None, "b", B(slo)))
            if wide:
                w(em, E.alu(hi_m, None, "b", B(shi)))
            em.bind(keep)
        if op & isa.ATOMIC_FETCH:
            flo, fhi = self.r[0] if op == isa.ATOMIC_OPS["cmpxchg"] else (slo, shi)
            w(em, E.alu(BOTH(flo), None, "b", B(28)))
            if wide:
                w(em, E.alu(BOTH(fhi), None, "b", B(29)))
            else:
                w(em, E.immed(BOTH(fhi), 0))

    def load(self, cg, insn, info, signed: bool) -> None:
        em, w = cg.em, self.w
        size = info.size
        if self.lm_stack and insn.src == 10:
            return self.lm_load(em, insn, size, signed)
        left, right = self.address(em, insn.src, insn.off)
        w(em, E.cmd("read8", 0, left, right, size - 1))
        lo, hi = self.r[insn.dst]
        if signed and size < 8:
            self.sign_extend(em, (lo, hi), ("x", 0), size * 8, True)
            return
        w(em, E.alu(BOTH(lo), None, "b", ("x", 0)))
        if size == 8:
            w(em, E.alu(BOTH(hi), None, "b", ("x", 1)))
        else:
            w(em, E.immed(BOTH(hi), 0))

    def store(self, cg, insn, info, imm: bool) -> None:
        em, w = cg.em, self.w
        size = info.size
        if self.lm_stack and insn.dst == 10:
            return self.lm_store(em, insn, size, None if imm else self.r[insn.src])
        if imm:
            self.const(em, BOTH(28), insn.imm)
            w(em, E.alu(("x", 0), None, "b", B(28)))
            if size == 8:
                w(em, E.immed(("x", 1), 0, inv=insn.imm < 0))
        else:
            slo, shi = self.r[insn.src]
            w(em, E.alu(("x", 0), None, "b", B(slo)))
            if size == 8:
                w(em, E.alu(("x", 1), None, "b", B(shi)))
        left, right = self.address(em, insn.dst, insn.off)
        w(em, E.cmd("write8_swap", 0, left, right, size - 1))

    def atomic(self, cg, pc: int, insn, info) -> None:
        em, w = cg.em, self.w
        if self.lm_stack and insn.dst == 10:
            return self.lm_atomic(em, insn, info)
        size = info.size
        wide = size == 8
        op = insn.imm
        slo, shi = self.r[insn.src]
        if op == isa.ATOMIC_OPS["add"]:  # the memory unit's atomic add: any memory
            w(em, E.alu(("x", 0), None, "b", B(slo)))
            if wide:
                w(em, E.alu(("x", 1), None, "b", B(shi)))
            left, right = self.address(em, insn.dst, insn.off)
            w(em, E.cmd("add", 0, left, right, 1 if wide else 0))
            return
        name = next((k for k, v in isa.ATOMIC_OPS.items() if v == op & ~isa.ATOMIC_FETCH), hex(op))
        if op & isa.ATOMIC_FETCH:
            name += " with fetch"
        if insn.dst != 10:
            raise cg.unsupported(pc, f"atomic {name} on memory other than the stack (the NFP memory unit only "
                                     "adds atomically; the private stack can be read, modified and written)")
        left, right = self.address(em, insn.dst, insn.off)
        w(em, E.cmd("read8", 0, left, right, size - 1))
        base = op & ~isa.ATOMIC_FETCH
        if base in (isa.ATOMIC_OPS["or"], isa.ATOMIC_OPS["and"], isa.ATOMIC_OPS["xor"], isa.ATOMIC_OPS["add"]):
            lo_op, hi_op = {0x40: ("or", "or"), 0x50: ("and", "and"), 0xA0: ("xor", "xor"),
                            0x00: ("+", "+carry")}[base]
            w(em, E.alu(("x", 0), ("x", 0), lo_op, B(slo)))
            if wide:
                w(em, E.alu(("x", 1), ("x", 1), hi_op, B(shi)))
        elif op == isa.ATOMIC_OPS["xchg"]:
            w(em, E.alu(("x", 0), None, "b", B(slo)))
            if wide:
                w(em, E.alu(("x", 1), None, "b", B(shi)))
        else:  # cmpxchg: store src when memory equals r0; r0 gets the old value
            r0lo, r0hi = self.r[0]
            keep = self.label()
            w(em, E.alu(("x", 0), None, "b", ("x", 0)))
            if wide:
                w(em, E.alu(("x", 1), None, "b", ("x", 1)))
                w(em, E.alu(A(23), ("x", 0), "xor", B(r0lo)))
                w(em, E.alu(B(23), A(r0hi), "xor", ("x", 1)))
                w(em, E.alu(None, A(23), "or", B(23)))
            else:
                w(em, E.alu(None, ("x", 0), "xor", B(r0lo)))
            self.br(em, "bne", keep)
            w(em, E.alu(("x", 0), None, "b", B(slo)))
            if wide:
                w(em, E.alu(("x", 1), None, "b", B(shi)))
            em.bind(keep)
        w(em, E.cmd("write8_swap", 0, left, right, size - 1))
        if op & isa.ATOMIC_FETCH:
            flo, fhi = self.r[0] if op == isa.ATOMIC_OPS["cmpxchg"] else (slo, shi)
            w(em, E.alu(BOTH(flo), None, "b", ("x", 0)))
            if wide:
                w(em, E.alu(BOTH(fhi), None, "b", ("x", 1)))
            else:
                w(em, E.immed(BOTH(fhi), 0))

    def ld_imm64(self, cg, insn, nxt) -> None:
        em, w = cg.em, self.w
        lo, hi = self.r[insn.dst]
        sym = cg.ld_imm64_symbol(insn, nxt)
        if sym is None:
            self.const(em, BOTH(lo), insn.imm)
            self.const(em, BOTH(hi), nxt.imm)
            return
        symbol, addend, kind = sym
        em.reloc(RELO_IMMED_ABS_LO, symbol, addend, kind)
        w(em, E.immed(BOTH(lo), 0), RELO_IMMED_ABS_LO)
        em.reloc(RELO_IMMED_ABS_HI, symbol, addend, kind)
        w(em, E.immed(BOTH(lo), 0, width="word", shift=2), RELO_IMMED_ABS_HI)
        w(em, E.immed(BOTH(hi), 0))
