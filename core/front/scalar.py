"""The abstract domain of a 64-bit scalar: known bits (a tnum) plus unsigned and signed ranges.

A ``Scalar`` is the set of 64-bit values that agree with the tnum (``tv`` holds the known bits, ``tm`` has a 1 for
every unknown bit) and lie in both ``[umin, umax]`` (unsigned) and ``[smin, smax]`` (signed). The three views
refine each other in ``make`` (the kernel's ``reg_bounds_sync``); 32-bit views are derived (``view32``), and the
result of a 32-bit operation is a scalar below 2**32 (zero-extended, as ALU32 is).

Every operation is sound: the result contains every value the concrete operation can produce from values in the
operands. ``None`` stands for the empty set (an infeasible branch).
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1


def sx(value: int, bits: int = 64) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


class Scalar(NamedTuple):
    tv: int  # known bit values
    tm: int  # unknown bits
    umin: int
    umax: int
    smin: int
    smax: int

    @property
    def const(self) -> int | None:
        """The value when exactly one is possible (unsigned 64-bit), else None."""
        return self.tv if self.tm == 0 else None

    def __str__(self) -> str:
        c = self.const
        if c is not None:
            return str(sx(c)) if c >> 63 else str(c)
        if self.smin >= 0 or self.umax <= S64_MAX:
            text = f"[{self.umin}, {self.umax}]"
        elif self.umin > S64_MAX:
            text = f"[{self.smin}, {self.smax}]"
        else:
            text = f"u[{self.umin}, {self.umax}] s[{self.smin}, {self.smax}]"
        return "unknown" if text == f"u[0, {M64}] s[{S64_MIN}, {S64_MAX}]" else text


def _tnum_range(lo: int, hi: int) -> tuple[int, int]:
    delta = (1 << (lo ^ hi).bit_length()) - 1
    return lo & ~delta & M64, delta


@lru_cache(maxsize=1 << 16)  # the analysis builds the same scalars again and again
def make(tv: int, tm: int, umin: int = 0, umax: int = M64, smin: int = S64_MIN, smax: int = S64_MAX) -> Scalar | None:
    """The scalar of all values satisfying every constraint, with each view tightened by the others."""
    tm &= M64
    tv &= M64 & ~tm
    for _ in range(3):
        # known bits -> ranges; with the low k bits known, the bounds move to the nearest matching values
        umin, umax = max(umin, tv), min(umax, tv | tm)
        if tm and tm & 1 == 0:
            k = (tm & -tm).bit_length() - 1
            low, step = tv & ((1 << k) - 1), 1 << k
            hi = ((umax - low) & ~(step - 1)) + low
            lo = ((umin - low + step - 1) & ~(step - 1)) + low
            if lo > hi:
                return None
            umin, umax = lo, hi
        if not tm >> 63:
            lo, hi = sx(tv), sx(tv | tm)
            smin, smax = max(smin, lo), min(smax, hi)
        # unsigned <-> signed, where the range does not cross the sign boundary
        if umax <= S64_MAX:
            smin, smax = max(smin, umin), min(smax, umax)
        elif umin > S64_MAX:
            smin, smax = max(smin, sx(umin)), min(smax, sx(umax))
        else:  # unsigned [umin, S64_MAX] and [S64_MIN, sx(umax)] signed: keep the pieces the signed range meets
            if smin > sx(umax):
                smin = max(smin, umin)
            if smax < umin:
                smax = min(smax, sx(umax))
        if smin >= 0:
            umin, umax = max(umin, smin), min(umax, smax)
        elif smax < 0:
            umin, umax = max(umin, smin + (1 << 64)), min(umax, smax + (1 << 64))
        else:  # signed [smin, -1] and [0, smax]: unsigned [smin + 2^64, M64] and [0, smax]
            if umin > smax:
                umin = max(umin, smin + (1 << 64))
            if umax < smin + (1 << 64):
                umax = min(umax, smax)
        if umin > umax or smin > smax:
            return None
        # ranges -> known bits
        rv, rm = _tnum_range(umin, umax)
        if (rv ^ tv) & ~(rm | tm) & M64:
            return None
        nm = tm & rm
        nv = (tv | rv) & ~nm & M64
        if (nv, nm) == (tv, tm):
            break
        tv, tm = nv, nm
    return Scalar(tv, tm, umin, umax, smin, smax)


def const(value: int) -> Scalar:
    value &= M64
    return Scalar(value, 0, value, value, sx(value), sx(value))


UNKNOWN = Scalar(0, M64, 0, M64, S64_MIN, S64_MAX)


def urange(lo: int, hi: int) -> Scalar:
    """Every value in [lo, hi] (unsigned)."""
    return make(0, M64, lo, hi)


def srange(lo: int, hi: int) -> Scalar:
    return make(0, M64, smin=lo, smax=hi)


@lru_cache(maxsize=1 << 16)
def join(a: Scalar, b: Scalar) -> Scalar:
    if a == b:
        return a
    mu = a.tm | b.tm | (a.tv ^ b.tv)
    return make(a.tv & ~mu, mu, min(a.umin, b.umin), max(a.umax, b.umax), min(a.smin, b.smin), max(a.smax, b.smax))


def widen(old: Scalar, new: Scalar, thresholds: tuple[int, ...] = ()) -> Scalar:
    """``join`` that sends every bound still moving to the next of ``thresholds`` (sorted; the constants the
    program compares with) or to its extreme, so loops reach a fixpoint in a few steps."""
    j = join(old, new)
    if covers(old, j):
        return old
    # the known bits bound the ranges too: keep only the known low bits (alignment), which loops preserve
    low = (j.tm & -j.tm).bit_length() - 1 if j.tm else 64
    keep = (1 << low) - 1
    from bisect import bisect_left, bisect_right

    def up(v, top):
        i = bisect_left(thresholds, v)
        return thresholds[i] if i < len(thresholds) and thresholds[i] <= top else top

    def down(v, bottom):
        i = bisect_right(thresholds, v)
        return thresholds[i - 1] if i and thresholds[i - 1] >= bottom else bottom

    return make(j.tv & keep, M64 & ~keep, j.umin if j.umin >= old.umin else down(j.umin, 0),
                j.umax if j.umax <= old.umax else up(j.umax, M64), j.smin if j.smin >= old.smin else
                down(j.smin, S64_MIN), j.smax if j.smax <= old.smax else up(j.smax, S64_MAX))


def covers(a: Scalar, b: Scalar) -> bool:
    """Whether every value of ``b`` is in ``a``."""
    return (a.umin <= b.umin and b.umax <= a.umax and a.smin <= b.smin and b.smax <= a.smax
            and (b.tm & ~a.tm) == 0 and ((a.tv ^ b.tv) & ~a.tm) == 0)


def view32(s: Scalar) -> Scalar:
    """The low 32 bits of ``s``, as a scalar in [0, 2**32)."""
    tv, tm = s.tv & M32, s.tm & M32
    if s.umax - s.umin <= M32 and (s.umin >> 32) == (s.umax >> 32):
        return make(tv, tm, s.umin & M32, s.umax & M32)
    if s.smax - s.smin <= M32 and (s.smin >> 32) == (s.smax >> 32):  # e.g. [-1, 1]: one 2**32 window, signed
        lo, hi = s.smin & M32, s.smax & M32
        if lo <= hi:
            return make(tv, tm, lo, hi)
    return make(tv, tm, 0, M32)


def s32_bounds(v: Scalar) -> tuple[int, int]:
    """Signed 32-bit bounds of a 32-bit view."""
    if v.umax <= S32_MAX:
        return v.umin, v.umax
    if v.umin > S32_MAX:
        return sx(v.umin, 32), sx(v.umax, 32)
    return S32_MIN, S32_MAX


def from32(v: Scalar, signed_lo: int | None = None, signed_hi: int | None = None) -> Scalar | None:
    """A 32-bit value (as produced by ``view32``) refined by signed 32-bit bounds, still in [0, 2**32)."""
    if signed_lo is None:
        return v
    if signed_lo >= 0:
        return make(v.tv, v.tm, max(v.umin, signed_lo), min(v.umax, signed_hi))
    if signed_hi < 0:
        return make(v.tv, v.tm, max(v.umin, signed_lo & M32), min(v.umax, signed_hi & M32))
    return v


# -- arithmetic ----------------------------------------------------------------------------------------------------

def _mask(bits: int) -> int:
    return (1 << bits) - 1


def _fit(bits: int, tv: int, tm: int, umin: int, umax: int, smin: int | None = None, smax: int | None = None):
    """Build a ``bits``-wide result (32-bit results are zero-extended to 64)."""
    mask = _mask(bits)
    tv, tm = tv & mask, tm & mask
    if bits == 32:
        return make(tv, tm, max(umin, 0), min(umax, M32))
    if smin is None:
        return make(tv, tm, umin, umax)
    return make(tv, tm, umin, umax, smin, smax)


def _srange(v: Scalar, bits: int) -> tuple[int, int]:
    return (v.smin, v.smax) if bits == 64 else s32_bounds(v)


def alu(op: str, a: Scalar, b: Scalar, bits: int = 64, off: int = 0) -> Scalar:
    """``a op b`` on ``bits``-wide operands (``view32`` them first for 32 bits); the ISA's semantics."""
    mask = _mask(bits)
    ca, cb = a.const, b.const
    if ca is not None and cb is not None:
        from ..execute.interp import _alu

        return const(_alu(op, ca, cb, off, bits))
    smax_b = (1 << (bits - 1)) - 1
    smin_b = -(1 << (bits - 1))
    if op == "mov":
        if off:  # movsx: sign-extend the low ``off`` bits
            lo, hi = -(1 << (off - 1)), (1 << (off - 1)) - 1
            low = make(b.tv & _mask(off), b.tm & _mask(off), 0, _mask(off))
            if low is not None and low.umax <= hi:
                return _fit(bits, low.tv, low.tm, low.umin, low.umax)
            return _fit(bits, 0, mask, 0, mask, lo, hi) if bits == 64 else \
                _from_signed32(lo, hi)
        return b
    if op == "add":
        sm, sv = a.tm + b.tm, a.tv + b.tv
        mu = ((sm + sv) ^ sv) | a.tm | b.tm
        umin, umax = a.umin + b.umin, a.umax + b.umax
        if umax > mask:
            umin, umax = 0, mask
        sa, sb = _srange(a, bits), _srange(b, bits)
        smin, smax = sa[0] + sb[0], sa[1] + sb[1]
        if bits == 64:
            if smin < smin_b or smax > smax_b:
                smin, smax = S64_MIN, S64_MAX
            return make(sv & ~mu, mu, umin, umax, smin, smax)
        r = _fit(bits, sv & ~mu, mu, umin, umax)
        return _sig32(r, smin, smax)
    if op == "sub":
        dv = a.tv - b.tv
        mu = ((dv + a.tm) ^ (dv - b.tm)) | a.tm | b.tm
        umin, umax = a.umin - b.umax, a.umax - b.umin
        if umin < 0:
            umin, umax = 0, mask
        sa, sb = _srange(a, bits), _srange(b, bits)
        smin, smax = sa[0] - sb[1], sa[1] - sb[0]
        if bits == 64:
            if smin < smin_b or smax > smax_b:
                smin, smax = S64_MIN, S64_MAX
            return make(dv & ~mu & M64, mu & M64, umin, umax, smin, smax)
        return _sig32(_fit(bits, dv & ~mu, mu, umin, umax), smin, smax)
    if op == "mul":
        if a.umax * b.umax <= mask:
            return _fit(bits, 0, mask, a.umin * b.umin, a.umax * b.umax)
        return _fit(bits, 0, mask, 0, mask)
    if op == "and":
        v = a.tv & b.tv
        m = (a.tv | a.tm) & (b.tv | b.tm) & ~v
        return _fit(bits, v, m, 0, min(a.umax, b.umax))
    if op == "or":
        v = a.tv | b.tv
        m = (a.tm | b.tm) & ~v
        return _fit(bits, v, m, max(a.umin, b.umin), mask)
    if op == "xor":
        m = a.tm | b.tm
        return _fit(bits, (a.tv ^ b.tv) & ~m, m, 0, mask)
    if op in ("lsh", "rsh", "arsh"):
        if cb is None:
            if op == "rsh":
                return _fit(bits, 0, mask, 0, a.umax)
            return _fit(bits, 0, mask, 0, mask)
        k = cb & (bits - 1)
        if op == "lsh":
            if a.umax << k <= mask:
                return _fit(bits, a.tv << k, a.tm << k, a.umin << k, a.umax << k)
            return _fit(bits, a.tv << k, a.tm << k, 0, mask)
        if op == "rsh":
            return _fit(bits, a.tv >> k, a.tm >> k, a.umin >> k, a.umax >> k)
        lo, hi = _srange(a, bits)
        if (a.tm >> (bits - 1)) & 1:  # sign unknown: the bits shifted in are unknown too
            tv, tm = a.tv >> k, sx(a.tm, bits) >> k
        else:
            tv, tm = sx(a.tv, bits) >> k, a.tm >> k
        if bits == 64:
            return make(tv & M64, tm & M64, smin=lo >> k, smax=hi >> k)
        return _from_signed32(lo >> k, hi >> k, tv, tm)
    if op == "div" and not off:
        if cb is not None:  # cb != 0 here (both-constant case folded above)
            if cb == 0:
                return const(0)
            return _fit(bits, 0, mask, a.umin // cb, a.umax // cb)
        return _fit(bits, 0, mask, 0, a.umax)
    if op == "mod" and not off:
        if cb is not None and cb != 0:
            return _fit(bits, 0, mask, 0, min(a.umax, cb - 1))
        if b.umin > 0:
            return _fit(bits, 0, mask, 0, min(a.umax, b.umax - 1))
        return _fit(bits, 0, mask, 0, max(a.umax, 0))
    if op == "neg":
        lo, hi = _srange(a, bits)
        if lo > smin_b:
            return _from_signed(-hi, -lo, bits)
        return _fit(bits, 0, mask, 0, mask)
    return _fit(bits, 0, mask, 0, mask)  # signed div/mod and anything else: every value


def _from_signed(lo: int, hi: int, bits: int) -> Scalar:
    if bits == 64:
        return make(0, M64, smin=lo, smax=hi) or UNKNOWN
    return _from_signed32(lo, hi)


def _from_signed32(lo: int, hi: int, tv: int = 0, tm: int = M32) -> Scalar:
    """A 32-bit (zero-extended) result whose signed 32-bit value is in [lo, hi]."""
    if lo >= 0:
        return make(tv & M32, tm & M32, lo, hi) or urange(0, M32)
    if hi < 0:
        return make(tv & M32, tm & M32, lo & M32, hi & M32) or urange(0, M32)
    return make(tv & M32, tm & M32, 0, M32) or urange(0, M32)


def _sig32(r: Scalar | None, smin: int, smax: int) -> Scalar:
    if r is None:
        return urange(0, M32)
    if S32_MIN <= smin and smax <= S32_MAX:
        return from32(r, smin, smax) or r
    return r


def bswap(a: Scalar, width: int, swap: bool) -> Scalar:
    """le/be/bswap of ``width`` bits: a constant stays known, anything else is any value below 2**width."""
    c = a.const
    if c is not None:
        from ..execute.interp import _bswap

        return const(_bswap(c, width) if swap else c & _mask(width))
    if not swap:
        return make(a.tv & _mask(width), a.tm & _mask(width), 0, _mask(width))
    return urange(0, _mask(width))


# -- branches ------------------------------------------------------------------------------------------------------

_SWAP = {"jgt": "jlt", "jge": "jle", "jlt": "jgt", "jle": "jge", "jsgt": "jslt", "jsge": "jsle", "jslt": "jsgt",
         "jsle": "jsge", "jeq": "jeq", "jne": "jne", "jset": "jset"}
_NEGATE = {"jgt": "jle", "jge": "jlt", "jlt": "jge", "jle": "jgt", "jsgt": "jsle", "jsge": "jslt", "jslt": "jsge",
           "jsle": "jsgt", "jeq": "jne", "jne": "jeq"}


def _refine_one(op: str, a: Scalar, b: Scalar, bits: int) -> Scalar | None:
    """``a`` restricted to the values for which ``a op v`` holds for some ``v`` in ``b`` (width ``bits``)."""
    top = _mask(bits)
    smin_b, smax_b = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    sb_lo, sb_hi = _srange(b, bits)
    if op == "jeq":
        if bits == 64:
            return make(a.tv | b.tv, a.tm & b.tm, max(a.umin, b.umin), min(a.umax, b.umax), max(a.smin, b.smin),
                        min(a.smax, b.smax)) if not ((a.tv ^ b.tv) & ~(a.tm | b.tm)) else None
        if (a.tv ^ b.tv) & ~(a.tm | b.tm):
            return None
        return make(a.tv | b.tv, a.tm & b.tm, max(a.umin, b.umin), min(a.umax, b.umax))
    if op == "jne":
        c = b.const
        if c is None:
            return a
        if a.const == c:
            return None
        lo, hi = a.umin + (a.umin == c), a.umax - (a.umax == c)
        return _with_urange(a, lo, hi, bits)
    if op == "jset":
        c = b.const
        if c is not None and (a.tv & c) == 0 and (a.tm & c) == 0:
            return None
        return a
    if op == "jgt":
        return _with_urange(a, b.umin + 1, top, bits)
    if op == "jge":
        return _with_urange(a, b.umin, top, bits)
    if op == "jlt":
        return _with_urange(a, 0, b.umax - 1, bits)
    if op == "jle":
        return _with_urange(a, 0, b.umax, bits)
    if op == "jsgt":
        return _with_srange(a, sb_lo + 1, smax_b, bits)
    if op == "jsge":
        return _with_srange(a, sb_lo, smax_b, bits)
    if op == "jslt":
        return _with_srange(a, smin_b, sb_hi - 1, bits)
    if op == "jsle":
        return _with_srange(a, smin_b, sb_hi, bits)
    return a


def _with_urange(a: Scalar, lo: int, hi: int, bits: int) -> Scalar | None:
    if lo > hi:
        return None
    if bits == 64:
        return make(a.tv, a.tm, max(a.umin, lo), min(a.umax, hi), a.smin, a.smax)
    return make(a.tv, a.tm, max(a.umin, lo), min(a.umax, hi))


def _with_srange(a: Scalar, lo: int, hi: int, bits: int) -> Scalar | None:
    if lo > hi:
        return None
    if bits == 64:
        return make(a.tv, a.tm, a.umin, a.umax, max(a.smin, lo), min(a.smax, hi))
    alo, ahi = s32_bounds(a)
    lo, hi = max(lo, alo), min(hi, ahi)
    if lo > hi:
        return None
    if lo >= 0 or hi < 0:
        return make(a.tv, a.tm, max(a.umin, lo & M32), min(a.umax, hi & M32))
    return a


def refine(op: str, a: Scalar, b: Scalar, taken: bool, bits: int = 64) -> tuple[Scalar | None, Scalar | None]:
    """(a, b) restricted to the values for which the jump ``a op b`` is ``taken`` (or not); None = impossible.

    For ``bits == 32`` the operands are 32-bit views and so are the results."""
    if not taken:
        if op == "jset":
            c = b.const
            if c is None:
                return a, b
            if (a.tv & c) != 0:
                return None, None
            return make(a.tv, a.tm & ~c, a.umin, a.umax, a.smin, a.smax) if bits == 64 else \
                make(a.tv, a.tm & ~c, a.umin, a.umax), b
        op = _NEGATE[op]
    na = _refine_one(op, a, b, bits)
    if na is None:
        return None, None
    nb = _refine_one(_SWAP[op], b, na, bits)
    if nb is None:
        return None, None
    return na, nb


def lift32(full: Scalar, low: Scalar) -> Scalar | None:
    """``full`` (64-bit) refined by a refined view of its low 32 bits: exact when the upper half is known."""
    if low == view32(full):
        return full
    hi_known = (full.tm >> 32) == 0
    tv = (full.tv & ~M32) | low.tv
    tm = (full.tm & ~M32) | low.tm
    if hi_known:
        base = full.tv & ~M32
        return make(tv, tm, max(full.umin, base | low.umin), min(full.umax, base | low.umax), full.smin, full.smax)
    return make(tv, tm, full.umin, full.umax, full.smin, full.smax)
