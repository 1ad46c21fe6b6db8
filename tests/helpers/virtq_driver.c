// SPDX-License-Identifier: GPL-2.0-or-later
/* The test driver's side of split virtqueues (see virtq_driver.h). */
#include "tests/helpers/virtq_driver.h"

#include <string.h>

static void put16(struct vdrv *d, uint64_t gpa, uint16_t v)
{
    memcpy(d->ram + gpa, &v, 2);
}

static uint16_t get16(const struct vdrv *d, uint64_t gpa)
{
    uint16_t v;
    memcpy(&v, d->ram + gpa, 2);
    return v;
}

int vdrv_negotiate(struct virtio_dev *dev, uint64_t features)
{
    virtio_dev_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
    virtio_dev_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_dev_set_driver_features(dev, features);
    return virtio_dev_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                          VIRTIO_STATUS_FEATURES_OK);
}

int vdrv_driver_ok(struct virtio_dev *dev)
{
    return virtio_dev_set_status(dev, dev->status | VIRTIO_STATUS_DRIVER_OK);
}

int vdrv_setup(struct vdrv *d, struct virtio_dev *dev, unsigned q, uint8_t *ram, uint64_t base,
               uint16_t size, uint64_t heap, uint64_t heap_end)
{
    memset(d, 0, sizeof(*d));
    d->dev = dev;
    d->q = q;
    d->ram = ram;
    d->size = size;
    d->desc = base;
    d->avail = d->desc + VIRTQ_DESC_AREA(size);
    d->used = (d->avail + VIRTQ_AVAIL_AREA(size) + 3) & ~3ull;
    memset(ram + base, 0, d->used + VIRTQ_USED_AREA(size) - base);
    d->heap = heap;
    d->heap_end = heap_end;
    struct virtqueue *vq = virtio_dev_queue(dev, q);
    if (!vq) {
        return -1;
    }
    int r = virtqueue_set_size(vq, size);
    if (r == 0) {
        r = virtqueue_set_addrs(vq, d->desc, d->avail, d->used);
    }
    return r ? r : virtqueue_enable(vq);
}

uint64_t vdrv_alloc(struct vdrv *d, uint32_t len)
{
    uint64_t a = d->heap;
    d->heap = (d->heap + len + 15) & ~15ull;
    if (d->heap > d->heap_end) {
        d->heap = d->heap_end;
    }
    return a;
}

void vdrv_indirect_desc(struct vdrv *d, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                        uint16_t flags, uint16_t next)
{
    uint8_t *p = d->ram + table + 16 * (uint64_t)i;
    memcpy(p, &addr, 8);
    memcpy(p + 8, &len, 4);
    memcpy(p + 12, &flags, 2);
    memcpy(p + 14, &next, 2);
}

void vdrv_desc(struct vdrv *d, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
               uint16_t next)
{
    vdrv_indirect_desc(d, d->desc, i, addr, len, flags, next);
}

uint16_t vdrv_chain(struct vdrv *d, const uint32_t *lens, unsigned nr, unsigned nw, uint64_t *addrs)
{
    uint16_t head = d->next_desc;
    unsigned n = nr + nw;
    for (unsigned k = 0; k < n; k++) {
        uint16_t i = d->next_desc;
        d->next_desc = (uint16_t)((d->next_desc + 1) % d->size);
        uint64_t a = vdrv_alloc(d, lens[k]);
        if (addrs) {
            addrs[k] = a;
        }
        uint16_t flags = (k >= nr ? VIRTQ_DESC_F_WRITE : 0) | (k + 1 < n ? VIRTQ_DESC_F_NEXT : 0);
        vdrv_desc(d, i, a, lens[k], flags, d->next_desc);
    }
    return head;
}

void vdrv_post(struct vdrv *d, uint16_t head)
{
    put16(d, d->avail + 4 + 2 * (uint64_t)(d->avail_idx % d->size), head);
    d->avail_idx++;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    put16(d, d->avail + 2, d->avail_idx);
}

void vdrv_set_avail_idx(struct vdrv *d, uint16_t idx)
{
    d->avail_idx = idx;
    put16(d, d->avail + 2, idx);
}

uint16_t vdrv_used_idx(const struct vdrv *d)
{
    return get16(d, d->used + 2);
}

bool vdrv_get_used(struct vdrv *d, uint32_t *id, uint32_t *len)
{
    if (vdrv_used_idx(d) == d->last_used) {
        return false;
    }
    const uint8_t *e = d->ram + d->used + 4 + 8 * (uint64_t)(d->last_used % d->size);
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
    d->last_used++;
    return true;
}

void vdrv_set_used_event(struct vdrv *d, uint16_t v)
{
    put16(d, d->avail + 4 + 2 * (uint64_t)d->size, v);
}

void vdrv_set_avail_flags(struct vdrv *d, uint16_t v)
{
    put16(d, d->avail, v);
}

uint16_t vdrv_avail_event(const struct vdrv *d)
{
    return get16(d, d->used + 4 + 8 * (uint64_t)d->size);
}

uint16_t vdrv_used_flags(const struct vdrv *d)
{
    return get16(d, d->used);
}
