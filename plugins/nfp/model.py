"""An instruction-level executable model of the NFP microengine subset the selector emits: the nfp Executor.

No public NFP simulator exists (nfp.md §4), so this model is how every nfp result in bpfx is checked. It holds
one context's state:

- GPR banks A and B (32 each, 4-context mode), read and write transfer registers (separate), 1024 words of local
  memory reached through the ActLMAddr0-3 CSRs, whose writes take effect 3 instructions later (reading LM
  through a pointer with a write in flight is a fault: the code the model accepts is latency-correct);
- the Z/N/C/V flags of the last ``alu`` (carry after a subtraction means "no borrow"), and that ALU result,
  which indirect shifts (amount 0) and ``asr`` (its sign) read;
- multiply sequences (start, 4 steps of 32x32 or 2 of 16x16, then last/last2), checked step by step;
- branch defer slots (a branch in a defer slot is a fault);
- memory commands on the shared runtime's memory (the same regions and addresses the interpreter uses), with
  the byte order the swap/LE commands present: host order;
- the firmware: the program is loaded at START, helper subroutines sit at the firmware's addresses (FUNC TLVs
  and the model's own for the helpers the Linux JIT inlines) and run the shared runtime's helper
  implementations on r1-r5 (GPR pairs 2-11), put r0 in GPR 0/1 and return to the address in B0; reaching DONE
  ends the program with r0 in GPR 0/1. Relocations are applied from the Image's records as the driver does.
"""

from __future__ import annotations

from bpfx import LinkError, RuntimeFault, map_symbol

from . import encode as E
from .abi import LM_CSR_LATENCY, REGS, STACK_BASE_A
from .firmware import HELPER_PRANDOM
from .helpers import DONE_SYMBOL, RELOC_TYPES
from .select import XDP_ABORT, XDP_ACTION_TABLE

M32 = 0xFFFFFFFF
LM_WORDS = 1024
FRAME = 512
MAX_TAIL_CALLS = 33
DRIVER_HELPER_BASE = 0x400  # where the model's firmware places helpers a driver gives as implementations


class _Prepared:
    __slots__ = ("cls", "f", "ops", "word")

    def __init__(self, word: int):
        self.word = word
        dec = E.unpack(word)
        if dec is None:
            raise RuntimeFault(f"undecodable instruction word {word:#x}")
        self.cls, self.f = dec
        self.ops = None


class ModelState:
    """The registers and memories of one microengine context."""

    def __init__(self) -> None:
        self.a = [0] * 32
        self.b = [0] * 32
        self.xr = [0] * 32  # read transfer registers (filled by memory reads)
        self.xw = [0] * 32  # write transfer registers (written by ALU instructions)
        self.lm = [0] * LM_WORDS
        self.lm_addr = [0, 0, 0, 0]
        self.pending_csr: list[list[int]] = []  # [instructions left, csr, value]
        self.z = self.n = self.c = self.v = 0
        self.prev_alu = 0
        self.mul: list | None = None
        self.csr_read: int | None = None


