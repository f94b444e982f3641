"""Object layouts of older toolchains and loaders (written with a small ELF writer), every libbpf SEC name, and
LD_ABS/LD_IND."""

from __future__ import annotations

import struct

import pytest
from elfwriter import STB_LOCAL, STT_NOTYPE, STT_OBJECT, Obj

import bpfx
from bpfx import Unsupported, ValidationError
from bpfx.front.asm import assemble
from bpfx.front.progtypes import program_types, section_names

PACKET = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(range(40))
RET = assemble("mov %r0, 0\nexit")


def _lookup_and_count():
    """r0 = ++counts[key 0] (0 if the lookup fails): an lddw the relocation points at a map."""
    return assemble("""
        mov %r1, 0
        stxw [%r10-4], %r1
        lddw %r1, 0
        mov %r2, %r10
        add %r2, -4
        call 1
        jeq %r0, 0, out
        ldxw %r1, [%r0]
        add %r1, 1
        stxw [%r0], %r1
        mov %r0, %r1
    out:
        exit""")


def test_section_without_symbols_is_one_program_named_after_it(tmp_path):
    path = Obj().code("socket1", RET).write(tmp_path / "a.o")
    prog = bpfx.load(path).program()
    assert (prog.name, prog.section, prog.prog_type) == ("socket1", "socket1", "socket_filter")
    assert bpfx.run(prog, "interp", packet=PACKET).r0 == 0


def test_em_none_from_old_llvm_loads(tmp_path):
    obj = Obj(machine=0).code("xdp", RET).sym("prog", "xdp", 0, 16)
    assert bpfx.load(obj.write(tmp_path / "a.o")).program().name == "prog"


@pytest.mark.parametrize("record", [20, 28, 36], ids=["bpf_map_def-20", "bpf_map_def-28", "bpf_elf_map-36"])
def test_legacy_maps_of_any_record_size(tmp_path, record):
    def mapdef(mtype, key, value, entries, flags):
        return struct.pack("<5I", mtype, key, value, entries, flags).ljust(record, b"\0")

    maps = mapdef(2, 4, 4, 8, 0) + mapdef(1, 4, 8, 16, 1)
    insns = _lookup_and_count()
    obj = (Obj().code("xdp", insns).data("maps", maps).sym("prog", "xdp", 0, 8 * len(insns))
           .sym("counts", "maps", 0, record, STT_OBJECT).sym("other", "maps", record, record, STT_OBJECT)
           .rel("xdp", 16, "counts"))
    loaded = bpfx.load(obj.write(tmp_path / "a.o"))
    assert [(m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags) for m in loaded.maps] == \
        [("counts", 2, 4, 4, 8, 0), ("other", 1, 4, 8, 16, 1)]
    for target in ("interp", "arm64"):
        result = bpfx.run(loaded.program(), target, packet=PACKET)
        assert result.r0 == 1 and result.maps == {"counts": {"00000000": "01000000"}}


def test_legacy_map_reference_through_the_section_symbol(tmp_path):
    """Old objects relocate against the maps section symbol, with the definition's offset in the lddw."""
    maps = struct.pack("<5I", 2, 4, 4, 1, 0) + struct.pack("<5I", 2, 4, 4, 8, 0)
    insns = _lookup_and_count()
    insns[2] = insns[2]._replace(imm=20)  # the second definition
    obj = (Obj().code("xdp", insns).data("maps", maps).sym("prog", "xdp", 0, 0)
           .sym("a", "maps", 0, 20, STT_OBJECT).sym("b", "maps", 20, 20, STT_OBJECT).rel("xdp", 16, "maps"))
    result = bpfx.run(bpfx.load(obj.write(tmp_path / "a.o")).program(), "interp", packet=PACKET)
    assert result.maps == {"b": {"00000000": "01000000"}}


