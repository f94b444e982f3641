"""Finding target plugins and asking them about targets.

Built-in targets load through the same entry-point group (``bpfx.targets``)
a vendor's package uses. A plugin that fails to import becomes a warning
naming its distribution. Environment:

- ``BPFX_LOAD_PLUGINS=a,b``: load only these entry points (by entry-point name or distribution name).
- ``BPFX_TRACE_PLUGINS=1``: trace every hook call to stderr.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points

import pluggy

from . import hookspecs
from .errors import UsageError
from .front.progtypes import prog_type as get_prog_type
from .front.verify import FAULT_HELPER, FAULT_SYMBOL
from .back.target import (ABI, ContextField, ContextLayout, Executor, HelperEntry, HelperImpl, HelperTable,
                          TargetInfo)

GROUP = "bpfx.targets"


@dataclass
class LoadedPlugin:
    name: str  # entry-point name
    dist: str
    version: str
    module: object


@dataclass
class Registry:
    pm: pluggy.PluginManager
    plugins: list[LoadedPlugin] = field(default_factory=list)
    targets: dict[str, tuple[TargetInfo, LoadedPlugin | None]] = field(default_factory=dict)
    abi_checked: set[str] = field(default_factory=set)
    # (program type, implemented helpers) -> the helper table before plugins' entries and a driver's overrides:
    # building it walks every UAPI helper, which dominated a host run's fixed cost
    helper_tables: dict[tuple, HelperTable] = field(default_factory=dict)


class PluginLoadWarning(UserWarning):
    pass


def _make_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("bpfx")
    pm.add_hookspecs(hookspecs)
    if os.environ.get("BPFX_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: sys.stderr.write(msg))
        pm.enable_tracing()
    return pm


def _allowed() -> set[str] | None:
    raw = os.environ.get("BPFX_LOAD_PLUGINS")
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def build_registry(extra_plugins: tuple = ()) -> Registry:
    """Load every allowed entry point, plus ``extra_plugins`` (modules/objects, for tests and drivers)."""
    pm = _make_manager()
    reg = Registry(pm)
    allowed = _allowed()
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        if allowed is not None and ep.name not in allowed and dist not in allowed:
            continue
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
        except Exception as exc:  # noqa: BLE001 - a broken vendor plugin must not break bpfx
            warnings.warn(f"bpfx: plugin {ep.name!r} from distribution {dist!r} failed to load: "
                          f"{type(exc).__name__}: {exc}", PluginLoadWarning, stacklevel=2)
            continue
        reg.plugins.append(LoadedPlugin(ep.name, dist, version, module))
    for i, extra in enumerate(extra_plugins):
        pm.register(extra, name=f"extra-{i}")
        reg.plugins.append(LoadedPlugin(getattr(extra, "__name__", f"extra-{i}"), "(in process)", "", extra))
    pm.check_pending()  # a misspelt hook name fails loudly
    for plugin in reg.plugins:
        impl = getattr(plugin.module, "bpfx_targets", None)
        if impl is None:
            continue
        for info in impl() or ():
            if info.name in reg.targets:
                warnings.warn(f"bpfx: target {info.name!r} from {plugin.dist!r} is already provided; ignored",
                              PluginLoadWarning, stacklevel=2)
                continue
            reg.targets[info.name] = (info, plugin)
    return reg


@cache
def registry() -> Registry:
    return build_registry()


@dataclass
class Target:
    """One target with every hook resolved (following ``TargetInfo.base`` for what it does not implement)."""

    info: TargetInfo
    plugin: LoadedPlugin | None
    reg: Registry

    @property
    def name(self) -> str:
        return self.info.name

    def default_safety(self) -> str:
        """The safety mode used when none is asked for: ``TargetInfo.safety`` along the base chain, else
        structural. The device targets (nfp, bpf) say checked; arm64 and riscv64 stay structural until the
        verifier covers what the loader accepts (callbacks through ``lddw`` of a function, ksyms, ...): README
        "Safety" lists what checked-by-default breaks there."""
        for info in self._chain():
            if info.safety:
                return info.safety
        return "structural"

    def _chain(self) -> list[TargetInfo]:
        chain, info = [self.info], self.info
        while info.base:
            base = self.reg.targets.get(info.base)
            if base is None:
                raise UsageError(f"target {self.name!r} is based on unknown target {info.base!r}")
            info = base[0]
            if info in chain:
                raise UsageError(f"target {self.name!r}: cycle in base targets")
            chain.append(info)
        return chain

    def _first(self, hook: str, **kwargs):
        caller = getattr(self.reg.pm.hook, hook)
        for info in self._chain():
            result = caller(target=info, **kwargs)
            if result is not None:
                return result
        return None

    def abi(self) -> ABI | None:
        abi = self._first("bpfx_abi")
        if abi is not None and self.name not in self.reg.abi_checked:
            problems = abi.check()
            if problems:
                raise UsageError(f"target {self.name!r}: inconsistent ABI: {'; '.join(problems)}")
            self.reg.abi_checked.add(self.name)
        return abi

    def features(self, overrides: dict[str, bool] | None = None) -> dict[str, bool]:
        merged: dict[str, bool] = {}
        for info in reversed(self._chain()):
            merged.update(info.features)
        for key, value in (overrides or {}).items():
            if key not in merged:
                known = ", ".join(merged) or "none"
                raise UsageError(f"target {self.name!r} has no feature {key!r} (features: {known})")
            merged[key] = value
        return merged

    def selector(self, features: dict[str, bool] | None = None):
        abi = self.abi()
        if abi is None:
            return None
        return self._first("bpfx_selector", abi=abi, features=self.features(features))

    def llvm_info(self) -> TargetInfo | None:
        """The TargetInfo whose LLVM triple and features the LLVM tier uses: this target's, else its base's."""
        return next((info for info in self._chain() if info.llvm_triple), None)

    def reloc_types(self) -> dict:
        """ELF relocation number -> RelocType: the ``bpfx_reloc_types`` hook, else the selector's."""
        types = self._first("bpfx_reloc_types")
        if types is None:
            selector = self.selector()
            types = dict(getattr(selector, "reloc_types", None) or {})
        return types

    def machine(self) -> Executor | None:
        return self._first("bpfx_machine")

    def run(self, program, runtime, budget: int, options: dict):
        return self._first("bpfx_run", program=program, runtime=runtime, budget=budget, options=options)

    def runner(self, options: dict):
        """``(program, runtime, budget) -> Result`` for repeated runs: the ``bpfx_runner`` hook's function, else
        one that dispatches ``bpfx_run`` every time."""
        fn = self._first("bpfx_runner", options=options)
        return fn if fn is not None else lambda program, runtime, budget: self.run(program, runtime, budget, options)

    def helper_impls(self, prog_type: str, extra: dict | None = None) -> dict[int, HelperImpl]:
        """Helper implementations for emulated runs: every plugin's (base targets first), then ``extra``
        (the caller's: id -> HelperImpl or a callable ``fn(call, a1..a5)``)."""
        impls: dict[int, HelperImpl] = {}
        for info in reversed(self._chain()):
            for result in self.reg.pm.hook.bpfx_helper_impls(target=info, prog_type=prog_type):
                for impl in (result.values() if isinstance(result, dict) else result):
                    impls[impl.id] = impl
        for hid, value in (extra or {}).items():
            impls[hid] = value if isinstance(value, HelperImpl) else HelperImpl(hid, f"helper_{hid}", value)
        return impls

    def helpers(self, prog_type: str, overrides: dict | None = None,
                impls: dict[int, HelperImpl] | None = None) -> HelperTable:
        """Default (relocation against ``bpf_<name>``) for every allowed helper and every implemented one
        (``impls``), then every plugin's entries (base targets first), then the driver's ``overrides``
        (id -> address int or HelperEntry)."""
        key = (prog_type, tuple(sorted((hid, impl.name) for hid, impl in (impls or {}).items())))
        table = self.reg.helper_tables.get(key)
        if table is None:
            ptype = get_prog_type(prog_type)
            entries = {}
            for hid in sorted(ptype.helper_ids):
                proto = ptype.helper(hid)
                entries[hid] = HelperEntry(hid, proto.name, symbol=proto.symbol)
            entries[FAULT_HELPER] = HelperEntry(FAULT_HELPER, "fault", symbol=FAULT_SYMBOL)  # checked code's fault
            for hid, impl in (impls or {}).items():
                entries[hid] = HelperEntry(hid, impl.name, symbol=f"bpf_{impl.name}", implemented=True)
            table = self.reg.helper_tables[key] = HelperTable(entries)
        for info in reversed(self._chain()):  # not cached: a plugin's table may follow its state (nfp's firmware)
            for result in self.reg.pm.hook.bpfx_helpers(target=info, prog_type=prog_type):
                table = table.merged(result)
        for hid, value in (overrides or {}).items():
            base = table.get(hid)
            name = base.name if base else f"helper_{hid}"
            entry = value if isinstance(value, HelperEntry) else HelperEntry(hid, name, address=int(value))
            table = table.merged({hid: entry})
        return table

    def context(self, prog_type: str) -> ContextLayout | None:
        layout = self._first("bpfx_context", prog_type=prog_type)
        return layout if layout is not None else default_context(prog_type)

    def _plugins(self) -> list[LoadedPlugin]:
        return [self.reg.targets[i.name][1] for i in self._chain() if self.reg.targets[i.name][1]]

    def implemented_hooks(self) -> list[str]:
        hooks = []
        if self.abi() is not None:
            hooks.append("abi")
        if self.selector() is not None:
            hooks.append("selector")
        if any(self.reg.pm.hook.bpfx_helpers(target=i, prog_type="xdp") for i in self._chain()):
            hooks.append("helpers")
        if any(self.reg.pm.hook.bpfx_helper_impls(target=i, prog_type=p) for i in self._chain()
               for p in ("xdp", "mem")):
            hooks.append("helper_impls")
        if self._first("bpfx_context", prog_type="xdp") is not None:
            hooks.append("context")
        if self.machine() is not None:
            hooks.append("machine")
        if any(hasattr(p.module, "bpfx_run") for p in self._plugins()):
            hooks.append("run")
        if self.llvm_info() is not None and importlib.util.find_spec("bpfx.llvm") is not None:
            hooks.append("llvm")  # the LLVM tier can serve any target that names a triple
        return hooks


