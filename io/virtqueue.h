/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Split virtqueues, device side (virtio 1.x "Split Virtqueues"): the transport programs the
 * three ring areas and the size, a device pops descriptor chains as host iovecs and pushes
 * them back with the number of bytes it wrote. Every ring value is guest-controlled.
 */
#ifndef DESKVM_IO_VIRTQUEUE_H
#define DESKVM_IO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "snapshots/vmstate.h"

struct guest_mem;
struct virtio_dev;

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

#define VIRTQ_MAX_SIZE 32768u
#define VIRTQ_DESC_SIZE 16u
/* Bytes of each ring area for a queue of n entries, event-index fields included. */
#define VIRTQ_DESC_AREA(n) ((uint64_t)(n)*VIRTQ_DESC_SIZE)
#define VIRTQ_AVAIL_AREA(n) (6u + 2u * (uint64_t)(n))
#define VIRTQ_USED_AREA(n) (6u + 8u * (uint64_t)(n))
/* The spec's alignment of each area; the device relies on it for atomic ring accesses. */
#define VIRTQ_DESC_ALIGN 16u
#define VIRTQ_AVAIL_ALIGN 2u
#define VIRTQ_USED_ALIGN 4u

/*
 * One popped descriptor chain. The caller owns the iovec arrays (rd: driver-readable
 * buffers, wr: device-writable buffers) and sets rd_max/wr_max; virtqueue_pop() fills the
 * rest. The iovecs point into guest RAM and stay valid while the VM exists.
 */
struct virtq_elem {
    struct iovec *rd;
    unsigned rd_max;
    struct iovec *wr;
    unsigned wr_max;

    uint16_t head; /* first descriptor: the id given back in the used ring */
    unsigned rd_num, wr_num;
    uint64_t rd_len, wr_len; /* byte totals of each side */
};

struct virtqueue {
    /* Wiring, set by virtio_dev_init(); not saved. */
    struct virtio_dev *dev;
    unsigned index;
    uint16_t max_size;
    char state_name[32]; /* "NAME.qN", the name of its state section */

    /* Programmed by the transport (virtqueue_vmstate). */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t size;
    uint8_t enabled;
    /* Device progress. */
    uint16_t last_avail_idx; /* next avail ring slot to pop */
    uint16_t used_idx;       /* shadow of used->idx, the only writer is the device */
    uint16_t signalled_used; /* used idx at the last interrupt decision (event idx) */
    uint8_t signalled_used_valid;
    uint8_t notification; /* 1: the driver should kick us (virtqueue_set_notification) */
    uint8_t broken;       /* a malformed chain was seen: nothing more is popped */

    /* Derived when the queue is enabled or loaded: host views of the ring areas. */
    void *desc, *avail, *used;
};

/* Reset to "not configured": no addresses, size = max_size, disabled, indices 0. */
void virtqueue_reset(struct virtqueue *vq);

/* Transport setters, refused (-EBUSY) while the queue is enabled. */
int virtqueue_set_size(struct virtqueue *vq, uint32_t size);
int virtqueue_set_addrs(struct virtqueue *vq, uint64_t desc, uint64_t avail, uint64_t used);
/*
 * Enable: check size and the three areas (aligned, entirely in RAM) and map them. A bad
 * layout puts the device into its error state and returns -EINVAL or -EFAULT.
 */
__attribute__((warn_unused_result)) int virtqueue_enable(struct virtqueue *vq);
bool virtqueue_is_ready(const struct virtqueue *vq);

/*
 * Pop the next available chain into elem. Returns 1 with elem filled, 0 if the ring is
 * empty, -EIO if the queue or its device is in the error state, -EINVAL / -EFAULT for a
 * malformed chain (the device enters its error state; the ring is left untouched).
 */
int virtqueue_pop(struct virtqueue *vq, struct virtq_elem *elem);
/* Give a popped chain back with the bytes written into its writable buffers. */
int virtqueue_push(struct virtqueue *vq, const struct virtq_elem *elem, uint32_t len_written);
/* Give back the last n popped chains unused, so they are popped again later. */
void virtqueue_unpop(struct virtqueue *vq, unsigned n);

/*
 * Whether the driver wants an interrupt for what was pushed since the last call
 * (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with VIRTIO_F_EVENT_IDX). Records the
 * decision point, so call it once per batch and interrupt when it says so.
 */
bool virtqueue_notify_needed(struct virtqueue *vq);
/*
 * Ask the driver to kick (enable) or not to bother (disable). After enabling, check
 * virtqueue_empty() again: a buffer may have arrived while notifications were off.
 */
void virtqueue_set_notification(struct virtqueue *vq, bool enable);
bool virtqueue_empty(const struct virtqueue *vq);

/* Copy from the readable side / into the writable side at byte offset off; returns bytes. */
size_t virtq_elem_read(const struct virtq_elem *elem, size_t off, void *buf, size_t len);
size_t virtq_elem_write(const struct virtq_elem *elem, size_t off, const void *buf, size_t len);

/* State of one queue; post_load checks size and layout and maps the rings again. */
extern const struct vmstate virtqueue_vmstate;

#endif
