/* Host test driver for the exported bpfx_vm runtime: runs a batch of programs, one result line each.
 * Batch records (little-endian): u32 code_len, u32 mem_len, u64 budget, code, mem.
 * Output: "<fault> <fault_pc> <r0 hex> <executed> <fault_addr - mem start, or -1>" per record.
 * Helpers: index 5 is bpf_conformance's "unwind" (stops the program when r1 == 0). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpfx_vm.h"

static uint64_t unwind(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)r2; (void)r3; (void)r4; (void)r5;
    if (r1 == 0)
        bpfx_vm_stop(vm);
    return r1;
}

static int read_all(FILE *f, void *buf, size_t n)
{
    return fread(buf, 1, n, f) == n;
}

int main(int argc, char **argv)
{
    static bpfx_helper_fn helpers[64];
    static struct bpfx_vm vm;
    FILE *f;
    helpers[5] = unwind;
    if (argc != 2 || !(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: vm_driver BATCH\n");
        return 2;
    }
    for (;;) {
        uint32_t code_len, mem_len;
        uint64_t budget, r0 = 0, args[5] = {0, 0, 0, 0, 0};
        unsigned char *code, *mem;
        long long rel;
        int rc;
        if (!read_all(f, &code_len, 4))
            break;
        if (!read_all(f, &mem_len, 4) || !read_all(f, &budget, 8))
            return 3;
        code = malloc(code_len ? code_len : 1);
        mem = malloc(mem_len ? mem_len : 1); /* exactly mem_len bytes: ASan sees any byte past them */
        if (!code || !mem || !read_all(f, code, code_len) || !read_all(f, mem, mem_len))
            return 3;
        rc = bpfx_vm_init(&vm, code, code_len / 8, helpers, 64);
        if (rc == BPFX_OK) {
            vm.budget = budget;
            if (mem_len) {
                bpfx_vm_add_region(&vm, mem, mem_len, 1);
                args[0] = (uint64_t)(uintptr_t)mem;
                args[1] = mem_len;
            }
            rc = bpfx_vm_call(&vm, args, &r0);
        }
        rel = vm.fault == BPFX_FAULT_MEMORY && mem_len ? (long long)(vm.fault_addr - (uint64_t)(uintptr_t)mem) : -1;
        printf("%d %u %llx %llu %lld\n", rc, vm.fault_pc, (unsigned long long)r0, (unsigned long long)vm.executed,
               rel);
        free(code);
        free(mem);
    }
    fclose(f);
    return 0;
}
