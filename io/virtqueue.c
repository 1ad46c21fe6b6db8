// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Split virtqueues, device side (virtio 1.x "Split Virtqueues"): chain walking with
 * indirect tables, the used ring, and notification suppression with or without
 * VIRTIO_F_EVENT_IDX. The driver writes these rings concurrently, so every value read from
 * them is checked, and descriptors are copied out once before they are used.
 */
#include "io/virtqueue.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "io/virtio.h"
#include "vmm/memory.h"

/* One descriptor as the driver lays it out, copied out of guest memory. */
struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
_Static_assert(sizeof(struct virtq_desc) == VIRTQ_DESC_SIZE, "descriptor layout");

/* avail: flags, idx, ring[size], used_event. used: flags, idx, {id, len}[size], avail_event. */
static uint16_t *avail_word(const struct virtqueue *vq, size_t i)
{
    uint16_t *a = vq->avail;
    return &a[i];
}

static uint16_t *used_word(const struct virtqueue *vq, size_t i)
{
    uint16_t *u = vq->used;
    return &u[i];
}

static uint32_t *used_elem(const struct virtqueue *vq, uint16_t slot)
{
    uint32_t *u = vq->used;
    return &u[1 + 2 * (size_t)slot];
}

#define AVAIL_FLAGS(vq) avail_word(vq, 0)
#define AVAIL_IDX(vq) avail_word(vq, 1)
#define AVAIL_RING(vq, i) avail_word(vq, 2 + (size_t)(i))
#define USED_EVENT(vq) avail_word(vq, 2 + (size_t)(vq)->size)
#define USED_FLAGS(vq) used_word(vq, 0)
#define USED_IDX(vq) used_word(vq, 1)
#define AVAIL_EVENT(vq) used_word(vq, 2 + 4 * (size_t)(vq)->size)

static bool event_idx(const struct virtqueue *vq)
{
    return virtio_dev_has_feature(vq->dev, VIRTIO_F_EVENT_IDX);
}

static bool size_valid(uint32_t size, uint16_t max)
{
    return size >= 1 && size <= max && size <= VIRTQ_MAX_SIZE && !(size & (size - 1));
}

__attribute__((format(printf, 3, 4))) static int vq_fail(struct virtqueue *vq, int err,
                                                         const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    vq->broken = 1;
    virtio_dev_set_error(vq->dev, "queue %u: %s", vq->index, msg);
    return err;
}

void virtqueue_reset(struct virtqueue *vq)
{
    vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
    vq->size = vq->max_size;
    vq->enabled = 0;
    vq->last_avail_idx = 0;
    vq->used_idx = 0;
    vq->signalled_used = 0;
    vq->signalled_used_valid = 0;
    vq->notification = 1;
    vq->broken = 0;
    vq->desc = vq->avail = vq->used = NULL;
}

int virtqueue_set_size(struct virtqueue *vq, uint32_t size)
{
    if (vq->enabled) {
        return -EBUSY;
    }
    if (!size_valid(size, vq->max_size)) { /* guest-controlled */
        return -EINVAL;
    }
    vq->size = (uint16_t)size;
    return 0;
}

int virtqueue_set_addrs(struct virtqueue *vq, uint64_t desc, uint64_t avail, uint64_t used)
{
    if (vq->enabled) {
        return -EBUSY;
    }
    vq->desc_gpa = desc;
    vq->avail_gpa = avail;
    vq->used_gpa = used;
    return 0;
}

/*
 * Check the programmed layout and find the host views of the three areas, without side
 * effects so that post_load can refuse a state cleanly.
 */
static int map_rings(const struct virtqueue *vq, void **desc, void **avail, void **used)
{
    const struct guest_mem *mem = vq->dev->mem;
    if (!size_valid(vq->size, vq->max_size)) { /* guest-controlled */
        return -EINVAL;
    }
    /* guest-controlled: misaligned rings would make the atomic accesses below undefined. */
    if ((vq->desc_gpa & (VIRTQ_DESC_ALIGN - 1)) || (vq->avail_gpa & (VIRTQ_AVAIL_ALIGN - 1)) ||
        (vq->used_gpa & (VIRTQ_USED_ALIGN - 1))) {
        return -EINVAL;
    }
    /* guest-controlled: each whole area must be RAM, not just its first byte. */
    *desc = guest_mem_ptr(mem, vq->desc_gpa, VIRTQ_DESC_AREA(vq->size));
    *avail = guest_mem_ptr(mem, vq->avail_gpa, VIRTQ_AVAIL_AREA(vq->size));
    *used = guest_mem_ptr(mem, vq->used_gpa, VIRTQ_USED_AREA(vq->size));
    if (!*desc || !*avail || !*used) {
        return -EFAULT;
    }
    return 0;
}

