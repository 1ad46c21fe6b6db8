/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio block device (virtio 1.x 5.2, device id 2): requests on one or more queues are
 * parsed and checked, then carried out asynchronously on a struct block_image through the
 * block I/O engine (io/block_aio.h); completions are pushed in batches, one interrupt per
 * queue per batch. Transport-independent: the transport drives virtio_blk_vdev().
 */
#ifndef DESKVM_IO_VIRTIO_BLK_H
#define DESKVM_IO_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/block.h"
#include "io/block_stats.h"
#include "io/block_aio.h"
#include "io/virtio.h"

struct device;
struct guest_mem;

#define VIRTIO_ID_BLOCK 2

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_MQ 12
#define VIRTIO_BLK_F_DISCARD 13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_DISCARD_F_UNMAP 1u

#define VIRTIO_BLK_SECTOR 512u
#define VIRTIO_BLK_ID_BYTES 20
/* Limits we advertise and enforce. seg_max + 2 (header, status) descriptors per request. */
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX 126
#define VIRTIO_BLK_SIZE_MAX (1u << 20)
#define VIRTIO_BLK_MAX_QUEUES 16
#define VIRTIO_BLK_MAX_DISCARD_SEG 16
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */
#define VIRTIO_BLK_IOV_MAX (VIRTIO_BLK_SEG_MAX + 2)
/* Device configuration layout (5.2.4), up to and including write_zeroes_may_unmap. */
#define VIRTIO_BLK_CONFIG_SIZE 60

struct virtio_blk_opts {
    unsigned num_queues;            /* 0 means 1; at most VIRTIO_BLK_MAX_QUEUES */
    enum block_aio_backend backend; /* BLOCK_AIO_AUTO in production; tests pick one */
    const char *serial;             /* GET_ID answer, up to 20 bytes; NULL: "" */
};

struct virtio_blk_req;

struct virtio_blk {
    struct virtio_dev vdev;
    struct block_image *img;
    struct block_aio *aio;
    uint64_t capacity; /* sectors */
    bool readonly;
    char serial[VIRTIO_BLK_ID_BYTES];
    uint8_t config[VIRTIO_BLK_CONFIG_SIZE];

    /* Requests popped and not yet pushed; the free list keeps their memory for reuse. */
    unsigned inflight;
    struct virtio_blk_req *free_reqs;
    bool resetting;        /* in-flight requests finishing during reset are not pushed */
    uint64_t push_pending; /* queues pushed to since their last interrupt decision */

    /* Counters for tests and statistics. */
    uint64_t reqs_done, reqs_failed, batches;
    struct block_stats stats; /* read/write/flush/unmap requests (QMP query-blockstats) */
};

/*
 * A device on img (open already, with the cache mode the user asked for); the device owns
 * img from here on and closes it in virtio_blk_destroy. Returns NULL with one line in err.
 */
struct virtio_blk *virtio_blk_create(const struct guest_mem *mem, struct block_image *img,
                                     const struct virtio_blk_opts *opts, char *err, size_t errlen);
/* Waits for in-flight requests, frees everything, closes the image. NULL is fine. */
void virtio_blk_destroy(struct virtio_blk *blk);
struct virtio_dev *virtio_blk_vdev(struct virtio_blk *blk);

/*
 * Event loop hook: watch virtio_blk_event_fd() for EPOLLIN and call virtio_blk_process(),
 * under the same lock as the transport's calls (the engine's device lock).
 */
int virtio_blk_event_fd(const struct virtio_blk *blk);
void virtio_blk_process(struct virtio_blk *blk);
/* Completes every in-flight request (blocking). Call with the VM paused before saving. */
void virtio_blk_drain(struct virtio_blk *blk);

/*
 * Snapshots (docs/snapshots.md): drain, then serve the disk from img (same size and
 * read-only setting, else NULL with err). Returns the previous image, which the caller now
 * owns and closes. Under the device lock, VM paused.
 */
struct block_image *virtio_blk_replace_image(struct virtio_blk *blk, struct block_image *img,
                                             char *err, size_t errlen);

/* Snapshot sections: the common ones, then the device's own (capacity, in-flight count). */
unsigned virtio_blk_state_sections(struct virtio_blk *blk, struct device *out, unsigned max);
extern const struct vmstate virtio_blk_vmstate;

#endif
