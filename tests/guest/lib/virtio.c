// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PCI configuration mechanism #1 and a polling virtio-pci (modern, 1.x 4.1) driver for the
 * guest test kit: enough to find a device, negotiate, set up split queues and wait for used
 * buffers. No interrupts: the tests poll the used ring at CPL3.
 */
#include "guest.h"
#include "virtio_guest.h"

#define PCI_CAP_VNDR 0x09
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR 3
#define CAP_DEVICE 4

/* struct virtio_pci_common_cfg */
#define C_DFSELECT 0x00
#define C_DF 0x04
#define C_GFSELECT 0x08
#define C_GF 0x0c
#define C_NUMQ 0x12
#define C_STATUS 0x14
#define C_CFGGEN 0x15
#define C_Q_SELECT 0x16
#define C_Q_SIZE 0x18
#define C_Q_MSIX 0x1a
#define C_Q_ENABLE 0x1c
#define C_Q_NOFF 0x1e
#define C_Q_DESC 0x20
#define C_Q_AVAIL 0x28
#define C_Q_USED 0x30

static uint32_t cf8(unsigned dev, unsigned fn, unsigned reg)
{
    return 0x80000000u | dev << 11 | fn << 8 | (reg & 0xfc);
}

uint32_t pci_cfg_read32(unsigned dev, unsigned fn, unsigned reg)
{
    outl(0xcf8, cf8(dev, fn, reg));
    return inl(0xcfc);
}

uint16_t pci_cfg_read16(unsigned dev, unsigned fn, unsigned reg)
{
    outl(0xcf8, cf8(dev, fn, reg));
    return inw((uint16_t)(0xcfc + (reg & 2)));
}

uint8_t pci_cfg_read8(unsigned dev, unsigned fn, unsigned reg)
{
    outl(0xcf8, cf8(dev, fn, reg));
    return inb((uint16_t)(0xcfc + (reg & 3)));
}

void pci_cfg_write32(unsigned dev, unsigned fn, unsigned reg, uint32_t v)
{
    outl(0xcf8, cf8(dev, fn, reg));
    outl(0xcfc, v);
}

void pci_cfg_write16(unsigned dev, unsigned fn, unsigned reg, uint16_t v)
{
    outl(0xcf8, cf8(dev, fn, reg));
    outw((uint16_t)(0xcfc + (reg & 2)), v);
}

bool pci_find(uint16_t vendor, uint16_t device, unsigned nth, unsigned *dev, unsigned *fn)
{
    for (unsigned d = 0; d < 32; d++) {
        for (unsigned f = 0; f < 8; f++) {
            uint32_t id = pci_cfg_read32(d, f, 0);
            if ((id & 0xffff) == 0xffff) {
                if (f == 0) {
                    break;
                }
                continue;
            }
            if ((id & 0xffff) == vendor && (id >> 16) == device && nth-- == 0) {
                *dev = d;
                *fn = f;
                return true;
            }
            if (f == 0 && !(pci_cfg_read8(d, f, 0x0e) & 0x80)) {
                break;
            }
        }
    }
    return false;
}

uint64_t pci_bar_mem(unsigned dev, unsigned fn, unsigned bar)
{
    uint32_t lo = pci_cfg_read32(dev, fn, 0x10 + 4 * bar);
    if (lo & 1) {
        return 0;
    }
    uint64_t a = lo & ~0xfull;
    if ((lo & 6) == 4 && bar < 5) {
        a |= (uint64_t)pci_cfg_read32(dev, fn, 0x10 + 4 * (bar + 1)) << 32;
    }
    return a;
}

static uintptr_t cap_addr(struct vpci *d, unsigned cap, uint32_t *len)
{
    unsigned bar = pci_cfg_read8(d->dev, d->fn, cap + 4);
    uint32_t off = pci_cfg_read32(d->dev, d->fn, cap + 8);
    *len = pci_cfg_read32(d->dev, d->fn, cap + 12);
    if (bar > 5) {
        return 0;
    }
    uint64_t base = pci_bar_mem(d->dev, d->fn, bar);
    /* The kit maps the first 4 GiB only. */
    if (base == 0 || base + off + *len > (4ull << 30)) {
        printf("virtio: BAR%u at %#lx is not usable here\n", bar, base);
        return 0;
    }
    return (uintptr_t)(base + off);
}

