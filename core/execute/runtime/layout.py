"""The one virtual memory layout every runner shares (interpreter and emulated targets alike).

Everything lives below 4 GiB so the UAPI context structs, whose packet pointers are u32 fields, hold real
addresses. Emulated targets put their native code, helper trampolines and native stack here too.
"""

CODE_BASE = 0x0010_0000  # native code images (16 MiB)
TRAMPOLINE_BASE = 0x0110_0000  # helper id i has its trampoline at TRAMPOLINE_BASE + 16 * i
STACK_BASE = 0x0200_0000
STACK_SIZE = 0x1_0000  # BPF frames (512 bytes each, up to 8) and the native frames around them
STACK_TOP = STACK_BASE + STACK_SIZE
CTX_BASE = 0x0300_0000
CTX_SIZE = 0x1000
PACKET_BASE = 0x0400_0000
PACKET_HEADROOM = 256  # XDP_PACKET_HEADROOM: room for bpf_xdp_adjust_head(ctx, -N)
PACKET_TAILROOM = 256
MAX_PACKET = 0x1_0000
MEM_BASE = 0x0500_0000  # conformance memory (prog type "mem")
MAX_MEM = 0x0100_0000  # 16 MiB: the memory image of a "mem" program (bpfx run --mem)
MAP_BASE = 0x1000_0000  # map handles and values, each map in its own 64 KiB-aligned region
MAP_STRIDE = 0x0100_0000
# A map (handle page and values) must fit its 16 MiB slot with an unmapped guard of at least 64 KiB before the
# next one, so an overrun faults rather than landing in the next map: max_entries x value_size is capped.
MAP_GUARD = 0x1_0000
MAX_MAP_BYTES = MAP_STRIDE - MAP_GUARD
MAX_MAPS = ((1 << 32) - MAP_BASE) // MAP_STRIDE  # 240: every map below 4 GiB
OUTPUT_BASE = 0x0600_0000  # records handed out by bpf_ringbuf_reserve, one 4 KiB-aligned region each
KERNEL_BASE = 0x0700_0000  # what get_current_task and friends return: a zeroed, read-only "kernel object"