class Model:
    """Run one Image on a fresh context (see the module docstring)."""

    def __init__(self, firmware, runtime, budget: int):
        self.fw = firmware
        self.rt = runtime
        self.budget = budget
        self.count = 0
        self.st = ModelState()
        self.code: dict[int, _Prepared] = {}
        self.image = None
        self.profile: dict[int, int] | None = None  # instruction-store address -> executions, when asked for
        self.lm_stack: int | None = None  # byte address of the entry frame in local memory, once set
        self.subroutines: dict[int, int] = {}  # address -> helper id
        self.driver_helpers: dict[str, int] = {}  # bpf_<name> -> address, for helpers given as implementations
        spare = DRIVER_HELPER_BASE
        for hid, entry in sorted(runtime.helper_table.entries.items()):
            if entry.address is not None:
                self.subroutines[entry.address // 8] = hid
            elif entry.implemented and entry.inline is None:  # a driver's firmware helper: the model serves it
                self.driver_helpers[f"bpf_{entry.name}"] = spare
                self.subroutines[spare] = hid
                spare += 8

    # -- loading ------------------------------------------------------------------------------------------------
    def _resolve(self, image, reloc) -> int:
        if reloc.kind == "helper":
            for entry in self.rt.helper_table.entries.values():
                if f"bpf_{entry.name}" == reloc.symbol and entry.address is not None:
                    return entry.address
            if reloc.symbol in self.driver_helpers:
                return self.driver_helpers[reloc.symbol] * 8
            raise LinkError(f"the firmware offers no {reloc.symbol}")
        if reloc.kind in ("map", "map_value"):
            for i, mapdef in enumerate(self.rt.program.maps):
                if map_symbol(mapdef.name) == reloc.symbol:
                    base = self.rt.map_address(i) if reloc.kind == "map" else self.rt.map_value_address(i)
                    return base + reloc.addend
            raise LinkError(f"cannot resolve map symbol {reloc.symbol!r}")
        if reloc.symbol == DONE_SYMBOL:
            return self.fw.done * 8
        if reloc.symbol in image.symbols:
            return self.fw.start * 8 + reloc.addend
        raise LinkError(f"cannot resolve {reloc.kind} symbol {reloc.symbol!r}")

    def load(self, image) -> None:
        words = len(image.code) // 8
        if words > self.fw.max_len:
            raise LinkError(f"program of {words} instructions exceeds the firmware's limit of {self.fw.max_len}")
        code = bytearray(image.code)
        for reloc in image.relocs:
            RELOC_TYPES[reloc.type].apply(code, reloc.offset, self._resolve(image, reloc),
                                          self.fw.start * 8 + reloc.offset)
        self.code = {}
        for i in range(words):
            word = int.from_bytes(code[8 * i:8 * i + 8], "little")
            if word >> E.RELO_SHIFT:
                raise LinkError(f"word {i} still carries relocation type {word >> E.RELO_SHIFT} after loading")
            if not E.ecc_ok(word):
                raise RuntimeFault(f"ECC mismatch in word {i}")
            self.code[self.fw.start + i] = _Prepared(word)
        self.image = image

    # -- operands -----------------------------------------------------------------------------------------------
    def _lm_index(self, idx: int, off: int) -> int:
        for pending in self.st.pending_csr:
            if pending[1] == E.CSR_ACT_LM_ADDR[idx]:
                raise RuntimeFault(f"local memory read through ActLMAddr{idx} within {LM_CSR_LATENCY} "
                                   "instructions of its CSR write")
        addr = (self.st.lm_addr[idx] >> 2) + off
        if not 0 <= addr < LM_WORDS:
            raise RuntimeFault(f"local memory word {addr} out of range")
        return addr

    def read(self, op) -> int:
        kind = op[0] if op is not None else None
        if kind == "a" or kind == "both":
            return self.st.a[op[1]]
        if kind == "b":
            return self.st.b[op[1]]
        if kind == "i":
            return op[1]
        if kind == "x":
            return self.st.xr[op[1]]
        if kind == "lm":
            return self.st.lm[self._lm_index(op[1], op[2])]
        if op is None:
            return 0
        raise RuntimeFault(f"operand {op!r} is not modelled")

    def write(self, op, value: int) -> None:
        value &= M32
        kind = op[0] if op is not None else None
        if kind is None:
            return
        if kind in ("a", "both"):
            self.st.a[op[1]] = value
        if kind in ("b", "both"):
            self.st.b[op[1]] = value
        if kind == "x":
            self.st.xw[op[1]] = value
        elif kind == "lm":
            self.st.lm[self._lm_index(op[1], op[2])] = value
        elif kind not in ("a", "b", "both"):
            raise RuntimeFault(f"destination {op!r} is not modelled")

    # -- execution ----------------------------------------------------------------------------------------------
    def run(self, image, entry_pc: int | None = None) -> int:
        self.load(image)
        st = self.st
        stack = self.stack = next(r for r in self.rt.memory.regions if r.name == "stack")
        st.a[STACK_BASE_A] = stack.base + 0x1000
        args = self.rt.entry_args
        for i, value in enumerate(args[:5]):
            st.a[2 + 2 * i] = st.b[2 + 2 * i] = value & M32
            st.a[3 + 2 * i] = st.b[3 + 2 * i] = (value >> 32) & M32
        pc = self.fw.start + image.entry_offset() // 8 if entry_pc is None else entry_pc
        branch_to = None
        defer_left = 0
        code = self.code
        while True:
            if pc == self.fw.done and branch_to is None:
                return self._verdict()
            if pc in self.subroutines and branch_to is None:
                pc = self._firmware(self.subroutines[pc])
                if self.rt.exit_requested:
                    return st.b[0] | st.b[1] << 32
                continue
            ins = code.get(pc)
            if ins is None:
                raise RuntimeFault(f"execution left the program at instruction-store address {pc}",
                                   insn=self._locate(pc))
            self.count += 1
            if self.profile is not None:
                self.profile[pc] = self.profile.get(pc, 0) + 1
            if self.count > self.budget:
                raise RuntimeFault(f"instruction budget of {self.budget} words exhausted")
            try:
                target = self._step(ins)
            except RuntimeFault as err:
                raise err.at(insn=self._locate(pc)) from None
            if st.pending_csr:
                self._tick()
            if target is not None:
                if branch_to is not None:
                    raise RuntimeFault("branch in a defer slot", insn=self._locate(pc))
                addr, defer = target
                if defer == 0:
                    pc = addr
                    continue
                branch_to, defer_left = addr, defer
                pc += 1
                continue
            if branch_to is not None:
                defer_left -= 1
                if defer_left == 0:
                    pc, branch_to = branch_to, None
                    continue
            pc += 1

    def _verdict(self) -> int:
        """r0 at DONE (GPR pair 0/1, bank B). For XDP the firmware acts on the action byte the outro put in
        bits 16-23 of A0: the model checks it is the one r0 calls for."""
        st = self.st
        r0 = st.b[0] | st.b[1] << 32
        if self.image is not None and self.image.prog_type == "xdp":
            want = (XDP_ACTION_TABLE >> (8 * r0)) & 0xFF if r0 <= 3 else XDP_ABORT
            got = (st.a[0] >> 16) & 0xFF
            if got != want:
                raise RuntimeFault(f"XDP verdict {r0} reached the firmware as action {got:#x}, not {want:#x}")
        elif (st.a[0], st.a[1]) != (st.b[0], st.b[1]):
            raise RuntimeFault("the A and B copies of r0 differ at DONE")
        return r0

    def _locate(self, pc: int):
        if self.image is None:
            return None
        off = (pc - self.fw.start) * 8
        best = None
        for native, bpf in self.image.line_map:
            if native > off:
                break
            best = bpf
        return best if best is not None and best >= 0 else None

    def _tick(self) -> None:
        keep = []
        for pending in self.st.pending_csr:
            pending[0] -= 1
            if pending[0] == 0:
                self._csr_write(pending[1], pending[2])
            else:
                keep.append(pending)
        self.st.pending_csr = keep

    def _csr_write(self, csr: int, value: int) -> None:
        if csr == E.CSR_ACT_LM_ADDR[0]:
            self.lm_stack = value & M32  # the program keeps its stack in local memory from here
        if csr in E.CSR_ACT_LM_ADDR:
            self.st.lm_addr[E.CSR_ACT_LM_ADDR.index(csr)] = value & M32
        else:
            raise RuntimeFault(f"write to CSR {csr:#x} is not modelled")

    def _firmware(self, hid: int) -> int:
        st = self.st
        ret = st.b[0]
        args = tuple(st.a[2 + 2 * i] | st.a[3 + 2 * i] << 32 for i in range(5))
        r0 = self.rt.call_helper(hid, args)
        st.a[0] = st.b[0] = r0 & M32
        st.a[1] = st.b[1] = (r0 >> 32) & M32
        self.count += 1
        return ret

    def _flags(self, res: int, c: int, v: int) -> None:
        st = self.st
        st.z = int(res & M32 == 0)
        st.n = (res >> 31) & 1
        st.c, st.v = c, v

    def _alu(self, f) -> None:
        st = self.st
        left, right = E.sources(f, False)
        av, bv = self.read(left), self.read(right)
        op = f["op"]
        c = v = 0
        if op == 0x00:
            res = bv
        elif op == 0x04:
            res = ~bv & M32
        elif op in (0x01, 0x11):
            full = av + bv + (st.c if op == 0x11 else 0)
            res = full & M32
            c = full >> 32
            v = ((~(av ^ bv) & (av ^ res)) >> 31) & 1
        elif op in (0x15, 0x0D):
            full = av - bv - ((1 - st.c) if op == 0x0D else 0)
            res = full & M32
            c = int(full >= 0)
            v = (((av ^ bv) & (av ^ res)) >> 31) & 1
        elif op == 0x08:
            res = av & bv
        elif op == 0x0C:
            res = ~av & bv & M32
        elif op == 0x10:
            res = av & ~bv & M32
        elif op == 0x14:
            res = av | bv
        elif op == 0x18:
            res = av ^ bv
        else:
            raise RuntimeFault(f"ALU operation {op:#x} is not modelled")
        self._flags(res, c, v)
        st.prev_alu = res
        dst = E.ur_operand(f["dst"], "a", f["dst_lmextn"], True, E.dst_bank(f))
        self.write(dst, res)

    def _shifted(self, f, value: int, other: int | None = None) -> int:
        """``value`` shifted as a shf/ld_field's shift class and amount say (amount 0: indirect)."""
        sc, amount = f["sc"], f["shift"]
        if amount == 0:
            amount = self.st.prev_alu & 31
        if sc == 0:  # rotate right
            return ((value >> amount) | (value << (32 - amount))) & M32 if amount else value
        if sc == 1:
            return value >> amount
        if sc == 2:  # left: the field holds 32 - n
            return (value << ((32 - amount) & 31)) & M32
        return (((other or 0) << 32 | value) >> amount) & M32  # double shift right: A:B

    def _shf(self, f) -> None:
        left, right = E.sources(f, True)
        av, bv = self.read(left), self.read(right)
        op = f["op"]
        if op == 6:  # asr: the sign comes from the previous ALU result
            amount = f["shift"] or (self.st.prev_alu & 31)
            if f["sc"] != 1:
                raise RuntimeFault("asr needs the shift-right class")
            sign = (self.st.prev_alu >> 31) & 1
            res = bv >> amount
            if sign and amount:
                res |= (M32 << (32 - amount)) & M32
        else:
            sh = self._shifted(f, bv, av if f["sc"] == 3 else None)
            if op == 0:
                res = sh
            elif op == 2:
                res = av & sh
            elif op == 5:
                res = av | sh
            else:
                raise RuntimeFault(f"shf operation {op} is not modelled")
        dst = E.re_operand(f["dst"], "a", 0, f["dst_lmextn"], True, E.dst_bank(f))
        self.write(dst, res)

    def _ld_field(self, f) -> None:
        left, right = E.sources(f, True)
        old = self.read(left)
        sh = self._shifted(f, self.read(right))
        res = 0 if f["zero"] else old
        for i in range(4):
            if f["bytemask"] >> i & 1:
                res = (res & ~(0xFF << 8 * i)) | (sh & (0xFF << 8 * i))
        self.write(left, res)

    def _immed(self, f) -> None:
        st = self.st
        dst, value = E.immed_fields(f)
        if dst is None:
            return  # nop
        if st.csr_read is not None:
            self.write(dst, st.csr_read)
            st.csr_read = None
            return
        shift = 8 * f["shift"]
        width = f["width"]
        if width == 0:
            res = (value << shift) & M32
            if f["inv"]:
                res = ~res & M32
        else:
            mask = (0xFF if width == 1 else 0xFFFF) << shift
            res = (self.read(dst) & ~mask) | ((value << shift) & mask)
        self.write(dst, res)

    def _mul(self, f) -> None:
        st = self.st
        typ, step = f["type"], f["step"]
        if typ == 0:
            st.mul = [None, 0, None]
            return
        if st.mul is None:
            raise RuntimeFault("multiply step without mul start")
        steps = 4 if typ == 3 else 2
        if step <= 3:
            left, right = E.sources(f, False)
            operands = (self.read(left), self.read(right))
            if step != st.mul[1] or (st.mul[0] is not None and st.mul[0] != operands) or step >= steps:
                raise RuntimeFault(f"multiply step {step + 1} out of sequence")
            st.mul[0] = operands
            st.mul[1] += 1
            if st.mul[1] == steps:
                x, y = operands
                st.mul[2] = (x * y) if typ == 3 else ((x & 0xFFFF) * (y & 0xFFFF))
            return
        if st.mul[2] is None:
            raise RuntimeFault("multiply result read before its last step")
        dst = E.ur_operand(f["a"], "a", f["dst_lmextn"], True, E.dst_bank(f))
        self.write(dst, st.mul[2] >> (32 if step == 5 else 0))
        if step == 5 or typ != 3:
            st.mul = None

    def _cmd(self, f) -> None:
        st = self.st
        name = E.CMD_NAMES.get((f["token"], f["tgt_cmd"]))
        if name is None or f["indir"] or f["mode"] != E.CMD_MODES["32b"]:
            raise RuntimeFault(f"memory command {f['token']}:{f['tgt_cmd']:#x} mode {f['mode']} is not modelled")
        left, right = E.sources({**f, "swap": 0}, True)
        addr = (self.read(left) + self.read(right)) & M32
        x, count = f["xfer"], f["count"]
        mem = self.rt.memory
        self._above_r10(addr, 8 if count else 4, "read" if name == "read8" else "write")
        if name == "read8":
            value = mem.load(addr, count + 1)
            st.xr[x], st.xr[(x + 1) % 32] = value & M32, value >> 32
        elif name == "write8_swap":
            mem.store(addr, count + 1, st.xw[x] | st.xw[(x + 1) % 32] << 32)
        elif name == "add":
            size = 8 if count else 4
            add = st.xw[x] | (st.xw[(x + 1) % 32] << 32 if count else 0)
            mem.store(addr, size, mem.load(addr, size) + add)
        else:
            raise RuntimeFault(f"memory command {name} is not modelled")

    def _above_r10(self, addr: int, size: int, kind: str) -> None:
        """Frames grow up here and down on the interpreter, whose stack ends at the entry's r10: an access at or
        above the current r10 (through a copy) faults as there, at the interpreter's address for the entry frame.
        (A callee reaching above its r10 into its caller's frame, which the interpreter allows, faults too.)"""
        stack = self.stack
        r10 = self.st.a[REGS[10][0]]
        # (a command's start: sub-word stores merge into whole words, so a word may cross r10 legitimately)
        if r10 <= addr < stack.base + len(stack.buf):
            at = stack.base + len(stack.buf) + addr - r10
            raise RuntimeFault(f"invalid {kind} of {size} bytes at 0x{at:x} (outside every mapped region)")

    def _step(self, ins: _Prepared):
        cls, f = ins.cls, ins.f
        st = self.st
        if cls == "alu":
            self._alu(f)
        elif cls == "immed":
            self._immed(f)
            return None
        elif cls == "shf":
            self._shf(f)
        elif cls == "ld_field":
            self._ld_field(f)
        elif cls == "br":
            cond = f["cond"]
            taken = {0: st.z, 1: not st.z, 2: st.n, 4: st.c, 5: not st.c, 8: st.n == st.v, 9: st.n != st.v,
                     0x18: True}.get(cond)
            if taken is None:
                raise RuntimeFault(f"branch condition {cond:#x} is not modelled")
            if taken:
                return (f["addr"] | f["addr_hi"] << 13, f["defer"])
        elif cls == "br_bset":
            a = E.re_operand(f["a"], "a", 0, f["src_lmextn"])
            b = E.re_operand(f["b"], "b", 0, f["src_lmextn"])
            src, bit = (b, a) if a is not None and a[0] == "i" else (a, b)
            if (self.read(src) >> (bit[1] - 1) & 1) == f["set"]:
                return (f["addr"] | f["addr_hi"] << 13, f["defer"])
        elif cls == "br_alu":
            a = E.ur_operand(f["a"], "a", f["src_lmextn"])
            b = E.ur_operand(f["b"], "b", f["src_lmextn"])
            return ((self.read(a) | self.read(b)) & 0x3FFF, f["defer"])
        elif cls == "mul":
            self._mul(f)
        elif cls == "local_csr":
            csr = f["addr"] << 2
            if f["write"]:
                a = E.ur_operand(f["a"], "a", f["src_lmextn"])
                b = E.ur_operand(f["b"], "b", f["src_lmextn"])
                st.pending_csr.append([LM_CSR_LATENCY + 1, csr, self.read(a) | self.read(b)])
            elif csr == E.CSR_PSEUDO_RND_NUM:
                st.csr_read = self.rt.call_helper(HELPER_PRANDOM, (0, 0, 0, 0, 0)) & M32
                return None
            elif csr in E.CSR_ACT_LM_ADDR:
                if any(p[1] == csr for p in st.pending_csr):
                    raise RuntimeFault(f"read of CSR {csr:#x} within {LM_CSR_LATENCY} instructions of its write")
                st.csr_read = st.lm_addr[E.CSR_ACT_LM_ADDR.index(csr)]
                return None
            else:
                raise RuntimeFault(f"read of CSR {csr:#x} is not modelled")
        elif cls == "cmd":
            self._cmd(f)
        else:
            raise RuntimeFault(f"{cls} is not modelled")
        if st.csr_read is not None:
            raise RuntimeFault("a local_csr_rd must be followed by the immed that receives the value")
        return None


class NfpExecutor:
    """The ``bpfx_machine`` result: runs nfp Images on the model against the shared runtime.

    For benchmarks: with ``NfpExecutor.profiling`` set, ``NfpExecutor.last_profile`` holds, after each run, the
    executions of each code offset (bytes) of the entry image.
    """

    insn_size = 8  # bytes per instruction word
    profiling = False
    last_profile: dict[int, int] = {}

    def __init__(self, firmware_fn):
        self._firmware = firmware_fn

    def run(self, image, runtime, budget: int):
        fw = self._firmware()
        model = Model(fw, runtime, budget)
        if NfpExecutor.profiling:
            model.profile = {}
        r0 = model.run(image)
        if model.profile is not None:
            NfpExecutor.last_profile = {(pc - fw.start) * 8: n for pc, n in model.profile.items()}
        tails = 0
        while runtime.pending_tail_call is not None and tails < MAX_TAIL_CALLS:
            program, runtime.pending_tail_call = runtime.pending_tail_call, None
            tails += 1
            nxt = Model(fw, runtime, budget - model.count)
            nxt.count = model.count
            r0 = nxt.run(runtime.compile(program))
            model = nxt
        entry_r10 = model.st.a[STACK_BASE_A] + FRAME  # the stack base register is the firmware's, never written
        if model.lm_stack is not None:  # the entry frame lived in local memory: report it like a memory frame
            first = model.lm_stack // 4
            words = model.st.lm[first:first + FRAME // 4]
            runtime.memory.write(entry_r10 - FRAME, b"".join(v.to_bytes(4, "little") for v in words))
        stack = runtime.memory.read(entry_r10 - FRAME, FRAME)
        return runtime.result(r0, stack=stack, insn_count=model.count)
