// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Q35 host bridge: config mechanism #1 decoding (enable bit, bus/dev/fn/reg, byte and word
 * lanes at 0xCFD-0xCFF), 0xCF9 going to the reset register, ECAM decoding, absent functions
 * reading all ones, the bridge's own IDs, PCIEXBAR moving ECAM, multi-function headers.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/pci_host.h"
#include "io/reset_port.h"
#include "vmm/e820.h"

struct fixture {
    struct pci_host h;
    struct pci_dev a, b, c;
    struct reset_port rst;
    unsigned resets;
    uint64_t ecam_old, ecam_new;
    unsigned ecam_moves;
    int ecam_refuse;
};

static void on_reset(void *opaque)
{
    struct fixture *f = opaque;
    f->resets++;
}

static int on_ecam(void *opaque, uint64_t old_addr, uint64_t new_addr)
{
    struct fixture *f = opaque;
    f->ecam_old = old_addr;
    f->ecam_new = new_addr;
    f->ecam_moves++;
    return f->ecam_refuse;
}

static struct fixture *setup(void)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    reset_port_init(&f->rst, on_reset, f);
    assert_int_equal(pci_host_init(&f->h, ECAM_BASE, &reset_port_ops, &f->rst), 0);
    pci_host_set_ecam_hook(&f->h, on_ecam, f);
    assert_int_equal(pci_dev_init(&f->a, "a", 0x1af4, 0x1041, 0x020000, 0, PCI_INTA), 0);
    assert_int_equal(pci_dev_init(&f->b, "b", 0x1af4, 0x1042, 0x010000, 0, PCI_INTB), 0);
    assert_int_equal(pci_dev_init(&f->c, "c", 0x8086, 0x2922, 0x010601, 2, PCI_INTA), 0);
    assert_int_equal(pci_host_attach(&f->h, 3, 0, &f->a), 0);
    assert_int_equal(pci_host_attach(&f->h, 31, 0, &f->b), 0);
    return f;
}

static void cf8_out(struct fixture *f, uint64_t port, uint32_t v, unsigned size)
{
    pci_host_cf8_ops.write(&f->h, port - PCI_HOST_CF8_BASE, v, size);
}

static uint32_t cf8_in(struct fixture *f, uint64_t port, unsigned size)
{
    return (uint32_t)pci_host_cf8_ops.read(&f->h, port - PCI_HOST_CF8_BASE, size);
}

static uint32_t addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg)
{
    return PCI_CONFIG_ADDRESS_ENABLE | bus << 16 | dev << 11 | fn << 8 | reg;
}

static uint32_t ecam_rd(struct fixture *f, unsigned bus, unsigned dev, unsigned fn, unsigned reg,
                        unsigned size)
{
    uint64_t off = (uint64_t)bus << 20 | dev << 15 | fn << 12 | reg;
    return (uint32_t)pci_host_ecam_ops.read(&f->h, off, size);
}

