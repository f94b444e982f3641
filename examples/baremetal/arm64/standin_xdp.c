/*
 * STAND-IN ONLY: examples/xdp_adjust_head.c written as plain C for the cross gcc, so `make standin` can prove
 * the harness (startup, UART, helpers, PSCI power-off) without bpfx. The real build links the object that
 * `bpfx compile ../../xdp_adjust_head.o -t arm64 -f elf` produces instead; nothing else uses this file.
 * It follows the same output ABI: entry named after the program function, ctx first, helpers as bpf_<name>.
 */
#include <stdint.h>

struct bpfx_xdp_md;
long bpf_xdp_adjust_head(struct bpfx_xdp_md *ctx, int delta);

enum { XDP_ABORTED = 0, XDP_PASS = 2 };

uint64_t xdp_prog(struct bpfx_xdp_md *ctx)
{
	if (bpf_xdp_adjust_head(ctx, 12))
		return XDP_ABORTED;
	return XDP_PASS;
}
