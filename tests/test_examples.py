"""The example programs: rebuilt with clang when it is installed, loaded, and run with known results."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest

import bpfx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
SOURCES = sorted(glob.glob(os.path.join(EXAMPLES, "*.c")))
# the general-purpose targets (nfp's firmware offers fewer helpers; test_targets.py covers every target)
TARGETS = ["interp", "arm64", "riscv64"]
TCP = open(os.path.join(ROOT, "tests", "data", "ipv4_tcp.bin"), "rb").read()


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    if shutil.which("clang") is None or not os.path.exists("/usr/include/bpf/bpf_helpers.h"):
        pytest.skip("clang and libbpf-dev are needed to rebuild the examples")
    out = tmp_path_factory.mktemp("examples")
    for src in SOURCES:
        shutil.copy(src, out)
    shutil.copy(os.path.join(EXAMPLES, "Makefile"), out)
    subprocess.run(["make", "-s", "-C", str(out)], check=True, capture_output=True)
    return out


@pytest.mark.parametrize("src", SOURCES, ids=os.path.basename)
def test_rebuilt_object_matches_the_committed_one(rebuilt, src):
    name = os.path.basename(src)[:-2] + ".o"
    fresh, committed = bpfx.load(str(rebuilt / name)), bpfx.load(os.path.join(EXAMPLES, name))
    assert [p.insns for p in fresh.programs] == [p.insns for p in committed.programs]
    for target in TARGETS:
        for obj in (fresh, committed):
            assert bpfx.run(obj.program(), target, packet=TCP, obj=obj).r0 == \
                bpfx.run(committed.program(), "interp", packet=TCP, obj=committed).r0


def load(name):
    obj = bpfx.load(os.path.join(EXAMPLES, name))
    return obj, obj.program()


@pytest.mark.parametrize("target", TARGETS)
def test_known_results(target):
    _, p = load("xdp_adjust_head.o")
    assert (bpfx.run(p, target, packet=bytes(4096)).r0, bpfx.run(p, target, packet=bytes(4096)).packet_len) == \
        (2, 4084)
    assert bpfx.run(p, target, packet=bytes(20)).r0 == 0  # too short to drop 12 bytes: XDP_ABORTED

    _, p = load("xdp_macswap.o")
    r = bpfx.run(p, target, packet=TCP)
    assert (r.return_name, r.packet[:12]) == ("XDP_TX", TCP[6:12] + TCP[:6])
    assert bpfx.run(p, target, packet=bytes(10)).return_name == "XDP_DROP"

    obj, p = load("xdp_counters.o")
    r = bpfx.run(p, target, packet=TCP, obj=obj)
    assert r.maps == {"proto_count": {"06000000": "0100000000000000"},
                      "bytes_by_src": {"c0a80001": (74).to_bytes(8, "little").hex()}}

    _, p = load("tc_classifier.o")
    r = bpfx.run(p, target, packet=TCP)
    assert (r.return_name, r.ctx["mark"], r.ctx["tc_classid"]) == ("TC_ACT_OK", 1, 0x10001)
    assert bpfx.run(p, target, packet=TCP[:40]).return_name == "TC_ACT_SHOT"

    obj, p = load("xdp_checksum.o")
    assert sorted(p.functions.values()) == ["fold", "sum_words", "xdp_checksum"]
    r = bpfx.run(p, target, packet=TCP, obj=obj)
    words = [int.from_bytes(TCP[i:i + 2], "little") for i in range(0, 64, 2)]
    csum = sum(words)
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    assert r.r0 == (1 if csum == 0xFFFF else 2)
    assert r.maps == ({".bss": {"00000000": "0100000000000000"}} if csum & 1 else {})


def test_maps_from_btf():
    obj, p = load("xdp_counters.o")
    assert [(m.name, m.type, m.key_size, m.value_size, m.max_entries) for m in obj.maps] == [
        ("proto_count", 2, 4, 8, 256), ("bytes_by_src", 1, 4, 8, 64)]