int virtqueue_enable(struct virtqueue *vq)
{
    if (vq->enabled) {
        return 0;
    }
    void *desc, *avail, *used;
    int r = map_rings(vq, &desc, &avail, &used);
    if (r < 0) {
        return vq_fail(vq, r, "bad ring layout (size %u, desc %#llx, avail %#llx, used %#llx)",
                       vq->size, (unsigned long long)vq->desc_gpa,
                       (unsigned long long)vq->avail_gpa, (unsigned long long)vq->used_gpa);
    }
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    vq->enabled = 1;
    return 0;
}

bool virtqueue_is_ready(const struct virtqueue *vq)
{
    return vq->enabled && !vq->broken;
}

static int add_iov(struct virtqueue *vq, struct virtq_elem *elem, const struct virtq_desc *d)
{
    if (d->len == 0) { /* guest-controlled */
        return vq_fail(vq, -EINVAL, "zero-length descriptor");
    }
    /* guest-controlled: the whole buffer must be RAM. */
    void *p = guest_mem_ptr(vq->dev->mem, d->addr, d->len);
    if (!p) {
        return vq_fail(vq, -EFAULT, "buffer %#llx+%u is not RAM", (unsigned long long)d->addr,
                       d->len);
    }
    if (d->flags & VIRTQ_DESC_F_WRITE) {
        if (elem->wr_num >= elem->wr_max) { /* guest-controlled */
            return vq_fail(vq, -EINVAL, "more than %u writable buffers", elem->wr_max);
        }
        elem->wr[elem->wr_num++] = (struct iovec){.iov_base = p, .iov_len = d->len};
        elem->wr_len += d->len;
    } else {
        if (elem->wr_num) { /* guest-controlled: readable before writable */
            return vq_fail(vq, -EINVAL, "readable buffer after a writable one");
        }
        if (elem->rd_num >= elem->rd_max) { /* guest-controlled */
            return vq_fail(vq, -EINVAL, "more than %u readable buffers", elem->rd_max);
        }
        elem->rd[elem->rd_num++] = (struct iovec){.iov_base = p, .iov_len = d->len};
        elem->rd_len += d->len;
    }
    return 0;
}

/* Follow the chain from head, switching to an indirect table at most once. */
static int walk_chain(struct virtqueue *vq, struct virtq_elem *elem, uint16_t head)
{
    const uint8_t *table = vq->desc;
    uint32_t table_len = vq->size;
    uint32_t i = head;
    uint32_t ttl = table_len; /* no loop-free chain visits more descriptors than the table has */
    bool in_indirect = false;

    for (;;) {
        struct virtq_desc d;
        /* Copy out once: the driver may rewrite the table while we look at it. */
        memcpy(&d, table + (size_t)i * VIRTQ_DESC_SIZE, sizeof(d));
        if (ttl-- == 0) { /* guest-controlled */
            return vq_fail(vq, -EINVAL, "descriptor chain longer than its table (loop)");
        }
        if (d.flags & VIRTQ_DESC_F_INDIRECT) {
            if (in_indirect) { /* guest-controlled */
                return vq_fail(vq, -EINVAL, "nested indirect descriptor");
            }
            if (!virtio_dev_has_feature(vq->dev, VIRTIO_F_INDIRECT_DESC)) {
                return vq_fail(vq, -EINVAL, "indirect descriptor not negotiated");
            }
            if (d.flags & VIRTQ_DESC_F_NEXT) { /* guest-controlled: forbidden together */
                return vq_fail(vq, -EINVAL, "indirect descriptor with NEXT");
            }
            /* guest-controlled: a whole number of descriptors, a bounded table. */
            if (d.len == 0 || d.len % VIRTQ_DESC_SIZE || d.len / VIRTQ_DESC_SIZE > VIRTQ_MAX_SIZE) {
                return vq_fail(vq, -EINVAL, "indirect table length %u", d.len);
            }
            const uint8_t *t = guest_mem_ptr(vq->dev->mem, d.addr, d.len);
            if (!t) { /* guest-controlled */
                return vq_fail(vq, -EFAULT, "indirect table %#llx+%u is not RAM",
                               (unsigned long long)d.addr, d.len);
            }
            table = t;
            table_len = d.len / VIRTQ_DESC_SIZE;
            ttl = table_len;
            i = 0;
            in_indirect = true;
            continue;
        }
        int r = add_iov(vq, elem, &d);
        if (r < 0) {
            return r;
        }
        if (!(d.flags & VIRTQ_DESC_F_NEXT)) {
            return 0;
        }
        if (d.next >= table_len) { /* guest-controlled */
            return vq_fail(vq, -EINVAL, "next index %u out of range %u", d.next, table_len);
        }
        i = d.next;
    }
}

