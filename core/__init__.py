"""bpfx: compile eBPF to the processors inside I/O devices.

The public API (what drivers and target plugins import) is re-exported here
from ``bpfx.api``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import *  # noqa: E402,F403
from .api import __all__  # noqa: E402,F401
