// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio block device (virtio 1.x 5.2): every request is a 16-byte header the driver wrote
 * (type, reserved, sector), data, and a status byte the device writes last. Requests are
 * checked here, carried out by the block I/O engine without blocking the caller, and pushed
 * back as they complete; one interrupt per queue for each batch. A chain without a header or
 * status byte cannot be answered at all and puts the device in NEEDS_RESET; everything else
 * the guest gets wrong is answered with IOERR or UNSUPP on that request alone.
 */
#include "io/virtio_blk.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/device.h"

#define HDR_SIZE 16u
#define SEG_SIZE 16u

struct blk_seg {
    uint64_t sector;
    uint32_t num;
    uint32_t flags;
};

struct virtio_blk_req {
    struct block_aio_req aio; /* first: aio_done finds the request from it */
    struct virtio_blk *blk;
    struct virtio_blk_req *next_free;
    unsigned q;
    struct virtq_elem elem;
    struct iovec rd[VIRTIO_BLK_IOV_MAX];
    struct iovec wr[VIRTIO_BLK_IOV_MAX];
    struct iovec data[VIRTIO_BLK_IOV_MAX];
    uint8_t *status; /* the last writable byte, in guest RAM */
    uint32_t type;
    uint64_t data_len;
    uint64_t start_ns;                               /* for the statistics */
    struct blk_seg segs[VIRTIO_BLK_MAX_DISCARD_SEG]; /* copied out of guest memory */
    unsigned nseg, seg_i;
    bool then_flush; /* write-through for a driver that did not negotiate FLUSH */
};

static struct virtio_blk_req *req_get(struct virtio_blk *blk)
{
    struct virtio_blk_req *r = blk->free_reqs;
    if (r != NULL) {
        blk->free_reqs = r->next_free;
    } else {
        r = malloc(sizeof(*r));
        if (r == NULL) {
            return NULL;
        }
    }
    r->blk = blk;
    r->elem = (struct virtq_elem){
        .rd = r->rd, .rd_max = VIRTIO_BLK_IOV_MAX, .wr = r->wr, .wr_max = VIRTIO_BLK_IOV_MAX};
    return r;
}

static void req_put(struct virtio_blk *blk, struct virtio_blk_req *r)
{
    r->next_free = blk->free_reqs;
    blk->free_reqs = r;
}

/* One interrupt decision per queue that got completions since the last one. */
static void notify_batches(struct virtio_blk *blk)
{
    while (blk->push_pending != 0) {
        unsigned q = (unsigned)__builtin_ctzll(blk->push_pending);
        blk->push_pending &= blk->push_pending - 1;
        blk->batches++;
        virtio_dev_notify_queue(&blk->vdev, q);
    }
}

/* The statistics of a finished request (GET_ID and unknown types are not I/O). */
static void account(struct virtio_blk *blk, const struct virtio_blk_req *r, bool ok)
{
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
        block_stats_done(&blk->stats, BLOCK_STATS_READ, r->data_len, ok, r->start_ns);
        break;
    case VIRTIO_BLK_T_OUT:
        block_stats_done(&blk->stats, BLOCK_STATS_WRITE, r->data_len, ok, r->start_ns);
        break;
    case VIRTIO_BLK_T_FLUSH:
        block_stats_done(&blk->stats, BLOCK_STATS_FLUSH, 0, ok, r->start_ns);
        break;
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
        uint64_t bytes = 0;
        for (unsigned i = 0; ok && i < r->nseg; i++) {
            bytes += (uint64_t)r->segs[i].num * VIRTIO_BLK_SECTOR;
        }
        block_stats_done(&blk->stats, BLOCK_STATS_UNMAP, bytes, ok, r->start_ns);
        break;
    }
    default:
        break;
    }
}

/* Status byte, used-ring entry (written bytes include the status byte), request freed. */
static void complete(struct virtio_blk_req *r, uint8_t status, uint64_t data_written)
{
    struct virtio_blk *blk = r->blk;
    if (!blk->resetting) {
        *r->status = status;
        (void)virtqueue_push(&blk->vdev.vqs[r->q], &r->elem, (uint32_t)(data_written + 1));
        blk->push_pending |= 1ull << r->q;
    }
    blk->reqs_done++;
    blk->reqs_failed += status != VIRTIO_BLK_S_OK;
    account(blk, r, status == VIRTIO_BLK_S_OK);
    blk->inflight--;
    req_put(blk, r);
}

