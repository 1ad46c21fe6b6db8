// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The machine's ACPI tables (ACPI 6.x chapter 5): RSDP, RSDT, XSDT, FADT (revision 6),
 * FACS, MADT and a DSDT with \_S5, the processor devices and the legacy ISA devices.
 * The whole image is laid out in a host buffer first and copied to guest memory once, so a
 * failure leaves guest memory untouched and the same inputs always give the same bytes.
 */
#include "vmm/acpi.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/acpi_aml.h"
#include "vmm/e820.h"
#include "vmm/memory.h"
#include "vmm/pci_machine.h"

#define ACPI_OEM_ID "DESKVM"      /* 6 bytes */
#define ACPI_OEM_TABLE "DESKVM  " /* 8 bytes */
#define ACPI_OEM_REVISION 1
#define ACPI_CREATOR_ID "DSKV"
#define ACPI_CREATOR_REVISION 1

#define ACPI_HDR_LEN 36
#define RSDP_LEN 36
#define RSDP_V1_LEN 20
#define FADT_LEN 276 /* revision 6 */
#define FACS_LEN 64
#define MADT_FIXED_LEN 44
#define MADT_LAPIC_LEN 8
#define MADT_IOAPIC_LEN 12
#define MADT_ISO_LEN 10
#define MADT_LAPIC_NMI_LEN 6
#define MADT_NUM_ISO 2
#define MCFG_LEN 60 /* header, 8 reserved bytes, one allocation */

/* FADT flags (5.2.9, table "Fixed ACPI Description Table Fixed Feature Flags"). */
#define FADT_F_WBINVD (1u << 0)
#define FADT_F_PROC_C1 (1u << 2)
#define FADT_F_SLP_BUTTON (1u << 5) /* set: no fixed-feature sleep button */
#define FADT_F_FIX_RTC (1u << 6)    /* set: RTC wake status not in the fixed register */
#define FADT_F_RESET_REG_SUP (1u << 10)

/* IA-PC boot architecture flags (5.2.9.3). */
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_8042 (1u << 1)

#define FADT_PM_PROFILE_DESKTOP 1
/* Latencies above 100 / 1000 us say "C2 / C3 not supported" (5.2.9). */
#define FADT_C2_UNSUPPORTED 101
#define FADT_C3_UNSUPPORTED 1001

/* Generic Address Structure (5.2.3.2). */
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1
#define GAS_ACCESS_WORD 2
#define GAS_ACCESS_DWORD 3

/* MADT (5.2.12). */
#define MADT_PCAT_COMPAT (1u << 0)
#define MADT_TYPE_LAPIC 0
#define MADT_TYPE_IOAPIC 1
#define MADT_TYPE_ISO 2
#define MADT_TYPE_LAPIC_NMI 4
#define MADT_LAPIC_ENABLED (1u << 0)
#define MPS_POLARITY_HIGH 0x1
#define MPS_POLARITY_LOW 0x3
#define MPS_TRIGGER_EDGE (0x1 << 2)
#define MPS_TRIGGER_LEVEL (0x3 << 2)
#define MADT_ALL_PROCESSORS 0xff
/*
 * The in-kernel IOAPIC's ID register reads 0 after reset, and the MADT must agree with what
 * the OS reads back; IOAPIC and local APIC IDs are separate name spaces on every CPU with
 * APIC bus-less (xAPIC) delivery, so 0 does not clash with CPU 0.
 */
#define MADT_IOAPIC_ID 0

struct acpi_layout {
    uint64_t rsdp, rsdt, xsdt, fadt, facs, madt, dsdt, mcfg, end; /* offsets from base */
    size_t dsdt_len, madt_len;
    unsigned nentries; /* RSDT/XSDT entries: FADT, MADT, and MCFG when there is PCI */
};

static void put8(uint8_t *p, uint8_t v)
{
    p[0] = v;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* Byte that makes the sum of [p, p+len) zero modulo 256. */
static uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++) {
        sum = (uint8_t)(sum + p[i]);
    }
    return (uint8_t)(0 - sum);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* System description table header (5.2.6); the checksum is set by finish_table(). */
