// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio over PCI, modern interface (virtio 1.x 4.1): the vendor capabilities, the common
 * configuration registers with their per-field rules, the ISR with read-to-clear INTx, the
 * doorbells and MSI-X vector assignment, all in BAR 0. Every register value is guest-
 * controlled; a write the spec forbids at that moment is refused and counted, never trusted.
 */
#include "io/virtio_pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vmm/device.h"

#define CAP_LEN 16         /* struct virtio_pci_cap */
#define NOTIFY_CAP_LEN 20  /* + notify_off_multiplier */
#define PCI_CFG_CAP_LEN 20 /* + pci_cfg_data[4] */

/* Class codes by device type, as QEMU gives them (drivers bind by ID, not class). */
static uint32_t class_for(uint16_t device_id)
{
    switch (device_id) {
    case 1: /* net */
        return 0x020000;
    case 2: /* block */
        return 0x010000;
    case VIRTIO_ID_CONSOLE:
        return 0x078000;
    default:
        return 0xff0000;
    }
}

static int add_vndr_cap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len,
                        unsigned cap_len, unsigned *at)
{
    int r = pci_add_cap(&vp->pci, PCI_CAP_ID_VNDR, cap_len, at);
    if (r < 0) {
        return r;
    }
    uint8_t *c = vp->pci.cfg + *at;
    c[2] = (uint8_t)cap_len;
    c[3] = type;
    c[4] = VIRTIO_PCI_BAR;
    pci_put_le(c + 8, off, 4);
    pci_put_le(c + 12, len, 4);
    return 0;
}

/* ---- The VIRTIO_PCI_CAP_PCI_CFG window (4.1.4.8) ----------------------------------------- */

static unsigned pci_cfg_cap(const struct virtio_pci *vp)
{
    return vp->pci.dev_cfg_start - CAP_LEN;
}

/* The window's bar/offset/length as the driver programmed them, or false when unusable. */
static bool cfg_window(const struct virtio_pci *vp, uint32_t *off, unsigned *len)
{
    const uint8_t *c = vp->pci.cfg + pci_cfg_cap(vp);
    *off = pci_get_le(c + 8, 4);
    *len = pci_get_le(c + 12, 4);
    /* guest-controlled: bar, offset and length all come from the driver */
    return c[4] == VIRTIO_PCI_BAR && (*len == 1 || *len == 2 || *len == 4) &&
           (*off & (*len - 1)) == 0 && *off < VIRTIO_PCI_BAR_SIZE;
}

static uint32_t cap_cfg_read(void *opaque, unsigned off, unsigned size)
{
    struct virtio_pci *vp = opaque;
    uint32_t boff;
    unsigned len;
    if (off != vp->pci.dev_cfg_start || !cfg_window(vp, &boff, &len) || size < len) {
        vp->bad_access++;
        return 0;
    }
    return (uint32_t)virtio_pci_bar_read(vp, boff, len);
}

static void cap_cfg_write(void *opaque, unsigned off, uint32_t val, unsigned size)
{
    struct virtio_pci *vp = opaque;
    uint32_t boff;
    unsigned len;
    if (off != vp->pci.dev_cfg_start || !cfg_window(vp, &boff, &len) || size < len) {
        vp->bad_access++;
        return;
    }
    virtio_pci_bar_write(vp, boff, val, len);
}

static void on_bar_moved(void *opaque, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
    struct virtio_pci *vp = opaque;
    if (bar != VIRTIO_PCI_BAR) {
        return;
    }
    uint64_t next = new_addr == PCI_BAR_UNMAPPED ? new_addr : new_addr + VIRTIO_PCI_NOTIFY_OFF;
    uint64_t prev = vp->notify_addr;
    (void)old_addr;
    vp->notify_addr = next;
    if (prev != next && vp->hooks.notify_moved) {
        vp->hooks.notify_moved(vp->hooks.opaque, prev, next);
    }
}

