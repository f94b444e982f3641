"""The riscv64 instruction selector: one section per BPF instruction class.

The core's codegen driver calls ``lower`` for every instruction except calls and exit, and the primitives
(``move``, ``call``, ``call_local``, ``jump``) for those. Every encoding comes from encode.py; the selector
writes 32-bit forms and, with the ``c`` feature, ``emit`` swaps in the compressed form where one exists.

Facts the lowering relies on:
- ALU32: the W forms sign-extend their result and the 64-bit logic ops leave the upper half as it was, so every
  ALU32 result is zero-extended here (``zext.w`` with Zba, ``slli``+``srli`` otherwise), except where the value
  is already zero-extended (``srliw`` by 1..31, ``andi`` with a non-negative mask, ``li`` of a u32) or the
  extension is dead (the core's ``cg.upper_half_dead``: no path reads the upper half before it is overwritten).
  (Leaving it out also where the operands' registers are known zero-extended, e.g. an ``or`` of two loaded
  words, saved 14 of ~4,200 executed instructions on the benchmark corpus for ~8% more compile time: not done.)
  Every 32-bit lowering here reads only the low halves of its operands, which that query relies on.
- JMP32 compares the sign-extended low halves (``sext.w``): sign extension keeps both the signed and the
  unsigned order of 32-bit values, so one extension serves every condition. An operand needs none when the
  instruction that wrote it on the straight-line path (the core's ``cg.local_def``) left it extended (``_state``:
  loads, constants, W-form results, zero-extended ALU32 results; zero extension serves eq, ne and the unsigned
  conditions when both operands have it); eq/ne otherwise branch on the ``subw``/``addiw`` difference.
- Byte swaps without Zbb: shift/mask sequences; a 2- or 4-byte load followed by a swap of its register is one
  sequence of byte loads in swapped order (``_fuses``); a swap of a known constant is folded into a li or a pool
  entry.
- The BPF stack is addressed from sp (r10 = sp + the frame's stack size); when r10's value is used it is
  materialised in a scratch register, so s5 is never written.
- Branches start at their shortest form and the core's Emitter relaxes only those out of range:
  [c.beqz/c.bnez (+-256 B)] -> bcc (+-4 KiB) -> inverted bcc over jal (+-1 MiB) -> inverted bcc over
  auipc+jalr (+-2 GiB); an exit before the end repeats a short epilogue instead of jumping to it.
"""

from __future__ import annotations

import struct
from functools import lru_cache, cache

from bpfx import BY_INSN, BY_SELECTOR, BY_UPPER, BranchForm, TableSelector, isa

from . import encode as E
from .abi import RA, SP, T0, T1, T2, T3, ZERO
from .helpers import R_RISCV_64, R_RISCV_CALL_PLT, R_RISCV_HI20, R_RISCV_LO12_I, RELOC_TYPES

Cls, Kind = isa.Cls, isa.Kind
_PACK32 = struct.Struct("<I").pack
_PACK16 = struct.Struct("<H").pack
_PACK_N = [struct.Struct(f"<{n}I").pack for n in range(64)]  # n 32-bit words at once

# BPF condition -> (branch funct3, operands swapped)
COND = {
    "jeq": (E.BEQ, False), "jne": (E.BNE, False), "jgt": (E.BLTU, True), "jge": (E.BGEU, False),
    "jlt": (E.BLTU, False), "jle": (E.BGEU, True), "jsgt": (E.BLT, True), "jsge": (E.BGE, False),
    "jslt": (E.BLT, False), "jsle": (E.BGE, True),
}
# register-register ALU ops: op -> (ALU64 encoder, ALU32 encoder); None: the 64-bit op then zero-extension
ALU_REG = {
    "add": (E.add, E.addw), "sub": (E.sub, E.subw), "or": (E.or_, None), "and": (E.and_, None),
    "xor": (E.xor, None), "lsh": (E.sll, E.sllw), "rsh": (E.srl, E.srlw), "arsh": (E.sra, E.sraw),
    "mul": (E.mul, E.mulw),
}
# (op, signed) -> (ALU64 encoder, ALU32 encoder)
DIVMOD = {
    ("div", False): (E.divu, E.divuw), ("div", True): (E.div, E.divw),
    ("mod", False): (E.remu, E.remuw), ("mod", True): (E.rem, E.remw),
}
IMM12 = {"add": E.addi, "and": E.andi, "or": E.ori, "xor": E.xori}
SHIFT_IMM = {"lsh": (E.slli, E.slliw), "rsh": (E.srli, E.srliw), "arsh": (E.srai, E.sraiw)}
CMPXCHG = isa.ATOMIC_OPS["cmpxchg"]
_MOV32_K = Cls.ALU | isa.SRC_K | isa.ALU_OPS["mov"]
# byte swaps: be (ALU class, on a little-endian core) and bswap (ALU64 class); le is a truncation
_IS_SWAP = [bool(info and info.kind == Kind.ENDIAN and (info.cls == Cls.ALU64 or info.src_reg)) for info in isa.OPCODES]
# enum members as module constants for the per-instruction paths (an IntEnum member lookup costs 80 ns on 3.11)
_ALU, _ALU64, _JMP32 = Cls.ALU, Cls.ALU64, Cls.JMP32
_K_ALU, _K_ENDIAN, _K_LDX, _K_LDXSX, _K_LD_IMM64 = Kind.ALU, Kind.ENDIAN, Kind.LDX, Kind.LDXSX, Kind.LD_IMM64
_UNTRACKED_WRITERS = frozenset((Kind.CALL, Kind.CALLX, Kind.ATOMIC))  # what _state does not follow
_PSEUDO_IMM64 = isa.Pseudo.IMM64
# the instructions that ask _state about their operands (JMP32 compares, byte swaps), and "not worked out yet"
_STATE_ASKERS = frozenset(op for op, info in enumerate(isa.OPCODES)
                          if info and ((info.kind == Kind.JCOND and info.cls == Cls.JMP32) or _IS_SWAP[op]))
