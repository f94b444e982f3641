"""bpf_conformance (../shared/conformance) on every runnable target: 0 failed, 0 skipped."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bpfx.tools.conformance import run_conformance
from bpfx.plugins import all_targets

SUITE = os.environ.get("BPFX_CONFORMANCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                             "conformance", "tests")
RUNNABLE = [t.name for t in all_targets() if t.machine() is not None or "run" in t.implemented_hooks()]
pytestmark = pytest.mark.skipif(not os.path.isdir(SUITE),
                                reason="no conformance suite (BPFX_CONFORMANCE_DIR, ../shared/conformance/tests)")


@pytest.mark.parametrize("target", RUNNABLE)
def test_suite_passes(target):
    summary = run_conformance([SUITE], target)
    assert summary.failed == []
    assert summary.skipped == []
    assert len(summary.passed) == 313


@pytest.mark.parametrize("target", [t for t in RUNNABLE if t != "interp"])
def test_suite_passes_hardened(target):
    summary = run_conformance([SUITE], target, harden=True)
    assert (summary.failed, len(summary.passed)) == ([], 313)


def test_arm64_without_lse_uses_ll_sc_and_still_passes():
    from bpfx.tools.conformance import _program, collect, parse_file
    from bpfx.execute.runner import run_program

    for path in collect([SUITE]):
        if "lock" not in os.path.basename(path) and "atomic" not in os.path.basename(path):
            continue
        test = parse_file(path)
        assert run_program(_program(test), "arm64", mem=test.mem, features={"lse": False}).r0 == test.result, path


def test_gating_reproduces_the_reference_runner_counts():
    counts = [len(run_conformance([SUITE], "interp", cpu_version=v).passed) for v in (1, 2, 3, 4)]
    assert counts == [163, 172, 254, 313]
    default = run_conformance([SUITE], "interp", cpu_version=3, groups=["base32", "base64", "atomic32", "atomic64",
                                                                        "divmul32", "divmul64"])
    assert all(reason.startswith(("needs cpu v4", "needs group callx")) for _, reason in default.skipped)


def test_cli_summary_line_and_skip_reasons():
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "conformance", SUITE, "-t", "interp", "--cpu-version",
                          "2"], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    assert out.returncode == 0
    assert lines[-1] == "172 passed, 0 failed, 141 skipped"
    assert sum(1 for line in lines if line.startswith("SKIP ") and ": needs cpu v" in line) == 141


def test_cli_reports_a_failure_with_expected_and_actual(tmp_path):
    bad = tmp_path / "wrong.data"
    bad.write_text("-- asm\nmov %r0, 2\nexit\n-- result\n0x3\n")
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "conformance", str(bad), "-t", "arm64"],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert f"FAIL {bad}: expected 0x3, got 0x2" in out.stdout
    assert out.stdout.splitlines()[-1] == "0 passed, 1 failed, 0 skipped"


def test_error_section_passes_when_the_program_is_rejected(tmp_path):
    rejected = tmp_path / "rejected.data"
    rejected.write_text("-- asm\nmov %r10, 2\nexit\n-- error\nwrite to r10\n")
    assert len(run_conformance([str(rejected)], "interp").passed) == 1
    accepted = tmp_path / "accepted.data"
    accepted.write_text("-- asm\nmov %r0, 0\nexit\n-- error\nsomething\n")
    assert len(run_conformance([str(accepted)], "interp").failed) == 1


def test_plugin_protocol():
    prog = "b700000005000000" "0f10000000000000" "9500000000000000"  # r0 = 5; r0 += r1; exit
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "conformance-plugin", "-t", "arm64", "01 02"],
                         input=prog, capture_output=True, text=True)
    assert out.returncode == 0
    assert int(out.stdout.strip(), 16) == 5 + 0x0500_0000  # r1 is the memory block's address
    bad = subprocess.run([sys.executable, "-m", "bpfx.cli", "conformance-plugin"], input="zz",
                         capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip() == "bpfx: input is not hex"
