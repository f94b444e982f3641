"""Assembler and disassembler for the ubpf / bpf_conformance assembly syntax.

Every mnemonic is derived from the tables in isa.py: ALU_OPS (``add``,
``add32``, ``sdiv``, ``movsx832``...), JMP_OPS (``jeq``, ``jeq32``...),
SIZES (``ldxw``, ``stxdw``, ``ldxsb``...), ATOMIC_OPS (``lock fetch add32``).
"""

from __future__ import annotations

import re

from ..errors import ValidationError
from .isa import (ALU_OPS, ATOMIC_FETCH, ATOMIC_OPS, COND_JUMPS, JMP_OPS, MODES, OPCODES, SIZES, CallKind, Cls,
                  Insn, Kind, ld_imm64, s32)

_REG = re.compile(r"^%r(\d+)$")
_MEM = re.compile(r"^\[\s*%r(\d+)\s*(?:([+-])\s*(\w+))?\s*\]$")
_MOVSX = re.compile(r"^movsx(8|16|32)(64|32)$")
_SIZE_NAMES = {v: k for k, v in SIZES.items()}
_ALU_NAMES = {v: k for k, v in ALU_OPS.items()}
_JMP_NAMES = {v: k for k, v in JMP_OPS.items()}
_ATOMIC_NAMES = {v: k for k, v in ATOMIC_OPS.items()}


class _Line:
    def __init__(self, lineno: int, text: str, file: str):
        self.lineno, self.text, self.file = lineno, text, file

    def error(self, message: str) -> ValidationError:
        return ValidationError(f"line {self.lineno}: {message} in {self.text.strip()!r}", file=self.file)


def _int(text: str, line: _Line) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise line.error(f"bad number {text!r}") from None


def _imm32(text: str, line: _Line) -> int:
    value = _int(text, line)
    if not -(1 << 31) <= value < (1 << 32):
        raise line.error(f"immediate {text} does not fit in 32 bits")
    return s32(value)


def _reg(text: str, line: _Line) -> int:
    m = _REG.match(text.strip())
    if not m or int(m.group(1)) > 10:
        raise line.error(f"bad register {text.strip()!r}")
    return int(m.group(1))


def _mem(text: str, line: _Line) -> tuple[int, int]:
    m = _MEM.match(text.strip())
    if not m:
        raise line.error(f"bad memory operand {text.strip()!r}")
    reg = int(m.group(1))
    if reg > 10:
        raise line.error(f"bad register r{reg}")
    off = _int(m.group(3), line) if m.group(3) else 0
    off = -off if m.group(2) == "-" else off
    if not -0x8000 <= off < 0x8000:
        raise line.error(f"offset {off} does not fit in 16 bits")
    return reg, off


def _split(text: str) -> tuple[str, list[str]]:
    parts = text.strip().split(None, 1)
    mnemonic = parts[0].lower()
    operands = [p.strip() for p in parts[1].split(",")] if len(parts) > 1 else []
    return mnemonic, operands


def _class_suffix(name: str) -> tuple[str, bool]:
    """'add32' -> ('add', False); 'add' / 'add64' -> ('add', True)."""
    if name.endswith("32"):
        return name[:-2], False
    if name.endswith("64"):
        return name[:-2], True
    return name, True


