"""Execution: the reference interpreter, the shared runtime (memory, maps, helpers), the emulated-machine
executor and ``runner`` (compile-and-run for any target). Named ``runner``, not ``run``, so it does not shadow
the API function ``bpfx.run``.
"""
