"""The compute loops of bench/loops/loops.c, built with clang -target bpf into a temporary directory."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile

import bpfx

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "loops", "loops.c")
PACKET = bytes((i * 7 + 3) & 0xFF for i in range(2048))


def build() -> bpfx.Object | None:
    """The loops as a bpfx Object, or None (with a note on stderr) when clang or libbpf-dev is missing."""
    if shutil.which("clang") is None or not os.path.exists("/usr/include/bpf/bpf_helpers.h"):
        print("(clang and libbpf-dev are needed to build bench/loops/loops.c; skipped)")
        return None
    out = os.path.join(tempfile.mkdtemp(prefix="bpfx-loops-"), "loops.o")
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", f"-I/usr/include/{platform.machine()}-linux-gnu",
                    "-c", SOURCE, "-o", out], check=True)
    return bpfx.load(out)


def native_arm64_counts() -> dict[str, tuple[int, int]] | None:
    """The same C built natively by ``clang --target=aarch64-linux-gnu -O2 -fno-vectorize -fno-slp-vectorize``
    and run under unicorn against a UAPI ``xdp_md`` over PACKET: name -> (native instructions executed, the
    low 32 bits of the return value). None when clang cannot build it."""
    import io

    import unicorn
    from elftools.elf.elffile import ELFFile
    from unicorn import arm64_const as A

    if shutil.which("clang") is None or not os.path.exists("/usr/include/bpf/bpf_helpers.h"):
        return None
    out = os.path.join(tempfile.mkdtemp(prefix="bpfx-loops-"), "loops-arm64.o")
    done = subprocess.run(["clang", "--target=aarch64-linux-gnu", "-O2", "-fno-vectorize", "-fno-slp-vectorize",
                           f"-I/usr/include/{platform.machine()}-linux-gnu", "-c", SOURCE, "-o", out],
                          capture_output=True)
    if done.returncode:
        print("(clang cannot build bench/loops/loops.c for aarch64; native comparison skipped)")
        return None
    elf = ELFFile(io.BytesIO(open(out, "rb").read()))
    sec_index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == "xdp")
    code = elf.get_section(sec_index).data()
    if elf.get_section_by_name(".rela" + "xdp"):
        print("(native loops need relocations; native comparison skipped)")
        return None
    symbols = {s.name: s["st_value"] for s in elf.get_section_by_name(".symtab").iter_symbols()
               if s["st_info"]["type"] == "STT_FUNC" and s["st_shndx"] == sec_index}
    CODE, STACK, CTX, PKT, EXIT = 0x10_0000, 0x200_0000, 0x300_0000, 0x400_0000, 0x500_0000
    results = {}
    for name, off in symbols.items():
        uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
        for base, size in ((CODE, 0x10000), (STACK, 0x10000), (CTX, 0x1000), (PKT, 0x10000), (EXIT, 0x1000)):
            uc.mem_map(base, size)
        uc.mem_write(CODE, code)
        uc.mem_write(PKT, PACKET)
        uc.mem_write(CTX, (PKT).to_bytes(4, "little") + (PKT + len(PACKET)).to_bytes(4, "little") + bytes(16))
        count = [0]

        def on_block(uc, address, size, _user, count=count):
            count[0] += size // 4

        uc.hook_add(unicorn.UC_HOOK_BLOCK, on_block, begin=CODE, end=CODE + len(code))
        uc.reg_write(A.UC_ARM64_REG_SP, STACK + 0x10000)
        uc.reg_write(A.UC_ARM64_REG_X0, CTX)
        uc.reg_write(A.UC_ARM64_REG_X30, EXIT)
        uc.emu_start(CODE + off, EXIT)
        results[name] = (count[0], uc.reg_read(A.UC_ARM64_REG_X0) & 0xFFFFFFFF)
    return results
