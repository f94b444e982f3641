"""Running a bpf Image: the normalised program, relocated the way a device loader would, on bpfx's interpreter.

What runs is the device program itself (device context layout, device helper indices, patched map
references), so conformance and differential fuzzing check the normalisation, not the input.
"""

from __future__ import annotations

import bpfx
from bpfx import Image, LinkError, Program, RuntimeFault, isa, map_symbol


class BpfExecutor:
    """The ``Executor`` of the bpf target: ``run(image, runtime, budget) -> Result``."""

    def __init__(self, target: str):
        self.target = target

    def program(self, image: Image, runtime, source: Program) -> Program:
        """The Image relocated against ``runtime``'s maps, with device helper indices mapped back to the ids the
        runtime implements, as a Program the interpreter runs."""
        code = bytearray(image.code)
        for reloc in image.relocs:
            value = _symbol_value(reloc, source, runtime) + reloc.addend
            image.reloc_types[reloc.type].apply(code, reloc.offset, value, reloc.offset)
        insns = isa.decode(code)
        table = runtime.helper_table
        to_id = {e.address: hid for hid, e in table.entries.items() if e.address is not None} if table else {}
        if to_id:  # each call back to the helper id the source called (by its line), else by the table
            lines = {off // isa.INSN_SIZE: index for off, index in image.line_map if index >= 0}
            for pc, insn in enumerate(insns):
                if insn.opcode == isa.CALL and insn.src == isa.CallKind.HELPER:
                    origin = source.insns[lines[pc]] if pc in lines else None
                    if origin is not None and origin.opcode == isa.CALL and origin.src == isa.CallKind.HELPER:
                        insns[pc] = insn._replace(imm=origin.imm)
                    elif insn.imm in to_id:
                        insns[pc] = insn._replace(imm=to_id[insn.imm])
        functions = {off // isa.INSN_SIZE: name for name, off in image.symbols.items()}
        return Program(name=source.name, section=source.section, prog_type=source.prog_type, insns=insns,
                       file=source.file, functions=functions, maps=source.maps)

    def run(self, image: Image, runtime, budget: int):
        source = runtime.program
        program = self.program(image, runtime, source)

        def prepare(target: Program) -> Program:  # a tail call runs the callee's normalised program too
            image = runtime.compile(target) if runtime.compile is not None else bpfx.compile(target, self.target)
            return self.program(image, runtime, target)

        try:
            return bpfx.interpret(program, runtime, budget=budget, prepare=prepare)
        except RuntimeFault as err:
            if err.insn is not None:  # a normalised slot -> the BPF instruction it came from
                err.insn = _origin(image, err.insn * isa.INSN_SIZE)
            raise


def _symbol_value(reloc, program: Program, runtime) -> int:
    for index, mapdef in enumerate(program.maps):
        if map_symbol(mapdef.name) == reloc.symbol:
            if reloc.kind == "map":
                return runtime.map_address(index)
            if reloc.kind == "map_value":
                return runtime.map_value_address(index)
    raise LinkError(f"cannot resolve {reloc.kind} symbol {reloc.symbol!r}")


def _origin(image: Image, offset: int) -> int | None:
    best = None
    for off, index in image.line_map:
        if off > offset:
            break
        if index >= 0:
            best = index
    return best
