// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PCI function config space: read-only / writable / write-1-to-clear bytes, BAR sizing for
 * each BAR type, BAR moves reaching the machine only while decoding is enabled, capability
 * lists, INTx, MSI-X table, masks, pending bits and delivery, state round trips.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/pci.h"
#include "tests/helpers/fake_irq.h"

#define MAX_EVENTS 64

struct move {
    unsigned bar;
    uint64_t old_addr, new_addr;
};

struct delivery {
    unsigned vector;
    uint64_t addr;
    uint32_t data;
};

struct fixture {
    struct pci_dev dev;
    struct move moves[MAX_EVENTS];
    unsigned nmoves;
    struct delivery sent[MAX_EVENTS];
    unsigned nsent;
    unsigned changed;
    uint64_t refuse_addr; /* bar_moved refuses this new address */
};

static int on_bar_moved(void *opaque, struct pci_dev *dev, unsigned bar, uint64_t old_addr,
                        uint64_t new_addr)
{
    struct fixture *f = opaque;
    (void)dev;
    assert_true(f->nmoves < MAX_EVENTS);
    f->moves[f->nmoves++] = (struct move){bar, old_addr, new_addr};
    return new_addr == f->refuse_addr ? -EEXIST : 0;
}

static void on_deliver(void *opaque, struct pci_dev *dev, unsigned vector, uint64_t addr,
                       uint32_t data)
{
    struct fixture *f = opaque;
    (void)dev;
    assert_true(f->nsent < MAX_EVENTS);
    f->sent[f->nsent++] = (struct delivery){vector, addr, data};
}

static void on_changed(void *opaque, struct pci_dev *dev, unsigned vector)
{
    struct fixture *f = opaque;
    (void)dev;
    (void)vector;
    f->changed++;
}

/* A function with an IO BAR 0 (32 bytes), MEM32 BAR 1 (4 KiB), MEM64 prefetchable BAR 2-3
 * (16 KiB) and MSI-X (8 vectors) in BAR 4 (MEM32, 4 KiB): table at 0, PBA at 0x800. */
static struct fixture *setup_dev(void)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->refuse_addr = PCI_BAR_UNMAPPED - 1;
    assert_int_equal(pci_dev_init(&f->dev, "t", 0x1af4, 0x1041, 0x020000, 1, PCI_INTA), 0);
    assert_int_equal(pci_dev_set_bar(&f->dev, 0, PCI_BAR_IO, 32, false), 0);
    assert_int_equal(pci_dev_set_bar(&f->dev, 1, PCI_BAR_MEM32, 4096, false), 0);
    assert_int_equal(pci_dev_set_bar(&f->dev, 2, PCI_BAR_MEM64, 16384, true), 0);
    assert_int_equal(pci_dev_set_bar(&f->dev, 4, PCI_BAR_MEM32, 4096, false), 0);
    assert_int_equal(pci_msix_init(&f->dev, 8, 4, 0, 4, 0x800), 0);
    f->dev.hooks = (struct pci_machine_hooks){on_bar_moved, on_deliver, on_changed, f};
    pci_dev_realize(&f->dev);
    return f;
}

static uint32_t rd(struct fixture *f, unsigned off, unsigned size)
{
    return pci_cfg_read(&f->dev, off, size);
}

static void wr(struct fixture *f, unsigned off, uint32_t v, unsigned size)
{
    pci_cfg_write(&f->dev, off, v, size);
}

