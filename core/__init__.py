"""bpfx: compile eBPF to the processors inside I/O devices.

The public API (what drivers and target plugins import) is re-exported here
and from ``bpfx.api``.
"""

from __future__ import annotations

__version__ = "0.1.0"
