"""The plugin contract: hookspecs are documented, discovery works, the core stays target-neutral."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import pathlib
import subprocess
import sys
import types
import warnings

import pytest

import bpfx
from bpfx import hookspecs, plugins

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUNDLED_TARGETS = ("arm64", "riscv", "nfp")


def test_every_hook_is_documented_with_params_return_and_example():
    specs = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("bpfx_")]
    assert sorted(specs) == sorted(hookspecs.HOOK_NAMES)
    for name in specs:
        doc = inspect.getdoc(getattr(hookspecs, name)) or ""
        assert len(doc) > 80, f"{name} has no real docstring"
        assert ":return:" in doc, f"{name} does not say what its return means"
        params = [p for p in inspect.signature(getattr(hookspecs, name)).parameters if p != "target"]
        for param in params:
            assert f":param {param}:" in doc, f"{name} does not document parameter {param}"


def test_hooks_with_examples():
    documented = [n for n in hookspecs.HOOK_NAMES if "Example::" in (inspect.getdoc(getattr(hookspecs, n)) or "")]
    assert {"bpfx_targets", "bpfx_abi", "bpfx_helpers", "bpfx_machine"} <= set(documented)


def _core_code_lines():
    for path in sorted((ROOT / "core").rglob("*.py")):
        tree = ast.parse(path.read_text())
        doc_nodes = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                if node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant):
                    doc_nodes.add(id(node.body[0].value))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in doc_nodes:
                yield path, node.lineno, node.value
            elif isinstance(node, ast.Name):
                yield path, node.lineno, node.id
            elif isinstance(node, ast.Attribute):
                yield path, node.lineno, node.attr
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    yield path, node.lineno, (getattr(node, "module", None) or "") + "." + alias.name


def test_core_never_names_a_bundled_target():
    """Code (not docstrings or comments) in core/ must not mention arm64, riscv or nfp."""
    hits = [f"{p.relative_to(ROOT)}:{line}: {text!r}" for p, line, text in _core_code_lines()
            if any(t in text.lower() for t in BUNDLED_TARGETS)]
    assert hits == []


def test_bundled_plugins_import_only_the_public_api():
    allowed = {"bpfx", "bpfx.api"}
    bad = []
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            bad += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("bpfx.") and n not in allowed]
    assert bad == []


def test_list_targets_json_names_distributions_and_hooks():
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "--list-targets", "--json"], capture_output=True,
                         text=True, check=True).stdout
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["interp"]["distribution"] == "bpfx"
    assert rows["interp"]["hooks"] == ["run"]
    assert rows["arm64"]["distribution"] == "bpfx"
    assert {"abi", "selector", "machine"} <= set(rows["arm64"]["hooks"])
    assert ("llvm" in rows["arm64"]["hooks"]) == (importlib.util.find_spec("bpfx.llvm") is not None)
    if importlib.util.find_spec("bpfx_acme"):
        assert rows["acme"]["distribution"] == "bpfx-acme"
        assert rows["acme"]["version"] == "0.3.1"
        assert {"context", "helpers"} <= set(rows["acme"]["hooks"])


def test_list_targets_text():
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "--list-targets"], capture_output=True, text=True,
                         check=True).stdout
    assert any(line.startswith("arm64 ") and "[bpfx 0.1.0]" in line for line in out.splitlines())


def test_unknown_target_lists_known_ones():
    with pytest.raises(bpfx.UsageError) as err:
        plugins.get_target("z80")
    assert "unknown target 'z80'; known targets: " in str(err.value)
    assert "arm64" in str(err.value) and "interp" in str(err.value)


def test_broken_plugin_is_a_warning_naming_its_distribution(monkeypatch):
    class EP:
        name = "broken"
        group = plugins.GROUP

        class dist:
            name = "bpfx-broken-vendor"
            version = "9.9"

        def load(self):
            raise ImportError("no module named bpfx_broken")

    monkeypatch.setattr(plugins, "entry_points", lambda group: [EP()])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reg = plugins.build_registry()
    assert reg.targets == {}
    assert any("bpfx-broken-vendor" in str(w.message) and "failed to load" in str(w.message) for w in caught)


def test_misspelt_hook_fails_loudly():
    mod = types.ModuleType("typo_plugin")
    mod.bpfx_targetz = bpfx.hookimpl(lambda: [])
    with pytest.raises(Exception, match="bpfx_targetz"):
        plugins.build_registry(extra_plugins=(mod,))


def test_allow_list(monkeypatch):
    monkeypatch.setenv("BPFX_LOAD_PLUGINS", "interp")
    reg = plugins.build_registry()
    assert sorted(reg.targets) == ["interp"]


def test_trace_plugins_env_traces_hook_calls():
    import os

    env = dict(os.environ, BPFX_TRACE_PLUGINS="1")
    out = subprocess.run([sys.executable, "-m", "bpfx.cli", "--list-targets"], capture_output=True, text=True,
                         env=env)
    assert out.returncode == 0 and "bpfx_abi [hook]" in out.stderr and "finish bpfx_machine" in out.stderr


def test_every_selector_member_the_core_uses_is_declared():
    """The Selector Protocol, the hookspec docs and the core's calls agree: a member the core (or the tools)
    reaches on a selector is declared in core/back/target.py and named in bpfx_selector's docstring."""
    import inspect
    import re

    from bpfx.back import target

    declared = {n for n in vars(target.Selector) if not n.startswith("_")} | set(
        target.Selector.__annotations__) | set(target.SELECTOR_OPTIONAL)
    used = set()
    for path in list((ROOT / "core").rglob("*.py")) + list((ROOT / "bench").glob("*.py")):
        if path.name == "target.py":
            continue
        text = path.read_text()
        used |= set(re.findall(r"\bsel(?:ector)?(?:\(\))?\.(\w+)", text))
        used |= set(re.findall(r"(?:get|has)attr\([\w.]*sel(?:ector)?(?:\(\))?, \"(\w+)\"", text))
    assert used, "the scan found no selector use at all"
    assert used - {"info", "name"} <= declared, f"undeclared: {sorted(used - declared)}"
    doc = inspect.getdoc(hookspecs.bpfx_selector)
    assert [m for m in sorted(declared) if m not in doc] == []


@pytest.mark.parametrize("name", [t.name for t in plugins.all_targets() if t.abi() is not None])
def test_bundled_and_vendor_selectors_implement_the_protocol(name):
    from bpfx.back import target

    sel = plugins.get_target(name).selector()
    required = {n for n in vars(target.Selector) if not n.startswith("_")} | set(target.Selector.__annotations__)
    assert [m for m in sorted(required) if not hasattr(sel, m)] == []
