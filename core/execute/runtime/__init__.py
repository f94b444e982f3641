"""The runtime every runner shares: memory layout, context, maps and helper implementations.

The interpreter and every emulated target run against the same ``Runtime``:
same addresses, same map objects, same helpers (one Python implementation
each), so their Results compare directly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ...errors import LinkError, RuntimeFault, Unsupported
from ...front.program import MapType, Object, Program
from ...front.progtypes import prog_type as get_prog_type
from ...front.verify import FAULT_HELPER, FAULT_REASONS
from . import layout
from .maps import E2BIG, EINVAL, ENOENT, MapState, _neg
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
    #: (map name, bytes) records the program emitted: bpf_ringbuf_output/submit, bpf_perf_event_output
    output: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def packet_len(self) -> int | None:
        return None if self.packet is None else len(self.packet)

    @property
    def return_name(self) -> str | None:
        return get_prog_type(self.prog_type).return_name(self.r0)

    def to_json(self) -> dict:
        return {"r0": self.r0, "return_name": self.return_name, "packet_len": self.packet_len, "maps": self.maps,
                "ctx": self.ctx_changed, "trace": self.trace, "redirects": [list(r) for r in self.redirects],
                "insn_count": self.insn_count, "output": [[name, data.hex()] for name, data in self.output]}


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


_FIRST_CTX: dict[tuple, tuple[bytes, dict]] = {}  # (type, packet length, protocol) -> (ctx bytes, ctx_start)


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
        self.output: list[tuple[str, bytes]] = []
        self._records: dict[int, tuple[str, int]] = {}  # ringbuf record address -> (map name, size)
        self._reserved = self._scratches = 0
        #: calls a BPF_PSEUDO_FUNC callback (address, args) -> r0; set by executors that can (the interpreter)
        self.invoke = None
        self._clock = 1_000_000_000
        self._rng_state: random.Random | None = None  # seeded on first use: seeding costs more than a host run
        self.memory.add("stack", layout.STACK_BASE, bytes(layout.STACK_SIZE))
        self.stack_top = layout.STACK_TOP
        if len(program.maps) > layout.MAX_MAPS:
            raise LinkError(f"{len(program.maps)} maps; the runtime holds at most {layout.MAX_MAPS}")
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
        # exactly the struct: an access past its end faults (the kernel refuses it at load time) instead of
        # reading zeros on the interpreter while a native target cannot place the field
        size = self.ptype.ctx_size if ctx_layout is None else self.ptype.device_ctx_size
        size = max([size] + [off + width for off, width in self.ctx_fields.values()]) or layout.CTX_SIZE
        self.state = {"ingress_ifindex": 1, "rx_queue_index": 0, "egress_ifindex": 0, "ifindex": 1, "pkt_type": 0}
        if not self.ptype.packet:  # tracing and socket-level contexts: no packet
            self.data = self.data_end = self.data_meta = 0
        else:
            room = layout.PACKET_HEADROOM
            self.packet_region = self.memory.add("packet", layout.PACKET_BASE,
                                                 bytes(room) + packet + bytes(layout.PACKET_TAILROOM))
            self.data = self.data_meta = layout.PACKET_BASE + room
            self.data_end = self.data + len(packet)
            self.state["protocol"] = int.from_bytes(packet[12:14], "little") if len(packet) >= 14 else 0  # net order
        # The first context depends only on the type, the packet's length and protocol (with the UAPI layout):
        # rendered once per such key, copied after
        key = (self.ptype.name, self.data_end - self.data, self.state.get("protocol")) if ctx_layout is None else None
        hit = _FIRST_CTX.get(key) if key is not None else None
        if hit is not None:
            self._ctx = self.memory.add("ctx", layout.CTX_BASE, hit[0]).buf
            self.ctx_start = dict(hit[1])
            return
        self._ctx = self.memory.add("ctx", layout.CTX_BASE, bytes(min(size, layout.CTX_SIZE))).buf
        self._render(initial=True)
        self.ctx_start = self.ctx_values()
        if key is not None:
            if len(_FIRST_CTX) >= 256:
                _FIRST_CTX.clear()
            _FIRST_CTX[key] = (bytes(self._ctx), dict(self.ctx_start))

    def _render(self, initial: bool = False) -> None:
        """Write the context fields into ctx memory; after a helper, only the packet pointers and length."""
        values = {"data": self.data, "data_end": self.data_end, "data_meta": self.data_meta,
                  "len": self.data_end - self.data} if self.ptype.packet else {}
        if initial:
            values = {**self.state, **values}
        buf = self._ctx
        for name, (off, size) in self.ctx_fields.items():
            if name in values:
                if 0 <= off and off + size <= len(buf):  # straight into the ctx buffer (the common case, faster)
                    buf[off:off + size] = (values[name] & ((1 << 8 * size) - 1)).to_bytes(size, "little")
                else:
                    self.memory.store(layout.CTX_BASE + off, size, values[name])  # the memory's own fault

    def ctx_values(self) -> dict[str, int]:
        buf, skip = self._ctx, self.ptype.pointers
        return {name: (int.from_bytes(buf[off:off + size], "little") if 0 <= off and off + size <= len(buf)
                       else self.memory.load(layout.CTX_BASE + off, size))
                for name, (off, size) in self.ctx_fields.items()
                if name not in skip and name not in ("data", "data_end", "data_meta")}

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
            from ...back.legalize import CALLX_FAULT

            if args[1] == CALLX_FAULT:  # the interpreter's error for the same callx
                raise LinkError(f"helper {args[2]} is not available to {self.ptype.name} programs", insn=args[0])
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
        if self._rng_state is None:
            self._rng_state = random.Random(0x5EED)
        return self._rng_state.getrandbits(32)

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
        self.data = self.data_meta = new  # as the kernel: moving data drops the metadata
        self._render()
        return 0

    def _h_xdp_adjust_tail(self, ctx, delta, *_):
        delta = _s32(delta)
        new = self.data_end + delta
        if new < self.data + ETH_HLEN or new > self.packet_region.end:
            return _neg(EINVAL)
        return self._move_end(new)

    def _h_xdp_adjust_meta(self, ctx, delta, *_):
        """Metadata lives in the headroom right before data: at most 32 bytes, in 4-byte steps."""
        new = self.data_meta + _s32(delta)
        if new < self.packet_region.base or new > self.data or (self.data - new) % 4 or self.data - new > 32:
            return _neg(EINVAL)
        self.data_meta = new
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

    # -- packets (__sk_buff programs) ------------------------------------------------------------------------
    def _packet_span(self, off: int, size: int) -> int | None:
        """The address of [data + off, data + off + size) if it lies in the packet, else None."""
        off, size = off & 0xFFFFFFFF, size & 0xFFFFFFFF
        if self.packet_region is None or self.data + off + size > self.data_end:
            return None
        return self.data + off

    def _h_skb_load_bytes(self, skb, off, to, size, *_):
        at = self._packet_span(off, size)
        if at is None or not 0 < (size & 0xFFFFFFFF):
            return _neg(EFAULT)
        self.memory.write(to, self.memory.read(at, size & 0xFFFFFFFF))
        return 0

    def _h_skb_load_bytes_relative(self, skb, off, to, size, start, *_):
        if start & 0xFFFFFFFF != 0:  # BPF_HDR_START_MAC only: the runtime does not parse network headers
            return _neg(EINVAL)
        return self._h_skb_load_bytes(skb, off, to, size)

    def _h_skb_store_bytes(self, skb, off, src, size, flags):
        at = self._packet_span(off, size)
        if at is None or flags & ~0x3:  # BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH
            return _neg(EFAULT if at is None else EINVAL)
        self.memory.write(at, self.memory.read(src, size & 0xFFFFFFFF))
        return 0

    def _h_csum_diff(self, src, src_size, dst, dst_size, seed):
        """The 32-bit one's-complement sum seed + to - from (any representation folds to the kernel's)."""
        src_size, dst_size = src_size & 0xFFFFFFFF, dst_size & 0xFFFFFFFF
        if src_size % 4 or dst_size % 4 or src_size + dst_size > 512 or (src_size and not src) or \
                (dst_size and not dst):
            return _neg(EINVAL)
        acc = seed & 0xFFFFFFFF
        words = [~w & 0xFFFFFFFF for w in _words(self.memory.read(src, src_size))] if src_size else []
        words += _words(self.memory.read(dst, dst_size)) if dst_size else []
        for w in words:
            acc += w
            acc = (acc & 0xFFFFFFFF) + (acc >> 32)
        return acc

    def _csum_replace(self, off: int, old: int, new: int, size: int, l4_flags: int | None) -> int:
        at = self._packet_span(off, 2)
        if at is None:
            return _neg(EFAULT)
        csum = self.memory.load(at, 2)
        if l4_flags is not None and l4_flags & 0x20 and csum == 0:  # BPF_F_MARK_MANGLED_0: UDP "no checksum"
            return 0
        if size == 0:  # ``new`` is a csum_diff result
            if old:
                return _neg(EINVAL)
            acc = (~csum & 0xFFFF) + _fold32(new)
        elif size in (2, 4):
            mask = (1 << (8 * size)) - 1
            acc = (~csum & 0xFFFF) + _fold32(~old & mask) + _fold32(new & mask)
        else:
            return _neg(EINVAL)
        result = ~_fold16(acc) & 0xFFFF
        if l4_flags is not None and l4_flags & 0x20 and result == 0:
            result = 0xFFFF  # CSUM_MANGLED_0
        self.memory.store(at, 2, result)
        return 0

    def _h_l3_csum_replace(self, skb, off, old, new, flags):
        if flags & ~0xF:
            return _neg(EINVAL)
        return self._csum_replace(off, old, new, flags & 0xF, None)

    def _h_l4_csum_replace(self, skb, off, old, new, flags):
        if flags & ~0x3F:  # size, BPF_F_PSEUDO_HDR, BPF_F_MARK_MANGLED_0
            return _neg(EINVAL)
        return self._csum_replace(off, old, new, flags & 0xF, flags)

    def _h_skb_change_head(self, skb, head, flags, *_):
        head &= 0xFFFFFFFF
        if flags or self.data - head < self.packet_region.base:
            return _neg(EINVAL)
        self.data -= head
        self.data_meta = self.data
        self.memory.write(self.data, bytes(head))
        self._render()
        return 0

    def _h_skb_change_tail(self, skb, length, flags, *_):
        new = self.data + (length & 0xFFFFFFFF)
        if flags or new > self.packet_region.end or new < self.data + ETH_HLEN:
            return _neg(EINVAL)
        return self._move_end(new)

    def _move_end(self, new: int) -> int:
        """The packet ends at ``new`` (checked by the caller); bytes it grows by read as zero."""
        if new > self.data_end:
            self.memory.write(self.data_end, bytes(new - self.data_end))
        self.data_end = new
        self._render()
        return 0

    def _h_skb_pull_data(self, skb, length, *_):
        return 0 if length & 0xFFFFFFFF <= self.data_end - self.data else _neg(EINVAL)

    def _h_clone_redirect(self, skb, ifindex, flags, *_):
        self.redirects.append(("clone", ifindex & 0xFFFFFFFF, flags))
        return 0

    def _h_redirect_peer(self, ifindex, flags, *_):
        self.redirects.append(("peer", ifindex & 0xFFFFFFFF, flags))
        return 7  # TC_ACT_REDIRECT

    def _h_redirect_neigh(self, ifindex, params, plen, flags):
        self.redirects.append(("neigh", ifindex & 0xFFFFFFFF, flags))
        return 7

    # -- output --------------------------------------------------------------------------------------------
    def _h_perf_event_output(self, ctx, handle, flags, data, size):
        self.output.append((self._map(handle).mapdef.name, self.memory.read(data, size & 0xFFFFFFFF)))
        return 0

    _h_skb_output = _h_perf_event_output
    _h_xdp_output = _h_perf_event_output

    def _h_ringbuf_output(self, handle, data, size, flags, *_):
        self.output.append((self._map(handle).mapdef.name, self.memory.read(data, size & 0xFFFFFFFF)))
        return 0

    def _h_ringbuf_reserve(self, handle, size, flags, *_):
        state = self._map(handle)
        size &= 0xFFFFFFFF
        if flags or size == 0 or size > state.mapdef.max_entries:
            return 0
        self._reserved += 1
        addr = layout.OUTPUT_BASE + 0x1000 * self._reserved
        self.memory.add(f"ringbuf record {len(self._records)}", addr, bytes(size))
        self._records[addr] = (state.mapdef.name, size)
        return addr

    def _h_ringbuf_submit(self, data, flags, *_):
        name, size = self._records.pop(data, (None, 0))
        if name is None:
            raise RuntimeFault(f"bpf_ringbuf_submit of 0x{data:x}, which bpf_ringbuf_reserve did not return")
        self.output.append((name, self.memory.read(data, size)))
        return 0

    def _h_ringbuf_discard(self, data, flags, *_):
        if self._records.pop(data, None) is None:
            raise RuntimeFault(f"bpf_ringbuf_discard of 0x{data:x}, which bpf_ringbuf_reserve did not return")
        return 0

    # -- callbacks -------------------------------------------------------------------------------------------
    def _callback(self, fn: int, args: tuple[int, ...]) -> int:
        if self.invoke is None:
            raise Unsupported("helpers with callbacks (bpf_loop, bpf_for_each_map_elem) run on the interpreter "
                              "only")
        return self.invoke(fn, args)

    def _h_loop(self, nr, fn, ctx, flags, *_):
        nr &= 0xFFFFFFFF
        if flags or nr > 1 << 23:  # BPF_MAX_LOOPS
            return _neg(E2BIG if nr > 1 << 23 else EINVAL)
        for i in range(nr):
            if self._callback(fn, (i, ctx)) & 0xFFFFFFFFFFFFFFFF:
                return i + 1
        return nr

    def _h_for_each_map_elem(self, handle, fn, ctx, flags, *_):
        state = self._map(handle)
        if flags:
            return _neg(EINVAL)
        done = 0
        for key in list(state.entries()):
            value = state.lookup(key)
            if not value:
                continue
            key_addr = self._scratch(key)
            done += 1
            if self._callback(fn, (handle, key_addr, value, ctx)):
                break
        return done

    def _scratch(self, data: bytes) -> int:
        """A read-only copy of ``data`` the program may read (a map key handed to a callback)."""
        self._scratches += 1
        addr = layout.OUTPUT_BASE + 0x1000 * (0x800 + self._scratches)
        self.memory.add("callback key", addr, data, writable=False)
        return addr

    # -- tracing ----------------------------------------------------------------------------------------------
    def _h_get_current_pid_tgid(self, *_):
        return (EMULATED_TGID << 32) | EMULATED_PID

    def _h_get_current_uid_gid(self, *_):
        return 0  # root

    def _h_get_current_comm(self, buf, size, *_):
        size &= 0xFFFFFFFF
        self.memory.write(buf, (b"bpfx" + bytes(size))[:size])
        return 0

    def _h_get_current_task(self, *_):
        return self._kernel_object()

    _h_get_current_task_btf = _h_get_current_task

    def _kernel_object(self) -> int:
        if not any(r.base == layout.KERNEL_BASE for r in self.memory.regions):
            self.memory.add("kernel object", layout.KERNEL_BASE, bytes(0x1000), writable=False)
        return layout.KERNEL_BASE

    def _h_probe_read_kernel(self, dst, size, src, *_):
        """Reads of the run's own regions succeed; anything else is -EFAULT with dst zeroed, as in the kernel."""
        size &= 0xFFFFFFFF
        try:
            data = self.memory.read(src, size)
        except RuntimeFault:
            self.memory.write(dst, bytes(size))
            return _neg(EFAULT)
        self.memory.write(dst, data)
        return 0

    _h_probe_read = _h_probe_read_kernel
    _h_probe_read_user = _h_probe_read_kernel

    def _h_probe_read_kernel_str(self, dst, size, src, *_):
        size &= 0xFFFFFFFF
        if size == 0:
            return 0
        try:
            text = self.memory.cstring(src, size - 1)
        except RuntimeFault:
            self.memory.write(dst, bytes(size))
            return _neg(EFAULT)
        self.memory.write(dst, text + b"\0")
        return len(text) + 1

    _h_probe_read_str = _h_probe_read_kernel_str
    _h_probe_read_user_str = _h_probe_read_kernel_str

    def _h_ktime_get_boot_ns(self, *_):
        return self._h_ktime_get_ns()

    _h_ktime_get_coarse_ns = _h_ktime_get_boot_ns
    _h_ktime_get_tai_ns = _h_ktime_get_boot_ns

    def _h_jiffies64(self, *_):
        return self._clock // 4_000_000  # HZ=250

    def _h_get_numa_node_id(self, *_):
        return 0

    # -- locks: one CPU, nothing to wait for --------------------------------------------------------------
    def _h_spin_lock(self, lock, *_):
        return 0

    _h_spin_unlock = _h_spin_lock

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
                      self.ptype.name, ctx, changed, list(self.output))


EFAULT = 14
EMULATED_PID = EMULATED_TGID = 4242  # what get_current_pid_tgid reports for the emulated task


def _words(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]


def _fold32(x: int) -> int:
    """A 32-bit value as the sum of its 16-bit halves (one's-complement arithmetic)."""
    return (x & 0xFFFF) + ((x >> 16) & 0xFFFF)


def _fold16(x: int) -> int:
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


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
