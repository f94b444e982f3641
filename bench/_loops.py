"""The compute loops of bench/loops/loops.c, built with clang -target bpf into a temporary directory."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile

import bpfx

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "loops", "loops.c")
PACKET = bytes((i * 7 + 3) & 0xFF for i in range(2048))


def build() -> bpfx.Object | None:
    """The loops as a bpfx Object, or None (with a note on stderr) when clang or libbpf-dev is missing."""
    if shutil.which("clang") is None or not os.path.exists("/usr/include/bpf/bpf_helpers.h"):
        print("(clang and libbpf-dev are needed to build bench/loops/loops.c; skipped)")
        return None
    out = os.path.join(tempfile.mkdtemp(prefix="bpfx-loops-"), "loops.o")
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", f"-I/usr/include/{platform.machine()}-linux-gnu",
                    "-c", SOURCE, "-o", out], check=True)
    return bpfx.load(out)