int vpci_find(uint16_t id, unsigned nth, struct vpci *d)
{
    memset(d, 0, sizeof(*d));
    if (!pci_find(VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_MODERN_BASE + id), nth, &d->dev,
                  &d->fn)) {
        printf("virtio: no device %04x:%04x\n", VIRTIO_PCI_VENDOR, VIRTIO_PCI_MODERN_BASE + id);
        return -1;
    }
    d->device_id = id;
    /* Memory decoding and bus mastering (the device reads our rings). */
    uint16_t cmd = pci_cfg_read16(d->dev, d->fn, 0x04);
    pci_cfg_write16(d->dev, d->fn, 0x04, cmd | 0x6);
    if (!(pci_cfg_read16(d->dev, d->fn, 0x06) & 0x10)) {
        printf("virtio: no capability list\n");
        return -2;
    }
    unsigned cap = pci_cfg_read8(d->dev, d->fn, 0x34) & 0xfc;
    for (unsigned hops = 0; cap && hops < 48; hops++) {
        uint8_t cid = pci_cfg_read8(d->dev, d->fn, cap);
        if (cid == PCI_CAP_VNDR) {
            uint8_t type = pci_cfg_read8(d->dev, d->fn, cap + 3);
            uint32_t len;
            /* The first capability of each type is the preferred one (4.1.4). */
            if (type == CAP_COMMON && !d->common) {
                d->common = cap_addr(d, cap, &len);
            } else if (type == CAP_ISR && !d->isr) {
                d->isr = cap_addr(d, cap, &len);
            } else if (type == CAP_DEVICE && !d->device) {
                d->device = cap_addr(d, cap, &len);
                d->device_len = len;
            } else if (type == CAP_NOTIFY && !d->notify) {
                d->notify = cap_addr(d, cap, &len);
                d->notify_mult = pci_cfg_read32(d->dev, d->fn, cap + 16);
            }
        }
        cap = pci_cfg_read8(d->dev, d->fn, cap + 1) & 0xfc;
    }
    if (!d->common || !d->notify) {
        printf("virtio: common %#lx notify %#lx: capability missing\n", (uint64_t)d->common,
               (uint64_t)d->notify);
        return -3;
    }
    return 0;
}

uint8_t vpci_status(struct vpci *d)
{
    return mmio_read8(d->common + C_STATUS);
}

uint16_t vpci_num_queues(struct vpci *d)
{
    return mmio_read16(d->common + C_NUMQ);
}

uint8_t vpci_config_generation(struct vpci *d)
{
    return mmio_read8(d->common + C_CFGGEN);
}

