"""The exported C runtime (bpfx_vm): built freestanding with gcc, it runs the conformance programs as the bpf
target normalised them, with the interpreter's results, and stops hostile programs with a fault code."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess

import pytest

import bpfx
from bpfx.front.asm import assemble
from bpfx.front.isa import Insn, encode
from bpfx.tools.conformance import collect, parse_file
from bpfx.tools.cruntime import export_runtime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SUITE = os.environ.get("BPFX_CONFORMANCE_DIR") or os.path.join(ROOT, "..", "shared", "conformance", "tests")
FREESTANDING = ["-std=c99", "-ffreestanding", "-nostdlib", "-Wall", "-Wextra", "-Werror", "-O2"]
OK, MEMORY, BUDGET, OPCODE, JUMP, HELPER, CALL_DEPTH = 0, 1, 2, 3, 4, 5, 6



@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """The runtime object built freestanding, linked with the hosted test driver; plus an ASan/UBSan build of
    both when the toolchain has the sanitizers."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("vm")
    export_runtime(str(d))
    obj = d / "bpfx_vm.o"
    subprocess.run(["gcc", *FREESTANDING, "-c", str(d / "bpfx_vm.c"), "-o", str(obj)], check=True)
    driver = d / "driver"
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Werror", f"-I{d}", os.path.join(HERE, "vm_driver.c"),
                    str(obj), "-o", str(driver)], check=True)
    sanitized = d / "driver-asan"
    made = subprocess.run(["gcc", "-std=c99", "-O1", "-g", "-fsanitize=address,undefined",
                           "-fno-sanitize-recover=all", f"-I{d}", os.path.join(HERE, "vm_driver.c"),
                           str(d / "bpfx_vm.c"), "-o", str(sanitized)], capture_output=True)
    return d, obj, driver, sanitized if made.returncode == 0 else None


def run_batch(driver, tmp_path, cases: list[tuple[bytes, bytes]], budget: int = 1_000_000) -> list[tuple]:
    batch = tmp_path / "batch.bin"
    batch.write_bytes(b"".join(struct.pack("<IIQ", len(code), len(mem), budget) + code + mem for code, mem in cases))
    out = subprocess.run([str(driver), str(batch)], capture_output=True, text=True, check=True, timeout=60).stdout
    rows = [line.split() for line in out.splitlines()]
    assert len(rows) == len(cases)
    return [(int(f), int(pc), int(r0, 16), int(n), int(rel)) for f, pc, r0, n, rel in rows]


def test_the_runtime_object_needs_nothing_from_libc(build):
    _, obj, _, _ = build
    undefined = subprocess.run(["nm", "-u", str(obj)], capture_output=True, text=True, check=True).stdout
    assert undefined.strip() == ""


def test_exported_files_carry_the_package_version(build):
    d = build[0]
    assert f'#define BPFX_VM_VERSION "{bpfx.__version__}"' in (d / "bpfx_vm.h").read_text()


@pytest.mark.skipif(not os.path.isdir(SUITE), reason="no conformance suite (BPFX_CONFORMANCE_DIR, ../shared/...)")
def test_conformance_programs_match_the_interpreter(build, tmp_path):
    cases, expected, names, rejected = [], [], [], 0
    for path in collect([SUITE]):
        test = parse_file(path)
        prog = bpfx.Program(name="t", section="conformance", prog_type="mem", insns=test.insns, file=path)
        try:
            image = bpfx.compile(prog, "bpf")
            want = bpfx.run(prog, "interp", mem=test.mem).r0
        except bpfx.BpfxError:
            assert test.error is not None, path  # only programs the suite expects to fail never reach a device
            rejected += 1
            continue
        assert want == test.result, path
        cases.append((image.code, test.mem))
        expected.append(want)
        names.append(os.path.basename(path))
    results = run_batch(build[2], tmp_path, cases)
    wrong = [(n, hex(w), r) for n, w, r in zip(names, expected, results) if (r[0], r[2]) != (OK, w)]
    assert wrong == []
    assert (len(cases), rejected) == (313, 0)


def _code(text: str | None = None, insns: list[Insn] | None = None) -> bytes:
    return encode(assemble(text) if text is not None else insns)


HOSTILE = [  # (what, code, mem, fault, faulting instruction, fault address relative to mem or -1)
    ("load past the end of memory", _code("ldxdw %r0, [%r1+12]\nexit"), bytes(16), MEMORY, 0, 12),
    ("load before memory", _code("ldxb %r0, [%r1-1]\nexit"), bytes(16), MEMORY, 0, -1),
    ("store above the stack", _code("stxdw [%r10], %r1\nexit"), bytes(8), MEMORY, 0, None),
    ("load below the deepest frame", _code("ldxb %r0, [%r10-4097]\nexit"), b"", MEMORY, 0, None),
    ("wild pointer", _code("lddw %r1, 0x1000\nldxdw %r0, [%r1]\nexit"), bytes(8), MEMORY, 2, None),
    ("address wrap-around", _code("lddw %r1, -8\nldxdw %r0, [%r1+16]\nexit"), bytes(8), MEMORY, 2, None),
    ("atomic outside memory", _code("mov %r2, 1\nlock add [%r1+8], %r2\nexit"), bytes(8), MEMORY, 1, 8),
    ("endless loop", _code("ja -1"), b"", BUDGET, 0, -1),
    ("jump out of the program", _code("ja +5\nexit"), b"", JUMP, 6, -1),
    ("falls off the end", _code("mov %r0, 1"), b"", JUMP, 1, -1),
    ("unknown helper index", _code("call 99\nexit"), b"", HELPER, 0, -1),
    ("helper without a function", _code("call 7\nexit"), b"", HELPER, 0, -1),
    ("unrelocated map load", _code(insns=[Insn(0x18, 1, 1, 0, 3), Insn(0), Insn(0x95)]), b"", OPCODE, 0, -1),
    ("not an instruction", _code(insns=[Insn(0xFF), Insn(0x95)]), b"", OPCODE, 0, -1),
    ("endless recursion", _code(insns=[Insn(0x85, 0, 1, 0, -1), Insn(0x95)]), b"", CALL_DEPTH, 0, -1),
]


@pytest.mark.parametrize("sanitized", [False, True], ids=["plain", "asan"])
def test_hostile_programs_get_a_fault_code(build, tmp_path, sanitized):
    driver = build[3] if sanitized else build[2]
    if driver is None:
        pytest.skip("gcc has no AddressSanitizer here")
    rows = run_batch(driver, tmp_path, [(code, mem) for _, code, mem, *_ in HOSTILE], budget=10_000)
    for (what, _, _, fault, pc, rel), (got_fault, got_pc, _, _, got_rel) in zip(HOSTILE, rows):
        assert (what, got_fault, got_pc) == (what, fault, pc)
        if rel is not None:
            assert (what, got_rel) == (what, rel)
    # registers 11..15 exist, so any 4-bit register field stays inside the VM
    ok = run_batch(driver, tmp_path, [(_code(insns=[Insn(0xB7, 15, 0, 0, 9), Insn(0xBF, 0, 15), Insn(0x95)]),
                                       b"")])
    assert ok[0][:3] == (OK, 0, 9)


def test_export_runtime_command(tmp_path, capsys):
    import bpfx.cli

    assert bpfx.cli.main(["export-runtime", "-o", str(tmp_path / "fw")]) == 0
    assert sorted(os.listdir(tmp_path / "fw")) == ["bpfx_vm.c", "bpfx_vm.h"]
    assert capsys.readouterr().out.split() == [str(tmp_path / "fw" / n) for n in ("bpfx_vm.h", "bpfx_vm.c")]
