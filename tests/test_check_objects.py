"""``bpfx check-objects``: on a directory written here, and on the ebpf-samples corpus when BPFX_CORPUS_DIR names a
checkout of github.com/vbpf/ebpf-samples."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from elfwriter import STT_OBJECT, Obj

from bpfx.front.asm import assemble
from bpfx.tools.corpus import check_objects

CORPUS = os.environ.get("BPFX_CORPUS_DIR")


def _write_objects(root) -> None:
    (root / "sub").mkdir()
    Obj().code("xdp", assemble("mov %r0, 2\nexit")).sym("pass", "xdp", 0, 16).write(root / "good.o")
    Obj().code("from-netdev", assemble("ldxw %r0, [%r1+0]\nexit")).write(root / "sub" / "cilium.o")
    (root / "sub" / "broken.o").write_bytes(b"\x7fELF" + bytes(20))
    ret = assemble("mov %r0, 0\nexit")
    Obj().code("xdp", ret).data("maps", bytes(8)).sym("p", "xdp", 0, 16).sym("m", "maps", 0, 8, STT_OBJECT) \
        .write(root / "sub" / "smallmaps.o")


def test_check_objects_reports_each_object_and_program(tmp_path):
    _write_objects(tmp_path)
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "check-objects", str(tmp_path), "-t", "arm64"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "good.o: loaded, 1 program"
    assert lines[1].startswith("  xdp (pass, xdp, 2 insns): ok, ")
    assert "sub/broken.o: not loaded: malformed ELF object" in out.stdout
    assert "sub/smallmaps.o: not loaded: map definitions of 8 bytes (need at least 20, evenly spaced)" in out.stdout
    assert "  from-netdev (from-netdev, unspec, 2 insns): Unsupported: insn 0: section 'from-netdev' selects no " \
           "program type; not inferred: its context access of 4 bytes at offset 0 is __sk_buff.len (sched_cls) or " \
           "xdp_md.data (xdp), and nothing else tells the type (a context-specific helper, LD_ABS, a prog array " \
           "shared with typed programs); choose one with --prog-type" in lines
    assert lines[-1] == ("4 objects: 2 loaded (50.0%), 2 not; 2 programs: 1 compile for arm64, 1 Unsupported; "
                         "0 tracebacks")


def test_check_objects_runs_programs_on_both(tmp_path):
    _write_objects(tmp_path)
    report = check_objects(str(tmp_path), "arm64", run=True)
    assert (report.ran, report.differ) == (1, 0)
    assert "  xdp (pass, xdp, 2 insns): ok, " in "\n".join(report.lines)
    assert any(line.endswith("runs alike (ok)") for line in report.lines)
    assert report.summary("arm64").endswith("; 1 run on interp and arm64, 0 differ; 0 tracebacks")


def test_check_objects_prog_type_for_unknown_sections(tmp_path):
    _write_objects(tmp_path)
    report = check_objects(str(tmp_path), "arm64", exclude=("nothing",), prog_type="sched_cls")
    assert (report.objects, report.loaded, report.programs, report.compiled, report.tracebacks) == (4, 2, 2, 2, 0)


@pytest.mark.skipif(not CORPUS, reason="set BPFX_CORPUS_DIR to a checkout of github.com/vbpf/ebpf-samples")
def test_ebpf_samples_corpus():
    report = check_objects(CORPUS, "arm64", exclude=("invalid",))
    assert report.tracebacks == 0, [line for line in report.lines if "TRACEBACK" in line]
    assert report.loaded >= 0.95 * report.objects, report.summary("arm64")
    failed = [line for line in report.lines if line.startswith("  ") and not line.endswith(" bytes")]
    assert all(": Unsupported: " in line or ": LinkError: " in line for line in failed)
    broken = check_objects(os.path.join(CORPUS, "invalid"), "arm64")
    assert broken.tracebacks == 0 and broken.loaded == 0
