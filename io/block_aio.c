// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The block I/O engine: requests whose bytes block_map() places in one host extent go to
 * io_uring as readv/writev/fsync/fallocate; the rest (qcow2 allocation, compressed or backing
 * data, unaligned O_DIRECT offsets) and every request when io_uring is unavailable run the
 * synchronous driver (io/block.h, thread-safe) on a pool of worker threads. Both paths end
 * on one eventfd; done callbacks run only on the thread that calls block_aio_complete().
 */
#include "io/block_aio.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct block_aio {
    struct block_image *img;
    enum block_aio_backend backend;
    int efd;
    unsigned inflight; /* submitted, done not yet run; caller's thread only */
    uint64_t done_ring, done_pool;

    /* io_uring (caller's thread only). */
    bool have_ring;
    struct io_uring ring;
    unsigned ring_depth, ring_inflight;
    unsigned plugged;
    bool need_submit; /* SQEs prepared but not yet entered */

    /* Thread pool. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct block_aio_req *pend_head, **pend_tail;
    struct block_aio_req *done_head, **done_tail;
    bool stop;
    pthread_t threads[BLOCK_AIO_THREADS_N];
    unsigned nthreads;
};

static void signal_efd(struct block_aio *aio)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter is saturated: it is readable then anyway. */
    (void)!write(aio->efd, &one, sizeof(one));
}

static int run_sync(struct block_aio *aio, struct block_aio_req *req)
{
    uint64_t off = req->off;
    int r = 0;
    switch (req->op) {
    case BLOCK_AIO_READ:
    case BLOCK_AIO_WRITE:
        for (unsigned i = 0; i < req->iovcnt && r == 0; i++) {
            const struct iovec *v = &req->iov[i];
            r = req->op == BLOCK_AIO_READ ? block_pread(aio->img, off, v->iov_base, v->iov_len)
                                          : block_pwrite(aio->img, off, v->iov_base, v->iov_len);
            off += v->iov_len;
        }
        return r;
    case BLOCK_AIO_FLUSH:
        return block_flush(aio->img);
    case BLOCK_AIO_DISCARD:
        return block_discard(aio->img, req->off, req->len);
    case BLOCK_AIO_WRITE_ZEROES:
        return block_write_zeroes(aio->img, req->off, req->len);
    }
    return -EINVAL;
}

static void *worker(void *opaque)
{
    struct block_aio *aio = opaque;
    pthread_mutex_lock(&aio->lock);
    for (;;) {
        while (!aio->stop && aio->pend_head == NULL) {
            pthread_cond_wait(&aio->cond, &aio->lock);
        }
        struct block_aio_req *req = aio->pend_head;
        if (req == NULL) {
            break; /* stop, and nothing left */
        }
        aio->pend_head = req->next;
        if (aio->pend_head == NULL) {
            aio->pend_tail = &aio->pend_head;
        }
        pthread_mutex_unlock(&aio->lock);
        int r = run_sync(aio, req);
        pthread_mutex_lock(&aio->lock);
        req->result = r;
        req->next = NULL;
        *aio->done_tail = req;
        aio->done_tail = &req->next;
        signal_efd(aio);
    }
    pthread_mutex_unlock(&aio->lock);
    return NULL;
}

static void pool_queue(struct block_aio *aio, struct block_aio_req *req)
{
    pthread_mutex_lock(&aio->lock);
    req->next = NULL;
    *aio->pend_tail = req;
    aio->pend_tail = &req->next;
    pthread_cond_signal(&aio->cond);
    pthread_mutex_unlock(&aio->lock);
}

static void ring_submit(struct block_aio *aio)
{
    /* A failed enter (-EAGAIN, -EBUSY: the kernel is short of resources) leaves the SQEs in
     * the ring; block_aio_complete and block_aio_drain enter them again. */
    if (aio->need_submit && io_uring_submit(&aio->ring) >= 0) {
        aio->need_submit = false;
    }
}

static bool iov_aligned(const struct iovec *iov, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if ((uintptr_t)iov[i].iov_base % BLOCK_DIRECT_ALIGN ||
            iov[i].iov_len % BLOCK_DIRECT_ALIGN) {
            return false;
        }
    }
    return true;
}

static void copy_from_iov(uint8_t *dst, const struct iovec *iov, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        memcpy(dst, iov[i].iov_base, iov[i].iov_len);
        dst += iov[i].iov_len;
    }
}

static void copy_to_iov(const struct iovec *iov, unsigned n, const uint8_t *src)
{
    for (unsigned i = 0; i < n; i++) {
        memcpy(iov[i].iov_base, src, iov[i].iov_len);
        src += iov[i].iov_len;
    }
}

