"""A listing: each BPF instruction followed by the native instructions generated for it."""

from __future__ import annotations

from ...front.asm import format_insn
from ..target import Image


def _rows(image: Image, segments, disasm) -> list[list[tuple[int, int, str]]]:
    if disasm is None:  # no disassembler: raw 4-byte chunks
        return [[(a, min(4, end - a), "") for a in range(off, end, 4)] for off, end in segments]
    return [disasm(image.code[off:end], off) if end > off else [] for off, end in segments]


def write_listing(image: Image, *, program=None, disasm=None, abi=None) -> str:
    lines = [f"; {image.target} code for {image.entry}: {len(image.code)} bytes, {len(image.relocs)} relocations, "
             f"frame {image.stack_size} bytes"]
    if abi is not None:
        lines.append(f"; registers: {abi.describe()}")
    starts = {off: name for name, off in image.symbols.items()}
    marks = list(image.line_map)
    insns = program.insns if program is not None else None
    bounds = [off for off, _ in marks] + [len(image.code)]
    if marks and marks[0][0] > 0:
        marks.insert(0, (0, -1))
        bounds.insert(0, 0)
    rows = _rows(image, [(off, bounds[i + 1]) for i, (off, _) in enumerate(marks)], disasm)
    sizes = {size for chunk in rows for _, size, _ in chunk}
    # Fixed-size instruction words read as numbers (the ISA manuals' notation); anything else (x86, RISC-V with
    # compressed instructions) as bytes in memory order.
    as_words = len(sizes) == 1 and sizes <= {4, 8}
    width = max(sizes, default=4) * 2
    relocs = sorted(image.relocs, key=lambda r: r.offset)
    labelled = set()
    for i, (off, bpf) in enumerate(marks):
        end = bounds[i + 1]
        if off in starts and off not in labelled:
            lines.append(f"{starts[off]}:")
            labelled.add(off)
        if end == off and bpf < 0:
            continue  # an empty prologue or epilogue
        if bpf < 0:
            lines.append("    ; frame setup / teardown")
        elif insns is not None:
            nxt = insns[bpf + 1] if bpf + 1 < len(insns) else None
            lines.append(f"    ; {bpf:4}: {format_insn(insns[bpf], nxt)}")
        else:
            lines.append(f"    ; {bpf:4}")
        for addr, size, text in rows[i]:
            raw = image.code[addr:addr + size]
            shown = raw[::-1].hex() if as_words else raw.hex()
            inside = [r for r in relocs if addr <= r.offset < addr + size]
            note = "".join(
                f"    ; {image.reloc_types[r.type].name if r.type in image.reloc_types else r.type} {r.symbol}"
                + (f"+{r.addend}" if r.addend else "") + (f" @+{r.offset - addr}" if r.offset != addr else "")
                for r in inside)
            lines.append(f"    {addr:6x}:  {shown:{width}}  {text}{note}".rstrip())
    return "\n".join(lines) + "\n"
