"""A listing: each BPF instruction followed by the native instructions generated for it."""

from __future__ import annotations

from ...front.asm import format_insn
from ..target import Image


def write_listing(image: Image, *, program=None, disasm=None) -> str:
    """``disasm(code, address) -> [(address, size, text)]``; if it has a ``footer(image) -> str`` attribute, that
    line closes the listing."""
    lines = [f"; {image.target} code for {image.entry}: {len(image.code)} bytes, {len(image.relocs)} relocations, "
             f"frame {image.stack_size} bytes"]
    starts = {off: name for name, off in image.symbols.items()}
    relocs = {r.offset: r for r in image.relocs}
    marks = list(image.line_map)
    insns = program.insns if program is not None else None
    bounds = [off for off, _ in marks] + [len(image.code)]
    if marks and marks[0][0] > 0:
        marks.insert(0, (0, -1))
        bounds.insert(0, 0)
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
        chunk = image.code[off:end]
        rows = disasm(chunk, off) if disasm else [(off + k, 4, "") for k in range(0, len(chunk), 4)]
        for addr, size, text in rows:
            word = image.code[addr:addr + size][::-1].hex()
            note = ""
            if addr in relocs:
                r = relocs[addr]
                name = image.reloc_types[r.type].name if r.type in image.reloc_types else str(r.type)
                note = f"    ; {name} {r.symbol}" + (f"+{r.addend}" if r.addend else "")
            lines.append(f"    {addr:6x}:  {word:8}  {text}{note}".rstrip())
    footer = getattr(disasm, "footer", None)  # a target's closing line, e.g. code size against its limit
    if footer is not None:
        lines.append(footer(image))
    return "\n".join(lines) + "\n"
