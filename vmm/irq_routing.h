/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VM's KVM GSI routing table (KVM_SET_GSI_ROUTING replaces the whole table each time):
 * the PC's irqchip routes plus MSI routes that callers add, update and remove, and the
 * irqfd helper that binds an eventfd to a GSI. With vm_fd < 0 the table is kept but never
 * sent, so unit tests can drive it without KVM.
 */
#ifndef DESKVM_VMM_IRQ_ROUTING_H
#define DESKVM_VMM_IRQ_ROUTING_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* GSIs 0-23 are the IOAPIC pins; MSI routes take GSIs from here up. */
#define IRQ_ROUTING_MSI_BASE 24
#define IRQ_ROUTING_MSI_MAX 1024 /* MSI routes at most; KVM allows 4096 entries in all */

struct irq_routing {
    int vm_fd;
    struct kvm_irq_routing_entry *e;
    size_t n, cap;
    uint64_t msi_used[IRQ_ROUTING_MSI_MAX / 64]; /* bit i: GSI IRQ_ROUTING_MSI_BASE + i */
    bool dirty;                                  /* changed since the last commit */
    uint64_t commits;                            /* tables sent to KVM */
};

void irq_routing_init(struct irq_routing *rt, int vm_fd);
void irq_routing_destroy(struct irq_routing *rt);

/* The PC map: ISA IRQs 0-15 to both 8259s and the IOAPIC (IRQ0 to pin 2), GSIs 16-23 IOAPIC. */
__attribute__((warn_unused_result)) int irq_routing_add_pc(struct irq_routing *rt,
                                                           unsigned ioapic_pins);
/* An MSI route on a fresh GSI (*gsi receives it). -ENOSPC when all are used. */
__attribute__((warn_unused_result)) int irq_routing_add_msi(struct irq_routing *rt, uint64_t addr,
                                                            uint32_t data, unsigned *gsi);
/* Change an MSI route's message; -ENOENT when gsi is not one of ours. Same message: no-op. */
int irq_routing_update_msi(struct irq_routing *rt, unsigned gsi, uint64_t addr, uint32_t data);
int irq_routing_remove_msi(struct irq_routing *rt, unsigned gsi);
/* Send the table to KVM when it changed (or always when force). 0 or -errno. */
int irq_routing_commit(struct irq_routing *rt, bool force);

/* KVM_IRQFD: eventfd efd raises gsi (assign) or no longer does. */
int irq_routing_irqfd(struct irq_routing *rt, int efd, unsigned gsi, bool assign);
/* KVM_SIGNAL_MSI: send one message now (1 delivered, 0 blocked by the guest, -errno). */
int irq_routing_signal_msi(struct irq_routing *rt, uint64_t addr, uint32_t data);

#endif
