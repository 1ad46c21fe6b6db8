// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * acpi: validates the RSDP (both checksums for revision 2+), the XSDT or RSDT, every table it
 * lists, FADT -> DSDT (and FACS when present), and that the MADT lists cpus=N processors.
 */
#include "guest.h"

struct walk {
    unsigned tables;
    unsigned bad;
    bool fadt, madt;
};

static void check_header(const struct acpi_header *t, const char *via)
{
    printf("  %.4s at %p len %u rev %u oem \"%.6s\" %s\n", t->signature, (const void *)t, t->length,
           t->revision, t->oem_id, via);
    CHECK(t->length >= sizeof(*t) && t->length < (16u << 20), "%.4s has length %u", t->signature,
          t->length);
    CHECK(acpi_sum(t, t->length) == 0, "%.4s checksum is wrong (sum %#x)", t->signature,
          acpi_sum(t, t->length));
}

static void visit(const struct acpi_header *t, void *ctx)
{
    struct walk *w = ctx;

    w->tables++;
    check_header(t, "");
    if (memcmp(t->signature, "FACP", 4) == 0) {
        const uint8_t *f = (const uint8_t *)t;
        uint32_t dsdt32 = 0, facs32 = 0;
        uint64_t dsdt64 = 0, facs64 = 0;
        memcpy(&facs32, f + 36, 4);
        memcpy(&dsdt32, f + 40, 4);
        if (t->length >= 148) {
            memcpy(&facs64, f + 132, 8);
            memcpy(&dsdt64, f + 140, 8);
        }
        uint64_t dsdt = dsdt64 != 0 ? dsdt64 : dsdt32;
        uint64_t facs = facs64 != 0 ? facs64 : facs32;
        CHECK(dsdt != 0 && dsdt < (4ull << 30), "FADT has no usable DSDT address");
        const struct acpi_header *d = (const struct acpi_header *)(uintptr_t)dsdt;
        CHECK(memcmp(d->signature, "DSDT", 4) == 0, "FADT's DSDT pointer finds \"%.4s\"",
              d->signature);
        check_header(d, "(from FADT)");
        if (facs != 0 && facs < (4ull << 30)) {
            const char *sig = (const char *)(uintptr_t)facs;
            CHECK(memcmp(sig, "FACS", 4) == 0, "FADT's FACS pointer finds \"%.4s\"", sig);
            printf("  FACS at %#lx (no checksum)\n", facs);
        }
        uint32_t pm_tmr = 0, flags = 0;
        memcpy(&pm_tmr, f + 76, 4);
        if (t->length >= 116) {
            memcpy(&flags, f + 112, 4);
        }
        printf("  FADT flags %#x%s, PM timer %s%#x\n", flags,
               (flags & (1u << 20)) ? " (hardware-reduced)" : "", pm_tmr ? "at port " : "none ",
               pm_tmr);
        w->fadt = true;
    }
    if (memcmp(t->signature, "APIC", 4) == 0) {
        w->madt = true;
    }
}

void test_main(void)
{
    const struct hvm_start_info *si = start_info();
    const struct acpi_rsdp *r = acpi_find_rsdp();
    unsigned want = (unsigned)cmdline_u64("cpus", 0);

    CHECK(r != NULL, "no RSDP (start_info rsdp_paddr %#lx, no \"RSD PTR \" in 0xe0000-0xfffff)",
          si != NULL && si->version >= 1 ? si->rsdp_paddr : 0);
    printf("RSDP at %p (%s) rev %u oem \"%.6s\" rsdt %#x xsdt %#lx\n", (const void *)r,
           si != NULL && si->version >= 1 && si->rsdp_paddr != 0 ? "start_info" : "scan",
           r->revision, r->oem_id, r->rsdt_address, r->revision >= 2 ? r->xsdt_address : 0);
    CHECK(memcmp(r->signature, "RSD PTR ", 8) == 0, "RSDP signature is wrong");
    CHECK(acpi_sum(r, 20) == 0, "RSDP checksum is wrong");
    if (r->revision >= 2) {
        CHECK(r->length >= 36 && r->length < 4096, "RSDP length %u", r->length);
        CHECK(acpi_sum(r, r->length) == 0, "RSDP extended checksum is wrong");
    }
    const struct acpi_header *root =
        (const struct acpi_header *)(uintptr_t)(r->revision >= 2 && r->xsdt_address != 0
                                                    ? r->xsdt_address
                                                    : r->rsdt_address);
    CHECK(root != NULL, "RSDP points to neither an XSDT nor an RSDT");
    CHECK(memcmp(root->signature, r->revision >= 2 && r->xsdt_address ? "XSDT" : "RSDT", 4) == 0,
          "root table signature \"%.4s\"", root->signature);
    check_header(root, "(root)");

    struct walk w = {0};
    int n = acpi_for_each_table(visit, &w);
    printf("%d tables listed\n", n);
    CHECK(n > 0, "the root table lists no tables");
    CHECK(w.fadt, "no FADT (FACP)");
    CHECK(w.madt, "no MADT (APIC)");

    struct madt_info m;
    CHECK(madt_parse(&m) == 0, "MADT unreadable");
    printf("MADT: %u enabled processors, IOAPIC at %#x (GSI base %u)\n", m.ncpus, m.ioapic_addr,
           m.ioapic_gsi_base);
    if (want != 0) {
        CHECK(m.ncpus == want, "MADT lists %u processors, cpus=%u", m.ncpus, want);
    }
}
