"""The Emitter: where selectors put native code.

It keeps one flat ``bytearray`` plus side tables: labels, branches, relocations
and the BPF -> native line map. Branches are emitted at their shortest form;
``finish()`` then relaxes only the branches that are out of range (promoting
them to the next, longer form, to a fixpoint) and shifts every position after
them, so no instruction is ever emitted twice.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cache

import numpy as np

from ..errors import Unsupported
from .target import LineMap, Reloc

_PACK32 = struct.Struct("<I").pack

#: encode(offset in bytes from the branch's first byte) -> bytes of exactly `size`, or None when out of range
BranchEncoder = Callable[[int], "bytes | None"]


@dataclass(frozen=True)
class BranchForm:
    size: int
    encode: BranchEncoder


#: the line-map index (``Emitter.mark``) of prologue/epilogue code
FRAME = -1
#: the line-map index of bytes that are data, not instructions (a constant pool after the last function's code):
#: listings show them as data and instruction counts skip them
DATA = -2

_START = ("emitter", "start")  # a label at offset 0, which nothing moves: what ``align`` measures from


@cache
def _pad_forms(n: int, first: int) -> tuple[BranchForm, ...]:
    """Padding of ``first`` (1..n: what aligns it where it was emitted) to first + 256n zero bytes, as branch
    forms to offset 0, the smallest that ends on a multiple of n: each relaxation round that moves it may need up
    to n - 1 more bytes (forms never shrink)."""
    def form(size: int) -> BranchForm:
        return BranchForm(size, lambda off: bytes(size) if (size - off) % n == 0 else None)

    return tuple(form(size) for size in range(first, first + 256 * n))


class Emitter:
    __slots__ = ("_finished", "branches", "code", "labels", "line_indices", "line_offsets", "relocs")
    FRAME, DATA = FRAME, DATA  # the special line-map indices, for plugins (which see only bpfx's API)

    def __init__(self) -> None:
        self.code = bytearray()
        self.labels: dict[Hashable, int] = {}
        # [position, form index, label, forms]
        self.branches: list[list] = []
        self.relocs: list[tuple[int, int, str, int, str]] = []
        # the BPF -> native line map: where the code for each BPF instruction index starts (see mark)
        self.line_offsets: list[int] = []
        self.line_indices: list[int] = []
        self._finished = False

    @property
    def pos(self) -> int:
        return len(self.code)

    def emit32(self, word: int) -> None:
        self.code += _PACK32(word & 0xFFFFFFFF)

    def emit(self, data: bytes) -> None:
        self.code += data

    def bind(self, label: Hashable) -> None:
        """Place ``label`` at the current position."""
        self.labels[label] = len(self.code)

    def mark(self, bpf_index: int) -> None:
        """Record that the code for BPF instruction ``bpf_index`` starts here."""
        self.line_offsets.append(len(self.code))
        self.line_indices.append(bpf_index)

    def branch(self, label: Hashable, forms: tuple[BranchForm, ...]) -> None:
        """A branch to ``label``; ``forms`` from shortest to longest."""
        self.branches.append([len(self.code), 0, label, forms])
        self.code += bytes(forms[0].size)

    def align(self, n: int) -> None:
        """Pad with zero bytes (at least one) so that what follows starts on a multiple of ``n`` in the final
        code, whatever relaxation does before it: for data after the code (``mark(DATA)`` first), never for code
        that runs."""
        self.labels[_START] = 0
        # right unless something before it grows; never empty, so a label bound after it stays after it
        self.branch(_START, _pad_forms(n, -len(self.code) % n or n))

    def reloc(self, type_: int, symbol: str, addend: int = 0, kind: str = "helper", at: int | None = None) -> None:
        """Record a relocation at ``at`` (default: the current position, i.e. the next instruction)."""
        self.relocs.append((len(self.code) if at is None else at, type_, symbol, addend, kind))

    def finish(self) -> tuple[bytes, tuple[Reloc, ...], dict[Hashable, int], LineMap]:
        """Resolve branches (relaxing those out of range) and return (code, relocs, labels, line map)."""
        assert not self._finished
        self._finished = True
        branches, labels = self.branches, self.labels
        grown: list[tuple[int, int]] = []  # (original position, extra bytes), ascending by position

        def moved(p: int) -> int:  # original position -> final position
            i = bisect_right(grown_pos, p - 1) if grown_pos else 0
            return p + (grown_sum[i - 1] if i else 0)

        grown_pos: list[int] = []
        grown_sum: list[int] = []
        encoded: list = [None] * len(branches)  # the bytes of each branch, once something has grown
        code = self.code

        def relax(br: list, offset: int) -> bytes:  # the next form that reaches, recorded in the branch
            forms, data = br[3], None
            while data is None:
                br[1] += 1
                if br[1] == len(forms):
                    raise Unsupported(f"branch of {offset} bytes is out of range of every branch form")
                data = forms[br[1]].encode(offset)
            return data

        changed = False
        for i, br in enumerate(branches):  # the first round, where nothing has moved yet: the common case
            pos, _idx, label, forms = br
            try:
                offset = labels[label] - pos
            except KeyError:
                raise Unsupported(f"internal: branch to unbound label {label!r}") from None
            data = forms[0].encode(offset)
            if data is None:
                encoded[i] = relax(br, offset)
                changed = True
            else:  # in place, where it stays unless something grows
                code[pos:pos + len(data)] = data
        while changed:
            grown = [(br[0], br[3][br[1]].size - br[3][0].size) for br in branches if br[1]]
            grown_pos = [g[0] for g in grown]
            grown_sum = []
            total = 0
            for _, extra in grown:
                total += extra
                grown_sum.append(total)
            changed = False
            for i, br in enumerate(branches):
                pos, idx, label, forms = br
                offset = moved(labels[label]) - moved(pos)
                data = forms[idx].encode(offset)
                if data is None:
                    data = relax(br, offset)
                    changed = True
                encoded[i] = data

        if grown:  # rebuild with the growth, then place every branch as the last round encoded it
            out = bytearray()
            prev = 0
            for pos, extra in grown:
                out += code[prev:pos]
                out += bytes(extra)
                prev = pos
            out += code[prev:]
            code = out
            for (pos, _idx, _label, _forms), data in zip(branches, encoded):
                start = moved(pos)  # a grown branch's extra bytes were inserted at its own position
                code[start:start + len(data)] = data
        offsets = self.line_offsets
        if grown:  # labels and line-map positions move by the growth before them: shifted all at once
            before = np.concatenate(([0], np.array(grown_sum, dtype=np.int64)))

            def shifted(positions: list[int]) -> list[int]:
                where = np.array(positions, dtype=np.int64)
                return (where + before[np.searchsorted(grown_pos, where)]).tolist()

            final_labels = dict(zip(labels, shifted(list(labels.values()))))
            offsets = shifted(offsets)
        else:
            final_labels = dict(labels)
        relocs = tuple(Reloc(moved(p), t, s, a, k) for p, t, s, a, k in self.relocs)
        lines = LineMap(offsets, self.line_indices)
        return bytes(code), relocs, final_labels, lines
