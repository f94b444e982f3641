// In-process ubpf runner/benchmark for raw BPF programs written by bpfx's bench/host_speed.py (its --runner).
// usage: ubpf_bench [-j] [-c xdp|skb|raw] [-n N] PROG_FILE PACKET_FILE
// Build against a ubpf checkout (https://github.com/iovisor/ubpf, built with cmake into UBPF/build):
//   gcc -O2 -o ubpf_bench bench/ubpf_bench.c -IUBPF/vm/inc -IUBPF/build/vm UBPF/build/lib/libubpf.a
// then: python bench/host_speed.py --runner "./ubpf_bench -j -c {ctx} -n {n}"
// Memory given to the program: one buffer mapped below 4 GiB (MAP_32BIT) = [context | packet]; the context's
// 32-bit data/data_end fields point at the packet (xdp_md or __sk_buff layout), so r1 = &ctx as in the kernel and
// the interpreter's bounds check (mem..mem+len) covers context and packet. -c raw: r1 = packet, as ubpf_test -m.
// Prints r0 (hex). With -n N > 1 also runs N more times (program loaded/compiled once) and prints per-run time.
#define _GNU_SOURCE
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <inttypes.h>
#include "ubpf.h"

static void* slurp(const char* path, size_t* len)
{
    FILE* f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    size_t cap = 1 << 20; char* buf = malloc(cap);
    *len = fread(buf, 1, cap, f); fclose(f); return buf;
}
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
static int cmpd(const void* a, const void* b) { double x = *(double*)a, y = *(double*)b; return x < y ? -1 : x > y; }

int main(int argc, char** argv)
{
    int jit = 0, opt; long n = 1; const char* ctx = "xdp";
    while ((opt = getopt(argc, argv, "jc:n:")) != -1) {
        if (opt == 'j') jit = 1; else if (opt == 'c') ctx = optarg; else if (opt == 'n') n = atol(optarg);
        else { fprintf(stderr, "usage: %s [-j] [-c xdp|skb|raw] [-n N] PROG PACKET\n", argv[0]); return 2; }
    }
    if (argc - optind != 2) { fprintf(stderr, "usage: %s [-j] [-c xdp|skb|raw] [-n N] PROG PACKET\n", argv[0]); return 2; }
    size_t code_len, pkt_len;
    void* code = slurp(argv[optind], &code_len);
    void* pkt = slurp(argv[optind + 1], &pkt_len);
    size_t ctx_len = !strcmp(ctx, "xdp") ? sizeof(struct xdp_md) : !strcmp(ctx, "skb") ? sizeof(struct __sk_buff) : 0;
    ctx_len = (ctx_len + 15) & ~(size_t)15;
    size_t mem_len = ctx_len + pkt_len;
    uint8_t* mem = mmap(NULL, mem_len + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
    if (mem == MAP_FAILED) { perror("mmap"); return 2; }
    uint8_t* data = mem + ctx_len;
    memcpy(data, pkt, pkt_len);
    uint32_t lo = (uint32_t)(uintptr_t)data, hi = (uint32_t)(uintptr_t)(data + pkt_len);
    if (!strcmp(ctx, "xdp")) {
        struct xdp_md* x = (void*)mem; x->data = lo; x->data_end = hi; x->data_meta = lo;
    } else if (!strcmp(ctx, "skb")) {
        struct __sk_buff* s = (void*)mem; s->len = pkt_len; s->data = lo; s->data_end = hi;
    }
    uint8_t* r1 = ctx_len ? mem : data; size_t r1_len = ctx_len ? mem_len : pkt_len;

    struct ubpf_vm* vm = ubpf_create();
    char* err = NULL;
    if (ubpf_load(vm, code, code_len, &err) < 0) { fprintf(stderr, "Failed to load code: %s\n", err); return 1; }
    ubpf_jit_fn fn = NULL;
    double t0 = now();
    if (jit && !(fn = ubpf_compile(vm, &err))) { fprintf(stderr, "Failed to compile: %s\n", err); return 1; }
    double tc = now() - t0;
    uint64_t ret = 0;
    if (jit) ret = fn(r1, r1_len); else if (ubpf_exec(vm, r1, r1_len, &ret) < 0) ret = UINT64_MAX;
    printf("0x%" PRIx64 "\n", ret);
    if (n > 1) {
        double* t = malloc(n * sizeof *t); uint64_t r;
        double all = now();
        for (long i = 0; i < n; i++) {
            double s = now();
            if (jit) r = fn(r1, r1_len); else ubpf_exec(vm, r1, r1_len, &r);
            t[i] = now() - s;
        }
        all = now() - all;
        qsort(t, n, sizeof *t, cmpd);
        fprintf(stderr, "%s n=%ld compile_us=%.1f per-run us: min %.3f median %.3f mean %.3f (r0 last %#" PRIx64 ")\n",
                jit ? "jit" : "interp", n, tc * 1e6, t[0] * 1e6, t[n / 2] * 1e6, all / n * 1e6, r);
    }
    return 0;
}
