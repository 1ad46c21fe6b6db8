// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PCI machine glue without KVM: the host bridge on the buses (0xCF8, 0xCF9 to the reset
 * register, ECAM), BARs registered where assigned and moved, refused over RAM, the APICs,
 * another BAR or the ISA ports, INTx shared on a GSI, MSI-X routes following the vector
 * table, and a machine reset putting every BAR back.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/reset_port.h"
#include "tests/helpers/fake_irq.h"
#include "vmm/e820.h"
#include "vmm/pci_machine.h"
#include "vmm/vm.h"

#define RAM_SIZE (16u << 20)

struct bar_dev {
    uint64_t last_off;
    unsigned reads;
};

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    struct bar_dev *b = opaque;
    b->last_off = off;
    b->reads++;
    return 0x5a5a5a5a5a5a5a5aull & ((size == 8) ? ~0ull : (1ull << (8 * size)) - 1);
}

static void bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    (void)opaque;
    (void)off;
    (void)val;
    (void)size;
}

static const struct bus_ops bar_ops = {.read = bar_read, .write = bar_write};

struct fixture {
    struct vm vm;
    void *ram;
    struct reset_port rst;
    unsigned resets;
    struct fake_irq gsi[VM_MAX_GSI];
    struct pci_dev a, b;
    struct bar_dev ha[PCI_NUM_BARS], hb[PCI_NUM_BARS];
    struct pci_msix_bar msix_a;
};

static void on_reset(void *opaque)
{
    struct fixture *f = opaque;
    f->resets++;
}

static struct pci_machine *pm_of(struct fixture *f)
{
    return f->vm.pci;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->vm.fd = -1;
    bus_init(&f->vm.pio, "pio");
    bus_init(&f->vm.mmio, "mmio");
    f->ram = calloc(1, RAM_SIZE);
    guest_mem_init_host(&f->vm.mem, f->ram, RAM_SIZE);
    irq_routing_init(&f->vm.routing, -1);
    assert_int_equal(irq_routing_add_pc(&f->vm.routing, VM_MAX_GSI), 0);
    for (unsigned i = 0; i < VM_MAX_GSI; i++) {
        fake_irq_init(&f->gsi[i], i);
        f->vm.gsi[i] = f->gsi[i].line;
    }
    reset_port_init(&f->rst, on_reset, f);
    char err[256];
    assert_int_equal(pci_machine_init(&f->vm, &reset_port_ops, &f->rst, err, sizeof(err)), 0);

    /* a: slot 3, INTA: IO 64, MEM32 4 KiB, MEM64 64 KiB, MSI-X (4 vectors) in BAR 4 */
    assert_int_equal(pci_dev_init(&f->a, "a", 0x1af4, 0x1041, 0x020000, 0, PCI_INTA), 0);
    assert_int_equal(pci_dev_set_bar(&f->a, 0, PCI_BAR_IO, 64, false), 0);
    assert_int_equal(pci_dev_set_bar(&f->a, 1, PCI_BAR_MEM32, 4096, false), 0);
    assert_int_equal(pci_dev_set_bar(&f->a, 2, PCI_BAR_MEM64, 65536, true), 0);
    assert_int_equal(pci_dev_set_bar(&f->a, 4, PCI_BAR_MEM32, 4096, false), 0);
    assert_int_equal(pci_msix_init(&f->a, 4, 4, 0, 4, 0x800), 0);
    pci_dev_realize(&f->a);
    f->msix_a = (struct pci_msix_bar){&f->a, 4};
    struct pci_bar_handler ha[PCI_NUM_BARS] = {
        {&bar_ops, &f->ha[0]}, {&bar_ops, &f->ha[1]},           {&bar_ops, &f->ha[2]},
        {NULL, NULL},          {&pci_msix_bar_ops, &f->msix_a},
    };
    assert_int_equal(pci_machine_add(pm_of(f), &f->a, 3, 0, ha), 0);

