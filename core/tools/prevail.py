"""PREVAIL's YAML test suite (github.com/vbpf/ebpf-verifier ``test-data/*.yaml``) against bpfx's verifier.

Each case gives a pre-state, code in PREVAIL's assembly syntax, and the messages PREVAIL reports (none: the code
is accepted). This module translates the code to BPF instructions, builds the pre-state as the verifier's
initial state, and compares accept/reject. ``python -m bpfx.tools.prevail DIR`` prints agreement and every
disagreement; the suite is not vendored (set ``BPFX_PREVAIL_DIR`` for the test).
"""

from __future__ import annotations

import glob
import os
import re
import sys
from dataclasses import dataclass

from ..errors import BpfxError
from ..front import scalar as S
from ..front.isa import (ALU_OPS, ATOMIC_FETCH, ATOMIC_OPS, JMP_OPS, MODES, SIZES, SRC_K, SRC_X, CallKind, Cls, Insn,
                         Pseudo, ld_imm64, s32)
from ..front.program import MapDef, Program

PROG_TYPE = "prevail_test"  # PREVAIL's test context: 64 bytes, data at 0, data_end at 4 (no data_meta)

_REG = r"([rw])(\d+)"
_IMM = r"([-+]?(?:0x[0-9a-fA-F]+|\d+))"
_ALU = {"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod", "|": "or", "&": "and", "<<": "lsh", ">>": "rsh",
        "s>>": "arsh", "^": "xor", "s/": "sdiv", "s%": "smod"}
_CMP = {"==": "jeq", "!=": "jne", ">": "jgt", ">=": "jge", "<": "jlt", "<=": "jle", "s>": "jsgt", "s>=": "jsge",
        "s<": "jslt", "s<=": "jsle", "&==": "jset"}
_ATOMIC = {"+": "add", "|": "or", "&": "and", "^": "xor", "x": "xchg", "cx": "cmpxchg"}


_SINK = Insn(Cls.JMP | JMP_OPS["ja"], 0, 0, -1)


def _is_jcond(insn: Insn) -> bool:
    return insn.opcode & 0x07 in (Cls.JMP, Cls.JMP32) and insn.opcode & 0xF0 not in (0x00, 0x80, 0x90, 0xE0)


class Untranslatable(Exception):
    pass


def _num(text: str) -> int:
    return int(text, 0)


def translate(blocks: list[tuple[str, str]]) -> list[Insn]:
    """PREVAIL assembly (label, block text) pairs -> BPF instruction slots (labels resolved)."""
    lines: list[tuple[str | None, str]] = []
    for label, text in blocks:
        first = True
        for raw in text.splitlines():
            line = raw.split(";")[0].strip()
            if not line:
                continue
            lines.append((label if first else None, line))
            first = False
        if first:
            lines.append((label, "__nop"))
    # two passes: sizes (lddw is two slots), then encode with label slots known
    slots, at = {}, 0
    for label, line in lines:
        if label is not None:
            slots[label] = at
        at += 2 if re.search(r"\bll$|map_fd|map_val", line) else (2 if line.startswith("assume") else 1)
    out: list[Insn] = []
    for _label, line in lines:
        out += _one(line, len(out), slots)
    return out


def _jump_off(target: str, pc: int, slots: dict) -> int:
    if target not in slots:
        raise Untranslatable(f"unknown label {target}")
    return slots[target] - (pc + 1)


