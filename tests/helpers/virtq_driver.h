/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny virtio driver for tests and fuzzers: lays out split rings in a fake guest RAM,
 * builds descriptor chains, posts them, reads the used ring, and plays the transport's part
 * in feature negotiation.
 */
#ifndef DESKVM_TESTS_VIRTQ_DRIVER_H
#define DESKVM_TESTS_VIRTQ_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "io/virtio.h"

struct vdrv {
    struct virtio_dev *dev;
    unsigned q;
    uint8_t *ram;
    uint16_t size;
    uint64_t desc, avail, used; /* ring gpas */
    uint16_t avail_idx;         /* driver's shadow of avail->idx */
    uint16_t last_used;
    uint16_t next_desc; /* descriptors are handed out round robin */
    uint64_t heap, heap_end;
};

/* ACKNOWLEDGE | DRIVER, features, FEATURES_OK. Returns virtio_dev_set_status()'s result. */
int vdrv_negotiate(struct virtio_dev *dev, uint64_t features);
int vdrv_driver_ok(struct virtio_dev *dev);

/*
 * Lay out queue q's rings at gpa base (desc, avail, used, each aligned) in ram, program and
 * enable it. Buffers are allocated from [heap, heap_end). Returns virtqueue_enable()'s result.
 */
int vdrv_setup(struct vdrv *d, struct virtio_dev *dev, unsigned q, uint8_t *ram, uint64_t base,
               uint16_t size, uint64_t heap, uint64_t heap_end);
/* Gpa of len fresh bytes (16-byte aligned) from the heap. */
uint64_t vdrv_alloc(struct vdrv *d, uint32_t len);
void vdrv_desc(struct vdrv *d, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
               uint16_t next);
/* Write descriptor i of an indirect table at gpa table. */
void vdrv_indirect_desc(struct vdrv *d, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                        uint16_t flags, uint16_t next);
/*
 * A chain of nr readable then nw writable buffers with lengths lens[]; buffer gpas go to
 * addrs (may be NULL). Returns the head.
 */
uint16_t vdrv_chain(struct vdrv *d, const uint32_t *lens, unsigned nr, unsigned nw,
                    uint64_t *addrs);
/* Make head available (ring entry, then idx). */
void vdrv_post(struct vdrv *d, uint16_t head);
/* Set avail->idx directly (for malformed-ring tests). */
void vdrv_set_avail_idx(struct vdrv *d, uint16_t idx);
/* Next used entry, if any. */
bool vdrv_get_used(struct vdrv *d, uint32_t *id, uint32_t *len);
uint16_t vdrv_used_idx(const struct vdrv *d);
void vdrv_set_used_event(struct vdrv *d, uint16_t v);
void vdrv_set_avail_flags(struct vdrv *d, uint16_t v);
uint16_t vdrv_avail_event(const struct vdrv *d);
uint16_t vdrv_used_flags(const struct vdrv *d);

#endif
