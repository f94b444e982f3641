"""Reading inputs and writing outputs: bounded reads from regular files, never a partial or misplaced output.

Inputs are read only from regular files (or ``-`` for stdin) and at most ``MAX_INPUT`` bytes, checked before the
read, so ``/dev/zero`` or a FIFO is an error, not a hang. Outputs go to a regular file through a temporary file
and an atomic rename; anything else that exists at the path (a FIFO, a device, a symlink to one) is refused rather
than replaced, and a failed write leaves no partial file behind.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile

from .errors import BpfxError

#: Largest input file (object, assembly, raw program, packet, memory image) bpfx reads: 256 MiB.
MAX_INPUT = 256 << 20


def read_input(path: str, *, what: str = "input", limit: int = MAX_INPUT, text: bool = False) -> bytes | str:
    """Read ``path`` (``-`` is stdin), a regular file of at most ``limit`` bytes; a ``BpfxError`` otherwise.

    ``text``: decode as UTF-8 (an error naming the byte offset if it is not)."""
    reading = "cannot read" if what == "input" else f"cannot read {what}"
    if path == "-":
        data = sys.stdin.buffer.read(limit + 1)
    else:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as exc:
            raise BpfxError(f"{reading}: {exc.strerror}", file=path) from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
                raise BpfxError(f"{reading}: {kind}", file=path)
            if st.st_size > limit:
                raise BpfxError(f"{what} of {st.st_size} bytes exceeds the limit of {limit} bytes", file=path)
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise BpfxError(f"{reading}: {exc.strerror}", file=path) from None
        finally:
            os.close(fd)
    if len(data) > limit:
        raise BpfxError(f"{what} exceeds the limit of {limit} bytes", file=path)
    if not text:
        return data
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise BpfxError(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
                        file=path) from None


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path``: a regular file (or a new one) is replaced atomically through a temporary file
    beside it, so a failure never leaves a partial file; ``/dev/stdout``-like character devices and FIFOs are
    written in place; anything else (a directory, a block device, a socket) is refused. Errors are one-line
    ``BpfxError``s naming the path."""
    try:
        st = os.stat(path)  # follows symlinks: a link to a regular file has its target replaced, the link kept
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise BpfxError(f"cannot write output: {exc.strerror}", file=path) from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            _write_in_place(path, data)
            return
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise BpfxError(f"cannot write output: {kind}", file=path)
    target = os.path.realpath(path)  # write through a symlink, never replace the link itself
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise BpfxError(f"cannot write output: directory {os.path.dirname(path) or '.'} does not exist", file=path)
    if st is not None and not os.access(target, os.W_OK):
        raise BpfxError("cannot write output: permission denied", file=path)
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".bpfx-")
    except OSError as exc:
        raise BpfxError(f"cannot write output: {exc.strerror}", file=path) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, st.st_mode & 0o7777 if st is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise BpfxError(f"cannot write output: {exc.strerror}", file=path) from None
        raise


def write_text(path: str, text: str) -> None:
    """``write_atomic`` for text; ``-`` is stdout."""
    if path == "-":
        sys.stdout.write(text)
        return
    write_atomic(path, text.encode())


def _write_in_place(path: str, data: bytes) -> None:
    try:
        # non-blocking open: a FIFO nobody reads is an error (ENXIO), not a hang
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.set_blocking(fd, True)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
    except OSError as exc:
        raise BpfxError(f"cannot write output: {exc.strerror}", file=path) from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