static void test_mech1(void **state)
{
    (void)state;
    struct fixture *f = setup();
    /* The bridge at 00:00.0. */
    cf8_out(f, 0xcf8, addr(0, 0, 0, 0), 4);
    assert_int_equal(cf8_in(f, 0xcf8, 4), addr(0, 0, 0, 0));
    assert_int_equal(cf8_in(f, 0xcfc, 4), PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR);
    cf8_out(f, 0xcf8, addr(0, 0, 0, 0x08), 4);
    assert_int_equal(cf8_in(f, 0xcfc, 4) >> 8, PCI_CLASS_BRIDGE_HOST);
    assert_int_equal(cf8_in(f, 0xcfe, 2), 0x0600);
    assert_int_equal(cf8_in(f, 0xcff, 1), 0x06);
    assert_int_equal(cf8_in(f, 0xcfd, 1), 0x00);

    /* 00:03.0: dword, word lanes, byte lanes. */
    cf8_out(f, 0xcf8, addr(0, 3, 0, 0), 4);
    assert_int_equal(cf8_in(f, 0xcfc, 4), 0x10411af4);
    assert_int_equal(cf8_in(f, 0xcfc, 2), 0x1af4);
    assert_int_equal(cf8_in(f, 0xcfe, 2), 0x1041);
    assert_int_equal(cf8_in(f, 0xcfd, 1), 0x1a);
    assert_int_equal(cf8_in(f, 0xcff, 1), 0x10);
    /* A word at 0xCFF would leave the data dword: all ones. */
    assert_int_equal(cf8_in(f, 0xcff, 2), 0xffff);

    /* Register bits 1:0 of the address are ignored; lanes pick the byte. */
    cf8_out(f, 0xcf8, addr(0, 3, 0, 0x3c) | 3, 4);
    assert_int_equal(cf8_in(f, 0xcf8, 4), addr(0, 3, 0, 0x3c));
    cf8_out(f, 0xcfc, 0x0b, 1); /* interrupt line */
    assert_int_equal(cf8_in(f, 0xcfd, 1), PCI_INTA);
    assert_int_equal(f->a.cfg[PCI_INTERRUPT_LINE], 0x0b);
    cf8_out(f, 0xcf8, addr(0, 3, 0, 0x04), 4);
    cf8_out(f, 0xcfc, PCI_COMMAND_MEMORY, 2);
    assert_int_equal(f->a.cfg[PCI_COMMAND], PCI_COMMAND_MEMORY);

    /* Slot 31 and the function number. */
    cf8_out(f, 0xcf8, addr(0, 31, 0, 0), 4);
    assert_int_equal(cf8_in(f, 0xcfc, 4), 0x10421af4);
    cf8_out(f, 0xcf8, addr(0, 31, 1, 0), 4);
    assert_int_equal(cf8_in(f, 0xcfc, 4), 0xffffffff);

    /* Absent device, other bus: all ones, writes go nowhere. */
    cf8_out(f, 0xcf8, addr(0, 4, 0, 0), 4);
    assert_int_equal(cf8_in(f, 0xcfc, 4), 0xffffffff);
    assert_int_equal(cf8_in(f, 0xcfe, 2), 0xffff);
    cf8_out(f, 0xcf8, addr(1, 3, 0, 0), 4);
    assert_int_equal(cf8_in(f, 0xcfc, 4), 0xffffffff);
    cf8_out(f, 0xcfc, 0, 4);

    /* Enable bit clear: the data port reads all ones and writes are dropped. */
    cf8_out(f, 0xcf8, addr(0, 3, 0, 0x3c) & ~PCI_CONFIG_ADDRESS_ENABLE, 4);
    assert_int_equal(cf8_in(f, 0xcfc, 4), 0xffffffff);
    cf8_out(f, 0xcfc, 0x77, 1);
    assert_int_equal(f->a.cfg[PCI_INTERRUPT_LINE], 0x0b);

    /* Reserved address bits 30:24 read 0. */
    cf8_out(f, 0xcf8, 0xffffffff, 4);
    assert_int_equal(cf8_in(f, 0xcf8, 4), PCI_CONFIG_ADDRESS_MASK);

    /* Other widths at 0xCF8-0xCFB are not the address register. */
    uint32_t ca = cf8_in(f, 0xcf8, 4);
    uint64_t bad = f->h.bad_access;
    cf8_out(f, 0xcf8, 0, 1);
    cf8_out(f, 0xcf8, 0, 2);
    cf8_out(f, 0xcfa, 0, 2);
    assert_int_equal(cf8_in(f, 0xcf8, 2), 0xffff);
    assert_int_equal(cf8_in(f, 0xcf8, 4), ca);
    assert_int_equal(f->h.bad_access, bad + 4);
    free(f);
}

static void test_cf9_reset(void **state)
{
    (void)state;
    struct fixture *f = setup();
    cf8_out(f, 0xcf8, addr(0, 3, 0, 0), 4);
    /* A byte at 0xCF9 is the reset register, not the config address. */
    cf8_out(f, 0xcf9, RESET_PORT_SYS_RST, 1);
    assert_int_equal(f->resets, 0);
    assert_int_equal(cf8_in(f, 0xcf9, 1), RESET_PORT_SYS_RST);
    assert_int_equal(cf8_in(f, 0xcf8, 4), addr(0, 3, 0, 0));
    cf8_out(f, 0xcf9, 0x06, 1);
    assert_int_equal(f->resets, 1);
    /* The config address dword write does not reach the reset register. */
    cf8_out(f, 0xcf8, 0x80000600, 4);
    assert_int_equal(f->resets, 1);

    /* Without a reset register wired 0xCF9 reads all ones. */
    static struct pci_host lone;
    assert_int_equal(pci_host_init(&lone, ECAM_BASE, NULL, NULL), 0);
    assert_int_equal(pci_host_cf8_ops.read(&lone, 1, 1), 0xff);
    pci_host_cf8_ops.write(&lone, 1, 6, 1);
    free(f);
}

