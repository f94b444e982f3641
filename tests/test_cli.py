"""Bad input through the command line: exit 1, one line naming file, section and instruction, no traceback."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COUNTERS = os.path.join(ROOT, "examples", "xdp_counters.o")


def bpfx(*args, **kw):
    return subprocess.run([sys.executable, "-m", "bpfx.cli", *args], capture_output=True, text=True, **kw)


def _patched_reloc(tmp_path, new_type=None, new_offset=None):
    data = bytearray(open(COUNTERS, "rb").read())
    with open(COUNTERS, "rb") as f:
        sec = ELFFile(f).get_section_by_name(".relxdp")
        start = sec["sh_offset"]
    r_offset, r_info = struct.unpack_from("<QQ", data, start)
    if new_type is not None:
        r_info = (r_info & ~0xFFFFFFFF) | new_type
    if new_offset is not None:
        r_offset = new_offset
    struct.pack_into("<QQ", data, start, r_offset, r_info)
    path = tmp_path / "bad.o"
    path.write_bytes(bytes(data))
    return str(path)


def _file(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)
    return str(path)


CASES = {
    "truncated ELF": (lambda t: _file(t, "trunc.o", open(COUNTERS, "rb").read()[:200]),
                      "malformed ELF object"),
    "wrong e_machine": (lambda t: _file(t, "x86.o", open(COUNTERS, "rb").read()[:18] + struct.pack("<H", 62)
                                        + open(COUNTERS, "rb").read()[20:]),
                        "wrong e_machine EM_X86_64 (expected EM_BPF, 247)"),
    "bad relocation type": (lambda t: _patched_reloc(t, new_type=77), ":xdp:insn 17: unknown relocation type 77"),
    "relocation on a non-lddw": (lambda t: _patched_reloc(t, new_offset=0),
                                 ":xdp:insn 0: R_BPF_64_64 relocation on an instruction that is not lddw"),
    "invalid opcode": (lambda t: _file(t, "bad.bin", bytes.fromhex("b700000000000000" "0e00000000000000"
                                                                   "9500000000000000")),
                       ":bad:insn 1: unknown opcode 0x0e"),
    "jump out of range": (lambda t: _file(t, "jump.s", "ja +5\nexit\n"),
                          ":jump:insn 0: jump to 6 is out of range (program has 2 instructions)"),
    "split LD_IMM64": (lambda t: _file(t, "split.bin", bytes.fromhex("1800000001000000" "9500000000000000")),
                       ":split:insn 0: second slot of lddw must be zero but for imm"),
    "write to r10": (lambda t: _file(t, "r10.s", "mov %r10, 1\nexit\n"),
                     ":r10:insn 0: write to r10 (the frame pointer is read-only)"),
    "missing file": (lambda t: str(t / "nope.o"), "cannot read: No such file or directory"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", ["run", "compile"])
def test_bad_input_is_one_line_and_exit_1(tmp_path, case, command):
    make, message = CASES[case]
    path = make(tmp_path)
    args = [command, path, "-t", "interp" if command == "run" else "arm64"]
    if command == "compile":
        args += ["-o", str(tmp_path / "out.o")]
    result = bpfx(*args)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(path) and message in lines[0]
    assert not (tmp_path / "out.o").exists()  # no partial output


def test_usage_errors_exit_2():
    assert bpfx("run").returncode == 2
    unknown = bpfx("run", os.path.join(ROOT, "examples", "xdp_adjust_head.o"), "-t", "z80")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().startswith("bpfx: unknown target 'z80'; known targets: ")


def test_seed_demo_on_the_command_line():
    out = bpfx("run", os.path.join(ROOT, "examples", "xdp_adjust_head.o"), "-t", "arm64", "--packet-size", "4096")
    assert out.returncode == 0
    assert out.stdout.splitlines() == ["r0 = 2 (XDP_PASS)  [0x2]", "packet length = 4084"]


def test_run_json_and_map_output():
    import json

    pkt = os.path.join(ROOT, "tests", "data", "ipv4_tcp.bin")
    out = bpfx("run", COUNTERS, "-t", "interp", "--packet", pkt, "--json")
    data = json.loads(out.stdout)
    assert set(data) >= {"r0", "packet_len", "maps", "trace"}
    assert data["r0"] == 2 and data["packet_len"] == 74
    assert data["maps"]["proto_count"] == {"06000000": "0100000000000000"}
    text = bpfx("run", COUNTERS, "-t", "arm64", "--packet", pkt).stdout
    assert "map proto_count[06000000] = 0100000000000000" in text


def test_version_and_help():
    assert bpfx("--version").stdout.strip() == "bpfx 0.1.0"
    helptext = bpfx("run", "--help").stdout
    assert "--packet-size" in helptext and "return-code name" in helptext


_WHERE_16MIB = """
import ctypes, sys
from bpfx.front.program import keep_freed_memory
if sys.argv[1] == "keep":
    keep_freed_memory()
block = bytearray(16 << 20)
at = ctypes.addressof((ctypes.c_char * len(block)).from_buffer(block))
for line in open("/proc/self/maps"):
    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
    if lo <= at < hi:
        print(line.split()[-1] if line.strip().endswith("[heap]") else "mapping")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
                    reason="glibc's malloc only")
def test_the_cli_keeps_freed_memory():
    """keep_freed_memory (what the CLI calls first) makes a large block come from the heap, which keeps what is
    freed, where a fresh process maps it afresh (and unmaps it when freed: page faults again next time)."""
    def where(mode):
        return subprocess.run([sys.executable, "-c", _WHERE_16MIB, mode], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert where("default") == "mapping"
    assert where("keep") == "[heap]"
