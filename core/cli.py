"""The ``bpfx`` command line.

Each subcommand lives in the module that does its work, which exposes
``register(subparsers)``: it adds its parser and sets ``func`` to a function
taking the parsed args and returning an exit code. Errors are one line on
stderr: ``file:section:insn: message``; exit 1 for bad input, 2 for usage.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import BpfxError, UsageError

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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
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


if __name__ == "__main__":
    sys.exit(main())