static void put_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    put8(t + 8, rev);
    memcpy(t + 10, ACPI_OEM_ID, 6);
    memcpy(t + 16, ACPI_OEM_TABLE, 8);
    put32(t + 24, ACPI_OEM_REVISION);
    memcpy(t + 28, ACPI_CREATOR_ID, 4);
    put32(t + 32, ACPI_CREATOR_REVISION);
}

static void finish_table(uint8_t *t, uint32_t len)
{
    t[9] = 0;
    t[9] = acpi_checksum(t, len);
}

static void put_gas(uint8_t *p, uint8_t space, uint8_t bit_width, uint8_t access, uint64_t addr)
{
    put8(p, space);
    put8(p + 1, bit_width);
    put8(p + 2, 0); /* bit offset */
    put8(p + 3, access);
    put64(p + 4, addr);
}

/* Name(_HID, EISAID(hid)), Name(_UID, uid), Name(_CRS, ResourceTemplate() { io..., irq }). */
static void dsdt_isa_device(struct aml_buf *b, const char *name, const char *hid, unsigned uid,
                            const uint16_t (*io)[2], unsigned nio, unsigned irq)
{
    size_t dev = aml_device_begin(b, name);
    aml_name(b, "_HID");
    aml_eisaid(b, hid);
    aml_name(b, "_UID");
    aml_integer(b, uid);

    struct aml_buf res;
    aml_init(&res);
    for (unsigned i = 0; i < nio; i++) {
        aml_res_io(&res, io[i][0], io[i][0], 1, (uint8_t)io[i][1]);
    }
    aml_res_irq_noflags(&res, irq);
    aml_res_end_tag(&res);
    aml_name(b, "_CRS");
    aml_buffer(b, &res);
    aml_free(&res);
    aml_end(b, dev);
}

/*
 * The host bridge (PCI Firmware 3.2 4.1.5; ACPI 6.x 6.2.13 _PRT): bus range, the config
 * ports it consumes, the I/O and memory windows BARs may use, and INTx routing to GSIs.
 */
static void dsdt_pci0(struct aml_buf *b)
{
    size_t dev = aml_device_begin(b, "PCI0");
    aml_name(b, "_HID");
    aml_eisaid(b, "PNP0A08"); /* PCI Express root bridge */
    aml_name(b, "_CID");
    aml_eisaid(b, "PNP0A03"); /* PCI root bridge, for OSes without PCIe support */
    aml_name(b, "_ADR");
    aml_integer(b, 0);
    aml_name(b, "_UID");
    aml_integer(b, 0);
    aml_name(b, "_SEG");
    aml_integer(b, 0);
    aml_name(b, "_BBN");
    aml_integer(b, 0);

    struct aml_buf res;
    aml_init(&res);
    aml_res_word(&res, AML_RES_BUS, 0, 0, 0xff);
    aml_res_io(&res, 0xcf8, 0xcf8, 1, 8);
    aml_res_word(&res, AML_RES_IO, 3, 0x0d00, 0xffff);
    aml_res_dword(&res, AML_RES_MEMORY, 1, (uint32_t)PCI_MMIO_WINDOW_BASE,
                  (uint32_t)(PCI_MMIO_WINDOW_BASE + PCI_MMIO_WINDOW_SIZE - 1));
    aml_res_end_tag(&res);
    aml_name(b, "_CRS");
    aml_buffer(b, &res);
    aml_free(&res);

    /* One entry per slot and pin: { slot << 16 | 0xffff, pin 0-3, source 0, GSI }. */
    aml_name(b, "_PRT");
    size_t prt = aml_package_begin(b, 32 * 4);
    for (unsigned slot = 0; slot < 32; slot++) {
        for (unsigned pin = 0; pin < 4; pin++) {
            size_t e = aml_package_begin(b, 4);
            aml_integer(b, (uint64_t)slot << 16 | 0xffff);
            aml_integer(b, pin);
            aml_integer(b, 0);
            aml_integer(b, pci_intx_gsi(slot, pin + 1));
            aml_end(b, e);
        }
    }
    aml_end(b, prt);
    aml_end(b, dev);
}

