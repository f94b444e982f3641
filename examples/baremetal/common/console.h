/*
 * What every bare-metal harness here shares: console output over a UART (the includer defines putc_ for its
 * board first) and the test packet's header. Header-only and static inline, so each harness stays one file.
 */
#ifndef BPFX_BAREMETAL_CONSOLE_H
#define BPFX_BAREMETAL_CONSOLE_H

static void putc_(char c);

static inline void puts_(const char *s)
{
	while (*s)
		putc_(*s++);
}

static inline void putd(long v)
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

/* An Ethernet + IPv4 + TCP header (tests/data/ipv4_tcp.bin); the rest of the packet is i & 0xff. */
static const unsigned char test_packet_header[34] = {
	0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0x02, 0x42, 0xac, 0x11, 0x00, 0x03, 0x08, 0x00,
	0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0xb1, 0xe6, 0xc0, 0xa8, 0x00, 0x01,
	0xc0, 0xa8, 0x00, 0xc7,
};

#endif