def test_type_0_relocations_of_old_llvm_are_applied_by_instruction(tmp_path):
    """Old LLVM (ovs' datapath.o, EM_NONE) wrote relocation type 0 for map references and calls: as libbpf, the
    instruction decides what the relocation is."""
    maps = struct.pack("<5I", 2, 4, 4, 8, 0)
    insns = _lookup_and_count()
    obj = (Obj(machine=0).code("xdp", insns).data("maps", maps).sym("prog", "xdp", 0, 8 * len(insns))
           .sym("counts", "maps", 0, 20, STT_OBJECT).rel("xdp", 16, "counts", 0))
    loaded = bpfx.load(obj.write(tmp_path / "a.o"))
    assert loaded.program().insns[2].src == 1  # BPF_PSEUDO_MAP_FD, not the constant 0
    for target in ("interp", "arm64"):
        assert bpfx.run(loaded.program(), target, packet=PACKET).maps == {"counts": {"00000000": "01000000"}}
    main = assemble("call local f\nexit\nf: mov %r0, 5\nexit")[:2]
    main[0] = main[0]._replace(imm=-1)
    obj = (Obj(machine=0).code("xdp", main).code(".text", assemble("mov %r0, 5\nexit"))
           .sym("prog", "xdp", 0, 16).rel("xdp", 0, ".text", 0))
    assert bpfx.run(bpfx.load(obj.write(tmp_path / "b.o")).program(), "interp", packet=PACKET).r0 == 5


def test_legacy_map_in_map_names_its_inner_template(tmp_path):
    maps = struct.pack("<7I", 2, 4, 4, 1, 0, 0, 0) + struct.pack("<7I", 12, 4, 4, 4, 0, 0, 0)
    obj = (Obj().code("xdp", RET).data("maps", maps).sym("prog", "xdp", 0, 16)
           .sym("inner", "maps", 0, 28, STT_OBJECT).sym("outer", "maps", 28, 28, STT_OBJECT))
    outer = {m.name: m for m in bpfx.load(obj.write(tmp_path / "a.o")).maps}["outer"]
    assert outer.inner is not None and outer.inner.name == "inner"


def test_map_records_smaller_than_bpf_map_def_are_refused(tmp_path):
    obj = (Obj().code("xdp", RET).data("maps", bytes(32)).sym("prog", "xdp", 0, 16)
           .sym("a", "maps", 0, 16, STT_OBJECT).sym("b", "maps", 16, 16, STT_OBJECT))
    with pytest.raises(ValidationError, match="map definitions of 16 bytes"):
        bpfx.load(obj.write(tmp_path / "a.o"))


def test_several_programs_in_one_section_and_static_ones(tmp_path):
    two = assemble("mov %r0, 1\nexit\nmov %r0, 2\nexit\nmov %r0, 3\nexit")
    obj = (Obj().code("xdp", two).sym("one", "xdp", 0, 0).sym("two", "xdp", 16, 0)
           .sym("three", "xdp", 32, 16, bind=STB_LOCAL))
    loaded = bpfx.load(obj.write(tmp_path / "a.o"))
    assert [p.name for p in loaded.programs] == ["one", "two"]  # globals are the programs; static is a helper
    assert [bpfx.run(p, "interp", packet=PACKET).r0 for p in loaded.programs] == [1, 2]
    only_static = Obj().code("xdp", two[:2]).sym("lonely", "xdp", 0, 16, bind=STB_LOCAL)
    assert bpfx.load(only_static.write(tmp_path / "b.o")).program().name == "lonely"


def test_text_only_object_makes_its_global_functions_programs(tmp_path):
    obj = Obj().code(".text", assemble("mov %r0, 7\nexit")).sym("func", ".text", 0, 16)
    path = obj.write(tmp_path / "a.o")
    prog = bpfx.load(path).program()
    # it never touches its context, so every type compiles it the same (rule 4 of the inference)
    assert (prog.name, prog.prog_type) == ("func", "socket_filter")
    assert prog.type_reason == ("inferred socket_filter: uses no context field or context-specific helper (any type "
                                "compiles it the same)")
    assert bpfx.run(prog, "arm64").r0 == bpfx.run(prog, "interp").r0 == 7
    assert bpfx.run(bpfx.load(path, prog_type="mem").program(), "arm64").r0 == 7
    # reading its context at an offset that means different fields under different types: no type, named insn
    ctx = Obj().code(".text", assemble("ldxw %r0, [%r1+0]\nexit")).sym("func", ".text", 0, 16)
    prog = bpfx.load(ctx.write(tmp_path / "b.o")).program()
    assert prog.prog_type == "unspec"
    with pytest.raises(Unsupported, match=r"b.o:.text:insn 0: section '.text' selects no program type; not inferred: "
                       r"its context access of 4 bytes at offset 0 is __sk_buff.len \(sched_cls\) or xdp_md.data "
                       r"\(xdp\), and nothing else tells the type"):
        bpfx.compile(prog, "arm64")


