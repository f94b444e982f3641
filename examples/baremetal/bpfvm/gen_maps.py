"""Write maps.c for the bpfvm firmware: storage for every map of a BPF object (global data too, with its initial
bytes), named by the symbol the bpf target's relocation records use, and the table firmware.c resolves them from.

    python gen_maps.py ../../xdp_counters.o > build/maps.c
"""

from __future__ import annotations

import sys

import bpfx


def main(path: str) -> str:
    maps = bpfx.load(path).maps
    out = ['#include "bpf_maps.h"']
    for m in maps:
        sym = bpfx.map_symbol(m.name)
        initial = "0"
        if m.initial is not None:
            out.append(f"static const unsigned char {sym}_initial[{max(len(m.initial), 1)}] = "
                       f"{{{', '.join(str(b) for b in m.initial) or '0'}}};")
            initial = f"{sym}_initial"
        out.append(f"static unsigned char {sym}_keys[{m.key_size * m.max_entries}], "
                   f"{sym}_values[{m.value_size * m.max_entries}] __attribute__((aligned(8)));")
        out.append(f"static struct bpfx_map {sym}_map = {{{m.type}, {m.key_size}, {m.value_size}, {m.max_entries}, "
                   f'0, {sym}_keys, {sym}_values, {initial}, "{sym}"}};')
    refs = ", ".join(f"&{bpfx.map_symbol(m.name)}_map" for m in maps) or "0"
    out += [f"struct bpfx_map *bpfx_maps[] = {{{refs}}};", f"int bpfx_nmaps = {len(maps)};", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(main(sys.argv[1]))