static void test_header_masks(void **state)
{
    (void)state;
    struct fixture *f = setup_dev();
    assert_int_equal(rd(f, PCI_VENDOR_ID, 2), 0x1af4);
    assert_int_equal(rd(f, PCI_DEVICE_ID, 2), 0x1041);
    assert_int_equal(rd(f, 0, 4), 0x10411af4);
    assert_int_equal(rd(f, PCI_CLASS_PROG, 1), 0x00);
    assert_int_equal(rd(f, 0x08, 4), 0x02000001);
    assert_int_equal(rd(f, PCI_INTERRUPT_PIN, 1), PCI_INTA);

    /* IDs, class, pin are read-only. */
    wr(f, 0, 0xdeadbeef, 4);
    wr(f, 0x08, 0xffffffff, 4);
    wr(f, PCI_INTERRUPT_PIN, 4, 1);
    assert_int_equal(rd(f, 0, 4), 0x10411af4);
    assert_int_equal(rd(f, 0x08, 4), 0x02000001);
    assert_int_equal(rd(f, PCI_INTERRUPT_PIN, 1), PCI_INTA);

    /* Interrupt line is writable storage. */
    wr(f, PCI_INTERRUPT_LINE, 0x17, 1);
    assert_int_equal(rd(f, PCI_INTERRUPT_LINE, 1), 0x17);

    /* COMMAND: only the defined bits stick. */
    wr(f, PCI_COMMAND, 0xffff, 2);
    assert_int_equal(rd(f, PCI_COMMAND, 2), 0x0547);

    /* STATUS: error bits are W1C, CAP_LIST read-only. Force error bits as hardware would. */
    f->dev.cfg[PCI_STATUS + 1] = 0xf9;
    assert_int_equal(rd(f, PCI_STATUS, 2) & 0xf910, 0xf910);
    wr(f, PCI_STATUS, 0x0100 | PCI_STATUS_CAP_LIST, 2); /* clear bit 8 only */
    assert_int_equal(rd(f, PCI_STATUS, 2) & 0xf910, 0xf810);
    wr(f, PCI_STATUS, 0, 2); /* writing 0 clears nothing */
    assert_int_equal(rd(f, PCI_STATUS, 2) & 0xf910, 0xf810);
    wr(f, PCI_STATUS, 0xffff, 2);
    assert_int_equal(rd(f, PCI_STATUS, 2) & 0xf910, PCI_STATUS_CAP_LIST);

    /* Byte lanes: a byte write to the high half of COMMAND touches only that byte. */
    wr(f, PCI_COMMAND, 0, 2);
    wr(f, PCI_COMMAND + 1, 0x04, 1);
    assert_int_equal(rd(f, PCI_COMMAND, 2), PCI_COMMAND_INTX_DISABLE);
    assert_int_equal(rd(f, PCI_COMMAND + 1, 1), 0x04);

    /* Misaligned and odd sizes: all ones, dropped, counted. */
    uint64_t bad = f->dev.bad_access;
    assert_int_equal(rd(f, 1, 2), 0xffff);
    assert_int_equal(rd(f, 2, 4), 0xffffffff);
    assert_int_equal(rd(f, 0, 3), 0xffffff);
    assert_int_equal(rd(f, PCI_CFG_SIZE, 1), 0xff);
    wr(f, PCI_INTERRUPT_LINE - 1, 0xffffffff, 4);
    assert_int_equal(rd(f, PCI_INTERRUPT_LINE, 1), 0x17);
    assert_int_equal(f->dev.bad_access, bad + 5);

    /* Extended space without capabilities reads 0 (PCIe: header 0 ends the list). */
    assert_int_equal(rd(f, 0x100, 4), 0);
    free(f);
}