/* Copies the byte range [skip, skip + len) of an iovec array into dst; returns the count. */
static unsigned iov_slice(const struct iovec *src, unsigned n, uint64_t skip, uint64_t len,
                          struct iovec *dst)
{
    unsigned k = 0;
    for (unsigned i = 0; i < n && len > 0; i++) {
        uint64_t l = src[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        uint64_t take = l - skip < len ? l - skip : len;
        dst[k++] = (struct iovec){(uint8_t *)src[i].iov_base + skip, (size_t)take};
        skip = 0;
        len -= take;
    }
    return k;
}

/* guest-controlled: sector and byte count from the request. */
static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t bytes)
{
    return bytes % VIRTIO_BLK_SECTOR == 0 && sector <= blk->capacity &&
           bytes / VIRTIO_BLK_SECTOR <= blk->capacity - sector;
}

static void aio_done(struct block_aio_req *a, int result);

static void submit(struct virtio_blk_req *r)
{
    r->aio.done = aio_done;
    if (block_aio_submit(r->blk->aio, &r->aio) < 0) {
        complete(r, VIRTIO_BLK_S_IOERR, 0);
    }
}

static void submit_seg(struct virtio_blk_req *r)
{
    const struct blk_seg *s = &r->segs[r->seg_i];
    r->aio = (struct block_aio_req){
        .op = r->type == VIRTIO_BLK_T_DISCARD ? BLOCK_AIO_DISCARD : BLOCK_AIO_WRITE_ZEROES,
        .off = s->sector * VIRTIO_BLK_SECTOR,
        .len = (uint64_t)s->num * VIRTIO_BLK_SECTOR,
    };
    submit(r);
}

static void aio_done(struct block_aio_req *a, int result)
{
    struct virtio_blk_req *r = (struct virtio_blk_req *)a;
    struct virtio_blk *blk = r->blk;
    if (result == 0 && !blk->resetting) {
        if ((r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES) &&
            ++r->seg_i < r->nseg) {
            submit_seg(r);
            return;
        }
        if (r->then_flush) {
            r->then_flush = false;
            r->aio = (struct block_aio_req){.op = BLOCK_AIO_FLUSH};
            submit(r);
            return;
        }
    }
    complete(r, result == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR,
             result == 0 && r->type == VIRTIO_BLK_T_IN ? r->data_len : 0);
}

/* Discard / write-zeroes: the segments are copied out and checked before any is started. */
static uint8_t parse_segments(struct virtio_blk *blk, struct virtio_blk_req *r)
{
    uint64_t bytes = r->elem.rd_len - HDR_SIZE;
    /* guest-controlled: segment count */
    if (bytes == 0 || bytes % SEG_SIZE || bytes / SEG_SIZE > VIRTIO_BLK_MAX_DISCARD_SEG) {
        return VIRTIO_BLK_S_IOERR;
    }
    r->nseg = (unsigned)(bytes / SEG_SIZE);
    for (unsigned i = 0; i < r->nseg; i++) {
        uint8_t raw[SEG_SIZE];
        virtq_elem_read(&r->elem, HDR_SIZE + i * SEG_SIZE, raw, SEG_SIZE);
        struct blk_seg *s = &r->segs[i];
        uint32_t num, flags;
        memcpy(&s->sector, raw, 8);
        memcpy(&num, raw + 8, 4);
        memcpy(&flags, raw + 12, 4);
        s->sector = le64toh(s->sector);
        s->num = le32toh(num);
        s->flags = le32toh(flags);
        /* guest-controlled: flags (5.2.6.2: unmap on discard and unknown bits are UNSUPP) */
        if ((s->flags & ~VIRTIO_BLK_DISCARD_F_UNMAP) ||
            (r->type == VIRTIO_BLK_T_DISCARD && s->flags)) {
            return VIRTIO_BLK_S_UNSUPP;
        }
        /* guest-controlled: segment size and range */
        if (s->num > VIRTIO_BLK_MAX_DISCARD_SECTORS ||
            !range_ok(blk, s->sector, (uint64_t)s->num * VIRTIO_BLK_SECTOR)) {
            return VIRTIO_BLK_S_IOERR;
        }
    }
    r->seg_i = 0;
    return VIRTIO_BLK_S_OK;
}

