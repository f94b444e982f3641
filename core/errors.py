"""The one exception family of bpfx.

Every error a user can cause is a ``BpfxError`` that knows where it happened:
the input file, the section (program) and the BPF instruction index. The CLI
prints ``str(err)`` as one line, ``file:section:insn: message``, and exits 1.
"""

from __future__ import annotations


class BpfxError(Exception):
    """A user-facing error with its location (each part optional)."""

    def __init__(self, message: str, *, file: str | None = None, section: str | None = None,
                 insn: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.section = section
        self.insn = insn

    def at(self, *, file: str | None = None, section: str | None = None,
           insn: int | None = None) -> BpfxError:
        """Fill in location parts that are still unknown; returns self for ``raise e.at(...)``."""
        if self.file is None:
            self.file = file
        if self.section is None:
            self.section = section
        if self.insn is None:
            self.insn = insn
        return self

    @property
    def location(self) -> str:
        parts = [self.file or "<input>"]
        if self.section is not None or self.insn is not None:
            parts.append(self.section or "")
        if self.insn is not None:
            parts.append(f"insn {self.insn}")
        return ":".join(parts)

    def __str__(self) -> str:
        if self.file is None and self.section is None and self.insn is None:
            return self.message.translate(_ESCAPES)
        # names from the input (a section called "a\nb") must not break the one-line promise
        return f"{self.location}: {self.message}".translate(_ESCAPES)


_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F]}


class ValidationError(BpfxError):
    """The input is not a valid eBPF object or program."""


class Unsupported(BpfxError):
    """The program is valid eBPF but the chosen target cannot compile or run it."""


class LinkError(BpfxError):
    """A relocation, symbol, helper, map or context field could not be resolved."""


class RuntimeFault(BpfxError):
    """A program stopped abnormally while running (bad memory access, budget exhausted)."""


class UsageError(BpfxError):
    """The command line or API call itself is wrong (CLI exit code 2)."""
