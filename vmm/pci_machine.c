// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PCI machine glue: where the Q35 host bridge, its ECAM window and each function's BARs sit
 * on the VM's buses, INTx sharing on GSIs 16-23, and MSI-X turned into KVM routes and
 * irqfds. Every hook here runs with the device lock held (config accesses arrive through bus
 * dispatch), so bus ranges only change under it.
 */
#include "vmm/pci_machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/e820.h"
#include "vmm/vm.h"

/* KVM's TSS and identity-map pages (vm.c): no BAR may shadow them. */
#define KVM_PRIVATE_BASE 0xfeffc000ull
#define KVM_PRIVATE_LEN 0x4000ull
#define APIC_WINDOW_LEN 0x1000ull

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* May [addr, addr + len) of memory space decode as MMIO? Not over RAM or the APICs. */
static bool mmio_placement_ok(const struct pci_machine *pm, uint64_t addr, uint64_t len)
{
    const struct guest_mem *mem = &pm->vm->mem;
    uint64_t high = guest_mem_high_size(mem);
    if (addr + len < addr || overlaps(addr, len, 0, guest_mem_low_top(mem)) ||
        (high && overlaps(addr, len, MEM_4G, high)) ||
        overlaps(addr, len, IOAPIC_BASE, APIC_WINDOW_LEN) ||
        overlaps(addr, len, LAPIC_BASE, APIC_WINDOW_LEN) ||
        overlaps(addr, len, KVM_PRIVATE_BASE, KVM_PRIVATE_LEN)) {
        return false;
    }
    return true;
}

static int bar_moved(void *opaque, struct pci_dev *dev, unsigned bar, uint64_t old_addr,
                     uint64_t new_addr)
{
    struct pci_machine_fn *f = opaque;
    struct pci_machine *pm = f->pm;
    bool io = dev->bars[bar].type == PCI_BAR_IO;
    struct bus *bus = io ? &pm->vm->pio : &pm->vm->mmio;
    uint64_t len = dev->bars[bar].size;
    const struct pci_bar_handler *h = &f->bars[bar];
    if (old_addr != PCI_BAR_UNMAPPED && h->ops) {
        /*
         * Safe during dispatch: bus_access() does not touch the range after the handler
         * returns, and this config write is the handler.
         */
        bus_unregister(bus, old_addr);
    }
    if (new_addr == PCI_BAR_UNMAPPED || !h->ops) {
        return 0;
    }
    /* guest-controlled: the BAR address; never over RAM, the APICs or another device */
    bool ok = io ? new_addr >= PCI_IO_MIN : mmio_placement_ok(pm, new_addr, len);
    if (!ok || bus_register(bus, new_addr, len, h->ops, h->opaque, dev->name) < 0) {
        pm->refused++;
        return -EEXIST;
    }
    return 0;
}

static int ecam_moved(void *opaque, uint64_t old_addr, uint64_t new_addr)
{
    struct pci_machine *pm = opaque;
    struct bus *bus = &pm->vm->mmio;
    if (old_addr != PCI_BAR_UNMAPPED) {
        bus_unregister(bus, old_addr);
    }
    if (new_addr == PCI_BAR_UNMAPPED) {
        return 0;
    }
    /* guest-controlled: PCIEXBAR */
    if (!mmio_placement_ok(pm, new_addr, Q35_PCIEXBAR_SIZE) ||
        bus_register(bus, new_addr, Q35_PCIEXBAR_SIZE, &pci_host_ecam_ops, &pm->host, "ecam") < 0) {
        pm->refused++;
        return -EEXIST;
    }
    return 0;
}

static void intx_set(void *opaque, unsigned gsi, bool level)
{
    struct pci_machine_fn *f = opaque;
    struct pci_machine *pm = f->pm;
    unsigned i = gsi - PCI_INTX_GSI_BASE;
    if (i >= PCI_INTX_GSIS) {
        return;
    }
    /* Level-triggered and shared: the GSI is high while any function asserts it. */
    unsigned before = pm->intx_count[i];
    if (level) {
        pm->intx_count[i]++;
    } else if (pm->intx_count[i]) {
        pm->intx_count[i]--;
    }
    if ((before == 0) != (pm->intx_count[i] == 0) && gsi < VM_MAX_GSI) {
        irq_set(&pm->vm->gsi[gsi], pm->intx_count[i] != 0);
    }
}