static void dsdt_build(struct aml_buf *b, unsigned ncpus, bool pci)
{
    /* \_S5: SLP_TYPa, SLP_TYPb, reserved, reserved (7.4.2). */
    aml_name(b, "\\_S5");
    size_t pkg = aml_package_begin(b, 4);
    aml_integer(b, ACPI_SLP_TYP_S5);
    aml_integer(b, ACPI_SLP_TYP_S5);
    aml_integer(b, 0);
    aml_integer(b, 0);
    aml_end(b, pkg);

    size_t sb = aml_scope_begin(b, "\\_SB");
    /*
     * Processor devices (ACPI0007), matched to MADT entries by _UID = processor UID. Linux
     * needs none; other OSes look for one per CPU in the namespace.
     */
    for (unsigned i = 0; i < ncpus; i++) {
        char name[8];
        snprintf(name, sizeof(name), "C%03X", i & 0xfffu);
        size_t dev = aml_device_begin(b, name);
        aml_name(b, "_HID");
        aml_string(b, "ACPI0007");
        aml_name(b, "_UID");
        aml_integer(b, i);
        aml_end(b, dev);
    }

    static const uint16_t com1_io[][2] = {{0x3f8, 8}};
    static const uint16_t rtc_io[][2] = {{0x70, 2}};
    static const uint16_t kbd_io[][2] = {{0x60, 1}, {0x64, 1}};
    dsdt_isa_device(b, "COM1", "PNP0501", 1, com1_io, 1, 4);
    dsdt_isa_device(b, "RTC", "PNP0B00", 0, rtc_io, 1, 8);
    dsdt_isa_device(b, "KBD", "PNP0303", 0, kbd_io, 2, 1);
    if (pci) {
        dsdt_pci0(b);
    }
    aml_end(b, sb);
}

static size_t madt_size(unsigned ncpus)
{
    return MADT_FIXED_LEN + (size_t)ncpus * MADT_LAPIC_LEN + MADT_IOAPIC_LEN +
           MADT_NUM_ISO * MADT_ISO_LEN + MADT_LAPIC_NMI_LEN;
}

static void put_iso(uint8_t *p, uint8_t irq, uint32_t gsi, uint16_t flags)
{
    put8(p, MADT_TYPE_ISO);
    put8(p + 1, MADT_ISO_LEN);
    put8(p + 2, 0); /* bus: ISA */
    put8(p + 3, irq);
    put32(p + 4, gsi);
    put16(p + 8, flags);
}

static void madt_build(uint8_t *t, size_t len, unsigned ncpus)
{
    put_header(t, "APIC", (uint32_t)len, 5);
    put32(t + 36, (uint32_t)LAPIC_BASE);
    put32(t + 40, MADT_PCAT_COMPAT); /* dual 8259s present: the OS masks them */
    uint8_t *p = t + MADT_FIXED_LEN;
    for (unsigned i = 0; i < ncpus; i++) {
        put8(p, MADT_TYPE_LAPIC);
        put8(p + 1, MADT_LAPIC_LEN);
        put8(p + 2, (uint8_t)i); /* ACPI processor UID */
        put8(p + 3, (uint8_t)i); /* APIC ID */
        put32(p + 4, MADT_LAPIC_ENABLED);
        p += MADT_LAPIC_LEN;
    }
    put8(p, MADT_TYPE_IOAPIC);
    put8(p + 1, MADT_IOAPIC_LEN);
    put8(p + 2, MADT_IOAPIC_ID);
    put8(p + 3, 0);
    put32(p + 4, (uint32_t)IOAPIC_BASE);
    put32(p + 8, 0); /* GSI base */
    p += MADT_IOAPIC_LEN;
    /* The PIT's IRQ0 is wired to IOAPIC pin 2 on PCs; the SCI is level, active high. */
    put_iso(p, 0, 2, MPS_POLARITY_HIGH | MPS_TRIGGER_EDGE);
    p += MADT_ISO_LEN;
    put_iso(p, ACPI_SCI_IRQ, ACPI_SCI_IRQ, MPS_POLARITY_HIGH | MPS_TRIGGER_LEVEL);
    p += MADT_ISO_LEN;
    /* NMI arrives on LINT1 of every processor, as on PC hardware. */
    put8(p, MADT_TYPE_LAPIC_NMI);
    put8(p + 1, MADT_LAPIC_NMI_LEN);
    put8(p + 2, MADT_ALL_PROCESSORS);
    put16(p + 3, 0); /* conforms to the bus */
    put8(p + 5, 1);  /* LINT1 */
    finish_table(t, (uint32_t)len);
}

