"""ACME's own tests, as a vendor writes them with ``bpfx.testing``: the checks bpfx's targets get."""

from __future__ import annotations

import os

import pytest

from bpfx import testing

HERE = os.path.dirname(os.path.abspath(__file__))
SUITE = testing.conformance_dir(HERE)


@pytest.mark.skipif(SUITE is None, reason=testing.NO_SUITE)
@pytest.mark.parametrize("target", ["acme", "acme-sim"])
def test_conformance(target):
    summary = testing.conformance(SUITE, target)
    assert (summary.failed, len(summary.skipped)) == ([], 0)


@pytest.mark.parametrize("target", ["acme", "acme-sim"])
def test_differential_fuzzing(target):
    assert testing.fuzz(target, n=30, seed=11) == []


@pytest.mark.parametrize("path", testing.filetests(os.path.join(HERE, "filetests")), ids=testing.filetest_id)
def test_filetest(path):
    testing.check_filetest(path)


def test_the_simulator_runs_from_the_command_line(tmp_path):
    """acme-sim's executor is not unicorn: bpfx run and bpfx conformance go through it all the same."""
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
    example = os.path.join(root, "examples", "xdp_adjust_head.o")
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "run", example, "-t", "acme-sim", "--packet-size",
                          "4096"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[:2] == ["r0 = 2 (XDP_PASS)  [0x2]", "packet length = 4084"]
    data = tmp_path / "mul.data"
    data.write_text("-- asm\nmov %r0, 7\nmul %r0, 6\nexit\n-- result\n0x2a\n")
    conf = subprocess.run([sys.executable, "-m", "bpfx.cli", "conformance", str(data), "-t", "acme-sim"],
                          capture_output=True, text=True)
    assert (conf.returncode, conf.stdout.splitlines()[-1]) == (0, "1 passed, 0 failed, 0 skipped")