static const struct pci_dev_ops virtio_pci_dev_ops = {
    .cfg_read = cap_cfg_read,
    .cfg_write = cap_cfg_write,
    .bar_moved = on_bar_moved,
};

/* ---- Interrupts --------------------------------------------------------------------------- */

static void release_vectors(struct virtio_pci *vp)
{
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        vp->vec_fd[v] = -1;
    }
    if (vp->hooks.vectors_release) {
        vp->hooks.vectors_release(vp->hooks.opaque);
    }
}

static void send_msix(struct virtio_pci *vp, unsigned vector)
{
    if (vector >= vp->nvec) {
        vp->irqs_dropped++; /* NO_VECTOR: the driver asked for no interrupt */
        return;
    }
    vp->irqs_msix++;
    if (vp->vec_fd[vector] < 0 && vp->hooks.vector_fd) {
        int fd = vp->hooks.vector_fd(vp->hooks.opaque, vector);
        vp->vec_fd[vector] = fd >= 0 ? fd : -1;
    }
    if (vp->vec_fd[vector] >= 0) {
        /* KVM's irqfd delivers it (or, while the vector is masked, the count waits). */
        uint64_t one = 1;
        if (write(vp->vec_fd[vector], &one, sizeof(one)) == (ssize_t)sizeof(one)) {
            return;
        }
    }
    pci_msix_notify(&vp->pci, vector);
}

static void interrupt(void *transport, unsigned kind, unsigned q)
{
    struct virtio_pci *vp = transport;
    if (pci_msix_enabled(&vp->pci)) {
        unsigned vector = kind == VIRTIO_IRQ_CONFIG ? vp->msix_config
                          : q < VIRTIO_QUEUES_MAX   ? vp->queue_msix[q]
                                                    : VIRTIO_MSI_NO_VECTOR;
        send_msix(vp, vector);
        return;
    }
    /* INTx: the ISR says why; reading it lowers the line (4.1.4.5). */
    vp->irqs_intx++;
    vp->isr |= (uint8_t)kind;
    pci_set_irq(&vp->pci, true);
}

/* ---- Common configuration ---------------------------------------------------------------- */

static struct virtqueue *selected(struct virtio_pci *vp)
{
    return virtio_dev_queue(vp->vdev, vp->queue_select); /* NULL when out of range */
}

static uint16_t checked_vector(const struct virtio_pci *vp, uint64_t v)
{
    /* guest-controlled: a vector the function does not have reads back as NO_VECTOR */
    return v < vp->nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
}

/* Natural width of the field at off, 0 for none; 64-bit fields may be split in dwords. */
static unsigned field_ok(uint64_t off, unsigned size)
{
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
    case VIRTIO_PCI_COMMON_DF:
    case VIRTIO_PCI_COMMON_GFSELECT:
    case VIRTIO_PCI_COMMON_GF:
        return size == 4;
    case VIRTIO_PCI_COMMON_STATUS:
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return size == 1;
    case VIRTIO_PCI_COMMON_MSIX:
    case VIRTIO_PCI_COMMON_NUMQ:
    case VIRTIO_PCI_COMMON_Q_SELECT:
    case VIRTIO_PCI_COMMON_Q_SIZE:
    case VIRTIO_PCI_COMMON_Q_MSIX:
    case VIRTIO_PCI_COMMON_Q_ENABLE:
    case VIRTIO_PCI_COMMON_Q_NOFF:
        return size == 2;
    case VIRTIO_PCI_COMMON_Q_DESCLO:
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
    case VIRTIO_PCI_COMMON_Q_USEDLO:
        return size == 4 || size == 8;
    case VIRTIO_PCI_COMMON_Q_DESCHI:
    case VIRTIO_PCI_COMMON_Q_AVAILHI:
    case VIRTIO_PCI_COMMON_Q_USEDHI:
        return size == 4;
    default:
        return 0;
    }
}

