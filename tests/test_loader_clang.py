"""Loader features on objects clang builds: global data, externs, callbacks, .BTF.ext line info, CO-RE, static
initialisers, license/version, big-endian twins, sections no SEC name knows. Each object is built from C here."""

from __future__ import annotations

import os
import struct
import platform
import shutil
import subprocess

import pytest

import bpfx
from bpfx import BpfxError, LinkError, Unsupported
import bpfx.front.asm
from bpfx.front.asm import disassemble
from bpfx.front.btf import BTF

HEADERS = "/usr/include/bpf/bpf_helpers.h"
pytestmark = pytest.mark.skipif(shutil.which("clang") is None or not os.path.exists(HEADERS),
                                reason="clang and libbpf-dev are needed to build test objects")
PACKET = bytes.fromhex("ffffffffffff0011223344550800" "4500003c1c4640004006b1e6c0a80001c0a800c7") + bytes(range(40))


def build(tmp_path, source: str, name: str = "t", target: str = "bpf", extra=()) -> str:
    src, obj = tmp_path / f"{name}.c", tmp_path / f"{name}.o"
    src.write_text(source)
    subprocess.run(["clang", "-O2", "-g", "-target", target, f"-I/usr/include/{platform.machine()}-linux-gnu",
                    "-c", str(src), "-o", str(obj), *extra], check=True, capture_output=True)
    return str(obj)


def btf_of(path: str) -> bytes:
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        return ELFFile(f).get_section_by_name(".BTF").data()


