"""Front end: the ISA table, loading (ELF, assembly, raw), validation and the CFG.

Data flows one way: ``loader`` turns a file into an ``Object`` of ``Program``s, ``validate`` checks each
structurally, ``cfg`` analyses it. Nothing here knows about targets.
"""
