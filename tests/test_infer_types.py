"""Program types of sections no SEC name types (cilium's ``2/1``, ``from-netdev``, ovs' ``tail-3``), inferred from
evidence (bpfx.front.progtypes.infer_types): each rule, its reason, and the refusals when the evidence is missing or
conflicts. Objects are written with the small ELF writer."""

from __future__ import annotations

import struct

import pytest
from elfwriter import STT_OBJECT, Obj

import bpfx
from bpfx import Unsupported
from bpfx.front.asm import assemble
from bpfx.front.loader import load

PACKET = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(range(40))

SKB_LOAD = """
    mov %r2, 12
    mov %r3, %r10
    add %r3, -4
    mov %r4, 2
    call 26
    ldxh %r0, [%r10-4]
    exit"""  # bpf_skb_load_bytes(ctx, 12, fp-4, 2): the ethertype
XDP_HEAD = "mov %r2, 0\ncall 44\nexit"  # bpf_xdp_adjust_head(ctx, 0)
TAIL_CALL = "mov %r6, %r1\nmov %r1, %r6\nlddw %r2, 0\nmov %r3, 1\ncall 12\n"  # bpf_tail_call(ctx, &jmp, 1)
RET = "mov %r0, 2\nexit"


def _obj(*sections, maps: bytes = b"", map_names=(), record: int = 20) -> Obj:
    """One program per (section, assembly) pair; the lddw of each TAIL_CALL is relocated against map 0."""
    obj = Obj()
    for name, text in sections:
        insns = assemble(text)
        obj.code(name, insns)
        for k, insn in enumerate(insns):
            if insn.opcode == 0x18:
                obj.rel(name, 8 * k, map_names[0])
    if maps:
        obj.data("maps", maps)
        for k, name in enumerate(map_names):
            obj.sym(name, "maps", k * record, record, STT_OBJECT)
    return obj


def _prog_array(mid: int = 0) -> bytes:
    """A bpf_elf_map (iproute2's layout, 36 bytes): PROG_ARRAY of 4 slots with id ``mid``."""
    return struct.pack("<9I", 3, 4, 4, 4, 0, mid, 0, 0, 0)


def _types(tmp_path, obj: Obj, **kw) -> dict[str, tuple[str, str]]:
    loaded = load(obj.write(tmp_path / "a.o"), **kw)
    return {p.section: (p.prog_type, p.type_reason) for p in loaded.programs}


def test_a_helper_taking_one_context_struct_types_the_program(tmp_path):
    types = _types(tmp_path, _obj(("from-netdev", SKB_LOAD), ("tail-1", XDP_HEAD)))
    assert types == {"from-netdev": ("sched_cls", "inferred sched_cls: calls bpf_skb_load_bytes"),
                     "tail-1": ("xdp", "inferred xdp: calls bpf_xdp_adjust_head")}
    prog = bpfx.load(_obj(("from-netdev", SKB_LOAD)).write(tmp_path / "b.o")).program()
    assert [bpfx.run(prog, t, packet=PACKET).r0 for t in ("interp", "arm64")] == [0x0008, 0x0008]


def test_context_fields_past_xdp_md_mean_an_sk_buff(tmp_path):
    types = _types(tmp_path, _obj(("one", "ldxw %r0, [%r1+40]\nexit"),  # __sk_buff.ifindex
                                  ("two", "mov %r2, 7\nstxw [%r1+48], %r2\nmov %r0, 0\nexit"),  # cb[0]
                                  ("three", "ldxw %r0, [%r1+4]\nexit")))  # xdp_md.data_end or __sk_buff.pkt_type
    assert types["one"] == ("sched_cls", "inferred sched_cls: reads __sk_buff.ifindex")
    assert types["two"] == ("sched_cls", "inferred sched_cls: writes __sk_buff.cb0")
    assert types["three"][0] == "sched_cls"  # no evidence of its own: the object's other programs are sched_cls
    assert types["three"][1] == "inferred sched_cls: every other program of the object is sched_cls"
    # an 8-byte read at 40 is no __sk_buff field: no evidence
    assert _types(tmp_path, _obj(("one", "ldxdw %r0, [%r1+40]\nexit")))["one"][0] == "unspec"


def test_ld_abs_means_an_sk_buff(tmp_path):
    types = _types(tmp_path, _obj(("filter", "mov %r6, %r1\nldabsh 12\nexit")))
    assert types == {"filter": ("sched_cls", "inferred sched_cls: uses LD_ABS/LD_IND packet loads")}