static uint64_t *queue_addr(struct virtqueue *vq, uint64_t off)
{
    switch (off & ~7ull) {
    case VIRTIO_PCI_COMMON_Q_DESCLO:
        return &vq->desc_gpa;
    case VIRTIO_PCI_COMMON_Q_AVAILLO:
        return &vq->avail_gpa;
    default:
        return &vq->used_gpa;
    }
}

static uint64_t common_read(struct virtio_pci *vp, uint64_t off, unsigned size)
{
    struct virtio_dev *d = vp->vdev;
    struct virtqueue *vq = selected(vp);
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        return vp->device_feature_select;
    case VIRTIO_PCI_COMMON_DF:
        return vp->device_feature_select < 2
                   ? (uint32_t)(d->device_features >> (32 * vp->device_feature_select))
                   : 0;
    case VIRTIO_PCI_COMMON_GFSELECT:
        return vp->driver_feature_select;
    case VIRTIO_PCI_COMMON_GF:
        return vp->driver_feature_select < 2
                   ? (uint32_t)(d->driver_features >> (32 * vp->driver_feature_select))
                   : 0;
    case VIRTIO_PCI_COMMON_MSIX:
        return vp->msix_config;
    case VIRTIO_PCI_COMMON_NUMQ:
        return d->num_queues;
    case VIRTIO_PCI_COMMON_STATUS:
        return d->status;
    case VIRTIO_PCI_COMMON_CFGGENERATION:
        return d->config_generation;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        return vp->queue_select;
    case VIRTIO_PCI_COMMON_Q_SIZE:
        return vq ? vq->size : 0; /* 0: no such queue (4.1.4.3.2) */
    case VIRTIO_PCI_COMMON_Q_MSIX:
        return vq ? vp->queue_msix[vp->queue_select] : VIRTIO_MSI_NO_VECTOR;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        return vq ? vq->enabled : 0;
    case VIRTIO_PCI_COMMON_Q_NOFF:
        return vq ? vp->queue_select : 0;
    default: {
        if (!vq) {
            return 0;
        }
        uint64_t a = *queue_addr(vq, off);
        return size == 8 ? a : (uint32_t)(a >> ((off & 4) ? 32 : 0));
    }
    }
}

static void status_write(struct virtio_pci *vp, uint8_t v)
{
    int r = virtio_dev_set_status(vp->vdev, v);
    if (v == 0) {
        virtio_pci_reset(vp);
    } else if (r == -EINVAL) {
        vp->refused++;
    }
}