def assemble(text: str, *, file: str = "<asm>") -> list[Insn]:
    """Assemble ``text``; LD_IMM64 yields two slots. Labels name slot indices."""
    lines: list[_Line] = []
    labels: dict[str, int] = {}
    slot = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        code = re.split(r"[#;]", raw, maxsplit=1)[0].strip()
        while code and ":" in code.split()[0] and not code.startswith("["):
            label, _, code = code.partition(":")
            labels[label.strip()] = slot
            code = code.strip()
        if not code:
            continue
        line = _Line(lineno, code, file)
        lines.append(line)
        slot += 2 if _split(code)[0] == "lddw" else 1
    out: list[Insn] = []
    pending: list[tuple[int, str, _Line, bool]] = []  # (index, target, line, in_imm)
    for line in lines:
        mnemonic, ops = _split(line.text)
        if mnemonic == "exit" and "exit" not in labels:
            labels["exit"] = len(out)
        for insn, target, in_imm in _one(mnemonic, ops, line):
            if target is not None:
                pending.append((len(out), target, line, in_imm))
            out.append(insn)
    for index, target, line, in_imm in pending:
        if not target:
            raise line.error("missing jump target")
        if target[0] in "+-":
            rel = _int(target, line)
        elif target in labels:
            rel = labels[target] - index - 1
        else:
            raise line.error(f"unknown label {target!r}")
        if in_imm:
            if not -0x8000_0000 <= rel < 0x8000_0000:
                raise line.error(f"jump offset {rel} does not fit in 32 bits")
            out[index] = out[index]._replace(imm=rel)
        else:
            if not -0x8000 <= rel < 0x8000:
                raise line.error(f"jump offset {rel} does not fit in 16 bits")
            out[index] = out[index]._replace(off=rel)
    return out


def _expect(ops: list[str], n: int, line: _Line) -> None:
    if len(ops) != n:
        raise line.error(f"expected {n} operand{'s' if n != 1 else ''}, got {len(ops)}")


def _one(mnemonic: str, ops: list[str], line: _Line):
    """-> list of (Insn, jump target or None, target goes in imm)."""
    if mnemonic == "exit":
        _expect(ops, 0, line)
        return [(Insn(Cls.JMP | JMP_OPS["exit"]), None, False)]
    if mnemonic == "call":
        words = ops[0].split() if ops else []
        if len(words) == 2 and words[0] == "local":
            return [(Insn(Cls.JMP | JMP_OPS["call"], 0, CallKind.LOCAL, 0, 0), words[1], True)]
        if len(words) == 2 and words[0] == "runtime":
            return [(Insn(Cls.JMP | JMP_OPS["call"], 0, CallKind.KFUNC, 0, _imm32(words[1], line)), None, False)]
        _expect(ops, 1, line)
        if ops[0].startswith("%"):
            return [(Insn(Cls.JMP | 0x08 | JMP_OPS["call"], _reg(ops[0], line)), None, False)]
        return [(Insn(Cls.JMP | JMP_OPS["call"], 0, 0, 0, _imm32(ops[0], line)), None, False)]
    if mnemonic in ("ja", "ja32", "gotol"):
        _expect(ops, 1, line)
        if mnemonic == "ja":
            return [(Insn(Cls.JMP | JMP_OPS["ja"]), ops[0], False)]
        return [(Insn(Cls.JMP32 | JMP_OPS["ja"]), ops[0], True)]
    if mnemonic == "lddw":
        _expect(ops, 2, line)
        value = _int(ops[1], line)
        if not -(1 << 63) <= value < (1 << 64):
            raise line.error(f"immediate {ops[1]} does not fit in 64 bits")
        return [(i, None, False) for i in ld_imm64(_reg(ops[0], line), value)]
    if mnemonic == "lock":
        return [(_atomic(ops, line), None, False)]
    base, wide = _class_suffix(mnemonic)
    if base in COND_JUMPS:
        _expect(ops, 3, line)
        cls = Cls.JMP if wide else Cls.JMP32
        dst = _reg(ops[0], line)
        if ops[1].startswith("%"):
            return [(Insn(cls | 0x08 | JMP_OPS[base], dst, _reg(ops[1], line)), ops[2], False)]
        return [(Insn(cls | JMP_OPS[base], dst, 0, 0, _imm32(ops[1], line)), ops[2], False)]
    for prefix, cls, mode in (("ldxs", Cls.LDX, "memsx"), ("ldx", Cls.LDX, "mem"), ("stx", Cls.STX, "mem"),
                              ("st", Cls.ST, "mem")):
        if mnemonic.startswith(prefix) and mnemonic[len(prefix):] in SIZES:
            size = SIZES[mnemonic[len(prefix):]]
            opcode = cls | MODES[mode] | size
            if OPCODES[opcode] is None:
                break
            _expect(ops, 2, line)
            if cls == Cls.LDX:
                src, off = _mem(ops[1], line)
                return [(Insn(opcode, _reg(ops[0], line), src, off, 0), None, False)]
            dst, off = _mem(ops[0], line)
            if cls == Cls.STX:
                return [(Insn(opcode, dst, _reg(ops[1], line), off, 0), None, False)]
            return [(Insn(opcode, dst, 0, off, _imm32(ops[1], line)), None, False)]
    m = re.match(r"^ld(abs|ind)(b|h|w|dw)$", mnemonic)
    if m:  # legacy packet loads (ubpf syntax): ldabsh IMM, ldindw %rS, IMM
        opcode = Cls.LD | MODES[m.group(1)] | SIZES[m.group(2)]
        if m.group(1) == "abs":
            _expect(ops, 1, line)
            return [(Insn(opcode, 0, 0, 0, _imm32(ops[0], line)), None, False)]
        _expect(ops, 2, line)
        return [(Insn(opcode, 0, _reg(ops[0], line), 0, _imm32(ops[1], line)), None, False)]
    m = re.match(r"^(be|le|bswap|swap)(16|32|64)$", mnemonic)
    if m:
        _expect(ops, 1, line)
        kind, width = m.group(1), int(m.group(2))
        opcode = {"le": Cls.ALU, "be": Cls.ALU | 0x08}.get(kind, Cls.ALU64) | ALU_OPS["end"]
        return [(Insn(opcode, _reg(ops[0], line), 0, 0, width), None, False)]
    off = 0
    m = _MOVSX.match(mnemonic)
    if m:
        base, wide, off = "mov", m.group(2) == "64", int(m.group(1))
    elif base in ("sdiv", "smod"):
        base, off = base[1:], 1
    if base not in ALU_OPS or base == "end":
        raise line.error(f"unknown mnemonic {mnemonic!r}")
    cls = Cls.ALU64 if wide else Cls.ALU
    if base == "neg":
        _expect(ops, 1, line)
        return [(Insn(cls | ALU_OPS["neg"], _reg(ops[0], line)), None, False)]
    _expect(ops, 2, line)
    dst = _reg(ops[0], line)
    if ops[1].startswith("%"):
        return [(Insn(cls | 0x08 | ALU_OPS[base], dst, _reg(ops[1], line), off, 0), None, False)]
    if off and base == "mov":
        raise line.error("movsx takes a register operand")
    return [(Insn(cls | ALU_OPS[base], dst, 0, off, _imm32(ops[1], line)), None, False)]


