"""Helpers brought by a driver (bpfx.run(helpers=...)) or a plugin (bpfx_helper_impls) run on every target.

The helpers are ubpf's test helpers (ids 0-4, as ubpf's test runner registers them), written here from
their documented behaviour; the programs exercise them the way ubpf's stack and string tests do.
"""

from __future__ import annotations

import math
import subprocess
import sys
import zlib

import pytest

import bpfx
from bpfx import HelperImpl, hookimpl
from bpfx.front.asm import assemble
from bpfx.plugins import all_targets, registry


def _gather_bytes(call, a, b, c, d, e):
    return int.from_bytes(bytes(x & 0xFF for x in (a, b, c, d, e)), "big")


def _memfrob(call, ptr, n, *_):
    call.write(ptr, bytes(x ^ 42 for x in call.read(ptr, n)))
    return 0


def _strcmp_ext(call, a, b, *_):
    x, y = call.cstring(a), call.cstring(b)
    return (x > y) - (x < y)


UBPF_HELPERS = {
    0: HelperImpl(0, "gather_bytes", _gather_bytes),
    1: HelperImpl(1, "memfrob", _memfrob),
    2: HelperImpl(2, "no_op", lambda call, *_: 0),
    3: HelperImpl(3, "sqrti", lambda call, x, *_: math.isqrt(x)),
    4: HelperImpl(4, "strcmp_ext", _strcmp_ext),
}

PROGRAMS = {
    # gather_bytes(1, 2, 3, 4, 5)
    "gather": ("mov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\nmov %r5, 5\ncall 0\nexit\n", 0x0102030405),
    # memfrob over 8 stack bytes, then read them back (stack2-style)
    "stack_frob": ("lddw %r1, 0x0102030405060708\nstxdw [%r10-8], %r1\nmov %r1, %r10\nadd %r1, -8\nmov %r2, 8\n"
                   "call 1\nldxdw %r0, [%r10-8]\nexit\n", 0x0102030405060708 ^ 0x2A2A2A2A2A2A2A2A),
    # strcmp of two NUL-terminated strings on the stack (string-stack-style): "abc" vs "abd" -> -1
    "string_stack": ("stw [%r10-4], 0x00636261\nstw [%r10-8], 0x00646261\nmov %r1, %r10\nadd %r1, -4\n"
                     "mov %r2, %r10\nadd %r2, -8\ncall 4\nmov %r6, %r0\nmov %r1, 144\ncall 3\ncall 2\n"
                     "lsh %r6, 8\nadd %r0, %r6\nexit\n", ((-1 << 8) + 0) & (2**64 - 1)),
    # sqrti(144) survives a no_op call in a callee-saved register
    "sqrt": ("mov %r1, 144\ncall 3\nmov %r6, %r0\ncall 2\nmov %r0, %r6\nexit\n", 12),
}
RUNNABLE = [t.name for t in all_targets() if t.machine() is not None or "run" in t.implemented_hooks()]


def _prog(name: str) -> bpfx.Program:
    return bpfx.Program(name=name, section="ubpf", prog_type="mem", insns=assemble(PROGRAMS[name][0]), file="<t>")


@pytest.mark.parametrize("target", RUNNABLE)
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_ubpf_helpers_through_the_api(target, name):
    result = bpfx.run(_prog(name), target, mem=b"", helpers=UBPF_HELPERS)
    assert result.r0 == PROGRAMS[name][1]


def test_plain_callables_are_helpers_and_override_the_builtins():
    prog = bpfx.Program(name="p", section="t", prog_type="mem", insns=assemble("call 5\nexit\n"), file="<t>")
    for target in ("interp", "arm64"):
        assert bpfx.run(prog, target, mem=b"", helpers={5: lambda call, *a: 77}).r0 == 77


def test_a_helper_the_runtime_lacks_is_rejected_at_compile_time_naming_it():
    with pytest.raises(bpfx.ValidationError, match="insn 5: unknown helper 0 for program type mem"):
        bpfx.run(_prog("gather"), "arm64", mem=b"")
    with pytest.raises(bpfx.UsageError, match="helper 3: expected an address"):
        bpfx.run(_prog("sqrt"), "interp", mem=b"", helpers={3: "sqrt"})


class _DriverPlugin:
    """A driver's plugin: it implements ubpf's helpers for every target."""

    @hookimpl
    def bpfx_helper_impls(self, target, prog_type):
        return list(UBPF_HELPERS.values()) if prog_type == "mem" else None


@pytest.fixture
def driver_plugin():
    plugin = _DriverPlugin()
    registry().pm.register(plugin, name="test-driver")
    yield
    registry().pm.unregister(plugin)


@pytest.mark.parametrize("target", ["interp", "arm64"])
def test_ubpf_helpers_through_the_hook(driver_plugin, target):
    for name, (_, want) in PROGRAMS.items():
        assert bpfx.run(_prog(name), target, mem=b"").r0 == want, name


def test_vendor_firmware_helper_runs_from_the_command_line(tmp_path):
    pytest.importorskip("bpfx_acme")
    src = tmp_path / "crc.s"
    src.write_text("mov %r6, %r1\ncall 0x1000\nexit\n")  # r1, r2 = the memory block and its length
    data = tmp_path / "mem.bin"
    data.write_bytes(b"hello, device")
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "run", str(src), "-t", "acme", "--mem", str(data)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"r0 = {zlib.crc32(b'hello, device')}")
    bad = subprocess.run([sys.executable, "-m", "bpfx.cli", "run", str(src), "-t", "arm64", "--mem", str(data)],
                         capture_output=True, text=True)
    assert bad.returncode == 1
    assert bad.stderr.strip() == f"{src}:crc:insn 1: unknown helper 4096 for program type mem"


def test_helper_call_view_faults_outside_the_regions():
    def wild(call, *_):
        return call.load(0x10, 8)

    prog = bpfx.Program(name="p", section="t", prog_type="mem", insns=assemble("call 9\nexit\n"), file="<t>")
    for target in ("interp", "arm64"):
        with pytest.raises(bpfx.RuntimeFault, match="invalid read of 8 bytes at 0x10"):
            bpfx.run(prog, target, mem=b"", helpers={9: wild})


