/*
 * A bare-metal device firmware that runs BPF instead of native code ("Option 2: IR handoff"): the program is
 * the device-normalised BPF of `bpfx compile -t bpf -f c` (prog.c), run by the exported runtime (bpfx_vm.c).
 * Same device as examples/baremetal/arm64 (QEMU virt, aarch64 or riscv64): a UART, a 4096-byte packet with headroom,
 * struct bpfx_xdp_md; here the firmware owns the helper table and the memory the program may touch.
 */
#include <stddef.h>
#include <stdint.h>

#include "bpf_maps.h" /* includes bpfx_vm.h */

#ifdef __riscv
#define UART_THR ((volatile uint8_t *)0x10000000) /* 16550 on riscv virt */
#else
#define UART_THR ((volatile uint32_t *)0x09000000) /* PL011 on arm virt */
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

struct bpfx_reloc { uint32_t offset; uint32_t type; const char *symbol; int64_t addend; };
/* From prog.c; the Makefile maps these names onto the program's (ENTRY_code, ...). */
extern const unsigned char BPFX_CODE[];
extern const size_t BPFX_CODE_LEN;
extern const struct bpfx_reloc BPFX_RELOCS[];
extern const size_t BPFX_RELOCS_LEN;

/* From maps.c (gen_maps.py) when the program has maps; weak references resolve to 0 when it has none. */
extern struct bpfx_map *bpfx_maps[] __attribute__((weak));
extern int bpfx_nmaps __attribute__((weak));
#define NMAPS (&bpfx_nmaps ? bpfx_nmaps : 0)

static unsigned char packet[HEADROOM + PKT_LEN + 256] __attribute__((aligned(16)));

static void putc_(char c) { *UART_THR = (uint8_t)c; }
#include "console.h"

static void puthex(const unsigned char *p, uint32_t n)
{
	static const char digits[] = "0123456789abcdef";
	while (n--) {
		putc_(digits[*p >> 4]);
		putc_(digits[*p++ & 15]);
	}
}

