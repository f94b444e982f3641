// The seed talk's proof of concept: drop 12 bytes from the front of the packet and pass it on.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_prog(struct xdp_md *ctx)
{
	if (bpf_xdp_adjust_head(ctx, 12))
		return XDP_ABORTED;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
