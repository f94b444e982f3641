/*
 * A bare-metal device firmware that runs BPF instead of native code ("Option 2: IR handoff"): the program is
 * the device-normalised BPF of `bpfx compile -t bpf -f c` (prog.c), run by the exported runtime (bpfx_vm.c).
 * Same device as examples/baremetal/arm64 (QEMU virt, aarch64 or riscv64): a UART, a 4096-byte packet with headroom,
 * struct bpfx_xdp_md; here the firmware owns the helper table and the memory the program may touch.
 */
#include <stddef.h>
#include <stdint.h>

#include "bpfx_vm.h"

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
struct bpfx_map {
	uint32_t type, key_size, value_size, max_entries, used;
	unsigned char *keys, *values;
	const unsigned char *initial; /* global data (.bss, .data, .rodata): its first value */
	const char *symbol;
};
extern struct bpfx_map *bpfx_maps[] __attribute__((weak));
extern int bpfx_nmaps __attribute__((weak));
#define NMAPS (&bpfx_nmaps ? bpfx_nmaps : 0)
#define MAP_ARRAY 2
#define MAP_PERCPU_ARRAY 6

static unsigned char packet[HEADROOM + PKT_LEN + 256] __attribute__((aligned(16)));

static void putc_(char c) { *UART_THR = (uint8_t)c; }
#include "../common/console.h"

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

static int same(const unsigned char *a, const unsigned char *b, uint32_t n)
{
	while (n--)
		if (*a++ != *b++)
			return 0;
	return 1;
}

static int streq(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return *a == *b;
}

static void copy(unsigned char *d, const unsigned char *s, uint32_t n) { while (n--) *d++ = *s++; }

static int is_array(const struct bpfx_map *m) { return m->type == MAP_ARRAY || m->type == MAP_PERCPU_ARRAY; }

/* The map a handle names: helpers trust no argument the program passes. */
static struct bpfx_map *map_of(uint64_t handle)
{
	for (int i = 0; i < NMAPS; i++)
		if (handle == (uint64_t)(uintptr_t)bpfx_maps[i])
			return bpfx_maps[i];
	return 0;
}

static unsigned char *lookup(struct bpfx_map *m, const unsigned char *key)
{
	if (is_array(m)) {
		uint32_t i = (uint32_t)key[0] | (uint32_t)key[1] << 8 | (uint32_t)key[2] << 16 | (uint32_t)key[3] << 24;
		return i < m->max_entries ? m->values + (uint64_t)i * m->value_size : 0;
	}
	for (uint32_t i = 0; i < m->used; i++)
		if (same(m->keys + (uint64_t)i * m->key_size, key, m->key_size))
			return m->values + (uint64_t)i * m->value_size;
	return 0;
}

static uint64_t map_lookup_elem(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				uint64_t r5)
{
	struct bpfx_map *m = map_of(r1);
	const unsigned char *key = m ? bpfx_vm_ptr(vm, r2, m->key_size, 0) : 0;
	(void)r3; (void)r4; (void)r5;
	return key ? (uint64_t)(uintptr_t)lookup(m, key) : 0;
}

static uint64_t map_update_elem(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				uint64_t r5)
{
	struct bpfx_map *m = map_of(r1);
	const unsigned char *key = m ? bpfx_vm_ptr(vm, r2, m->key_size, 0) : 0;
	const unsigned char *value = m ? bpfx_vm_ptr(vm, r3, m->value_size, 0) : 0;
	unsigned char *slot;
	(void)r4; (void)r5;
	if (!key || !value)
		return (uint64_t)-14;
	slot = lookup(m, key);
	if (!slot) {
		if (is_array(m) || m->used == m->max_entries)
			return (uint64_t)-7;
		copy(m->keys + (uint64_t)m->used * m->key_size, key, m->key_size);
		slot = m->values + (uint64_t)m->used++ * m->value_size;
	}
	copy(slot, value, m->value_size);
	return 0;
}

/* "map SYMBOL[KEY] = VALUE" for every entry that differs from its initial contents (arrays) or exists (hash). */
static void print_maps(void)
{
	static const unsigned char zero[256];
	for (int n = 0; n < NMAPS; n++) {
		struct bpfx_map *m = bpfx_maps[n];
		uint32_t count = is_array(m) ? m->max_entries : m->used;
		for (uint32_t i = 0; i < count; i++) {
			unsigned char *v = m->values + (uint64_t)i * m->value_size;
			if (is_array(m) && same(v, i == 0 && m->initial ? m->initial : zero, m->value_size))
				continue;
			puts_("map "); puts_(m->symbol); puts_("[");
			if (is_array(m))
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
	copy(code, BPFX_CODE, (uint32_t)len);
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
			copy(bpfx_maps[i]->values, bpfx_maps[i]->initial, bpfx_maps[i]->value_size);
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
