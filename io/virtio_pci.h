/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The virtio PCI transport, modern interface only (virtio 1.x 4.1 "Virtio Over PCI Bus"): a
 * PCI function 1af4:1040+id, revision 1, whose vendor capabilities point into one 64-bit
 * memory BAR holding the common configuration, the ISR, the device configuration, the queue
 * doorbells and the MSI-X table and PBA. It carries a struct virtio_dev and knows nothing of
 * the device type; it knows no machine either: eventfds for doorbells and MSI-X vectors are
 * offered by the glue through struct virtio_pci_hooks.
 */
#ifndef DESKVM_IO_VIRTIO_PCI_H
#define DESKVM_IO_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "io/pci.h"
#include "io/virtio.h"
#include "snapshots/vmstate.h"
#include "vmm/bus.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + device id: modern-only functions */
#define VIRTIO_PCI_SUBSYS_ID 0x1100   /* as QEMU's modern devices */
#define VIRTIO_PCI_REVISION 1

/* virtio_pci_cap.cfg_type */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5

/* struct virtio_pci_common_cfg (4.1.4.3) offsets. */
#define VIRTIO_PCI_COMMON_DFSELECT 0x00
#define VIRTIO_PCI_COMMON_DF 0x04
#define VIRTIO_PCI_COMMON_GFSELECT 0x08
#define VIRTIO_PCI_COMMON_GF 0x0c
#define VIRTIO_PCI_COMMON_MSIX 0x10
#define VIRTIO_PCI_COMMON_NUMQ 0x12
#define VIRTIO_PCI_COMMON_STATUS 0x14
#define VIRTIO_PCI_COMMON_CFGGENERATION 0x15
#define VIRTIO_PCI_COMMON_Q_SELECT 0x16
#define VIRTIO_PCI_COMMON_Q_SIZE 0x18
#define VIRTIO_PCI_COMMON_Q_MSIX 0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE 0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF 0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO 0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI 0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO 0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI 0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO 0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI 0x34
#define VIRTIO_PCI_COMMON_LEN 0x38

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* The layout of BAR 0 (64-bit memory, with BAR 1 its upper half). */
#define VIRTIO_PCI_BAR 0
#define VIRTIO_PCI_BAR_SIZE 0x8000u
#define VIRTIO_PCI_COMMON_OFF 0x0000u
#define VIRTIO_PCI_ISR_OFF 0x1000u
#define VIRTIO_PCI_DEVICE_OFF 0x2000u
#define VIRTIO_PCI_DEVICE_MAX 0x1000u /* device config space we can expose */
#define VIRTIO_PCI_NOTIFY_OFF 0x3000u
#define VIRTIO_PCI_NOTIFY_MULT 4u /* queue q's doorbell: NOTIFY_OFF + 4 * q */
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x4000u
#define VIRTIO_PCI_MSIX_PBA_OFF 0x5000u

/*
 * What the machine glue offers (all optional; without them doorbells are bus writes handled
 * on the vCPU thread and MSI-X goes through pci_msix_notify()).
 */
struct virtio_pci_hooks {
    /*
     * The doorbell area moved: old_addr / new_addr are the guest-physical addresses of queue
     * 0's doorbell, PCI_BAR_UNMAPPED for none. Queue q rings at addr + NOTIFY_MULT * q.
     */
    void (*notify_moved)(void *opaque, uint64_t old_addr, uint64_t new_addr);
    /*
     * An eventfd that raises MSI-X vector (bound to its route), or -errno to use
     * pci_msix_notify(). Asked lazily, at the vector's first interrupt after a reset.
     */
    int (*vector_fd)(void *opaque, unsigned vector);
    /* Device reset: release every vector eventfd handed out (routes are removed). */
    void (*vectors_release)(void *opaque);
    void *opaque;
};

struct virtio_pci {
    struct pci_dev pci;
    struct virtio_dev *vdev;
    struct virtio_pci_hooks hooks;
    char name[32];                    /* the PCI function's */
    char state_name[48];              /* the transport state section's: NAME.transport */
    unsigned nvec;                    /* MSI-X vectors: queues + 1, at most PCI_MSIX_MAX_VECTORS */
    int vec_fd[PCI_MSIX_MAX_VECTORS]; /* from hooks.vector_fd, -1 = not asked yet */
    uint64_t notify_addr;             /* where the doorbells decode, or PCI_BAR_UNMAPPED */

    /* Transport state (virtio_pci_vmstate). */
    uint32_t device_feature_select;
    uint32_t driver_feature_select;
    uint16_t msix_config;
    uint16_t queue_select;
    uint16_t queue_msix[VIRTIO_QUEUES_MAX];
    uint8_t isr;

    /* Diagnostics, not saved. */
    uint64_t bad_access;   /* accesses of the wrong width or to no register: ignored */
    uint64_t refused;      /* register writes the spec forbids at that time: ignored */
    uint64_t irqs_intx;    /* interrupts raised as INTx */
    uint64_t irqs_msix;    /* interrupts sent as MSI-X (through eventfds or not) */
    uint64_t irqs_dropped; /* MSI-X on, but no vector assigned */
};

/*
 * Wrap vdev (initialised, num_queues final) in a PCI function named name. Returns 0, or
 * -EINVAL when the device's config space does not fit the BAR.
 */
__attribute__((warn_unused_result)) int virtio_pci_init(struct virtio_pci *vp,
                                                        struct virtio_dev *vdev, const char *name);
void virtio_pci_destroy(struct virtio_pci *vp);
void virtio_pci_set_hooks(struct virtio_pci *vp, const struct virtio_pci_hooks *hooks);

/* Handlers of BAR 0 (opaque: the struct virtio_pci), for pci_machine_add. */
extern const struct bus_ops virtio_pci_bar_ops;
uint64_t virtio_pci_bar_read(struct virtio_pci *vp, uint64_t off, unsigned size);
void virtio_pci_bar_write(struct virtio_pci *vp, uint64_t off, uint64_t val, unsigned size);

/* A doorbell that arrived through an eventfd (event loop thread, device lock held). */
void virtio_pci_queue_kick(struct virtio_pci *vp, unsigned q);

/* Transport reset: vectors to NO_VECTOR, ISR and INTx clear, selects 0; then the device. */
void virtio_pci_reset(struct virtio_pci *vp);

/* Transport state: selects, vectors, ISR. post_load refuses vectors out of range. */
extern const struct vmstate virtio_pci_vmstate;
struct device virtio_pci_device(struct virtio_pci *vp);

#endif
