"""The nfp disassembler: one line of text per 64-bit word, and the parser that reads those lines back.

``parse(format_word(w)) == w`` for every word the encoders in encode.py produce (tested), so listings are exact.
Operands print as ``a5``/``b5`` (GPR of bank A/B), ``ab5`` (both banks, destinations), ``$x3`` (transfer
register), ``lm1[2]`` (local memory through ActLMAddr1, word offset 2), ``#0x12`` (immediate), ``--`` (none).
"""

from __future__ import annotations

import re

from . import encode as E

RELOC_NAMES = ("", "BR_REL", "GO_OUT", "GO_ABORT", "CALL_PUSH", "CALL_POP", "NEXT_PKT", "BR_HELPER", "IMMED_REL")


def fmt_op(op) -> str:
    if op is None:
        return "--"
    kind = op[0]
    if kind in ("a", "b"):
        return f"{kind}{op[1]}"
    if kind == "both":
        return f"ab{op[1]}"
    if kind == "x":
        return f"$x{op[1]}"
    if kind == "lm":
        return f"lm{op[1]}[{op[2]}]"
    if kind == "i":
        return f"#{op[1]:#x}"
    return f"?{op[1]:#x}"


def parse_op(text: str):
    text = text.strip()
    if text == "--":
        return None
    if m := re.fullmatch(r"(ab|a|b)(\d+)", text):
        return ("both" if m[1] == "ab" else m[1], int(m[2]))
    if m := re.fullmatch(r"\$x(\d+)", text):
        return ("x", int(m[1]))
    if m := re.fullmatch(r"lm(\d)\[(\d+)\]", text):
        return ("lm", int(m[1]), int(m[2]))
    if m := re.fullmatch(r"#(0x[0-9a-f]+|\d+)", text):
        return ("i", int(m[1], 0))
    raise ValueError(f"bad operand {text!r}")


def _dst(f, restricted: bool):
    bank = E.dst_bank(f)
    if restricted:
        return E.re_operand(f["dst"], "a", 0, f.get("dst_lmextn", 0), True, bank)
    return E.ur_operand(f["dst"], "a", f.get("dst_lmextn", 0), True, bank)


def format_word(word: int) -> str:
    """Text of one instruction word (ECC and relocation bits are not part of the text)."""
    dec = E.unpack(word)
    if dec is None:
        return f".word {word & E.OP_MASK:#013x}"
    cls, f = dec
    if word & E.OP_MASK == E.NOP:
        return "nop"
    if cls == "alu":
        left, right = E.sources(f, False)
        op = E.ALU_NAMES.get(f["op"], f"op{f['op']:#x}")
        return f"alu[{fmt_op(_dst(f, False))}, {fmt_op(left)}, {op}, {fmt_op(right)}]"
    if cls == "shf":
        left, right = E.sources(f, True)
        return (f"shf[{fmt_op(_dst(f, True))}, {fmt_op(left)}, {E.SHF_NAMES.get(f['op'], f['op'])}, "
                f"{fmt_op(right)}, {E.SHF_SC_NAMES[f['sc']]}, {f['shift']}]")
    if cls == "ld_field":
        left, right = E.sources(f, True)
        dst, src = left, right
        zero = ", zero" if f["zero"] else ""
        return (f"ld_field[{fmt_op(dst)}, {f['bytemask']:04b}, {fmt_op(src)}, {E.SHF_SC_NAMES[f['sc']]}, "
                f"{f['shift']}{zero}]")
    if cls == "immed":
        dst, value = E.immed_fields(f)
        width = {v: k for k, v in E.IMMED_WIDTH.items()}.get(f["width"], str(f["width"]))
        inv = ", inv" if f["inv"] else ""
        return f"immed[{fmt_op(dst)}, {value:#x}, {width}, {f['shift']}{inv}]"
    if cls == "br":
        addr = f["addr"] | f["addr_hi"] << 13
        name = E.BR_NAMES.get(f["cond"], f"bcond{f['cond']}")
        return f"{name}[{addr}], defer {f['defer']}"
    if cls == "br_bset":
        a = E.re_operand(f["a"], "a", 0, f["src_lmextn"])
        b = E.re_operand(f["b"], "b", 0, f["src_lmextn"])
        src, bit = (b, a) if a is not None and a[0] == "i" else (a, b)
        addr = f["addr"] | f["addr_hi"] << 13
        return f"br_b{'set' if f['set'] else 'clr'}[{fmt_op(src)}, {bit[1] - 1}, {addr}], defer {f['defer']}"
    if cls == "br_alu":
        a = E.ur_operand(f["a"], "a", f["src_lmextn"])
        b = E.ur_operand(f["b"], "b", f["src_lmextn"])
        src = b if a == ("i", 0) and b != ("i", 0) else a
        return f"rtn[{fmt_op(src)}], defer {f['defer']}"
    if cls == "mul":
        step = E.MUL_STEP_NAMES.get(f["step"], str(f["step"]))
        typ = E.MUL_TYPE_NAMES[f["type"]]
        if step in ("last", "last2"):
            return f"mul[{typ}, {step}, {fmt_op(_dst({**f, 'dst': f['a']}, False))}]"
        left, right = E.sources(f, False)
        return f"mul[{typ}, {step}, {fmt_op(left)}, {fmt_op(right)}]"
    if cls == "local_csr":
        csr = f["addr"] << 2
        name = E.CSR_NAMES.get(csr, f"{csr:#x}")
        if not f["write"]:
            return f"local_csr_rd[{name}]"
        a = E.ur_operand(f["a"], "a", f["src_lmextn"])
        b = E.ur_operand(f["b"], "b", f["src_lmextn"])
        src = b if a == ("i", 0) and b != ("i", 0) else a
        return f"local_csr_wr[{name}, {fmt_op(src)}]"
    if cls == "cmd":
        name = E.CMD_NAMES.get((f["token"], f["tgt_cmd"]))
        if name is None:
            return f"cmd[{f['token']}:{f['tgt_cmd']:#x}, ...]"
        left, right = E.sources({**f, "swap": 0}, True)
        mode = E.CMD_MODE_NAMES.get(f["mode"], str(f["mode"]))
        extra = (", indirect" if f["indir"] else "") + (f", ctx {f['ctx']}" if f["ctx"] else "")
        return (f"cmd[{name}, $x{f['xfer']}, {fmt_op(left)}, {fmt_op(right)}, {f['count']}, {mode}]"
                f"{extra}")
    return f".word {word & E.OP_MASK:#013x}"


