// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * acpi.c: finding the RSDP (hvm_start_info, else the 0xE0000-0xFFFFF scan of ACPI 6.5
 * section 5.2.5.1), walking the XSDT/RSDT with checksum validation, and parsing the MADT
 * (section 5.2.12) into CPU APIC ids, the IOAPIC and ISA interrupt overrides.
 */
#include "guest.h"

uint8_t acpi_sum(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t s = 0;

    for (size_t i = 0; i < n; i++) {
        s = (uint8_t)(s + b[i]);
    }
    return s;
}

const struct acpi_rsdp *acpi_find_rsdp(void)
{
    const struct hvm_start_info *si = start_info();

    if (si != NULL && si->version >= 1 && si->rsdp_paddr != 0) {
        return (const struct acpi_rsdp *)(uintptr_t)si->rsdp_paddr;
    }
    for (uintptr_t a = 0xe0000; a < 0x100000; a += 16) {
        const struct acpi_rsdp *r = (const struct acpi_rsdp *)a;
        if (memcmp(r->signature, "RSD PTR ", 8) == 0 && acpi_sum(r, 20) == 0) {
            return r;
        }
    }
    return NULL;
}

int acpi_for_each_table(void (*fn)(const struct acpi_header *t, void *ctx), void *ctx)
{
    const struct acpi_rsdp *r = acpi_find_rsdp();
    const struct acpi_header *root;
    size_t entry_size;

    if (r == NULL) {
        return -1;
    }
    if (r->revision >= 2 && r->xsdt_address != 0) {
        root = (const struct acpi_header *)(uintptr_t)r->xsdt_address;
        entry_size = 8;
    } else {
        root = (const struct acpi_header *)(uintptr_t)r->rsdt_address;
        entry_size = 4;
    }
    if (root == NULL || root->length < sizeof(*root)) {
        return -1;
    }
    size_t n = (root->length - sizeof(*root)) / entry_size;
    const uint8_t *entries = (const uint8_t *)(root + 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t addr = 0;
        memcpy(&addr, entries + i * entry_size, entry_size);
        if (addr != 0 && addr < (4ull << 30)) {
            fn((const struct acpi_header *)(uintptr_t)addr, ctx);
        }
    }
    return (int)n;
}

struct find_ctx {
    const char *sig;
    const struct acpi_header *found;
};

static void find_one(const struct acpi_header *t, void *ctx)
{
    struct find_ctx *f = ctx;

    if (f->found == NULL && memcmp(t->signature, f->sig, 4) == 0) {
        f->found = t;
    }
}

const struct acpi_header *acpi_find_table(const char sig[4])
{
    struct find_ctx f = {sig, NULL};

    acpi_for_each_table(find_one, &f);
    return f.found;
}

int madt_parse(struct madt_info *m)
{
    const struct acpi_header *madt = acpi_find_table("APIC");

    memset(m, 0, sizeof(*m));
    for (unsigned i = 0; i < 16; i++) {
        m->irq_to_gsi[i] = i;
    }
    if (madt == NULL) {
        return -1;
    }
    const uint8_t *p = (const uint8_t *)madt + 44;
    const uint8_t *end = (const uint8_t *)madt + madt->length;
    while (p + 2 <= end && p[1] >= 2 && p + p[1] <= end) {
        uint32_t flags, id;
        switch (p[0]) {
        case 0: /* processor local APIC */
            memcpy(&flags, p + 4, 4);
            if ((flags & 1) && m->ncpus < GUEST_MAX_CPUS) {
                m->apic_ids[m->ncpus++] = p[3];
            }
            break;
        case 1: /* IOAPIC: the first one is the one the kit drives */
            if (m->ioapic_addr == 0) {
                memcpy(&m->ioapic_addr, p + 4, 4);
                memcpy(&m->ioapic_gsi_base, p + 8, 4);
            }
            break;
        case 2: /* interrupt source override */
            if (p[2] == 0 && p[3] < 16) {
                memcpy(&m->irq_to_gsi[p[3]], p + 4, 4);
                memcpy(&m->irq_flags[p[3]], p + 8, 2);
            }
            break;
        case 9: /* processor local x2APIC */
            memcpy(&id, p + 4, 4);
            memcpy(&flags, p + 8, 4);
            if ((flags & 1) && m->ncpus < GUEST_MAX_CPUS) {
                m->apic_ids[m->ncpus++] = id;
            }
            break;
        default:
            break;
        }
        p += p[1];
    }
    return 0;
}
