"""The reference interpreter, registered as target ``interp`` through the same hooks as any plugin."""

from __future__ import annotations

from ..hookspecs import hookimpl, target_hookimpl
from ..back.target import TargetInfo

INFO = TargetInfo(name="interp", description="reference interpreter (the oracle every target is checked against)",
                  e_machine=247)


@hookimpl
def bpfx_targets():
    return [INFO]


@target_hookimpl(INFO)
def bpfx_run(target, program, runtime, budget, options):
    from .interp import interpret

    return interpret(program, runtime, budget=budget)


@target_hookimpl(INFO)
def bpfx_runner(target, options):
    from .interp import interpret

    return lambda program, runtime, budget: interpret(program, runtime, budget=budget)
