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
extern const size_t BPFX_RELOCS_LEN;

static unsigned char packet[HEADROOM + PKT_LEN + 256] __attribute__((aligned(16)));
static const unsigned char header[34] = {
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0x02, 0x42, 0xac, 0x11, 0x00, 0x03, 0x08, 0x00,
	0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0xb1, 0xe6, 0xc0, 0xa8, 0x00, 0x01,
	0xc0, 0xa8, 0x00, 0xc7,
};

static void putc_(char c) { *UART_THR = (uint8_t)c; }
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

static uint64_t ktime_get_ns(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	static uint64_t t = 1000000000;
	(void)vm; (void)r1; (void)r2; (void)r3; (void)r4; (void)r5;
	return t += 1000;
}

static bpfx_helper_fn helpers[64];
static struct bpfx_vm vm;

int main(void)
{
	struct bpfx_xdp_md ctx = { packet + HEADROOM, packet + HEADROOM + PKT_LEN, packet + HEADROOM, 1, 0 };
	uint64_t ret = 0;
	int rc;

	helpers[5] = ktime_get_ns;
	helpers[44] = xdp_adjust_head;
	for (int i = 0; i < PKT_LEN; i++)
		packet[HEADROOM + i] = i < (int)sizeof(header) ? header[i] : (unsigned char)i;
	if (BPFX_RELOCS_LEN) {
		puts_("program has unresolved relocations (compile it with its maps resolved)\n");
		return 1;
	}
	rc = bpfx_vm_init(&vm, BPFX_CODE, (uint32_t)(BPFX_CODE_LEN / 8), helpers, 64);
	if (rc == BPFX_OK)
		rc = bpfx_vm_add_region(&vm, &ctx, sizeof ctx, 1);
	if (rc == BPFX_OK)
		rc = bpfx_vm_add_region(&vm, packet, sizeof packet, 1);
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
	return 0;
}