/* Starts one popped request, or answers it at once. */
static void handle(struct virtio_blk *blk, struct virtio_blk_req *r)
{
    struct virtq_elem *e = &r->elem;
    /* guest-controlled: without these there is no way to answer (5.2.6) */
    if (e->rd_len < HDR_SIZE || e->wr_len < 1) {
        virtio_dev_set_error(&blk->vdev, "virtio-blk: request %u without %s", e->head,
                             e->rd_len < HDR_SIZE ? "a 16-byte header" : "a status byte");
        blk->inflight--;
        req_put(blk, r);
        return;
    }
    uint8_t hdr[HDR_SIZE];
    virtq_elem_read(e, 0, hdr, HDR_SIZE);
    uint32_t type;
    uint64_t sector;
    memcpy(&type, hdr, 4);
    memcpy(&sector, hdr + 8, 8);
    r->type = le32toh(type);
    r->data_len = 0;
    r->start_ns = host_now_ns();
    sector = le64toh(sector);
    const struct iovec *last = &e->wr[e->wr_num - 1];
    r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
    r->then_flush = false;
    uint8_t st = VIRTIO_BLK_S_OK;

    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT: {
        bool in = r->type == VIRTIO_BLK_T_IN;
        /* guest-controlled: data on the side its direction needs and nothing on the other */
        const struct iovec *src = in ? e->wr : e->rd;
        unsigned srcn = in ? e->wr_num : e->rd_num;
        uint64_t skip = in ? 0 : HDR_SIZE;
        r->data_len = in ? e->wr_len - 1 : e->rd_len - HDR_SIZE;
        if ((in ? e->rd_len != HDR_SIZE : e->wr_len != 1) ||
            r->data_len > (uint64_t)VIRTIO_BLK_SEG_MAX * VIRTIO_BLK_SIZE_MAX ||
            !range_ok(blk, sector, r->data_len)) {
            st = VIRTIO_BLK_S_IOERR;
            break;
        }
        if (!in && blk->readonly) {
            st = VIRTIO_BLK_S_IOERR; /* 5.2.6.2: a write to a VIRTIO_BLK_F_RO device */
            break;
        }
        if (r->data_len == 0) {
            break;
        }
        unsigned n = iov_slice(src, srcn, skip, r->data_len, r->data);
        r->then_flush = !in && !virtio_dev_has_feature(&blk->vdev, VIRTIO_BLK_F_FLUSH);
        r->aio = (struct block_aio_req){
            .op = in ? BLOCK_AIO_READ : BLOCK_AIO_WRITE,
            .off = sector * VIRTIO_BLK_SECTOR,
            .iov = r->data,
            .iovcnt = n,
        };
        submit(r);
        return;
    }
    case VIRTIO_BLK_T_FLUSH:
        r->aio = (struct block_aio_req){.op = BLOCK_AIO_FLUSH};
        submit(r);
        return;
    case VIRTIO_BLK_T_GET_ID: {
        /* The id is up to 20 bytes, NUL-padded; a shorter buffer gets what fits. */
        uint64_t room = e->wr_len - 1;
        size_t n = room < VIRTIO_BLK_ID_BYTES ? (size_t)room : VIRTIO_BLK_ID_BYTES;
        virtq_elem_write(e, 0, blk->serial, n);
        complete(r, VIRTIO_BLK_S_OK, n);
        return;
    }
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES: {
        unsigned bit =
            r->type == VIRTIO_BLK_T_DISCARD ? VIRTIO_BLK_F_DISCARD : VIRTIO_BLK_F_WRITE_ZEROES;
        if (!virtio_dev_has_feature(&blk->vdev, bit)) {
            st = VIRTIO_BLK_S_UNSUPP;
        } else if (blk->readonly) {
            st = VIRTIO_BLK_S_IOERR;
        } else {
            st = parse_segments(blk, r);
        }
        if (st == VIRTIO_BLK_S_OK) {
            submit_seg(r);
            return;
        }
        break;
    }
    default:
        st = VIRTIO_BLK_S_UNSUPP;
        break;
    }
    complete(r, st, 0);
}

static void blk_queue_notify(void *opaque, unsigned q)
{
    struct virtio_blk *blk = opaque;
    struct virtqueue *vq = &blk->vdev.vqs[q];
    block_aio_plug(blk->aio);
    for (;;) {
        struct virtio_blk_req *r = req_get(blk);
        if (r == NULL) {
            break; /* out of memory: the rest stays on the ring for the next kick */
        }
        r->q = q;
        if (virtqueue_pop(vq, &r->elem) <= 0) {
            req_put(blk, r);
            break;
        }
        blk->inflight++;
        handle(blk, r);
    }
    block_aio_unplug(blk->aio);
    notify_batches(blk);
}