def _one(line: str, pc: int, slots: dict) -> list[Insn]:  # noqa: C901 - one grammar, one function
    if line == "__nop":
        return [Insn(Cls.JMP | JMP_OPS["ja"], 0, 0, 0, 0)]
    if line == "exit":
        return [Insn(Cls.JMP | JMP_OPS["exit"])]
    m = re.fullmatch(r"goto\s+(<[\w]+>)", line)
    if m:
        return [Insn(Cls.JMP | JMP_OPS["ja"], 0, 0, _jump_off(m.group(1), pc, slots))]
    m = re.fullmatch(r"call\s+(<[\w]+>)", line)
    if m:
        return [Insn(Cls.JMP | JMP_OPS["call"], 0, CallKind.LOCAL, 0, _jump_off(m.group(1), pc, slots))]
    m = re.fullmatch(r"call\s+(\d+)", line)
    if m:
        return [Insn(Cls.JMP | JMP_OPS["call"], 0, CallKind.HELPER, 0, int(m.group(1)))]
    m = re.fullmatch(r"callx\s+r(\d+)", line)
    if m:
        return [Insn(Cls.JMP | SRC_X | JMP_OPS["call"], int(m.group(1)))]
    m = re.fullmatch(rf"(if|assume)\s+{_REG}\s+(s?[<>]=?|==|!=|&==)\s+(?:{_REG}|{_IMM})(?:\s+goto\s+(<[\w]+>))?", line)
    if m:
        kind, w, dst, cmp, sw, src, imm, target = m.groups()
        cls = Cls.JMP32 if w == "w" else Cls.JMP
        op = JMP_OPS[_CMP[cmp]]
        if kind == "assume":  # holds from here on: if cond skip the sink; the sink loops forever (no exit needed)
            jump = Insn(cls | (SRC_X if src else SRC_K) | op, int(dst), int(src or 0), 1, 0 if src else s32(
                _num(imm)))
            return [jump, Insn(Cls.JMP | JMP_OPS["ja"], 0, 0, -1)]
        if target is None:
            raise Untranslatable(line)
        off = _jump_off(target, pc, slots)
        return [Insn(cls | (SRC_X if src else SRC_K) | op, int(dst), int(src or 0), off, 0 if src else s32(_num(imm)))]
    m = re.fullmatch(rf"{_REG}\s*=\s*map_fd\s+(\d+)", line)
    if m:  # map N is the program's map N (PREVAIL's test descriptor: 4-byte keys and values)
        lo, hi = ld_imm64(int(m.group(2)), 0, Pseudo.MAP_FD)
        return [lo._replace(imm=int(m.group(3))), hi]
    m = re.fullmatch(rf"{_REG}\s*=\s*map_val\((\d+)\)\s*\+\s*(\d+)", line)
    if m:
        lo, hi = ld_imm64(int(m.group(2)), 0, Pseudo.MAP_VALUE)
        return [lo._replace(imm=int(m.group(3))), hi._replace(imm=int(m.group(4)))]
    m = re.fullmatch(rf"{_REG}\s*=\s*{_IMM}\s*ll", line)
    if m:
        return list(ld_imm64(int(m.group(2)), _num(m.group(3))))
    m = re.fullmatch(r"lock\s+\*\(u(\d+)\s*\*\)\(r(\d+)\s*([+-])\s*(\d+)\)\s*(cx|x|[+|&^])=\s*r(\d+)(\s+fetch)?", line)
    if m:
        bits, dst, sign, off, op, src, fetch = m.groups()
        imm = ATOMIC_OPS[_ATOMIC[op]] | (ATOMIC_FETCH if fetch else 0)
        size = {32: SIZES["w"], 64: SIZES["dw"]}.get(int(bits))
        if size is None:
            raise Untranslatable(line)
        return [Insn(Cls.STX | MODES["atomic"] | size, int(dst), int(src), int(off) * (-1 if sign == "-" else 1),
                     imm)]
    m = re.fullmatch(rf"{_REG}\s*=\s*\*\(([us])(\d+)\s*\*\)\(r(\d+)\s*([+-])\s*(\d+)\)", line)
    if m:
        _w, dst, sign_kind, bits, src, sign, off = m.groups()
        size = {8: "b", 16: "h", 32: "w", 64: "dw"}[int(bits)]
        mode = MODES["memsx"] if sign_kind == "s" else MODES["mem"]
        return [Insn(Cls.LDX | mode | SIZES[size], int(dst), int(src), int(off) * (-1 if sign == "-" else 1))]
    m = re.fullmatch(rf"\*\(u(\d+)\s*\*\)\(r(\d+)\s*([+-])\s*(\d+)\)\s*=\s*(?:{_REG}|{_IMM})", line)
    if m:
        bits, dst, sign, off, _w, src, imm = m.groups()
        size = SIZES[{8: "b", 16: "h", 32: "w", 64: "dw"}[int(bits)]]
        o = int(off) * (-1 if sign == "-" else 1)
        if src is not None:
            return [Insn(Cls.STX | MODES["mem"] | size, int(dst), int(src), o)]
        return [Insn(Cls.ST | MODES["mem"] | size, int(dst), 0, o, s32(_num(imm)))]
    m = re.fullmatch(rf"{_REG}\s*=\s*(be|le|swap)(\d+)\s+{_REG}", line)
    if m:
        w, dst, kind, bits, _w2, _src = m.groups()
        if kind == "swap":
            return [Insn(Cls.ALU64 | ALU_OPS["end"], int(dst), 0, 0, int(bits))]
        return [Insn(Cls.ALU | ALU_OPS["end"] | (SRC_X if kind == "be" else 0), int(dst), 0, 0, int(bits))]
    m = re.fullmatch(rf"{_REG}\s*=\s*-\s*{_REG}", line)
    if m:
        w, dst = m.group(1), int(m.group(2))
        return [Insn((Cls.ALU if w == "w" else Cls.ALU64) | ALU_OPS["neg"], dst)]
    m = re.fullmatch(rf"{_REG}\s*(s\d+|s>>|s/|s%|<<|>>|[-+*/%|&^])?=\s*(?:{_REG}|{_IMM})", line)
    if m:
        w, dst, op, sw, src, imm = m.groups()
        cls = Cls.ALU if w == "w" else Cls.ALU64
        off = 0
        if op is None:
            name = "mov"
        elif re.fullmatch(r"s\d+", op):  # movsx
            name, off = "mov", int(op[1:])
        else:
            name = _ALU[op]
            if name in ("sdiv", "smod"):
                name, off = name[1:], 1
        if src is not None:
            if name == "mov" and w == "w" and sw == "r" and not off:
                pass  # w0 = r1: a 32-bit move
            return [Insn(cls | SRC_X | ALU_OPS[name], int(dst), int(src), off, 0)]
        if off and name == "mov":
            raise Untranslatable(line)
        value = _num(imm)
        if not -(1 << 31) <= value < (1 << 32):
            raise Untranslatable(f"immediate out of range: {line}")
        return [Insn(cls | SRC_K | ALU_OPS[name], int(dst), 0, off, s32(value))]
    raise Untranslatable(line)


