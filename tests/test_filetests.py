"""Filetests: BPF assembly in, the expected native listing below it as comments.

Each tests/filetests/<target>/*.s holds BPF assembly, then a line "# ---- expected ----" and the listing
``bpfx compile -f listing`` prints, each line behind "# ". Run with BPFX_BLESS=1 to rewrite the expectations;
review reads the diff. A "# type: xdp" line in the input selects the program type (default mem).
"""

from __future__ import annotations

import glob
import os

import pytest

import bpfx
from bpfx.front.asm import assemble
from bpfx.plugins import get_target
from bpfx.back.writers.listing import write_listing

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "filetests")
MARKER = "# ---- expected ----"
FILES = sorted(glob.glob(os.path.join(HERE, "*", "*.s")))


def render(path: str) -> tuple[str, str]:
    with open(path) as f:
        text = f.read()
    source = text.split(MARKER)[0].rstrip("\n") + "\n"
    ptype = "mem"
    for line in source.splitlines():
        if line.startswith("# type:"):
            ptype = line.split(":", 1)[1].strip()
    target = os.path.basename(os.path.dirname(path))
    prog = bpfx.Program(name=os.path.basename(path)[:-2], section="filetest", prog_type=ptype,
                        insns=assemble(source, file=path), file=path)
    image = bpfx.compile(prog, target, safety="structural")  # instruction selection as written, unsafe or not
    listing = write_listing(image, program=prog, disasm=get_target(target).selector().disassembler)
    return source, "".join(f"# {line}".rstrip() + "\n" for line in listing.splitlines())


@pytest.mark.parametrize("path", FILES, ids=lambda p: os.path.relpath(p, HERE))
def test_filetest(path):
    source, got = render(path)
    if os.environ.get("BPFX_BLESS"):
        with open(path, "w") as f:
            f.write(source + MARKER + "\n" + got)
        return
    with open(path) as f:
        expected = f.read().split(MARKER + "\n", 1)
    assert len(expected) == 2, f"{path} has no expectations: run with BPFX_BLESS=1"
    assert got == expected[1]
