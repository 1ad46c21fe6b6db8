/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ACPI tables built at start: RSDP, XSDT, FADT, MADT, DSDT, and MCFG with a PCI machine.
 */
#ifndef DESKVM_VMM_ACPI_H
#define DESKVM_VMM_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ACPI_PM_BASE 0x600 /* PM1a event block (4 bytes), control at +4, timer at +8 */
#define ACPI_PM_LEN 0x10
#define ACPI_SCI_IRQ 9
#define ACPI_RESET_PORT 0xcf9 /* FADT reset register: write 0x06 */
#define ACPI_RESET_VALUE 0x06
#define ACPI_SLP_TYP_S5 5 /* \_S5 package value written to PM1a_CNT.SLP_TYP */

/* MADT carries xAPIC entries only: APIC IDs 0..254 (255 is the broadcast ID). */
#define ACPI_MAX_CPUS 255

struct acpi_config {
    unsigned ncpus; /* 1..ACPI_MAX_CPUS */
    /* The PCI host bridge: MCFG for ECAM and \_SB.PCI0 with its windows and _PRT. */
    bool pci;
    uint64_t ecam_base; /* where ECAM is (the firmware may move it); 0 = ECAM_BASE */
};

struct guest_mem;

/*
 * Write the tables at [base, base + max) in guest memory, RSDP first (16-byte aligned, so
 * legacy scans of 0xE0000-0xFFFFF find it). *rsdp_gpa receives the RSDP address.
 * Returns 0, -EINVAL (ncpus 0 or above ACPI_MAX_CPUS, base not 16-byte aligned or the
 * tables not below 4 GiB), -ENOSPC (tables larger than max), -EFAULT (area not RAM) or -ENOMEM.
 */
int acpi_build(const struct guest_mem *mem, uint64_t base, uint64_t max,
               const struct acpi_config *cfg, uint64_t *rsdp_gpa);

/*
 * The same tables for a firmware through QEMU's table-loader interface (fw_cfg files
 * "etc/table-loader", "etc/acpi/tables", "etc/acpi/rsdp"; QEMU hw/acpi/bios-linker-loader.c):
 * the firmware allocates both files, patches the table addresses in (ADD_POINTER) and
 * computes the checksums (ADD_CHECKSUM). SeaBIOS and OVMF both read it.
 */
#define ACPI_FILE_LOADER "etc/table-loader"
#define ACPI_FILE_TABLES "etc/acpi/tables"
#define ACPI_FILE_RSDP "etc/acpi/rsdp"
#define ACPI_LOADER_ENTRY_LEN 128
#define ACPI_LOADER_FILE_LEN 56
#define ACPI_LOADER_ALLOCATE 1
#define ACPI_LOADER_ADD_POINTER 2
#define ACPI_LOADER_ADD_CHECKSUM 3
#define ACPI_LOADER_ZONE_HIGH 1
#define ACPI_LOADER_ZONE_FSEG 2
#define ACPI_LOADER_MAX_ENTRIES 32
#define ACPI_RSDP_LEN 36

struct acpi_fw_tables {
    uint8_t rsdp[ACPI_RSDP_LEN];
    uint8_t *tables; /* malloc'd */
    size_t tables_len;
    uint8_t loader[ACPI_LOADER_MAX_ENTRIES * ACPI_LOADER_ENTRY_LEN];
    unsigned nloader; /* entries used */
};

/* 0, -EINVAL (as acpi_build) or -ENOMEM. Free with acpi_fw_tables_free(). */
int acpi_build_fw_tables(const struct acpi_config *cfg, struct acpi_fw_tables *t);
void acpi_fw_tables_free(struct acpi_fw_tables *t);

#endif
