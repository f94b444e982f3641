"""The runtime every runner shares: memory layout, context, maps and helper implementations.

The interpreter and every emulated target run against the same ``Runtime``:
same addresses, same map objects, same helpers (one Python implementation
each), so their Results compare directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ...errors import LinkError, RuntimeFault
from ...front.program import MapType, Object, Program
from ...front.progtypes import prog_type as get_prog_type
from ...front.verify import FAULT_HELPER, FAULT_REASONS
from . import layout
from .maps import EINVAL, ENOENT, MapState, _neg
from .memory import Memory, Region

__all__ = ["HelperCall", "Memory", "Region", "Result", "Runtime", "layout"]

M64 = (1 << 64) - 1
ETH_HLEN = 14
MAX_TAIL_CALLS = 33
DEFAULT_PACKET = bytes(range(64))


@dataclass
class Result:
    r0: int
    packet: bytes | None
    maps: dict[str, dict[str, str | None]]
    trace: list[str]
    redirects: list[tuple[str, int, int]]
    stack: bytes
    insn_count: int
    prog_type: str
    ctx: dict[str, int] = field(default_factory=dict)
    #: context fields the program wrote (value differs from what the runtime set up)
    ctx_changed: dict[str, int] = field(default_factory=dict)

    @property
    def packet_len(self) -> int | None:
        return None if self.packet is None else len(self.packet)

    @property
    def return_name(self) -> str | None:
        return get_prog_type(self.prog_type).return_name(self.r0)

    def to_json(self) -> dict:
        return {"r0": self.r0, "return_name": self.return_name, "packet_len": self.packet_len, "maps": self.maps,
                "ctx": self.ctx_changed, "trace": self.trace, "redirects": [list(r) for r in self.redirects],
                "insn_count": self.insn_count}


class HelperCall:
    """What a helper implementation (:class:`bpfx.HelperImpl`) sees of the run: memory by address (the same
    regions on every target, so one implementation serves the interpreter and every executor), the maps and
    the trace. Every access outside the run's regions raises :class:`bpfx.RuntimeFault`."""

    def __init__(self, runtime: Runtime):
        self._rt = runtime
        self.program = runtime.program
        self.prog_type = runtime.ptype.name

    def read(self, addr: int, size: int) -> bytes:
        return self._rt.memory.read(addr, size)

    def write(self, addr: int, data: bytes) -> None:
        self._rt.memory.write(addr, data)

    def load(self, addr: int, size: int, signed: bool = False) -> int:
        return self._rt.memory.load(addr, size, signed)

    def store(self, addr: int, size: int, value: int) -> None:
        self._rt.memory.store(addr, size, value)

    def cstring(self, addr: int, limit: int = 4096) -> bytes:
        return self._rt.memory.cstring(addr, limit)

    @property
    def maps(self) -> dict[str, MapState]:
        """The run's maps by name (``lookup(key) -> value address or 0``, ``update``, ``delete``)."""
        return {s.mapdef.name: s for s in self._rt.maps}

    def map(self, handle: int) -> MapState:
        """The map a map-pointer argument refers to."""
        return self._rt._map(handle)

    def trace(self, line: str) -> None:
        self._rt.trace.append(line)


