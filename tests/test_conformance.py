"""bpf_conformance on every runnable target: 0 failed, 0 skipped.

The suite is found through BPFX_CONFORMANCE_DIR or ../shared/conformance/tests (``bpfx.testing``); without
it, the tests that need it skip with one line saying where to get it.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bpfx import testing
from bpfx.tools.conformance import run_conformance

SUITE = testing.conformance_dir(os.path.dirname(os.path.abspath(__file__)))
RUNNABLE = testing.runnable_targets()
needs_suite = pytest.mark.skipif(SUITE is None, reason=testing.NO_SUITE)


@needs_suite
@pytest.mark.parametrize("target", RUNNABLE)
def test_suite_passes(target):
    summary = run_conformance([SUITE], target)
    assert summary.failed == []
    assert summary.skipped == []
    # a target may reject a program at compile time (Unsupported, naming the instruction), never run it wrongly
    assert len(summary.passed) + len(summary.unsupported) == 313
    if target in ("interp", "arm64"):
        assert summary.unsupported == []
    assert all("unsupported" in reason or "not offered" in reason for _, reason in summary.unsupported)


@needs_suite
@pytest.mark.parametrize("target", [t for t in RUNNABLE if t != "interp"])
def test_suite_passes_hardened(target):
    summary = run_conformance([SUITE], target, harden=True)
    assert (summary.failed, len(summary.passed) + len(summary.unsupported)) == ([], 313)
    if target == "arm64":
        assert summary.unsupported == []


@needs_suite
def test_arm64_without_lse_uses_ll_sc_and_still_passes():
    from bpfx.tools.conformance import _program, collect, parse_file
    from bpfx.execute.runner import run_program

    for path in collect([SUITE]):
        if "lock" not in os.path.basename(path) and "atomic" not in os.path.basename(path):
            continue
        test = parse_file(path)
        assert run_program(_program(test), "arm64", mem=test.mem, features={"lse": False}).r0 == test.result, path


@needs_suite
def test_gating_reproduces_the_reference_runner_counts():
    counts = [len(run_conformance([SUITE], "interp", cpu_version=v).passed) for v in (1, 2, 3, 4)]
    assert counts == [163, 172, 254, 313]
    default = run_conformance([SUITE], "interp", cpu_version=3, groups=["base32", "base64", "atomic32", "atomic64",
                                                                        "divmul32", "divmul64"])
    assert all(reason.startswith(("needs cpu v4", "needs group callx")) for _, reason in default.skipped)


@needs_suite
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


PLUGIN = [sys.executable, "-c", "import sys; from bpfx.tools.conformance import plugin_main; "
                                "sys.exit(plugin_main(sys.argv[1:]))"]
# r0 = 5; r0 += r1; exit, as the runner sends it: each byte as hex followed by two spaces
PROGRAM_HEX = "".join(f"{b:02x}  " for b in bytes.fromhex("b700000005000000" "0f10000000000000" "9500000000000000"))


@pytest.mark.parametrize("argv", [
    ["11  22  ", "-t", "arm64"],          # memory first, options split on spaces (the current runner)
    ["11  22  ", "-t", "", "arm64"],      # a double space in --plugin_options gives an empty argument
    ["11  22  ", "-t arm64"],             # options as one string (older runners)
])
def test_conformance_plugin_takes_the_runner_argument_order(argv):
    out = subprocess.run(PLUGIN + argv, input=PROGRAM_HEX + "\n", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.strip(), 16) == 5 + 0x0500_0000  # r1 is the memory block's address


def test_conformance_plugin_without_memory():
    out = subprocess.run(PLUGIN + ["-t", "arm64"], input=PROGRAM_HEX + "\n", capture_output=True, text=True)
    assert (out.returncode, out.stdout) == (0, "5\n")  # no memory block: r1 = 0


def test_conformance_plugin_errors_are_one_line():
    out = subprocess.run(PLUGIN + ["-t", "nosuch"], input=PROGRAM_HEX, capture_output=True, text=True)
    assert out.returncode == 2 and out.stderr.startswith("bpfx: unknown target 'nosuch'")
    bad = subprocess.run(PLUGIN + ["-t", "interp"], input="95 00 00", capture_output=True, text=True)
    assert (bad.returncode, bad.stderr) == (1, "bpfx: program of 3 bytes is not a whole number of instructions\n")


def test_conformance_plugin_is_a_console_script():
    from importlib.metadata import entry_points

    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["bpfx-conformance-plugin"] == "bpfx.tools.conformance:plugin_main"