int vpci_reset(struct vpci *d)
{
    mmio_write8(d->common + C_STATUS, 0);
    for (unsigned i = 0; vpci_status(d) != 0; i++) {
        if (i > 1000) {
            printf("virtio: reset does not complete (status %#x)\n", vpci_status(d));
            return -1;
        }
        udelay(100);
    }
    mmio_write8(d->common + C_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
    mmio_write8(d->common + C_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    return 0;
}

int vpci_negotiate(struct vpci *d, uint64_t want)
{
    mmio_write32(d->common + C_DFSELECT, 0);
    uint64_t f = mmio_read32(d->common + C_DF);
    mmio_write32(d->common + C_DFSELECT, 1);
    f |= (uint64_t)mmio_read32(d->common + C_DF) << 32;
    d->features = f;
    if (!(f & (1ull << VIRTIO_F_VERSION_1))) {
        printf("virtio: device does not offer VERSION_1\n");
        return -1;
    }
    uint64_t acc = (want | (1ull << VIRTIO_F_VERSION_1)) & f;
    mmio_write32(d->common + C_GFSELECT, 0);
    mmio_write32(d->common + C_GF, (uint32_t)acc);
    mmio_write32(d->common + C_GFSELECT, 1);
    mmio_write32(d->common + C_GF, (uint32_t)(acc >> 32));
    uint8_t s = vpci_status(d);
    mmio_write8(d->common + C_STATUS, s | VIRTIO_STATUS_FEATURES_OK);
    if (!(vpci_status(d) & VIRTIO_STATUS_FEATURES_OK)) {
        printf("virtio: FEATURES_OK did not stick (status %#x)\n", vpci_status(d));
        return -2;
    }
    return 0;
}

static void write64(uintptr_t a, uint64_t v)
{
    /* Two dwords, low first, as Linux does. */
    mmio_write32(a, (uint32_t)v);
    mmio_write32(a + 4, (uint32_t)(v >> 32));
}

int vq_setup(struct vpci *d, struct vq *vq, unsigned q, struct vq_mem *mem, uint16_t max)
{
    memset(vq, 0, sizeof(*vq));
    memset(mem, 0, sizeof(*mem));
    mmio_write16(d->common + C_Q_SELECT, (uint16_t)q);
    uint16_t size = mmio_read16(d->common + C_Q_SIZE);
    if (size == 0) {
        printf("virtio: queue %u does not exist\n", q);
        return -1;
    }
    if (max > VQ_MAX) {
        max = VQ_MAX;
    }
    while (size > max) {
        size >>= 1; /* stays a power of 2 */
    }
    mmio_write16(d->common + C_Q_SIZE, size);
    if (mmio_read16(d->common + C_Q_SIZE) != size) {
        printf("virtio: queue %u size %u not taken\n", q, size);
        return -2;
    }
    mmio_write16(d->common + C_Q_MSIX, 0xffff); /* polled */
    write64(d->common + C_Q_DESC, (uintptr_t)mem->desc);
    write64(d->common + C_Q_AVAIL, (uintptr_t)&mem->avail);
    write64(d->common + C_Q_USED, (uintptr_t)&mem->used);
    uint16_t noff = mmio_read16(d->common + C_Q_NOFF);
    mmio_write16(d->common + C_Q_ENABLE, 1);
    if (mmio_read16(d->common + C_Q_ENABLE) != 1) {
        printf("virtio: queue %u did not enable\n", q);
        return -3;
    }
    vq->d = d;
    vq->index = q;
    vq->size = size;
    vq->mem = mem;
    vq->doorbell = d->notify + (uintptr_t)noff * d->notify_mult;
    return 0;
}

int vpci_msix_setup(struct vpci *d, unsigned entry, uint8_t vector)
{
    unsigned cap = pci_cfg_read8(d->dev, d->fn, 0x34) & 0xfc;
    for (unsigned hops = 0; cap && hops < 48; hops++) {
        if (pci_cfg_read8(d->dev, d->fn, cap) == 0x11) {
            break;
        }
        cap = pci_cfg_read8(d->dev, d->fn, cap + 1) & 0xfc;
    }
    if (!cap) {
        return -1;
    }
    unsigned nvec = (pci_cfg_read16(d->dev, d->fn, cap + 2) & 0x7ff) + 1;
    uint32_t tbl = pci_cfg_read32(d->dev, d->fn, cap + 4);
    uint64_t base = pci_bar_mem(d->dev, d->fn, tbl & 7);
    if (entry >= nvec || base == 0 || base >= (4ull << 30)) {
        return -2;
    }
    uintptr_t e = (uintptr_t)(base + (tbl & ~7u) + 16 * entry);
    mmio_write32(e, 0xfee00000u | (lapic_id() & 0xff) << 12);
    mmio_write32(e + 4, 0);
    mmio_write32(e + 8, vector); /* fixed delivery, edge */
    mmio_write32(e + 12, 0);     /* unmasked */
    uint16_t ctrl = pci_cfg_read16(d->dev, d->fn, cap + 2);
    pci_cfg_write16(d->dev, d->fn, cap + 2, (uint16_t)((ctrl | 0x8000) & ~0x4000));
    return (int)nvec;
}

uint16_t vq_set_vector(struct vq *vq, uint16_t v)
{
    mmio_write16(vq->d->common + C_Q_SELECT, (uint16_t)vq->index);
    mmio_write16(vq->d->common + C_Q_MSIX, v);
    return mmio_read16(vq->d->common + C_Q_MSIX);
}

uint16_t vpci_set_config_vector(struct vpci *d, uint16_t v)
{
    mmio_write16(d->common + 0x10, v);
    return mmio_read16(d->common + 0x10);
}

void vpci_driver_ok(struct vpci *d)
{
    mmio_write8(d->common + C_STATUS, vpci_status(d) | VIRTIO_STATUS_DRIVER_OK);
}

uint16_t vq_post(struct vq *vq, const void *buf, uint32_t len, bool writable)
{
    uint16_t head = vq->next_desc;
    vq->next_desc = (uint16_t)((vq->next_desc + 1) % vq->size);
    volatile struct virtq_desc *desc = &vq->mem->desc[head];
    desc->addr = (uintptr_t)buf;
    desc->len = len;
    desc->flags = writable ? VIRTQ_DESC_F_WRITE : 0;
    desc->next = 0;
    volatile uint16_t *ring = vq->mem->avail.ring;
    ring[vq->avail_idx % vq->size] = head;
    barrier(); /* x86 keeps stores in order; the compiler must too */
    vq->avail_idx++;
    *(volatile uint16_t *)&vq->mem->avail.idx = vq->avail_idx;
    return head;
}

void vq_kick(struct vq *vq)
{
    __asm__ volatile("mfence" ::: "memory");
    mmio_write16(vq->doorbell, (uint16_t)vq->index);
}

bool vq_poll(struct vq *vq, uint32_t *id, uint32_t *len, unsigned timeout_ms)
{
    /* A bound in TSC cycles, assuming at most 4 GHz: never shorter than asked. */
    uint64_t start = rdtsc(), limit = (uint64_t)timeout_ms * 4000000ull;
    while (*(volatile uint16_t *)&vq->mem->used.idx == vq->last_used) {
        if (rdtsc() - start > limit) {
            return false;
        }
        cpu_relax();
    }
    barrier();
    volatile uint32_t *e = &vq->mem->used.ring[vq->last_used % vq->size].id;
    *id = e[0];
    *len = e[1];
    vq->last_used++;
    return true;
}