GLOBALS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
const volatile int limit = 7;            /* .rodata */
int counter = 5;                          /* .data */
int zeroed;                               /* .bss */
int custom SEC(".data.custom") = 100;     /* named .data.* */
SEC("xdp") int prog(struct xdp_md *ctx) {
    zeroed += 3;
    counter += 1;
    return limit + counter + zeroed + custom;
}
char LICENSE[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x050a00;
"""


def test_global_data_sections_license_and_version(tmp_path):
    obj = bpfx.load(build(tmp_path, GLOBALS))
    assert {m.name for m in obj.maps} >= {".rodata", ".data", ".bss", ".data.custom"}
    assert obj.license == "GPL" and obj.version == 0x050A00
    for target in ("interp", "arm64"):
        assert bpfx.run(obj.program(), target, packet=PACKET).r0 == 7 + 6 + 3 + 100


EXTERNS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern int CONFIG_HZ __kconfig;
extern const void bpf_prog_active __ksym;
SEC("xdp") int prog(struct xdp_md *ctx) {
    if ((long)&bpf_prog_active == 0x1234)
        return LINUX_KERNEL_VERSION >> 16;
    return CONFIG_HZ;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_kconfig_and_ksym_externs(tmp_path):
    path = build(tmp_path, EXTERNS)
    with pytest.raises(LinkError, match=r"unresolved extern\(s\) CONFIG_HZ, LINUX_KERNEL_VERSION, bpf_prog_active"):
        bpfx.load(path)
    values = {"LINUX_KERNEL_VERSION": 0x060100, "CONFIG_HZ": 250}
    hit = bpfx.load(path, externs={**values, "bpf_prog_active": 0x1234})
    miss = bpfx.load(path, externs={**values, "bpf_prog_active": 0x9999})
    for target in ("interp", "arm64"):
        assert bpfx.run(hit.program(), target, packet=PACKET).r0 == 6
        assert bpfx.run(miss.program(), target, packet=PACKET).r0 == 250


LOOP = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); }
    vals SEC(".maps");
static long add(__u32 i, void *data) { *(__u64 *)data += i; return i == 9; }
static long sum(void *map, __u32 *key, __u64 *val, void *data) { *(__u64 *)data += *val * (*key + 1); return 0; }
SEC("xdp") int prog(struct xdp_md *ctx) {
    __u64 total = 0, weighted = 0;
    bpf_loop(100, add, &total, 0);              /* stops after i == 9: 0 + 1 + ... + 9 */
    __u32 k = 2; __u64 v = 5;
    bpf_map_update_elem(&vals, &k, &v, 0);
    bpf_for_each_map_elem(&vals, sum, &weighted, 0);
    return total + weighted;                    /* 45 + 5 * 3 */
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_pseudo_func_callbacks_run_on_the_interpreter(tmp_path):
    obj = bpfx.load(build(tmp_path, LOOP))
    prog = obj.program()
    assert any(i.opcode == 0x18 and i.src == 4 for i in prog.insns)  # lddw of a function: BPF_PSEUDO_FUNC
    assert bpfx.run(prog, "interp", packet=PACKET).r0 == 45 + 15
    with pytest.raises(Unsupported, match=r"lddw with src 4 \(FUNC\) is not supported on arm64") as err:
        bpfx.compile(prog, "arm64")
    first = next(k for k, i in enumerate(prog.insns) if i.opcode == 0x18 and i.src == 4)
    assert err.value.insn == first  # the refusal names the instruction


LINES = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int prog(struct xdp_md *ctx) {
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    if (data + 14 > end) return XDP_DROP;
    return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_btf_ext_line_info_reaches_the_listing(tmp_path):
    path = build(tmp_path, LINES, name="lines")
    prog = bpfx.load(path).program()
    assert any("lines.c:" in text and "data + 14 > end" in text for _slot, text in prog.lines)
    out = tmp_path / "l.txt"
    from bpfx.cli import main

    assert main(["compile", path, "-t", "arm64", "-f", "listing", "-o", str(out)]) == 0
    listing = out.read_text()
    assert "; lines.c:6: if (data + 14 > end) return XDP_DROP;" in listing
    # the C line comes right before the first BPF instruction it produced
    after = listing.split("; lines.c:6: if (data + 14 > end) return XDP_DROP;\n", 1)[1]
    slot = next(slot for slot, text in prog.lines if "data + 14 > end" in text)
    assert after.splitlines()[0] == f"    ; {slot:4}: {bpfx.front.asm.format_insn(prog.insns[slot])}"
    text = disassemble(prog.insns, prog.lines)  # disasm too, as comments the assembler skips
    assert "# lines.c:6: if (data + 14 > end) return XDP_DROP;\n" in text
    assert bpfx.front.asm.assemble(text) == bpfx.front.asm.assemble(disassemble(prog.insns))


CORE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
struct task { int pad; int pid; } __attribute__((preserve_access_index));
SEC("kprobe/x") int prog(struct task *t) {
    return BPF_CORE_READ(t, pid) + bpf_core_field_offset(struct task, pid);
}
char LICENSE[] SEC("license") = "GPL";
"""
TARGET_TASK = r"""
struct task { long a, b, c; int pid; };
struct task t;
"""


def test_core_relocations_against_a_given_btf(tmp_path):
    path = build(tmp_path, CORE, name="core")
    with pytest.raises(LinkError, match=r"CO-RE relocation \(field_byte_offset\) against struct task\.pid needs "
                                        r"the target's BTF"):
        bpfx.load(path)
    local = bpfx.load(path, btf=btf_of(path)).program()  # against itself: offsets unchanged
    target = bpfx.load(path, btf=btf_of(build(tmp_path, TARGET_TASK, name="kernel"))).program()
    def offset(p):  # clang keeps the field offset in one register: the relocated "r6 = 4"
        return [i.imm for i in p.insns if i.opcode == 0xB7 and i.dst == 6]
    assert offset(local) == [4] and offset(target) == [24]
    for tgt in ("interp", "arm64"):  # the pid read (a zeroed context) plus the offset
        assert bpfx.run(target, tgt).r0 == 24
    missing = build(tmp_path, "struct other { int x; }; struct other o;", name="nothing")
    with pytest.raises(LinkError, match="struct task is not in the target BTF"):
        bpfx.load(path, btf=btf_of(missing))


INITIALISERS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u32); }
    in0 SEC(".maps"), in1 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 2); __type(key, __u32);
         __array(values, struct inner); } outer SEC(".maps") = { .values = { [0] = &in0, [1] = &in1 } };
int tail(struct xdp_md *ctx);
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32);
         __array(values, int (void *)); } jumps SEC(".maps") = { .values = { [3] = (void *)&tail } };
