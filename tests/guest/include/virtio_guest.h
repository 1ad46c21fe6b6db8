/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio_guest.h: the guest test kit's PCI configuration access (mechanism #1, ports
 * 0xCF8/0xCFC, present on deskvm and QEMU q35/pc) and a small polling virtio-pci driver for
 * modern (1.x) devices: capability walk, feature negotiation, split queues, used-ring polling.
 * Everything runs at CPL3 (port I/O through the TSS bitmap, BARs and rings identity-mapped).
 */
#ifndef DESKVM_GUEST_VIRTIO_H
#define DESKVM_GUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

/* ---- PCI configuration, bus 0 ---------------------------------------------------------- */

uint32_t pci_cfg_read32(unsigned dev, unsigned fn, unsigned reg);
uint16_t pci_cfg_read16(unsigned dev, unsigned fn, unsigned reg);
uint8_t pci_cfg_read8(unsigned dev, unsigned fn, unsigned reg);
void pci_cfg_write32(unsigned dev, unsigned fn, unsigned reg, uint32_t v);
void pci_cfg_write16(unsigned dev, unsigned fn, unsigned reg, uint16_t v);
/* Finds the nth (from 0) function with vendor:device on bus 0; false when there is none. */
bool pci_find(uint16_t vendor, uint16_t device, unsigned nth, unsigned *dev, unsigned *fn);
/* BAR bar's memory address (64-bit BARs combined), 0 for an I/O or unassigned BAR. */
uint64_t pci_bar_mem(unsigned dev, unsigned fn, unsigned bar);

/* ---- virtio-pci (virtio 1.x 4.1) -------------------------------------------------------- */

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_MODERN_BASE 0x1040
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80
#define VIRTIO_F_VERSION_1 32

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2

struct vpci {
    unsigned dev, fn;
    uint16_t device_id; /* the virtio device type */
    uintptr_t common;   /* struct virtio_pci_common_cfg */
    uintptr_t isr;      /* 0 when absent */
    uintptr_t device;   /* device config, 0 when absent */
    uint32_t device_len;
    uintptr_t notify; /* queue 0's doorbell area */
    uint32_t notify_mult;
    uint64_t features; /* offered by the device */
};

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

/* Ring memory for a queue of up to VQ_MAX entries, each area on its own page. */
#define VQ_MAX 64
struct vq_mem {
    struct virtq_desc desc[VQ_MAX] __attribute__((aligned(4096)));
    struct {
        uint16_t flags, idx, ring[VQ_MAX], used_event;
    } avail __attribute__((aligned(4096)));
    struct {
        uint16_t flags, idx;
        struct {
            uint32_t id, len;
        } ring[VQ_MAX];
        uint16_t avail_event;
    } used __attribute__((aligned(4096)));
};

struct vq {
    struct vpci *d;
    unsigned index;
    uint16_t size;
    struct vq_mem *mem;
    uintptr_t doorbell;
    uint16_t avail_idx; /* our shadow of avail.idx */
    uint16_t last_used;
    uint16_t next_desc;
};

/*
 * Find the nth virtio device of type id (modern ID 0x1040 + id), enable memory decoding and
 * bus mastering, and walk its vendor capabilities. Returns 0, or a negative value with the
 * reason printed (no such device, no BAR below 4 GiB, missing capability).
 */
int vpci_find(uint16_t id, unsigned nth, struct vpci *d);
/* Reset (status 0, read back until 0), ACKNOWLEDGE | DRIVER. */
int vpci_reset(struct vpci *d);
/* Accept want & offered (VERSION_1 is always asked for), set FEATURES_OK and check it stuck. */
int vpci_negotiate(struct vpci *d, uint64_t want);
/* Set queue q up with at most max entries (<= VQ_MAX) in mem and enable it. */
int vq_setup(struct vpci *d, struct vq *vq, unsigned q, struct vq_mem *mem, uint16_t max);
void vpci_driver_ok(struct vpci *d);
uint8_t vpci_status(struct vpci *d);
uint16_t vpci_num_queues(struct vpci *d);
uint8_t vpci_config_generation(struct vpci *d);

/*
 * MSI-X: program table entry to send vector to this CPU's LAPIC (fixed, edge), unmask it and
 * enable MSI-X in the capability. Returns the table size, or a negative value without MSI-X.
 */
int vpci_msix_setup(struct vpci *d, unsigned entry, uint8_t vector);
/* Assign MSI-X table entry v to the queue (0xffff: none); returns what reads back. */
uint16_t vq_set_vector(struct vq *vq, uint16_t v);
/* The same for configuration changes. */
uint16_t vpci_set_config_vector(struct vpci *d, uint16_t v);

/* Post one buffer (device-writable when writable) as a chain of one; returns the head. */
uint16_t vq_post(struct vq *vq, const void *buf, uint32_t len, bool writable);
void vq_kick(struct vq *vq);
/* Wait up to timeout_ms for the next used entry; false on timeout. */
bool vq_poll(struct vq *vq, uint32_t *id, uint32_t *len, unsigned timeout_ms);

/* MMIO of other widths (BAR registers). */
static inline uint8_t mmio_read8(uintptr_t a)
{
    return *(volatile uint8_t *)a;
}
static inline uint16_t mmio_read16(uintptr_t a)
{
    return *(volatile uint16_t *)a;
}
static inline void mmio_write8(uintptr_t a, uint8_t v)
{
    *(volatile uint8_t *)a = v;
}
static inline void mmio_write16(uintptr_t a, uint16_t v)
{
    *(volatile uint16_t *)a = v;
}

#endif
