// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * e820 map construction for the deskvm PC layout (docs/memory-map.md).
 */
#include "vmm/e820.h"

#include <errno.h>
#include <string.h>

#include "vmm/memory.h"

int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type)
{
    if (map->n >= E820_MAX) {
        return -ENOSPC;
    }
    unsigned i = map->n;
    while (i > 0 && map->e[i - 1].addr > addr) {
        map->e[i] = map->e[i - 1];
        i--;
    }
    map->e[i] = (struct e820_entry){addr, size, type};
    map->n++;
    return 0;
}

void e820_build(struct e820_map *map, const struct guest_mem *mem)
{
    memset(map, 0, sizeof(*map));
    uint64_t low_top = guest_mem_low_top(mem);
    /* Conventional memory up to the EBDA; VGA window and BIOS area are not RAM. */
    e820_add(map, 0, EBDA_START, E820_RAM);
    e820_add(map, EBDA_START, 0xa0000 - EBDA_START, E820_RESERVED);
    e820_add(map, 0xe0000, 0x20000, E820_RESERVED);
    if (low_top > HIGH_RAM_START) {
        e820_add(map, HIGH_RAM_START, low_top - HIGH_RAM_START, E820_RAM);
    }
    e820_add(map, ECAM_BASE, ECAM_SIZE, E820_RESERVED);
    e820_add(map, IOAPIC_BASE, 0x1000, E820_RESERVED);
    e820_add(map, LAPIC_BASE, 0x1000, E820_RESERVED);
    uint64_t high = guest_mem_high_size(mem);
    if (high) {
        e820_add(map, MEM_4G, high, E820_RAM);
    }
}

uint64_t e820_ram_bytes(const struct e820_map *map)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < map->n; i++) {
        if (map->e[i].type == E820_RAM) {
            n += map->e[i].size;
        }
    }
    return n;
}
