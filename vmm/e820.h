/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC physical memory map as the guest is told it (e820 / PVH memmap): RAM, the BIOS
 * areas, and the reserved MMIO ranges below 4 GiB.
 */
#ifndef DESKVM_VMM_E820_H
#define DESKVM_VMM_E820_H

#include <stdint.h>

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define E820_MAX 32

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

struct e820_map {
    struct e820_entry e[E820_MAX];
    unsigned n;
};

struct guest_mem;

/* Fixed guest-physical addresses of the machine (see docs/memory-map.md). */
#define BOOT_GDT_ADDR 0x500ull
#define BOOT_PML4_ADDR 0x1000ull     /* 0x1000-0x6fff: PML4, PDPT, 4 PDs (4 GiB, 2 MiB pages) */
#define BOOT_INFO_ADDR 0x7000ull     /* boot_params (zero page) or hvm_start_info + memmap */
#define BOOT_CMDLINE_ADDR 0x20000ull /* up to BOOT_CMDLINE_MAX bytes */
#define BOOT_CMDLINE_MAX 0x10000ull
#define EBDA_START 0x9fc00ull
#define ACPI_TABLES_ADDR 0xe0000ull /* RSDP first, then the tables, up to 0xfffff */
#define ACPI_TABLES_MAX 0x20000ull
#define HIGH_RAM_START 0x100000ull
#define ECAM_BASE 0xe0000000ull /* PCI MMCONFIG, 256 MiB */
#define ECAM_SIZE 0x10000000ull
#define IOAPIC_BASE 0xfec00000ull
#define LAPIC_BASE 0xfee00000ull

/* Build the map for this RAM layout: RAM, EBDA and BIOS areas, ECAM and APIC windows. */
void e820_build(struct e820_map *map, const struct guest_mem *mem);
/* Add an entry keeping the map sorted; -ENOSPC when full. Overlaps are the caller's bug. */
int e820_add(struct e820_map *map, uint64_t addr, uint64_t size, uint32_t type);
/* Bytes of type E820_RAM. */
uint64_t e820_ram_bytes(const struct e820_map *map);

#endif