_LINE = re.compile(r"([a-z_0-9]+)\[(.*)\](.*)")


def parse(text: str) -> int:
    """The word a line of ``format_word`` text stands for (without ECC)."""
    text = text.strip()
    if text == "nop":
        return E.NOP
    m = _LINE.fullmatch(text)
    if m is None:
        raise ValueError(f"cannot parse {text!r}")
    name, args, rest = m[1], [a.strip() for a in m[2].split(",")], m[3]
    opts = [o.strip() for o in rest.split(",") if o.strip()]
    defer = next((int(o.split()[1]) for o in opts if o.startswith("defer")), 0)
    if name == "alu":
        op = args[2]
        return E.alu(parse_op(args[0]), parse_op(args[1]), op, parse_op(args[3]))
    if name == "shf":
        return E.shf(parse_op(args[0]), parse_op(args[1]), args[2], parse_op(args[3]), args[4], int(args[5]))
    if name == "ld_field":
        return E.ld_field(parse_op(args[0]), int(args[1], 2), parse_op(args[2]), args[3], int(args[4]),
                          zero=len(args) > 5)
    if name == "immed":
        return E.immed(parse_op(args[0]), int(args[1], 0), width=args[2], shift=int(args[3]), inv=len(args) > 4)
    if name in E.BR_CONDS:
        return E.br(name, int(args[0]), defer)
    if name in ("br_bset", "br_bclr"):
        return E.br_bset(parse_op(args[0]), int(args[1]), int(args[2]), set_=name == "br_bset", defer=defer)
    if name == "rtn":
        return E.rtn(parse_op(args[0]), defer)
    if name == "mul":
        if args[1] in ("last", "last2"):
            return E.mul(args[0], args[1], parse_op(args[2]))
        return E.mul(args[0], args[1], parse_op(args[2]), parse_op(args[3]))
    if name in ("local_csr_rd", "local_csr_wr"):
        csrs = {v: k for k, v in E.CSR_NAMES.items()}
        csr = csrs[args[0]] if args[0] in csrs else int(args[0], 0)
        return E.local_csr_rd(csr) if name == "local_csr_rd" else E.local_csr_wr(csr, parse_op(args[1]))
    if name == "cmd":
        ctx = next((int(o.split()[1]) for o in opts if o.startswith("ctx")), 0)
        return E.cmd(args[0], int(args[1][2:]), parse_op(args[2]), parse_op(args[3]), int(args[4]), mode=args[5],
                     ctx=ctx, indir="indirect" in opts)
    raise ValueError(f"unknown instruction {name!r}")


def disassemble(code: bytes, address: int = 0) -> list[tuple[int, int, str]]:
    """(address, 8, text) for each little-endian 64-bit word; a word whose ECC is wrong is flagged."""
    rows = []
    for off in range(0, len(code) - len(code) % 8, 8):
        word = int.from_bytes(code[off:off + 8], "little")
        text = format_word(word)
        relo = word >> E.RELO_SHIFT
        if relo:
            text += f"    ; {RELOC_NAMES[relo] if relo < len(RELOC_NAMES) else relo}"
        if word & ~E.OP_MASK & ((1 << E.RELO_SHIFT) - 1) and not E.ecc_ok(word):
            text += "    ; bad ECC"
        rows.append((address + off, 8, text))
    return rows
