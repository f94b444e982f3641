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
from bpfx import testing
from bpfx.front.asm import assemble
from bpfx.execute.runtime import Runtime, layout
from bpfx.front.isa import Insn, encode
from bpfx.plugins import default_context
from bpfx.tools.conformance import collect, parse_file
from bpfx.tools.cruntime import export_runtime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
MAPS_H_DIR = os.path.join(ROOT, "examples", "baremetal", "common")  # bpf_maps.h, shared with the bpfvm firmware
SUITE = testing.conformance_dir(ROOT) or ""
FREESTANDING = ["-std=c99", "-pedantic", "-ffreestanding", "-nostdlib", "-Wall", "-Wextra", "-Wconversion", "-Wshadow",
                "-Werror", "-O2"]
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
    includes = [f"-I{d}", f"-I{MAPS_H_DIR}"]
    subprocess.run(["gcc", "-std=c99", "-O2", "-Wall", "-Werror", *includes, os.path.join(HERE, "vm_driver.c"),
                    str(obj), "-o", str(driver)], check=True)
    sanitized = d / "driver-asan"
    made = subprocess.run(["gcc", "-std=c99", "-O1", "-g", "-fsanitize=address,undefined",
                           "-fno-sanitize-recover=all", *includes, os.path.join(HERE, "vm_driver.c"),
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
    relocs: list = field(default_factory=list)  # (code offset, map index, 0 map | 1 value, addend[, program])
    data: tuple[int, int] = (0, 0)  # data and data_end as offsets into mem
    extra: list = field(default_factory=list)  # code of the programs tail calls reach (numbered from 1)
    prog_arrays: dict = field(default_factory=dict)  # map index -> its u32 values (0 empty, k extra program k)

    def encode(self, budget: int) -> bytes:
        out = struct.pack("<IIQIIIIIII", len(self.code), len(self.mem), budget, len(self.ctx), len(self.ptrs),
                          len(self.maps), len(self.relocs), *self.data, len(self.extra))
        out += self.code + self.mem + self.ctx + b"".join(struct.pack("<II", *p) for p in self.ptrs)
        for i, m in enumerate(self.maps):
            if i in self.prog_arrays:
                out += struct.pack("<IIIII", m.type, m.key_size, m.value_size, m.max_entries, 2)
                out += struct.pack(f"<{m.max_entries}I", *self.prog_arrays[i])
                continue
            out += struct.pack("<IIIII", m.type, m.key_size, m.value_size, m.max_entries, m.initial is not None)
            out += m.initial or b""
        out += b"".join(struct.pack("<I", len(code)) + code for code in self.extra)
        return out + b"".join(struct.pack("<IIIIq", *r[:3], r[4] if len(r) > 4 else 0, r[3]) for r in self.relocs)


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


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")
def test_the_runtime_builds_for_a_32_bit_microcontroller(build, tmp_path):
    """Pointers are 32 bits there; BPF addresses stay 64-bit and are checked before they become pointers. The
    object needs nothing but the compiler's own 64-bit division routines."""
    obj = tmp_path / "vm-armv7m.o"
    subprocess.run(["clang", "--target=armv7m-none-eabi", *FREESTANDING, "-Os", "-c", str(build[0] / "bpfx_vm.c"),
                    "-o", str(obj)], check=True, capture_output=True)
    undefined = subprocess.run(["llvm-nm", "-u", str(obj)], capture_output=True, text=True).stdout.split()
    assert set(undefined) - {"U"} <= {"__aeabi_ldivmod", "__aeabi_uldivmod"}


def test_exported_files_carry_the_package_version(build):
    d = build[0]
    assert f'#define BPFX_VM_VERSION "{bpfx.__version__}"' in (d / "bpfx_vm.h").read_text()


@pytest.mark.skipif(not SUITE, reason=testing.NO_SUITE)
@pytest.mark.parametrize("harden", [False, True], ids=["plain", "hardened"])
def test_conformance_programs_match_the_interpreter(build, tmp_path, harden):
    """Hardened code blinds every constant through r11 (AX), which the runtime has."""
    cases, expected, names, rejected = [], [], [], 0
    for path in collect([SUITE]):
        test = parse_file(path)
        prog = bpfx.Program(name="t", section="conformance", prog_type="mem", insns=test.insns, file=path)
        try:
            image = bpfx.compile(prog, "bpf", harden=harden)
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


def example_case(prog, obj, packet: bytes, safety: str | None = None) -> tuple[Case, object]:
    """What a device firmware gets: the normalised code with its relocations, the maps to allocate, the
    context in the device layout (pointer fields filled in by the driver) and the packet buffer."""
    image = bpfx.compile(prog, "bpf", safety=safety)
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


@pytest.mark.parametrize("sanitized", [False, True], ids=["plain", "asan"])
def test_helpers_check_the_pointers_a_program_passes(build, tmp_path, sanitized):
    """bpfx_vm_ptr lets a firmware helper refuse a wild pointer: the driver's map helpers use it."""
    driver = build[3] if sanitized else build[2]
    if driver is None:
        pytest.skip("gcc has no AddressSanitizer here")
    from bpfx.front.isa import Pseudo, ld_imm64

    hash_map = bpfx.MapDef("m", 1, 4, 8, 4)
    lookup = [*ld_imm64(1, 0, Pseudo.MAP_FD), Insn(0xB7, 2, 0, 0, 0x1000), Insn(0x85, 0, 0, 0, 1), Insn(0x95)]
    update = [*ld_imm64(1, 0, Pseudo.MAP_FD), Insn(0xBF, 2, 10), Insn(0x07, 2, 0, 0, -8), Insn(0x7A, 2, 0, -8, 1),
              Insn(0xB7, 3, 0, 0, 0x1000), Insn(0x85, 0, 0, 0, 2), Insn(0x95)]  # key on the stack, value wild
    # structural: the runtime's own pointer checks are under test (checked code would not reach the helper)
    cases = [example_case(bpfx.Program("p", "xdp", "xdp", insns, maps=[hash_map]), None, TCP, "structural")[0]
             for insns in (lookup, update)]
    rows = run_batch(driver, tmp_path, cases)
    assert [(r[0], r[2]) for r in rows] == [(OK, 0), (OK, (-14) & (2**64 - 1))]
    assert rows[1][5][2] == "map 0"  # nothing was inserted


def test_random_programs_match_the_interpreter(build, tmp_path):
    """Differential fuzzing of the C runtime: the fuzzer's random programs (every ALU/ALU32 op, sdiv/smod,
    movsx, byte swaps, sign-extending loads, stack atomics, JMP/JMP32, local calls), fixed seeds."""
    import random

    from bpfx.tools.fuzz import random_program

    progs = [random_program(random.Random(seed), length=random.Random(seed).randrange(5, 60)) for seed in range(300)]
    want = [bpfx.run(p, "interp", mem=bytes(16)).r0 for p in progs]
    # structural: the VM's own semantics and memory checks are under test, as the interpreter's
    rows = run_batch(build[2], tmp_path, [(bpfx.compile(p, "bpf", safety="structural").code, bytes(16))
                                          for p in progs])
    assert [(i, r[0], r[2]) for i, r in enumerate(rows) if (r[0], r[2]) != (OK, want[i])] == []


def test_relocate_refuses_a_record_that_does_not_point_at_an_lddw(build, tmp_path):
    """bpfx_vm_relocate checks the instruction a record names: the driver gives up (exit 3) rather than patch."""
    from bpfx.front.isa import Pseudo, ld_imm64

    prog = bpfx.Program("p", "xdp", "xdp", [*ld_imm64(1, 0, Pseudo.MAP_FD), Insn(0xB7), Insn(0x95)],
                        maps=[bpfx.MapDef("m", 2, 4, 8, 1)])
    case = example_case(prog, None, TCP)[0]
    assert case.relocs == [(0, 0, False, 0)]
    batch = tmp_path / "batch.bin"
    for offset, status in ((0, 0), (16, 3), (4, 3), (64, 3)):
        case.relocs = [(offset, 0, False, 0)]
        batch.write_bytes(case.encode(1000))
        assert subprocess.run([str(build[2]), str(batch)], capture_output=True).returncode == status, offset


def tail_call_case(obj, prog, packet: bytes) -> Case:
    """``prog`` with every other program of ``obj`` as a tail call target, PROG_ARRAYs filled from the object."""
    case = example_case(prog, obj, packet)[0]
    others = [p for p in obj.programs if p is not prog]
    number = {p.name: k + 1 for k, p in enumerate(others)}
    number[prog.name] = 0
    symbols = [bpfx.map_symbol(m.name) for m in prog.maps]  # the object's maps, shared by its programs
    for k, other in enumerate(others):
        image = bpfx.compile(other, "bpf")
        case.extra.append(image.code)
        case.relocs += [(r.offset, symbols.index(r.symbol), r.kind == "map_value", r.addend, k + 1)
                        for r in image.relocs]
    for i, m in enumerate(prog.maps):
        if m.type == 3:
            targets = dict(m.values)
            case.prog_arrays[i] = [number.get(targets.get(j), 0) if j in targets else 0 for j in range(m.max_entries)]
    return case


def test_tail_calls_replace_the_program(build, tmp_path):
    """bpfx_vm_tail_call from the firmware's bpf_tail_call: index 0 runs `second` in place of the caller, index
    1 is empty and falls through; a program that tail-calls itself stops after 33 tail calls, as in the kernel."""
    from bpfx import MapDef, Object
    from bpfx.front.isa import Pseudo, ld_imm64

    def caller(name, index, maps):
        lo, hi = ld_imm64(2, 0, Pseudo.MAP_FD)
        return bpfx.Program(name, "xdp", "xdp", [lo, hi, Insn(0xB7, 3, 0, 0, index), Insn(0x85, 0, 0, 0, 12),
                                                 Insn(0xB7, 0, 0, 0, 1), Insn(0x95)], maps=maps)

    table = MapDef("jump_table", 3, 4, 4, 2, values=((0, "second"),))
    second = bpfx.Program("second", "xdp", "xdp", [Insn(0xB7, 0, 0, 0, 3), Insn(0x95)], maps=[table])
    loop_table = MapDef("loop_table", 3, 4, 4, 1, values=((0, "again"),))
    cases, wants = [], []
    for index in (0, 1):
        first = caller("first", index, [table])
        obj = Object("<t>", [first, second], [table])
        cases.append(tail_call_case(obj, first, TCP))
        wants.append(bpfx.run(first, "interp", packet=TCP, obj=obj))
    again = caller("again", 0, [loop_table])
    obj = Object("<t>", [again], [loop_table])
    case = tail_call_case(obj, again, TCP)
    case.extra, case.prog_arrays = [case.code], {0: [1]}  # the program is its own target
    case.relocs.append((*case.relocs[0][:4], 1))
    cases.append(case)
    wants.append(bpfx.run(again, "interp", packet=TCP, obj=obj))
    rows = run_batch(build[2], tmp_path, cases)
    assert [(r[0], r[2], r[3]) for r in rows] == [(OK, w.r0, w.insn_count) for w in wants]
    assert [w.r0 for w in wants] == [3, 1, 1] and wants[2].insn_count == 34 * 3 + 2  # 34 runs of lddw, mov, call


def test_the_vm_knows_the_fault_helper_of_checked_code():
    from bpfx.front.verify import FAULT_HELPER

    header = open(os.path.join(ROOT, "core", "execute", "cruntime", "bpfx_vm.h")).read()
    assert f"#define BPFX_FAULT_HELPER_ID {FAULT_HELPER:#X}".replace("0X", "0x") in header
