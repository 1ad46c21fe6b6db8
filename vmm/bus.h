/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The port-I/O and MMIO buses: address ranges mapped to device handlers. Devices see an
 * offset into their own range and an integer; access sizes a device does not accept are
 * split or rejected here, in one place, so no device handles odd sizes itself.
 */
#ifndef DESKVM_VMM_BUS_H
#define DESKVM_VMM_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bus_ops {
    uint64_t (*read)(void *opaque, uint64_t off, unsigned size);
    void (*write)(void *opaque, uint64_t off, uint64_t val, unsigned size);
    /* Access sizes the device accepts, in bytes (1, 2, 4, 8). 0 means 1..8. */
    unsigned min_size;
    unsigned max_size;
};

struct bus_range {
    uint64_t base;
    uint64_t len;
    const struct bus_ops *ops;
    void *opaque;
    const char *name;
};

struct bus {
    const char *name;
    struct bus_range *ranges; /* sorted by base, never overlapping */
    size_t nranges;
    size_t cap;
    uint64_t unassigned; /* accesses that hit no device */
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* -EEXIST if [base, base+len) overlaps a registered range, -EINVAL for len 0 or wrap-around. */
__attribute__((warn_unused_result)) int bus_register(struct bus *bus, uint64_t base, uint64_t len,
                                                     const struct bus_ops *ops, void *opaque,
                                                     const char *name);
int bus_unregister(struct bus *bus, uint64_t base);
const struct bus_range *bus_find(const struct bus *bus, uint64_t addr);

/*
 * Dispatch one access. Reads of unassigned addresses return all ones, writes are dropped,
 * as on a PC. Returns true when a device handled the access.
 */
bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned size);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned size);

#endif
