/*
 * A bare-metal XDP environment: a PL011 UART, a 4096-byte packet with headroom, and the helpers bpfx-compiled
 * code calls (the output ABI in the README: bpf_<name> symbols, native calling convention, struct bpfx_xdp_md).
 * PROG names the program's entry function (e.g. -DPROG=xdp_prog).
 */
#include <stdint.h>

#define UART_DR ((volatile uint32_t *)0x09000000)
#define HEADROOM 256
#define PKT_LEN 4096

struct bpfx_xdp_md {
	void *data;
	void *data_end;
	void *data_meta;
	uint32_t ingress_ifindex;
	uint32_t rx_queue_index;
};

uint64_t PROG(void *ctx);

static unsigned char packet[HEADROOM + PKT_LEN + 256] __attribute__((aligned(16)));

static void putc_(char c) { *UART_DR = (uint32_t)c; }
static void puts_(const char *s) { while (*s) putc_(*s++); }
static void putd(long v)
{
	char buf[24];
	int i = 0;
	unsigned long u = v < 0 ? -(unsigned long)v : (unsigned long)v;
	if (v < 0)
		putc_('-');
	do { buf[i++] = (char)('0' + u % 10); u /= 10; } while (u);
	while (i)
		putc_(buf[--i]);
}

long bpf_xdp_adjust_head(struct bpfx_xdp_md *ctx, int delta)
{
	unsigned char *data = (unsigned char *)ctx->data + delta;
	puts_("adjust head: "); putd(delta); puts_("\n");
	if (data < packet || data > (unsigned char *)ctx->data_end - 14)
		return -22;
	ctx->data = data;
	ctx->data_meta = data;
	return 0;
}

long bpf_xdp_adjust_tail(struct bpfx_xdp_md *ctx, int delta)
{
	unsigned char *end = (unsigned char *)ctx->data_end + delta;
	if (end < (unsigned char *)ctx->data + 14 || end > packet + sizeof(packet))
		return -22;
	ctx->data_end = end;
	return 0;
}

uint64_t bpf_ktime_get_ns(void) { static uint64_t t = 1000000000; return t += 1000; }
uint32_t bpf_get_smp_processor_id(void) { return 0; }

int main(void)
{
	struct bpfx_xdp_md ctx = { packet + HEADROOM, packet + HEADROOM + PKT_LEN, packet + HEADROOM, 1, 0 };
	uint64_t ret;

	for (int i = 0; i < PKT_LEN; i++)
		packet[HEADROOM + i] = (unsigned char)i;
	puts_("Entering XDP prog (pkt len: "); putd(PKT_LEN); puts_(")\n");
	ret = PROG(&ctx);
	puts_("After XDP prog (ret: "); putd((long)ret); puts_(", pkt len: ");
	putd((long)((unsigned char *)ctx.data_end - (unsigned char *)ctx.data)); puts_(")\n");
	return 0;
}