static void fadt_build(uint8_t *t, uint64_t base, const struct acpi_layout *l)
{
    put_header(t, "FACP", FADT_LEN, 6);
    put32(t + 36, (uint32_t)(base + l->facs));
    put32(t + 40, (uint32_t)(base + l->dsdt));
    put8(t + 45, FADT_PM_PROFILE_DESKTOP);
    put16(t + 46, ACPI_SCI_IRQ);
    /* SMI_CMD, ACPI_ENABLE, ACPI_DISABLE stay 0: no SMM, the machine is always in ACPI mode. */
    put32(t + 56, ACPI_PM_BASE);     /* PM1a_EVT_BLK */
    put32(t + 64, ACPI_PM_BASE + 4); /* PM1a_CNT_BLK */
    put32(t + 76, ACPI_PM_BASE + 8); /* PM_TMR_BLK */
    put8(t + 88, 4);                 /* PM1_EVT_LEN */
    put8(t + 89, 2);                 /* PM1_CNT_LEN */
    put8(t + 91, 4);                 /* PM_TMR_LEN */
    put16(t + 96, FADT_C2_UNSUPPORTED);
    put16(t + 98, FADT_C3_UNSUPPORTED);
    /* CENTURY stays 0 until the RTC model documents a century register. */
    put16(t + 109, FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042);
    /* TMR_VAL_EXT clear: the PM timer is 24 bits wide. */
    put32(t + 112, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON | FADT_F_FIX_RTC |
                       FADT_F_RESET_REG_SUP);
    put_gas(t + 116, GAS_SYSTEM_IO, 8, GAS_ACCESS_BYTE, ACPI_RESET_PORT);
    put8(t + 128, ACPI_RESET_VALUE);
    put8(t + 131, 3); /* FADT minor version: ACPI 6.3 */
    /* X_FIRMWARE_CTRL stays 0: the FACS is below 4 GiB and the spec allows only one of the two. */
    put64(t + 140, base + l->dsdt);
    put_gas(t + 148, GAS_SYSTEM_IO, 32, GAS_ACCESS_WORD, ACPI_PM_BASE);
    put_gas(t + 172, GAS_SYSTEM_IO, 16, GAS_ACCESS_WORD, ACPI_PM_BASE + 4);
    put_gas(t + 208, GAS_SYSTEM_IO, 32, GAS_ACCESS_DWORD, ACPI_PM_BASE + 8);
    memcpy(t + 268, "DESKVM  ", 8); /* hypervisor vendor identity */
    finish_table(t, FADT_LEN);
}

/* PCI Firmware 3.2 4.1.2: one ECAM allocation, segment 0, buses 0-255. */
static void mcfg_build(uint8_t *t, uint64_t ecam_base)
{
    put_header(t, "MCFG", MCFG_LEN, 1);
    put64(t + 44, ecam_base);
    put16(t + 52, 0);   /* PCI segment group */
    put8(t + 54, 0);    /* start bus */
    put8(t + 55, 0xff); /* end bus: ECAM_SIZE covers 256 buses */
    finish_table(t, MCFG_LEN);
}

static void facs_build(uint8_t *t)
{
    /* No checksum: the OS writes to the FACS (global lock, waking vector). */
    memcpy(t, "FACS", 4);
    put32(t + 4, FACS_LEN);
    put8(t + 32, 2); /* version */
}