    /* b: slot 2, INTB (same GSI as slot 3 INTA): MEM32 8 KiB */
    assert_int_equal(pci_dev_init(&f->b, "b", 0x1af4, 0x1042, 0x010000, 0, PCI_INTB), 0);
    assert_int_equal(pci_dev_set_bar(&f->b, 0, PCI_BAR_MEM32, 8192, false), 0);
    pci_dev_realize(&f->b);
    struct pci_bar_handler hb[PCI_NUM_BARS] = {{&bar_ops, &f->hb[0]}};
    assert_int_equal(pci_machine_add(pm_of(f), &f->b, 2, 0, hb), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    pci_machine_destroy(&f->vm);
    irq_routing_destroy(&f->vm.routing);
    bus_destroy(&f->vm.pio);
    bus_destroy(&f->vm.mmio);
    free(f->ram);
    free(f);
    return 0;
}

static uint32_t cfg_rd(struct fixture *f, unsigned slot, unsigned reg, unsigned size)
{
    uint32_t v = 0;
    bus_read(&f->vm.mmio, ECAM_BASE + (slot << 15) + reg, &v, size);
    return v;
}

static void cfg_wr(struct fixture *f, unsigned slot, unsigned reg, uint32_t v, unsigned size)
{
    bus_write(&f->vm.mmio, ECAM_BASE + (slot << 15) + reg, &v, size);
}

static void test_host_on_buses(void **state)
{
    struct fixture *f = *state;
    uint32_t v = 0x80000000;
    /* 0xCF8 dword, 0xCFC data, through the PIO bus. */
    assert_true(bus_write(&f->vm.pio, 0xcf8, &v, 4));
    v = 0;
    assert_true(bus_read(&f->vm.pio, 0xcfc, &v, 4));
    assert_int_equal(v, PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR);
    /* 0xCF9 byte: the reset register. */
    uint8_t b = 0x06;
    assert_true(bus_write(&f->vm.pio, 0xcf9, &b, 1));
    assert_int_equal(f->resets, 1);
    /* ECAM on the MMIO bus agrees with mechanism #1. */
    assert_int_equal(cfg_rd(f, 0, 0, 4), PCI_HOST_DEVICE << 16 | PCI_HOST_VENDOR);
    assert_int_equal(cfg_rd(f, 3, 0, 4), 0x10411af4);
    assert_int_equal(cfg_rd(f, 2, 0, 4), 0x10421af4);
    assert_int_equal(cfg_rd(f, 4, 0, 4), 0xffffffff);
    /* An 8-byte ECAM read is split into two dwords. */
    uint64_t q = 0;
    assert_true(bus_read(&f->vm.mmio, ECAM_BASE + (3 << 15), &q, 8));
    assert_int_equal(q & 0xffffffff, 0x10411af4);
}

static void test_assignment(void **state)
{
    struct fixture *f = *state;
    /* The engine assigned and enabled, like firmware. */
    assert_int_equal(f->a.bars[0].mapped_addr, PCI_IO_WINDOW_BASE);
    assert_int_equal(f->a.bars[1].mapped_addr, PCI_MMIO_WINDOW_BASE);
    assert_int_equal(f->a.bars[2].mapped_addr, PCI_MMIO_WINDOW_BASE + 0x10000); /* aligned */
    assert_int_equal(f->a.bars[4].mapped_addr, PCI_MMIO_WINDOW_BASE + 0x20000);
    assert_int_equal(f->b.bars[0].mapped_addr, PCI_MMIO_WINDOW_BASE + 0x22000);
    assert_int_equal(cfg_rd(f, 3, PCI_COMMAND, 2), PCI_COMMAND_IO | PCI_COMMAND_MEMORY);
    assert_int_equal(cfg_rd(f, 3, PCI_INTERRUPT_LINE, 1), pci_intx_gsi(3, 1));
    assert_int_equal(cfg_rd(f, 2, PCI_INTERRUPT_LINE, 1), pci_intx_gsi(2, 2));
    /* Accesses reach the handlers with offsets from the BAR base. */
    uint32_t v;
    assert_true(bus_read(&f->vm.mmio, PCI_MMIO_WINDOW_BASE + 0x10, &v, 4));
    assert_int_equal(f->ha[1].last_off, 0x10);
    assert_true(bus_read(&f->vm.pio, PCI_IO_WINDOW_BASE + 4, &v, 4));
    assert_int_equal(f->ha[0].last_off, 4);
    assert_true(bus_read(&f->vm.mmio, PCI_MMIO_WINDOW_BASE + 0x10000 + 0xfff8, &v, 4));
    assert_int_equal(f->ha[2].last_off, 0xfff8);
}

static void test_hostile_bars(void **state)
{
    struct fixture *f = *state;
    struct pci_machine *pm = pm_of(f);
    /* Over RAM: refused, counted, and the old mapping is gone. */
    cfg_wr(f, 3, PCI_BAR0 + 4, 0x00100000, 4);
    assert_int_equal(pm->refused, 1);
    assert_int_equal(f->a.refused_bars, 1);
    assert_int_equal(f->a.bars[1].mapped_addr, PCI_BAR_UNMAPPED);
    assert_null(bus_find(&f->vm.mmio, 0x00100000));
    assert_null(bus_find(&f->vm.mmio, PCI_MMIO_WINDOW_BASE));
    /* Over another BAR. */
    cfg_wr(f, 3, PCI_BAR0 + 4, (uint32_t)(PCI_MMIO_WINDOW_BASE + 0x22000), 4);
    assert_int_equal(pm->refused, 2);
    const struct bus_range *r = bus_find(&f->vm.mmio, PCI_MMIO_WINDOW_BASE + 0x22000);
    assert_non_null(r);
    assert_ptr_equal(r->opaque, &f->hb[0]);
    /* Over ECAM, the IOAPIC, the LAPIC, KVM's private pages. */
    cfg_wr(f, 3, PCI_BAR0 + 4, (uint32_t)ECAM_BASE + 0x1000, 4);
    cfg_wr(f, 3, PCI_BAR0 + 4, (uint32_t)IOAPIC_BASE, 4);
    cfg_wr(f, 3, PCI_BAR0 + 4, (uint32_t)LAPIC_BASE, 4);
    cfg_wr(f, 3, PCI_BAR0 + 4, 0xfeffd000, 4);
    assert_int_equal(pm->refused, 6);
    assert_int_equal(f->a.bars[1].mapped_addr, PCI_BAR_UNMAPPED);
    /* Address 0 just unassigns (no refusal). */
    cfg_wr(f, 3, PCI_BAR0 + 4, 0, 4);
    assert_int_equal(pm->refused, 6);
    /* A free place is accepted. */
    cfg_wr(f, 3, PCI_BAR0 + 4, 0xd0000000, 4);
    assert_int_equal(f->a.bars[1].mapped_addr, 0xd0000000);
    assert_non_null(bus_find(&f->vm.mmio, 0xd0000fff));
    assert_null(bus_find(&f->vm.mmio, 0xd0001000));
    /* A 64-bit BAR above 4 GiB but over high RAM (none here) is fine; over low RAM it is not. */
    cfg_wr(f, 3, PCI_BAR0 + 12, 0x10, 4);
    assert_int_equal(f->a.bars[2].mapped_addr, 0x10c0010000ull);
    /* IO BAR over the UART / below 0x1000: refused. */
    cfg_wr(f, 3, PCI_BAR0, 0x3c0, 4);
    assert_int_equal(f->a.bars[0].mapped_addr, PCI_BAR_UNMAPPED);
    assert_int_equal(pm->refused, 7);
    /* IO BAR over the config ports. */
    cfg_wr(f, 3, PCI_BAR0, 0xcc0, 4);
    assert_int_equal(pm->refused, 8);
    cfg_wr(f, 3, PCI_BAR0, 0xe000, 4);
    assert_int_equal(f->a.bars[0].mapped_addr, 0xe000);
    /* PCIEXBAR moved over RAM: refused, ECAM unmapped; mechanism #1 still works to fix it. */
    cfg_wr(f, 0, Q35_PCIEXBAR, 0x00000001, 4);
    assert_int_equal(pm->host.ecam_base, PCI_BAR_UNMAPPED);
    assert_int_equal(pm->host.refused_ecam, 1);
    uint32_t v = 0x80000000 | Q35_PCIEXBAR;
    assert_true(bus_write(&f->vm.pio, 0xcf8, &v, 4));
    v = (uint32_t)ECAM_BASE | 1;
    assert_true(bus_write(&f->vm.pio, 0xcfc, &v, 4));
    assert_int_equal(cfg_rd(f, 3, 0, 4), 0x10411af4);

    /* A machine reset puts every BAR back where the engine put it. */
    for (unsigned i = 0; i < f->vm.ndevices; i++) {
        if (f->vm.devices[i].reset) {
            f->vm.devices[i].reset(f->vm.devices[i].opaque);
        }
    }
    assert_int_equal(f->a.bars[0].mapped_addr, PCI_IO_WINDOW_BASE);
    assert_int_equal(f->a.bars[1].mapped_addr, PCI_MMIO_WINDOW_BASE);
    assert_int_equal(f->a.bars[2].mapped_addr, PCI_MMIO_WINDOW_BASE + 0x10000);
    assert_int_equal(f->b.bars[0].mapped_addr, PCI_MMIO_WINDOW_BASE + 0x22000);
    assert_null(bus_find(&f->vm.mmio, 0xd0000000));
    assert_null(bus_find(&f->vm.pio, 0xe000));
}

static void test_intx_shared(void **state)
{
    struct fixture *f = *state;
    unsigned gsi = pci_intx_gsi(3, 1);
    assert_int_equal(gsi, pci_intx_gsi(2, 2));
    assert_true(gsi >= 16 && gsi < 24);
    pci_set_irq(&f->a, true);
    pci_set_irq(&f->b, true);
    assert_true(f->gsi[gsi].level);
    pci_set_irq(&f->a, false);
    assert_true(f->gsi[gsi].level); /* b still asserts */
    pci_set_irq(&f->b, false);
    assert_false(f->gsi[gsi].level);
    assert_int_equal(f->gsi[gsi].raises, 1);
    /* INTx disable on a removes its contribution only. */
    pci_set_irq(&f->a, true);
    pci_set_irq(&f->b, true);
    cfg_wr(f, 3, PCI_COMMAND, PCI_COMMAND_INTX_DISABLE, 2);
    pci_set_irq(&f->b, false);
    assert_false(f->gsi[gsi].level);
}

static void test_msix_routes(void **state)
{
    struct fixture *f = *state;
    struct irq_routing *rt = &f->vm.routing;
    struct pci_machine *pm = pm_of(f);
    size_t base_n = rt->n;
    uint64_t tbl = f->a.bars[4].mapped_addr;
    assert_int_equal(pci_machine_msix_irqfd(pm, &f->a, 4, 7), -EINVAL);
    assert_int_equal(pci_machine_msix_irqfd(pm, &f->a, 1, 7), 0);
    /* Disabled: no route yet. */
    assert_int_equal(rt->n, base_n);
    uint32_t v = 0xfee00000;
    bus_write(&f->vm.mmio, tbl + 16, &v, 4);
    v = 0x45;
    bus_write(&f->vm.mmio, tbl + 16 + 8, &v, 4);
    v = 0;
    bus_write(&f->vm.mmio, tbl + 16 + 12, &v, 4); /* unmask */
    unsigned cap = f->a.msix.cap;
    cfg_wr(f, 3, cap + 2, PCI_MSIX_FLAGS_ENABLE, 2);
    assert_int_equal(rt->n, base_n + 1);
    const struct kvm_irq_routing_entry *e = &rt->e[rt->n - 1];
    assert_int_equal(e->type, KVM_IRQ_ROUTING_MSI);
    assert_true(e->gsi >= IRQ_ROUTING_MSI_BASE);
    assert_int_equal(e->u.msi.address_lo, 0xfee00000);
    assert_int_equal(e->u.msi.data, 0x45);
    assert_true(pm->fns[3 * PCI_HOST_FUNCS]->vec[1].irqfd_on);
    uint64_t commits = rt->commits;
    /* The guest changes the data: the route follows, one commit. */
    v = 0x46;
    bus_write(&f->vm.mmio, tbl + 16 + 8, &v, 4);
    assert_int_equal(rt->e[rt->n - 1].u.msi.data, 0x46);
    assert_int_equal(rt->commits, commits + 1);
    /* Masked: KVM no longer owns the eventfd. */
    v = 1;
    bus_write(&f->vm.mmio, tbl + 16 + 12, &v, 4);
    assert_false(pm->fns[3 * PCI_HOST_FUNCS]->vec[1].irqfd_on);
    v = 0;
    bus_write(&f->vm.mmio, tbl + 16 + 12, &v, 4);
    assert_true(pm->fns[3 * PCI_HOST_FUNCS]->vec[1].irqfd_on);
    /* Unbinding removes the route. */
    assert_int_equal(pci_machine_msix_irqfd(pm, &f->a, 1, -1), 0);
    assert_int_equal(rt->n, base_n);
    /* Delivery without irqfd goes through KVM_SIGNAL_MSI (no KVM here: no error counted). */
    assert_int_equal(pci_msix_notify(&f->a, 1), 0);
    assert_int_equal(pm->msi_errors, 0);
    /* ioeventfd argument checks. */
    assert_int_equal(pci_machine_ioeventfd(pm, false, tbl, 3, 7, false, 0, true), -EINVAL);
    assert_int_equal(pci_machine_ioeventfd(pm, false, tbl, 4, 7, false, 0, true), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_host_on_buses, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assignment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_bars, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intx_shared, setup, teardown),
        cmocka_unit_test_setup_teardown(test_msix_routes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
