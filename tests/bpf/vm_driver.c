/* Host test driver for the exported bpfx_vm runtime: a small "firmware" that loads a batch of programs the way
 * a device would (maps allocated, R_BPF_64_64 relocations applied, context pointers filled in) and runs them.
 *
 * Batch record (little-endian):
 *   u32 code_len, mem_len; u64 budget; u32 ctx_len, nptrs, nmaps, nrelocs, data_off, data_end_off, nextra
 *   code; mem (bpf_conformance memory, or the packet buffer with head- and tailroom); ctx bytes
 *   nptrs x {u32 ctx offset, u32 what: 0 data, 1 data_end, 2 data_meta}
 *   nmaps x {u32 type, key_size, value_size, max_entries, initial: 0 none, 1 entry 0, 2 every entry}
 *            (+ the initial bytes; a PROG_ARRAY's values are u32 program numbers, 0 empty, k extra program k)
 *   nextra x {u32 code_len, code}: the programs tail calls reach
 *   nrelocs x {u32 code offset, map index, kind: 0 map, 1 map value, program: 0 main, k extra k; i64 addend}
 * Without a context (ctx_len 0) r1 = mem and r2 = its length, and helper 5 is bpf_conformance's "unwind".
 * Output per record: "<fault> <fault_pc> <r0 hex> <executed> <fault address - mem, or -1>", then for context
 * programs "packet <hex>", "ctx <hex>", one "map <index> <key hex>=<value hex>..." line per map, and "end". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bpf_maps.h" /* examples/baremetal/common: the maps and map helpers a firmware has; includes bpfx_vm.h */

static struct {
    unsigned char *ctx, *mem;
    uint32_t nptrs, ptr_off[8], ptr_what[8];
    uint32_t mem_len;
} cur;

static void set_ptr(int what, unsigned char *p)
{
    uint32_t i;
    for (i = 0; i < cur.nptrs; i++)
        if (cur.ptr_what[i] == (uint32_t)what)
            memcpy(cur.ctx + cur.ptr_off[i], &p, sizeof p);
}

static unsigned char *get_ptr(int what)
{
    uint32_t i;
    unsigned char *p = 0;
    for (i = 0; i < cur.nptrs; i++)
        if (cur.ptr_what[i] == (uint32_t)what)
            memcpy(&p, cur.ctx + cur.ptr_off[i], sizeof p);
    return p;
}

static uint64_t unwind(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    (void)r2; (void)r3; (void)r4; (void)r5;
    if (r1 == 0)
        bpfx_vm_stop(vm);
    return r1;
}

static struct bpfx_map maps[8];
static uint32_t nmaps;
static unsigned char *extra[8];
static uint32_t extra_len[8], nextra;

struct bpfx_map *bpfx_map_of(uint64_t handle)
{
    uint32_t i;
    for (i = 0; i < nmaps; i++)
        if (handle == (uint64_t)(uintptr_t)&maps[i])
            return &maps[i];
    return 0;
}

static uint64_t tail_call(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    struct bpfx_map *m = bpfx_map_of(r2);
    uint32_t index = (uint32_t)r3, prog;
    (void)r1; (void)r4; (void)r5;
    if (!m || m->type != BPF_MAP_TYPE_PROG_ARRAY)
        return (uint64_t)-22;
    if (index >= m->max_entries)
        return (uint64_t)-2;
    memcpy(&prog, m->values + (size_t)index * 4, 4);
    if (prog == 0 || prog > nextra || bpfx_vm_tail_call(vm, extra[prog - 1], extra_len[prog - 1] / 8) != BPFX_OK)
        return (uint64_t)-2; /* -ENOENT: empty slot, or the tail call limit */
    return 0;
}

static uint64_t ktime_get_ns(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
    static uint64_t t = 1000000000;
    (void)vm; (void)r1; (void)r2; (void)r3; (void)r4; (void)r5;
    return t += 1000;
}

static uint64_t xdp_adjust_head(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                uint64_t r5)
{
    unsigned char *data = get_ptr(0) + (int32_t)r2;
    (void)vm; (void)r1; (void)r3; (void)r4; (void)r5;
    if (data < cur.mem || data > get_ptr(1) - 14)
        return (uint64_t)-22;
    set_ptr(0, data);
    set_ptr(2, data);
    return 0;
}

static uint64_t xdp_adjust_tail(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                                uint64_t r5)
{
    unsigned char *end = get_ptr(1) + (int32_t)r2;
    (void)vm; (void)r1; (void)r3; (void)r4; (void)r5;
    if (end < get_ptr(0) + 14 || end > cur.mem + cur.mem_len)
        return (uint64_t)-22;
    if (end > get_ptr(1))
        memset(get_ptr(1), 0, (size_t)(end - get_ptr(1)));
    set_ptr(1, end);
    return 0;
}

static int read_all(FILE *f, void *buf, size_t n) { return fread(buf, 1, n, f) == n; }

static void hex(const unsigned char *p, size_t n)
{
    while (n--)
        printf("%02x", *p++);
}