static void rsdt_xsdt_build(uint8_t *rsdt, uint8_t *xsdt, uint64_t base,
                            const struct acpi_layout *l)
{
    const uint64_t entries[] = {base + l->fadt, base + l->madt, base + l->mcfg};
    const unsigned n = l->nentries;
    uint32_t rlen = ACPI_HDR_LEN + 4 * n;
    uint32_t xlen = ACPI_HDR_LEN + 8 * n;
    put_header(rsdt, "RSDT", rlen, 1);
    put_header(xsdt, "XSDT", xlen, 1);
    for (unsigned i = 0; i < n; i++) {
        put32(rsdt + ACPI_HDR_LEN + 4 * i, (uint32_t)entries[i]);
        put64(xsdt + ACPI_HDR_LEN + 8 * i, entries[i]);
    }
    finish_table(rsdt, rlen);
    finish_table(xsdt, xlen);
}

static void rsdp_build(uint8_t *p, uint64_t base, const struct acpi_layout *l)
{
    memcpy(p, "RSD PTR ", 8);
    memcpy(p + 9, ACPI_OEM_ID, 6);
    put8(p + 15, 2); /* revision: ACPI 2.0+ RSDP with XSDT */
    put32(p + 16, (uint32_t)(base + l->rsdt));
    put32(p + 20, RSDP_LEN);
    put64(p + 24, base + l->xsdt);
    p[8] = acpi_checksum(p, RSDP_V1_LEN);
    p[32] = acpi_checksum(p, RSDP_LEN);
}

/* Offsets of every table: RSDP first, 16-byte alignment, FACS on 64 bytes as required. */
static void acpi_layout(struct acpi_layout *l, size_t madt_len, size_t dsdt_len, bool pci)
{
    l->madt_len = madt_len;
    l->dsdt_len = dsdt_len;
    l->nentries = pci ? 3 : 2;
    l->rsdp = 0;
    l->rsdt = align_up(l->rsdp + RSDP_LEN, 16);
    l->xsdt = align_up(l->rsdt + ACPI_HDR_LEN + 4 * l->nentries, 16);
    l->fadt = align_up(l->xsdt + ACPI_HDR_LEN + 8 * l->nentries, 16);
    l->facs = align_up(l->fadt + FADT_LEN, 64);
    l->madt = align_up(l->facs + FACS_LEN, 16);
    l->dsdt = align_up(l->madt + madt_len, 16);
    l->mcfg = align_up(l->dsdt + dsdt_len, 16);
    l->end = pci ? l->mcfg + MCFG_LEN : l->dsdt + dsdt_len;
}

/* The tables as one image for guest address base (RSDP at offset 0); *img is malloc'd. */
static int build_image(const struct acpi_config *cfg, uint64_t base, struct acpi_layout *l,
                       uint8_t **img_out)
{
    /* The RSDP must be 16-byte aligned; RSDT and FADT hold 32-bit table addresses. */
    if (!cfg || cfg->ncpus == 0 || cfg->ncpus > ACPI_MAX_CPUS || (base & 15) || base >= MEM_4G) {
        return -EINVAL;
    }

    struct aml_buf dsdt;
    aml_init(&dsdt);
    dsdt_build(&dsdt, cfg->ncpus, cfg->pci);
    if (dsdt.err) {
        int err = dsdt.err;
        aml_free(&dsdt);
        return err == -E2BIG ? -ENOSPC : err;
    }

    acpi_layout(l, madt_size(cfg->ncpus), ACPI_HDR_LEN + dsdt.len, cfg->pci);
    if (l->end > MEM_4G - base) {
        aml_free(&dsdt);
        return -EINVAL;
    }
    uint8_t *img = calloc(1, l->end);
    if (!img) {
        aml_free(&dsdt);
        return -ENOMEM;
    }

    put_header(img + l->dsdt, "DSDT", (uint32_t)l->dsdt_len, 2); /* rev 2: 64-bit integers */
    memcpy(img + l->dsdt + ACPI_HDR_LEN, dsdt.data, dsdt.len);
    finish_table(img + l->dsdt, (uint32_t)l->dsdt_len);
    aml_free(&dsdt);

    madt_build(img + l->madt, l->madt_len, cfg->ncpus);
    if (cfg->pci) {
        mcfg_build(img + l->mcfg, cfg->ecam_base ? cfg->ecam_base : ECAM_BASE);
    }
    facs_build(img + l->facs);
    fadt_build(img + l->fadt, base, l);
    rsdt_xsdt_build(img + l->rsdt, img + l->xsdt, base, l);
    rsdp_build(img + l->rsdp, base, l);
    *img_out = img;
    return 0;
}

