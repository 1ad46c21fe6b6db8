// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ICH9 LPC bridge (io/ich9_lpc.c): IDs and class, PMBASE's read-only I/O bit and 128-byte
 * granularity, the PM block decoding only with ACPI_EN (the machine told of every move),
 * OVMF's and SeaBIOS's programming sequence, the power-on state for a direct kernel boot,
 * PIRQ routing and RCBA storage, SMI_EN reporting SMM as set up, reset and state load.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/ich9_lpc.h"

struct fixture {
    struct ich9_lpc lpc;
    uint16_t old_base, new_base;
    unsigned moves;
};

static void on_move(void *opaque, uint16_t old_base, uint16_t new_base)
{
    struct fixture *f = opaque;
    f->old_base = old_base;
    f->new_base = new_base;
    f->moves++;
}

static struct fixture *fixture_new(uint16_t at_reset)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(ich9_lpc_init(&f->lpc, at_reset, on_move, f), 0);
    return f;
}

static uint32_t rd(struct fixture *f, unsigned off, unsigned size)
{
    return pci_cfg_read(&f->lpc.pci, off, size);
}

static void wr(struct fixture *f, unsigned off, uint32_t val, unsigned size)
{
    pci_cfg_write(&f->lpc.pci, off, val, size);
}

static void test_ids(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(ICH9_LPC_PM_UNMAPPED);
    assert_int_equal(rd(f, PCI_VENDOR_ID, 2), 0x8086);
    assert_int_equal(rd(f, PCI_DEVICE_ID, 2), 0x2918);
    assert_int_equal(rd(f, PCI_CLASS_DEVICE, 2), 0x0601); /* ISA bridge */
    assert_int_equal(rd(f, ICH9_LPC_PMBASE, 4), 1);       /* I/O space, base 0 */
    assert_int_equal(rd(f, ICH9_LPC_ACPI_CNTL, 1), 0);
    assert_int_equal(f->moves, 0);
    assert_int_equal(ich9_lpc_pm_decoded(&f->lpc), ICH9_LPC_PM_UNMAPPED);
    ich9_lpc_destroy(&f->lpc);
    free(f);
    struct ich9_lpc *bad = calloc(1, sizeof(*bad));
    assert_non_null(bad);
    assert_int_equal(ich9_lpc_init(bad, 0x610, NULL, NULL), -EINVAL); /* not 128-aligned */
    free(bad);
}

/* OVMF's PlatformPei / AcpiTimerLib: PMBASE = 0x600, then ACPI_EN, then the timer there. */
static void test_ovmf_sequence(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(ICH9_LPC_PM_UNMAPPED);
    uint32_t v = rd(f, ICH9_LPC_PMBASE, 4);
    wr(f, ICH9_LPC_PMBASE, (v & ~ICH9_LPC_PMBASE_MASK) | 0x600, 4);
    assert_int_equal(f->moves, 0); /* ACPI_EN still clear: decodes nowhere */
    assert_int_equal(rd(f, ICH9_LPC_PMBASE, 4), 0x601);
    wr(f, ICH9_LPC_ACPI_CNTL, rd(f, ICH9_LPC_ACPI_CNTL, 1) | ICH9_LPC_ACPI_EN, 1);
    assert_int_equal(f->moves, 1);
    assert_int_equal(f->old_base, ICH9_LPC_PM_UNMAPPED);
    assert_int_equal(f->new_base, 0x600);
    assert_int_equal(ich9_lpc_pm_decoded(&f->lpc), 0x600);
    /* The timer port OVMF computes: (PMBASE & ~1) + 8. */
    assert_int_equal((rd(f, ICH9_LPC_PMBASE, 4) & ~1u) + 8, 0x608);

    /* Moving it: low bits 6:1 are read-only zero, bit 0 stays 1, bits above 15 are zero. */
    wr(f, ICH9_LPC_PMBASE, 0xffffb07e, 4);
    assert_int_equal(rd(f, ICH9_LPC_PMBASE, 4), 0xb001);
    assert_int_equal(f->moves, 2);
    assert_int_equal(f->old_base, 0x600);
    assert_int_equal(f->new_base, 0xb000);
    /* ACPI_EN off: unmapped; the SCI select bits are storage. */
    wr(f, ICH9_LPC_ACPI_CNTL, 0x07, 1);
    assert_int_equal(rd(f, ICH9_LPC_ACPI_CNTL, 1), 0x07);
    assert_int_equal(f->moves, 3);
    assert_int_equal(f->new_base, ICH9_LPC_PM_UNMAPPED);
    /* Writes that change nothing decoded call nobody. */
    wr(f, ICH9_LPC_PMBASE, 0x600, 2);
    assert_int_equal(f->moves, 3);

    /* Reset puts it back off. */
    wr(f, ICH9_LPC_ACPI_CNTL, ICH9_LPC_ACPI_EN, 1);
    assert_int_equal(f->new_base, 0x600);
    ich9_lpc_reset(&f->lpc);
    assert_int_equal(f->new_base, ICH9_LPC_PM_UNMAPPED);
    assert_int_equal(rd(f, ICH9_LPC_PMBASE, 4), 1);
    ich9_lpc_destroy(&f->lpc);
    free(f);
}

