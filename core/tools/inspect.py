"""Inspection commands: ``bpfx asm``, ``bpfx disasm`` and ``bpfx cfg``."""

from __future__ import annotations

import os

from ..fileio import read_input, write_atomic
from ..front.asm import assemble, disassemble
from ..front.cfg import build_cfg
from ..front.isa import encode
from ..front.loader import load


def cmd_asm(args) -> int:
    text = read_input(args.file, what="assembly", text=True)
    insns = assemble(text, file=args.file)
    out = args.output or os.path.splitext(args.file)[0] + ".bin"
    write_atomic(out, encode(insns))
    return 0


def _load(args, validate: bool = True):
    from ..execute.runner import _externs

    return load(args.file, validate=validate, prog_type=args.prog_type, externs=_externs(args), btf=args.btf)


def _object_options(p) -> None:
    p.add_argument("--prog-type", help="program type for every program (any executable section then loads)")
    p.add_argument("--extern", action="append", metavar="NAME=VALUE", help="a __kconfig/__ksym extern's value")
    p.add_argument("--btf", metavar="FILE", help="target BTF for CO-RE relocations")


def cmd_disasm(args) -> int:
    obj = _load(args, validate=False)
    progs = [obj.program(args.section)] if args.section else obj.programs
    for prog in progs:
        if len(progs) > 1:
            print(f"{prog.section} ({prog.name}):")
        if prog.type_reason:
            print(f"# {prog.type_reason}")
        print(disassemble(prog.insns, prog.lines), end="")
    return 0


def cmd_cfg(args) -> int:
    obj = _load(args)
    prog = obj.program(args.section)
    cfg = build_cfg(prog)
    if args.format == "dot":
        print(cfg.to_dot(), end="")
        return 0
    for b in cfg.blocks:
        print(f"block {b.index} [{b.start}, {b.end}) fn {b.function} -> {', '.join(map(str, b.succs)) or 'exit'}")
    for src, dst in cfg.back_edges:
        print(f"back edge {src} -> {dst}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("asm", help="assemble BPF assembly to raw instructions (.bin)")
    p.add_argument("file")
    p.add_argument("-o", "--output", help="output file (default: FILE with .bin)")
    p.set_defaults(func=cmd_asm)
    d = sub.add_parser("disasm", help="disassemble a BPF object, assembly or raw file")
    d.add_argument("file")
    d.add_argument("--section", "-s")
    _object_options(d)
    d.set_defaults(func=cmd_disasm)
    c = sub.add_parser("cfg", help="print a program's control-flow graph",
                       description="Basic blocks, edges and loops (back edges) of a program; --format dot for "
                                   "Graphviz.")
    c.add_argument("file")
    c.add_argument("--section", "-s")
    c.add_argument("--format", choices=("text", "dot"), default="text")
    _object_options(c)
    c.set_defaults(func=cmd_cfg)