_ASK = object()
# ldxh/ldxw: fused with a byte swap of the value right after them (see _fuses); the key of such a swap's memo
_FUSABLE = [bool(info and info.kind == Kind.LDX and info.size in (2, 4)) for info in isa.OPCODES]
_FUSED = ("fused",)
_JSET, _EQ_NE = isa.JMP_OPS["jset"], (isa.JMP_OPS["jeq"], isa.JMP_OPS["jne"])
_SIGNED = frozenset(isa.JMP_OPS[op] for op in ("jsgt", "jsge", "jslt", "jsle"))
AMO_OP = {isa.ATOMIC_OPS["add"]: "add", isa.ATOMIC_OPS["or"]: "or", isa.ATOMIC_OPS["and"]: "and",
          isa.ATOMIC_OPS["xor"]: "xor", isa.ATOMIC_OPS["xchg"] & ~isa.ATOMIC_FETCH: "swap"}


# What a native register is known to hold (see Riscv64Selector._state): (zbits, sext, value) - the value is below
# 2**zbits, it equals the sign extension of its low 32 bits (sext), and the constant itself when known (else None)
UNKNOWN = (64, False, None)
_W_OPS = frozenset({"add", "sub", "mul", "lsh", "rsh", "arsh", "div", "mod", "neg"})  # ALU32 ops lowered to W forms
_LOADED = {1: (8, True, None), 2: (16, True, None), 4: (32, False, None)}  # lbu, lhu, lwu


def _const(value: int) -> tuple[int, bool, int]:
    value &= 0xFFFFFFFFFFFFFFFF
    return value.bit_length(), _sext(value, 32) == _sext(value, 64), value


