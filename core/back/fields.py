"""Range-checked instruction fields, for every target's encoders: a value that does not fit is a bug in the
selector, reported with what the field is, never silently truncated."""

from __future__ import annotations


def unsigned(value: int, bits: int, what: str) -> int:
    """``value`` as a ``bits``-bit unsigned field."""
    if not 0 <= value < (1 << bits):
        raise ValueError(f"{what} {value} does not fit in {bits} unsigned bits")
    return value


def signed(value: int, bits: int, what: str) -> int:
    """``value`` as a ``bits``-bit two's-complement field."""
    if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
        raise ValueError(f"{what} {value} does not fit in {bits} signed bits")
    return value & ((1 << bits) - 1)