def default_context(prog_type: str) -> ContextLayout | None:
    """The default device layout of a program type, from specs/; None where specs/ gives none (the device takes
    the UAPI layout as it is)."""
    ptype = get_prog_type(prog_type)
    if not ptype.device_ctx:
        return None
    fields = {f.uapi_off: ContextField(name, f.off, f.size, f.kind) for name, f in ptype.device_ctx.items()}
    return ContextLayout(ptype.device_struct, ptype.device_ctx_size, fields)


def get_target(name: str, reg: Registry | None = None) -> Target:
    reg = reg or registry()
    if name not in reg.targets:
        known = ", ".join(sorted(reg.targets)) or "none (no plugins loaded)"
        raise UsageError(f"unknown target {name!r}; known targets: {known}")
    info, plugin = reg.targets[name]
    return Target(info, plugin, reg)


def all_targets(reg: Registry | None = None) -> list[Target]:
    reg = reg or registry()
    return [get_target(name, reg) for name in sorted(reg.targets)]


def describe(target: Target) -> dict:
    plugin = target.plugin
    return {
        "name": target.name,
        "description": target.info.description,
        "distribution": plugin.dist if plugin else "?",
        "version": plugin.version if plugin else "?",
        "hooks": target.implemented_hooks(),
        "word_size": target.info.word_size,
        "endian": target.info.endian,
        "e_machine": target.info.e_machine,
        "llvm_triple": target.info.llvm_triple,
        "base": target.info.base,
        "features": target.features(),
    }


def print_targets(as_json: bool = False) -> int:
    rows = [describe(t) for t in all_targets()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["name"]) for r in rows), default=4)
    for r in rows:
        origin = f"{r['distribution']} {r['version']}"
        print(f"{r['name']:<{width}}  {r['description']}  [{origin}]  hooks: {', '.join(r['hooks'])}")
    return 0