# -- the pre-state -------------------------------------------------------------------------------------------------

def _range(text: str) -> tuple[int, int] | None:
    text = text.strip()
    m = re.fullmatch(r"\[\s*(-?\d+)\s*,\s*(-?\d+)\s*\]", text)
    if m:
        return int(m.group(1)), int(m.group(2))
    if re.fullmatch(r"-?\d+", text):
        return int(text), int(text)
    return None  # relational (e.g. r1.svalue+4): not a constraint this domain keeps


def _scalar(sv, uv) -> S.Scalar:
    s = S.UNKNOWN
    if sv is not None:
        s = S.make(s.tv, s.tm, s.umin, s.umax, max(s.smin, sv[0]), min(s.smax, sv[1])) or s
    if uv is not None:
        s = S.make(s.tv, s.tm, max(s.umin, uv[0] & S.M64), min(s.umax, uv[1] & S.M64), s.smin, s.smax) or s
    return s


def initial_state(pre: list[str], verifier):
    from ..front import verify as V

    regs: dict[int, dict[str, str]] = {}
    stack: dict[tuple[int, int], dict[str, str]] = {}
    glob_: dict[str, str] = {}
    for item in pre:
        name, _, value = item.partition("=")
        m = re.fullmatch(r"r(\d+)\.(\w+)", name)
        if m:
            regs.setdefault(int(m.group(1)), {})[m.group(2)] = value
            continue
        m = re.fullmatch(r"s\[(\d+)(?:\.\.\.(\d+))?\]\.(\w+)", name)
        if m:
            lo = int(m.group(1))
            stack.setdefault((lo, int(m.group(2) or lo)), {})[m.group(3)] = value
            continue
        glob_[name] = value
    pkt = _range(glob_.get("packet_size", "0")) or (0, 0)
    vals = [V.UNINIT_VAL] * V.NREGS
    frame: dict = {}
    for r, fields in regs.items():
        t = fields.get("type")
        sv, uv = _range(fields.get("svalue", "x")), _range(fields.get("uvalue", "x"))
        if t == "number":
            vals[r] = V.scalar_val(_scalar(sv, uv))
        elif t == "ctx":
            off = _range(fields.get("ctx_offset", "0")) or (0, 0)
            vals[r] = V.Val(V.CTX, S.srange(*off))
        elif t == "stack":
            off = _range(fields.get("stack_offset", "512")) or (0, 512)
            vals[r] = V.Val(V.STACK, S.srange(off[0] - 512, off[1] - 512), 0)
            size = _range(fields.get("stack_numeric_size", "0")) or (0, 0)
            if size[0] and off[0] == off[1]:
                for b in range(off[0], off[0] + size[0]):
                    slot = list(frame.get((b - 512) & ~7, (None,) * 8))
                    slot[(b - 512) & 7] = -1
                    frame[(b - 512) & ~7] = tuple(slot)
        elif t == "packet":
            po = fields.get("packet_offset", "0")
            if po.strip() == "packet_size":
                vals[r] = V.Val(V.PKT_END, V._ZERO)
            else:
                off = _range(po) or (0, 65535)
                vals[r] = V.Val(V.PACKET, S.srange(*off), 0, 0)
        elif t == "shared":
            size = _range(fields.get("shared_region_size", "0")) or (0, 0)
            off = _range(fields.get("shared_offset", "0")) or (0, 0)
            idx = len(verifier.maps)
            verifier.maps.append(MapDef(f"shared{r}", 2, 4, size[0], 1))
            maybe_null = sv is not None and sv[0] <= 0 <= sv[1]
            vals[r] = V.Val(V.MAP_OR_NULL if maybe_null else V.MAP_VALUE, S.srange(*off), idx, r + 1000)
        elif t in ("map_fd", "map_fd_programs"):
            idx = len(verifier.maps)
            verifier.maps.append(MapDef(f"map{r}", 3 if t == "map_fd_programs" else 2, 4, 4, 4))
            vals[r] = V.Val(V.MAP_PTR, V._ZERO, idx)
        else:
            raise Untranslatable(f"pre-state type {t!r}")
    for (lo, hi), fields in stack.items():
        if fields.get("type") != "number":
            continue
        sv = _range(fields.get("svalue", "x"))
        known = sv is not None and sv[0] == sv[1] and lo == hi
        for b in range(lo, hi + 1):
            o = b - 512
            slot = list(frame.get(o & ~7, (None,) * 8))
            slot[o & 7] = (sv[0] & 0xFF) if known else -1
            frame[o & ~7] = tuple(slot)
    return V.State(vals, [frame], [], pkt[0])


