"""Raw output: the code bytes, and beside them OUT.relocs.json listing what a loader must patch."""

from __future__ import annotations

import json

from ..target import Image


def relocs_json(image: Image) -> str:
    rows = [{"offset": r.offset, "type": r.type,
             "type_name": image.reloc_types[r.type].name if r.type in image.reloc_types else str(r.type),
             "symbol": r.symbol, "addend": r.addend, "kind": r.kind} for r in image.relocs]
    return json.dumps({"target": image.target, "entry": image.entry, "symbols": image.symbols, "relocs": rows},
                      indent=2) + "\n"