int acpi_build(const struct guest_mem *mem, uint64_t base, uint64_t max,
               const struct acpi_config *cfg, uint64_t *rsdp_gpa)
{
    struct acpi_layout l;
    uint8_t *img;
    int ret = build_image(cfg, base, &l, &img);
    if (ret < 0) {
        return ret;
    }
    if (l.end > max) {
        free(img);
        return -ENOSPC;
    }
    ret = guest_mem_write(mem, base, img, l.end);
    free(img);
    if (ret < 0) {
        return ret;
    }
    if (rsdp_gpa) {
        *rsdp_gpa = base + l.rsdp;
    }
    return 0;
}

/* ---- QEMU's table-loader interface for firmware ------------------------------------------- */

static uint8_t *loader_entry(struct acpi_fw_tables *t, uint32_t command)
{
    if (t->nloader >= ACPI_LOADER_MAX_ENTRIES) {
        return NULL; /* never with the fixed set of tables built here */
    }
    uint8_t *e = t->loader + t->nloader++ * ACPI_LOADER_ENTRY_LEN;
    memset(e, 0, ACPI_LOADER_ENTRY_LEN);
    put32(e, command);
    return e;
}

static void loader_allocate(struct acpi_fw_tables *t, const char *file, uint32_t align,
                            uint8_t zone)
{
    uint8_t *e = loader_entry(t, ACPI_LOADER_ALLOCATE);
    if (e) {
        strncpy((char *)e + 4, file, ACPI_LOADER_FILE_LEN - 1);
        put32(e + 4 + ACPI_LOADER_FILE_LEN, align);
        put8(e + 8 + ACPI_LOADER_FILE_LEN, zone);
    }
}

/* The pointer of size bytes at offset in dest gets the address of src added. */
static void loader_add_pointer(struct acpi_fw_tables *t, const char *dest, const char *src,
                               uint32_t offset, uint8_t size)
{
    uint8_t *e = loader_entry(t, ACPI_LOADER_ADD_POINTER);
    if (e) {
        strncpy((char *)e + 4, dest, ACPI_LOADER_FILE_LEN - 1);
        strncpy((char *)e + 4 + ACPI_LOADER_FILE_LEN, src, ACPI_LOADER_FILE_LEN - 1);
        put32(e + 4 + 2 * ACPI_LOADER_FILE_LEN, offset);
        put8(e + 8 + 2 * ACPI_LOADER_FILE_LEN, size);
    }
}

static void loader_add_checksum(struct acpi_fw_tables *t, const char *file, uint32_t cksum,
                                uint32_t start, uint32_t len)
{
    uint8_t *e = loader_entry(t, ACPI_LOADER_ADD_CHECKSUM);
    if (e) {
        strncpy((char *)e + 4, file, ACPI_LOADER_FILE_LEN - 1);
        put32(e + 4 + ACPI_LOADER_FILE_LEN, cksum);
        put32(e + 8 + ACPI_LOADER_FILE_LEN, start);
        put32(e + 12 + ACPI_LOADER_FILE_LEN, len);
    }
}

/* A table address in the image (written for base 0): where, and in which file it ends up. */
struct acpi_ptr {
    bool in_rsdp;
    uint64_t at; /* offset in the image */
    uint8_t size;
};

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++) {
        v |= (uint64_t)p[i] << (8 * i);
    }
    return v;
}

