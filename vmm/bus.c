// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Port-I/O and MMIO bus dispatch: binary search over sorted ranges, size splitting.
 * The caller holds the engine's device lock; ranges change only under it.
 */
#include "vmm/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
    memset(bus, 0, sizeof(*bus));
    bus->name = name;
}

void bus_destroy(struct bus *bus)
{
    if (!bus) {
        return;
    }
    free(bus->ranges);
    bus->ranges = NULL;
    bus->nranges = bus->cap = 0;
}

/* Index of the first range whose end is above addr. */
static size_t bus_lower_bound(const struct bus *bus, uint64_t addr)
{
    size_t lo = 0, hi = bus->nranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct bus_range *r = &bus->ranges[mid];
        if (r->base + r->len - 1 < addr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, const struct bus_ops *ops,
                 void *opaque, const char *name)
{
    if (len == 0 || base + len - 1 < base || !ops) {
        return -EINVAL;
    }
    size_t i = bus_lower_bound(bus, base);
    if (i < bus->nranges && bus->ranges[i].base <= base + len - 1) {
        return -EEXIST;
    }
    if (bus->nranges == bus->cap) {
        size_t cap = bus->cap ? bus->cap * 2 : 16;
        struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));
        if (!r) {
            return -ENOMEM;
        }
        bus->ranges = r;
        bus->cap = cap;
    }
    memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nranges - i) * sizeof(bus->ranges[0]));
    bus->ranges[i] = (struct bus_range){base, len, ops, opaque, name};
    bus->nranges++;
    return 0;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
    size_t i = bus_lower_bound(bus, base);
    if (i >= bus->nranges || bus->ranges[i].base != base) {
        return -ENOENT;
    }
    memmove(&bus->ranges[i], &bus->ranges[i + 1], (bus->nranges - i - 1) * sizeof(bus->ranges[0]));
    bus->nranges--;
    return 0;
}

const struct bus_range *bus_find(const struct bus *bus, uint64_t addr)
{
    size_t i = bus_lower_bound(bus, addr);
    if (i < bus->nranges && bus->ranges[i].base <= addr) {
        return &bus->ranges[i];
    }
    return NULL;
}

static unsigned size_ok(const struct bus_ops *ops, unsigned size)
{
    unsigned lo = ops->min_size ? ops->min_size : 1;
    unsigned hi = ops->max_size ? ops->max_size : 8;
    return size >= lo && size <= hi;
}

/*
 * An access wider than the device takes is split into max_size pieces (little endian);
 * one narrower than it takes is widened to min_size and the bytes merged. Accesses that
 * straddle the end of a range go to the unassigned path for the part outside.
 */
static bool bus_access(struct bus *bus, uint64_t addr, uint8_t *data, unsigned size, bool write)
{
    const struct bus_range *r = bus_find(bus, addr);
    if (!r || addr + size - 1 > r->base + r->len - 1 || size == 0 || size > 8) {
        bus->unassigned++;
        if (!write) {
            memset(data, 0xff, size);
        }
        return false;
    }
    const struct bus_ops *ops = r->ops;
    uint64_t off = addr - r->base;
    if (size_ok(ops, size)) {
        if (write) {
            uint64_t v = 0;
            memcpy(&v, data, size);
            if (ops->write) {
                ops->write(r->opaque, off, v, size);
            }
        } else {
            uint64_t v = ops->read ? ops->read(r->opaque, off, size) : ~0ull;
            memcpy(data, &v, size);
        }
        return true;
    }
    unsigned lo = ops->min_size ? ops->min_size : 1;
    unsigned hi = ops->max_size ? ops->max_size : 8;
    if (size > hi) {
        for (unsigned done = 0; done < size; done += hi) {
            /* Recurse on pieces of the device's widest size; range is unchanged. */
            bus_access(bus, addr + done, data + done, hi, write);
        }
        return true;
    }
    /* size < lo: read-modify-write of an aligned min_size word. */
    uint64_t aligned = off & ~(uint64_t)(lo - 1);
    if (aligned + lo > r->len) {
        bus->unassigned++;
        if (!write) {
            memset(data, 0xff, size);
        }
        return false;
    }
    unsigned shift = (unsigned)(off - aligned) * 8;
    uint64_t word = ops->read ? ops->read(r->opaque, aligned, lo) : ~0ull;
    if (write) {
        uint64_t v = 0;
        memcpy(&v, data, size);
        uint64_t mask = (size == 8 ? ~0ull : ((1ull << (size * 8)) - 1)) << shift;
        word = (word & ~mask) | ((v << shift) & mask);
        if (ops->write) {
            ops->write(r->opaque, aligned, word, lo);
        }
    } else {
        word >>= shift;
        memcpy(data, &word, size);
    }
    return true;
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, unsigned size)
{
    return bus_access(bus, addr, data, size, false);
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned size)
{
    uint8_t buf[8] = {0};
    if (size > sizeof(buf)) {
        bus->unassigned++;
        return false;
    }
    memcpy(buf, data, size);
    return bus_access(bus, addr, buf, size, true);
}
