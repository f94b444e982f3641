"""Flat memory made of named regions; any other address faults."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from ...errors import RuntimeFault


@dataclass
class Region:
    name: str
    base: int
    buf: bytearray
    writable: bool = True

    @property
    def end(self) -> int:
        return self.base + len(self.buf)


def invalid_access(kind: str, size: int, addr: int) -> RuntimeFault:
    """The interpreter's fault for an access outside every region (``.access`` keeps its parts, so an executor
    whose addresses differ can report the interpreter's)."""
    fault = RuntimeFault(f"invalid {kind} of {size} bytes at 0x{addr:x} (outside every mapped region)")
    fault.access = (kind, size, addr)
    return fault


class Memory:
    def __init__(self) -> None:
        self.regions: list[Region] = []
        self._bases: list[int] = []

    def add(self, name: str, base: int, data: bytes | bytearray, writable: bool = True) -> Region:
        region = Region(name, base, bytearray(data), writable)
        i = bisect_right(self._bases, base)
        self.regions.insert(i, region)
        self._bases.insert(i, base)
        return region

    def region(self, addr: int, size: int, write: bool) -> tuple[Region, int]:
        i = bisect_right(self._bases, addr) - 1
        if i >= 0:
            region = self.regions[i]
            off = addr - region.base
            if off + size <= len(region.buf):
                if write and not region.writable:
                    raise RuntimeFault(f"write of {size} bytes to read-only {region.name} at 0x{addr:x}")
                return region, off
        raise invalid_access("write" if write else "read", size, addr)

    def read(self, addr: int, size: int) -> bytes:
        region, off = self.region(addr, size, False)
        return bytes(region.buf[off:off + size])

    def write(self, addr: int, data: bytes) -> None:
        region, off = self.region(addr, len(data), True)
        region.buf[off:off + len(data)] = data

    def load(self, addr: int, size: int, signed: bool = False) -> int:
        region, off = self.region(addr, size, False)
        return int.from_bytes(region.buf[off:off + size], "little", signed=signed)

    def store(self, addr: int, size: int, value: int) -> None:
        region, off = self.region(addr, size, True)
        region.buf[off:off + size] = (value & ((1 << (size * 8)) - 1)).to_bytes(size, "little")

    def cstring(self, addr: int, limit: int = 4096) -> bytes:
        out = bytearray()
        while len(out) < limit:
            byte = self.load(addr + len(out), 1)
            if byte == 0:
                break
            out.append(byte)
        return bytes(out)
