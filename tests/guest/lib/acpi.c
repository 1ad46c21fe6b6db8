// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * acpi.c: finding the RSDP (hvm_start_info, else the 0xE0000-0xFFFFF scan of ACPI 6.5
 * section 5.2.5.1), walking the XSDT/RSDT with checksum validation, parsing the MADT
 * (section 5.2.12) into CPU APIC ids, the IOAPIC and ISA interrupt overrides, and the FADT's
 * power-management registers (5.2.9) with \_Sx from the DSDT for soft-off (7.4.2, 16.1).
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

/* FADT field offsets (ACPI 6.x, table 5.9). */
#define FADT_DSDT 40
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_ACPI_ENABLE 52
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_X_DSDT 140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_SLEEP_CONTROL_REG 244
#define FADT_HW_REDUCED_ACPI (1u << 20)

static uint64_t fadt_u(const uint8_t *fadt, uint32_t len, unsigned off, unsigned size)
{
    uint64_t v = 0;

    if (off + size <= len) {
        memcpy(&v, fadt + off, size);
    }
    return v;
}

/* The X_ GAS when present, else the 32-bit I/O block address of the ACPI 1.0 field. */
static void fadt_block(const uint8_t *fadt, uint32_t len, unsigned x_off, unsigned off,
                       unsigned width, struct acpi_gas *g)
{
    memset(g, 0, sizeof(*g));
    if (x_off + sizeof(*g) <= len) {
        memcpy(g, fadt + x_off, sizeof(*g));
    }
    if (g->address == 0) {
        g->space = 1;
        g->bit_width = (uint8_t)width;
        g->address = fadt_u(fadt, len, off, 4);
    }
}

int acpi_pm_info(struct acpi_pm_info *pm)
{
    const struct acpi_header *h = acpi_find_table("FACP");

    memset(pm, 0, sizeof(*pm));
    if (h == NULL || h->length < FADT_FLAGS + 4) {
        return -1;
    }
    const uint8_t *f = (const uint8_t *)h;
    uint32_t len = h->length;
    pm->flags = (uint32_t)fadt_u(f, len, FADT_FLAGS, 4);
    pm->hw_reduced = (pm->flags & FADT_HW_REDUCED_ACPI) != 0;
    pm->sci_irq = (uint16_t)fadt_u(f, len, FADT_SCI_INT, 2);
    pm->smi_cmd = (uint32_t)fadt_u(f, len, FADT_SMI_CMD, 4);
    pm->acpi_enable = (uint8_t)fadt_u(f, len, FADT_ACPI_ENABLE, 1);
    pm->pm1_evt_len = (uint8_t)fadt_u(f, len, FADT_PM1_EVT_LEN, 1);
    fadt_block(f, len, FADT_X_PM1A_EVT_BLK, FADT_PM1A_EVT_BLK, 32, &pm->pm1a_evt);
    fadt_block(f, len, FADT_X_PM1A_CNT_BLK, FADT_PM1A_CNT_BLK, 16, &pm->pm1a_cnt);
    if (FADT_SLEEP_CONTROL_REG + sizeof(pm->sleep_control) <= len) {
        memcpy(&pm->sleep_control, f + FADT_SLEEP_CONTROL_REG, sizeof(pm->sleep_control));
    }
    if (FADT_RESET_VALUE < len) {
        memcpy(&pm->reset_reg, f + FADT_RESET_REG, sizeof(pm->reset_reg));
        pm->reset_value = f[FADT_RESET_VALUE];
    }
    return 0;
}

/* An AML integer constant (ACPI 6.x, 20.2.3): its value, or -1 for anything else. */
static int64_t aml_integer(const uint8_t *p, const uint8_t *end)
{
    uint64_t v = 0;

    if (p >= end) {
        return -1;
    }
    switch (p[0]) {
    case 0x00: /* ZeroOp */
        return 0;
    case 0x01: /* OneOp */
        return 1;
    case 0x0a: /* BytePrefix */
        return p + 2 <= end ? p[1] : -1;
    case 0x0b: /* WordPrefix */
        if (p + 3 > end) {
            return -1;
        }
        memcpy(&v, p + 1, 2);
        return (int64_t)v;
    case 0x0c: /* DWordPrefix */
        if (p + 5 > end) {
            return -1;
        }
        memcpy(&v, p + 1, 4);
        return (int64_t)v;
    default:
        return -1;
    }
}

