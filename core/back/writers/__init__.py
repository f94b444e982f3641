"""Image writers: raw bytes, ELF relocatable objects, C arrays, listings.

Every writer produces the whole output in memory first and then replaces the
target file atomically, so an error never leaves a partial file behind.
"""

from __future__ import annotations

import sys

from ...fileio import write_atomic
from ...errors import UsageError
from ..target import Image

FORMATS = ("elf", "bin", "c", "listing")


def render(image: Image, fmt: str, *, program=None, disasm=None, abi=None, out_name: str = "") -> dict[str, bytes]:
    """The files a format produces: {suffix: contents}; suffix '' is the main output."""
    if fmt == "elf":
        from .elf import write_elf

        return {"": write_elf(image)}
    if fmt == "bin":
        from .raw import relocs_json

        files = {"": image.code}
        if image.relocs:
            files[".relocs.json"] = relocs_json(image).encode()
        return files
    if fmt == "c":
        from .carray import write_c

        return {"": write_c(image).encode()}
    if fmt == "listing":
        from .listing import write_listing

        return {"": write_listing(image, program=program, disasm=disasm, abi=abi).encode()}
    raise UsageError(f"unknown format {fmt!r} (formats: {', '.join(FORMATS)})")


def write(image: Image, fmt: str, out: str, *, program=None, disasm=None, abi=None) -> None:
    files = render(image, fmt, program=program, disasm=disasm, abi=abi)
    if out == "-":
        if fmt in ("elf", "bin"):
            sys.stdout.buffer.write(files[""])
        else:
            sys.stdout.write(files[""].decode())
        return
    for suffix, data in files.items():
        write_atomic(out + suffix, data)
