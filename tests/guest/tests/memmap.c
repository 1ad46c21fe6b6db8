// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * memmap: expects mem=<size> (run-guest.sh passes <MiB>M; a bare number is MiB). The PVH
 * memory map (hvm_start_info version 1) must have no overlapping entries, its usable RAM
 * must sum to [mem - 2 MiB, mem] (firmware may keep up to 2 MiB for itself; the map may not
 * invent RAM), and one byte in each 2 MiB chunk of the last 32 MiB of usable RAM below 4 GiB
 * must hold what is written to it. RAM above 4 GiB is counted but not touched (the kit
 * maps only the low 4 GiB).
 */
#include "guest.h"

#define MIB ((uint64_t)1 << 20)
#define FOUR_GIB ((uint64_t)4 << 30)
#define MAX_TOUCH 16

extern char __image_end[];

static const char *type_name(uint32_t t)
{
    switch (t) {
    case 1:
        return "RAM";
    case 2:
        return "reserved";
    case 3:
        return "ACPI";
    case 4:
        return "NVS";
    case 5:
        return "unusable";
    default:
        return "?";
    }
}

static bool usable(const struct hvm_memmap_entry *e, unsigned n, uint64_t a)
{
    for (unsigned i = 0; i < n; i++) {
        if (e[i].type == 1 && a >= e[i].addr && a - e[i].addr < e[i].size) {
            return true;
        }
    }
    return false;
}

void test_main(void)
{
    const struct hvm_start_info *si = start_info();
    uint64_t mem = cmdline_u64("mem", 0);

    CHECK(mem != 0, "no mem=<size> on the command line");
    if (mem < MIB) {
        mem *= MIB;
    }
    CHECK(si != NULL, "no hvm_start_info");
    if (si->version < 1 || si->memmap_entries == 0 || si->memmap_paddr == 0) {
        guest_skip("the loader gave no memory map (start_info version %u, %u entries)", si->version,
                   si->version >= 1 ? si->memmap_entries : 0);
    }
    const struct hvm_memmap_entry *e = (const struct hvm_memmap_entry *)(uintptr_t)si->memmap_paddr;
    unsigned n = si->memmap_entries;
    uint64_t ram = 0, high = 0, top = 0;

    printf("memory map: %u entries at %#lx, mem=%lu MiB\n", n, si->memmap_paddr, mem / MIB);
    for (unsigned i = 0; i < n; i++) {
        printf("  %#014lx-%#014lx %-8s (%u)\n", e[i].addr, e[i].addr + e[i].size - 1,
               type_name(e[i].type), e[i].type);
        if (e[i].size == 0) {
            /* QEMU's pvh.bin counts a trailing all-zero entry. */
            printf("  (entry %u is empty: ignored)\n", i);
            continue;
        }
        CHECK(e[i].addr + e[i].size > e[i].addr, "entry %u wraps", i);
        for (unsigned j = 0; j < i; j++) {
            CHECK(e[j].size == 0 || e[i].addr >= e[j].addr + e[j].size ||
                      e[j].addr >= e[i].addr + e[i].size,
                  "entries %u and %u overlap", j, i);
        }
        if (e[i].type == 1) {
            ram += e[i].size;
            if (e[i].addr + e[i].size > FOUR_GIB) {
                uint64_t lo = e[i].addr > FOUR_GIB ? e[i].addr : FOUR_GIB;
                high += e[i].addr + e[i].size - lo;
            }
            uint64_t end = e[i].addr + e[i].size;
            end = end > FOUR_GIB ? FOUR_GIB : end;
            if (end > top && e[i].addr < FOUR_GIB) {
                top = end;
            }
        }
    }
    printf("usable RAM %lu KiB (%lu KiB above 4 GiB, not touched)\n", ram >> 10, high >> 10);
    CHECK(ram <= mem, "usable RAM %lu KiB is more than mem=%lu KiB", ram >> 10, mem >> 10);
    CHECK(ram + 2 * MIB >= mem, "usable RAM %lu KiB is more than 2 MiB short of mem=%lu KiB",
          ram >> 10, mem >> 10);

    /* One byte per 2 MiB chunk, all written before any is read, so aliasing shows. */
    uint64_t lowest = ((uint64_t)(uintptr_t)__image_end + 2 * MIB - 1) & ~(2 * MIB - 1);
    uint64_t addrs[MAX_TOUCH];
    unsigned nt = 0;
    for (uint64_t a = (top - 1) & ~(2 * MIB - 1); nt < MAX_TOUCH && a >= lowest; a -= 2 * MIB) {
        uint64_t probe = a + 0x1234 * 8;
        if (usable(e, n, probe)) {
            addrs[nt++] = probe;
        }
        if (a < 2 * MIB) {
            break;
        }
    }
    CHECK(nt != 0, "no usable 2 MiB chunk above the image to touch");
    for (unsigned i = 0; i < nt; i++) {
        *(volatile uint64_t *)(uintptr_t)addrs[i] = 0x5a5a000000000000ull ^ addrs[i];
    }
    for (unsigned i = 0; i < nt; i++) {
        uint64_t v = *(volatile uint64_t *)(uintptr_t)addrs[i];
        CHECK(v == (0x5a5a000000000000ull ^ addrs[i]), "RAM at %#lx reads %#lx", addrs[i], v);
    }
    printf("touched %u chunks from %#lx down to %#lx\n", nt, addrs[0], addrs[nt - 1]);
}