SEC("xdp") int tail(struct xdp_md *ctx) { return XDP_TX; }
SEC("xdp") int entry(struct xdp_md *ctx) { bpf_tail_call(ctx, &jumps, 3); return XDP_DROP; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_map_in_map_and_prog_array_initialisers(tmp_path):
    obj = bpfx.load(build(tmp_path, INITIALISERS))
    maps = {m.name: m for m in obj.maps}
    assert maps["outer"].values == ((0, "in0"), (1, "in1"))
    assert maps["outer"].inner is not None and maps["outer"].inner.max_entries == 1
    assert maps["jumps"].values == ((3, "tail"),)
    for target in ("interp", "arm64"):
        assert bpfx.run(obj.program("entry"), target, packet=PACKET, obj=obj).r0 == 3  # XDP_TX via the tail call


def test_big_endian_twin_disassembles_identically_and_is_not_run(tmp_path):
    el = bpfx.load(build(tmp_path, LOOP, name="el", target="bpfel"))
    eb = bpfx.load(build(tmp_path, LOOP, name="eb", target="bpfeb"))
    assert eb.endian == "big" and el.endian == "little"
    assert disassemble(eb.program().insns) == disassemble(el.program().insns)
    assert [m.name for m in eb.maps] == [m.name for m in el.maps] and eb.maps[0].max_entries == 4
    for target in ("interp", "arm64"):
        with pytest.raises(Unsupported, match=f"big-endian BPF object: target {target} is little-endian"):
            bpfx.run(eb.program(), target, packet=PACKET)


MEM = r"""
SEC_MEM int sum(unsigned char *mem, unsigned long len) {
    int s = 0;
    for (int i = 0; i < 8; i++) s += mem[i];
    return s;
}
"""


def test_unknown_section_loads_with_prog_type_and_names_the_closest_sec(tmp_path):
    path = build(tmp_path, '#define SEC_MEM __attribute__((section("mem"), used))\n' + MEM, name="mem")
    obj = bpfx.load(path, prog_type="mem")
    assert obj.program().prog_type == "mem"
    for target in ("interp", "arm64"):
        assert bpfx.run(obj.program(), target, mem=bytes(range(1, 9))).r0 == 36
    bare = bpfx.load(path).program()
    assert bare.prog_type == "unspec"
    with pytest.raises(Unsupported, match=r"mem:insn 0: section 'mem' selects no program type; not inferred: its "
                       r"context access of 1 bytes at offset 7 is"):
        bpfx.run(bare, "interp")
    near = bpfx.load(build(tmp_path, '#define SEC_MEM __attribute__((section("sockop"), used))\n' + MEM,
                           name="near")).program()
    assert near.prog_type == "unspec"
    with pytest.raises(Unsupported, match=r"section 'sockop' selects no program type \(closest known: 'sockops'\)"):
        bpfx.compile(near, "arm64")


KINDS = r"""
#include <linux/types.h>
enum big : unsigned long long { HUGE = 0x1234567890ULL };
typedef int __attribute__((btf_type_tag("user"))) tagged;
struct s { int a __attribute__((btf_decl_tag("field"))); float f; double d; tagged *p; enum big e; } v;
"""


def test_every_btf_kind_parses(tmp_path):
    btf = BTF(btf_of(build(tmp_path, KINDS, name="kinds")))
    kinds = {t.kind for t in btf.types[1:]}
    assert {1, 2, 4, 6, 8, 14, 15, 16, 17} <= kinds  # ... FLOAT, DECL_TAG (this clang may lack ENUM64, TYPE_TAG)
    layout = btf.struct_layout(btf.find("s", (4,)))
    assert layout["f"] == (4, 4, False) and layout["d"] == (8, 8, False) and layout["p"][2] is True


def _btf(types: bytes, strings: bytes) -> bytes:
    import struct

    return struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(strings)) + types + strings


def test_synthetic_btf_with_every_kind():
    import struct

    def t(kind, vlen=0, size_type=0, name=1, flag=0):
        return struct.pack("<III", name, (flag << 31) | (kind << 24) | vlen, size_type)

    types = b"".join([
        t(1, size_type=4) + struct.pack("<I", 32),                       # 1 INT
        t(2, size_type=1, name=0),                                        # 2 PTR
        t(3, name=0) + struct.pack("<III", 1, 1, 4),                      # 3 ARRAY int[4]
        t(4, 1, 16) + struct.pack("<III", 1, 3, 0),                       # 4 STRUCT
        t(5, 1, 16) + struct.pack("<III", 1, 3, 0),                       # 5 UNION
        t(6, 1, 4) + struct.pack("<Ii", 1, -1),                           # 6 ENUM
        t(7),                                                             # 7 FWD
        t(8, size_type=1), t(9, size_type=1, name=0), t(10, size_type=1, name=0), t(11, size_type=2, name=0),
        t(13, 1, 1, name=0) + struct.pack("<II", 0, 1),                   # 12 FUNC_PROTO
        t(12, size_type=12),                                              # 13 FUNC
        t(14, size_type=1) + struct.pack("<I", 1),                        # 14 VAR
        t(15, 1, 4) + struct.pack("<III", 14, 0, 4),                      # 15 DATASEC
        t(16, size_type=8),                                               # 16 FLOAT
        t(17, size_type=4) + struct.pack("<I", 0xFFFFFFFF),               # 17 DECL_TAG
        t(18, size_type=1),                                               # 18 TYPE_TAG
        t(19, 1, 8) + struct.pack("<III", 1, 0x90, 0x12),                 # 19 ENUM64
    ])
    btf = BTF(_btf(types, b"\0x\0"))
    assert [ty.kind for ty in btf.types[1:]] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 12, 14, 15, 16, 17, 18, 19]
    assert btf.size(3) == 16 and btf.size(4) == 16 and btf.size(18) == 4 and btf.size(19) == 8
    assert btf.size(16) == 8 and btf.size(11) == 8 and btf.resolve(11)[1].kind == 2
    assert btf.datasec("x") == [("x", 1, 0, 4)]