static void test_bar_sizing(void **state)
{
    (void)state;
    struct fixture *f = setup_dev();
    /* Before sizing: type bits only. */
    assert_int_equal(rd(f, PCI_BAR0, 4), PCI_BAR_IO_FLAG);
    assert_int_equal(rd(f, PCI_BAR0 + 4, 4), 0);
    assert_int_equal(rd(f, PCI_BAR0 + 8, 4), PCI_BAR_MEM_TYPE_64 | PCI_BAR_MEM_PREFETCH);

    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        wr(f, PCI_BAR0 + 4 * i, 0xffffffff, 4);
    }
    /* IO: low 2 bits RO (bit 0 set), size 32. */
    assert_int_equal(rd(f, PCI_BAR0, 4), 0xffffffe1);
    /* MEM32 4 KiB, not prefetchable. */
    assert_int_equal(rd(f, PCI_BAR0 + 4, 4), 0xfffff000);
    /* MEM64 16 KiB prefetchable: low dword has the type bits, high dword all ones. */
    assert_int_equal(rd(f, PCI_BAR0 + 8, 4), 0xffffc00c);
    assert_int_equal(rd(f, PCI_BAR0 + 12, 4), 0xffffffff);
    /* Unused BAR 5 reads 0. */
    assert_int_equal(rd(f, PCI_BAR0 + 20, 4), 0);
    /* Size = ~(mask) + 1 over the 64-bit pair. */
    uint64_t m = ((uint64_t)rd(f, PCI_BAR0 + 12, 4) << 32) | (rd(f, PCI_BAR0 + 8, 4) & ~0xfu);
    assert_int_equal(~m + 1, 16384);
    /* Decoding is off: sizing never reached the machine. */
    assert_int_equal(f->nmoves, 0);

    /* Address bits below the size are dropped. */
    wr(f, PCI_BAR0, 0xc01f, 4);
    assert_int_equal(pci_bar_addr(&f->dev, 0), 0xc000);
    wr(f, PCI_BAR0 + 4, 0xc0000fff, 4);
    assert_int_equal(pci_bar_addr(&f->dev, 1), 0xc0000000);
    wr(f, PCI_BAR0 + 8, 0x00004000, 4);
    wr(f, PCI_BAR0 + 12, 0x1, 4);
    assert_int_equal(pci_bar_addr(&f->dev, 2), 0x100004000ull);

    /* A large 64-bit BAR: high dword bits below the size are read-only. */
    static struct pci_dev big;
    assert_int_equal(pci_dev_init(&big, "big", 1, 2, 0, 0, PCI_INTX_NONE), 0);
    assert_int_equal(pci_dev_set_bar(&big, 0, PCI_BAR_MEM64, 1ull << 34, false), 0);
    pci_cfg_write(&big, PCI_BAR0, 0xffffffff, 4);
    pci_cfg_write(&big, PCI_BAR0 + 4, 0xffffffff, 4);
    assert_int_equal(pci_cfg_read(&big, PCI_BAR0, 4), 0x4);
    assert_int_equal(pci_cfg_read(&big, PCI_BAR0 + 4, 4), 0xfffffffc);

    /* Definitions that cannot exist are refused. */
    assert_int_equal(pci_dev_set_bar(&big, 1, PCI_BAR_MEM32, 4096, false), -EINVAL); /* upper */
    assert_int_equal(pci_dev_set_bar(&big, 2, PCI_BAR_MEM32, 3000, false), -EINVAL);
    assert_int_equal(pci_dev_set_bar(&big, 2, PCI_BAR_IO, 2, false), -EINVAL);
    assert_int_equal(pci_dev_set_bar(&big, 2, PCI_BAR_IO, 16, true), -EINVAL);
    assert_int_equal(pci_dev_set_bar(&big, 5, PCI_BAR_MEM64, 4096, false), -EINVAL);
    assert_int_equal(pci_dev_set_bar(&big, 6, PCI_BAR_MEM32, 4096, false), -EINVAL);
    assert_int_equal(pci_dev_set_bar(&big, 2, PCI_BAR_MEM32, 8, false), -EINVAL);
    free(f);
}

