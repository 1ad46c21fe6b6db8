/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine's PCI glue: the Q35 host bridge placed at 0xCF8 and ECAM, PCI functions
 * attached to slots with their BARs registered on the VM's PIO/MMIO buses wherever the guest
 * (or the engine at start) puts them, INTx wired to GSIs 16-23, MSI-X vectors turned into KVM
 * MSI routes, irqfds and KVM_SIGNAL_MSI, and ioeventfd registration for doorbells.
 */
#ifndef DESKVM_VMM_PCI_MACHINE_H
#define DESKVM_VMM_PCI_MACHINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/pci.h"
#include "io/pci_host.h"
#include "vmm/bus.h"

struct vm;

/* Windows the engine assigns BARs from at start (firmware may reassign within _CRS). */
#define PCI_MMIO_WINDOW_BASE 0xc0000000ull
#define PCI_MMIO_WINDOW_SIZE 0x20000000ull /* up to ECAM_BASE */
#define PCI_IO_WINDOW_BASE 0xc000ull
#define PCI_IO_WINDOW_SIZE 0x4000ull
/* No IO BAR below this: the ISA devices and the in-kernel PIC/PIT/ELCR live there. */
#define PCI_IO_MIN 0x1000ull
/* INTx: pin P (1-4) of slot S raises GSI 16 + ((S + P - 1) % 8), level, active high. */
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_GSIS 8

static inline unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
    return PCI_INTX_GSI_BASE + ((slot + pin - 1) % PCI_INTX_GSIS);
}

/* What a BAR decodes to: the device's handlers for its range (offsets from the BAR base). */
struct pci_bar_handler {
    const struct bus_ops *ops;
    void *opaque;
};

struct pci_machine_vector {
    unsigned gsi; /* MSI route, valid when routed */
    int efd;      /* irqfd eventfd, -1 = none */
    bool routed;
    bool irqfd_on; /* assigned to KVM now */
};

struct pci_machine_fn {
    struct pci_machine *pm;
    struct pci_dev *dev;
    unsigned slot, fn;
    struct pci_bar_handler bars[PCI_NUM_BARS];
    struct irq_line intx;
    struct pci_machine_vector vec[PCI_MSIX_MAX_VECTORS];
};

struct pci_machine {
    struct vm *vm;
    struct pci_host host;
    struct pci_machine_fn *fns[PCI_HOST_SLOTS * PCI_HOST_FUNCS];   /* by slot * 8 + fn */
    struct pci_machine_fn *order[PCI_HOST_SLOTS * PCI_HOST_FUNCS]; /* as added */
    unsigned nfns;
    unsigned intx_count[PCI_INTX_GSIS]; /* functions asserting each shared GSI */
    uint64_t mmio_next, io_next;        /* the start-up assignment's bump pointers */
    uint64_t refused;                   /* BAR / ECAM placements refused (RAM, overlap) */
    uint64_t msi_errors;                /* routes or irqfds KVM refused */
};

/*
 * Create the host bridge at 0xCF8 (byte accesses at 0xCF9 go to cf9_ops/cf9_opaque, the
 * reset register) and ECAM at ECAM_BASE; vm->pci points to it. Registers its reset/state.
 */
int pci_machine_init(struct vm *vm, const struct bus_ops *cf9_ops, void *cf9_opaque, char *err,
                     size_t errlen);
void pci_machine_destroy(struct vm *vm);

/*
 * Attach dev at slot/fn. bars[i] handles BAR i wherever it is mapped (NULL ops for unused
 * BARs; a MEM64 BAR uses bars[i] only). The engine assigns the BARs from the windows above
 * and enables decoding, as firmware would; INTx is wired by the swizzle; the function's
 * config state is registered for snapshots and reset with the machine. Call with the
 * device lock held or before vCPUs run. -EINVAL, -EEXIST, -ENOSPC (windows or devices full).
 */
__attribute__((warn_unused_result)) int pci_machine_add(struct pci_machine *pm, struct pci_dev *dev,
                                                        unsigned slot, unsigned fn,
                                                        const struct pci_bar_handler *bars);

/*
 * Take dev off the machine (engine teardown, or a device model that failed after adding):
 * irqfds unbound, MSI routes removed, BARs unmapped, the slot freed and its state entry
 * dropped from the VM's device list. -ENOENT when dev is not attached.
 */
int pci_machine_remove(struct pci_machine *pm, struct pci_dev *dev);

/* After a state load: map BARs and ECAM where the loaded registers say, refresh MSI routes. */
void pci_machine_sync(struct pci_machine *pm);

/*
 * Bind eventfd efd to MSI-X vector of dev (efd -1 unbinds): while the vector is enabled and
 * unmasked, a write to efd interrupts the guest without the engine (KVM irqfd on the
 * vector's MSI route); while masked KVM is not told and the count waits in the eventfd,
 * delivered when the guest unmasks. -EINVAL for an unknown dev or vector.
 */
__attribute__((warn_unused_result)) int
pci_machine_msix_irqfd(struct pci_machine *pm, struct pci_dev *dev, unsigned vector, int efd);

/*
 * KVM_IOEVENTFD: a guest write of len bytes (1, 2, 4, 8; with datamatch only when it equals
 * value) at addr in PIO or MMIO space signals efd instead of exiting to a bus handler.
 */
__attribute__((warn_unused_result)) int pci_machine_ioeventfd(struct pci_machine *pm, bool pio,
                                                              uint64_t addr, unsigned len, int efd,
                                                              bool datamatch, uint64_t value,
                                                              bool assign);

#endif