@dataclass
class CaseResult:
    file: str
    name: str
    expected_reject: bool
    got_reject: bool | None  # None: not translatable
    detail: str


def run_case(path: str, case: dict) -> CaseResult:
    from ..front import verify as V
    from ..front.progtypes import program_types

    _ensure_prog_type(program_types())
    name = case.get("test-case", "?")
    # "Code becomes unreachable" is PREVAIL's warning about a dead branch, not a safety finding
    expected = any("unreachable" not in m for m in case.get("messages") or ())
    options = set(case.get("options") or ())
    try:
        insns = translate(list((case.get("code") or {}).items()))
        insns.append(_SINK)  # PREVAIL's cases need no exit
        nmaps = 1 + max((i.imm for i in insns if i.opcode == 0x18 and i.src in (Pseudo.MAP_FD, Pseudo.MAP_VALUE)),
                        default=-1)
        maps = [MapDef(f"map{k}", 2, 4, 4, 4) for k in range(nmaps)]
        prog = Program(name, PROG_TYPE, PROG_TYPE, insns, file=os.path.basename(path), maps=maps)
        from ..front.validate import validate

        validate(prog)
        verifier = V.Verifier(prog, div_by_zero="!allow_division_by_zero" not in options)
        state = initial_state(list(case.get("pre") or ()), verifier)
        verifier.initial = lambda: state
        # the translation's sinks (ja -1 after an assume's test, and at the end) stand for "stop here", not loops
        verifier.ignore_loops = {pc for pc, i in enumerate(insns) if i == _SINK and (
            pc == len(insns) - 1 or (pc and _is_jcond(insns[pc - 1]) and insns[pc - 1].off == 1))}
        if "big_endian" in options:
            raise Untranslatable("big-endian semantics")
        analysis = verifier.run()
    except Untranslatable as exc:
        return CaseResult(path, name, expected, None, f"not translated: {exc}")
    except BpfxError as exc:  # the validator's structural rejection is a rejection
        return CaseResult(path, name, expected, True, str(exc))
    problems = [p for p in analysis.problems(False) if p.category != "termination" or "termination" in options]
    detail = problems[0].message if problems else (analysis.too_complex or "accepted")
    return CaseResult(path, name, expected, bool(problems) or not analysis.complete, detail)


