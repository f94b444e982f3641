"""The object that owns LLVM for one target, as numba's ``core/codegen.py`` does.

A ``Codegen`` holds the TargetMachine for a triple, CPU, features and optimisation level; a ``Library`` is one
module going add IR -> finalise (verify, optimise) -> object code, assembly, or a JIT-compiled pointer. IR and
assembly can be dumped at any point for inspection (``bpfx compile --emit llvm|asm``).
"""

from __future__ import annotations

import re
from functools import cache

import llvmlite.binding as llvm

from ..errors import Unsupported

# String attributes llvmlite.ir cannot spell: no calls to memset/memcpy the device does not have, no jump or
# lookup tables in data sections (the Image is code only).
FN_ATTRS = ' "no-builtins" "no-jump-tables"="true" nounwind'
# llvmlite puts a definition's "{" on its own line; attributes go before its "!dbg" attachment
_DEFINE = re.compile(r"^(define [^\n]*?)((?: !dbg ![0-9]+)?\n\{)", re.M)


@cache
def _init() -> None:
    llvm.initialize_all_targets()
    llvm.initialize_all_asmprinters()


_options_set: set[str] = set()


def set_options(options) -> None:
    """Set LLVM command-line options (process-wide, once each)."""
    for option in options:
        if option not in _options_set:
            llvm.set_option("bpfx", option)
            _options_set.add(option)


def host_triple() -> str:
    return llvm.get_process_triple()


class Codegen:
    """The TargetMachine for one (triple, cpu, features, opt) and the pass pipeline that goes with it."""

    def __init__(self, triple: str, *, cpu: str = "", features: str = "", opt: int = 2, jit: bool = False,
                 reloc: str = "pic"):
        _init()
        self.triple, self.opt = triple, opt
        try:
            target = llvm.Target.from_triple(triple)
        except RuntimeError as exc:
            raise Unsupported(f"LLVM has no code generator for triple {triple!r}: {exc}") from None
        self._target, self._args = target, dict(cpu=cpu, features=features, opt=min(opt, 3), reloc=reloc,
                                                 codemodel="jitdefault" if jit else "small", jit=jit)
        self.tm = self.target_machine()
        self.data_layout = str(self.tm.target_data)  # read once: llvmlite disposes the TargetData it hands out

    def target_machine(self):
        """A new TargetMachine (an MCJIT engine takes ownership of the one it is given)."""
        return self._target.create_target_machine(**self._args)

    def library(self, name: str) -> Library:
        return Library(self, name)

    def optimise(self, module: llvm.ModuleRef) -> None:
        if self.opt <= 0:
            return
        pto = llvm.create_pipeline_tuning_options(speed_level=min(self.opt, 3))
        # No SIMD: device cores often lack it, and the bench compares against clang -fno-vectorize.
        pto.loop_vectorization = False
        pto.slp_vectorization = False
        pb = llvm.create_pass_builder(self.tm, pto)
        pb.getModulePassManager().run(module, pb)


class Library:
    """One module: ``add_ir`` then ``finalize`` then ``emit_object`` / ``emit_assembly`` / ``llvm_ir``."""

    def __init__(self, codegen: Codegen, name: str):
        self.codegen, self.name = codegen, name
        self.module: llvm.ModuleRef | None = None
        self.finalized = False

    def add_ir(self, module) -> None:
        text = _DEFINE.sub(lambda m: m.group(1) + FN_ATTRS + m.group(2), str(module))
        mod = _llvm(llvm.parse_assembly, text)
        mod.triple = self.codegen.triple
        mod.data_layout = self.codegen.data_layout
        if self.module is None:
            self.module = mod
        else:
            self.module.link_in(mod)

    def finalize(self) -> None:
        _llvm(self.module.verify)
        _llvm(self.codegen.optimise, self.module)
        _llvm(self.module.verify)
        self.finalized = True

    @property
    def llvm_ir(self) -> str:
        return str(self.module)

    def emit_object(self) -> bytes:
        return _llvm(self.codegen.tm.emit_object, self.module)

    def emit_assembly(self) -> str:
        return _llvm(self.codegen.tm.emit_assembly, self.module)


def _llvm(fn, *args):
    """Call into llvmlite; an error LLVM reports (rather than aborts on) becomes ``Unsupported``."""
    try:
        return fn(*args)
    except RuntimeError as exc:
        raise Unsupported(f"LLVM failed: {str(exc).strip()}") from None
