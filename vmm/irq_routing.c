// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KVM GSI routing table (Documentation/virt/kvm/api.rst: KVM_SET_GSI_ROUTING, KVM_IRQFD,
 * KVM_SIGNAL_MSI). KVM takes the whole table at once, so the table lives here and every
 * change is followed by one commit of all of it.
 */
#include "vmm/irq_routing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

void irq_routing_init(struct irq_routing *rt, int vm_fd)
{
    memset(rt, 0, sizeof(*rt));
    rt->vm_fd = vm_fd;
}

void irq_routing_destroy(struct irq_routing *rt)
{
    if (rt) {
        free(rt->e);
        rt->e = NULL;
        rt->n = rt->cap = 0;
    }
}

static int push(struct irq_routing *rt, const struct kvm_irq_routing_entry *e)
{
    if (rt->n == rt->cap) {
        size_t cap = rt->cap ? rt->cap * 2 : 64;
        struct kvm_irq_routing_entry *ne = realloc(rt->e, cap * sizeof(*ne));
        if (!ne) {
            return -ENOMEM;
        }
        rt->e = ne;
        rt->cap = cap;
    }
    rt->e[rt->n++] = *e;
    rt->dirty = true;
    return 0;
}

static int add_irqchip(struct irq_routing *rt, unsigned gsi, unsigned chip, unsigned pin)
{
    struct kvm_irq_routing_entry e = {
        .gsi = gsi,
        .type = KVM_IRQ_ROUTING_IRQCHIP,
        .u.irqchip = {.irqchip = chip, .pin = pin},
    };
    return push(rt, &e);
}

/*
 * The PC's GSI map: ISA IRQs 0-15 go to both 8259s and the IOAPIC, except that IRQ0 (the PIT)
 * reaches IOAPIC pin 2, as the MADT's interrupt source override tells the guest, and nothing
 * is wired to the cascade pin 2 of the master PIC. GSIs 16 and up are IOAPIC-only (PCI INTx).
 */
int irq_routing_add_pc(struct irq_routing *rt, unsigned ioapic_pins)
{
    int r = 0;
    for (unsigned gsi = 0; gsi < 16 && r == 0; gsi++) {
        if (gsi != 2) {
            r = add_irqchip(rt, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                            gsi % 8);
        }
    }
    for (unsigned gsi = 0; gsi < ioapic_pins && r == 0; gsi++) {
        if (gsi != 2) {
            r = add_irqchip(rt, gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
        }
    }
    return r;
}

static struct kvm_irq_routing_entry *find_msi(struct irq_routing *rt, unsigned gsi)
{
    for (size_t i = 0; i < rt->n; i++) {
        if (rt->e[i].gsi == gsi && rt->e[i].type == KVM_IRQ_ROUTING_MSI) {
            return &rt->e[i];
        }
    }
    return NULL;
}

int irq_routing_add_msi(struct irq_routing *rt, uint64_t addr, uint32_t data, unsigned *gsi)
{
    for (unsigned i = 0; i < IRQ_ROUTING_MSI_MAX; i++) {
        if (rt->msi_used[i / 64] & (1ull << (i % 64))) {
            continue;
        }
        struct kvm_irq_routing_entry e = {
            .gsi = IRQ_ROUTING_MSI_BASE + i,
            .type = KVM_IRQ_ROUTING_MSI,
            .u.msi = {.address_lo = (uint32_t)addr,
                      .address_hi = (uint32_t)(addr >> 32),
                      .data = data},
        };
        int r = push(rt, &e);
        if (r < 0) {
            return r;
        }
        rt->msi_used[i / 64] |= 1ull << (i % 64);
        *gsi = e.gsi;
        return 0;
    }
    return -ENOSPC;
}

int irq_routing_update_msi(struct irq_routing *rt, unsigned gsi, uint64_t addr, uint32_t data)
{
    struct kvm_irq_routing_entry *e = find_msi(rt, gsi);
    if (!e) {
        return -ENOENT;
    }
    if (e->u.msi.address_lo != (uint32_t)addr || e->u.msi.address_hi != (uint32_t)(addr >> 32) ||
        e->u.msi.data != data) {
        e->u.msi.address_lo = (uint32_t)addr;
        e->u.msi.address_hi = (uint32_t)(addr >> 32);
        e->u.msi.data = data;
        rt->dirty = true;
    }
    return 0;
}

int irq_routing_remove_msi(struct irq_routing *rt, unsigned gsi)
{
    struct kvm_irq_routing_entry *e = find_msi(rt, gsi);
    if (!e) {
        return -ENOENT;
    }
    size_t i = (size_t)(e - rt->e);
    memmove(&rt->e[i], &rt->e[i + 1], (rt->n - i - 1) * sizeof(rt->e[0]));
    rt->n--;
    unsigned bit = gsi - IRQ_ROUTING_MSI_BASE;
    rt->msi_used[bit / 64] &= ~(1ull << (bit % 64));
    rt->dirty = true;
    return 0;
}

int irq_routing_commit(struct irq_routing *rt, bool force)
{
    if (!rt->dirty && !force) {
        return 0;
    }
    if (rt->vm_fd >= 0) {
        struct kvm_irq_routing *t =
            calloc(1, sizeof(*t) + rt->n * sizeof(struct kvm_irq_routing_entry));
        if (!t) {
            return -ENOMEM;
        }
        t->nr = (uint32_t)rt->n;
        memcpy(t->entries, rt->e, rt->n * sizeof(rt->e[0]));
        int r = ioctl(rt->vm_fd, KVM_SET_GSI_ROUTING, t) < 0 ? -errno : 0;
        free(t);
        if (r < 0) {
            return r;
        }
    }
    rt->dirty = false;
    rt->commits++;
    return 0;
}

int irq_routing_irqfd(struct irq_routing *rt, int efd, unsigned gsi, bool assign)
{
    if (rt->vm_fd < 0) {
        return 0;
    }
    struct kvm_irqfd f = {
        .fd = (uint32_t)efd,
        .gsi = gsi,
        .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN,
    };
    return ioctl(rt->vm_fd, KVM_IRQFD, &f) < 0 ? -errno : 0;
}

int irq_routing_signal_msi(struct irq_routing *rt, uint64_t addr, uint32_t data)
{
    if (rt->vm_fd < 0) {
        return 0;
    }
    struct kvm_msi m = {
        .address_lo = (uint32_t)addr,
        .address_hi = (uint32_t)(addr >> 32),
        .data = data,
    };
    int r = ioctl(rt->vm_fd, KVM_SIGNAL_MSI, &m);
    return r < 0 ? -errno : r;
}