/* Puts req on the io_uring if its bytes allow; false sends it to the pool. */
static bool ring_try(struct block_aio *aio, struct block_aio_req *req)
{
    if (!aio->have_ring || aio->ring_inflight >= aio->ring_depth) {
        return false;
    }
    struct block_extent ext;
    int fd = -1;
    bool rw = req->op == BLOCK_AIO_READ || req->op == BLOCK_AIO_WRITE;
    if (rw || req->op == BLOCK_AIO_DISCARD || req->op == BLOCK_AIO_WRITE_ZEROES) {
        if (req->len == 0 ||
            block_map(aio->img, req->off, req->len, req->op != BLOCK_AIO_READ, &ext) != 1 ||
            ext.len != req->len) {
            return false;
        }
        if (!rw && !ext.identity) {
            return false; /* qcow2 discard and zeroing change metadata: the driver does it */
        }
        if (rw && ext.direct &&
            (ext.host_off % BLOCK_DIRECT_ALIGN || req->len % BLOCK_DIRECT_ALIGN)) {
            return false; /* read-modify-write of partial blocks: the raw driver's bounce */
        }
        fd = ext.fd;
    } else if (req->op == BLOCK_AIO_FLUSH) {
        fd = block_sync_fd(aio->img);
        if (fd < 0) {
            return false;
        }
    } else {
        return false;
    }
    const struct iovec *iov = req->iov;
    unsigned iovcnt = req->iovcnt;
    if (rw && ext.direct && !iov_aligned(iov, iovcnt)) {
        /* O_DIRECT needs aligned memory too; guest buffers often are not. */
        if (posix_memalign(&req->bounce, BLOCK_DIRECT_ALIGN, req->len) != 0) {
            req->bounce = NULL;
            return false;
        }
        if (req->op == BLOCK_AIO_WRITE) {
            copy_from_iov(req->bounce, iov, iovcnt);
        }
        req->bounce_iov = (struct iovec){req->bounce, req->len};
        iov = &req->bounce_iov;
        iovcnt = 1;
    }
    struct io_uring_sqe *sqe = io_uring_get_sqe(&aio->ring);
    if (sqe == NULL) {
        ring_submit(aio);
        sqe = io_uring_get_sqe(&aio->ring);
        if (sqe == NULL) {
            free(req->bounce);
            req->bounce = NULL;
            return false;
        }
    }
    switch (req->op) {
    case BLOCK_AIO_READ:
        io_uring_prep_readv(sqe, fd, iov, iovcnt, ext.host_off);
        break;
    case BLOCK_AIO_WRITE:
        io_uring_prep_writev(sqe, fd, iov, iovcnt, ext.host_off);
        break;
    case BLOCK_AIO_FLUSH:
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
        break;
    case BLOCK_AIO_DISCARD:
        io_uring_prep_fallocate(sqe, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                                (off_t)req->off, (off_t)req->len);
        break;
    case BLOCK_AIO_WRITE_ZEROES:
        io_uring_prep_fallocate(sqe, fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                                (off_t)req->off, (off_t)req->len);
        break;
    }
    io_uring_sqe_set_data(sqe, req);
    req->on_ring = true;
    aio->ring_inflight++;
    aio->need_submit = true;
    if (aio->plugged == 0) {
        ring_submit(aio);
    }
    return true;
}

int block_aio_submit(struct block_aio *aio, struct block_aio_req *req)
{
    if (req->op > BLOCK_AIO_WRITE_ZEROES || req->done == NULL) {
        return -EINVAL;
    }
    if (req->op == BLOCK_AIO_READ || req->op == BLOCK_AIO_WRITE) {
        if (req->iovcnt > BLOCK_AIO_IOV_MAX) {
            return -EINVAL;
        }
        uint64_t len = 0;
        for (unsigned i = 0; i < req->iovcnt; i++) {
            len += req->iov[i].iov_len;
        }
        req->len = len;
    }
    req->result = 0;
    req->on_ring = false;
    req->bounce = NULL;
    aio->inflight++;
    if (!ring_try(aio, req)) {
        pool_queue(aio, req);
    }
    return 0;
}

void block_aio_plug(struct block_aio *aio)
{
    aio->plugged++;
}

void block_aio_unplug(struct block_aio *aio)
{
    if (aio->plugged > 0 && --aio->plugged == 0) {
        ring_submit(aio);
    }
}

static void finish(struct block_aio *aio, struct block_aio_req *req, int result)
{
    free(req->bounce);
    req->bounce = NULL;
    aio->inflight--;
    req->done(req, result);
}

/*
 * One io_uring completion: final (returns true, done has run), or handed to the pool, which
 * has the fallbacks (returns false).
 */
static bool ring_done(struct block_aio *aio, struct block_aio_req *req, int res)
{
    req->on_ring = false;
    aio->ring_inflight--;
    bool retry = false;
    switch (req->op) {
    case BLOCK_AIO_READ:
    case BLOCK_AIO_WRITE:
        /* Short transfers and transient errors: the synchronous path loops until done. */
        retry = res == -EAGAIN || res == -EINTR || (res >= 0 && (uint64_t)res != req->len);
        break;
    case BLOCK_AIO_FLUSH:
        retry = res == -EAGAIN || res == -EINTR;
        break;
    case BLOCK_AIO_DISCARD:
    case BLOCK_AIO_WRITE_ZEROES:
        /* e.g. EOPNOTSUPP: the raw driver falls back to writing zeroes. */
        retry = res < 0;
        break;
    }
    if (retry) {
        free(req->bounce);
        req->bounce = NULL;
        pool_queue(aio, req);
        return false;
    }
    if (res >= 0 && req->op == BLOCK_AIO_READ && req->bounce != NULL) {
        copy_to_iov(req->iov, req->iovcnt, req->bounce);
    }
    aio->done_ring++;
    finish(aio, req, res < 0 ? res : 0);
    return true;
}

