// Compute loops for the LLVM-tier and host benchmarks (bench/codegen.py, bench/host_speed.py): built with
// clang -O2 -target bpf; each is an XDP program over the packet (or pure compute) returning a number.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define N 2048

SEC("xdp") int sieve(struct xdp_md *ctx)
{
	unsigned char composite[400] = {};
	int primes = 0;
	for (int i = 2; i < 400; i++) {
		if (composite[i])
			continue;
		primes++;
		for (int j = i * i; j < 400; j += i)
			composite[j] = 1;
	}
	return primes;
}

SEC("xdp") int checksum(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	unsigned int sum = 0;
	for (int i = 0; i < N; i += 2) {
		if (data + i + 2 > end)
			break;
		sum += data[i] << 8 | data[i + 1];
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

SEC("xdp") int fnv(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	unsigned long long h = 0xcbf29ce484222325ULL;
	for (int i = 0; i < N; i++) {
		if (data + i + 1 > end)
			break;
		h = (h ^ data[i]) * 0x100000001b3ULL;
	}
	return (unsigned int)(h ^ (h >> 32));
}

SEC("xdp") int bubble(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	unsigned int v[48];
	if (data + 48 > end)
		return 0;
	for (int i = 0; i < 48; i++)
		v[i] = data[i] * 2654435761u;
	for (int i = 0; i < 48; i++)
		for (int j = 0; j < 47 - i; j++)
			if (v[j] > v[j + 1]) {
				unsigned int t = v[j];
				v[j] = v[j + 1];
				v[j + 1] = t;
			}
	return v[0] ^ v[47] ^ v[24];
}

SEC("xdp") int collatz(struct xdp_md *ctx)
{
	unsigned int best = 0, arg = 0;
	for (unsigned int n = 1; n < 300; n++) {
		unsigned long long x = n;
		unsigned int steps = 0;
		while (x != 1 && steps < 1000) {
			x = (x & 1) ? 3 * x + 1 : x / 2;
			steps++;
		}
		if (steps > best) {
			best = steps;
			arg = n;
		}
	}
	return arg << 16 | best;
}

// Packet parsing: the packet as type-length-value records (low nibbles of the first two bytes), every record's
// bounds checked against data_end before its value is hashed: the parse of a packet full of small options.
SEC("xdp") int tlv(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	unsigned int counts[16] = {}, hash = 0, off = 0;
	for (int r = 0; r < 1024; r++) {
		if (data + off + 2 > end)
			break;
		unsigned int type = data[off] & 15, len = data[off + 1] & 15;
		if (data + off + 2 + len > end)
			break;
		for (unsigned int i = 0; i < len; i++)
			hash = hash * 31 + data[off + 2 + i];
		counts[type]++;
		off += 2 + len;
	}
	return hash ^ counts[3] << 16 ^ counts[12] << 24 ^ off;
}

char LICENSE[] SEC("license") = "GPL";
