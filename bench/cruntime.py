"""Speed and code size of the exported C runtime (bpfx_vm), the device half of the IR handoff.

- speed: BPF instructions per second on the host (gcc -O2), on three mem programs normalised by the bpf target
  (a byte-sum loop over a 1500-byte packet, an ALU hash loop, a stack load/store loop); with ``--ubpf DIR``
  (a checkout of ubpf, built here by hand from DIR/vm) the same programs on ubpf's interpreter beside it;
- size: ``size`` of the runtime object for aarch64 and riscv64 (and the host), at -O2 and -Os.

    python bench/cruntime.py [--seconds 1] [--ubpf /path/to/ubpf]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import bpfx
from bpfx.front.asm import assemble
from bpfx.tools.cruntime import export_runtime

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = {
    "bytesum (1500-byte packet)": ("mov %r0, 0\nmov %r3, %r1\nadd %r2, %r1\nldxb %r4, [%r3]\nadd %r0, %r4\n"
                                   "add %r3, 1\njlt %r3, %r2, -4\nexit\n", 1500),
    "alu hash (100k rounds)": ("mov %r0, 0x811c9dc5\nmov %r3, 100000\nxor %r0, %r3\nmul %r0, 0x1000193\n"
                               "mov %r4, %r0\nrsh %r4, 13\nxor %r0, %r4\nsub %r3, 1\njne %r3, 0, -7\nexit\n", 0),
    "stack ld/st (100k rounds)": ("mov %r0, 0\nmov %r3, 100000\nstxdw [%r10-8], %r3\nldxdw %r4, [%r10-8]\n"
                                  "add %r0, %r4\nstxw [%r10-16], %r0\nldxw %r5, [%r10-16]\nxor %r0, %r5\n"
                                  "sub %r3, 1\njne %r3, 0, -8\nexit\n", 0),
}
CROSS = {"aarch64": "aarch64-linux-gnu-", "riscv64": "riscv64-linux-gnu-", "host": ""}
FREESTANDING = ["-std=c99", "-ffreestanding", "-nostdlib", "-Wall", "-Werror"]


def run(cmd: list[str], **kw) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def code_for(text: str) -> bytes:
    prog = bpfx.Program(name="bench", section="bench", prog_type="mem", insns=assemble(text), file="<bench>")
    return bpfx.compile(prog, "bpf").code


def build_ubpf(src: str, out: str) -> str:
    vm = os.path.join(src, "vm")
    with open(os.path.join(vm, "ubpf_config.h.inc")) as f:  # what cmake would make of it, every option off
        config = re.sub(r"#cmakedefine\s+(\w+).*", r"/* #undef \1 */", f.read())
    with open(os.path.join(out, "ubpf_config.h"), "w") as f:
        f.write(re.sub(r"@\w+@", "0", config))
    sources = [os.path.join(vm, n) for n in ("ubpf_vm.c", "ubpf_safe.c", "ubpf_instruction_valid.c", "ubpf_jit.c",
                                             "ubpf_jit_support.c", "ubpf_jit_x86_64.c", "ubpf_jit_arm64.c")]
    binary = os.path.join(out, "ubpf_bench")
    run(["gcc", "-O2", "-DUBPF", f"-I{out}", f"-I{vm}", f"-I{os.path.join(vm, 'inc')}",
         os.path.join(HERE, "vm_bench.c"), *sources, "-o", binary])
    return binary


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--ubpf", help="a ubpf checkout to build and compare against (by hand; not fetched here)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        export_runtime(tmp)
        src = os.path.join(tmp, "bpfx_vm.c")
        print("code size of bpfx_vm.o (text bytes, `size`):")
        for arch, prefix in CROSS.items():
            if shutil.which(prefix + "gcc") is None:
                print(f"  {arch}: {prefix}gcc not installed")
                continue
            sizes = []
            for opt in ("-O2", "-Os"):
                obj = os.path.join(tmp, f"vm-{arch}{opt}.o")
                extra = ["-mgeneral-regs-only"] if arch == "aarch64" else []
                run([prefix + "gcc", *FREESTANDING, *extra, opt, "-c", src, "-o", obj])
                text = run([prefix + "size", obj]).splitlines()[1].split()[0]
                sizes.append(f"{opt} {int(text)} B")
            print(f"  {arch}: " + ", ".join(sizes))
        bench = os.path.join(tmp, "vm_bench")
        run(["gcc", "-O2", "-std=c99", f"-I{tmp}", os.path.join(HERE, "vm_bench.c"), src, "-o", bench])
        ubpf = build_ubpf(args.ubpf, tmp) if args.ubpf else None
        print(f"speed on the host (gcc -O2, {args.seconds:g} s per program), BPF insns/s:")
        for name, (text, mem) in PROGRAMS.items():
            path = os.path.join(tmp, "prog.bin")
            with open(path, "wb") as f:
                f.write(code_for(text))
            ours = dict(kv.split("=") for kv in run([bench, path, str(mem), str(args.seconds)]).split())
            rate = int(ours["insns"]) / float(ours["seconds"])
            line = f"  {name:28} bpfx_vm {rate / 1e6:7.1f} M/s"
            if ubpf:
                theirs = dict(kv.split("=") for kv in run([ubpf, path, str(mem), str(args.seconds)]).split())
                assert theirs["r0"] == ours["r0"], (name, theirs["r0"], ours["r0"])
                per_run = int(ours["insns"]) / int(ours["runs"])
                their_rate = per_run * int(theirs["runs"]) / float(theirs["seconds"])
                line += f"   ubpf {their_rate / 1e6:7.1f} M/s   ratio {their_rate / rate:4.2f}x"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
