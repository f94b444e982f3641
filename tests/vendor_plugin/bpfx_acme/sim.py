"""ACME's packet-engine simulator: a target whose code no CPU emulator runs.

The ACME packet engine executes BPF itself (after the driver's normalisation): its "native code" is BPF with
context accesses rewritten to ACME's layout, helpers called by id and map references patched to addresses.
ACME runs it through its own executor (here: bpfx's interpreter over the decoded image), which is exactly
the situation of a vendor with a cycle simulator: ``bpfx_machine`` returns an object with ``run()``.
"""

from __future__ import annotations

import struct

from bpfx import (ABI, BranchForm, Image, Program, RelocType, TargetInfo, Unsupported, hookimpl,
                  interpret, isa, map_symbol)

INFO = TargetInfo(name="acme-sim", description="ACME packet engine (runs normalised BPF), simulated", e_machine=247)

_INSN = struct.Struct("<BBhi")
AX = 11  # the hidden register: the engine has twelve, BPF encodes four bits


def _insn(op: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    imm &= 0xFFFFFFFF
    return _INSN.pack(op, dst | src << 4, off, imm - (1 << 32) if imm >> 31 else imm)


def _apply_abs64(code: bytearray, offset: int, value: int, pc: int) -> None:
    """R_BPF_64_64: the two immediates of an lddw hold the 64-bit value."""
    struct.pack_into("<I", code, offset + 4, value & 0xFFFFFFFF)
    struct.pack_into("<I", code, offset + 12, (value >> 32) & 0xFFFFFFFF)


R_BPF_64_64 = 1
RELOC_TYPES = {R_BPF_64_64: RelocType("R_BPF_64_64", _apply_abs64)}


def _branch(op: int, dst: int = 0, src: int = 0, imm: int = 0, *, in_imm: bool = False) -> tuple[BranchForm, ...]:
    def encode(offset: int):
        slots = offset // 8 - 1
        if in_imm:
            return _insn(op, dst, src, 0, slots)
        return _insn(op, dst, src, slots, imm) if -0x8000 <= slots < 0x8000 else None

    return (BranchForm(8, encode),)


class SimSelector:
    reloc_types = RELOC_TYPES

    def prologue(self, cg, frame) -> None:
        frame.frame_offset = 0  # the engine keeps its own BPF stack: r10 is the frame top
        frame.native_stack = frame.stack_size

    def epilogue(self, cg, frame) -> None:
        cg.em.emit(_insn(0x95))

    def lower(self, cg, pc: int, insn, nxt) -> None:
        info = isa.OPCODES[insn.opcode]
        if info.kind == isa.Kind.LD_IMM64:
            symbol = cg.ld_imm64_symbol(insn, nxt)
            if symbol is not None:
                name, addend, kind = symbol
                cg.em.reloc(R_BPF_64_64, name, addend, kind)
                cg.em.emit(_insn(0x18, insn.dst) + _insn(0))
            else:
                cg.em.emit(_insn(0x18, insn.dst, 0, 0, insn.imm) + _insn(0, 0, 0, 0, nxt.imm))
            return
        target = isa.jump_target(pc, insn)
        if target is not None:
            wide = info.kind == isa.Kind.JA and info.cls == isa.Cls.JMP32  # gotol: offset in imm
            cg.em.branch(target, _branch(insn.opcode, insn.dst, insn.src, insn.imm, in_imm=wide))
            return
        cg.em.emit(_insn(*insn))

    def move(self, cg, dst: int, src: int) -> None:
        cg.em.emit(_insn(0xBF, dst, src))

    def call(self, cg, entry) -> None:
        cg.em.emit(_insn(0x85, 0, 0, 0, entry.id))

    def call_local(self, cg, label) -> None:
        cg.em.branch(label, _branch(0x85, 0, 1, in_imm=True))

    def jump(self, cg, label) -> None:
        cg.em.branch(label, _branch(0x05))


class SimExecutor:
    """Loads an image as ACME's driver would (map addresses patched in), then runs it."""

    def run(self, image: Image, runtime, budget: int):
        code = bytearray(image.code)
        maps = runtime.program.maps
        for r in image.relocs:
            index = next((i for i, m in enumerate(maps) if map_symbol(m.name) == r.symbol), None)
            if index is None:
                raise Unsupported(f"acme-sim cannot resolve {r.kind} symbol {r.symbol!r}")
            base = runtime.map_address(index) if r.kind == "map" else runtime.map_value_address(index)
            image.reloc_types[r.type].apply(code, r.offset, base + r.addend, r.offset)
        functions = {off // 8: name for name, off in image.symbols.items()}
        program = Program(name=image.entry, section="acme", prog_type=image.prog_type,
                          insns=isa.decode(bytes(code)), file="<acme-sim>", functions=functions)
        return interpret(program, runtime, budget=budget)


ABI_SIM = ABI(regs={r: r for r in range(12)}, arg_regs=(1, 2, 3, 4, 5), ret_reg=0,
              callee_saved=frozenset({6, 7, 8, 9, 10}), scratch=(), reg_names={r: f"r{r}" for r in range(12)},
              stack_align=8, udiv_by_zero_is_zero=True, umod_by_zero_is_dst=True, sdiv_overflow_safe=True,
              shifts_mask_count=True, alu32_zero_extends=True)


@hookimpl
def bpfx_targets():
    return [INFO]


@hookimpl
def bpfx_abi(target):
    return ABI_SIM if target.name == INFO.name else None


@hookimpl
def bpfx_selector(target, abi, features):
    return SimSelector() if target.name == INFO.name else None


@hookimpl
def bpfx_machine(target):
    return SimExecutor() if target.name == INFO.name else None



