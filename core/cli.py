"""The ``bpfx`` command line.

Each subcommand lives in the module that does its work, which exposes
``register(subparsers)``: it adds its parser and sets ``func`` to a function
taking the parsed args and returning an exit code. Errors are one line on
stderr: ``file:section:insn: message``; exit 1 for bad input, 2 for usage,
70 for an unexpected exception (one line saying it is a bug in bpfx; the
traceback only with ``BPFX_DEBUG=1``).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from . import __version__
from .errors import BpfxError, UsageError

#: Exit code for an unexpected exception (EX_SOFTWARE): the one-line report says it is a bug in bpfx.
EXIT_BUG = 70

# Modules that contribute subcommands, in the order --help lists them.
COMMAND_MODULES = (
    "bpfx.execute.runner",  # run, compile
    "bpfx.front.verify",  # verify
    "bpfx.tools.inspect",  # asm, disasm, cfg
    "bpfx.tools.conformance",  # conformance, conformance-plugin
    "bpfx.tools.fuzz",  # fuzz
    "bpfx.tools.corpus",  # check-objects
    "bpfx.tools.cruntime",  # export-runtime
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bpfx",
        description="Compile, run and test eBPF programs for the processors inside I/O devices.",
        epilog="Run 'bpfx COMMAND --help' for a command's options. Targets come from plugins: see --list-targets.",
    )
    parser.add_argument("--version", action="version", version=f"bpfx {__version__}")
    parser.add_argument("--list-targets", action="store_true", help="list every target, its plugin and its hooks")
    parser.add_argument("--json", action="store_true", help="with --list-targets: print JSON")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> int:
    """Run one command; ``parser`` is a ``build_parser()`` result to reuse (building one costs ~15 ms, which an
    in-process caller running thousands of commands, like bench/malformed.py, pays once)."""
    from .front.program import keep_freed_memory

    keep_freed_memory()  # (a compiling process: see there)
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    try:
        if args.list_targets:
            from .plugins import print_targets

            return print_targets(as_json=args.json)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        return args.func(args)
    except UsageError as err:
        print(f"bpfx: {err}", file=sys.stderr)
        return 2
    except BpfxError as err:
        print(str(err), file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1
    except KeyboardInterrupt:
        return 130
    except RecursionError:  # deeply nested input that no guard caught: still one line
        if os.environ.get("BPFX_DEBUG"):
            raise
        print(f"{_input_of(args)}: input nested too deeply (recursion limit); this is a bug in bpfx, please "
              "report it", file=sys.stderr)
        return EXIT_BUG
    except MemoryError:
        print(f"{_input_of(args)}: out of memory", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if os.environ.get("BPFX_DEBUG"):
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"{_input_of(args)}: internal error {type(exc).__name__}: {exc} (at {os.path.basename(where.filename)}:"
              f"{where.lineno}); this is a bug in bpfx, please report it (BPFX_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return EXIT_BUG


def _input_of(args) -> str:
    file = getattr(args, "file", None)
    return file if isinstance(file, str) else "bpfx"


if __name__ == "__main__":
    sys.exit(main())