def _atomic(ops: list[str], line: _Line) -> Insn:
    words = " ".join(ops[:1]).split() if ops else []
    # "lock [fetch] add32 [%r10-8]" was split at the first space: rebuild
    text = line.text.split(None, 1)[1] if len(line.text.split(None, 1)) > 1 else ""
    head, _, rest = text.partition("[")
    words = head.split()
    fetch = bool(words) and words[0] == "fetch"
    if fetch:
        words = words[1:]
    if len(words) != 1:
        raise line.error("bad atomic instruction")
    base, wide = _class_suffix(words[0])
    if base not in ATOMIC_OPS:
        raise line.error(f"unknown atomic operation {words[0]!r}")
    mem, _, src = ("[" + rest).partition(",")
    dst, off = _mem(mem, line)
    imm = ATOMIC_OPS[base] | (ATOMIC_FETCH if fetch else 0)
    return Insn(Cls.STX | MODES["atomic"] | SIZES["dw" if wide else "w"], dst, _reg(src, line), off, imm)


# -- disassembler ------------------------------------------------------------------------------------------------

def _rel(n: int) -> str:
    return f"+{n}" if n >= 0 else str(n)


def _mem_text(reg: int, off: int) -> str:
    return f"[%r{reg}{_rel(off)}]" if off else f"[%r{reg}]"


