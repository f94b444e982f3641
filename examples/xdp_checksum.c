// bpf-to-bpf calls and a bounded loop: fold the first 64 bytes of the packet into a 16-bit checksum and
// count the frames whose checksum is odd in a global variable (.bss).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 odd_frames = 0;

static __attribute__((noinline)) __u32 fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

static __attribute__((noinline)) __u32 sum_words(void *data, void *data_end)
{
	__u32 sum = 0;

	for (int i = 0; i < 32; i++) {
		__u16 *word = data + 2 * i;
		if ((void *)(word + 1) > data_end)
			break;
		sum += *word;
	}
	return sum;
}

SEC("xdp")
int xdp_checksum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 csum = fold(sum_words(data, data_end));

	if (csum & 1)
		odd_frames++;
	return csum == 0xffff ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
