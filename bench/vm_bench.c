/* Speed of the exported bpfx_vm runtime (or, built with -DUBPF, of ubpf's interpreter) on one program.
 *   vm_bench CODE_FILE MEM_BYTES SECONDS  ->  "insns=N seconds=T runs=R r0=X"
 * The program runs with r1 = a MEM_BYTES buffer (bytes i & 0xff), r2 = its length, again and again until
 * SECONDS have passed; N counts the BPF instructions executed (the runtime's count, or one run's count times
 * the runs for ubpf, which has no counter: the driver takes the count from the bpfx_vm build). */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef UBPF
#include "ubpf.h"
#else
#include "bpfx_vm.h"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    static unsigned char code[1 << 20];
    FILE *f;
    size_t len, mem_len, i;
    unsigned char *mem;
    double seconds, start, t;
    unsigned long long insns = 0, runs = 0;
    uint64_t r0 = 0;

    if (argc != 4 || !(f = fopen(argv[1], "rb")))
        return 2;
    len = fread(code, 1, sizeof code, f);
    fclose(f);
    mem_len = strtoul(argv[2], 0, 10);
    seconds = atof(argv[3]);
    mem = malloc(mem_len ? mem_len : 1);
    for (i = 0; i < mem_len; i++)
        mem[i] = (unsigned char)i;
#ifdef UBPF
    struct ubpf_vm *vm = ubpf_create();
    char *err = 0;
    if (!vm || ubpf_load(vm, code, (uint32_t)len, &err) < 0) {
        fprintf(stderr, "ubpf_load: %s\n", err ? err : "?");
        return 1;
    }
    start = now();
    do {
        if (ubpf_exec(vm, mem, mem_len, &r0) < 0)
            return 1;
        runs++;
    } while ((t = now() - start) < seconds);
    printf("insns=0 seconds=%f runs=%llu r0=%llx\n", t, runs, (unsigned long long)r0);
#else
    static struct bpfx_vm vm;
    uint64_t args[5] = {0, 0, 0, 0, 0};
    if (bpfx_vm_init(&vm, code, (uint32_t)(len / 8), 0, 0) != BPFX_OK)
        return 1;
    vm.budget = ~0ull;
    bpfx_vm_add_region(&vm, mem, mem_len, 1);
    args[0] = (uint64_t)(uintptr_t)mem;
    args[1] = mem_len;
    start = now();
    do {
        if (bpfx_vm_call(&vm, args, &r0) != BPFX_OK) {
            fprintf(stderr, "fault %d at %u\n", vm.fault, vm.fault_pc);
            return 1;
        }
        insns += vm.executed;
        runs++;
    } while ((t = now() - start) < seconds);
    printf("insns=%llu seconds=%f runs=%llu r0=%llx\n", insns, t, runs, (unsigned long long)r0);
#endif
    return 0;
}