class Runtime:
    """Memory, maps, context and helpers of one run.

    The runner sets ``helper_table`` (the HelperTable an image was compiled with) and ``compile`` (program ->
    Image, for tail calls) before it hands the runtime to an :class:`bpfx.Executor`.
    """

    def __init__(self, program: Program, *, packet: bytes | None = None, mem: bytes | None = None,
                 ctx_layout: dict[str, tuple[int, int]] | None = None, obj: Object | None = None, map_init=None,
                 helper_impls: dict | None = None):
        self.program = program
        self.helper_impls = dict(helper_impls or {})  # id -> HelperImpl: the caller's, before the built-ins
        self.helper_table = None
        self.compile = None
        self.obj = obj
        self.ptype = get_prog_type(program.prog_type)
        self.memory = Memory()
        self.trace: list[str] = []
        self.redirects: list[tuple[str, int, int]] = []
        self.exit_requested = False
        self.pending_tail_call: Program | None = None
        #: applied to a tail call's target before it runs (the runner's safety mode: checked code stays checked)
        self.prepare = None
        self.tail_calls = 0
        self._clock = 1_000_000_000
        self._rng = random.Random(0x5EED)
        self.memory.add("stack", layout.STACK_BASE, bytes(layout.STACK_SIZE))
        self.stack_top = layout.STACK_TOP
        self.maps = [MapState(m, layout.MAP_BASE + i * layout.MAP_STRIDE, self.memory)
                     for i, m in enumerate(program.maps)]
        for name, entries in (map_init or {}).items():
            state = next(s for s in self.maps if s.mapdef.name == name)
            for key, value in entries.items():
                state.update(key, value, 0)
            state.start = state.snapshot()
        self.ctx_fields: dict[str, tuple[int, int]] = {}
        self.packet_region: Region | None = None
        if self.ptype.ctx_struct:
            self._setup_context(DEFAULT_PACKET if packet is None else packet, ctx_layout)
            self.entry_args = (layout.CTX_BASE, 0, 0, 0, 0)
        else:
            data = mem or b""
            self.memory.add("mem", layout.MEM_BASE, data)
            self.entry_args = (layout.MEM_BASE if data else 0, len(data), 0, 0, 0)

    # -- context ------------------------------------------------------------------------------------------------
    def _setup_context(self, packet: bytes, ctx_layout) -> None:
        if len(packet) > layout.MAX_PACKET:
            raise RuntimeFault(f"packet of {len(packet)} bytes is larger than {layout.MAX_PACKET}")
        self.ctx_fields = dict(ctx_layout if ctx_layout is not None else self.ptype.ctx_fields)
        self.memory.add("ctx", layout.CTX_BASE, bytes(layout.CTX_SIZE))
        self.state = {"ingress_ifindex": 1, "rx_queue_index": 0, "egress_ifindex": 0, "ifindex": 1, "pkt_type": 0}
        if not self.ptype.packet:  # tracing and socket-level contexts: no packet
            self.data = self.data_end = 0
            self._render(initial=True)
            self.ctx_start = self.ctx_values()
            return
        room = layout.PACKET_HEADROOM
        self.packet_region = self.memory.add("packet", layout.PACKET_BASE,
                                             bytes(room) + packet + bytes(layout.PACKET_TAILROOM))
        self.data = layout.PACKET_BASE + room
        self.data_end = self.data + len(packet)
        self.state["protocol"] = int.from_bytes(packet[12:14], "little") if len(packet) >= 14 else 0  # net order
        self._render(initial=True)
        self.ctx_start = self.ctx_values()

    def _render(self, initial: bool = False) -> None:
        """Write the context fields into ctx memory; after a helper, only the packet pointers and length."""
        values = {"data": self.data, "data_end": self.data_end, "data_meta": self.data,
                  "len": self.data_end - self.data} if self.ptype.packet else {}
        if initial:
            values = {**self.state, **values}
        for name, (off, size) in self.ctx_fields.items():
            if name in values:
                self.memory.store(layout.CTX_BASE + off, size, values[name])

    def ctx_values(self) -> dict[str, int]:
        return {name: self.memory.load(layout.CTX_BASE + off, size) for name, (off, size) in self.ctx_fields.items()
                if name not in ("data", "data_end", "data_meta")}

    # -- maps ---------------------------------------------------------------------------------------------------
    def map_address(self, index: int) -> int:
        return self.maps[index].handle

    def map_value_address(self, index: int) -> int:
        return self.maps[index].values_base

    def _map(self, handle: int) -> MapState:
        for state in self.maps:
            if state.handle == handle:
                return state
        raise RuntimeFault(f"0x{handle:x} is not a map")

    # -- helpers ------------------------------------------------------------------------------------------------
    def call_helper(self, helper_id: int, args: tuple[int, ...]) -> int:
        if helper_id == FAULT_HELPER:  # checked code: a run-time check failed (r1 = BPF insn, r2 = reason)
            reason = FAULT_REASONS[args[1]] if args[1] < len(FAULT_REASONS) else f"reason {args[1]}"
            raise RuntimeFault(f"checked: {reason} at insn {args[0]}", insn=args[0])
        custom = self.helper_impls.get(helper_id)
        if custom is not None:
            r0 = custom.fn(HelperCall(self), *(tuple(args) + (0,) * 5)[:5])
            if not isinstance(r0, int):
                raise RuntimeFault(f"helper {helper_id} ({custom.name}) returned {type(r0).__name__}, not an int")
            return r0 & M64
        proto = self.ptype.helper(helper_id)
        if proto is None:
            raise LinkError(f"helper {helper_id} is not available to {self.ptype.name} programs")
        impl = getattr(self, f"_h_{proto.name}", None)
        if impl is None:
            raise LinkError(f"helper {helper_id} ({proto.symbol}) is not implemented by the runtime")
        return impl(*args) & M64

    def _h_unwind(self, a1, *_):
        if a1 == 0:
            self.exit_requested = True
        return a1

    def _h_map_lookup_elem(self, handle, key, *_):
        state = self._map(handle)
        return state.lookup(self.memory.read(key, state.mapdef.key_size))

    def _h_map_update_elem(self, handle, key, value, flags, *_):
        state = self._map(handle)
        return state.update(self.memory.read(key, state.mapdef.key_size),
                            self.memory.read(value, state.mapdef.value_size), flags)

    def _h_map_delete_elem(self, handle, key, *_):
        state = self._map(handle)
        return state.delete(self.memory.read(key, state.mapdef.key_size))

    def _h_ktime_get_ns(self, *_):
        self._clock += 1000
        return self._clock

    def _h_get_prandom_u32(self, *_):
        return self._rng.getrandbits(32)

    def _h_get_smp_processor_id(self, *_):
        return 0

    def _h_trace_printk(self, fmt, size, a3, a4, a5):
        text = self.memory.read(fmt, size).split(b"\0", 1)[0].decode("latin-1")
        line = _format(text, [a3, a4, a5], self.memory)
        self.trace.append(line.rstrip("\n"))
        return len(line)

    def _h_xdp_adjust_head(self, ctx, delta, *_):
        delta = _s32(delta)
        new = self.data + delta
        if new < self.packet_region.base or new > self.data_end - ETH_HLEN:
            return _neg(EINVAL)
        self.data = new
        self._render()
        return 0

    def _h_xdp_adjust_tail(self, ctx, delta, *_):
        delta = _s32(delta)
        new = self.data_end + delta
        if new < self.data + ETH_HLEN or new > self.packet_region.end:
            return _neg(EINVAL)
        if new > self.data_end:
            self.memory.write(self.data_end, bytes(new - self.data_end))
        self.data_end = new
        self._render()
        return 0

    def _h_redirect(self, ifindex, flags, *_):
        self.redirects.append(("ifindex", ifindex & 0xFFFFFFFF, flags))
        return 4 if self.ptype.name == "xdp" else 7  # XDP_REDIRECT / TC_ACT_REDIRECT

    def _h_redirect_map(self, handle, key, flags, *_):
        state = self._map(handle)
        if state.lookup((key & 0xFFFFFFFF).to_bytes(4, "little")) == 0:
            return flags & 3
        self.redirects.append((state.mapdef.name, key & 0xFFFFFFFF, flags))
        return 4

    def _h_tail_call(self, ctx, handle, index, *_):
        state = self._map(handle)
        if state.mapdef.type != MapType.PROG_ARRAY:
            return _neg(EINVAL)
        index &= 0xFFFFFFFF
        if index >= state.mapdef.max_entries or self.tail_calls >= MAX_TAIL_CALLS:
            return _neg(ENOENT)
        name = dict(state.mapdef.values).get(index)
        target = None
        if name is not None and self.obj is not None:
            target = next((p for p in self.obj.programs if name in (p.name, p.section)), None)
        if target is None:
            return _neg(ENOENT)
        self.tail_calls += 1
        self.pending_tail_call = self.prepare(target) if self.prepare is not None else target
        return 0

    # -- results ------------------------------------------------------------------------------------------------
    def result(self, r0: int, *, stack: bytes, insn_count: int) -> Result:
        packet = self.memory.read(self.data, self.data_end - self.data) if self.packet_region else None
        maps = {s.mapdef.name: ch for s in self.maps if (ch := s.changes())}
        ctx = self.ctx_values() if self.ctx_fields else {}
        changed = {k: v for k, v in ctx.items() if self.ctx_start.get(k) != v} if ctx else {}
        return Result(r0 & M64, packet, maps, list(self.trace), list(self.redirects), stack, insn_count,
                      self.ptype.name, ctx, changed)


def _s32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x & 0x80000000 else x


def _format(fmt: str, args: list[int], memory: Memory) -> str:
    """The subset of printf trace_printk supports: %d %i %u %x %X %c %s %p with l/ll, and %%."""
    out, i, n = [], 0, 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        j = i + 1
        while j < len(fmt) and fmt[j] in "-0123456789":
            j += 1
        longs = 0
        while j < len(fmt) and fmt[j] == "l":
            longs += 1
            j += 1
        conv = fmt[j] if j < len(fmt) else ""
        if conv == "%":
            out.append("%")
        elif n < len(args) and conv in "diuxXcsp":
            v = args[n]
            n += 1
            bits = 64 if longs else 32
            v &= (1 << bits) - 1
            if conv in "di":
                out.append(str(v - (1 << bits) if v >> (bits - 1) else v))
            elif conv == "u":
                out.append(str(v))
            elif conv in "xX":
                out.append(format(v, conv))
            elif conv == "c":
                out.append(chr(v & 0xFF))
            elif conv == "p":
                out.append(f"0x{args[n - 1]:x}")
            else:
                out.append(memory.cstring(args[n - 1]).decode("latin-1"))
        else:
            out.append(fmt[i:j + 1])
        i = j + 1
    return "".join(out)