def test_sharing_a_prog_array_with_a_typed_program(tmp_path):
    obj = _obj(("xdp", TAIL_CALL + RET), ("tail-1", TAIL_CALL + RET), maps=_prog_array(), map_names=["jmp"],
               record=36)
    types = _types(tmp_path, obj)
    assert types["xdp"] == ("xdp", "")
    assert types["tail-1"] == ("xdp", "inferred xdp: shares prog array 'jmp' with 'xdp' (xdp)")
    for prog in bpfx.load(str(tmp_path / "a.o")).programs:
        assert [bpfx.run(prog, t, packet=PACKET).r0 for t in ("interp", "arm64")] == [2, 2]


def test_sharing_a_prog_array_with_a_program_that_shows_its_context(tmp_path):
    obj = _obj(("from-netdev", TAIL_CALL + XDP_HEAD), ("tail-1", TAIL_CALL + RET), maps=_prog_array(),
               map_names=["calls"], record=36)
    assert _types(tmp_path, obj)["tail-1"] == (
        "xdp", "inferred xdp: shares prog array 'calls' with 'from-netdev' (calls bpf_xdp_adjust_head)")


def test_iproute2_id_slash_key_sections_are_in_the_prog_array_with_that_id(tmp_path):
    """cilium's SEC("2/1"): slot 1 of the prog array whose bpf_elf_map.id is 2, even if it tail-calls nothing."""
    maps = _prog_array(1) + _prog_array(2)
    obj = _obj(("tc", TAIL_CALL + RET), ("2/1", RET), ("3/1", RET), maps=maps, map_names=["other", "calls"],
               record=36)
    obj.relocs["tc"] = [(16, "calls", 1)]
    types = _types(tmp_path, obj)
    assert types["2/1"] == ("sched_cls", "inferred sched_cls: shares prog array 'calls' with 'tc' (sched_cls)")
    assert types["3/1"] == ("sched_cls", "inferred sched_cls: every other program of the object is sched_cls")
    # the id-2 array is used by nobody typed, and the object has two types: no evidence for 2/1
    obj = _obj(("tc", TAIL_CALL + RET), ("2/1", RET), ("xdp", RET), maps=maps, map_names=["other", "calls"],
               record=36)
    types = _types(tmp_path, obj)
    assert types["2/1"][0] == "unspec" and types["2/1"][1].startswith("not inferred: no evidence")


def test_conflicting_evidence_leaves_the_program_untyped(tmp_path):
    both = SKB_LOAD.replace("exit", "") + XDP_HEAD
    types = _types(tmp_path, _obj(("both", both)))
    assert types["both"] == ("unspec", "not inferred: conflicting evidence: 'both' calls bpf_skb_load_bytes "
                                       "(__sk_buff); 'both' calls bpf_xdp_adjust_head (xdp_md)")
    prog = bpfx.load(str(tmp_path / "a.o")).program()
    with pytest.raises(Unsupported, match=r"section 'both' selects no program type; not inferred: conflicting "):
        bpfx.compile(prog, "arm64")
    # a prog array's typed program says xdp, the untyped one calls an __sk_buff helper
    obj = _obj(("xdp", TAIL_CALL + RET), ("tail-1", TAIL_CALL + SKB_LOAD), maps=_prog_array(), map_names=["jmp"],
               record=36)
    assert _types(tmp_path, obj)["tail-1"] == (
        "unspec", "not inferred: shares prog array 'jmp' with 'xdp' (xdp), but it calls bpf_skb_load_bytes "
                  "(__sk_buff)")


def test_no_object_wide_type_when_the_object_has_several(tmp_path):
    reads_ctx = "ldxw %r0, [%r1+0]\nexit"  # __sk_buff.len or xdp_md.data: the type decides
    types = _types(tmp_path, _obj(("xdp", RET), ("tc", RET), ("af_xdp", reads_ctx)))
    assert types["af_xdp"][0] == "unspec"
    assert types["af_xdp"][1].startswith("not inferred: its context access of 4 bytes at offset 0 is __sk_buff.len "
                                         "(sched_cls) or xdp_md.data (xdp)")