def _ensure_prog_type(types: dict) -> None:
    import dataclasses

    from ..front.progtypes import helpers

    if PROG_TYPE in types:
        return
    fields = {"data": (0, 4), "data_end": (4, 4)}
    fields.update({f"field{o}": (o, 4) for o in range(8, 64, 4)})
    types[PROG_TYPE] = dataclasses.replace(types["xdp"], name=PROG_TYPE, sections=(), ctx_struct="prevail_ctx",
                                           return_range=None, return_other=None,
                                           ctx_size=64, helper_ids=frozenset(helpers()), return_codes={},
                                           ctx_fields=fields, writable=frozenset(f for f in fields if
                                                                                 f.startswith("field")))


def run_suite(directory: str) -> list[CaseResult]:
    import yaml

    out = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path) as f:
            for case in yaml.safe_load_all(f):
                if case:
                    out.append(run_case(path, case))
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["--samples"]:  # --samples EBPF_SAMPLES_DIR PREVAIL_DIR
        return samples_main(argv[1], argv[2])
    directory = argv[0] if argv else os.environ.get("BPFX_PREVAIL_DIR", "")
    if os.path.isdir(os.path.join(directory, "test-data")):
        directory = os.path.join(directory, "test-data")
    results = run_suite(directory)
    done = [r for r in results if r.got_reject is not None]
    agree = [r for r in done if r.got_reject == r.expected_reject]
    print(f"{len(agree)}/{len(done)} agree on accept/reject ({100 * len(agree) / max(1, len(done)):.1f}%); "
          f"{len(results) - len(done)} of {len(results)} not translated")
    for r in done:
        if r.got_reject != r.expected_reject:
            want = "reject" if r.expected_reject else "accept"
            print(f"  {os.path.basename(r.file)}: {r.name}: PREVAIL {want}s, bpfx: {r.detail}")
    for r in results:
        if r.got_reject is None:
            print(f"  {os.path.basename(r.file)}: {r.name}: {r.detail}")
    return 0




# -- ebpf-samples: bpfx's verdicts against PREVAIL's expected ones --------------------------------------------------

# PREVAIL's default options (its test_verify.cpp) check neither termination nor r0's range at exit: findings of
# those kinds are left out of the comparison (and counted apart).
NOT_CHECKED_BY_PREVAIL = ("termination", "return")
_SECTION_TESTS = re.compile(r"(TEST_SECTION(?:_[A-Z_]+)?)\(\s*\"([^\"]+)\",\s*\"([^\"]+)\",\s*\"([^\"]+)\"\s*\)")
_ACCEPT = {"TEST_SECTION", "TEST_SECTION_LEGACY", "TEST_SECTION_FAIL", "TEST_SECTION_REJECT_IF_STRICT"}