static void test_ecam(void **state)
{
    (void)state;
    struct fixture *f = setup();
    assert_int_equal(f->ecam_moves, 1); /* mapped when the hook was set */
    assert_int_equal(f->ecam_old, PCI_BAR_UNMAPPED);
    assert_int_equal(f->ecam_new, ECAM_BASE);

    assert_int_equal(ecam_rd(f, 0, 0, 0, 0, 4), PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR);
    assert_int_equal(ecam_rd(f, 0, 3, 0, 0, 4), 0x10411af4);
    assert_int_equal(ecam_rd(f, 0, 3, 0, 2, 2), 0x1041);
    assert_int_equal(ecam_rd(f, 0, 3, 0, 3, 1), 0x10);
    assert_int_equal(ecam_rd(f, 0, 31, 0, 0, 4), 0x10421af4);
    assert_int_equal(ecam_rd(f, 0, 3, 1, 0, 4), 0xffffffff);
    assert_int_equal(ecam_rd(f, 1, 3, 0, 0, 4), 0xffffffff);
    assert_int_equal(ecam_rd(f, 255, 31, 7, 0xffc, 4), 0xffffffff);
    /* Extended space reaches the function (0 without extended capabilities). */
    assert_int_equal(ecam_rd(f, 0, 3, 0, 0x100, 4), 0);
    /* Past the window. */
    assert_int_equal(pci_host_ecam_ops.read(&f->h, Q35_PCIEXBAR_SIZE, 4), 0xffffffff);

    /* Both mechanisms see the same registers. */
    pci_host_ecam_ops.write(&f->h, 3 << 15 | PCI_INTERRUPT_LINE, 0x13, 1);
    cf8_out(f, 0xcf8, addr(0, 3, 0, PCI_INTERRUPT_LINE), 4);
    assert_int_equal(cf8_in(f, 0xcfc, 1), 0x13);
    for (unsigned slot = 0; slot < PCI_HOST_SLOTS; slot++) {
        for (unsigned reg = 0; reg < 0x40; reg += 4) {
            cf8_out(f, 0xcf8, addr(0, slot, 0, reg), 4);
            assert_int_equal(cf8_in(f, 0xcfc, 4), ecam_rd(f, 0, slot, 0, reg, 4));
        }
    }

    /* PCIEXBAR: reads the base with enable; the guest moves it, disables it. */
    assert_int_equal(ecam_rd(f, 0, 0, 0, Q35_PCIEXBAR, 4), (uint32_t)ECAM_BASE | 1);
    assert_int_equal(ecam_rd(f, 0, 0, 0, Q35_PCIEXBAR + 4, 4), 0);
    cf8_out(f, 0xcf8, addr(0, 0, 0, Q35_PCIEXBAR), 4);
    cf8_out(f, 0xcfc, 0xb0000001 | 0x6, 4); /* length bits are fixed at 256 MiB */
    assert_int_equal(f->ecam_moves, 2);
    assert_int_equal(f->ecam_old, ECAM_BASE);
    assert_int_equal(f->ecam_new, 0xb0000000);
    assert_int_equal(cf8_in(f, 0xcfc, 4), 0xb0000001);
    cf8_out(f, 0xcfc, 0xb0000000, 4);
    assert_int_equal(f->ecam_new, PCI_BAR_UNMAPPED);
    assert_int_equal(f->h.ecam_base, PCI_BAR_UNMAPPED);
    /* A refused placement leaves ECAM unmapped and is counted. */
    f->ecam_refuse = -EEXIST;
    cf8_out(f, 0xcfc, 0x40000001, 4);
    assert_int_equal(f->h.ecam_base, PCI_BAR_UNMAPPED);
    assert_int_equal(f->h.refused_ecam, 1);
    f->ecam_refuse = 0;
    /* Reset puts it back. */
    pci_host_reset(&f->h);
    assert_int_equal(f->h.ecam_base, ECAM_BASE);
    assert_int_equal(f->h.config_address, 0);

    /* Host bridge COMMAND is fixed. */
    cf8_out(f, 0xcf8, addr(0, 0, 0, PCI_COMMAND), 4);
    cf8_out(f, 0xcfc, 0, 2);
    assert_int_equal(cf8_in(f, 0xcfc, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
    free(f);
}

static void test_attach(void **state)
{
    (void)state;
    struct fixture *f = setup();
    assert_int_equal(pci_host_attach(&f->h, 0, 0, &f->c), -EINVAL);
    assert_int_equal(pci_host_attach(&f->h, 32, 0, &f->c), -EINVAL);
    assert_int_equal(pci_host_attach(&f->h, 3, 8, &f->c), -EINVAL);
    assert_int_equal(pci_host_attach(&f->h, 3, 0, &f->c), -EEXIST);
    assert_int_equal(ecam_rd(f, 0, 3, 0, PCI_HEADER_TYPE, 1), 0);
    /* A second function makes function 0 multi-function. */
    assert_int_equal(pci_host_attach(&f->h, 3, 2, &f->c), 0);
    assert_int_equal(ecam_rd(f, 0, 3, 0, PCI_HEADER_TYPE, 1), PCI_HEADER_MULTI_FUNCTION);
    assert_int_equal(ecam_rd(f, 0, 3, 2, 0, 4), 0x29228086);
    assert_ptr_equal(pci_host_dev(&f->h, 0, 3, 2), &f->c);
    /* ... and survives a reset of function 0. */
    pci_dev_reset(&f->a);
    assert_int_equal(ecam_rd(f, 0, 3, 0, PCI_HEADER_TYPE, 1), PCI_HEADER_MULTI_FUNCTION);
    pci_host_detach(&f->h, 3, 2);
    assert_int_equal(ecam_rd(f, 0, 3, 0, PCI_HEADER_TYPE, 1), 0);
    assert_int_equal(ecam_rd(f, 0, 3, 2, 0, 4), 0xffffffff);
    assert_null(pci_host_dev(&f->h, 1, 0, 0));
    free(f);
}

static void test_state(void **state)
{
    (void)state;
    struct fixture *f = setup();
    cf8_out(f, 0xcf8, addr(0, 0, 0, Q35_PCIEXBAR), 4);
    cf8_out(f, 0xcfc, 0xc0000001, 4);
    cf8_out(f, 0xcf8, addr(0, 3, 0, 8), 4);
    size_t len = vmstate_size(&pci_host_vmstate);
    uint8_t *buf = malloc(len);
    assert_int_equal(vmstate_save(&pci_host_vmstate, &f->h, buf, len), (long)len);
    struct fixture *g = setup();
    unsigned moves = g->ecam_moves;
    assert_int_equal(vmstate_load(&pci_host_vmstate, &g->h, buf, len), 0);
    pci_host_sync(&g->h);
    assert_int_equal(g->h.config_address, addr(0, 3, 0, 8));
    assert_int_equal(g->h.ecam_base, 0xc0000000);
    assert_int_equal(g->ecam_moves, moves + 1);
    /* A hostile config address with reserved bits, or a bridge ID change, is refused. */
    buf[8] |= 3;
    assert_int_equal(vmstate_load(&pci_host_vmstate, &g->h, buf, len), -EINVAL);
    buf[8] &= (uint8_t)~3;
    buf[12] ^= 1; /* bridge.cfg[0]: vendor ID */
    assert_int_equal(vmstate_load(&pci_host_vmstate, &g->h, buf, len), -EINVAL);
    free(buf);
    free(f);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mech1), cmocka_unit_test(test_cf9_reset),
        cmocka_unit_test(test_ecam),  cmocka_unit_test(test_attach),
        cmocka_unit_test(test_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
