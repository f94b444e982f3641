/*
 * A bare-metal XDP environment: a PL011 UART, a 4096-byte packet with headroom, and the helpers bpfx-compiled
 * code calls (the output ABI in the README: bpf_<name> symbols, native calling convention, struct bpfx_xdp_md).
 * The program's entry is reached as bpfx_prog: the Makefile links with --defsym=bpfx_prog=<its function>.
 */
#include <stdint.h>

#ifndef UART_DR /* the PL011's data register on arm64 virt; riscv64 passes its NS16550's (-DUART_DR=...) */
#define UART_DR ((volatile uint32_t *)0x09000000)
#endif
#define HEADROOM 256
#define PKT_LEN 4096

struct bpfx_xdp_md {
	void *data;
	void *data_end;
	void *data_meta;
	uint32_t ingress_ifindex;
	uint32_t rx_queue_index;
};

uint64_t bpfx_prog(void *ctx);

/* A map as gen_maps.py defines it for each map symbol the program references. */
struct bpfx_map {
	uint32_t type, key_size, value_size, max_entries, used;
	unsigned char *keys, *values;
};
#define MAP_ARRAY 2
#define MAP_PERCPU_ARRAY 6
/* Defined by maps.c when the program has maps; weak references resolve to 0 when it has none. */
extern struct bpfx_map *bpfx_maps[] __attribute__((weak));
extern const char *bpfx_map_names[] __attribute__((weak));
extern int bpfx_nmaps __attribute__((weak));

static unsigned char packet[HEADROOM + PKT_LEN + 256] __attribute__((aligned(16)));

static void putc_(char c) { *UART_DR = (uint32_t)c; }
#include "../common/console.h"

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

static int bytes_equal(const unsigned char *a, const unsigned char *b, uint32_t n)
{
	while (n--)
		if (*a++ != *b++)
			return 0;
	return 1;
}

static void copy(unsigned char *d, const unsigned char *s, uint32_t n) { while (n--) *d++ = *s++; }

static int is_array(const struct bpfx_map *m) { return m->type == MAP_ARRAY || m->type == MAP_PERCPU_ARRAY; }

void *bpf_map_lookup_elem(struct bpfx_map *m, const void *key)
{
	if (is_array(m)) {
		uint32_t i = *(const uint32_t *)key;
		return i < m->max_entries ? m->values + (uint64_t)i * m->value_size : 0;
	}
	for (uint32_t i = 0; i < m->used; i++)
		if (bytes_equal(m->keys + (uint64_t)i * m->key_size, key, m->key_size))
			return m->values + (uint64_t)i * m->value_size;
	return 0;
}

long bpf_map_update_elem(struct bpfx_map *m, const void *key, const void *value, uint64_t flags)
{
	unsigned char *slot = bpf_map_lookup_elem(m, key);
	(void)flags;
	if (!slot) {
		if (is_array(m) || m->used == m->max_entries)
			return -7;
		copy(m->keys + (uint64_t)m->used * m->key_size, key, m->key_size);
		slot = m->values + (uint64_t)m->used++ * m->value_size;
	}
	copy(slot, value, m->value_size);
	return 0;
}

static void puthex(const unsigned char *p, uint32_t n)
{
	static const char digits[] = "0123456789abcdef";
	while (n--) {
		putc_(digits[*p >> 4]);
		putc_(digits[*p++ & 15]);
	}
}

/* "map NAME[KEY] = VALUE" for every entry whose value is not all zero (array) or that exists (hash). */
static void print_maps(void)
{
	static const unsigned char zero[256];
	if (&bpfx_nmaps == 0)
		return;
	for (int n = 0; n < bpfx_nmaps; n++) {
		struct bpfx_map *m = bpfx_maps[n];
		uint32_t count = is_array(m) ? m->max_entries : m->used;
		for (uint32_t i = 0; i < count; i++) {
			unsigned char *v = m->values + (uint64_t)i * m->value_size;
			if (is_array(m) && bytes_equal(v, zero, m->value_size))
				continue;
			puts_("map "); puts_(bpfx_map_names[n]); puts_("[");
			if (is_array(m))
				puthex((const unsigned char *)&i, 4);
			else
				puthex(m->keys + (uint64_t)i * m->key_size, m->key_size);
			puts_("] = "); puthex(v, m->value_size); puts_("\n");
		}
	}
}

/* Leaves QEMU with a failure exit status (start.S: semihosting SYS_EXIT on arm64, the SiFive test device on
 * riscv64); never returns. */
void board_exit(int code) __attribute__((noreturn));

/* Checked code (bpfx --safety=checked) calls this when a run-time check fails: insn is the BPF instruction, reason
 * indexes bpfx.front.verify.FAULT_REASONS. It must not return. */
void bpfx_fault(uint64_t insn, uint64_t reason)
{
	puts_("bpfx_fault: insn "); putd((long)insn); puts_(", reason "); putd((long)reason); puts_("\n");
	board_exit(3);
}

uint64_t bpf_ktime_get_ns(void) { static uint64_t t = 1000000000; return t += 1000; }
uint32_t bpf_get_smp_processor_id(void) { return 0; }

int main(void)
{
	struct bpfx_xdp_md ctx = { packet + HEADROOM, packet + HEADROOM + PKT_LEN, packet + HEADROOM, 1, 0 };
	uint64_t ret;

	for (int i = 0; i < PKT_LEN; i++)
		packet[HEADROOM + i] = i < (int)sizeof(test_packet_header) ? test_packet_header[i] : (unsigned char)i;
	puts_("Entering XDP prog (pkt len: "); putd(PKT_LEN); puts_(")\n");
	ret = bpfx_prog(&ctx);
	puts_("After XDP prog (ret: "); putd((long)ret); puts_(", pkt len: ");
	putd((long)((unsigned char *)ctx.data_end - (unsigned char *)ctx.data)); puts_(")\n");
	print_maps();
	return 0;
}