def format_insn(insn: Insn, nxt: Insn | None = None) -> str:
    """One instruction in assembler syntax (an lddw needs its second slot ``nxt``)."""
    info = OPCODES[insn.opcode]
    if info is None:
        return f".insn 0x{insn.opcode:02x}, {insn.dst}, {insn.src}, {insn.off}, {insn.imm}"
    kind = info.kind
    suffix32 = "" if info.cls in (Cls.ALU64, Cls.JMP) or info.is64 else "32"
    if kind == Kind.ALU:
        op = info.op
        if op in ("div", "mod") and insn.off == 1:
            op = "s" + op
        if op == "neg":
            return f"neg{suffix32} %r{insn.dst}"
        if op == "mov" and insn.off:
            return f"movsx{insn.off}{'64' if info.is64 else '32'} %r{insn.dst}, %r{insn.src}"
        src = f"%r{insn.src}" if info.src_reg else f"{insn.imm}"
        return f"{op}{suffix32} %r{insn.dst}, {src}"
    if kind == Kind.ENDIAN:
        name = "bswap" if info.cls == Cls.ALU64 else ("be" if info.src_reg else "le")
        return f"{name}{insn.imm} %r{insn.dst}"
    if kind == Kind.JA:
        return f"ja32 {_rel(insn.imm)}" if info.cls == Cls.JMP32 else f"ja {_rel(insn.off)}"
    if kind == Kind.JCOND:
        src = f"%r{insn.src}" if info.src_reg else f"{insn.imm}"
        return f"{info.op}{'' if info.cls == Cls.JMP else '32'} %r{insn.dst}, {src}, {_rel(insn.off)}"
    if kind == Kind.CALL:
        if insn.src == CallKind.LOCAL:
            return f"call local {_rel(insn.imm)}"
        if insn.src == CallKind.KFUNC:
            return f"call runtime {insn.imm}"
        return f"call {insn.imm}"
    if kind == Kind.CALLX:
        return f"call %r{insn.dst}"
    if kind == Kind.EXIT:
        return "exit"
    size = _SIZE_NAMES[insn.opcode & 0x18]
    if kind == Kind.LDX:
        return f"ldx{size} %r{insn.dst}, {_mem_text(insn.src, insn.off)}"
    if kind == Kind.LDXSX:
        return f"ldxs{size} %r{insn.dst}, {_mem_text(insn.src, insn.off)}"
    if kind == Kind.ST:
        return f"st{size} {_mem_text(insn.dst, insn.off)}, {insn.imm}"
    if kind == Kind.STX:
        return f"stx{size} {_mem_text(insn.dst, insn.off)}, %r{insn.src}"
    if kind == Kind.ATOMIC:
        name = _ATOMIC_NAMES.get(insn.imm) or _ATOMIC_NAMES.get(insn.imm & ~ATOMIC_FETCH, "?")
        fetch = "fetch " if insn.imm & ATOMIC_FETCH and name not in ("xchg", "cmpxchg") else ""
        return f"lock {fetch}{name}{'' if info.is64 else '32'} {_mem_text(insn.dst, insn.off)}, %r{insn.src}"
    if kind == Kind.LD_IMM64:
        hi = nxt.imm if nxt is not None else 0
        value = (insn.imm & 0xFFFFFFFF) | ((hi & 0xFFFFFFFF) << 32)
        note = "" if insn.src == 0 else f"  # src={insn.src}"
        return f"lddw %r{insn.dst}, 0x{value:x}{note}"
    if kind == Kind.LD_ABS:
        return f"ldabs{size} {insn.imm}"
    if kind == Kind.LD_IND:
        return f"ldind{size} %r{insn.src}, {insn.imm}"
    return f".insn 0x{insn.opcode:02x}"


def disassemble(insns: list[Insn], source: list[tuple[int, str]] | None = None) -> str:
    """Assembler text for ``insns``; ``source`` (slot, C line) pairs, from .BTF.ext line info, become ``#``
    comments before the instructions they produced (the text still assembles)."""
    lines = []
    notes = dict(source or ())
    i = 0
    while i < len(insns):
        insn = insns[i]
        if i in notes:
            lines.append(f"# {notes[i]}")
        if insn.opcode == 0x18 and i + 1 < len(insns):
            lines.append(format_insn(insn, insns[i + 1]))
            i += 2
        else:
            lines.append(format_insn(insn))
            i += 1
    return "\n".join(lines) + ("\n" if lines else "")


# -- commands ----------------------------------------------------------------------------------------------------