/* ---- MSI-X ------------------------------------------------------------------------------- */

static void vector_sync(struct pci_machine_fn *f, unsigned v)
{
    struct pci_machine *pm = f->pm;
    struct pci_machine_vector *vec = &f->vec[v];
    uint64_t addr;
    uint32_t data;
    bool masked;
    if (vec->efd < 0 || !pci_msix_vector(f->dev, v, &addr, &data, &masked)) {
        return;
    }
    bool active = pci_msix_enabled(f->dev) && !masked;
    if (active) {
        int r;
        if (!vec->routed) {
            r = irq_routing_add_msi(&pm->vm->routing, addr, data, &vec->gsi);
            vec->routed = r == 0;
        } else {
            r = irq_routing_update_msi(&pm->vm->routing, vec->gsi, addr, data);
        }
        if (r == 0) {
            r = irq_routing_commit(&pm->vm->routing, false);
        }
        if (r == 0 && !vec->irqfd_on) {
            /* KVM delivers at once what the eventfd counted while the vector was masked. */
            r = irq_routing_irqfd(&pm->vm->routing, vec->efd, vec->gsi, true);
            vec->irqfd_on = r == 0;
        }
        if (r < 0) {
            pm->msi_errors++;
        }
    } else if (vec->irqfd_on) {
        irq_routing_irqfd(&pm->vm->routing, vec->efd, vec->gsi, false);
        vec->irqfd_on = false;
    }
}

static void msix_changed(void *opaque, struct pci_dev *dev, unsigned vector)
{
    struct pci_machine_fn *f = opaque;
    if (vector == PCI_MSIX_ALL) {
        for (unsigned v = 0; v < dev->msix.nvec; v++) {
            vector_sync(f, v);
        }
    } else if (vector < dev->msix.nvec) {
        vector_sync(f, vector);
    }
}

static void msix_deliver(void *opaque, struct pci_dev *dev, unsigned vector, uint64_t addr,
                         uint32_t data)
{
    struct pci_machine_fn *f = opaque;
    (void)dev;
    (void)vector;
    if (irq_routing_signal_msi(&f->pm->vm->routing, addr, data) < 0) {
        f->pm->msi_errors++;
    }
}

static struct pci_machine_fn *find_fn(struct pci_machine *pm, const struct pci_dev *dev)
{
    for (unsigned i = 0; i < PCI_HOST_SLOTS * PCI_HOST_FUNCS; i++) {
        if (pm->fns[i] && pm->fns[i]->dev == dev) {
            return pm->fns[i];
        }
    }
    return NULL;
}

int pci_machine_msix_irqfd(struct pci_machine *pm, struct pci_dev *dev, unsigned vector, int efd)
{
    struct pci_machine_fn *f = find_fn(pm, dev);
    if (!f || vector >= dev->msix.nvec) {
        return -EINVAL;
    }
    struct pci_machine_vector *vec = &f->vec[vector];
    if (vec->irqfd_on) {
        irq_routing_irqfd(&pm->vm->routing, vec->efd, vec->gsi, false);
        vec->irqfd_on = false;
    }
    if (vec->routed) {
        irq_routing_remove_msi(&pm->vm->routing, vec->gsi);
        vec->routed = false;
    }
    vec->efd = efd;
    vector_sync(f, vector);
    return 0;
}