/* Direct kernel boot: enabled at 0x600 from the start, and again after reset. */
static void test_direct_boot_power_on(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(0x600);
    assert_int_equal(f->moves, 1);
    assert_int_equal(f->new_base, 0x600);
    assert_int_equal(rd(f, ICH9_LPC_PMBASE, 4), 0x601);
    assert_int_equal(rd(f, ICH9_LPC_ACPI_CNTL, 1), ICH9_LPC_ACPI_EN);
    wr(f, ICH9_LPC_ACPI_CNTL, 0, 1);
    assert_int_equal(f->new_base, ICH9_LPC_PM_UNMAPPED);
    ich9_lpc_reset(&f->lpc);
    assert_int_equal(f->new_base, 0x600);
    ich9_lpc_destroy(&f->lpc);
    free(f);
}

static void test_storage(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(ICH9_LPC_PM_UNMAPPED);
    assert_int_equal(rd(f, ICH9_LPC_PIRQA_ROUT, 4), 0x80808080);
    assert_int_equal(rd(f, ICH9_LPC_PIRQE_ROUT, 4), 0x80808080);
    wr(f, ICH9_LPC_PIRQA_ROUT, 0x0b0a0bff, 4); /* bits 6:4 are reserved */
    assert_int_equal(rd(f, ICH9_LPC_PIRQA_ROUT, 4), 0x0b0a0b8f);
    wr(f, ICH9_LPC_RCBA, 0xfed1c001, 4);
    assert_int_equal(rd(f, ICH9_LPC_RCBA, 4), 0xfed1c001);
    wr(f, ICH9_LPC_RCBA, 0xffffffff, 4);
    assert_int_equal(rd(f, ICH9_LPC_RCBA, 4), 0xffffc001);
    /* COMMAND is fixed. */
    wr(f, PCI_COMMAND, 0, 2);
    assert_int_equal(rd(f, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    ich9_lpc_destroy(&f->lpc);
    free(f);
}

static void test_smi_en(void **state)
{
    (void)state;
    struct fixture *f = fixture_new(0x600);
    /* No SMM: APMC_EN reads set, so SeaBIOS skips its SMM relocation. */
    assert_int_equal(ich9_lpc_smi_ops.read(&f->lpc, 0, 4), ICH9_SMI_EN_APMC_EN);
    ich9_lpc_smi_ops.write(&f->lpc, 0, 0x1, 4);
    assert_int_equal(ich9_lpc_smi_ops.read(&f->lpc, 0, 4), 0x1 | ICH9_SMI_EN_APMC_EN);
    assert_int_equal(ich9_lpc_smi_ops.read(&f->lpc, 0, 1), 0x21);
    assert_int_equal(ich9_lpc_smi_ops.read(&f->lpc, 4, 4), 0); /* SMI_STS */
    ich9_lpc_smi_ops.write(&f->lpc, 4, 0xffffffff, 4);
    assert_int_equal(ich9_lpc_smi_ops.read(&f->lpc, 4, 4), 0);

    /* A state load re-derives the decode. */
    wr(f, ICH9_LPC_PMBASE, 0x700, 2);
    unsigned moves = f->moves;
    f->lpc.pm_base = ICH9_LPC_PM_UNMAPPED; /* a fresh instance knows nothing is mapped */
    assert_int_equal(ich9_lpc_vmstate.post_load(&f->lpc), 0);
    assert_int_equal(f->moves, moves + 1);
    assert_int_equal(f->new_base, 0x700);
    ich9_lpc_destroy(&f->lpc);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_ovmf_sequence),
        cmocka_unit_test(test_direct_boot_power_on),
        cmocka_unit_test(test_storage),
        cmocka_unit_test(test_smi_en),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
