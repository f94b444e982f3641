"""Running an Image under unicorn, the way a device loader would load it.

The plugin's ``Machine`` says which CPU; the core does the rest: it maps the
runtime's memory layout (stack, ctx, packet, maps), resolves relocations
(helpers -> trampolines whose first instruction hands control to the same
Python helper implementations the interpreter uses; maps -> the runtime's map
objects), passes the context pointer as the first native argument, counts
executed instructions against a budget, and returns the interpreter's Result.
"""

from __future__ import annotations

from bisect import bisect_right

import unicorn

from ..errors import LinkError, RuntimeFault, Unsupported
from ..front.isa import STACK_SIZE, Kind
from .runtime import layout
from .runtime.memory import invalid_access
from ..back.emit import DATA
from ..back.target import HelperTable, Image, Machine, MachineLayout

_BPF_READS = (Kind.LDX, Kind.LDXSX, Kind.ATOMIC)  # BPF instructions that read memory themselves

PAGE = 0x1000
# Compiled programs (tail-call targets too) are placed one after another in the code area, a guard page apart;
# together they may take up to 16 MiB less the exit page.
CODE_END = layout.TRAMPOLINE_BASE - 0x1000
EXIT_ADDR = layout.TRAMPOLINE_BASE - 0x1000  # the return address the entry is called with
MAX_TAIL_CALLS = 33
#: What a helper call costs against the instruction budget: a helper runs in Python (tens of microseconds), so
#: charging it like one instruction would let a helper-calling loop take minutes to reach the budget.
HELPER_COST = 64


def _align(n: int, to: int = PAGE) -> int:
    return (n + to - 1) & ~(to - 1)


