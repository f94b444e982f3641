"""The ``host`` target, registered by the core through the same hooks as any plugin (see host.py)."""

from __future__ import annotations

from ..back.target import TargetInfo
from ..hookspecs import hookimpl, target_hookimpl

INFO = TargetInfo(name="host", description="this machine: JIT-compiled through LLVM, in-process, every memory "
                                           "access bounds-checked (the fast way to run BPF from Python)")


@hookimpl
def bpfx_targets():
    return [INFO]


@target_hookimpl(INFO)
def bpfx_run(target, program, runtime, budget, options):
    from .host import run_host

    return run_host(program, runtime, budget=budget, opt=options.get("opt") or 2)


@target_hookimpl(INFO)
def bpfx_runner(target, options):
    from .host import run_host

    opt = options.get("opt") or 2
    return lambda program, runtime, budget: run_host(program, runtime, budget=budget, opt=opt)