int pci_machine_ioeventfd(struct pci_machine *pm, bool pio, uint64_t addr, unsigned len, int efd,
                          bool datamatch, uint64_t value, bool assign)
{
    if (len != 1 && len != 2 && len != 4 && len != 8) {
        return -EINVAL;
    }
    if (pm->vm->fd < 0) {
        return 0;
    }
    struct kvm_ioeventfd io = {
        .datamatch = value,
        .addr = addr,
        .len = len,
        .fd = efd,
        .flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0u) |
                 (datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0u) |
                 (assign ? 0u : KVM_IOEVENTFD_FLAG_DEASSIGN),
    };
    return ioctl(pm->vm->fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

/* ---- Start-up assignment ----------------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Place the BARs and enable decoding as firmware would; BARs that do not fit stay at 0. */
static void assign_fn(struct pci_machine *pm, struct pci_machine_fn *f)
{
    struct pci_dev *dev = f->dev;
    uint16_t cmd = 0;
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        const struct pci_bar *b = &dev->bars[i];
        if (b->type == PCI_BAR_NONE) {
            continue;
        }
        bool io = b->type == PCI_BAR_IO;
        uint64_t *next = io ? &pm->io_next : &pm->mmio_next;
        uint64_t end = io ? PCI_IO_WINDOW_BASE + PCI_IO_WINDOW_SIZE
                          : PCI_MMIO_WINDOW_BASE + PCI_MMIO_WINDOW_SIZE;
        /* Memory BARs get whole pages, so KVM can later map them as memory slots. */
        uint64_t a = align_up(*next, io ? b->size : (b->size > 4096 ? b->size : 4096));
        if (a + b->size > end) {
            continue;
        }
        *next = a + b->size;
        pci_cfg_write(dev, PCI_BAR0 + 4 * i, (uint32_t)a, 4);
        if (b->type == PCI_BAR_MEM64) {
            pci_cfg_write(dev, PCI_BAR0 + 4 * i + 4, 0, 4);
        }
        cmd |= io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
    }
    if (dev->cfg[PCI_INTERRUPT_PIN]) {
        pci_cfg_write(dev, PCI_INTERRUPT_LINE, f->intx.gsi, 1);
    }
    pci_cfg_write(dev, PCI_COMMAND, cmd, 2);
}

int pci_machine_add(struct pci_machine *pm, struct pci_dev *dev, unsigned slot, unsigned fn,
                    const struct pci_bar_handler *bars)
{
    if (!dev || slot >= PCI_HOST_SLOTS || fn >= PCI_HOST_FUNCS) {
        return -EINVAL;
    }
    struct vm *vm = pm->vm;
    if (vm->ndevices >= VM_MAX_DEVICES) {
        return -ENOSPC;
    }
    struct pci_machine_fn *f = calloc(1, sizeof(*f));
    if (!f) {
        return -ENOMEM;
    }
    f->pm = pm;
    f->dev = dev;
    f->slot = slot;
    f->fn = fn;
    for (unsigned i = 0; i < PCI_MSIX_MAX_VECTORS; i++) {
        f->vec[i].efd = -1;
    }
    if (bars) {
        memcpy(f->bars, bars, sizeof(f->bars));
    }
    unsigned pin = dev->cfg[PCI_INTERRUPT_PIN];
    f->intx = (struct irq_line){
        .set_level = intx_set,
        .opaque = f,
        .gsi = pin ? pci_intx_gsi(slot, pin) : 0,
    };
    int r = pci_host_attach(&pm->host, slot, fn, dev);
    if (r < 0) {
        free(f);
        return r;
    }
    pm->fns[slot * PCI_HOST_FUNCS + fn] = f;
    pm->order[pm->nfns++] = f;
    dev->intx = pin ? &f->intx : NULL;
    dev->hooks = (struct pci_machine_hooks){
        .bar_moved = bar_moved,
        .msix_deliver = msix_deliver,
        .msix_changed = msix_changed,
        .opaque = f,
    };
    /* Reset by the machine (in slot order, then reassigned); saved on its own. */
    vm->devices[vm->ndevices++] = (struct device){
        .name = dev->name,
        .opaque = dev,
        .reset = NULL,
        .state = &pci_dev_vmstate,
    };
    assign_fn(pm, f);
    return 0;
}

int pci_machine_remove(struct pci_machine *pm, struct pci_dev *dev)
{
    struct pci_machine_fn *f = find_fn(pm, dev);
    if (!f) {
        return -ENOENT;
    }
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        struct pci_machine_vector *vec = &f->vec[v];
        if (vec->irqfd_on) {
            irq_routing_irqfd(&pm->vm->routing, vec->efd, vec->gsi, false);
        }
        if (vec->routed) {
            irq_routing_remove_msi(&pm->vm->routing, vec->gsi);
        }
    }
    /* Power-on state: the line drops and the BARs are unmapped through the hooks. */
    pci_set_irq(dev, false);
    pci_dev_reset(dev);
    pci_host_detach(&pm->host, f->slot, f->fn);
    pm->fns[f->slot * PCI_HOST_FUNCS + f->fn] = NULL;
    unsigned j = 0;
    for (unsigned i = 0; i < pm->nfns; i++) {
        if (pm->order[i] != f) {
            pm->order[j++] = pm->order[i];
        }
    }
    pm->nfns = j;
    struct vm *vm = pm->vm;
    j = 0;
    for (unsigned i = 0; i < vm->ndevices; i++) {
        if (vm->devices[i].opaque != dev) {
            vm->devices[j++] = vm->devices[i];
        }
    }
    vm->ndevices = j;
    dev->hooks = (struct pci_machine_hooks){0};
    dev->intx = NULL;
    free(f);
    return 0;
}