unsigned block_aio_complete(struct block_aio *aio)
{
    uint64_t v;
    (void)!read(aio->efd, &v, sizeof(v));
    unsigned n = 0;
    if (aio->have_ring) {
        ring_submit(aio);
        struct io_uring_cqe *cqe;
        while (io_uring_peek_cqe(&aio->ring, &cqe) == 0) {
            struct block_aio_req *req = io_uring_cqe_get_data(cqe);
            int res = cqe->res;
            io_uring_cqe_seen(&aio->ring, cqe);
            n += ring_done(aio, req, res);
        }
    }
    pthread_mutex_lock(&aio->lock);
    struct block_aio_req *list = aio->done_head;
    aio->done_head = NULL;
    aio->done_tail = &aio->done_head;
    pthread_mutex_unlock(&aio->lock);
    while (list != NULL) {
        struct block_aio_req *req = list;
        list = req->next;
        aio->done_pool++;
        finish(aio, req, req->result);
        n++;
    }
    return n;
}

void block_aio_drain(struct block_aio *aio)
{
    while (aio->inflight > 0) {
        if (block_aio_complete(aio) == 0 && aio->inflight > 0) {
            struct pollfd p = {.fd = aio->efd, .events = POLLIN};
            (void)poll(&p, 1, 10); /* bounded: a failed ring enter is retried above */
        }
    }
}

unsigned block_aio_inflight(const struct block_aio *aio)
{
    return aio->inflight;
}

void block_aio_counts(const struct block_aio *aio, uint64_t *ring, uint64_t *pool)
{
    *ring = aio->done_ring;
    *pool = aio->done_pool;
}

int block_aio_event_fd(const struct block_aio *aio)
{
    return aio->efd;
}

void block_aio_set_image(struct block_aio *aio, struct block_image *img)
{
    block_aio_drain(aio);
    aio->img = img;
}

enum block_aio_backend block_aio_backend(const struct block_aio *aio)
{
    return aio->backend;
}

int block_aio_create(struct block_image *img, enum block_aio_backend backend, unsigned depth,
                     struct block_aio **out, char *err, size_t errlen)
{
    struct block_aio *aio = calloc(1, sizeof(*aio));
    if (aio == NULL) {
        snprintf(err, errlen, "block aio: out of memory");
        return -ENOMEM;
    }
    aio->img = img;
    aio->pend_tail = &aio->pend_head;
    aio->done_tail = &aio->done_head;
    pthread_mutex_init(&aio->lock, NULL);
    pthread_cond_init(&aio->cond, NULL);
    aio->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (aio->efd < 0) {
        int e = errno;
        snprintf(err, errlen, "block aio: eventfd: %s", strerror(e));
        block_aio_destroy(aio);
        return -e;
    }
    depth = depth < 1 ? 1 : depth > 4096 ? 4096 : depth;
    aio->backend = BLOCK_AIO_THREADS;
    if (backend != BLOCK_AIO_THREADS) {
        int r = io_uring_queue_init(depth, &aio->ring, 0);
        if (r == 0) {
            r = io_uring_register_eventfd(&aio->ring, aio->efd);
            if (r < 0) {
                io_uring_queue_exit(&aio->ring);
            }
        }
        if (r == 0) {
            aio->have_ring = true;
            aio->ring_depth = depth;
            aio->backend = BLOCK_AIO_IO_URING;
        } else if (backend == BLOCK_AIO_IO_URING) {
            snprintf(err, errlen, "block aio: io_uring unavailable: %s", strerror(-r));
            block_aio_destroy(aio);
            return r;
        }
    }
    for (unsigned i = 0; i < BLOCK_AIO_THREADS_N; i++) {
        if (pthread_create(&aio->threads[i], NULL, worker, aio) != 0) {
            break;
        }
        aio->nthreads++;
    }
    if (aio->nthreads == 0) {
        snprintf(err, errlen, "block aio: cannot start worker threads");
        block_aio_destroy(aio);
        return -EAGAIN;
    }
    *out = aio;
    return 0;
}

void block_aio_destroy(struct block_aio *aio)
{
    if (aio == NULL) {
        return;
    }
    if (aio->efd >= 0) {
        block_aio_drain(aio);
    }
    pthread_mutex_lock(&aio->lock);
    aio->stop = true;
    pthread_cond_broadcast(&aio->cond);
    pthread_mutex_unlock(&aio->lock);
    for (unsigned i = 0; i < aio->nthreads; i++) {
        pthread_join(aio->threads[i], NULL);
    }
    if (aio->have_ring) {
        io_uring_queue_exit(&aio->ring);
    }
    if (aio->efd >= 0) {
        close(aio->efd);
    }
    pthread_cond_destroy(&aio->cond);
    pthread_mutex_destroy(&aio->lock);
    free(aio);
}