int main(int argc, char **argv)
{
    static bpfx_helper_fn mem_helpers[64], ctx_helpers[128];
    static struct bpfx_vm vm;
    FILE *f;
    mem_helpers[5] = unwind;
    ctx_helpers[1] = map_lookup_elem;
    ctx_helpers[2] = map_update_elem;
    ctx_helpers[5] = ktime_get_ns;
    ctx_helpers[12] = tail_call;
    ctx_helpers[44] = xdp_adjust_head;
    ctx_helpers[65] = xdp_adjust_tail;
    if (argc != 2 || !(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: vm_driver BATCH\n");
        return 2;
    }
    for (;;) {
        uint32_t h[9], i, nrelocs;
        uint64_t budget, r0 = 0, args[5] = {0, 0, 0, 0, 0};
        unsigned char *code, *mem, *ctx;
        long long rel;
        int rc;
        if (!read_all(f, h, 8))
            break;
        if (!read_all(f, &budget, 8) || !read_all(f, h + 2, 28))
            return 3;
        nmaps = h[4];
        nrelocs = h[5];
        nextra = h[8];
        code = malloc(h[0] ? h[0] : 1);
        mem = malloc(h[1] ? h[1] : 1); /* exactly mem_len bytes: ASan sees any byte past them */
        ctx = malloc(h[2] ? h[2] : 1);
        if (!code || !mem || !ctx || h[3] > 8 || nmaps > 8 || nextra > 8 || !read_all(f, code, h[0]) || !read_all(f, mem, h[1])
            || !read_all(f, ctx, h[2]))
            return 3;
        cur.ctx = ctx;
        cur.mem = mem;
        cur.mem_len = h[1];
        cur.nptrs = h[3];
        for (i = 0; i < h[3]; i++)
            if (!read_all(f, &cur.ptr_off[i], 4) || !read_all(f, &cur.ptr_what[i], 4))
                return 3;
        for (i = 0; i < nmaps; i++) {
            uint32_t d[5];
            struct bpfx_map *m = &maps[i];
            if (!read_all(f, d, 20))
                return 3;
            m->type = d[0]; m->key_size = d[1]; m->value_size = d[2]; m->max_entries = d[3]; m->used = 0;
            m->keys = calloc(m->max_entries, m->key_size);
            m->values = calloc(m->max_entries, m->value_size);
            if (d[4] && !read_all(f, m->values, (size_t)m->value_size * (d[4] == 2 ? m->max_entries : 1)))
                return 3;
        }
        for (i = 0; i < nextra; i++)
            if (!read_all(f, &extra_len[i], 4) || !(extra[i] = malloc(extra_len[i] ? extra_len[i] : 1))
                || !read_all(f, extra[i], extra_len[i]))
                return 3;
        for (i = 0; i < nrelocs; i++) { /* R_BPF_64_64: the map's handle or value address into the lddw pair */
            uint32_t d[4];
            int64_t addend;
            uint64_t value;
            if (!read_all(f, d, 16) || !read_all(f, &addend, 8) || d[1] >= nmaps || d[3] > nextra)
                return 3;
            value = d[2] == 0 ? (uint64_t)(uintptr_t)&maps[d[1]] : (uint64_t)(uintptr_t)maps[d[1]].values;
            if (bpfx_vm_relocate(d[3] ? extra[d[3] - 1] : code, (d[3] ? extra_len[d[3] - 1] : h[0]) / 8, d[0],
                                 BPFX_R_BPF_64_64, value + (uint64_t)addend) != BPFX_OK)
                return 3;
        }
        rc = bpfx_vm_init(&vm, code, h[0] / 8, h[2] ? ctx_helpers : mem_helpers, h[2] ? 128 : 64);
        if (rc == BPFX_OK) {
            vm.budget = budget;
            if (h[2]) {
                set_ptr(0, mem + h[6]);
                set_ptr(1, mem + h[7]);
                set_ptr(2, mem + h[6]);
                bpfx_vm_add_region(&vm, ctx, h[2], 1);
                bpfx_vm_add_region(&vm, mem, h[1], 1);
                for (i = 0; i < nmaps; i++)
                    bpfx_vm_add_region(&vm, maps[i].values, (size_t)maps[i].max_entries * maps[i].value_size, 1);
                args[0] = (uint64_t)(uintptr_t)ctx;
            } else if (h[1]) {
                bpfx_vm_add_region(&vm, mem, h[1], 1);
                args[0] = (uint64_t)(uintptr_t)mem;
                args[1] = h[1];
            }
            rc = bpfx_vm_call(&vm, args, &r0);
        }
        rel = vm.fault == BPFX_FAULT_MEMORY && h[1] ? (long long)(vm.fault_addr - (uint64_t)(uintptr_t)mem) : -1;
        printf("%d %u %llx %llu %lld\n", rc, vm.fault_pc, (unsigned long long)r0, (unsigned long long)vm.executed,
               rel);
        if (h[2]) {
            unsigned char *data = get_ptr(0), *end = get_ptr(1);
            printf("packet ");
            hex(data, (size_t)(end - data));
            for (i = 0; i < cur.nptrs; i++)
                memset(ctx + cur.ptr_off[i], 0, 8); /* host pointers are not results */
            printf("\nctx ");
            hex(ctx, h[2]);
            printf("\n");
            for (i = 0; i < nmaps; i++) {
                struct bpfx_map *m = &maps[i];
                uint32_t n = map_is_array(m) ? m->max_entries : m->used, k;
                printf("map %u", i);
                for (k = 0; k < n; k++) {
                    printf(" ");
                    if (map_is_array(m))
                        hex((const unsigned char *)&k, 4);
                    else
                        hex(m->keys + (size_t)k * m->key_size, m->key_size);
                    printf("=");
                    hex(m->values + (size_t)k * m->value_size, m->value_size);
                }
                printf("\n");
                free(m->keys);
                free(m->values);
            }
            printf("end\n");
        }
        for (i = 0; i < nextra; i++)
            free(extra[i]);
        free(code);
        free(mem);
        free(ctx);
    }
    fclose(f);
    return 0;
}
