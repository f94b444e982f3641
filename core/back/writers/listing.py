"""A listing: each BPF instruction followed by the native instructions generated for it; the C source line an
instruction starts (from the object's .BTF.ext line info) comes before it, like ``bpftool prog dump jited linum``."""

from __future__ import annotations

from ...front.asm import format_insn
from ..target import Image


def write_listing(image: Image, *, program=None, disasm=None) -> str:
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
    source = dict(program.lines) if program is not None and program.lines else {}
    for i, (off, bpf) in enumerate(marks):
        end = bounds[i + 1]
        if off in starts and off not in labelled:
            lines.append(f"{starts[off]}:")
            labelled.add(off)
        if end == off and bpf < 0:
            continue  # an empty prologue or epilogue
        if bpf in source:
            lines.append(f"    ; {source.pop(bpf)}")
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
    return "\n".join(lines) + "\n"