def test_call_into_text_without_function_symbols(tmp_path):
    main = assemble("call local f\nexit\nf: mov %r0, 5\nexit")[:2]
    main[0] = main[0]._replace(imm=-1)  # as clang writes it against a section symbol: offset / 8 - 1
    body = assemble("mov %r0, 5\nexit")
    # .text has only its section symbol (a stripped object)
    obj = Obj().code("xdp", main).code(".text", body).sym("prog", "xdp", 0, 16).rel("xdp", 0, ".text", 10)
    prog = bpfx.load(obj.write(tmp_path / "a.o")).program()
    assert bpfx.run(prog, "interp", packet=PACKET).r0 == 5


def test_undefined_function_call_is_a_one_line_link_error(tmp_path):
    obj = (Obj().code("xdp", assemble("call local x\nexit\nx: exit")[:2]).sym("prog", "xdp", 0, 16)
           .sym("memset", None, type=STT_NOTYPE).rel("xdp", 0, "memset", 10))
    with pytest.raises(bpfx.LinkError, match="call to undefined function 'memset'"):
        bpfx.load(obj.write(tmp_path / "a.o"))


# -- every SEC name libbpf knows ----------------------------------------------------------------------------
LEGACY_NAMES = {"socket1": "socket_filter", "xdp_prog": "xdp", "cgroup/sock1": "cgroup_sock", "tc/tail": "sched_cls",
                "kprobe/sys_write": "kprobe", "tracepoint/xdp/xdp_exception": "tracepoint",
                "raw_tracepoint/filler/sys_read_x": "raw_tracepoint", "raw_tp.w/foo": "raw_tracepoint_writable",
                "sk_skb1": "sk_skb", "uretprobe/bash_readline": "kprobe", "fentry/tcp_connect": "tracing"}


def _expected_sections():
    out = {}
    for ptype in program_types().values():
        for pat in ptype.sections:
            out[pat[:-1] + "/target" if pat.endswith("+") else pat] = ptype.name
    return {**out, **LEGACY_NAMES}


def test_every_sec_name_loads_with_its_program_type(tmp_path):
    expected = _expected_sections()
    assert len(section_names()) >= 90  # libbpf's section_defs, and then some
    obj = Obj()
    for k, name in enumerate(expected):
        obj.code(name, RET).sym(f"p{k}", name, 0, 16)
    loaded = bpfx.load(obj.write(tmp_path / "all.o"))
    assert {p.section: p.prog_type for p in loaded.programs} == expected


@pytest.mark.parametrize("ptype", sorted(set(program_types()) - {"unspec"}))
def test_each_program_type_runs_and_compiles(tmp_path, ptype):
    """A sample of each family: its context is set up, arm64 and the interpreter agree on reading its first
    field (or on r1 itself where the context is opaque)."""
    spec = program_types()[ptype]
    if spec.ctx_fields:
        name, (off, size) = min((kv for kv in spec.ctx_fields.items() if kv[1][1] in (1, 2, 4, 8)),
                                key=lambda kv: kv[1][0])
        width = {1: "b", 2: "h", 4: "w", 8: "dw"}[size]
        text = f"ldx{width} %r0, [%r1+{off}]\nexit"
    else:
        text = "mov %r0, %r1\nrsh %r0, 60\nexit"
    path = tmp_path / "p.s"
    path.write_text(text)
    prog = bpfx.load(str(path), prog_type=ptype).program()
    results = {t: bpfx.run(prog, t, packet=PACKET, mem=b"\1\2\3\4").r0 for t in ("interp", "arm64")}
    assert results["interp"] == results["arm64"]


# -- LD_ABS / LD_IND -------------------------------------------------------------------------------------
LD_PACKET = """
    mov %r6, %r1
    ldabsh 12
    mov %r7, %r0
    mov %r2, {ind}
    ldindb %r2, 12
    lsh %r7, 8
    add %r0, %r7
    exit
"""


@pytest.mark.parametrize("ptype", ["socket_filter", "sched_cls"])
@pytest.mark.parametrize("ind,size,expected", [
    (2, 64, 0x0800 << 8 | 0x45),  # ethertype, then the IP version/IHL byte at 14
    (2, 14, 0),  # the LD_IND reads past the end: the program exits with 0
    (-20, 64, 0),  # negative offset
    (0x7FFFFFF0, 64, 0),  # src + imm wraps to a negative 32-bit offset
])
def test_ld_abs_and_ld_ind_run_as_the_kernel_runs_them(tmp_path, ptype, ind, size, expected):
    path = tmp_path / "p.s"
    path.write_text(LD_PACKET.format(ind=ind))
    prog = bpfx.load(str(path), prog_type=ptype).program()
    for target in ("interp", "arm64"):
        assert bpfx.run(prog, target, packet=PACKET[:size]).r0 == expected, target