static uint64_t blk_config_read(void *opaque, uint32_t off, unsigned size)
{
    struct virtio_blk *blk = opaque;
    uint64_t v = 0;
    memcpy(&v, blk->config + off, size); /* little endian, as the engine's host */
    return v;
}

static void blk_config_write(void *opaque, uint32_t off, uint64_t val, unsigned size)
{
    /* Only the writeback field is writable, and only with CONFIG_WCE (not offered). */
}

static void blk_reset(void *opaque)
{
    struct virtio_blk *blk = opaque;
    /* In-flight requests point into rings the driver has just given up: finish them without
     * touching guest memory, so nothing is written to RAM after the reset returns. */
    blk->resetting = true;
    block_aio_drain(blk->aio);
    blk->resetting = false;
    blk->push_pending = 0;
}

static const struct virtio_ops blk_ops = {
    .name = "virtio-blk",
    .device_id = VIRTIO_ID_BLOCK,
    .config_size = VIRTIO_BLK_CONFIG_SIZE,
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .queue_notify = blk_queue_notify,
    .reset = blk_reset,
};

static void put16(uint8_t *p, uint16_t v)
{
    v = htole16(v);
    memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    v = htole64(v);
    memcpy(p, &v, 8);
}

/* Config layout (5.2.4): offsets of struct virtio_blk_config. */
static void build_config(struct virtio_blk *blk, unsigned nq)
{
    uint8_t *c = blk->config;
    memset(c, 0, sizeof(blk->config));
    put64(c + 0, blk->capacity);
    put32(c + 8, VIRTIO_BLK_SIZE_MAX);
    put32(c + 12, VIRTIO_BLK_SEG_MAX);
    /* 16..19 geometry: not offered. */
    put32(c + 20, VIRTIO_BLK_SECTOR); /* blk_size: logical block */
    c[24] = 3;                        /* physical_block_exp: 4 KiB physical blocks */
    c[25] = 0;                        /* alignment_offset */
    put16(c + 26, BLOCK_DIRECT_ALIGN / VIRTIO_BLK_SECTOR); /* min_io_size, in blocks */
    put32(c + 28, 0);                                      /* opt_io_size: no preference */
    c[32] = 0;                                             /* writeback: only with CONFIG_WCE */
    put16(c + 34, (uint16_t)nq);
    put32(c + 36, VIRTIO_BLK_MAX_DISCARD_SECTORS);
    put32(c + 40, VIRTIO_BLK_MAX_DISCARD_SEG);
    put32(c + 44, BLOCK_DIRECT_ALIGN / VIRTIO_BLK_SECTOR); /* discard_sector_alignment */
    put32(c + 48, VIRTIO_BLK_MAX_DISCARD_SECTORS);
    put32(c + 52, VIRTIO_BLK_MAX_DISCARD_SEG);
    c[56] = 1; /* write_zeroes_may_unmap: zeroed ranges may be released (raw holes) */
}