def expected_samples(cpp_text: str) -> list[tuple[str, str, str, bool]]:
    """(project, file, section, should be accepted) from PREVAIL's src/test/test_verify.cpp (``_FAIL`` marks a
    program PREVAIL itself fails on; its expected verdict is the macro's)."""
    out = []
    for macro, project, filename, section in _SECTION_TESTS.findall(cpp_text):
        if macro in _ACCEPT or macro in ("TEST_SECTION_REJECT", "TEST_SECTION_REJECT_FAIL"):
            out.append((project, filename, section, macro in _ACCEPT))
    return out


def _guess_type(project: str, section: str) -> str | None:
    """The program type PREVAIL's Linux platform gives sections the loader cannot place (cilium's "2/7" tail-call
    sections are tc programs)."""
    if section.startswith("xdp"):
        return "xdp"
    if project in ("cilium", "bpf_cilium_test", "ovs", "suricata") or section.startswith(("from-", "to-", "1/", "2/")):
        return "sched_cls"
    return None


def compare_samples(samples_dir: str, cpp_path: str, *, budget: int = 300_000):
    """Yield (project/file section, expected accept, bpfx verdict, CPU seconds, detail) for every listed program
    (CPU time, not wall time: a shared machine's load does not inflate it)."""
    import time

    from ..front.loader import load
    from ..front.progtypes import prog_type
    from ..front.verify import analyse, verdict

    with open(cpp_path) as f:
        cases = expected_samples(f.read())
    cache: dict[tuple, object] = {}
    for project, filename, section, accept in cases:
        path = os.path.join(samples_dir, project, filename)
        name = f"{project}/{filename} {section}"
        try:
            obj = cache.get((path, None)) or load(path)
            cache[(path, None)] = obj
            prog = obj.program(section)
            guess = _guess_type(project, section)
            if not prog_type(prog.prog_type).ctx_struct and guess:
                obj = cache.get((path, guess)) or load(path, prog_type=guess)
                cache[(path, guess)] = obj
                prog = obj.program(section)
        except (BpfxError, OSError) as exc:
            yield name, accept, "unloadable", 0.0, str(exc)
            continue
        t0 = time.process_time()
        analysis = analyse(prog, budget=budget)
        secs = time.process_time() - t0
        state, _counts = verdict(analysis, ignore=NOT_CHECKED_BY_PREVAIL)
        problems = [p for p in analysis.problems(False) if p.category not in NOT_CHECKED_BY_PREVAIL]
        detail = analysis.too_complex or (problems[0].message if problems else "")
        yield name, accept, state, secs, detail


def samples_main(samples_dir: str, prevail_dir: str) -> int:
    """Print bpfx's verify verdict for every ebpf-samples program PREVAIL's test_verify.cpp lists, and the
    agreement (accept = every access proven; also counted: accepted once checks are compiled in)."""
    rows = list(compare_samples(samples_dir, os.path.join(prevail_dir, "src", "test", "test_verify.cpp")))
    loaded = [r for r in rows if r[2] != "unloadable"]
    agree = sum((r[2] == "safe") == r[1] for r in loaded)
    checked_ok = sum(r[2] in ("safe", "checked") for r in loaded if r[1])
    slowest = max(loaded, key=lambda r: r[3]) if loaded else None
    for name, accept, state, secs, detail in rows:
        mark = "" if (state == "safe") == accept else "  <- disagrees"
        print(f"{name}: expected {'accept' if accept else 'reject'}, bpfx {state} ({secs:.2f}s){mark}"
              + (f": {detail}" if detail and mark else ""))
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"{agree}/{len(loaded)} agree ({100 * agree / max(1, len(loaded)):.1f}%); {len(rows) - len(loaded)} not "
          f"loadable; {checked_ok}/{sum(r[1] for r in loaded)} expected-safe programs run under --safety=checked; "
          f"slowest {slowest[0] if slowest else '-'} {slowest[3] if slowest else 0:.1f}s CPU; peak RSS {rss} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