@pytest.mark.parametrize("text,ptype,message", [
    ("ldabsw 0\nexit", "xdp", "LD_ABS/LD_IND packet access is not available to xdp programs"),
    ("ldabsdw 0\nexit", "socket_filter", "unknown opcode 0x38"),
    ("mov %r6, %r1\nldabsb 0\ncall local f\nexit\nf: mov %r0, 0\nexit", "socket_filter",
     "cannot be mixed with bpf-to-bpf calls"),
])
def test_ld_abs_validity_rules(tmp_path, text, ptype, message):
    path = tmp_path / "p.s"
    path.write_text(text)
    with pytest.raises(ValidationError, match=message):
        bpfx.load(str(path), prog_type=ptype)


def test_ld_abs_reserved_fields(tmp_path):
    from bpfx.front.isa import Insn, encode

    path = tmp_path / "p.bin"
    path.write_bytes(encode([Insn(0x20, 1, 0, 0, 0), Insn(0x95)]))  # ldabsw with dst = r1
    with pytest.raises(ValidationError, match=r"reserved fields \(dst and off must be 0"):
        bpfx.load(str(path), prog_type="socket_filter")


def test_ld_abs_needs_the_context_in_r6(tmp_path):
    path = tmp_path / "p.s"
    path.write_text("mov %r6, %r10\nldabsb 0\nexit")
    with pytest.raises(Unsupported, match=r"LD_ABS/LD_IND needs the context \(__sk_buff\) in r6"):
        bpfx.compile(bpfx.load(str(path), prog_type="socket_filter").program(), "arm64")


def test_ld_abs_disassembles_and_assembles(tmp_path):
    from bpfx.front.asm import disassemble

    insns = assemble("ldabsh 12\nldindw %r3, -4\nexit")
    assert disassemble(insns) == "ldabsh 12\nldindw %r3, -4\nexit\n"
    assert [i.opcode for i in insns[:2]] == [0x28, 0x40]


# -- context rules and helpers on packets ---------------------------------------------------------------------
@pytest.mark.parametrize("text,ptype,message", [
    ("mov %r2, 0\nstxw [%r1+0], %r2\nmov %r0, 0\nexit", "xdp", r"read-only context field xdp_md\.data \(xdp programs "
                                                                r"may write: nothing\)"),
    ("stw [%r1+0], 5\nmov %r0, 0\nexit", "sched_cls", r"read-only context field __sk_buff\.len \(sched_cls"),
])
def test_stores_to_read_only_context_fields_are_refused_on_every_target(tmp_path, text, ptype, message):
    path = tmp_path / "p.s"
    path.write_text(text)
    prog = bpfx.load(str(path), prog_type=ptype).program()
    for target in ("interp", "arm64"):
        with pytest.raises(ValidationError, match=message):
            bpfx.run(prog, target, packet=PACKET)


def test_writable_context_field(tmp_path):
    path = tmp_path / "p.s"
    path.write_text("stw [%r1+8], 77\nmov %r0, 0\nexit")  # __sk_buff.mark
    prog = bpfx.load(str(path), prog_type="sched_cls").program()
    assert [bpfx.run(prog, t, packet=PACKET).ctx_changed for t in ("interp", "arm64")] == [{"mark": 77}] * 2


def test_xdp_adjust_meta(tmp_path):
    path = tmp_path / "p.s"
    path.write_text("""
        mov %r6, %r1
        mov %r2, -8
        call 54
        jne %r0, 0, fail
        ldxw %r2, [%r6+8]
        ldxw %r3, [%r6+0]
        mov %r7, %r3
        sub %r7, %r2
        mov %r1, %r6
        mov %r2, -6
        call 54
        jeq %r0, 0, fail
        mov %r0, %r7
        exit
    fail:
        mov %r0, 99
        exit""")
    prog = bpfx.load(str(path), prog_type="xdp").program()
    assert [bpfx.run(prog, t, packet=PACKET).r0 for t in ("interp", "arm64")] == [8, 8]  # data - data_meta