/* Tell an event-index driver where to kick next: when it makes avail idx pass `idx`. */
static void set_avail_event(struct virtqueue *vq, uint16_t idx)
{
    __atomic_store_n(AVAIL_EVENT(vq), idx, __ATOMIC_RELAXED);
    guest_mem_mark_dirty(vq->dev->mem, AVAIL_EVENT(vq), 2);
}

int virtqueue_pop(struct virtqueue *vq, struct virtq_elem *elem)
{
    if (vq->broken || (vq->dev->status & VIRTIO_STATUS_NEEDS_RESET)) {
        return -EIO;
    }
    if (!vq->enabled) {
        return 0;
    }
    /* Acquire: the ring entries the driver wrote before idx are visible after this load. */
    uint16_t avail_idx = __atomic_load_n(AVAIL_IDX(vq), __ATOMIC_ACQUIRE);
    if (avail_idx == vq->last_avail_idx && event_idx(vq) && vq->notification) {
        /*
         * Empty: ask for a kick at the next buffer, then look again, since the driver may
         * have added one after our first look but before it could see the new avail_event.
         */
        set_avail_event(vq, avail_idx);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        avail_idx = __atomic_load_n(AVAIL_IDX(vq), __ATOMIC_ACQUIRE);
    }
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail_idx);
    if (pending == 0) {
        return 0;
    }
    if (pending > vq->size) { /* guest-controlled */
        return vq_fail(vq, -EINVAL, "avail idx %u is %u ahead of %u (size %u)", avail_idx, pending,
                       vq->last_avail_idx, vq->size);
    }
    uint16_t head =
        __atomic_load_n(AVAIL_RING(vq, vq->last_avail_idx & (vq->size - 1)), __ATOMIC_RELAXED);
    if (head >= vq->size) { /* guest-controlled */
        return vq_fail(vq, -EINVAL, "head %u out of range %u", head, vq->size);
    }
    elem->head = head;
    elem->rd_num = elem->wr_num = 0;
    elem->rd_len = elem->wr_len = 0;
    int r = walk_chain(vq, elem, head);
    if (r < 0) {
        return r;
    }
    vq->last_avail_idx++;
    if (event_idx(vq) && vq->notification) {
        set_avail_event(vq, vq->last_avail_idx);
    }
    return 1;
}

void virtqueue_unpop(struct virtqueue *vq, unsigned n)
{
    vq->last_avail_idx = (uint16_t)(vq->last_avail_idx - n);
}

int virtqueue_push(struct virtqueue *vq, const struct virtq_elem *elem, uint32_t len_written)
{
    if (!vq->enabled || elem->head >= vq->size) {
        return -EINVAL;
    }
    /* Never tell the driver that more was written than it offered. */
    if (len_written > elem->wr_len) {
        len_written = (uint32_t)elem->wr_len;
    }
    uint32_t *e = used_elem(vq, vq->used_idx & (vq->size - 1));
    __atomic_store_n(&e[0], (uint32_t)elem->head, __ATOMIC_RELAXED);
    __atomic_store_n(&e[1], len_written, __ATOMIC_RELAXED);
    vq->used_idx++;
    /* Release: the entry is visible before the index that publishes it. */
    __atomic_store_n(USED_IDX(vq), vq->used_idx, __ATOMIC_RELEASE);
    /* The used ring was mapped once; a live checkpoint must still see these writes. */
    guest_mem_mark_dirty(vq->dev->mem, e, 8);
    guest_mem_mark_dirty(vq->dev->mem, USED_IDX(vq), 2);
    return 0;
}