static void common_write(struct virtio_pci *vp, uint64_t off, uint64_t val, unsigned size)
{
    struct virtio_dev *d = vp->vdev;
    struct virtqueue *vq = selected(vp);
    switch (off) {
    case VIRTIO_PCI_COMMON_DFSELECT:
        vp->device_feature_select = (uint32_t)val;
        return;
    case VIRTIO_PCI_COMMON_GFSELECT:
        vp->driver_feature_select = (uint32_t)val;
        return;
    case VIRTIO_PCI_COMMON_GF: {
        /* guest-controlled: select > 1 names features that do not exist */
        if (vp->driver_feature_select > 1) {
            vp->refused++;
            return;
        }
        unsigned shift = 32 * vp->driver_feature_select;
        uint64_t f = (d->driver_features & ~(0xffffffffull << shift)) | (val << shift);
        if (virtio_dev_set_driver_features(d, f) < 0) {
            vp->refused++; /* after FEATURES_OK */
        }
        return;
    }
    case VIRTIO_PCI_COMMON_MSIX:
        vp->msix_config = checked_vector(vp, val);
        return;
    case VIRTIO_PCI_COMMON_STATUS:
        status_write(vp, (uint8_t)val);
        return;
    case VIRTIO_PCI_COMMON_Q_SELECT:
        vp->queue_select = (uint16_t)val; /* checked at use: out of range reads size 0 */
        return;
    case VIRTIO_PCI_COMMON_DF:
    case VIRTIO_PCI_COMMON_NUMQ:
    case VIRTIO_PCI_COMMON_CFGGENERATION:
    case VIRTIO_PCI_COMMON_Q_NOFF:
        vp->refused++; /* read-only */
        return;
    default:
        break;
    }
    /* Queue registers: only for an existing queue, and only while it is disabled. */
    if (!vq) {
        vp->refused++;
        return;
    }
    switch (off) {
    case VIRTIO_PCI_COMMON_Q_MSIX:
        vp->queue_msix[vp->queue_select] = checked_vector(vp, val);
        return;
    case VIRTIO_PCI_COMMON_Q_SIZE:
        /* guest-controlled: a power of 2 up to the maximum, and not while enabled */
        if (virtqueue_set_size(vq, (uint32_t)val) < 0) {
            vp->refused++;
        }
        return;
    case VIRTIO_PCI_COMMON_Q_ENABLE:
        if (val != 1 || vq->enabled) {
            vp->refused++; /* the driver must not write 0 (4.1.4.3.2); 1 twice is a no-op */
            return;
        }
        if (!(d->status & VIRTIO_STATUS_FEATURES_OK) || (d->status & VIRTIO_STATUS_DRIVER_OK)) {
            /* guest-controlled: queues are set up between FEATURES_OK and DRIVER_OK */
            virtio_dev_set_error(d, "queue %u enabled in status %#x", vp->queue_select, d->status);
            return;
        }
        /* A bad layout puts the device into NEEDS_RESET inside virtqueue_enable(). */
        if (virtqueue_enable(vq) < 0) {
            vp->refused++;
        }
        return;
    default: {
        if (vq->enabled) {
            vp->refused++; /* guest-controlled: addresses are fixed once enabled */
            return;
        }
        uint64_t *a = queue_addr(vq, off);
        uint64_t v;
        if (size == 8) {
            v = val;
        } else if (off & 4) {
            v = (*a & 0xffffffffull) | (val << 32);
        } else {
            v = (*a & ~0xffffffffull) | (val & 0xffffffffull);
        }
        uint64_t desc = vq->desc_gpa, avail = vq->avail_gpa, used = vq->used_gpa;
        if (a == &vq->desc_gpa) {
            desc = v;
        } else if (a == &vq->avail_gpa) {
            avail = v;
        } else {
            used = v;
        }
        (void)virtqueue_set_addrs(vq, desc, avail, used); /* checked at enable */
        return;
    }
    }
}

/* ---- BAR 0 ------------------------------------------------------------------------------- */

static bool in(uint64_t off, unsigned size, uint64_t start, uint64_t len)
{
    return off >= start && off - start < len && size <= len - (off - start);
}

uint64_t virtio_pci_bar_read(struct virtio_pci *vp, uint64_t off, unsigned size)
{
    uint64_t v;
    if (pci_msix_bar_read(&vp->pci, VIRTIO_PCI_BAR, off, size, &v)) {
        return v;
    }
    /* guest-controlled: offset and width of every access */
    if (in(off, size, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN)) {
        uint64_t r = off - VIRTIO_PCI_COMMON_OFF;
        if (!field_ok(r, size)) {
            vp->bad_access++;
            return 0;
        }
        return common_read(vp, r, size);
    }
    if (off == VIRTIO_PCI_ISR_OFF && size == 1) {
        uint8_t isr = vp->isr;
        vp->isr = 0;
        pci_set_irq(&vp->pci, false);
        return isr;
    }
    if (in(off, size, VIRTIO_PCI_DEVICE_OFF, vp->vdev->ops->config_size)) {
        return virtio_dev_config_read(vp->vdev, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), size);
    }
    if (!in(off, size, VIRTIO_PCI_NOTIFY_OFF, VIRTIO_PCI_NOTIFY_MULT * vp->vdev->num_queues)) {
        vp->bad_access++;
    }
    return 0; /* doorbells read 0 */
}

