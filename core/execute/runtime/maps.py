"""Map objects whose values live in the runtime's Memory, so programs read and write them by pointer."""

from __future__ import annotations

from collections import OrderedDict

from ...errors import LinkError
from ...front.program import MapDef, MapType
from . import layout
from .memory import Memory

EEXIST, ENOENT, EINVAL, E2BIG = 17, 2, 22, 7
BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2
VALUES_OFFSET = 0x1000  # the map handle sits at the region base, values from here on
# Hash-like maps (hash, LRU, LPM, ringbuf, ...) hold at most this many entries in an emulated run: real objects
# declare hundreds of thousands (cilium's NAT tables), which one run never fills; arrays keep every entry.
HASH_CAPACITY = 1024


def _neg(errno: int) -> int:
    return (-errno) & 0xFFFF_FFFF_FFFF_FFFF


class MapState:
    def __init__(self, mapdef: MapDef, base: int, memory: Memory):
        self.mapdef = mapdef
        self.handle = base
        self.stride = (mapdef.value_size + 7) & ~7 or 8
        self.values_base = base + VALUES_OFFSET
        self.memory = memory
        kind = mapdef.type
        self.is_array = kind in (MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY)
        slots = max(mapdef.max_entries, 1) if self.is_array else max(min(mapdef.max_entries, HASH_CAPACITY), 1)
        need = VALUES_OFFSET + slots * self.stride
        if need > layout.MAX_MAP_BYTES or mapdef.key_size > layout.MAX_MAP_BYTES:
            raise LinkError(f"map {mapdef.name!r} needs {need} bytes ({slots} entries of "
                            f"{mapdef.value_size} bytes); the runtime's limit is {layout.MAX_MAP_BYTES} bytes a map")
        memory.add(f"map {mapdef.name}", base, bytes(need))
        self.slots: OrderedDict[bytes, int] = OrderedDict()  # key -> slot (hash maps; order = recency)
        self.free = list(range(slots - 1, -1, -1))
        self.lru = kind == MapType.LRU_HASH
        if self.is_array and mapdef.initial is not None:
            memory.write(self.values_base, mapdef.initial[:mapdef.value_size])
        self.start = self.snapshot()

    def slot_address(self, slot: int) -> int:
        return self.values_base + slot * self.stride

    def _index(self, key: bytes) -> int | None:
        index = int.from_bytes(key[:4], "little")
        return index if index < self.mapdef.max_entries else None

    def lookup(self, key: bytes) -> int:
        """The address of the value for ``key``, or 0."""
        if self.is_array:
            index = self._index(key)
            return 0 if index is None else self.slot_address(index)
        slot = self.slots.get(key)
        if slot is None:
            return 0
        if self.lru:
            self.slots.move_to_end(key)
        return self.slot_address(slot)

    def update(self, key: bytes, value: bytes, flags: int) -> int:
        if flags > BPF_EXIST:
            return _neg(EINVAL)
        if self.is_array:
            index = self._index(key)
            if index is None:
                return _neg(E2BIG)
            if flags == BPF_NOEXIST:
                return _neg(EEXIST)
            self.memory.write(self.slot_address(index), value)
            return 0
        slot = self.slots.get(key)
        if slot is None:
            if flags == BPF_EXIST:
                return _neg(ENOENT)
            if not self.free:
                if not self.lru:
                    return _neg(E2BIG)
                _, victim = self.slots.popitem(last=False)
                self.free.append(victim)
            slot = self.free.pop()
            self.slots[key] = slot
        elif flags == BPF_NOEXIST:
            return _neg(EEXIST)
        else:
            self.slots.move_to_end(key)
        self.memory.write(self.slot_address(slot), value)
        return 0

    def delete(self, key: bytes) -> int:
        if self.is_array:
            return _neg(EINVAL)
        slot = self.slots.pop(key, None)
        if slot is None:
            return _neg(ENOENT)
        self.free.append(slot)
        self.memory.write(self.slot_address(slot), bytes(self.stride))
        return 0

    def entries(self) -> dict[bytes, bytes]:
        size = self.mapdef.value_size
        if self.is_array:
            return {i.to_bytes(4, "little"): self.memory.read(self.slot_address(i), size)
                    for i in range(self.mapdef.max_entries)}
        return {k: self.memory.read(self.slot_address(s), size) for k, s in self.slots.items()}

    def snapshot(self):
        if self.is_array:  # one read of the whole value area: big arrays are compared slot by slot only if changed
            return self.memory.read(self.values_base, self.mapdef.max_entries * self.stride)
        return self.entries()

    def changes(self) -> dict[str, str | None]:
        if self.is_array:
            now_raw = self.snapshot()
            if now_raw == self.start:
                return {}
            size, stride = self.mapdef.value_size, self.stride
            # only the slots from the first to the last differing byte (found in C: the XOR of both as ints)
            diff = int.from_bytes(now_raw, "little") ^ int.from_bytes(self.start, "little")
            first, last = ((diff & -diff).bit_length() - 1) // 8 // stride, (diff.bit_length() - 1) // 8 // stride
            return {i.to_bytes(4, "little").hex(): now_raw[i * stride:i * stride + size].hex()
                    for i in range(first, min(last + 1, self.mapdef.max_entries))
                    if now_raw[i * stride:i * stride + size] != self.start[i * stride:i * stride + size]}
        now = self.entries()
        out: dict[str, str | None] = {}
        for key, value in now.items():
            if self.start.get(key) != value:
                out[key.hex()] = value.hex()
        for key in self.start:
            if key not in now:
                out[key.hex()] = None
        return out
