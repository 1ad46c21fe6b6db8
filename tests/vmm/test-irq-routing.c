// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The GSI routing table: the PC's irqchip routes, MSI routes added, updated and removed with
 * fresh GSIs reused, commits only when something changed; and, where /dev/kvm is usable,
 * the table accepted by a real VM's KVM_SET_GSI_ROUTING.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/irq_routing.h"

static void test_pc_table(void **state)
{
    (void)state;
    struct irq_routing rt;
    irq_routing_init(&rt, -1);
    assert_int_equal(irq_routing_add_pc(&rt, 24), 0);
    /* 15 PIC pins (no cascade) + 23 IOAPIC pins (no GSI 2). */
    assert_int_equal(rt.n, 15 + 23);
    bool pit_to_pin2 = false;
    for (size_t i = 0; i < rt.n; i++) {
        assert_int_equal(rt.e[i].type, KVM_IRQ_ROUTING_IRQCHIP);
        assert_int_not_equal(rt.e[i].gsi, 2);
        if (rt.e[i].gsi == 0 && rt.e[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
            pit_to_pin2 = rt.e[i].u.irqchip.pin == 2;
        }
    }
    assert_true(pit_to_pin2);
    irq_routing_destroy(&rt);
}

static void test_msi_routes(void **state)
{
    (void)state;
    struct irq_routing rt;
    irq_routing_init(&rt, -1);
    assert_int_equal(irq_routing_add_pc(&rt, 24), 0);
    assert_int_equal(irq_routing_commit(&rt, false), 0);
    assert_int_equal(rt.commits, 1);
    assert_int_equal(irq_routing_commit(&rt, false), 0);
    assert_int_equal(rt.commits, 1); /* nothing changed */
    unsigned g1, g2, g3;
    assert_int_equal(irq_routing_add_msi(&rt, 0xfee00000, 0x41, &g1), 0);
    assert_int_equal(irq_routing_add_msi(&rt, 0x1fee01000ull, 0x42, &g2), 0);
    assert_int_equal(g1, IRQ_ROUTING_MSI_BASE);
    assert_int_equal(g2, IRQ_ROUTING_MSI_BASE + 1);
    assert_int_equal(rt.e[rt.n - 1].u.msi.address_hi, 1);
    assert_int_equal(irq_routing_commit(&rt, false), 0);
    assert_int_equal(rt.commits, 2);
    /* Same message: no change, no commit. */
    assert_int_equal(irq_routing_update_msi(&rt, g1, 0xfee00000, 0x41), 0);
    assert_int_equal(irq_routing_commit(&rt, false), 0);
    assert_int_equal(rt.commits, 2);
    assert_int_equal(irq_routing_update_msi(&rt, g1, 0xfee00000, 0x51), 0);
    assert_int_equal(irq_routing_commit(&rt, false), 0);
    assert_int_equal(rt.commits, 3);
    /* Irqchip GSIs are not MSI routes. */
    assert_int_equal(irq_routing_update_msi(&rt, 4, 0, 0), -ENOENT);
    assert_int_equal(irq_routing_remove_msi(&rt, 4), -ENOENT);
    /* Removing frees the GSI for the next route. */
    assert_int_equal(irq_routing_remove_msi(&rt, g1), 0);
    assert_int_equal(irq_routing_remove_msi(&rt, g1), -ENOENT);
    assert_int_equal(irq_routing_add_msi(&rt, 0xfee00000, 0x43, &g3), 0);
    assert_int_equal(g3, g1);
    /* The table is bounded. */
    unsigned g, added = 0;
    while (irq_routing_add_msi(&rt, 0xfee00000, 0, &g) == 0) {
        added++;
    }
    assert_int_equal(added, IRQ_ROUTING_MSI_MAX - 2);
    irq_routing_destroy(&rt);
}

static void test_kvm_accepts(void **state)
{
    (void)state;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        skip();
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
        close(kvm);
        skip();
    }
    struct irq_routing rt;
    irq_routing_init(&rt, vm);
    assert_int_equal(irq_routing_add_pc(&rt, 24), 0);
    unsigned g;
    assert_int_equal(irq_routing_add_msi(&rt, 0xfee00000, 0x41, &g), 0);
    assert_int_equal(irq_routing_commit(&rt, true), 0);
    /* An eventfd bound to the MSI GSI and released again. */
    int efd = eventfd(0, EFD_CLOEXEC);
    assert_true(efd >= 0);
    assert_int_equal(irq_routing_irqfd(&rt, efd, g, true), 0);
    assert_int_equal(irq_routing_irqfd(&rt, efd, g, false), 0);
    /* KVM_SIGNAL_MSI needs a destination: with one vCPU, APIC ID 0, it is delivered or
     * blocked (>= 0) rather than failing. */
    int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    assert_true(cpu >= 0);
    assert_true(irq_routing_signal_msi(&rt, 0xfee00000, 0x41) >= 0);
    close(cpu);
    close(efd);
    irq_routing_destroy(&rt);
    close(vm);
    close(kvm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pc_table),
        cmocka_unit_test(test_msi_routes),
        cmocka_unit_test(test_kvm_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