static void test_bar_moves_follow_command(void **state)
{
    (void)state;
    struct fixture *f = setup_dev();
    wr(f, PCI_BAR0, 0xc000, 4);
    wr(f, PCI_BAR0 + 4, 0xc0000000, 4);
    wr(f, PCI_BAR0 + 8, 0xc0010000, 4);
    assert_int_equal(f->nmoves, 0);

    /* Memory decode on: the three memory BARs map, the IO BAR does not. */
    wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    assert_int_equal(f->nmoves, 2); /* BAR 4 is still 0 = unassigned */
    assert_int_equal(f->moves[0].bar, 1);
    assert_int_equal(f->moves[0].old_addr, PCI_BAR_UNMAPPED);
    assert_int_equal(f->moves[0].new_addr, 0xc0000000);
    assert_int_equal(f->moves[1].bar, 2);
    assert_int_equal(f->moves[1].new_addr, 0xc0010000);

    /* Moving a decoded BAR: one callback old -> new. */
    wr(f, PCI_BAR0 + 4, 0xc0002000, 4);
    assert_int_equal(f->nmoves, 3);
    assert_int_equal(f->moves[2].old_addr, 0xc0000000);
    assert_int_equal(f->moves[2].new_addr, 0xc0002000);
    /* Writing the same address again: nothing. */
    wr(f, PCI_BAR0 + 4, 0xc0002000, 4);
    assert_int_equal(f->nmoves, 3);

    /* 64-bit BAR moved dword by dword: high then low gives two moves. */
    wr(f, PCI_BAR0 + 12, 0x2, 4);
    assert_int_equal(f->moves[3].new_addr, 0x2c0010000ull);
    wr(f, PCI_BAR0 + 8, 0x0, 4);
    assert_int_equal(f->moves[4].new_addr, 0x200000000ull);

    /* Sizing a decoded 32-bit BAR: the all-ones pattern is never mapped, only unmapped. */
    unsigned n = f->nmoves;
    wr(f, PCI_BAR0 + 4, 0xffffffff, 4);
    assert_int_equal(f->nmoves, n + 1);
    assert_int_equal(f->moves[n].new_addr, PCI_BAR_UNMAPPED);
    assert_int_equal(f->dev.bars[1].mapped_addr, PCI_BAR_UNMAPPED);
    wr(f, PCI_BAR0 + 4, 0xc0000000, 4);
    assert_int_equal(f->dev.bars[1].mapped_addr, 0xc0000000);

    /* IO decode: the IO BAR maps; an IO BAR past 64 KiB is never decoded. */
    n = f->nmoves;
    wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_IO, 2);
    assert_int_equal(f->nmoves, n + 1);
    assert_int_equal(f->moves[n].bar, 0);
    assert_int_equal(f->moves[n].new_addr, 0xc000);
    wr(f, PCI_BAR0, 0x1fff0, 4);
    assert_int_equal(f->dev.bars[0].mapped_addr, PCI_BAR_UNMAPPED);
    wr(f, PCI_BAR0, 0xffe0, 4); /* ends at exactly 64 KiB: fine */
    assert_int_equal(f->dev.bars[0].mapped_addr, 0xffe0);

    /* Address 0 is unassigned. */
    wr(f, PCI_BAR0, 0, 4);
    assert_int_equal(f->dev.bars[0].mapped_addr, PCI_BAR_UNMAPPED);

    /* Decode off: everything mapped is unmapped, each once. */
    n = f->nmoves;
    wr(f, PCI_COMMAND, 0, 2);
    assert_int_equal(f->nmoves, n + 2);
    for (unsigned i = n; i < f->nmoves; i++) {
        assert_int_equal(f->moves[i].new_addr, PCI_BAR_UNMAPPED);
        assert_int_not_equal(f->moves[i].old_addr, PCI_BAR_UNMAPPED);
    }

    /* The machine refuses a placement: BAR unmapped, refusal counted, retried on next write. */
    f->refuse_addr = 0xc0000000;
    wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    assert_int_equal(f->dev.bars[1].mapped_addr, PCI_BAR_UNMAPPED);
    assert_int_equal(f->dev.refused_bars, 1);
    f->refuse_addr = 0;
    wr(f, PCI_BAR0 + 4, 0xc0000000, 4);
    assert_int_equal(f->dev.bars[1].mapped_addr, 0xc0000000);

    /* Reset unmaps everything and restores the power-on image. */
    pci_dev_reset(&f->dev);
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        assert_int_equal(f->dev.bars[i].mapped_addr, PCI_BAR_UNMAPPED);
    }
    assert_int_equal(rd(f, PCI_BAR0 + 4, 4), 0);
    assert_int_equal(rd(f, PCI_COMMAND, 2), 0);
    free(f);
}

