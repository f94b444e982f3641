"""Back end: the target contract (``target``), legalisation, the codegen driver, the emitter and the writers.

A validated ``Program`` is legalised for the target's ABI, lowered by the target's selector through
``CodeGen``/``Emitter`` into an ``Image``, and written by ``writers``.
"""