void virtio_pci_bar_write(struct virtio_pci *vp, uint64_t off, uint64_t val, unsigned size)
{
    if (pci_msix_bar_write(&vp->pci, VIRTIO_PCI_BAR, off, val, size)) {
        return;
    }
    /* guest-controlled: offset and width of every access */
    if (in(off, size, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN)) {
        uint64_t r = off - VIRTIO_PCI_COMMON_OFF;
        if (!field_ok(r, size)) {
            vp->bad_access++;
            return;
        }
        common_write(vp, r, val, size);
        return;
    }
    if (in(off, size, VIRTIO_PCI_DEVICE_OFF, vp->vdev->ops->config_size)) {
        virtio_dev_config_write(vp->vdev, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), val, size);
        return;
    }
    if (in(off, size, VIRTIO_PCI_NOTIFY_OFF, VIRTIO_PCI_NOTIFY_MULT * vp->vdev->num_queues)) {
        /* A doorbell the ioeventfd did not catch (other width, or no KVM): on this thread. */
        virtio_pci_queue_kick(vp,
                              (unsigned)((off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT));
        return;
    }
    vp->bad_access++; /* the ISR is read-only; the rest of the BAR is empty */
}

static uint64_t bar_read(void *opaque, uint64_t off, unsigned size)
{
    return virtio_pci_bar_read(opaque, off, size);
}

static void bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    virtio_pci_bar_write(opaque, off, val, size);
}

const struct bus_ops virtio_pci_bar_ops = {
    .read = bar_read,
    .write = bar_write,
    .min_size = 1,
    .max_size = 8,
};

void virtio_pci_queue_kick(struct virtio_pci *vp, unsigned q)
{
    virtio_dev_queue_notify(vp->vdev, q); /* range, liveness and readiness checked there */
}

/* ---- Lifecycle and state ----------------------------------------------------------------- */

void virtio_pci_reset(struct virtio_pci *vp)
{
    if (vp->vdev->status != 0) {
        virtio_dev_reset(vp->vdev);
    }
    vp->device_feature_select = 0;
    vp->driver_feature_select = 0;
    vp->queue_select = 0;
    vp->msix_config = VIRTIO_MSI_NO_VECTOR;
    for (unsigned q = 0; q < VIRTIO_QUEUES_MAX; q++) {
        vp->queue_msix[q] = VIRTIO_MSI_NO_VECTOR;
    }
    vp->isr = 0;
    pci_set_irq(&vp->pci, false);
    release_vectors(vp);
}

