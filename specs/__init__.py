"""Declarative data bpfx reads: helper prototypes and program types (see the .toml files)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources


@cache
def load(name: str) -> dict:
    """The parsed ``<name>.toml`` of this package (``helpers`` or ``program_types``)."""
    return tomllib.loads(resources.files(__name__).joinpath(f"{name}.toml").read_text())
