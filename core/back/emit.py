"""The Emitter: where selectors put native code.

It keeps one flat ``bytearray`` plus side tables: labels, branches, relocations
and the BPF -> native line map. Branches are emitted at their shortest form;
``finish()`` then relaxes only the branches that are out of range (promoting
them to the next, longer form, to a fixpoint) and shifts every position after
them, so no instruction is ever emitted twice.
"""

from __future__ import annotations

import struct
from array import array
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
    #: optional, for a form that is often first (shortest): ``place(offsets) -> (reach, bits)`` for a NumPy int64
    #: array of offsets, where ``reach`` says which offsets the form takes and, for those, ``base | bits`` is the
    #: little-endian value of exactly the bytes ``encode`` gives. ``finish`` places all the branches whose first
    #: form has one at once (grouped by ``place``, so forms sharing it must share their size), which is most of
    #: them in a large program.
    base: int = 0
    place: Callable | None = None


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
    __slots__ = ("_finished", "branch_at", "branch_forms", "branch_to", "code", "labels", "line_indices",
                 "line_offsets", "relocs")
    FRAME, DATA = FRAME, DATA  # the special line-map indices, for plugins (which see only bpfx's API)

    def __init__(self) -> None:
        self.code = bytearray()
        self.labels: dict[Hashable, int] = {}
        # the branches, as three lists (no record per branch): position, label, forms
        self.branch_at: list[int] = []
        self.branch_to: list[Hashable] = []
        self.branch_forms: list[tuple[BranchForm, ...]] = []
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
        self.branch_at.append(len(self.code))
        self.branch_to.append(label)
        self.branch_forms.append(forms)
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
        at, all_forms, labels = self.branch_at, self.branch_forms, self.labels
        n = len(at)
        try:
            targets = list(map(labels.__getitem__, self.branch_to))
        except KeyError as err:
            raise Unsupported(f"internal: branch to unbound label {err.args[0]!r}") from None
        grown: list[tuple[int, int]] = []  # (original position, extra bytes), ascending by position

        def moved(p: int) -> int:  # original position -> final position
            i = bisect_right(grown_pos, p - 1) if grown_pos else 0
            return p + (grown_sum[i - 1] if i else 0)

        grown_pos: list[int] = []
        grown_sum: list[int] = []
        chosen = [0] * n  # the form each branch takes
        encoded: list = [None] * n  # the bytes of each branch, once something has grown
        code = self.code

        def relax(i: int, offset: int) -> bytes:  # the next form that reaches, recorded in chosen
            forms, data = all_forms[i], None
            while data is None:
                chosen[i] += 1
                if chosen[i] == len(forms):
                    raise Unsupported(f"branch of {offset} bytes is out of range of every branch form")
                data = forms[chosen[i]].encode(offset)
            return data

        changed = False
        # the first round, where nothing has moved yet (the common case): in place, where it stays unless
        # something grows
        for i in _place_first_forms(code, at, targets, all_forms):
            offset = targets[i] - at[i]
            data = all_forms[i][0].encode(offset)
            if data is None:
                encoded[i] = relax(i, offset)
                changed = True
            else:
                code[at[i]:at[i] + len(data)] = data
        while changed:
            grown = [(at[i], all_forms[i][k].size - all_forms[i][0].size) for i, k in enumerate(chosen) if k]
            grown_pos = [g[0] for g in grown]
            grown_sum = []
            total = 0
            for _, extra in grown:
                total += extra
                grown_sum.append(total)
            changed = False
            for i, forms in enumerate(all_forms):
                offset = moved(targets[i]) - moved(at[i])
                data = forms[chosen[i]].encode(offset)
                if data is None:
                    data = relax(i, offset)
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
            for pos, data in zip(at, encoded):
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


def _place_first_forms(code: bytearray, at: list[int], targets: list[int], all_forms: list) -> list[int]:
    """Place every branch whose first form has ``place`` and reaches its target; return the others' indices."""
    n = len(at)
    firsts = [forms[0] for forms in all_forms]
    places = [form.place for form in firsts]
    group_of = {place: k for k, place in enumerate(dict.fromkeys(places)) if place is not None}
    if not group_of:
        return list(range(n))
    group_of[None] = -1
    group = np.fromiter(map(group_of.__getitem__, places), dtype=np.int64, count=n)
    positions = np.frombuffer(array("q", at), dtype=np.int64)  # (through array: np.array of a list is slower)
    offsets = np.frombuffer(array("q", targets), dtype=np.int64) - positions
    bases = np.fromiter([form.base for form in firsts], dtype=np.int64, count=n)
    rest = [np.flatnonzero(group < 0)]
    view = np.frombuffer(code, dtype=np.uint8)  # (writes through to code)
    for place, k in group_of.items():
        if place is None:
            continue
        members = np.flatnonzero(group == k)
        reach, bits = place(offsets[members])
        placed = members[reach]
        words, where = bases[placed] | bits[reach], positions[placed]
        for byte in range(firsts[members[0]].size):
            view[where + byte] = words >> (8 * byte) & 0xFF
        rest.append(members[~reach])
    del view  # (code may be resized only once nothing views it)
    return np.sort(np.concatenate(rest)).tolist()