def _sext(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


@lru_cache(maxsize=4096)
def li_words(rd: int, value: int) -> tuple[int, ...]:
    """The shortest addi / lui+addiw / (li; slli; addi)* sequence that puts the 64-bit ``value`` in ``rd``."""
    v = value & 0xFFFFFFFFFFFFFFFF
    v = v - (1 << 64) if v >> 63 else v  # signed 64-bit
    if -2048 <= v < 2048:
        return (E.addi(rd, ZERO, v),)
    lo = (v & 0xFFF) - ((v & 0x800) << 1)  # the low 12 bits, sign-extended
    if -(1 << 31) <= v < (1 << 31):
        words = (E.lui(rd, ((v - lo) >> 12) & 0xFFFFF),)
        return words + (E.addiw(rd, rd, lo),) if lo else words
    hi = (v - lo) >> 12
    shift = 12 + (hi & -hi).bit_length() - 1  # drop the trailing zeros of the upper part into the shift
    words = li_words(rd, hi >> (shift - 12)) + (E.slli(rd, rd, shift),)
    words = words + (E.addi(rd, rd, lo),) if lo else words
    if v > 0:  # leading zeros: build the value shifted up (ones shifted in) and shift it back (0xffffffff: 2)
        lz = 64 - v.bit_length()
        alt = li_words(rd, (v << lz | ((1 << lz) - 1)) & ((1 << 64) - 1)) + (E.srli(rd, rd, lz),)
        if len(alt) < len(words):
            return alt
    return words


def _short_li(value: int) -> bool:
    """False when li_words(value) surely needs more than two instructions (so a random 64-bit constant goes to the
    pool without building its sequence): two instructions build at most 32 significant bits, as a sign-extended
    32-bit value (lui; addiw), above trailing zeros (li; slli) or below leading zeros filled with ones (li; srli)."""
    v = _sext(value, 64)
    if not v or -(1 << 31) <= v >> ((v & -v).bit_length() - 1) < (1 << 31):
        return True
    lz = 64 - v.bit_length()
    return v > 0 and -(1 << 31) <= _sext(v << lz | ((1 << lz) - 1), 64) < (1 << 31)


def _swap_under_mask(d: int, shift: int) -> tuple[int, ...]:
    """d = (d >> shift & mask) | (d & mask) << shift, with the mask in t2 (t1 scratch)."""
    return (E.srli(T1, d, shift), E.and_(T1, T1, T2), E.and_(d, d, T2), E.slli(d, d, shift), E.or_(d, d, T1))


def li64_words(rd: int, value: int, tmp: int) -> tuple[int, ...]:
    """li, or (with a temporary) the two halves built apart and added: (H << 32) + sext(L), at most 6 words."""
    words = li_words(rd, value)
    if len(words) <= 4:
        return words
    v = _sext(value, 64)
    lo = _sext(v, 32)
    hi = (v - lo) >> 32
    split = li_words(rd, hi) + (E.slli(rd, rd, 32),)
    if lo:
        split += li_words(tmp, lo) + (E.add(rd, rd, tmp),)
    return split if len(split) < len(words) else words


def _split(off: int) -> tuple[int, int] | None:
    """(hi20 field, lo12) of a pc-relative auipc+jalr pair, or None when out of +-2 GiB."""
    if not -(1 << 31) <= off < (1 << 31) - 0x800:
        return None
    lo = _sext(off, 12)
    return ((off - lo) >> 12) & 0xFFFFF, lo


_B_OFFSETS = [E.b_offset(off) for off in range(-4096, 4096, 2)]  # (every branch is placed: a lookup, not a call)


# the short forms' offset fields for many branches at once (BranchForm.place): (which offsets reach, their bits)
def _place_b(offs):
    return (offs >= -4096) & (offs < 4096) & (offs & 1 == 0), E.b_offset(offs)


def _place_j(offs):
    return (offs >= -(1 << 20)) & (offs < (1 << 20)) & (offs & 1 == 0), E.j_offset(offs)


def _place_cb(offs):
    return (offs >= -256) & (offs < 256) & (offs & 1 == 0), E.cb_offset(offs)


def _place_cj(offs):
    return (offs >= -2048) & (offs < 2048) & (offs & 1 == 0), E.cj_offset(offs)


@cache
def cond_forms(funct3: int, rs1: int, rs2: int, compressed: bool) -> tuple[BranchForm, ...]:
    """A conditional branch to a label, shortest form first; the long forms take t1 (free between BPF insns)."""
    inverse = E.invert_branch(funct3)
    base = E.branch(funct3, rs1, rs2, 0)  # (checked once: short only places the offset)

    def short(off: int):
        return _PACK32(base | _B_OFFSETS[(off + 4096) >> 1]) if -4096 <= off < 4096 and not off & 1 else None

    def mid(off: int):
        off -= 4
        if not -(1 << 20) <= off < (1 << 20):
            return None
        return _PACK32(E.branch(inverse, rs1, rs2, 8)) + _PACK32(E.jal(ZERO, off))

    def long(off: int):
        parts = _split(off - 4)
        if parts is None:
            return None
        return _PACK32(E.branch(inverse, rs1, rs2, 12)) + _PACK32(E.auipc(T1, parts[0])) + _PACK32(
            E.jalr(ZERO, T1, parts[1]))

    forms = [BranchForm(4, short, base, _place_b), BranchForm(8, mid), BranchForm(12, long)]
    if compressed and funct3 in (E.BEQ, E.BNE) and rs2 == ZERO and 8 <= rs1 <= 15:
        enc = E.c_beqz if funct3 == E.BEQ else E.c_bnez
        forms.insert(0, BranchForm(2, lambda off: _PACK16(enc(rs1, off)) if -256 <= off < 256 else None,
                                   enc(rs1, 0), _place_cb))
    return tuple(forms)


@cache
def jump_forms(link: int, compressed: bool) -> tuple[BranchForm, ...]:
    """jal link (+-1 MiB), else auipc+jalr (+-2 GiB); c.j first for a plain jump with the C extension."""
    base = RA if link else T1

    def short(off: int):
        return _PACK32(E.jal(link, off)) if -(1 << 20) <= off < (1 << 20) else None

    def long(off: int):
        parts = _split(off)
        if parts is None:
            return None
        return _PACK32(E.auipc(base, parts[0])) + _PACK32(E.jalr(link, base, parts[1]))

    forms = [BranchForm(4, short, E.jal(link, 0), _place_j), BranchForm(8, long)]
    if compressed and link == ZERO:
        forms.insert(0, BranchForm(2, lambda off: _PACK16(E.c_j(off)) if -2048 <= off < 2048 else None, E.c_j(0),
                                   _place_cj))
    return tuple(forms)


#: an exit in the middle of a function repeats an epilogue of up to this many instructions instead of jumping to it
INLINE_EPILOGUE = 3
#: ... and any epilogue in a function of more BPF instructions than this, whose shared epilogue a jal (+-1 MiB)
#: may not reach: otherwise every such exit relaxes to auipc+jalr, and relaxing thousands of them is slow
LARGE_FUNCTION = 32768


#: a 64-bit constant (or a mov32's zero-extended u32) whose li sequence is longer than this is loaded from the
#: image's constant pool instead
#: (auipc+ld: 2 instructions and 8 bytes of data, against 3-6 instructions built in the register)
POOL_OVER = 2


def _place_pair(offs):
    """The offset fields of an auipc + I-format pair (pool_forms), as _split makes them."""
    lo = (offs & 0xFFF) - ((offs & 0x800) << 1)
    return (offs >= -(1 << 31)) & (offs < (1 << 31) - 0x800), ((offs - lo) >> 12 & 0xFFFFF) << 12 | (lo & 0xFFF) << 52


@cache
def pool_forms(rd: int) -> tuple[BranchForm, ...]:
    """auipc rd + ld rd from a constant-pool entry (a label), +-2 GiB."""
    def load(off: int):
        parts = _split(off)
        return None if parts is None else _PACK32(E.auipc(rd, parts[0])) + _PACK32(E.ld(rd, rd, parts[1]))

    return (BranchForm(8, load, E.auipc(rd, 0) | E.ld(rd, rd, 0) << 32, _place_pair),)


class Riscv64Selector(TableSelector):
    reloc_types = RELOC_TYPES

    def __init__(self, abi, *, c: bool = False, zba: bool = False, zbb: bool = False, abs64: bool = False):
        self.abi = abi
        self.c, self.zba, self.zbb, self.abs64 = c, zba, zbb, abs64
        self.r = abi.regs
        super().__init__()
        self._stack = 0
        # (pc, what memo_key worked out for it: a byte swap's _state, a JMP32's _jmp32_ext), for the lowering on a
        # miss (the driver asks memo_key once per instruction)
        self._asked: tuple[int, tuple] = (-1, ())
        self._fused_at = -1  # the slot of a byte swap the load before it performed (see _fuses)
        self._after: list[int] | None = None  # the compiling program's cg.upper_live_after(), once asked
        self._defs: tuple[dict, dict] | None = None  # its cg.operand_defs(_STATE_ASKERS), once asked
        self._bytes: dict[int, bytes] = {}  # word -> its encoding (compressed when possible)
        self._pool: dict[int, tuple] = {}  # 64-bit constant -> its pool label, emitted after the last function

    # -- emission -------------------------------------------------------------------------------------------
    def emit(self, em, *words: int) -> None:
        """Append 32-bit instruction words, compressed where the C extension has a form for them."""
        if not self.c:
            n = len(words)
            em.code += _PACK_N[n](*words) if n < 64 else struct.pack(f"<{n}I", *words)
            return
        cache = self._bytes
        for w in words:
            data = cache.get(w)
            if data is None:
                half = E.compress(w)
                data = cache[w] = _PACK32(w) if half is None else _PACK16(half)
            em.code += data

    def _zext(self, d: int, s: int) -> tuple[int, ...]:
        return (E.zext_w(d, s),) if self.zba else (E.slli(d, s, 32), E.srli(d, d, 32))

    def _val(self, em, bpf_reg: int, tmp: int) -> int:
        """The native register holding BPF ``bpf_reg``'s value (r10 is sp + stack: built in ``tmp``)."""
        if bpf_reg == 10:
            self.emit(em, E.addi(tmp, SP, self._stack))
            return tmp
        return self.r[bpf_reg]

    # -- primitives the core uses --------------------------------------------------------------------------
    def move(self, cg, dst: int, src: int) -> None:
        self.emit(cg.em, E.mv(dst, src))

    def call(self, cg, entry) -> None:
        em = cg.em
        if entry.address is not None:
            self.emit(em, *li_words(T1, entry.address), E.jalr(RA, T1, 0))
        else:  # auipc+jalr pair patched by one R_RISCV_CALL_PLT; never compressed
            em.reloc(R_RISCV_CALL_PLT, entry.symbol, 0, "helper")
            em.code += _PACK32(E.auipc(RA, 0)) + _PACK32(E.jalr(RA, RA, 0))

    def call_local(self, cg, label) -> None:
        cg.em.branch(label, jump_forms(RA, False))

    def jump(self, cg, label) -> None:
        frame = cg.frame
        if label == frame.exit_label and (len(frame.extra["epilogue"]) <= INLINE_EPILOGUE
                                          or frame.end - frame.start > LARGE_FUNCTION):
            cg.em.mark(cg.em.FRAME)  # a short epilogue is cheaper than a jump to it; it is frame code all the same
            self.emit(cg.em, *frame.extra["epilogue"])
            return
        cg.em.branch(label, jump_forms(ZERO, self.c))

    @property
    def disassembler(self):
        """capstone, plus the Zba/Zbb words capstone 5 does not know, named by the encoder that makes them."""
        import capstone

        from .machine import zb_text

        md = capstone.Cs(capstone.CS_ARCH_RISCV, capstone.CS_MODE_RISCV64 | capstone.CS_MODE_RISCVC)

        def disasm(code: bytes, address: int):
            out, pos = [], 0
            while pos < len(code):
                for i in md.disasm(code[pos:], address + pos):
                    out.append((i.address, i.size, f"{i.mnemonic} {i.op_str}".strip()))
                    pos += i.size
                if pos < len(code):
                    size = 2 if code[pos] & 3 != 3 else 4
                    word = int.from_bytes(code[pos:pos + size], "little")
                    out.append((address + pos, size, zb_text(word) or f".insn 0x{word:x}"))
                    pos += size
            return out

        return disasm

    # -- frames ---------------------------------------------------------------------------------------------
    def _saved(self, frame) -> list[int]:
        natives = sorted({self.r[b] for b in frame.written if b != 10} & self.abi.callee_saved)
        return ([RA] if frame.makes_calls else []) + natives

    def prologue(self, cg, frame) -> None:
        saved = self._saved(frame)
        stack = (frame.stack_size + 15) & ~15
        total = stack + ((8 * len(saved) + 15) & ~15)
        words = [E.addi(SP, SP, -total)] if total else []
        words += [E.sd(reg, SP, stack + 8 * i) for i, reg in enumerate(saved)]
        self.emit(cg.em, *words)
        frame.extra.update(saved=saved, stack=stack, total=total,
                           epilogue=self._epilogue_words(frame, saved, stack, total))
        self._stack = stack
        self.use_frame(stack)
        if frame.is_entry:
            self._after = self._defs = None  # another program's facts
        frame.frame_offset = total - stack
        frame.native_stack = total

    def epilogue(self, cg, frame) -> None:
        em = cg.em
        self.emit(em, *frame.extra["epilogue"])
        if frame.end == len(cg.insns) and self._pool:  # the last function: the constant pool follows it
            em.mark(em.DATA)
            em.align(8)
            for value, label in self._pool.items():
                em.bind(label)
                em.code += struct.pack("<Q", value)

    def _epilogue_words(self, frame, saved: list[int], stack: int, total: int) -> tuple[int, ...]:
        words = [E.ld(reg, SP, stack + 8 * i) for i, reg in enumerate(saved)]
        if total:
            words.append(E.addi(SP, SP, total))
        if frame.is_entry and self.r[0] != self.abi.ret_reg:
            words.append(E.mv(self.abi.ret_reg, self.r[0]))
        words.append(E.ret())
        return tuple(words)

    # -- dispatch (TableSelector) ---------------------------------------------------------------------------
    def lowerings(self):
        return {
            Kind.ALU: self._alu, Kind.ENDIAN: self._endian, Kind.JA: self._ja, Kind.JCOND: self._jcond,
            Kind.LDX: self._ldx, Kind.LDXSX: self._ldx, Kind.ST: self._st, Kind.STX: self._stx,
            Kind.ATOMIC: self._atomic, Kind.LD_IMM64: self._ld_imm64,
        }

    def is_pure(self, info) -> bool:
        # + AMOs and the fixed lr/sc loop of cmpxchg; conditional jumps: their compare, then the branch
        return super().is_pure(info) or info.kind in (Kind.ATOMIC, Kind.JCOND)

    def keyed(self, info) -> int:
        swap = info.kind == Kind.ENDIAN and info.src_reg  # be (the ALU64 class, bswap, is not ALU32)
        if (info.cls == Cls.ALU and not swap and (info.src_reg or info.op != "mov")) or (
                info.kind == Kind.ATOMIC and info.size == 4):
            # an ALU32 result or a 32-bit fetch, zero-extended where its upper half is live (srliw by 1..31 and
            # andi with a mask below 2048 need no extension: the key tells more than their bytes depend on)
            return BY_UPPER
        if (info.cls == Cls.ALU or info.kind == Kind.ENDIAN or (info.kind == Kind.LDX and info.size in (2, 4))
                or info.cls == Cls.JMP32):
            return BY_SELECTOR
        return BY_INSN

    def memo_key(self, cg, pc: int, insn):
        if insn[0] & 0x07 == _JMP32:  # (conditional: what the operands hold decides their extensions)
            ext = self._jmp32_ext(cg, pc, insn)
            self._asked = (pc, ext)
            return (insn.opcode, insn.dst, insn.src, insn.imm) + ext
        if _FUSABLE[insn.opcode]:  # (a load is never the last instruction)
            return (insn, True) if _IS_SWAP[cg.insns[pc + 1][0]] and self._fuses(cg, pc, insn) else insn
        if _IS_SWAP[insn.opcode]:
            if self._fused_at == pc:  # done by the load before it
                return _FUSED
            # what the register holds: a constant is swapped here, a halfword needs no mask
            state = self._operand_state(cg, pc, insn.dst, 0) if not self.zbb or insn.imm == 16 else UNKNOWN
            self._asked = (pc, state)
            if state[2] is not None or (insn.imm == 64 and not self.zbb):  # li or pool (a branch): not memoised
                return None
            return (insn, state[0] <= 16) if insn.imm == 16 and not self.zbb else insn
        # mov32 with an immediate: the one ALU32 instruction keyed here (keyed: the others are BY_UPPER)
        imm = insn.imm
        if insn[0] == _MOV32_K and imm >= 0:
            return insn  # li of a u31: zero-extended by its own lowering, no question to ask
        dead = self._zext_dead(cg, pc, insn)
        if insn[0] == _MOV32_K and not dead and len(li_words(self.r[insn.dst], imm & 0xFFFFFFFF)) > POOL_OVER:
            return None  # from the constant pool (a branch to its label)
        return insn, not dead

    def _zext_dead(self, cg, pc: int, insn, reg: int | None = None) -> bool:
        """Whether the zero-extension of this 32-bit result (in ``reg``, default the instruction's dst) is dead (the
        core's upper-half query, cg.upper_half_dead, from its list; every 32-bit lowering here reads only the low
        halves of its operands, and JMP32 sign-extends its own)."""
        after = self._after
        if after is None:
            after = self._after = cg.upper_live_after()
        return not after[pc] >> (insn.dst if reg is None else reg) & 1

    def _operand_state(self, cg, pc: int, reg: int, which: int) -> tuple[int, bool, int | None]:
        """_state of the dst (``which`` 0) or src (1) of a JMP32 or a byte swap, whose writers the core works out
        for all of them at once (cg.operand_defs) the first time one is asked."""
        defs = self._defs
        if defs is None:
            defs = self._defs = cg.operand_defs(_STATE_ASKERS)
        return self._state(cg, pc, reg, 0, defs[which].get(pc, _ASK))

    def _state(self, cg, pc: int, reg: int, depth: int = 0, w=_ASK) -> tuple[int, bool, int | None]:
        """What BPF ``reg``'s native register holds before the instruction at ``pc`` (see UNKNOWN), from the
        instruction that wrote it on the straight-line path into ``pc`` (the core's ``cg.local_def``, or ``w``
        when the caller has it) and what this selector's lowering of that instruction leaves: it must agree with
        every lowering below."""
        if w is _ASK:
            w = cg.local_def(pc, reg)
        if w is None:
            return UNKNOWN
        insn = cg.insns[w]
        info = isa.OPCODES[insn.opcode]
        kind, imm = info.kind, insn.imm
        if insn.dst != reg or kind in _UNTRACKED_WRITERS:
            return UNKNOWN
        if kind == _K_LDX:
            return _LOADED.get(info.size, UNKNOWN)
        if kind == _K_LDXSX:
            return 64, True, None
        if kind == _K_LD_IMM64:
            return _const(isa.imm64(insn, cg.insns[w + 1])) if insn.src == _PSEUDO_IMM64 else UNKNOWN
        if kind == _K_ENDIAN:  # every 16-bit form and every 32-bit swap zero-extends; le32 unless dead
            if imm == 16:
                return 16, True, None
            if imm == 32 and (_IS_SWAP[insn.opcode] or not self._zext_dead(cg, w, insn)):
                return 32, False, None
            return UNKNOWN
        if kind != _K_ALU:
            return UNKNOWN
        op, k = info.op, not info.src_reg
        if k and op == "and" and imm >= 0:  # andi / and with a non-negative mask, either width
            return imm.bit_length(), True, None
        dead = info.cls == _ALU and self._zext_dead(cg, w, insn)
        if op in ("and", "or", "xor") and (dead or info.cls == _ALU64) and depth <= 1:
            # the 64-bit logic op of the operands as they were (an immediate sign-extended): bitwise, so the result
            # has the upper bits both operands have in common
            a = self._state(cg, w, reg, depth + 1)
            b = _const(imm) if k else UNKNOWN if insn.src == 10 else self._state(cg, w, insn.src, depth + 1)
            zbits = min(a[0], b[0]) if op == "and" else max(a[0], b[0])
            return zbits, (a[1] and b[1]) or zbits <= 31, None
        if info.cls == _ALU64:
            if op == "mov":
                if k:
                    return _const(imm)
                if insn.off:
                    return 64, True, None
                return UNKNOWN if insn.src == 10 or depth > 1 else self._state(cg, w, insn.src, depth + 1)
            if k and op == "rsh" and imm & 63 >= 32:
                return 64 - (imm & 63), imm & 63 > 32, None
            return UNKNOWN
        if not dead:  # zero-extended
            if k and op == "mov":
                return _const(imm & 0xFFFFFFFF)
            if k and op == "rsh" and imm & 31:
                return 32 - (imm & 31), True, None
            if op == "mov" and not insn.off and insn.src != 10 and depth <= 1:
                state = self._state(cg, w, insn.src, depth + 1)
                return state if state[0] <= 32 else (32, False, None)
            return 32, False, None
        # the zero-extension was left out: what the 32-bit lowering itself leaves
        if k and op == "mov":
            return _const(imm)  # li of the sign-extended immediate
        if op in _W_OPS:
            return 64, True, None
        if op == "mov" and insn.off:
            return 64, True, None  # sign-extended from 8 or 16 bits
        return UNKNOWN

    # -- ALU / ALU64 ----------------------------------------------------------------------------------------
    def _alu(self, cg, pc, insn, nxt) -> None:
        em, r = cg.em, self.r
        info = isa.OPCODES[insn.opcode]
        wide = info.cls == _ALU64
        op, d = info.op, r[insn.dst]
        words: tuple[int, ...]
        zext = not wide and not self._zext_dead(cg, pc, insn)  # whether the result still needs zero-extending
        if op == "neg":
            words = (E.sub(d, ZERO, d),) if wide else (E.subw(d, ZERO, d),)
        elif info.src_reg and insn.src == 10 and op == "mov" and wide and not insn.off:
            words, zext = (E.addi(d, SP, self._stack),), False  # r10 is sp + stack
        elif info.src_reg:
            s = self._val(em, insn.src, T3)
            if op == "mov":
                words, zext = self._mov_reg(wide, insn.off, d, s, zext), False
            elif op in ALU_REG:
                enc64, enc32 = ALU_REG[op]
                words = ((enc64 if wide or enc32 is None else enc32)(d, d, s),)
            else:
                enc64, enc32 = DIVMOD[(op, insn.off == 1)]
                words = ((enc64 if wide else enc32)(d, d, s),)
        elif op == "mov" and not wide and not zext:  # the upper half is dead: the sign-extended li may be shorter
            words = li_words(d, insn.imm)
        elif op == "mov" and not wide and len(li_words(d, insn.imm & 0xFFFFFFFF)) > POOL_OVER:
            self._pool_load(em, d, insn.imm & 0xFFFFFFFF)  # a u32 with bit 31 set: 3-4 instructions built
            return
        else:
            words, needs = self._alu_imm(op, wide, d, insn.imm, insn.off == 1)
            zext = zext and needs
        if zext:
            words += self._zext(d, d)
        self.emit(em, *words)

    def _mov_reg(self, wide: bool, off: int, d: int, s: int, zext: bool) -> tuple[int, ...]:
        """mov/movsx; ``zext``: an ALU32 result whose upper half is still live (it must end up zero)."""
        if off == 0:
            if wide or not zext:
                return (E.mv(d, s),) if d != s else ()
            return self._zext(d, s)
        if off == 32:  # only ALU64 has movsx from 32 bits
            return (E.sext_w(d, s),)
        if self.zbb:
            words: tuple[int, ...] = ((E.sext_b if off == 8 else E.sext_h)(d, s),)
            return words + self._zext(d, d) if zext else words
        if wide or not zext:
            return (E.slli(d, s, 64 - off), E.srai(d, d, 64 - off))
        # sign-extend into the upper word, then move it down: the low half is the 32-bit result, zero-extended
        return (E.slli(d, s, 64 - off), E.srai(d, d, 32 - off), E.srli(d, d, 32))

    def _alu_imm(self, op: str, wide: bool, d: int, imm: int, signed: bool) -> tuple[tuple[int, ...], bool]:
        """Words for ``d = d op imm`` and whether the result still needs zero-extending (ALU32)."""
        if op == "mov":  # ALU64 sign-extends imm; ALU32 takes its 32 bits, zero-extended
            return li_words(d, imm if wide else imm & 0xFFFFFFFF), False
        if op in SHIFT_IMM:
            enc64, enc32 = SHIFT_IMM[op]
            if wide:
                return (enc64(d, d, imm & 63),), False
            return (enc32(d, d, imm & 31),), not (op == "rsh" and imm & 31)  # srliw by 1..31 leaves bit 31 clear
        if op == "sub" and -2047 <= imm <= 2048:
            op, imm = "add", -imm
        if op in IMM12 and -2048 <= imm < 2048:
            enc = E.addiw if op == "add" and not wide else IMM12[op]
            return (enc(d, d, imm),), not wide and not (op == "and" and imm >= 0)
        words = li_words(T1, imm)
        if op in ALU_REG:
            enc64, enc32 = ALU_REG[op]
            return words + ((enc64 if wide or enc32 is None else enc32)(d, d, T1),), not wide
        enc64, enc32 = DIVMOD[(op, signed)]
        return words + ((enc64 if wide else enc32)(d, d, T1),), not wide

    def _endian(self, cg, pc, insn, nxt) -> None:
        if self._fused_at == pc:  # the load before it did the swap
            return
        d = self.r[insn.dst]
        swap = _IS_SWAP[insn.opcode]  # bswap, or be on a little-endian core
        width = insn.imm
        state = self._asked[1] if self._asked[0] == pc else UNKNOWN
        if swap and state[2] is not None:  # a constant (from memo_key): swap it here
            value = int.from_bytes((state[2] & ((1 << width) - 1)).to_bytes(width // 8, "little"), "big")
            self._load_const(cg.em, d, value)
            return
        if not swap:  # le on a little-endian core: truncate
            if width == 16:
                words = (E.zext_h(d, d),) if self.zbb else (E.slli(d, d, 48), E.srli(d, d, 48))
            elif width == 32:
                words = () if self._zext_dead(cg, pc, insn) else self._zext(d, d)
            else:
                words = ()
        elif self.zbb:
            words = (E.rev8(d, d),) + ((E.srli(d, d, 64 - width),) if width < 64 else ())
        elif width == 16:  # (d >> 8 & 0xff) | (d & 0xff) << 8; the first mask is not needed above a halfword
            words = (E.srli(T1, d, 8),) + (() if state[0] <= 16 else (E.andi(T1, T1, 0xFF),))
            words += (E.andi(d, d, 0xFF), E.slli(d, d, 8), E.or_(d, d, T1))
        elif width == 32:  # exchange the halfwords (bytes 2-5 of d then hold b0 b1 b2 b3), then the bytes of each
            # halfword under a mask, which also clears the upper half
            words = (E.srliw(T1, d, 16), E.slli(d, d, 16), E.or_(d, d, T1)) + li_words(T2, 0x00FF00FF)
            words += _swap_under_mask(d, 8)
        else:  # the same in three stages (bytes, halfwords, words), the two masks from the constant pool
            em = cg.em
            self._pool_load(em, T2, 0x00FF00FF00FF00FF)
            self.emit(em, *_swap_under_mask(d, 8))
            self._pool_load(em, T2, 0x0000FFFF0000FFFF)
            self.emit(em, *_swap_under_mask(d, 16), E.srli(T1, d, 32), E.slli(d, d, 32), E.or_(d, d, T1))
            return
        self.emit(cg.em, *words)

    # -- jumps ----------------------------------------------------------------------------------------------
    def _ja(self, cg, pc, insn, nxt) -> None:
        cg.em.branch(isa.jump_target(pc, insn), jump_forms(ZERO, self.c))

    def _jcond(self, cg, pc, insn, nxt) -> None:
        ext = None
        if insn[0] & 0x07 == _JMP32:
            ext = self._asked[1] if self._asked[0] == pc else self._jmp32_ext(cg, pc, insn)
        cg.em.branch(pc + 1 + insn.off, self._jcond_setup(cg.em, insn, ext))

    def _jmp32_ext(self, cg, pc: int, insn) -> tuple[bool, ...]:
        """What a JMP32 extends before comparing (see _jcond_setup), from what its operands' registers are known
        to hold."""
        imm, op = insn.imm, insn.opcode & 0xF0  # (not asked where it changes nothing: jset of a u31, eq/ne addiw)
        moot = not insn.opcode & isa.SRC_X and (imm >= 0 if op == _JSET else op in _EQ_NE and imm != 0
                                                and -2047 <= imm <= 2048)
        a = UNKNOWN if insn.dst == 10 or moot else self._operand_state(cg, pc, insn.dst, 0)
        if insn.opcode & isa.SRC_X:  # (eq/ne of an operand in no known state take the subw whatever the other)
            b = (UNKNOWN if insn.src == 10 or (a is UNKNOWN and op in _EQ_NE)
                 else self._operand_state(cg, pc, insn.src, 1))
            zb, sb = b[0] <= 32, b[1]
        else:  # the immediate's li: sign-extended, and zero-extended too when not negative
            zb, sb = imm >= 0, True
        za, sa = a[0] <= 32, a[1]
        if op == _JSET:  # the and's upper half is 0 or copies the low half's sign: test it whole
            return (not (za or zb or (sa and sb)),)
        if (sa and sb) or (za and zb and op not in _SIGNED) or (insn.opcode & isa.SRC_X and insn.dst == insn.src):
            return False, False  # both extended alike (or one register against itself): compare them as they are
        return not sa, not sb

    def _jcond_setup(self, em, insn, ext) -> tuple[BranchForm, ...]:
        """Emit what a conditional jump computes before branching; return the branch's forms. For JMP32, ``ext``
        is what to extend (``_jcond``): for jset whether to test the and's low half only, else whether each operand
        needs its ``sext.w``. Sign extension keeps both orders of 32-bit values, and zero extension the unsigned
        one, so two operands extended alike compare as they are."""
        info = isa.OPCODES[insn.opcode]
        op = info.op
        a = self._val(em, insn.dst, T1)
        words: tuple[int, ...] = ()
        if op == "jset":
            if info.src_reg:
                words = (E.and_(T1, a, self._val(em, insn.src, T2)),)
            elif -2048 <= insn.imm < 2048:
                words = (E.andi(T1, a, insn.imm),)
            else:
                words = li_words(T2, insn.imm) + (E.and_(T1, a, T2),)
            if ext and ext[0]:
                words += (E.sext_w(T1, T1),)  # test only the low half
            self.emit(em, *words)
            return cond_forms(E.BNE, T1, ZERO, self.c)
        ext_a, ext_b = ext or (False, False)
        if (ext_a or ext_b) and op in ("jeq", "jne"):  # low halves are equal exactly when their 32-bit difference is 0
            if info.src_reg:
                self.emit(em, E.subw(T1, a, self._val(em, insn.src, T2)))
                return cond_forms(COND[op][0], T1, ZERO, self.c)
            if -2047 <= insn.imm <= 2048:
                self.emit(em, E.addiw(T1, a, -insn.imm))
                return cond_forms(COND[op][0], T1, ZERO, self.c)
        if info.src_reg:
            b = self._val(em, insn.src, T2)
            if ext_b:
                words = (E.sext_w(T2, b),)
                b = T2
        elif insn.imm == 0:
            b = ZERO
        else:
            words, b = li_words(T2, insn.imm), T2  # sign-extended imm: also the sext.w of its low half
        if ext_a:
            words = (E.sext_w(T1, a),) + words
            a = T1
        funct3, swapped = COND[op]
        if swapped:
            a, b = b, a
        self.emit(em, *words)
        return cond_forms(funct3, a, b, self.c)

    # -- memory ---------------------------------------------------------------------------------------------
    def _address(self, em, base_bpf: int, off: int) -> tuple[int, int]:
        """(register, 12-bit offset) reaching base + off, emitting the setup it needs into t3."""
        if base_bpf == 10:  # r10 + off is sp + (stack + off)
            rn, off = SP, self._stack + off
        else:
            rn = self.r[base_bpf]
        if -2048 <= off < 2048:
            return rn, off
        self.emit(em, *li_words(T3, off), E.add(T3, T3, rn))
        return T3, 0

    def _fuses(self, cg, pc: int, insn) -> bool:
        """Whether this 2- or 4-byte load and the byte swap of its register right after it become one sequence
        (without Zbb): the bytes loaded one by one in swapped order, 4 instructions for both instead of 1 + 4,
        10 instead of 1 + 10. Records the swap's slot for its lowering, which then emits nothing."""
        insns, size = cg.insns, 2 if insn.opcode & 0x18 == isa.SIZES["h"] else 4
        if self.zbb or pc + 1 >= len(insns) or cg.leaders is None or pc + 1 in cg.leaders:
            return False
        nxt = insns[pc + 1]
        off = insn.off + (self._stack if insn.src == 10 else 0)
        if not (_IS_SWAP[nxt.opcode] and nxt.imm == 8 * size and nxt.dst == insn.dst and -2048 <= off < 2048 - size):
            return False
        self._fused_at = pc + 1
        return True

    def _ldx(self, cg, pc, insn, nxt) -> None:
        info = isa.OPCODES[insn.opcode]
        em, d = cg.em, self.r[insn.dst]
        if _FUSABLE[insn.opcode] and self._fuses(cg, pc, insn):
            rn = SP if insn.src == 10 else self.r[insn.src]
            off = insn.off + (self._stack if insn.src == 10 else 0)
            if info.size == 2:  # d = m0 << 8 | m1 (the base is read before d is written, it may be d)
                self.emit(em, E.lbu(T1, rn, off), E.lbu(d, rn, off + 1), E.slli(T1, T1, 8), E.or_(d, d, T1))
            else:  # d = m0 << 24 | m1 << 16 | m2 << 8 | m3
                self.emit(em, E.lbu(T1, rn, off), E.lbu(T2, rn, off + 1), E.slli(T1, T1, 24), E.slli(T2, T2, 16),
                          E.or_(T1, T1, T2), E.lbu(T2, rn, off + 2), E.slli(T2, T2, 8), E.or_(T1, T1, T2),
                          E.lbu(d, rn, off + 3), E.or_(d, d, T1))
            return
        rn, off = self._address(em, insn.src, insn.off)
        self.emit(em, E.load(info.size, info.kind == _K_LDXSX, d, rn, off))

    def _st(self, cg, pc, insn, nxt) -> None:
        info = isa.OPCODES[insn.opcode]
        src = ZERO
        if insn.imm:
            self.emit(cg.em, *li_words(T1, insn.imm))
            src = T1
        rn, off = self._address(cg.em, insn.dst, insn.off)
        self.emit(cg.em, E.store(info.size, src, rn, off))

    def _stx(self, cg, pc, insn, nxt) -> None:
        info = isa.OPCODES[insn.opcode]
        src = self._val(cg.em, insn.src, T1)
        rn, off = self._address(cg.em, insn.dst, insn.off)
        self.emit(cg.em, E.store(info.size, src, rn, off))

    def _atomic(self, cg, pc, insn, nxt) -> None:
        em, r = cg.em, self.r
        size = isa.OPCODES[insn.opcode].size
        rn, off = self._address(em, insn.dst, insn.off)
        if off or rn in (SP, T3):  # AMOs take a bare address register; keep it in t1, clear of t2/t3
            self.emit(em, E.addi(T1, rn, off))
            rn = T1
        if insn.src == 10:
            raise cg.unsupported(pc, "atomic operation with r10 as its operand")
        s, imm = r[insn.src], insn.imm
        if imm == CMPXCHG:
            self._cmpxchg(em, size, rn, s, size == 4 and not self._zext_dead(cg, pc, insn, 0))
            return
        op = AMO_OP.get(imm & ~isa.ATOMIC_FETCH)
        if op is None:
            raise cg.unsupported(pc, f"atomic operation 0x{imm:x}")
        fetch = bool(imm & isa.ATOMIC_FETCH)
        words = (E.amo(op, size, s if fetch else ZERO, s, rn, aq=fetch, rl=fetch),)
        if fetch and size == 4 and not self._zext_dead(cg, pc, insn, insn.src):  # .w sign-extends; BPF zero-extends
            words += self._zext(s, s)
        self.emit(em, *words)

    def _cmpxchg(self, em, size: int, addr: int, s: int, zext: bool) -> None:
        """r0 = *addr; if r0 (as loaded) == the old r0: *addr = s. An lr/sc loop of fixed 4-byte words, so its two
        branches have fixed offsets and the whole lowering is memoised like any pure one; t0 (AX) is free here.
        ``zext``: r0's upper half is live after a 32-bit one (lr.w sign-extends)."""
        r0 = self.r[0]
        expect = r0
        if size == 4:  # lr.w sign-extends what it loads: compare with the sign-extended low half of r0
            self.emit(em, E.sext_w(T0, r0))
            expect = T0
        # loop: lr; bne -> done; sc; bnez -> loop; done:  (never compressed: the offsets count 4-byte words)
        em.code += _PACK_N[4](E.lr(size, T2, addr, aq=True, rl=True), E.branch(E.BNE, T2, expect, 12),
                              E.sc(size, T3, s, addr, rl=True), E.branch(E.BNE, T3, ZERO, -12))
        self.emit(em, *(self._zext(r0, T2) if zext else (E.mv(r0, T2),)))

    # -- 64-bit immediates and map addresses ----------------------------------------------------------------
    def _pool_load(self, em, rd: int, value: int) -> None:
        """rd = value (unsigned 64-bit), loaded from the constant pool (one entry per value)."""
        label = self._pool.get(value)
        if label is None:
            label = self._pool[value] = ("rv-const", value)
        em.branch(label, pool_forms(rd))
    def _load_const(self, em, d: int, value: int) -> None:
        """d = value (unsigned 64-bit): li in up to POOL_OVER instructions, else from the constant pool."""
        if _short_li(value):
            words = li64_words(d, value, T1)
            if len(words) <= POOL_OVER:
                self.emit(em, *words)
                return
        self._pool_load(em, d, value)

    def _ld_imm64(self, cg, pc, insn, nxt) -> None:
        em, d = cg.em, self.r[insn.dst]
        ref = cg.ld_imm64_symbol(insn, nxt)
        if ref is None:
            self._load_const(em, d, isa.imm64(insn, nxt) & 0xFFFFFFFFFFFFFFFF)
            return
        symbol, addend, kind = ref
        if not self.abs64:  # lui %hi + addi %lo (medlow: within +-2 GiB of 0); never compressed
            em.reloc(R_RISCV_HI20, symbol, addend, kind)
            em.code += _PACK32(E.lui(d, 0))
            em.reloc(R_RISCV_LO12_I, symbol, addend, kind)
            em.code += _PACK32(E.addi(d, d, 0))
            return
        # abs64: any address, from an R_RISCV_64 literal in the code: auipc d, 0; ld d, lit(d); j past it. Nops
        # align the literal to 8 bytes when it is emitted (branch relaxation may later move it by 2 or 4 bytes;
        # RISC-V lets the execution environment perform that misaligned ld, as QEMU and unicorn do).
        pad = -(em.pos + 12) % 8
        em.code += _PACK32(E.auipc(d, 0)) + _PACK32(E.ld(d, d, 12 + pad)) + _PACK32(E.jal(ZERO, 12 + pad))
        em.code += _PACK16(E.c_nop()) * (pad // 2) if self.c else _PACK32(E.nop()) * (pad // 4)
        em.reloc(R_RISCV_64, symbol, addend, kind)
        em.code += bytes(8)