int acpi_sleep_type(unsigned n)
{
    const struct acpi_header *fadt = acpi_find_table("FACP");

    if (fadt == NULL || n > 5) {
        return -1;
    }
    uint64_t addr = fadt_u((const uint8_t *)fadt, fadt->length, FADT_X_DSDT, 8);
    if (addr == 0) {
        addr = fadt_u((const uint8_t *)fadt, fadt->length, FADT_DSDT, 4);
    }
    const struct acpi_header *dsdt = (const struct acpi_header *)(uintptr_t)addr;
    if (dsdt == NULL || addr >= (4ull << 30) || memcmp(dsdt->signature, "DSDT", 4) != 0) {
        return -1;
    }
    const uint8_t *p = (const uint8_t *)dsdt + sizeof(*dsdt);
    const uint8_t *end = (const uint8_t *)dsdt + dsdt->length;
    const char name[4] = {'_', 'S', (char)('0' + n), '_'};
    /* NameOp (0x08), optional root prefix '\', NameSeg, PackageOp (0x12). */
    for (; p + 8 <= end; p++) {
        if (memcmp(p, name, 4) != 0 || p[4] != 0x12) {
            continue;
        }
        if (!(p[-1] == 0x08 || (p[-1] == '\\' && p[-2] == 0x08))) {
            continue;
        }
        const uint8_t *q = p + 5;
        q += 1 + (q[0] >> 6); /* PkgLength: lead byte bits 7:6 = following bytes */
        if (q + 1 >= end || q[0] < 1) {
            return -1;
        }
        int64_t typ = aml_integer(q + 1, end); /* after NumElements */
        return typ >= 0 && typ <= 7 ? (int)typ : -1;
    }
    return -1;
}

uint32_t acpi_gas_read(const struct acpi_gas *g, unsigned offset, unsigned size)
{
    uint64_t a = g->address + offset;

    if (g->space == 1) {
        return size == 1 ? inb((uint16_t)a) : size == 2 ? inw((uint16_t)a) : inl((uint16_t)a);
    }
    if (size == 1) {
        return *(volatile uint8_t *)(uintptr_t)a;
    }
    return size == 2 ? *(volatile uint16_t *)(uintptr_t)a : *(volatile uint32_t *)(uintptr_t)a;
}

void acpi_gas_write(const struct acpi_gas *g, unsigned offset, unsigned size, uint32_t v)
{
    uint64_t a = g->address + offset;

    if (g->space == 1) {
        if (size == 1) {
            outb((uint16_t)a, (uint8_t)v);
        } else if (size == 2) {
            outw((uint16_t)a, (uint16_t)v);
        } else {
            outl((uint16_t)a, v);
        }
    } else if (size == 1) {
        *(volatile uint8_t *)(uintptr_t)a = (uint8_t)v;
    } else if (size == 2) {
        *(volatile uint16_t *)(uintptr_t)a = (uint16_t)v;
    } else {
        *(volatile uint32_t *)(uintptr_t)a = v;
    }
}

const char *acpi_poweroff(void)
{
    struct acpi_pm_info pm;

    if (acpi_pm_info(&pm) < 0) {
        return "no FADT";
    }
    int typ = acpi_sleep_type(5);
    if (typ < 0) {
        return "no \\_S5 package in the DSDT";
    }
    if (pm.hw_reduced) {
        /* Sleep control register (4.8.3.7): SLP_TYP in bits 4:2, SLP_EN bit 5. */
        if (pm.sleep_control.address == 0 || pm.sleep_control.space > 1) {
            return "hardware-reduced ACPI without a usable SLEEP_CONTROL_REG";
        }
        printf("poweroff: SLEEP_CONTROL_REG %s %#lx, SLP_TYP %d\n",
               pm.sleep_control.space ? "io" : "mem", pm.sleep_control.address, typ);
        acpi_gas_write(&pm.sleep_control, 0, 1, (uint32_t)(typ << 2) | (1u << 5));
    } else {
        if (pm.pm1a_cnt.address == 0 || pm.pm1a_cnt.space > 1) {
            return "no usable PM1a_CNT_BLK";
        }
        printf("poweroff: PM1a_CNT %s %#lx, SLP_TYP %d\n", pm.pm1a_cnt.space ? "io" : "mem",
               pm.pm1a_cnt.address, typ);
        uint32_t cnt = acpi_gas_read(&pm.pm1a_cnt, 0, 2) & ~(7u << 10);
        acpi_gas_write(&pm.pm1a_cnt, 0, 2, cnt | ((uint32_t)typ << 10) | ACPI_PM1_SLP_EN);
    }
    /* The machine is off as soon as the write completes; give a slow one a second. */
    udelay(1000000);
    return "still running 1 s after entering S5";
}