bool virtqueue_notify_needed(struct virtqueue *vq)
{
    if (!vq->enabled) {
        return false;
    }
    /* Our used idx store must be globally visible before we read the driver's wishes. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!event_idx(vq)) {
        return !(__atomic_load_n(AVAIL_FLAGS(vq), __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
    }
    uint16_t old = vq->signalled_used;
    uint16_t now = vq->used_idx;
    bool valid = vq->signalled_used_valid;
    vq->signalled_used = now;
    vq->signalled_used_valid = 1;
    if (!valid) {
        return true;
    }
    uint16_t event = __atomic_load_n(USED_EVENT(vq), __ATOMIC_RELAXED);
    /* Interrupt iff used_event lies in [old, now): the driver asked to hear about it. */
    return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

void virtqueue_set_notification(struct virtqueue *vq, bool enable)
{
    vq->notification = enable;
    if (!vq->enabled) {
        return;
    }
    if (event_idx(vq)) {
        /* Disabling needs no write: the driver kicks only when passing avail_event. */
        if (enable) {
            set_avail_event(vq, __atomic_load_n(AVAIL_IDX(vq), __ATOMIC_RELAXED));
        }
    } else {
        __atomic_store_n(USED_FLAGS(vq), enable ? 0 : VIRTQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
    }
    if (enable) {
        /* The flag store must be visible before the caller looks at avail idx again. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    }
}

bool virtqueue_empty(const struct virtqueue *vq)
{
    if (!vq->enabled) {
        return true;
    }
    return __atomic_load_n(AVAIL_IDX(vq), __ATOMIC_ACQUIRE) == vq->last_avail_idx;
}

size_t virtq_elem_read(const struct virtq_elem *elem, size_t off, void *buf, size_t len)
{
    uint8_t *out = buf;
    size_t done = 0;
    for (unsigned i = 0; i < elem->rd_num && done < len; i++) {
        size_t l = elem->rd[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t n = l - off < len - done ? l - off : len - done;
        memcpy(out + done, (const uint8_t *)elem->rd[i].iov_base + off, n);
        done += n;
        off = 0;
    }
    return done;
}

size_t virtq_elem_write(const struct virtq_elem *elem, size_t off, const void *buf, size_t len)
{
    const uint8_t *in = buf;
    size_t done = 0;
    for (unsigned i = 0; i < elem->wr_num && done < len; i++) {
        size_t l = elem->wr[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t n = l - off < len - done ? l - off : len - done;
        memcpy((uint8_t *)elem->wr[i].iov_base + off, in + done, n);
        done += n;
        off = 0;
    }
    return done;
}

static int virtqueue_post_load(void *opaque)
{
    struct virtqueue *vq = opaque;
    /* Saved state is hostile input: flags are 0/1 and an enabled queue must map again. */
    if (vq->enabled > 1 || vq->signalled_used_valid > 1 || vq->notification > 1 || vq->broken > 1 ||
        !size_valid(vq->size, vq->max_size)) {
        return -EINVAL;
    }
    void *desc = NULL, *avail = NULL, *used = NULL;
    if (vq->enabled) {
        int r = map_rings(vq, &desc, &avail, &used);
        if (r < 0) {
            return -EINVAL;
        }
    }
    vq->desc = desc;
    vq->avail = avail;
    vq->used = used;
    return 0;
}

static const struct vmstate_field virtqueue_fields[] = {
    VMSTATE_FIELD(struct virtqueue, desc_gpa),
    VMSTATE_FIELD(struct virtqueue, avail_gpa),
    VMSTATE_FIELD(struct virtqueue, used_gpa),
    VMSTATE_FIELD(struct virtqueue, size),
    VMSTATE_FIELD(struct virtqueue, enabled),
    VMSTATE_FIELD(struct virtqueue, last_avail_idx),
    VMSTATE_FIELD(struct virtqueue, used_idx),
    VMSTATE_FIELD(struct virtqueue, signalled_used),
    VMSTATE_FIELD(struct virtqueue, signalled_used_valid),
    VMSTATE_FIELD(struct virtqueue, notification),
    VMSTATE_FIELD(struct virtqueue, broken),
    VMSTATE_END,
};

const struct vmstate virtqueue_vmstate = {
    .name = "virtqueue",
    .version = 1,
    .fields = virtqueue_fields,
    .post_load = virtqueue_post_load,
};