/* The machine's device entry carries the host (whose state table it uses) as opaque. */
static void machine_reset(void *opaque)
{
    struct pci_machine *pm = (void *)((char *)opaque - offsetof(struct pci_machine, host));
    pci_host_reset(&pm->host);
    pm->mmio_next = PCI_MMIO_WINDOW_BASE;
    pm->io_next = PCI_IO_WINDOW_BASE;
    for (unsigned i = 0; i < pm->nfns; i++) {
        pci_dev_reset(pm->order[i]->dev);
    }
    /* In the order they were added, so every BAR lands where it was at start. */
    for (unsigned i = 0; i < pm->nfns; i++) {
        assign_fn(pm, pm->order[i]);
    }
}

void pci_machine_sync(struct pci_machine *pm)
{
    pci_host_sync(&pm->host);
    for (unsigned i = 0; i < PCI_HOST_SLOTS * PCI_HOST_FUNCS; i++) {
        if (pm->fns[i]) {
            pci_dev_sync(pm->fns[i]->dev);
        }
    }
}

int pci_machine_init(struct vm *vm, const struct bus_ops *cf9_ops, void *cf9_opaque, char *err,
                     size_t errlen)
{
    struct pci_machine *pm = calloc(1, sizeof(*pm));
    if (!pm) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    pm->vm = vm;
    pm->mmio_next = PCI_MMIO_WINDOW_BASE;
    pm->io_next = PCI_IO_WINDOW_BASE;
    int r = pci_host_init(&pm->host, ECAM_BASE, cf9_ops, cf9_opaque);
    if (r < 0) {
        free(pm);
        snprintf(err, errlen, "cannot create the PCI host bridge: %s", strerror(-r));
        return r;
    }
    vm->pci = pm;
    r = bus_register(&vm->pio, PCI_HOST_CF8_BASE, PCI_HOST_CF8_LEN, &pci_host_cf8_ops, &pm->host,
                     "pci-cf8");
    if (r < 0) {
        snprintf(err, errlen, "cannot place the PCI config ports at 0xcf8: %s", strerror(-r));
        return r;
    }
    pci_host_set_ecam_hook(&pm->host, ecam_moved, pm);
    if (pm->host.ecam_base != ECAM_BASE) {
        snprintf(err, errlen, "cannot place ECAM at 0x%llx", (unsigned long long)ECAM_BASE);
        return -EEXIST;
    }
    if (vm->ndevices >= VM_MAX_DEVICES) {
        snprintf(err, errlen, "too many devices");
        return -ENOSPC;
    }
    /* Resets the host and every function, in slot order, then reassigns their BARs. */
    vm->devices[vm->ndevices++] = (struct device){
        .name = "pci-host",
        .opaque = &pm->host,
        .reset = machine_reset,
        .state = &pci_host_vmstate,
    };
    return 0;
}

void pci_machine_destroy(struct vm *vm)
{
    struct pci_machine *pm = vm->pci;
    if (!pm) {
        return;
    }
    for (unsigned i = 0; i < PCI_HOST_SLOTS * PCI_HOST_FUNCS; i++) {
        struct pci_machine_fn *f = pm->fns[i];
        if (!f) {
            continue;
        }
        for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
            if (f->vec[v].irqfd_on) {
                irq_routing_irqfd(&vm->routing, f->vec[v].efd, f->vec[v].gsi, false);
            }
        }
        f->dev->hooks = (struct pci_machine_hooks){0};
        free(f);
    }
    pci_host_destroy(&pm->host);
    free(pm);
    vm->pci = NULL;
}