int virtio_pci_init(struct virtio_pci *vp, struct virtio_dev *vdev, const char *name)
{
    memset(vp, 0, sizeof(*vp));
    if (!vdev || !vdev->ops || vdev->ops->config_size > VIRTIO_PCI_DEVICE_MAX) {
        return -EINVAL;
    }
    vp->vdev = vdev;
    snprintf(vp->name, sizeof(vp->name), "%s", name ? name : vdev->ops->name);
    snprintf(vp->state_name, sizeof(vp->state_name), "%s.transport", vp->name);
    vp->notify_addr = PCI_BAR_UNMAPPED;
    vp->nvec =
        vdev->num_queues + 1 < PCI_MSIX_MAX_VECTORS ? vdev->num_queues + 1 : PCI_MSIX_MAX_VECTORS;
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        vp->vec_fd[v] = -1;
    }
    struct pci_dev *p = &vp->pci;
    uint16_t id = vdev->ops->device_id;
    int r = pci_dev_init(p, vp->name, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + id),
                         class_for(id), VIRTIO_PCI_REVISION, PCI_INTA);
    if (r < 0) {
        return r;
    }
    pci_dev_set_subsystem(p, VIRTIO_PCI_VENDOR, VIRTIO_PCI_SUBSYS_ID);
    unsigned at;
    if ((r = pci_dev_set_bar(p, VIRTIO_PCI_BAR, PCI_BAR_MEM64, VIRTIO_PCI_BAR_SIZE, false)) < 0 ||
        (r = add_vndr_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF,
                          VIRTIO_PCI_COMMON_LEN, CAP_LEN, &at)) < 0 ||
        (r = add_vndr_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, 1, CAP_LEN, &at)) < 0) {
        return r;
    }
    if (vdev->ops->config_size &&
        (r = add_vndr_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
                          vdev->ops->config_size, CAP_LEN, &at)) < 0) {
        return r;
    }
    if ((r = add_vndr_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
                          VIRTIO_PCI_NOTIFY_MULT * vdev->num_queues, NOTIFY_CAP_LEN, &at)) < 0) {
        return r;
    }
    pci_put_le(p->cfg + at + 16, VIRTIO_PCI_NOTIFY_MULT, 4);
    /* The PCI configuration access window: bar, offset, length and data are the driver's. */
    if ((r = add_vndr_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, PCI_CFG_CAP_LEN, &at)) < 0) {
        return r;
    }
    p->cfg[at + 4] = 0;
    static const uint8_t ones[12] = {0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    pci_set_wmask(p, at + 4, ones, sizeof(ones));
    pci_set_dev_cfg_range(p, at + CAP_LEN, at + PCI_CFG_CAP_LEN);
    if ((r = pci_msix_init(p, vp->nvec, VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_TABLE_OFF, VIRTIO_PCI_BAR,
                           VIRTIO_PCI_MSIX_PBA_OFF)) < 0) {
        return r;
    }
    pci_dev_set_ops(p, &virtio_pci_dev_ops, vp);
    pci_dev_realize(p);
    virtio_dev_set_interrupt(vdev, interrupt, vp);
    virtio_pci_reset(vp);
    return 0;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
    if (!vp || !vp->vdev) {
        return;
    }
    virtio_dev_set_interrupt(vp->vdev, NULL, NULL);
    pci_dev_destroy(&vp->pci);
    vp->vdev = NULL;
}

void virtio_pci_set_hooks(struct virtio_pci *vp, const struct virtio_pci_hooks *hooks)
{
    vp->hooks = hooks ? *hooks : (struct virtio_pci_hooks){0};
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        vp->vec_fd[v] = -1;
    }
}

static int virtio_pci_post_load(void *opaque)
{
    struct virtio_pci *vp = opaque;
    /* Saved state is hostile input: vectors the function has, ISR bits that exist. */
    if ((vp->msix_config != VIRTIO_MSI_NO_VECTOR && vp->msix_config >= vp->nvec) ||
        (vp->isr & ~(VIRTIO_IRQ_QUEUE | VIRTIO_IRQ_CONFIG))) {
        return -EINVAL;
    }
    for (unsigned q = 0; q < VIRTIO_QUEUES_MAX; q++) {
        if (vp->queue_msix[q] != VIRTIO_MSI_NO_VECTOR && vp->queue_msix[q] >= vp->nvec) {
            return -EINVAL;
        }
    }
    /* Eventfds are asked for again at each vector's next interrupt. */
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        vp->vec_fd[v] = -1;
    }
    return 0;
}

static const struct vmstate_field virtio_pci_fields[] = {
    VMSTATE_FIELD(struct virtio_pci, device_feature_select),
    VMSTATE_FIELD(struct virtio_pci, driver_feature_select),
    VMSTATE_FIELD(struct virtio_pci, msix_config),
    VMSTATE_FIELD(struct virtio_pci, queue_select),
    VMSTATE_ARRAY(struct virtio_pci, queue_msix),
    VMSTATE_FIELD(struct virtio_pci, isr),
    VMSTATE_END,
};

const struct vmstate virtio_pci_vmstate = {
    .name = "virtio-pci",
    .version = 1,
    .fields = virtio_pci_fields,
    .post_load = virtio_pci_post_load,
};

static void reset_adapter(void *opaque)
{
    virtio_pci_reset(opaque);
}

struct device virtio_pci_device(struct virtio_pci *vp)
{
    return (struct device){
        .name = vp->state_name,
        .opaque = vp,
        .reset = reset_adapter,
        .state = &virtio_pci_vmstate,
    };
}