/* Helpers, by device helper index (here the UAPI ids: the program was compiled without a helper map). */
static uint64_t xdp_adjust_head(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				uint64_t r5)
{
	struct bpfx_xdp_md *ctx = (struct bpfx_xdp_md *)(uintptr_t)r1;
	int delta = (int)(int32_t)r2;
	unsigned char *data;
	(void)vm; (void)r3; (void)r4; (void)r5;
	puts_("adjust head: "); putd(delta); puts_("\n");
	data = (unsigned char *)ctx->data + delta;
	if (data < packet || data > (unsigned char *)ctx->data_end - 14)
		return (uint64_t)-22;
	ctx->data = data;
	ctx->data_meta = data;
	return 0;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

struct bpfx_map *bpfx_map_of(uint64_t handle)
{
	for (int i = 0; i < NMAPS; i++)
		if (handle == (uint64_t)(uintptr_t)bpfx_maps[i])
			return bpfx_maps[i];
	return 0;
}

/* "map SYMBOL[KEY] = VALUE" for every entry that differs from its initial contents (arrays) or exists (hash). */
static void print_maps(void)
{
	static const unsigned char zero[256];
	for (int n = 0; n < NMAPS; n++) {
		struct bpfx_map *m = bpfx_maps[n];
		uint32_t count = map_is_array(m) ? m->max_entries : m->used;
		for (uint32_t i = 0; i < count; i++) {
			unsigned char *v = m->values + (uint64_t)i * m->value_size;
			if (map_is_array(m) && bytes_same(v, i == 0 && m->initial ? m->initial : zero, m->value_size))
				continue;
			puts_("map "); puts_(m->symbol); puts_("[");
			if (map_is_array(m))
				puthex((const unsigned char *)&i, 4);
			else
				puthex(m->keys + (uint64_t)i * m->key_size, m->key_size);
			puts_("] = "); puthex(v, m->value_size); puts_("\n");
		}
	}
}

/* The loader: the program into writable memory, each relocation record resolved against the firmware's maps
 * (global data by its value's address plus the addend, other maps by their handle). */
static int load(unsigned char *code, size_t len)
{
	bytes_copy(code, BPFX_CODE, (uint32_t)len);
	for (size_t i = 0; i < BPFX_RELOCS_LEN; i++) {
		const struct bpfx_reloc *r = &BPFX_RELOCS[i];
		struct bpfx_map *m = 0;
		uint64_t value;
		for (int n = 0; n < NMAPS && !m; n++)
			if (streq(bpfx_maps[n]->symbol, r->symbol))
				m = bpfx_maps[n];
		if (!m) {
			puts_("unresolved symbol "); puts_(r->symbol); puts_("\n");
			return -1;
		}
		value = m->initial ? (uint64_t)(uintptr_t)m->values + (uint64_t)r->addend : (uint64_t)(uintptr_t)m;
		if (bpfx_vm_relocate(code, (uint32_t)(len / 8), r->offset, r->type, value) != BPFX_OK)
			return -1;
	}
	return 0;
}

static uint64_t ktime_get_ns(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	static uint64_t t = 1000000000;
	(void)vm; (void)r1; (void)r2; (void)r3; (void)r4; (void)r5;
	return t += 1000;
}

static bpfx_helper_fn helpers[64];
static struct bpfx_vm vm;
static unsigned char code[65536] __attribute__((aligned(8)));

int main(void)
{
	struct bpfx_xdp_md ctx = { packet + HEADROOM, packet + HEADROOM + PKT_LEN, packet + HEADROOM, 1, 0 };
	uint64_t ret = 0;
	int rc;

	helpers[1] = map_lookup_elem;
	helpers[2] = map_update_elem;
	helpers[5] = ktime_get_ns;
	helpers[44] = xdp_adjust_head;
	for (int i = 0; i < PKT_LEN; i++)
		packet[HEADROOM + i] = i < (int)sizeof(test_packet_header) ? test_packet_header[i] : (unsigned char)i;
	for (int i = 0; i < NMAPS; i++)
		if (bpfx_maps[i]->initial)
			bytes_copy(bpfx_maps[i]->values, bpfx_maps[i]->initial, bpfx_maps[i]->value_size);
	if (BPFX_CODE_LEN > sizeof code || load(code, BPFX_CODE_LEN)) {
		puts_("cannot load the program\n");
		return 1;
	}
	rc = bpfx_vm_init(&vm, code, (uint32_t)(BPFX_CODE_LEN / 8), helpers, 64);
	if (rc == BPFX_OK)
		rc = bpfx_vm_add_region(&vm, &ctx, sizeof ctx, 1);
	if (rc == BPFX_OK)
		rc = bpfx_vm_add_region(&vm, packet, sizeof packet, 1);
	for (int i = 0; i < NMAPS && rc == BPFX_OK; i++) /* map values: what lookups hand the program */
		rc = bpfx_vm_add_region(&vm, bpfx_maps[i]->values,
					(uint64_t)bpfx_maps[i]->max_entries * bpfx_maps[i]->value_size, 1);
	puts_("Entering XDP prog (pkt len: "); putd(PKT_LEN); puts_(")\n");
	if (rc == BPFX_OK)
		rc = bpfx_vm_run(&vm, &ctx, &ret);
	if (rc != BPFX_OK) {
		puts_("bpfx_vm fault "); putd(rc); puts_(" at insn "); putd((long)vm.fault_pc); puts_("\n");
		return 1;
	}
	puts_("After XDP prog (ret: "); putd((long)ret); puts_(", pkt len: ");
	putd((long)((unsigned char *)ctx.data_end - (unsigned char *)ctx.data)); puts_(")\n");
	puts_("packet: "); puthex((const unsigned char *)ctx.data, 16); puts_("\n");
	puts_("insns executed: "); putd((long)vm.executed); puts_("\n");
	print_maps();
	return 0;
}