static void test_capabilities(void **state)
{
    (void)state;
    static struct pci_dev d;
    assert_int_equal(pci_dev_init(&d, "caps", 1, 2, 0, 0, PCI_INTX_NONE), 0);
    assert_int_equal(pci_cfg_read(&d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
    assert_int_equal(pci_find_cap(&d, PCI_CAP_ID_VNDR), 0);
    unsigned a, b, c;
    assert_int_equal(pci_add_cap(&d, PCI_CAP_ID_VNDR, 5, &a), 0);
    assert_int_equal(pci_add_cap(&d, PCI_CAP_ID_EXP, 0x3c, &b), 0);
    assert_int_equal(pci_add_cap(&d, PCI_CAP_ID_VNDR, 16, &c), 0);
    assert_int_equal(a, 0x40);
    assert_int_equal(b, 0x48); /* dword aligned after a 5-byte capability */
    assert_int_equal(c, 0x84);

    /* Walk the list the way an OS does. */
    assert_true(pci_cfg_read(&d, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
    unsigned ids[8], n = 0;
    for (unsigned p = pci_cfg_read(&d, PCI_CAPABILITY_LIST, 1); p && n < 8;
         p = pci_cfg_read(&d, p + 1, 1)) {
        ids[n++] = pci_cfg_read(&d, p, 1);
    }
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], PCI_CAP_ID_VNDR);
    assert_int_equal(ids[1], PCI_CAP_ID_EXP);
    assert_int_equal(ids[2], PCI_CAP_ID_VNDR);
    assert_int_equal(pci_find_cap(&d, PCI_CAP_ID_EXP), b);

    /* Pointers are read-only to the guest. */
    pci_cfg_write(&d, PCI_CAPABILITY_LIST, 0x80, 1);
    pci_cfg_write(&d, a + 1, 0, 1);
    assert_int_equal(pci_cfg_read(&d, PCI_CAPABILITY_LIST, 1), a);
    assert_int_equal(pci_cfg_read(&d, a + 1, 1), b);

    /* Full: 0xff is the last byte. */
    unsigned z;
    assert_int_equal(pci_add_cap(&d, PCI_CAP_ID_VNDR, 0x100 - 0x94 + 1, &z), -ENOSPC);
    assert_int_equal(pci_add_cap(&d, PCI_CAP_ID_VNDR, 1, &z), -ENOSPC);

    /* Extended capabilities chain from 0x100. */
    unsigned e1, e2;
    assert_int_equal(pci_add_ext_cap(&d, 0x000b, 1, 8, &e1), 0);
    assert_int_equal(pci_add_ext_cap(&d, 0x0001, 2, 0x30, &e2), 0);
    assert_int_equal(e1, 0x100);
    uint32_t h = pci_cfg_read(&d, 0x100, 4);
    assert_int_equal(h & 0xffff, 0x000b);
    assert_int_equal((h >> 16) & 0xf, 1);
    assert_int_equal(h >> 20, e2);
    assert_int_equal(pci_cfg_read(&d, e2, 4) >> 20, 0);
    assert_int_equal(pci_add_ext_cap(&d, 1, 1, 0x1000, &z), -ENOSPC);
}

static void test_device_cfg_range(void **state);

static void test_intx(void **state)
{
    (void)state;
    struct fixture *f = setup_dev();
    struct fake_irq irq;
    fake_irq_init(&irq, 16);
    f->dev.intx = &irq.line;
    pci_set_irq(&f->dev, true);
    assert_true(irq.level);
    assert_true(rd(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    /* INTx disable lowers the line; the status bit still shows the device's request. */
    wr(f, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
    assert_false(irq.level);
    assert_true(rd(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    wr(f, PCI_COMMAND, 0, 2);
    assert_true(irq.level);
    assert_int_equal(irq.raises, 2);
    pci_set_irq(&f->dev, false);
    assert_false(irq.level);
    assert_false(rd(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    /* With MSI-X enabled INTx stays low. */
    pci_set_irq(&f->dev, true);
    wr(f, f->dev.msix.cap + 2, PCI_MSIX_FLAGS_ENABLE, 2);
    assert_false(irq.level);
    wr(f, f->dev.msix.cap + 2, 0, 2);
    assert_true(irq.level);
    free(f);
}

static void msix_wr(struct fixture *f, uint64_t off, uint64_t v, unsigned size)
{
    assert_true(pci_msix_bar_write(&f->dev, 4, off, v, size));
}

static uint64_t msix_rd(struct fixture *f, uint64_t off, unsigned size)
{
    uint64_t v = 0;
    assert_true(pci_msix_bar_read(&f->dev, 4, off, size, &v));
    return v;
}

static void test_msix(void **state)
{
    (void)state;
    struct fixture *f = setup_dev();
    unsigned cap = pci_find_cap(&f->dev, PCI_CAP_ID_MSIX);
    assert_int_equal(cap, f->dev.msix.cap);
    assert_int_equal(rd(f, cap + 2, 2), 7); /* table size - 1, disabled, unmasked */
    assert_int_equal(rd(f, cap + 4, 4), 0x000 | 4);
    assert_int_equal(rd(f, cap + 8, 4), 0x800 | 4);
    /* Table size and BIRs are read-only. */
    wr(f, cap + 2, 0x3fff, 2);
    wr(f, cap + 4, 0x12345678, 4);
    assert_int_equal(rd(f, cap + 2, 2), 7);
    assert_int_equal(rd(f, cap + 4, 4), 4);

    /* All vectors start masked. */
    for (unsigned v = 0; v < 8; v++) {
        assert_int_equal(msix_rd(f, v * 16 + 12, 4), 1);
    }
    /* Program vector 3 with a qword address write and a dword data write. */
    msix_wr(f, 3 * 16, 0x00000000fee01000ull, 8);
    msix_wr(f, 3 * 16 + 8, 0x4041, 4);
    assert_int_equal(msix_rd(f, 3 * 16, 8), 0xfee01000ull);
    assert_int_equal(msix_rd(f, 3 * 16 + 4, 4), 0);
    assert_int_equal(msix_rd(f, 3 * 16 + 8, 4), 0x4041);
    /* Reserved vector control bits read 0. */
    msix_wr(f, 3 * 16 + 12, 0xfffffffe, 4);
    assert_int_equal(msix_rd(f, 3 * 16 + 12, 4), 0);
    msix_wr(f, 3 * 16 + 12, 1, 4);
    assert_true(f->changed > 0);

    /* MSI-X off: notify refuses, the device falls back to INTx. */
    assert_int_equal(pci_msix_notify(&f->dev, 3), -ENODEV);
    assert_int_equal(pci_msix_notify(&f->dev, 8), -EINVAL);
    wr(f, cap + 2, PCI_MSIX_FLAGS_ENABLE, 2);
    assert_true(pci_msix_enabled(&f->dev));

    /* Masked: pending bit in the PBA, nothing delivered. */
    assert_int_equal(pci_msix_notify(&f->dev, 3), 0);
    assert_int_equal(f->nsent, 0);
    assert_true(pci_msix_pending(&f->dev, 3));
    assert_int_equal(msix_rd(f, 0x800, 8), 1u << 3);
    assert_int_equal(msix_rd(f, 0x800, 4), 1u << 3);
    assert_int_equal(msix_rd(f, 0x804, 4), 0);
    /* PBA writes are ignored. */
    msix_wr(f, 0x800, 0, 8);
    assert_true(pci_msix_pending(&f->dev, 3));

    /* Unmasking delivers the pending message once and clears the bit. */
    msix_wr(f, 3 * 16 + 12, 0, 4);
    assert_int_equal(f->nsent, 1);
    assert_int_equal(f->sent[0].vector, 3);
    assert_int_equal(f->sent[0].addr, 0xfee01000ull);
    assert_int_equal(f->sent[0].data, 0x4041);
    assert_false(pci_msix_pending(&f->dev, 3));

    /* Unmasked: straight through. */
    assert_int_equal(pci_msix_notify(&f->dev, 3), 0);
    assert_int_equal(f->nsent, 2);

    /* Function mask holds every vector; clearing it flushes. */
    wr(f, cap + 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 2);
    bool masked = false;
    assert_true(pci_msix_vector(&f->dev, 3, NULL, NULL, &masked));
    assert_true(masked);
    assert_int_equal(pci_msix_notify(&f->dev, 3), 0);
    assert_int_equal(f->nsent, 2);
    wr(f, cap + 3, PCI_MSIX_FLAGS_ENABLE >> 8, 1); /* byte write to the high half */
    assert_int_equal(f->nsent, 3);
    assert_false(pci_msix_pending(&f->dev, 3));

    /* Bad accesses: sizes 1/2 and misaligned dwords are counted, never touch the table. */
    uint64_t bad = f->dev.bad_access;
    msix_wr(f, 3 * 16 + 8, 0xff, 1);
    msix_wr(f, 3 * 16 + 2, 0xffffffff, 4);
    assert_int_equal(msix_rd(f, 3 * 16 + 8, 2), 0xffff);
    assert_int_equal(f->dev.bad_access, bad + 3);
    assert_int_equal(msix_rd(f, 3 * 16 + 8, 4), 0x4041);
    /* Outside table and PBA: not claimed. */
    uint64_t v;
    assert_false(pci_msix_bar_read(&f->dev, 4, 8 * 16, 4, &v));
    assert_false(pci_msix_bar_read(&f->dev, 4, 0x808, 4, &v));
    assert_false(pci_msix_bar_read(&f->dev, 1, 0, 4, &v));
    /* The whole-BAR ops read unclaimed space as 0. */
    struct pci_msix_bar mb = {&f->dev, 4};
    assert_int_equal(pci_msix_bar_ops.read(&mb, 0x400, 4), 0);
    assert_int_equal(pci_msix_bar_ops.read(&mb, 3 * 16 + 8, 4), 0x4041);

    /* Bad layouts. */
    static struct pci_dev d;
    assert_int_equal(pci_dev_init(&d, "m", 1, 2, 0, 0, PCI_INTX_NONE), 0);
    assert_int_equal(pci_dev_set_bar(&d, 0, PCI_BAR_MEM32, 256, false), 0);
    assert_int_equal(pci_dev_set_bar(&d, 1, PCI_BAR_IO, 256, false), 0);
    assert_int_equal(pci_msix_init(&d, 16, 0, 0, 0, 0x80), -EINVAL); /* PBA in table */
    assert_int_equal(pci_msix_init(&d, 16, 0, 8, 0, 0xf8), -EINVAL); /* table past BAR end */
    assert_int_equal(pci_msix_init(&d, 4, 1, 0, 0, 0x80), -EINVAL);  /* IO BAR */
    assert_int_equal(pci_msix_init(&d, 4, 2, 0, 0, 0x80), -EINVAL);  /* no BAR */
    assert_int_equal(pci_msix_init(&d, 4, 0, 4, 0, 0x80), -EINVAL);  /* misaligned */
    assert_int_equal(pci_msix_init(&d, 65, 0, 0, 0, 0x80), -EINVAL);
    assert_int_equal(pci_msix_init(&d, 0, 0, 0, 0, 0x80), -EINVAL);
    assert_int_equal(pci_msix_init(&d, 8, 0, 0, 0, 0x80), 0);

    /* Reset masks everything again and turns MSI-X off. */
    pci_dev_reset(&f->dev);
    assert_false(pci_msix_enabled(&f->dev));
    assert_int_equal(msix_rd(f, 3 * 16 + 12, 4), 1);
    assert_int_equal(msix_rd(f, 3 * 16 + 8, 4), 0);
    free(f);
}

struct devregs {
    uint32_t reg;
    unsigned writes;
};

static uint32_t dev_cfg_read(void *opaque, unsigned off, unsigned size)
{
    struct devregs *d = opaque;
    (void)off;
    (void)size;
    return d->reg;
}

static void dev_cfg_write(void *opaque, unsigned off, uint32_t val, unsigned size)
{
    struct devregs *d = opaque;
    (void)off;
    (void)size;
    d->reg = val;
    d->writes++;
}

static void test_device_cfg_range(void **state)
{
    (void)state;
    static const struct pci_dev_ops ops = {.cfg_read = dev_cfg_read, .cfg_write = dev_cfg_write};
    struct devregs regs = {0x1234, 0};
    static struct pci_dev d;
    assert_int_equal(pci_dev_init(&d, "d", 1, 2, 0, 0, PCI_INTX_NONE), 0);
    pci_dev_set_ops(&d, &ops, &regs);
    pci_set_dev_cfg_range(&d, 0x80, 0x84);
    assert_int_equal(pci_cfg_read(&d, 0x80, 4), 0x1234);
    pci_cfg_write(&d, 0x80, 0x55, 4);
    assert_int_equal(regs.writes, 1);
    assert_int_equal(regs.reg, 0x55);
    /* Outside the range the generic space answers and the device is not told. */
    pci_cfg_write(&d, 0x84, 0x55, 4);
    assert_int_equal(regs.writes, 1);
    assert_int_equal(pci_cfg_read(&d, 0x84, 4), 0);
}

static void test_state_round_trip(void **state)
{
    (void)state;
    struct fixture *f = setup_dev();
    wr(f, PCI_BAR0 + 4, 0xc0000000, 4);
    wr(f, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
    msix_wr(f, 16, 0xfee00000, 4);
    msix_wr(f, 24, 0x31, 4);
    size_t len = vmstate_size(&pci_dev_vmstate);
    uint8_t *buf = malloc(len), *buf2 = malloc(len);
    assert_int_equal(vmstate_save(&pci_dev_vmstate, &f->dev, buf, len), (long)len);

    struct fixture *g = setup_dev();
    assert_int_equal(vmstate_load(&pci_dev_vmstate, &g->dev, buf, len), 0);
    pci_dev_sync(&g->dev);
    assert_int_equal(g->dev.bars[1].mapped_addr, 0xc0000000);
    assert_int_equal(g->nmoves, 1);
    assert_int_equal(vmstate_save(&pci_dev_vmstate, &g->dev, buf2, len), (long)len);
    assert_memory_equal(buf, buf2, len);

    /* A state that rewrites a read-only byte (the vendor ID) is refused. */
    memcpy(buf2, buf, len);
    buf2[8] ^= 0xff; /* after version and length: cfg[0] */
    assert_int_equal(vmstate_load(&pci_dev_vmstate, &g->dev, buf2, len), -EINVAL);
    assert_int_equal(rd(g, 0, 2), 0x1af4);
    free(buf);
    free(buf2);
    free(f);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_masks),
        cmocka_unit_test(test_bar_sizing),
        cmocka_unit_test(test_bar_moves_follow_command),
        cmocka_unit_test(test_capabilities),
        cmocka_unit_test(test_intx),
        cmocka_unit_test(test_msix),
        cmocka_unit_test(test_device_cfg_range),
        cmocka_unit_test(test_state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