def test_a_program_that_never_touches_its_context_compiles_under_any_type(tmp_path):
    types = _types(tmp_path, _obj(("xdp", RET), ("tc", RET), ("af_xdp", RET)))
    assert types["af_xdp"] == ("socket_filter", "inferred socket_filter: uses no context field or context-specific "
                                                "helper (any type compiles it the same)")


def test_prog_type_always_wins(tmp_path):
    types = _types(tmp_path, _obj(("from-netdev", SKB_LOAD), ("tail-1", RET)), prog_type="socket_filter")
    assert types == {"from-netdev": ("socket_filter", ""), "tail-1": ("socket_filter", "")}


def test_the_listing_and_check_objects_say_which_rule_typed_it(tmp_path):
    from bpfx.tools.corpus import check_objects

    _obj(("from-netdev", SKB_LOAD)).write(tmp_path / "a.o")
    report = check_objects(str(tmp_path), "arm64")
    assert report.lines[1].startswith("  from-netdev (from-netdev, sched_cls, 7 insns; inferred sched_cls: calls "
                                      "bpf_skb_load_bytes): ok, ")
    assert "(1 typed by inference: 1 sched_cls)" in report.summary("arm64")
    image = bpfx.compile(bpfx.load(str(tmp_path / "a.o")).program(), "arm64")
    from bpfx.back.writers.listing import write_listing

    assert write_listing(image, program=bpfx.load(str(tmp_path / "a.o")).program()).splitlines()[1] == \
        "; inferred sched_cls: calls bpf_skb_load_bytes"


STATIC_PROG_ARRAY = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("handler") int tail(struct xdp_md *ctx) { return XDP_PASS; }
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32);
         __array(values, int (void *)); } jumps SEC(".maps") = { .values = { [3] = (void *)&tail } };
SEC("xdp") int entry(struct xdp_md *ctx) { bpf_tail_call(ctx, &jumps, 3); return XDP_DROP; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_a_prog_array_static_initialiser_puts_its_programs_in_the_group(tmp_path):
    """``tail`` does not touch the prog array: only the ``.values`` initialiser says it is in it (clang-built)."""
    import os
    import shutil

    from test_loader_clang import HEADERS, build

    if shutil.which("clang") is None or not os.path.exists(HEADERS):
        pytest.skip("clang and libbpf-dev are needed to build test objects")
    loaded = load(build(tmp_path, STATIC_PROG_ARRAY))
    tail = loaded.program("tail")
    assert (tail.prog_type, tail.type_reason) == ("xdp", "inferred xdp: shares prog array 'jumps' with 'xdp' (xdp)")
    assert [bpfx.run(tail, t, packet=PACKET).r0 for t in ("interp", "arm64")] == [2, 2]


XDP_READ = """
    ldxw %r2, [%r1+0]
    ldxw %r3, [%r1+4]
    mov %r4, %r2
    add %r4, 14
    mov %r0, 1
    jgt %r4, %r3, out
    ldxb %r0, [%r2+12]
out:
    exit"""  # data[12] after a bounds check: the u32 at 0 is an address, so xdp_md.data (__sk_buff.len is not)


def test_a_context_field_used_as_an_address_names_its_struct(tmp_path):
    types = _types(tmp_path, _obj(("from-netdev", XDP_READ)))
    assert types == {"from-netdev": ("xdp", "inferred xdp: dereferences xdp_md.data")}
    prog = bpfx.load(str(tmp_path / "a.o")).program()
    assert [bpfx.run(prog, t, packet=PACKET).r0 for t in ("interp", "arm64")] == [0x08, 0x08]
    # used as an address on one path only: no evidence (the analysis keeps what every path agrees on)
    one_path = """
        ldxw %r2, [%r1+0]
        jeq %r1, 0, skip
        mov %r2, %r10
        add %r2, -8
        stb [%r2], 0
    skip:
        ldxb %r0, [%r2]
        exit"""
    assert _types(tmp_path, _obj(("from-netdev", one_path)))["from-netdev"][0] == "unspec"


def test_a_prog_type_given_to_check_objects_is_validated_anew(tmp_path):
    from bpfx.tools.corpus import check_objects

    _obj(("filter", "mov %r6, %r1\nldabsh 12\nexit")).write(tmp_path / "a.o")
    line = check_objects(str(tmp_path), "arm64", prog_type="xdp").lines[1]
    assert line.endswith("ValidationError: LD_ABS/LD_IND packet access is not available to xdp programs"), line
