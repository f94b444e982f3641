"""The exported C runtime (bpfx_vm): built freestanding with gcc, it runs the conformance programs as the bpf
target normalised them, with the interpreter's results, and stops hostile programs with a fault code."""

from __future__ import annotations

import glob
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass, field

import pytest

import bpfx
from bpfx.front.asm import assemble
from bpfx.execute.runtime import Runtime, layout
from bpfx.front.isa import Insn, encode
from bpfx.plugins import default_context
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


@dataclass
class Case:
    """One program for the driver: mem programs need only code and memory."""

    code: bytes
    mem: bytes = b""
    ctx: bytes = b""
    ptrs: list = field(default_factory=list)  # (ctx offset, 0 data | 1 data_end | 2 data_meta)
    maps: list = field(default_factory=list)  # MapDef
    relocs: list = field(default_factory=list)  # (code offset, map index, 0 map | 1 map value, addend)
    data: tuple[int, int] = (0, 0)  # data and data_end as offsets into mem

    def encode(self, budget: int) -> bytes:
        out = struct.pack("<IIQIIIIII", len(self.code), len(self.mem), budget, len(self.ctx), len(self.ptrs),
                          len(self.maps), len(self.relocs), *self.data)
        out += self.code + self.mem + self.ctx + b"".join(struct.pack("<II", *p) for p in self.ptrs)
        for m in self.maps:
            out += struct.pack("<IIIII", m.type, m.key_size, m.value_size, m.max_entries, m.initial is not None)
            out += m.initial or b""
        return out + b"".join(struct.pack("<IIIq", *r) for r in self.relocs)


def run_batch(driver, tmp_path, cases: list, budget: int = 1_000_000) -> list[tuple]:
    """The first result line of each case as (fault, fault pc, r0, executed, fault address - mem or -1), with the
    lines that follow it for context programs."""
    batch = tmp_path / "batch.bin"
    batch.write_bytes(b"".join((c if isinstance(c, Case) else Case(*c)).encode(budget) for c in cases))
    out = subprocess.run([str(driver), str(batch)], capture_output=True, text=True, check=True, timeout=60).stdout
    lines = out.splitlines()
    rows = []
    while lines:
        f, pc, r0, n, rel = lines.pop(0).split()
        extra = []
        if lines and lines[0].startswith("packet"):
            while (line := lines.pop(0)) != "end":
                extra.append(line)
        rows.append((int(f), int(pc), int(r0, 16), int(n), int(rel), extra))
    assert len(rows) == len(cases)
    return rows


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
    for (what, _, _, fault, pc, rel), (got_fault, got_pc, _, _, got_rel, _) in zip(HOSTILE, rows):
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


EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.o")))
TCP = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(range(200))
POINTERS = {"data": 0, "data_end": 1, "data_meta": 2}


def example_case(prog, obj, packet: bytes) -> tuple[Case, object]:
    """What a device firmware gets: the normalised code with its relocations, the maps to allocate, the
    context in the device layout (pointer fields filled in by the driver) and the packet buffer."""
    image = bpfx.compile(prog, "bpf")
    device = default_context(prog.prog_type)
    rt = Runtime(prog, packet=packet, obj=obj, ctx_layout={f.name: (f.off, f.size) for f in device.fields.values()})
    ctx_len = max(f.off + f.size for f in device.fields.values())
    symbols = [bpfx.map_symbol(m.name) for m in prog.maps]
    base = rt.packet_region.base
    case = Case(image.code, bytes(rt.packet_region.buf), rt.memory.read(layout.CTX_BASE, ctx_len),
                [(f.off, POINTERS[f.name]) for f in device.fields.values() if f.kind == "ptr"], list(prog.maps),
                [(r.offset, symbols.index(r.symbol), r.kind == "map_value", r.addend) for r in image.relocs],
                (rt.data - base, rt.data_end - base))
    return case, device


def map_changes(mapdef, line: str) -> dict:
    """The driver's final map contents as the interpreter reports them: entries that differ from the start."""
    entries = dict(kv.split("=") for kv in line.split()[2:])
    if mapdef.type in (2, 6):  # arrays start zeroed (entry 0 holds global data's initial bytes)
        start = {k: bytes(mapdef.value_size).hex() for k in entries}
        if mapdef.initial is not None:
            start["00000000"] = mapdef.initial.hex()
        return {k: v for k, v in entries.items() if start[k] != v}
    return entries


@pytest.mark.parametrize("path", EXAMPLES, ids=os.path.basename)
def test_examples_match_the_interpreter(build, tmp_path, path):
    obj = bpfx.load(path)
    cases, wants, devices = [], [], []
    for prog in obj.programs:
        for packet in (TCP, bytes(4096), TCP[:20]):
            case, device = example_case(prog, obj, packet)
            cases.append(case)
            devices.append((prog, device))
            wants.append(bpfx.run(prog, "interp", packet=packet, obj=obj))
    for (fault, _pc, r0, _, _, extra), want, (prog, device) in zip(run_batch(build[2], tmp_path, cases), wants,
                                                                     devices):
        assert (fault, r0) == (OK, want.r0)
        assert extra[0] == f"packet {want.packet.hex()}"
        ctx = bytes.fromhex(extra[1].split()[1])
        got_ctx = {f.name: int.from_bytes(ctx[f.off:f.off + f.size], "little") for f in device.fields.values()
                   if f.kind != "ptr"}
        assert {k: v for k, v in got_ctx.items() if k in want.ctx} == {k: v for k, v in want.ctx.items()
                                                                       if k in got_ctx}
        got_maps = {m.name: map_changes(m, line) for m, line in zip(prog.maps, extra[2:])}
        assert {k: v for k, v in got_maps.items() if v} == want.maps
