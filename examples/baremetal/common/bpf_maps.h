/*
 * Map storage and the map helpers of a firmware that runs BPF with the exported runtime (bpfx_vm): the bpfvm
 * example firmware and the host test driver (tests/bpf/vm_driver.c) share them. Array maps are indexed by their
 * u32 key; hash maps are a list of keys searched in order (enough for examples, not for a datapath).
 * Freestanding (no libc). The firmware defines `bpfx_map_of`, which turns the handle a program passes into a map
 * or NULL: helpers trust no argument.
 */
#ifndef BPF_MAPS_H
#define BPF_MAPS_H
#include <stdint.h>

#include "bpfx_vm.h"

struct bpfx_map {
	uint32_t type, key_size, value_size, max_entries, used;
	unsigned char *keys, *values;
	const unsigned char *initial; /* global data (.bss, .data, .rodata): its first value */
	const char *symbol;
};

#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PROG_ARRAY 3
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define E2BIG 7
#define EFAULT 14

struct bpfx_map *bpfx_map_of(uint64_t handle);

static inline int bytes_same(const unsigned char *a, const unsigned char *b, uint32_t n)
{
	while (n--)
		if (*a++ != *b++)
			return 0;
	return 1;
}

static inline void bytes_copy(unsigned char *d, const unsigned char *s, uint32_t n)
{
	while (n--)
		*d++ = *s++;
}

static inline int map_is_array(const struct bpfx_map *m)
{
	return m->type == BPF_MAP_TYPE_ARRAY || m->type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

static inline unsigned char *map_find(struct bpfx_map *m, const unsigned char *key)
{
	if (map_is_array(m)) {
		uint32_t i = (uint32_t)key[0] | (uint32_t)key[1] << 8 | (uint32_t)key[2] << 16 | (uint32_t)key[3] << 24;
		return i < m->max_entries ? m->values + (uint64_t)i * m->value_size : 0;
	}
	for (uint32_t i = 0; i < m->used; i++)
		if (bytes_same(m->keys + (uint64_t)i * m->key_size, key, m->key_size))
			return m->values + (uint64_t)i * m->value_size;
	return 0;
}

static inline uint64_t map_lookup_elem(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				uint64_t r5)
{
	struct bpfx_map *m = bpfx_map_of(r1);
	const unsigned char *key = m ? bpfx_vm_ptr(vm, r2, m->key_size, 0) : 0;
	(void)r3; (void)r4; (void)r5;
	return key ? (uint64_t)(uintptr_t)map_find(m, key) : 0;
}

static inline uint64_t map_update_elem(struct bpfx_vm *vm, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				uint64_t r5)
{
	struct bpfx_map *m = bpfx_map_of(r1);
	const unsigned char *key = m ? bpfx_vm_ptr(vm, r2, m->key_size, 0) : 0;
	const unsigned char *value = m ? bpfx_vm_ptr(vm, r3, m->value_size, 0) : 0;
	unsigned char *slot;
	(void)r4; (void)r5;
	if (!key || !value)
		return (uint64_t)-EFAULT;
	slot = map_find(m, key);
	if (!slot) {
		if (map_is_array(m) || m->used == m->max_entries)
			return (uint64_t)-E2BIG;
		bytes_copy(m->keys + (uint64_t)m->used * m->key_size, key, m->key_size);
		slot = m->values + (uint64_t)m->used++ * m->value_size;
	}
	bytes_copy(slot, value, m->value_size);
	return 0;
}
#endif