def test_extern_values_on_the_command_line(tmp_path):
    import subprocess
    import sys

    from elfwriter import STT_NOTYPE

    insns = assemble("lddw %r0, 0\nexit")
    path = Obj().code("xdp", insns).sym("p", "xdp", 0, 24).sym("magic", None, type=STT_NOTYPE) \
        .rel("xdp", 0, "magic").write(tmp_path / "k.o")

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "bpfx.cli", "run", path, *extra], capture_output=True, text=True)

    missing = run()
    assert missing.returncode == 1 and "unresolved extern(s) magic: pass their values" in missing.stderr
    given = run("--extern", "magic=0x1234")
    assert given.returncode == 0 and given.stdout.startswith("r0 = 4660")
    assert run("--extern", "magic").returncode == 2


def test_corrupted_objects_give_one_line_errors_never_tracebacks(tmp_path):
    """Byte flips all over a small object with code, maps, data and relocations: bpfx either loads the result or
    refuses it with a BpfxError (fixed seed; the corpus fuzzing that found OverflowError and zlib.error)."""
    import random

    maps = struct.pack("<5I", 2, 4, 4, 8, 0)
    insns = _lookup_and_count()
    good = (Obj().code("xdp", insns).data("maps", maps).data(".rodata", b"abcd")
            .sym("prog", "xdp", 0, 8 * len(insns)).sym("counts", "maps", 0, 20, STT_OBJECT)
            .rel("xdp", 16, "counts")).build()
    rng = random.Random(7)
    path = tmp_path / "f.o"
    for _ in range(300):
        data = bytearray(good)
        for _ in range(rng.choice((1, 3, 8))):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(data)
        try:
            for prog in bpfx.load(str(path)).programs:
                bpfx.compile(prog, "arm64")
        except bpfx.BpfxError as err:
            assert "\n" not in str(err)


def test_context_pointer_fields_are_marked():
    types = program_types()
    assert {"data", "data_end", "data_meta", "flow_keys", "sk"} <= types["sched_cls"].pointers
    assert types["cgroup_skb"].pointers == types["sched_cls"].pointers  # every __sk_buff type shares them
    assert types["sock_ops"].pointers == {"sk", "skb_data", "skb_data_end"}
    assert types["sk_msg"].ctx_fields["data"] == (0, 8) and "data" in types["sk_msg"].pointers
    assert not types["kprobe"].pointers and types["cgroup_sock_addr"].writable >= {"user_ip4", "user_port"}


def test_huge_real_world_maps_run(tmp_path):
    """cilium declares hash maps of 500k entries: an emulated run holds up to HASH_CAPACITY of them; an array too
    big for its region is a clear fault, not an overlap with the next map."""
    from bpfx.execute.runtime.maps import HASH_CAPACITY

    def obj(mtype, entries):
        maps = struct.pack("<5I", mtype, 4, 4, entries, 0)
        insns = _lookup_and_count()
        return (Obj().code("xdp", insns).data("maps", maps).sym("prog", "xdp", 0, 8 * len(insns))
                .sym("big", "maps", 0, 20, STT_OBJECT).rel("xdp", 16, "big")).write(tmp_path / f"{mtype}.o")

    prog = bpfx.load(obj(1, 10_000_000)).program()
    init = {"big": {(0).to_bytes(4, "little"): (41).to_bytes(4, "little")}}
    for target in ("interp", "arm64"):
        assert bpfx.run(prog, target, packet=PACKET, map_init=init).r0 == 42
    full = {"big": {i.to_bytes(4, "little"): bytes(4) for i in range(HASH_CAPACITY)}}
    assert bpfx.run(prog, "interp", packet=PACKET, map_init=full).r0 == 1  # key 0 present: 0 + 1
    with pytest.raises(bpfx.LinkError, match=r"map 'big' needs 80004096 bytes \(10000000 entries of 4 bytes\)"):
        bpfx.run(bpfx.load(obj(2, 10_000_000)).program(), "interp", packet=PACKET)


def test_context_unions_allow_the_writable_member(tmp_path):
    """bpf_sock_ops.reply shares its offset with args[0]: sock_ops programs may store there."""
    path = tmp_path / "p.s"
    path.write_text("stw [%r1+4], 3\nmov %r0, 1\nexit")
    prog = bpfx.load(str(path), prog_type="sock_ops").program()
    assert [bpfx.run(prog, t).ctx_changed["reply"] for t in ("interp", "arm64")] == [3, 3]
    path.write_text("stw [%r1+0], 3\nmov %r0, 1\nexit")  # op: read-only, on both
    prog = bpfx.load(str(path), prog_type="sock_ops").program()
    for target in ("interp", "arm64"):
        with pytest.raises(ValidationError, match=r"read-only context field bpf_sock_ops\.op"):
            bpfx.run(prog, target)