def test_btf_reference_cycles_are_an_error_not_a_hang():
    import struct

    strings = b"\0t\0"
    # type 1: typedef t -> 2, type 2: const -> 1 (a cycle)
    types = struct.pack("<III", 1, 8 << 24, 2) + struct.pack("<III", 0, 10 << 24, 1)
    btf = BTF(_btf(types, strings))
    with pytest.raises(BpfxError, match="reference cycle"):
        btf.size(1)


SKB_HELPERS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } events SEC(".maps");
struct ev { __u32 ttl; __u32 pid; __u32 diff; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, __u64); }
    locked SEC(".maps");
SEC("tc") int prog(struct __sk_buff *skb) {
    __u16 oldw, neww;
    __u8 ttl;
    if (bpf_skb_load_bytes(skb, 22, &oldw, 2) || bpf_skb_load_bytes(skb, 22, &ttl, 1))
        return 1;
    ttl -= 1;
    bpf_skb_store_bytes(skb, 22, &ttl, 1, 0);
    bpf_skb_load_bytes(skb, 22, &neww, 2);
    bpf_l3_csum_replace(skb, 24, oldw, neww, 2);            /* keep the IPv4 header checksum right */
    __u32 words[2] = {0x01020304, 0x05060708};
    struct ev e = { ttl, bpf_get_current_pid_tgid() >> 32, bpf_csum_diff(0, 0, words, 8, 0) };
    bpf_ringbuf_output(&events, &e, sizeof(e), 0);
    if (bpf_skb_load_bytes(skb, 1000, &ttl, 1) == 0)        /* out of the packet: -EFAULT */
        return 2;
    return bpf_skb_change_tail(skb, skb->len + 6, 0) ? 3 : 0;
}
char LICENSE[] SEC("license") = "GPL";
"""


def _ip_checksum_ok(header: bytes) -> bool:
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, 20, 2))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def test_skb_and_output_helpers_agree_on_every_target(tmp_path):
    from bpfx.execute.runtime import EMULATED_PID

    obj = bpfx.load(build(tmp_path, SKB_HELPERS))
    header = bytearray(PACKET[14:34])
    header[10:12] = bytes(2)
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, 20, 2))
    total = (total & 0xFFFF) + (total >> 16)
    header[10:12] = (~total & 0xFFFF).to_bytes(2, "big")
    packet = PACKET[:14] + bytes(header) + PACKET[34:]
    assert _ip_checksum_ok(packet[14:34])
    results = {t: bpfx.run(obj.program(), t, packet=packet) for t in ("interp", "arm64")}
    for target, result in results.items():
        assert result.r0 == 0, target
        ip = result.packet[14:34]
        assert ip[8] == packet[22] - 1 and _ip_checksum_ok(ip), target
        assert len(result.packet) == len(packet) + 6 and result.packet[-6:] == bytes(6)
        diff = int.from_bytes(result.output[0][1][8:12], "little")
        folded = (diff & 0xFFFF) + (diff >> 16)
        assert result.output[0][0] == "events" and result.output[0][1][:8] == struct.pack("<II", ip[8], EMULATED_PID)
        assert folded % 0xFFFF == (0x0304 + 0x0102 + 0x0708 + 0x0506) % 0xFFFF
    assert results["interp"].output == results["arm64"].output and results["interp"].packet == results["arm64"].packet


def test_kfunc_call_is_refused_naming_it(tmp_path):
    src = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
extern void bpf_rcu_read_lock(void) __ksym;
SEC("xdp") int prog(struct xdp_md *ctx) { bpf_rcu_read_lock(); return 2; }
"""
    with pytest.raises(LinkError, match="xdp:insn 0: call to kfunc 'bpf_rcu_read_lock': kernel functions are not "
                                        "supported"):
        bpfx.load(build(tmp_path, src))


def test_btf_from_an_elf_file(tmp_path):
    path = build(tmp_path, CORE, name="core")
    kernel = build(tmp_path, TARGET_TASK, name="kernel")
    prog = bpfx.load(path, btf=kernel).program()  # the .BTF of an ELF file (vmlinux, a module, an object)
    assert [i.imm for i in prog.insns if i.opcode == 0xB7 and i.dst == 6] == [24]
