"""The bpf selector: each legalised BPF instruction is emitted again as BPF, through the core's Emitter.

The core has already done the device-specific work (context rewrite, legalisation, helper table), so most
instructions are copied as they are. What the selector owns: jumps and local calls are re-placed as Emitter
branches (their targets moved when the legaliser inserted code), map loads become R_BPF_64_64 records, helper
calls take the device's helper index, and every exit is an ``exit`` (no jump to a shared epilogue).
"""

from __future__ import annotations

from bpfx import BranchForm, Insn, LinkError, Unsupported, format_insn, isa

from .helpers import R_BPF_64_64, RELOC_TYPES

_JA = isa.Cls.JMP | isa.JMP_OPS["ja"]
_GOTOL = isa.Cls.JMP32 | isa.JMP_OPS["ja"]
_CALL = isa.CALL
_EXIT = isa.EXIT.to_bytes(1, "little") + bytes(7)
_S16 = range(-0x8000, 0x8000)
_S32 = range(-0x8000_0000, 0x8000_0000)


def _slots(offset: int) -> int:
    """Byte offset from a branch's first byte -> the relative slot count of an instruction placed there."""
    return offset // isa.INSN_SIZE - 1


def _cond_forms(insn: Insn) -> tuple[BranchForm, ...]:
    def short(offset: int) -> bytes | None:
        rel = _slots(offset)
        return insn._replace(off=rel).encode() if rel in _S16 else None

    def long(offset: int) -> bytes | None:  # "if cond goto +1; goto +1; gotol target": 3 slots, any distance
        rel = _slots(offset) - 2
        if rel not in _S32:
            return None
        return (insn._replace(off=1).encode() + Insn(_JA, 0, 0, 1, 0).encode() + Insn(_GOTOL, 0, 0, 0, rel).encode())

    return (BranchForm(8, short), BranchForm(24, long))


def _ja(offset: int) -> bytes | None:
    rel = _slots(offset)
    return Insn(_JA, 0, 0, rel, 0).encode() if rel in _S16 else None


def _gotol(offset: int) -> bytes | None:
    rel = _slots(offset)
    return Insn(_GOTOL, 0, 0, 0, rel).encode() if rel in _S32 else None


def _call_local(offset: int) -> bytes | None:
    rel = _slots(offset)
    return Insn(_CALL, 0, isa.CallKind.LOCAL, 0, rel).encode() if rel in _S32 else None


JA_FORMS = (BranchForm(8, _ja), BranchForm(8, _gotol))
CALL_FORMS = (BranchForm(8, _call_local),)


class BpfSelector:
    reloc_types = RELOC_TYPES

    def __init__(self, abi) -> None:
        self.abi = abi
        self.indices: dict[int, str] = {}  # device helper index -> the helper this program calls by it

    # -- frames: a BPF VM gives each call its own registers and stack, so there is nothing to set up -------------
    def prologue(self, cg, frame) -> None:
        frame.frame_offset = 0

    def epilogue(self, cg, frame) -> None:
        cg.em.emit(_EXIT)

    # -- instructions -------------------------------------------------------------------------------------------
    def lower(self, cg, pc: int, insn: Insn, nxt: Insn | None) -> None:
        em = cg.em
        kind = isa.OPCODES[insn.opcode].kind
        if kind == isa.Kind.JCOND:
            em.branch(pc + 1 + insn.off, _cond_forms(insn))
        elif kind == isa.Kind.JA:
            em.branch(isa.jump_target(pc, insn), JA_FORMS)
        elif kind == isa.Kind.LD_IMM64 and insn.src != isa.Pseudo.IMM64:
            symbol, addend, what = cg.ld_imm64_symbol(insn, nxt)
            em.reloc(R_BPF_64_64, symbol, addend, what)
            em.emit(Insn(insn.opcode, insn.dst).encode() + bytes(8))
        elif kind == isa.Kind.LD_IMM64:
            em.emit(insn.encode() + nxt.encode())
        elif kind in (isa.Kind.LD_ABS, isa.Kind.LD_IND):
            raise cg.unsupported(pc, "legacy LD_ABS/LD_IND packet access")
        else:
            em.emit(insn.encode())

    # -- the primitives of the core's calling-convention code -------------------------------------------------
    def move(self, cg, dst: int, src: int) -> None:
        cg.em.emit(Insn(isa.Cls.ALU64 | isa.SRC_X | isa.ALU_OPS["mov"], dst, src).encode())

    def call(self, cg, entry) -> None:
        index = entry.address if entry.address is not None else entry.id
        if index not in _S32:
            raise Unsupported(f"helper {entry.name}: device index {index} does not fit a call's immediate")
        other = self.indices.setdefault(index, entry.name)
        if other != entry.name:  # a partial driver table can renumber one helper onto another's UAPI id
            raise LinkError(f"helpers {other} and {entry.name} both have device helper index {index}")
        cg.em.emit(Insn(_CALL, 0, isa.CallKind.HELPER, 0, index).encode())

    def call_local(self, cg, label) -> None:
        cg.em.branch(label, CALL_FORMS)

    def jump(self, cg, label) -> None:
        if label == cg.frame.exit_label:
            cg.em.emit(_EXIT)
        else:
            cg.em.branch(label, JA_FORMS)

    @property
    def disassembler(self):
        def disasm(code: bytes, address: int):
            insns = isa.decode(code)
            rows, i = [], 0
            while i < len(insns):
                wide = insns[i].opcode == isa.LD_IMM64 and i + 1 < len(insns)
                text = format_insn(insns[i], insns[i + 1] if wide else None)
                rows.append((address + 8 * i, 16 if wide else 8, text))
                i += 2 if wide else 1
            return rows

        return disasm
