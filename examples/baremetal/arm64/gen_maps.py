"""Write maps.c: a `struct bpfx_map` with storage for every map of a BPF object (not global data, which the
bpfx ELF object defines itself), and the table harness.c prints them from.

    python gen_maps.py ../../xdp_counters.o > build/maps.c
"""

from __future__ import annotations

import sys

import bpfx


def main(path: str) -> str:
    maps = [m for m in bpfx.load(path).maps if m.initial is None]
    out = ["#include <stdint.h>", "struct bpfx_map { uint32_t type, key_size, value_size, max_entries, used;",
           "                  unsigned char *keys, *values; };"]
    for m in maps:
        sym = bpfx.map_symbol(m.name)
        out.append(f"static unsigned char {sym}_keys[{m.key_size * m.max_entries}], "
                   f"{sym}_values[{m.value_size * m.max_entries}] __attribute__((aligned(8)));")
        out.append(f"struct bpfx_map {sym} = {{{m.type}, {m.key_size}, {m.value_size}, {m.max_entries}, 0, "
                   f"{sym}_keys, {sym}_values}};")
    refs = ", ".join(f"&{bpfx.map_symbol(m.name)}" for m in maps) or "0"
    names = ", ".join(f'"{m.name}"' for m in maps) or "0"
    out += [f"struct bpfx_map *bpfx_maps[] = {{{refs}}};", f"const char *bpfx_map_names[] = {{{names}}};",
            f"int bpfx_nmaps = {len(maps)};", ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(main(sys.argv[1]))