class _Run:
    def __init__(self, machine: Machine, rt, budget: int):
        self.machine, self.rt, self.budget = machine, rt, budget
        self.helpers: HelperTable = rt.helper_table
        self.program = rt.program
        self.uc = unicorn.Uc(machine.uc_arch, machine.uc_mode)
        if machine.cpu_model is not None:
            self.uc.ctl_set_cpu_model(machine.cpu_model)
        self.images: dict[str, tuple[int, Image]] = {}
        self.code_end = layout.CODE_BASE
        self.count = 0
        self.fault: Exception | None = None
        self.trampolines: dict[int, int] = {}  # address -> helper id
        self.save_low: int | None = None  # the entry's r10: where the interpreter's stack ends
        self.mapped: set[int] = set()
        self._map_runtime()
        self._map_trampolines()
        self._block_sizes: dict[tuple[int, int], int] = {}
        self._count_insns = None  # code bytes -> instructions, for variable-length ISAs
        if not machine.insn_size:
            if callable(machine.decoder):
                self._count_insns = machine.decoder
            elif machine.decoder is not None:
                import capstone

                md = capstone.Cs(*machine.decoder)
                self._count_insns = lambda code: sum(1 for _ in md.disasm_lite(code, 0))
            else:
                raise LinkError("a variable-length Machine (insn_size=0) needs a decoder: capstone (arch, mode) "
                                "or a function code -> instruction count")
        # A data access outside the mapped regions (or to code) reports what the interpreter does.
        self.uc.hook_add(unicorn.UC_HOOK_MEM_READ_UNMAPPED | unicorn.UC_HOOK_MEM_WRITE_UNMAPPED
                         | unicorn.UC_HOOK_MEM_READ_PROT | unicorn.UC_HOOK_MEM_WRITE_PROT, self._on_invalid)
        # Every executed block counts, wherever it is: image code, trampolines, or a stray jump.
        self.uc.hook_add(unicorn.UC_HOOK_BLOCK, self._on_block)
        if machine.setup is not None:
            regions = tuple((r.name, r.base, len(r.buf)) for r in rt.memory.regions)
            machine.setup(self.uc, MachineLayout(layout.STACK_TOP, EXIT_ADDR, layout.CODE_BASE, regions))

    # -- memory ---------------------------------------------------------------------------------------------
    def _map(self, base: int, size: int, perms: int) -> None:
        """Map the pages of [base, base + size) not mapped yet, in runs of consecutive pages (one unicorn call
        per run: a 16 MiB map is one mapping, not 4096)."""
        run_start = None
        end = _align(base + size)
        for page in range(base & ~(PAGE - 1), end + PAGE, PAGE):
            if page < end and page not in self.mapped:
                self.mapped.add(page)
                if run_start is None:
                    run_start = page
            elif run_start is not None:
                self.uc.mem_map(run_start, page - run_start, perms)
                run_start = None

    def _map_runtime(self) -> None:
        # Data is never executable (W^X): a jump into the stack, a map or the packet faults on fetch.
        spans = []
        for region in self.rt.memory.regions:
            perms = unicorn.UC_PROT_READ | (unicorn.UC_PROT_WRITE if region.writable else 0)
            self._map(region.base, max(len(region.buf), 1), perms)
            self.uc.mem_write(region.base, bytes(region.buf))
            spans.append((region.base, region.base + len(region.buf)))
            if region.name != "stack" and len(region.buf):  # (the native frames live above the BPF stack)
                self._guard_end(region.base, region.end)
        self._guard_holes(sorted(spans))

    def _guard_holes(self, spans: list[tuple[int, int]]) -> None:
        """Pages are 4 KiB but regions end where the interpreter's do: an access to the rest of a mapped page
        (past a map value, data_end or the memory image) faults as in the interpreter. One hook per hole,
        called only for accesses inside it."""
        holes = []
        for base, end in spans:
            lo, hi = base & ~(PAGE - 1), _align(max(end, base + 1))
            holes += [(lo, base), (end, hi)]
        covered = spans
        for lo, hi in holes:
            for base, end in covered:  # another region may fill part of the page
                if base <= lo < end:
                    lo = end
                if base < hi <= end:
                    hi = base
            if lo < hi:
                self.uc.hook_add(unicorn.UC_HOOK_MEM_WRITE | unicorn.UC_HOOK_MEM_READ, self._on_hole, begin=lo,
                                 end=hi - 1)

    def _guard_end(self, base: int, end: int) -> None:
        """An access that starts in a region and runs past its end faults as in the interpreter, at the address it
        starts at: the hole hooks see only accesses that start in a hole, and unicorn reports a page crossing at
        the first unmapped byte."""
        self.uc.hook_add(unicorn.UC_HOOK_MEM_WRITE | unicorn.UC_HOOK_MEM_READ, self._on_straddle, end,
                         begin=max(base, end - 7), end=end - 1)

    def _on_straddle(self, uc, access, address, size, _value, end) -> None:
        if address + size > end:
            self._on_hole(uc, access, address, size, _value, None)

    def _on_invalid(self, uc, access, address, size, _value, _user) -> bool:
        if self.fault is None:
            kind = "write" if access in (unicorn.UC_MEM_WRITE_UNMAPPED, unicorn.UC_MEM_WRITE_PROT) else "read"
            self.fault = RuntimeFault(f"invalid {kind} of {size} bytes at 0x{address:x} (outside every mapped "
                                      "region)", insn=self._locate(uc.reg_read(self.machine.pc))[1])
        return False

    def _on_hole(self, uc, access, address, size, _value, _user) -> None:
        if self.fault is None:
            kind = "write" if access == unicorn.UC_MEM_WRITE else "read"
            self.fault = RuntimeFault(f"invalid {kind} of {size} bytes at 0x{address:x} (outside every mapped "
                                      "region)", insn=self._locate(uc.reg_read(self.machine.pc))[1])
            uc.emu_stop()

    def _to_runtime(self) -> None:
        for region in self.rt.memory.regions:
            if region.writable and len(region.buf):
                region.buf[:] = self.uc.mem_read(region.base, len(region.buf))

    def _from_runtime(self) -> None:
        for region in self.rt.memory.regions:
            if region.writable and len(region.buf):
                # a helper may have added one (bpf_ringbuf_reserve)
                self._map(region.base, len(region.buf), unicorn.UC_PROT_READ | unicorn.UC_PROT_WRITE)
                self.uc.mem_write(region.base, bytes(region.buf))

    # -- helpers --------------------------------------------------------------------------------------------
    def _map_trampolines(self) -> None:
        ret = self.machine.return_insn
        rx = unicorn.UC_PROT_EXEC  # trampolines are code: never writable, nor readable (as on the interpreter)
        self._map(EXIT_ADDR, PAGE, rx)
        self.uc.mem_write(EXIT_ADDR, ret)
        for hid, entry in self.helpers.entries.items():
            if entry.inline is not None:
                continue
            addr = entry.address if entry.address is not None else layout.TRAMPOLINE_BASE + 16 * hid
            self._map(addr, len(ret), rx)
            self.uc.mem_write(addr, ret)
            self.trampolines[addr] = hid
        for addr in self.trampolines:
            self.uc.hook_add(unicorn.UC_HOOK_CODE, self._on_helper, begin=addr, end=addr)

    def _on_helper(self, uc, address, size, _user) -> None:
        hid = self.trampolines[address]
        self.count += HELPER_COST
        if self.count > self.budget:
            self.fault = RuntimeFault(f"instruction budget of {self.budget} native instructions exhausted")
            uc.emu_stop()
            return
        args = tuple(uc.reg_read(r) for r in self.machine.arg_regs[:5])
        self._to_runtime()
        # The interpreter's stack ends at the entry's r10; here the saved registers lie above it, and a helper
        # must not reach them through a pointer argument either: they are hidden from the runtime meanwhile.
        stack = next(r for r in self.rt.memory.regions if r.name == "stack")
        low = self.save_low
        above = stack.buf[low - stack.base:] if low is not None else b""
        del stack.buf[len(stack.buf) - len(above):]
        try:
            r0 = self.rt.call_helper(hid, args)
        except Exception as exc:  # noqa: BLE001 - reported after emu_stop, with the BPF location
            kind, size, addr = getattr(exc, "access", (None, 0, 0))
            if low is not None and kind is not None and stack.base <= addr < layout.STACK_TOP:
                exc = invalid_access(kind, size, addr - low + layout.STACK_TOP)  # at the interpreter's address
            if getattr(exc, "insn", 0) is None:  # the BPF call: the one whose native call returns here
                m = self.machine
                ret = uc.reg_read(m.link_reg) if m.link_reg is not None else int.from_bytes(
                    uc.mem_read(uc.reg_read(m.sp), m.word_size), "little")
                exc.insn = self._locate(ret - 1)[1]
            self.fault = exc
            uc.emu_stop()
            return
        finally:
            stack.buf += above
        self._from_runtime()
        uc.reg_write(self.machine.ret_reg, r0 & 0xFFFF_FFFF_FFFF_FFFF)
        if self.rt.exit_requested or self.rt.pending_tail_call is not None:
            uc.emu_stop()

    def _symbol_address(self, program, reloc) -> int:
        if reloc.kind == "helper":
            for hid, entry in self.helpers.entries.items():
                if entry.symbol == reloc.symbol:
                    return entry.address if entry.address is not None else layout.TRAMPOLINE_BASE + 16 * hid
        elif reloc.kind in ("map", "map_value"):
            from ..back.codegen import map_symbol

            for index, mapdef in enumerate(program.maps):
                if map_symbol(mapdef.name) == reloc.symbol:
                    if reloc.kind == "map":
                        return self.rt.map_address(index)
                    return self.rt.map_value_address(index)
        raise LinkError(f"cannot resolve {reloc.kind} symbol {reloc.symbol!r}")

    # -- code -----------------------------------------------------------------------------------------------
    def load(self, program, image: Image) -> int:
        """Place ``image`` in the code area (once per program) and return its entry address."""
        if program.name in self.images:
            base, image = self.images[program.name]
            return base + image.entry_offset()
        base = self.code_end
        if base + len(image.code) > CODE_END:
            raise Unsupported(f"program of {len(image.code)} bytes of native code does not fit the emulator's code "
                              f"area ({CODE_END - base} of {CODE_END - layout.CODE_BASE} bytes free)")
        self.code_end = _align(base + len(image.code)) + PAGE  # an unmapped guard page after each image
        code = bytearray(image.code)
        for reloc in image.relocs:
            value = self._symbol_address(program, reloc) + reloc.addend
            image.reloc_types[reloc.type].apply(code, reloc.offset, value, base + reloc.offset)
        # read-execute, never writable. The selector's own code reads it (literal pools, relocated constants); a
        # BPF load or atomic reading it faults as on the interpreter (one hook, called only for reads of this image)
        self._map(base, len(code), unicorn.UC_PROT_READ | unicorn.UC_PROT_EXEC)
        self.uc.mem_write(base, bytes(code))
        offsets = [base + off for off, _ in image.line_map]
        bpf_reads = [insn.info is not None and insn.info.kind in _BPF_READS for insn in program.insns]
        # The selector's data, readable whatever runs: unicorn's pc in a memory hook may still be that of an earlier
        # instruction of the block (riscv64), so the executing instruction alone cannot tell a pool read from a load
        ends = offsets[1:] + [base + len(code)]
        owned = sorted([(start, end) for start, end, (_, idx) in zip(offsets, ends, image.line_map) if idx == DATA]
                       + [(base + reloc.offset, base + reloc.offset + 8) for reloc in image.relocs])
        owned_starts = [start for start, _ in owned]

        def on_read(uc, access, address, size, _value, _user):
            j = bisect_right(owned_starts, address) - 1
            if j >= 0 and address + size <= owned[j][1]:
                return
            i = bisect_right(offsets, uc.reg_read(self.machine.pc)) - 1
            insn = image.line_map[i][1] if i >= 0 else None
            if self.fault is None and insn is not None and 0 <= insn < len(bpf_reads) and bpf_reads[insn]:
                self.fault = RuntimeFault(f"invalid read of {size} bytes at 0x{address:x} (outside every mapped "
                                          "region)", insn=insn)
                uc.emu_stop()

        self.uc.hook_add(unicorn.UC_HOOK_MEM_READ, on_read, begin=base, end=base + max(len(code), 1) - 1)
        self.images[program.name] = (base, image)
        return base + image.entry_offset()

    def _on_block(self, uc, address, size, _user) -> None:
        if self._count_insns is None:
            self.count += size // self.machine.insn_size
        else:
            key = (address, size)
            n = self._block_sizes.get(key)
            if n is None:
                n = self._block_sizes[key] = self._count_insns(bytes(uc.mem_read(address, size)))
            self.count += n
        if self.count > self.budget:
            self.fault = RuntimeFault(f"instruction budget of {self.budget} native instructions exhausted")
            uc.emu_stop()

    def _locate(self, pc: int) -> tuple[str, int | None]:
        for name, (base, image) in self.images.items():
            if base <= pc < base + len(image.code):
                offsets = [off for off, _ in image.line_map]
                i = bisect_right(offsets, pc - base) - 1
                return name, image.line_map[i][1] if i >= 0 else None
        return "", None

    def entry_sp(self) -> int:
        """The stack pointer the entry function starts with (a pushed return address below STACK_TOP)."""
        return layout.STACK_TOP - (self.machine.word_size if self.machine.link_reg is None else 0)

    def _guard_save_area(self, image: Image) -> None:
        """The interpreter's stack ends at the entry's r10; natively the entry's saved registers (and return
        address) lie above it. A BPF instruction writing there (through a copy of r10) faults as it does in the
        interpreter, at the interpreter's address (the same offset from its r10); only the frame setup/teardown
        (BPF index -1) may. Reads are left alone: selectors reload saved registers inside BPF instructions' code
        (riscv64 even inside r10-based loads), so a read through a copy of r10 above it is not caught here."""
        low = layout.STACK_TOP - image.frame_offset
        if image.frame_offset <= 0:
            return
        self.save_low = low

        def check(uc, access, address, size, _value, _user):
            if self.fault is not None:
                return
            pc = uc.reg_read(self.machine.pc)
            _, insn = self._locate(pc)
            if insn is not None and insn >= 0:
                at = address - low + layout.STACK_TOP  # the saved registers, above r10
                self.fault = RuntimeFault(f"invalid write of {size} bytes at 0x{at:x} (outside every mapped "
                                          "region)", insn=insn)
                uc.emu_stop()

        self.uc.hook_add(unicorn.UC_HOOK_MEM_WRITE, check, begin=low, end=layout.STACK_TOP - 1)

    def run(self, image: Image) -> int:
        m, uc = self.machine, self.uc
        program = self.program
        entry = self.load(program, image)
        self._guard_save_area(image)
        for _ in range(MAX_TAIL_CALLS + 2):
            sp = self.entry_sp()
            uc.reg_write(m.sp, sp)
            if m.link_reg is not None:
                uc.reg_write(m.link_reg, EXIT_ADDR)
            else:
                uc.mem_write(sp, EXIT_ADDR.to_bytes(m.word_size, "little"))
            for reg, value in zip(m.arg_regs, self.rt.entry_args):
                uc.reg_write(reg, value)
            try:
                uc.emu_start(entry, EXIT_ADDR)
            except unicorn.UcError as exc:
                if self.fault is not None:
                    fault, self.fault = self.fault, None
                    raise fault from None
                pc = uc.reg_read(m.pc)
                _, insn = self._locate(pc)
                raise RuntimeFault(f"{exc} at native address 0x{pc:x}", insn=insn) from None
            if self.fault is not None:
                fault, self.fault = self.fault, None
                pc = uc.reg_read(m.pc)
                if hasattr(fault, "at"):
                    raise fault.at(insn=self._locate(pc)[1])
                raise fault
            if self.rt.pending_tail_call is None:
                break
            program, self.rt.pending_tail_call = self.rt.pending_tail_call, None
            entry = self.load(program, self.rt.compile(program))
        r0 = uc.reg_read(m.ret_reg)
        self._to_runtime()
        return r0


def execute(machine: Machine, image: Image, rt, *, budget: int):
    """Run ``image`` (compiled from ``rt.program``) on ``machine`` against runtime ``rt``; returns a Result."""
    run = _Run(machine, rt, budget)
    r0 = run.run(image)
    top = run.entry_sp() - image.frame_offset
    stack = rt.memory.read(top - STACK_SIZE, STACK_SIZE)
    return rt.result(r0, stack=stack, insn_count=run.count)
