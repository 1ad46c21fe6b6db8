/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Asynchronous block I/O for the disk devices: read, write, flush (fdatasync), discard and
 * write-zeroes on a struct block_image, submitted without blocking and completed on the
 * caller's thread. Plain data (raw images, allocated qcow2 clusters, see block_map()) goes
 * to io_uring; everything else, and everything when io_uring is unavailable, runs the
 * synchronous driver on a small thread pool. Completions are signalled on an eventfd that
 * the event loop watches (docs/virtio-blk.md).
 */
#ifndef DESKVM_IO_BLOCK_AIO_H
#define DESKVM_IO_BLOCK_AIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "io/block.h"

enum block_aio_backend {
    BLOCK_AIO_AUTO,     /* io_uring, or the thread pool if io_uring_queue_init fails */
    BLOCK_AIO_IO_URING, /* io_uring or fail */
    BLOCK_AIO_THREADS,  /* the thread pool only */
};

enum block_aio_op {
    BLOCK_AIO_READ,
    BLOCK_AIO_WRITE,
    BLOCK_AIO_FLUSH,
    BLOCK_AIO_DISCARD,
    BLOCK_AIO_WRITE_ZEROES,
};

/* Worker threads of the pool, and the most iovecs one request may carry. */
#define BLOCK_AIO_THREADS_N 4
#define BLOCK_AIO_IOV_MAX 1024

struct block_aio_req {
    /* Set by the caller. iov stays valid (and untouched by the caller) until done runs. */
    enum block_aio_op op;
    uint64_t off;
    uint64_t len; /* discard / write-zeroes; read / write: filled in from iov */
    const struct iovec *iov;
    unsigned iovcnt;
    /* Called from block_aio_complete() or block_aio_drain(), on the caller's thread. */
    void (*done)(struct block_aio_req *req, int result);

    /* Private to block_aio.c. */
    struct block_aio_req *next;
    int result;
    bool on_ring;
    void *bounce; /* aligned copy for O_DIRECT with unaligned guest buffers */
    struct iovec bounce_iov;
};

struct block_aio;

/*
 * An engine for img with at most depth requests on the io_uring at once (more wait in the
 * pool). Returns 0 or -errno with one line in err.
 */
__attribute__((warn_unused_result)) int block_aio_create(struct block_image *img,
                                                         enum block_aio_backend backend,
                                                         unsigned depth, struct block_aio **out,
                                                         char *err, size_t errlen);
/* Waits for everything in flight (their done callbacks run), then frees. NULL is fine. */
void block_aio_destroy(struct block_aio *aio);
/* The backend in use: BLOCK_AIO_IO_URING or BLOCK_AIO_THREADS. */
enum block_aio_backend block_aio_backend(const struct block_aio *aio);

/*
 * Queue req; returns 0 (done will run later, never from inside this call) or -EINVAL for a
 * request this engine cannot carry (too many iovecs, unknown op).
 */
__attribute__((warn_unused_result)) int block_aio_submit(struct block_aio *aio,
                                                         struct block_aio_req *req);
/* Between plug and unplug, io_uring submissions are collected and entered in one syscall. */
void block_aio_plug(struct block_aio *aio);
void block_aio_unplug(struct block_aio *aio);

/* Readable when completions are waiting: watch it with EPOLLIN, then call block_aio_complete. */
int block_aio_event_fd(const struct block_aio *aio);
/* Runs the done callback of every finished request; returns how many. Never blocks. */
unsigned block_aio_complete(struct block_aio *aio);
/* Blocks until nothing is in flight, running done callbacks as requests finish. */
void block_aio_drain(struct block_aio *aio);
unsigned block_aio_inflight(const struct block_aio *aio);
/*
 * Drain, then carry later requests out on img instead (a snapshot's new overlay). The caller
 * owns both images; nothing may be submitted concurrently.
 */
void block_aio_set_image(struct block_aio *aio, struct block_image *img);
/* Requests finished on each path so far (a retried ring request counts as pool). */
void block_aio_counts(const struct block_aio *aio, uint64_t *ring, uint64_t *pool);

#endif
