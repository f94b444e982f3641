"""``bpfx export-runtime``: the freestanding C runtime (an interpreter for device-normalised BPF) as source.

The runtime ships as data of this package (``bpfx/execute/cruntime``), so it is versioned with the compiler
that produces the programs it runs; the files carry that version.
"""

from __future__ import annotations

import os
from importlib import resources

from .. import __version__
from ..errors import BpfxError
from ..fileio import write_atomic

FILES = ("bpfx_vm.h", "bpfx_vm.c")


def runtime_sources() -> dict[str, str]:
    """File name -> C source, with the package version filled in."""
    base = resources.files("bpfx.execute") / "cruntime"
    return {name: (base / name).read_text().replace("@BPFX_VERSION@", __version__) for name in FILES}


def export_runtime(directory: str) -> list[str]:
    """Write the runtime's header and source into ``directory`` (created if needed); returns the paths."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise BpfxError(f"cannot create directory: {exc.strerror}", file=directory) from None
    paths = []
    for name, text in runtime_sources().items():
        path = os.path.join(directory, name)
        write_atomic(path, text.encode())
        paths.append(path)
    return paths


def cmd_export_runtime(args) -> int:
    for path in export_runtime(args.output):
        print(path)
    return 0


def register(sub) -> None:
    p = sub.add_parser("export-runtime", help="write the freestanding C runtime for programs of the bpf target",
                       description="Write bpfx_vm.h and bpfx_vm.c: a C99 interpreter (no libc, no allocation) for "
                                   "the device-normalised BPF that 'bpfx compile -t bpf' produces, with a helper "
                                   "table, bounds-checked memory regions, an instruction budget and fault codes.")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write the two files to")
    p.set_defaults(func=cmd_export_runtime)
