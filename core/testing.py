"""Test helpers for bpfx and for vendors' target plugins: the checks our targets get, for any target.

A vendor's test suite can use them directly::

    import pytest
    from bpfx import testing

    SUITE = testing.conformance_dir()

    @pytest.mark.skipif(SUITE is None, reason=testing.NO_SUITE)
    def test_conformance():
        assert testing.conformance(SUITE, "acme").failed == []

    @pytest.mark.parametrize("path", testing.filetests("tests/filetests"), ids=testing.filetest_id)
    def test_filetest(path):
        testing.check_filetest(path)          # BPFX_BLESS=1 rewrites the expectation

and ``testing.fuzz("acme", n=200)`` returns the programs on which the target and the interpreter disagree.
"""

from __future__ import annotations

import glob
import os
import random

NO_SUITE = ("bpf_conformance suite not found: set BPFX_CONFORMANCE_DIR to the tests/ folder of "
            "github.com/Alan-Jowett/bpf_conformance (or put it at ../shared/conformance/tests)")
FILETEST_MARKER = "# ---- expected ----"


def conformance_dir(start: str | None = None) -> str | None:
    """The bpf_conformance ``tests/`` folder: ``$BPFX_CONFORMANCE_DIR``, else ``shared/conformance/tests``
    beside a parent folder of ``start`` (default: the current directory), else None."""
    env = os.environ.get("BPFX_CONFORMANCE_DIR")
    if env:
        return env if os.path.isdir(env) else None
    here = os.path.abspath(start or os.getcwd())
    while True:
        candidate = os.path.join(os.path.dirname(here), "shared", "conformance", "tests")
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def conformance(suite: str, target: str, **options):
    """Run the suite on ``target``; returns a Summary (``passed``, ``failed``, ``skipped``, ``line()``)."""
    from .tools.conformance import run_conformance

    return run_conformance([suite], target, **options)


def fuzz(target: str, *, n: int = 100, seed: int = 0, length: int = 40) -> list:
    """Random valid programs on ``target`` and the interpreter: the (program, difference) pairs that disagree."""
    from .tools.fuzz import compare, random_program

    rng = random.Random(seed)
    bad = []
    for _ in range(n):
        prog = random_program(rng, length=length)
        problem = compare(prog, target)
        if problem is not None:
            bad.append((prog, problem))
    return bad


def runnable_targets() -> list[str]:
    """Every target that runs programs (interpreted or through an executor)."""
    from .plugins import all_targets

    return [t.name for t in all_targets() if t.machine() is not None or "run" in t.implemented_hooks()]


def native_targets() -> list[str]:
    """Every target that compiles code (a selector and an ABI) and can run it."""
    from .plugins import all_targets

    return [t.name for t in all_targets() if t.abi() is not None and t.machine() is not None]


def filetests(directory: str) -> list[str]:
    """The filetests below ``directory``: ``<directory>/<target>/*.s``."""
    return sorted(glob.glob(os.path.join(directory, "*", "*.s")))


def filetest_id(path: str) -> str:
    return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))


def render_filetest(path: str) -> tuple[str, str]:
    """(BPF source, the listing as comment lines) for a filetest; the target is the folder's name, a
    ``# type: xdp`` line selects the program type (default mem) and ``# features: +c,-lse`` the features."""
    from .api import Program, compile
    from .back.writers.listing import write_listing
    from .front.asm import assemble
    from .plugins import get_target

    with open(path) as f:
        text = f.read()
    source = text.split(FILETEST_MARKER)[0].rstrip("\n") + "\n"
    ptype, features = "mem", None
    for line in source.splitlines():
        if line.startswith("# type:"):
            ptype = line.split(":", 1)[1].strip()
        elif line.startswith("# features:"):
            features = {f.strip()[1:]: f.strip()[0] == "+" for f in line.split(":", 1)[1].split(",")}
    target = os.path.basename(os.path.dirname(path))
    prog = Program(name=os.path.basename(path)[:-2], section="filetest", prog_type=ptype,
                   insns=assemble(source, file=path), file=path)
    # instruction selection as written, unsafe or not
    image = compile(prog, target, features=features, safety="structural")
    disasm = getattr(get_target(target).selector(features), "disassembler", None)
    listing = write_listing(image, program=prog, disasm=disasm, abi=get_target(target).abi())
    return source, "".join(f"# {line}".rstrip() + "\n" for line in listing.splitlines())


def check_filetest(path: str) -> None:
    """Assert the filetest's listing is the expected one; with BPFX_BLESS=1, rewrite the expectation."""
    source, got = render_filetest(path)
    if os.environ.get("BPFX_BLESS"):
        with open(path, "w") as f:
            f.write(source + FILETEST_MARKER + "\n" + got)
        return
    with open(path) as f:
        expected = f.read().split(FILETEST_MARKER + "\n", 1)
    assert len(expected) == 2, f"{path} has no expectations: run with BPFX_BLESS=1"
    assert got == expected[1], f"{path}: the listing differs (BPFX_BLESS=1 rewrites it; review the diff)"
