"""A listing: each BPF instruction followed by the native instructions generated for it; the C source line an
instruction starts (from the object's .BTF.ext line info) comes before it, like ``bpftool prog dump jited linum``."""

from __future__ import annotations

from ...front.asm import format_insn
from ..emit import DATA
from ..target import Image


def _data_rows(code: bytes, off: int, end: int) -> list[tuple[int, int, str]]:
    """A constant pool: the padding up to 8-byte alignment, then 64-bit little-endian words."""
    rows = []
    while off < end:
        size = min(8 - off % 8, end - off) if off % 8 else min(8, end - off)
        word = int.from_bytes(code[off:off + size], "little")
        rows.append((off, size, f".quad {word:#x}" if size == 8 else f".zero {size}"))
        off += size
    return rows


def _rows(image: Image, segments, disasm) -> list[list[tuple[int, int, str]]]:
    out = []
    for off, end, bpf in segments:
        if bpf == DATA:
            out.append(_data_rows(image.code, off, end))
        elif disasm is None:  # no disassembler: raw 4-byte chunks
            out.append([(a, min(4, end - a), "") for a in range(off, end, 4)])
        else:
            out.append(disasm(image.code[off:end], off) if end > off else [])
    return out


def write_listing(image: Image, *, program=None, disasm=None, abi=None) -> str:
    """``disasm(code, address) -> [(address, size, text)]``; if it has a ``footer(image) -> str`` attribute,
    that line closes the listing."""
    lines = [f"; {image.target} code for {image.entry}: {len(image.code)} bytes, {len(image.relocs)} relocations, "
             f"frame {image.stack_size} bytes"]
    if program is not None and program.type_reason:  # no SEC name typed it: say how it got its type
        lines.append(f"; {program.type_reason}")
    if abi is not None:
        lines.append(f"; registers: {abi.describe()}")
    starts = {off: name for name, off in image.symbols.items()}
    marks = list(image.line_map)
    insns = program.insns if program is not None else None
    bounds = [off for off, _ in marks] + [len(image.code)]
    if marks and marks[0][0] > 0:
        marks.insert(0, (0, -1))
        bounds.insert(0, 0)
    rows = _rows(image, [(off, bounds[i + 1], bpf) for i, (off, bpf) in enumerate(marks)], disasm)
    sizes = {size for chunk in rows for _, size, _ in chunk}
    # Instructions made of 16-bit parcels (arm64, RISC-V with or without compressed forms, nfp's 64-bit words)
    # read as little-endian numbers, the ISA manuals' notation; byte-granular ISAs (x86) as bytes in memory order.
    as_words = sizes <= {2, 4, 8}
    width = max(8, 2 * max(sizes, default=4))
    relocs = sorted(image.relocs, key=lambda r: r.offset)
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
        if bpf == DATA:
            lines.append("    ; constants")
        elif bpf < 0:
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
    footer = getattr(disasm, "footer", None)  # a target's closing line, e.g. code size against its limit
    if footer is not None:
        lines.append(footer(image))
    return "\n".join(lines) + "\n"