int acpi_build_fw_tables(const struct acpi_config *cfg, struct acpi_fw_tables *t)
{
    memset(t, 0, sizeof(*t));
    struct acpi_layout l;
    uint8_t *img;
    int ret = build_image(cfg, 0, &l, &img);
    if (ret < 0) {
        return ret;
    }
    /*
     * etc/acpi/rsdp holds the RSDP; etc/acpi/tables everything from the RSDT on, starting at
     * a 64-byte boundary of the image so the FACS keeps its alignment in a file the firmware
     * places 64-byte aligned (the bytes before the RSDT are zero padding).
     */
    size_t off = l.rsdt & ~(size_t)63;
    t->tables_len = l.end - off;
    t->tables = calloc(1, t->tables_len);
    if (!t->tables) {
        free(img);
        return -ENOMEM;
    }
    memcpy(t->rsdp, img, RSDP_LEN);
    memcpy(t->tables + (l.rsdt - off), img + l.rsdt, l.end - l.rsdt);
    free(img);

    loader_allocate(t, ACPI_FILE_RSDP, 16, ACPI_LOADER_ZONE_FSEG);
    loader_allocate(t, ACPI_FILE_TABLES, 64, ACPI_LOADER_ZONE_HIGH);

    /*
     * Every table address in the image was written for base 0, so it is an offset into the
     * image; make it an offset into its file, which ADD_POINTER turns into an address.
     */
    struct acpi_ptr ptrs[8 + 2 * 3];
    unsigned n = 0;
    ptrs[n++] = (struct acpi_ptr){true, l.rsdp + 16, 4};
    ptrs[n++] = (struct acpi_ptr){true, l.rsdp + 24, 8};
    for (unsigned i = 0; i < l.nentries; i++) {
        ptrs[n++] = (struct acpi_ptr){false, l.rsdt + ACPI_HDR_LEN + 4 * i, 4};
        ptrs[n++] = (struct acpi_ptr){false, l.xsdt + ACPI_HDR_LEN + 8 * i, 8};
    }
    ptrs[n++] = (struct acpi_ptr){false, l.fadt + 36, 4};  /* FIRMWARE_CTRL (FACS) */
    ptrs[n++] = (struct acpi_ptr){false, l.fadt + 40, 4};  /* DSDT */
    ptrs[n++] = (struct acpi_ptr){false, l.fadt + 140, 8}; /* X_DSDT */
    for (unsigned i = 0; i < n; i++) {
        uint8_t *p = ptrs[i].in_rsdp ? t->rsdp + ptrs[i].at : t->tables + (ptrs[i].at - off);
        uint64_t v = get_le(p, ptrs[i].size) - off; /* the pointee is in etc/acpi/tables */
        for (unsigned b = 0; b < ptrs[i].size; b++) {
            p[b] = (uint8_t)(v >> (8 * b));
        }
        loader_add_pointer(t, ptrs[i].in_rsdp ? ACPI_FILE_RSDP : ACPI_FILE_TABLES, ACPI_FILE_TABLES,
                           (uint32_t)(ptrs[i].in_rsdp ? ptrs[i].at : ptrs[i].at - off),
                           ptrs[i].size);
    }

    /*
     * Checksums are computed by the firmware once the pointers hold addresses: the bytes are
     * 0 here (OVMF stores the sum of the range, SeaBIOS subtracts it: both need 0 first).
     */
    const uint64_t tables[] = {l.rsdt, l.xsdt, l.fadt, l.madt, l.dsdt, l.mcfg};
    for (unsigned i = 0; i < 6; i++) {
        if (tables[i] == l.mcfg && !cfg->pci) {
            continue;
        }
        uint8_t *h = t->tables + (tables[i] - off);
        uint32_t len = (uint32_t)get_le(h + 4, 4);
        h[9] = 0;
        loader_add_checksum(t, ACPI_FILE_TABLES, (uint32_t)(tables[i] - off + 9),
                            (uint32_t)(tables[i] - off), len);
    }
    t->rsdp[8] = 0;
    t->rsdp[32] = 0;
    loader_add_checksum(t, ACPI_FILE_RSDP, 8, 0, RSDP_V1_LEN);
    loader_add_checksum(t, ACPI_FILE_RSDP, 32, 0, RSDP_LEN);
    return 0;
}

void acpi_fw_tables_free(struct acpi_fw_tables *t)
{
    if (t) {
        free(t->tables);
        t->tables = NULL;
    }
}
