"""Issue 12: bad input, hostile files and odd output paths give one-line errors, never a traceback or a hang."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest

from bpfx.errors import BpfxError, LinkError
from bpfx.fileio import read_input, write_atomic

BPFX = [sys.executable, "-m", "bpfx.cli"]
PROG = "mov %r0, 7\nexit\n"


def bpfx(*args, env=None, stdin=None):
    return subprocess.run(BPFX + list(args), capture_output=True, text=True, timeout=60, env=env, stdin=stdin)


def one_line(result, code=1):
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.fixture
def prog(tmp_path):
    path = tmp_path / "p.s"
    path.write_text(PROG)
    return str(path)


# -- inputs ---------------------------------------------------------------------------------------------------
def test_device_and_fifo_inputs_are_refused_not_read(tmp_path, prog):
    assert one_line(bpfx("run", "/dev/zero")) == "/dev/zero: cannot read: not a regular file"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # nobody writes it: reading would block forever
    assert one_line(bpfx("run", prog, "--packet", str(fifo))).endswith("cannot read packet: not a regular file")
    assert one_line(bpfx("run", str(tmp_path))).endswith("cannot read: a directory")


def test_input_size_is_capped_before_reading(tmp_path):
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(1000)
    with pytest.raises(BpfxError, match=r"packet of 1000 bytes exceeds the limit of 999 bytes"):
        read_input(str(big), what="packet", limit=999)
    assert read_input(str(big), limit=1000) == bytes(1000)


def test_non_utf8_assembly_is_a_clean_error(tmp_path):
    bad = tmp_path / "bad.s"
    bad.write_bytes(b"mov %r0, 1\n\xff\xfe\n")
    assert one_line(bpfx("asm", str(bad))) == f"{bad}: assembly is not UTF-8 text (byte 0xff at offset 11)"


def test_ja32_offset_beyond_32_bits(tmp_path):
    src = tmp_path / "j.s"
    src.write_text("gotol +8589934592\nexit\n")
    assert "does not fit in 32 bits" in one_line(bpfx("asm", str(src)))


def test_long_call_chain_is_call_depth_not_recursion(tmp_path):
    lines = []
    for i in range(1500):
        lines += [f"f{i}:", f"call local f{i + 1}" if i < 1499 else "mov %r0, 0", "exit"]
    src = tmp_path / "chain.s"
    src.write_text("\n".join(lines) + "\n")
    assert one_line(bpfx("run", str(src))).endswith("insn 0: call depth 1500 exceeds 8 frames")


def test_truncated_and_oversized_elf_sections(tmp_path):
    obj = open(os.path.join(os.path.dirname(__file__), "..", "examples", "xdp_counters.o"), "rb").read()
    import struct

    shoff = struct.unpack_from("<Q", obj, 0x28)[0]
    data = bytearray(obj)
    # section 1's sh_size (header at shoff + 64, sh_size at +32) claims 2^62 bytes
    struct.pack_into("<Q", data, shoff + 64 + 32, 1 << 62)
    bad = tmp_path / "huge.o"
    bad.write_bytes(bytes(data))
    msg = one_line(bpfx("run", str(bad)))
    assert msg.startswith(f"{bad}: malformed ELF object: section 1 ") and "runs past the end" in msg


# -- the last line of defence -----------------------------------------------------------------------------------
def test_unexpected_exception_is_one_line_exit_70(monkeypatch, capsys, prog):
    from bpfx import cli
    from bpfx.tools import inspect

    def boom(args):
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(inspect, "cmd_disasm", boom)
    parser = cli.build_parser()
    args = parser.parse_args(["disasm", prog])
    args.func = boom
    monkeypatch.setattr(cli, "build_parser", lambda: _Fixed(parser, args))
    assert cli.main(["disasm", prog]) == cli.EXIT_BUG
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{prog}: internal error ZeroDivisionError: injected")
    assert "this is a bug in bpfx" in err[0]
    monkeypatch.setenv("BPFX_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["disasm", prog])


class _Fixed:
    def __init__(self, parser, args):
        self.parser, self.args = parser, args

    def parse_args(self, argv):
        return self.args

    def print_help(self):
        pass


# -- conformance ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, reason", [
    ("-- raw\nzz\n", "malformed conformance test: invalid literal"),
    ("-- raw\n1ffffffffffffffff\n", "a raw instruction is not a 64-bit word"),
    ("-- asm\nmov %r0, 1\nexit\n-- mem\n100\n", "malformed conformance test: bytes must be in range"),
    ("-- asm\nexit\n-- result\nabc\n", "malformed conformance test: invalid literal"),
    ("-- mem\n00\n", "no asm or raw section"),
])
def test_bad_conformance_file_fails_and_the_run_goes_on(tmp_path, body, reason):
    (tmp_path / "a_bad.data").write_text(body)
    (tmp_path / "b_good.data").write_text("-- asm\nmov %r0, 5\nexit\n-- result\n0x5\n")
    result = bpfx("conformance", str(tmp_path), "-t", "interp", "-v")
    assert "Traceback" not in result.stderr
    out = result.stdout + result.stderr
    assert "1 passed, 1 failed, 0 skipped" in out
    assert reason in out


# -- outputs ----------------------------------------------------------------------------------------------------
def test_output_into_missing_directory_directory_or_device(tmp_path, prog):
    assert one_line(bpfx("asm", prog, "-o", str(tmp_path / "no" / "x.bin"))).endswith(
        f"cannot write output: directory {tmp_path / 'no'} does not exist")
    assert one_line(bpfx("asm", prog, "-o", str(tmp_path))).endswith("cannot write output: a directory")
    if os.path.exists("/dev/full"):
        msg = one_line(bpfx("asm", prog, "-o", "/dev/full"))
        assert msg == "/dev/full: cannot write output: No space left on device"
        assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_output_through_symlink_keeps_the_link(tmp_path, prog):
    target = tmp_path / "real.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.bin"
    link.symlink_to(target)
    assert bpfx("asm", prog, "-o", str(link)).returncode == 0
    assert link.is_symlink() and len(target.read_bytes()) == 16
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640


def test_output_to_fifo_writes_in_place_or_fails_never_replaces(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(BpfxError, match="cannot write output"):  # no reader: an error, not a hang
        write_atomic(str(fifo), b"x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_atomic(str(fifo), b"hello")
        assert os.read(reader, 16) == b"hello"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    out = tmp_path / "out.bin"

    def fail(*a):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(BpfxError, match="No space left on device"):
        write_atomic(str(out), b"data")
    assert os.listdir(tmp_path) == []


def test_new_output_file_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_atomic(str(tmp_path / "n.bin"), b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "n.bin").st_mode) == 0o644


# -- limits -----------------------------------------------------------------------------------------------------
def test_map_larger_than_the_runtime_limit_is_a_clean_error():
    from bpfx.execute.runtime import layout
    from bpfx.execute.runtime.maps import MapState
    from bpfx.execute.runtime.memory import Memory
    from bpfx.front.program import MapDef, MapType

    huge = MapDef(name="huge", type=MapType.ARRAY, key_size=4, value_size=8, max_entries=1 << 32)
    with pytest.raises(LinkError, match=rf"map 'huge' needs .* the runtime's limit is {layout.MAX_MAP_BYTES} bytes"):
        MapState(huge, layout.MAP_BASE, Memory())


# -- emulated code is contained; every target gives the interpreter's outcome ------------------------------------
FAULTS = {
    # copy r10, overwrite the saved return address (and saved x25/x29) with the address of AArch64 code
    # ("movz x0, #42; ret") stored on the stack: must fault at the store, never run the data
    "return address": ("lddw %r2, 0xd65f03c0d2800540\nstxdw [%r10-64], %r2\nmov %r3, %r10\nsub %r3, 64\n"
                       "mov %r1, %r10\nmov %r4, 0\nloop:\nstxdw [%r1+0], %r3\nadd %r1, 8\nadd %r4, 1\n"
                       "jlt %r4, 4, loop\ncall local f\nmov %r0, 1\nexit\nf:\nmov %r0, 2\nexit\n",
                       "insn 7: invalid write of 8 bytes at 0x2010000 (outside every mapped region)"),
    "write to code": ("lddw %r1, 0x100000\nmov %r2, 0\nstxdw [%r1+0], %r2\nexit\n",
                      "insn 3: invalid write of 8 bytes at 0x100000 (outside every mapped region)"),
    "write to a trampoline": ("lddw %r1, 0x1100000\nmov %r2, 0\nstxdw [%r1+0], %r2\nexit\n",
                              "insn 3: invalid write of 8 bytes at 0x1100000 (outside every mapped region)"),
    "past the memory image": ("mov %r2, 5\nstxdw [%r1+8], %r2\nmov %r0, 1\nexit\n",
                              "insn 1: invalid write of 8 bytes at 0x5000008 (outside every mapped region)"),
    "read past the memory image": ("ldxb %r0, [%r1+8]\nexit\n",
                                   "insn 0: invalid read of 1 bytes at 0x5000008 (outside every mapped region)"),
    "before the memory image": ("ldxb %r0, [%r1-1]\nexit\n",
                                "insn 0: invalid read of 1 bytes at 0x4ffffff (outside every mapped region)"),
    "unmapped": ("lddw %r1, 0xc000000\nldxw %r0, [%r1+0]\nexit\n",
                 "insn 2: invalid read of 4 bytes at 0xc000000 (outside every mapped region)"),
    "in bounds": ("ldxdw %r0, [%r1+0]\nexit\n", None),
    # code and trampolines are execute-only under emulation: reading them faults as on the interpreter
    "read code": ("lddw %r1, 0x100000\nldxdw %r0, [%r1+0]\nexit\n",
                  "insn 2: invalid read of 8 bytes at 0x100000 (outside every mapped region)"),
    "read a trampoline": ("lddw %r1, 0x1100000\nldxw %r0, [%r1+0]\nexit\n",
                          "insn 2: invalid read of 4 bytes at 0x1100000 (outside every mapped region)"),
    "write above r10": ("mov %r1, %r10\nmov %r2, 7\nstxdw [%r1+8], %r2\nmov %r0, 1\nexit\n",
                        "insn 2: invalid write of 8 bytes at 0x2010008 (outside every mapped region)"),
    # callx to an id that is no helper: the interpreter's link error, not r0 = 0 from the native compare chain
    "callx to no helper": ("mov %r1, 12345\n.raw 0x8d 1 0 0 0\nexit\n",
                           "LinkError: insn 1: helper 12345 is not available to mem programs"),
    "callx to an address": ("lddw %r2, 0x100000\n.raw 0x8d 2 0 0 0\nexit\n",
                            "LinkError: insn 2: helper 1048576 is not available to mem programs"),
}


def _assemble(src: str):
    """Assembly, with ``.raw OPCODE DST SRC OFF IMM`` lines for instructions the assembler has no mnemonic for."""
    from bpfx.front.asm import assemble
    from bpfx.front.isa import Insn

    insns, chunk = [], []
    for line in src.splitlines() + [".raw"]:
        if line.startswith(".raw"):
            insns += assemble("\n".join(chunk) + "\n") if chunk else []
            insns += [Insn(*(int(x, 0) for x in line.split()[1:]))] if line != ".raw" else []
            chunk = []
        else:
            chunk.append(line)
    return insns


def _outcome(src: str, target: str):
    from bpfx.api import run
    from bpfx.errors import BpfxError
    from bpfx.front.program import Program
    from bpfx.front.validate import validate

    prog = Program(name="t", section="t", prog_type="mem", insns=_assemble(src), file="t.s")
    validate(prog)
    try:
        # the memory models under test: without the checks a non-structural default would compile in
        return "ok", run(prog, target, mem=bytes(range(1, 9)), safety="structural").r0
    except BpfxError as err:
        return type(err).__name__, f"insn {err.insn}: " + re.sub(r"0x[0-9a-f]+", "ADDR", err.message)


@pytest.mark.parametrize("case", list(FAULTS))
def test_faults_are_the_same_on_every_target(case):
    from bpfx.testing import native_targets

    src, message = FAULTS[case]
    want = _outcome(src, "interp")
    if message is None:
        assert want == ("ok", 0x0807060504030201)
    else:
        cls, text = ("RuntimeFault", message) if message.startswith("insn") else message.split(": ", 1)
        assert want == (cls, re.sub(r"0x[0-9a-f]+", "ADDR", text)), want
    for target in native_targets():
        got = _outcome(src, target)
        if got[0] == "Unsupported":
            continue
        assert got == want, target


def test_return_address_overwrite_never_runs_data_as_code():
    src = FAULTS["return address"][0]
    got = _outcome(src, "arm64")
    assert got == ("RuntimeFault", "insn 7: invalid write of 8 bytes at ADDR (outside every mapped region)")


@pytest.mark.parametrize("how", ["direct", "through the stack"])
def test_trampoline_overwrite_never_runs(how):
    """Overwrite the trampoline of the helper the program then calls with "b ." (an endless loop): the store
    faults, on arm64 as on the interpreter; the helper call is never reached."""
    from bpfx.execute.runtime import layout

    tramp = layout.TRAMPOLINE_BASE + 16 * 5  # the trampoline of helper 5, which the program then calls
    store = "stxdw [%r1+0], %r2\n" if how == "direct" else "stxdw [%r10-8], %r1\nldxdw %r3, [%r10-8]\n" \
        "stxdw [%r3+0], %r2\n"
    src = f"lddw %r1, {tramp:#x}\nlddw %r2, 0x1400000014000000\n{store}call 5\nmov %r0, 1\nexit\n"
    at = 4 if how == "direct" else 6
    want = ("RuntimeFault", f"insn {at}: invalid write of 8 bytes at ADDR (outside every mapped region)")
    assert _outcome(src, "interp") == want
    assert _outcome(src, "arm64") == want


# -- the malformed-input campaign, short -------------------------------------------------------------------------
def test_short_malformed_campaign_is_clean():
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
    try:
        import malformed
    finally:
        sys.path.pop(0)
    counts = malformed.campaign(12, seed=7, timeout=20.0)
    assert counts["inputs"] == 12 and counts["runs"] >= 12 * 2
    assert counts["ok"] + counts["clean_errors"] == counts["runs"], counts["problems"]
    assert counts["tracebacks"] == counts["hangs"] == counts["divergences"] == 0, counts["problems"]


# -- API arguments ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [
    (dict(context="str"), "context must be a ContextLayout, not str"),
    (dict(mem="abc"), "mem must be bytes, not str"),
    (dict(budget=-1), "budget must be a positive int, not -1"),
    (dict(helpers={44: -1}), "helper 44: address -0x1 does not fit a 64-bit address"),
    (dict(helpers={44: 2**70}), "helper 44: address 0x400000000000000000 does not fit a 64-bit address"),
    (dict(helpers={"x": 1}), "helper id 'x' is not a 32-bit integer"),
])
def test_api_arguments_are_usage_errors(kwargs, message):
    import bpfx
    from bpfx.errors import UsageError
    from bpfx.front.asm import assemble
    from bpfx.front.program import Program

    prog = Program(name="t", section="t", prog_type="mem", insns=assemble(PROG), file="t.s")
    for target in ("interp", "arm64"):
        with pytest.raises(UsageError) as err:
            bpfx.run(prog, target, **kwargs)
        assert str(err.value) == message


@pytest.mark.parametrize("insn, message", [
    ((0xb7, 0, 0, 0, 2**33), "imm 8589934592 does not fit the instruction's 32-bit signed field"),
    ((0xb7, 16, 0, 0, 1), "dst 16 does not fit the instruction's 4-bit field"),  # (once: src 1, silently)
    ((0x1b7, 0, 0, 0, 1), "opcode 439 does not fit the instruction's 8-bit field"),
    ((0x61, 0, 1, -40000, 0), "off -40000 does not fit the instruction's 16-bit signed field"),
    ((0xb7, 0, 0, 0, 1.5), "imm 1.5 does not fit the instruction's 32-bit signed field"),
])
def test_api_instructions_whose_fields_do_not_fit_are_validation_errors(insn, message):
    import bpfx
    from bpfx.front.program import Program

    prog = Program(name="t", section="t", prog_type="mem", insns=[bpfx.Insn(0xb7, 0, 0, 0, 0), bpfx.Insn(*insn),
                                                                bpfx.Insn(0x95)], file="t.s")
    for target in ("interp", "riscv64"):
        with pytest.raises(bpfx.ValidationError) as err:
            bpfx.run(prog, target)
        assert str(err.value) == f"t.s:t:insn 1: {message}"


def test_jump_without_target_is_a_clean_error(tmp_path):
    src = tmp_path / "t.s"
    src.write_text("mov %r0, 1\njlt %r0, 2, \nexit\n")
    assert one_line(bpfx("asm", str(src))).endswith("missing jump target in 'jlt %r0, 2,'")


def test_functions_sharing_a_name_are_rejected_not_miscompiled():
    # found by the campaign: a mutated BTF func_info named two functions '' and arm64 called the wrong one
    from bpfx.errors import ValidationError
    from bpfx.front.asm import assemble
    from bpfx.front.program import Program
    from bpfx.front.validate import validate

    insns = assemble("call local f\nexit\nf:\nmov %r0, 2\nexit\n")
    prog = Program(name="t", section="t", prog_type="mem", insns=insns, file="t.s", functions={0: "", 2: ""})
    with pytest.raises(ValidationError) as err:
        validate(prog)
    assert str(err.value) == "t.s:t:insn 2: functions at 0 and 2 have the same name ''"


# -- values the kernel would not let a program observe (they differ between the interpreter and native code) -------
def _validate_src(src: str):
    from bpfx.front.asm import assemble
    from bpfx.front.program import Program
    from bpfx.front.validate import validate

    prog = Program(name="t", section="t", prog_type="mem", insns=assemble(src), file="t.s")
    validate(prog)
    return prog


@pytest.mark.parametrize("src, message", [
    ("mov %r0, %r10\nexit\n", "insn 1: r0 may hold a stack address at exit (pointer leak)"),
    ("mov32 %r0, %r10\nand %r0, 0xfff\nexit\n", "insn 2: r0 may hold a stack address at exit (pointer leak)"),
    # spilled to the stack and filled back; the fill through a copy of r10 sees it too
    ("mov %r1, %r10\nadd %r1, -8\nstxdw [%r10-16], %r1\nldxdw %r0, [%r10-16]\nexit\n",
     "insn 4: r0 may hold a stack address at exit (pointer leak)"),
    ("mov %r1, %r10\nstxdw [%r10-16], %r1\nmov %r2, %r10\nldxdw %r0, [%r2-16]\nexit\n",
     "insn 4: r0 may hold a stack address at exit (pointer leak)"),
    # only on one path of a branch
    ("mov %r0, 1\njeq %r1, 0, out\nmov %r0, %r10\nout:\nexit\n",
     "insn 3: r0 may hold a stack address at exit (pointer leak)"),
    # returned by a bpf-to-bpf callee that got it as an argument
    ("mov %r1, %r10\ncall local f\nexit\nf:\nmov %r0, %r1\nexit\n",
     "insn 2: r0 may hold a stack address at exit (pointer leak)"),
    ("mov %r2, %r10\nstxdw [%r1+0], %r2\nmov %r0, 0\nexit\n",
     "insn 1: r2 holds a stack address stored outside the stack (pointer leak)"),
    ("mov %r2, %r10\njgt %r2, 4096, out\nout:\nmov %r0, 0\nexit\n",
     "insn 1: r2 holds a stack address compared with a number (pointer leak)"),
    ("mov %r3, 1\ncall 5\nmov %r0, %r3\nexit\n", "insn 2: r3 is read after a call clobbered it"),
    ("mov %r3, 1\ncall 5\njeq %r0, 0, l\nmov %r3, 2\nl:\nmov %r0, %r3\nexit\n",
     "insn 4: r3 is read after a call clobbered it"),
    ("mov %r1, 1\ncall local f\nadd %r1, 1\nmov %r0, %r1\nexit\nf:\nmov %r0, 0\nexit\n",
     "insn 2: r1 is read after a call clobbered it"),
    ("mov %r5, 1\nl:\nadd %r5, 1\ncall 5\njlt %r0, 9, l\nmov %r0, 0\nexit\n",
     "insn 1: r5 is read after a call clobbered it"),  # around the loop's back edge
])
def test_values_that_differ_between_targets_are_validation_errors(src, message):
    from bpfx.errors import ValidationError

    with pytest.raises(ValidationError) as err:
        _validate_src(src)
    assert str(err.value) == f"t.s:t:{message}"


@pytest.mark.parametrize("src", [
    "mov %r1, %r10\nadd %r1, -8\nstxdw [%r10-16], %r1\nmov %r2, 1\nstxdw [%r10-16], %r2\nldxdw %r0, [%r10-16]\n"
    "exit\n",  # the spilled pointer is overwritten before the fill
    "mov %r1, %r10\nstdw [%r10-8], 3\nadd %r1, -8\ncall local f\nexit\nf:\nldxdw %r0, [%r1+0]\nexit\n",
    "mov %r1, %r10\njeq %r1, 0, out\nout:\nmov %r0, 0\nexit\n",  # a null check is the same everywhere
    "mov %r3, 1\ncall 5\nmov %r3, 5\njeq %r0, 0, l\nmov %r3, 2\nl:\nmov %r0, %r3\nexit\n",
    "mov %r6, 1\ncall 5\nmov %r0, %r6\nexit\n",  # r6-r9 survive calls
])
def test_the_same_values_on_every_path_are_accepted(src):
    prog = _validate_src(src)
    from bpfx.api import run

    assert run(prog, "interp", mem=bytes(8)).r0 == run(prog, "arm64", mem=bytes(8)).r0


def test_context_access_past_the_struct_faults_or_is_refused():
    """Found by the campaign: __sk_buff+208 read zeros on the interpreter (its context region was 4 KiB) while
    arm64 refused the field at compile time. The region is now exactly the struct."""
    import bpfx
    from bpfx.errors import RuntimeFault, Unsupported
    from bpfx.front.asm import assemble

    prog = bpfx.Program("p", "xdp", "xdp", assemble("ldxw %r0, [%r1+24]\nexit\n"), file="p.s")
    with pytest.raises(RuntimeFault) as err:
        bpfx.run(prog, "interp")
    assert str(err.value) == "p.s:xdp:insn 0: invalid read of 4 bytes at 0x3000018 (outside every mapped region)"
    with pytest.raises(Unsupported, match="insn 0: context field xdp_md.offset 24 is not in the device layout"):
        bpfx.compile(prog, "arm64")
    assert bpfx.run(bpfx.Program("p", "xdp", "xdp", assemble("ldxw %r0, [%r1+20]\nexit\n")), "interp").r0 == 0


def test_llvm_tier_refuses_a_program_over_its_limit_instead_of_hanging():
    import bpfx
    from bpfx.errors import Unsupported
    from bpfx.front.isa import Insn
    from bpfx.llvm import MAX_LLVM_INSNS

    insns = [Insn(0xB7, 0)] * MAX_LLVM_INSNS + [Insn(0x95)]
    prog = bpfx.Program("big", "mem", "mem", insns, file="big.bin")
    with pytest.raises(Unsupported) as err:
        bpfx.run(prog, "host")
    assert str(err.value) == (f"big.bin:mem: program has {MAX_LLVM_INSNS + 1} instructions; the LLVM tier (host, "
                              f"-O1..-O3) compiles at most {MAX_LLVM_INSNS}")


@pytest.mark.parametrize("ptype, off, field", [("xdp", 0, "xdp_md.data"), ("sched_cls", 76, "__sk_buff.data")])
def test_context_pointer_field_write_is_the_same_error_everywhere(ptype, off, field):
    """Once accepted by the interpreter and refused by arm64: now refused before any target runs it."""
    import bpfx
    from bpfx.errors import BpfxError
    from bpfx.front.asm import assemble
    from bpfx.testing import native_targets

    prog = bpfx.Program("p", ptype, ptype, assemble(f"mov %r2, 4096\nstxw [%r1+{off}], %r2\nmov %r0, 2\nexit\n"),
                        file="p.s")
    outcomes = set()
    for target in ["interp"] + native_targets():
        with pytest.raises(BpfxError) as err:
            bpfx.run(prog, target)
        outcomes.add(str(err.value))
    assert len(outcomes) == 1 and outcomes.pop().startswith(f"p.s:{ptype}:insn 1: store to the read-only context "
                                                              f"field {field} ")


@pytest.mark.parametrize("load", ["ldxb %r2, [%r1+4]", "ldxh %r2, [%r1+6]", "ldxdw %r2, [%r1+0]"])
def test_narrow_load_of_a_context_pointer_is_the_same_error_everywhere(load):
    """Found by the campaign (a mutated xdp_counters.o): the interpreter read one byte of data_end, arm64 refused
    the load at compile time. The kernel refuses it; now the validation step does, for every target."""
    import bpfx
    from bpfx.errors import ValidationError
    from bpfx.front.asm import assemble

    prog = bpfx.Program("p", "xdp", "xdp", assemble(f"{load}\nmov %r0, 2\nexit\n"), file="p.s")
    field = "xdp_md.data" if load.endswith("+0]") else "xdp_md.data_end"
    for target in ("interp", "arm64"):
        with pytest.raises(ValidationError) as err:
            bpfx.run(prog, target)
        assert str(err.value) == f"p.s:xdp:insn 0: narrow load of context pointer {field}"


def test_a_helper_writing_above_r10_faults_as_on_the_interpreter():
    """bpf_get_current_comm(r10 - 1, 20): the interpreter's stack ends at r10; natively the saved registers lie
    above it, hidden from helpers too, so every target reports the interpreter's fault (ebpf-samples'
    badhelpercall.o)."""
    import bpfx as api
    from bpfx.front.asm import assemble

    prog = api.Program("p", "s", "socket_filter", assemble("mov %r1, %r10\nadd %r1, -1\nmov %r2, 20\ncall 16\nexit\n"),
                       file="p.s")
    outcomes = set()
    for target in ("interp", "arm64", "riscv64"):
        with pytest.raises(api.RuntimeFault) as err:
            api.run(prog, target, packet=bytes(64))
        outcomes.add(str(err.value))
    assert len(outcomes) == 1 and outcomes.pop().startswith("p.s:s:insn 3: invalid write of 20 bytes at 0x")


def test_control_characters_from_the_input_stay_on_one_line():
    """Found by the campaign: a mutated section name holding a newline split an error over two lines."""
    from bpfx.errors import ValidationError

    err = ValidationError("relocation against unknown symbol 2", file="in.o", section="a\nb;")
    assert str(err) == "in.o:a\\x0ab;: relocation against unknown symbol 2"