struct virtio_blk *virtio_blk_create(const struct guest_mem *mem, struct block_image *img,
                                     const struct virtio_blk_opts *opts, char *err, size_t errlen)
{
    static const struct virtio_blk_opts defaults = {0};
    if (opts == NULL) {
        opts = &defaults;
    }
    unsigned nq = opts->num_queues ? opts->num_queues : 1;
    if (nq > VIRTIO_BLK_MAX_QUEUES) {
        snprintf(err, errlen, "virtio-blk: %u queues asked, at most %d", nq, VIRTIO_BLK_MAX_QUEUES);
        return NULL;
    }
    if (opts->serial != NULL && strlen(opts->serial) > VIRTIO_BLK_ID_BYTES) {
        snprintf(err, errlen, "virtio-blk: serial '%s' is longer than %d bytes", opts->serial,
                 VIRTIO_BLK_ID_BYTES);
        return NULL;
    }
    if (block_size(img) % VIRTIO_BLK_SECTOR) {
        snprintf(err, errlen, "virtio-blk: disk size %llu is not a multiple of 512 bytes",
                 (unsigned long long)block_size(img));
        return NULL;
    }
    struct virtio_blk *blk = calloc(1, sizeof(*blk));
    if (blk == NULL) {
        snprintf(err, errlen, "virtio-blk: out of memory");
        return NULL;
    }
    blk->capacity = block_size(img) / VIRTIO_BLK_SECTOR;
    blk->readonly = block_readonly(img);
    if (opts->serial != NULL) {
        memcpy(blk->serial, opts->serial, strlen(opts->serial));
    }
    build_config(blk, nq);
    uint64_t features = VIRTIO_F_BIT(VIRTIO_BLK_F_SIZE_MAX) | VIRTIO_F_BIT(VIRTIO_BLK_F_SEG_MAX) |
                        VIRTIO_F_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_F_BIT(VIRTIO_BLK_F_FLUSH) |
                        VIRTIO_F_BIT(VIRTIO_BLK_F_TOPOLOGY);
    if (blk->readonly) {
        features |= VIRTIO_F_BIT(VIRTIO_BLK_F_RO);
    } else {
        features |= VIRTIO_F_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_F_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
    }
    if (nq > 1) {
        features |= VIRTIO_F_BIT(VIRTIO_BLK_F_MQ);
    }
    if (virtio_dev_init(&blk->vdev, &blk_ops, blk, mem, features, nq, VIRTIO_BLK_QUEUE_SIZE) < 0) {
        snprintf(err, errlen, "virtio-blk: cannot set up the device");
        free(blk);
        return NULL;
    }
    /* Depth: one ring slot per descriptor head of every queue. */
    if (block_aio_create(img, opts->backend, nq * VIRTIO_BLK_QUEUE_SIZE, &blk->aio, err, errlen) <
        0) {
        free(blk);
        return NULL;
    }
    blk->img = img;
    return blk;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
    if (blk == NULL) {
        return;
    }
    /* Guest RAM may already be going away: finish requests without writing into it. */
    blk->resetting = true;
    block_aio_destroy(blk->aio);
    while (blk->free_reqs != NULL) {
        struct virtio_blk_req *r = blk->free_reqs;
        blk->free_reqs = r->next_free;
        free(r);
    }
    block_close(blk->img);
    free(blk);
}

struct virtio_dev *virtio_blk_vdev(struct virtio_blk *blk)
{
    return &blk->vdev;
}

int virtio_blk_event_fd(const struct virtio_blk *blk)
{
    return block_aio_event_fd(blk->aio);
}

void virtio_blk_process(struct virtio_blk *blk)
{
    block_aio_complete(blk->aio);
    notify_batches(blk);
}

void virtio_blk_drain(struct virtio_blk *blk)
{
    block_aio_drain(blk->aio);
    notify_batches(blk);
}

struct block_image *virtio_blk_replace_image(struct virtio_blk *blk, struct block_image *img,
                                             char *err, size_t errlen)
{
    if (block_size(img) / VIRTIO_BLK_SECTOR != blk->capacity ||
        block_readonly(img) != blk->readonly) {
        snprintf(err, errlen, "the new image has another size or read-only setting");
        return NULL;
    }
    virtio_blk_drain(blk);
    block_aio_set_image(blk->aio, img);
    struct block_image *old = blk->img;
    blk->img = img;
    return old;
}

static int blk_post_load(void *opaque)
{
    struct virtio_blk *blk = opaque;
    /* Same disk size as when saved, and nothing was in flight (virtio_blk_drain). */
    if (blk->capacity != block_size(blk->img) / VIRTIO_BLK_SECTOR || blk->inflight != 0) {
        return -EINVAL;
    }
    return 0;
}

static const struct vmstate_field blk_fields[] = {
    VMSTATE_FIELD(struct virtio_blk, capacity),
    VMSTATE_FIELD(struct virtio_blk, inflight),
    VMSTATE_END,
};

const struct vmstate virtio_blk_vmstate = {
    .name = "virtio-blk",
    .version = 1,
    .fields = blk_fields,
    .post_load = blk_post_load,
};

static void blk_quiesce(void *opaque)
{
    virtio_blk_drain(opaque);
}

unsigned virtio_blk_state_sections(struct virtio_blk *blk, struct device *out, unsigned max)
{
    unsigned n = virtio_dev_state_sections(&blk->vdev, out, max);
    if (n < max) {
        out[n] = (struct device){
            .name = "virtio-blk.disk",
            .opaque = blk,
            .state = &virtio_blk_vmstate,
            .quiesce = blk_quiesce,
        };
    }
    return n + 1;
}
