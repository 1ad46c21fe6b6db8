// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-blk driven through fake guest RAM and a real image file: read/write patterns across
 * split buffers, many requests in flight with one interrupt per batch, flush, discard and
 * write-zeroes, read-only disks, malformed requests, reset with requests in flight, the state
 * section. Every case runs on raw (page cache and O_DIRECT) and qcow2 images, with the
 * io_uring engine and with the thread pool.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/virtio_blk.h"
#include "snapshots/vmstate.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define RAM_SIZE (4u << 20)
#define Q0_BASE 0x1000u
#define Q1_BASE 0x6000u
#define HEAP0 0x10000u
#define HEAP1 0x200000u
#define QSIZE 256
#define DISK_SIZE (1u << 20)
#define SECTORS (DISK_SIZE / 512)

struct params {
    const char *name;
    enum block_format fmt;
    enum block_cache cache;
    enum block_aio_backend backend;
};

struct fixture {
    const struct params *p;
    char dir[64], path[96];
    uint8_t *ram;
    struct guest_mem mem;
    struct virtio_blk *blk;
    struct vdrv drv, drv1;
    unsigned queue_irqs, config_irqs;
};

static void fake_interrupt(void *transport, unsigned kind, unsigned q)
{
    struct fixture *f = transport;
    if (kind == VIRTIO_IRQ_QUEUE) {
        f->queue_irqs++;
    } else {
        f->config_irqs++;
    }
}

static const uint64_t all_features =
    VIRTIO_F_BIT(VIRTIO_F_VERSION_1) | VIRTIO_F_BIT(VIRTIO_BLK_F_FLUSH) |
    VIRTIO_F_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_F_BIT(VIRTIO_BLK_F_WRITE_ZEROES) |
    VIRTIO_F_BIT(VIRTIO_BLK_F_BLK_SIZE) | VIRTIO_F_BIT(VIRTIO_BLK_F_SEG_MAX);

/* Creates the image (filled with a known pattern) and the device; returns -1 to skip. */
static int open_device(struct fixture *f, bool readonly, unsigned nq, uint64_t features)
{
    char err[BLOCK_ERR_LEN];
    struct block_image *img;
    int r = block_open(f->path, f->p->fmt, readonly, f->p->cache, &img, err, sizeof(err));
    if (r == -EINVAL && f->p->cache == BLOCK_CACHE_NONE) {
        return -1; /* file system without O_DIRECT */
    }
    assert_int_equal(r, 0);
    struct virtio_blk_opts o = {
        .num_queues = nq, .backend = f->p->backend, .serial = "deskvm-test-0"};
    f->blk = virtio_blk_create(&f->mem, img, &o, err, sizeof(err));
    if (f->blk == NULL && f->p->backend == BLOCK_AIO_IO_URING) {
        block_close(img);
        return -1; /* no io_uring here */
    }
    assert_non_null(f->blk);
    struct virtio_dev *dev = virtio_blk_vdev(f->blk);
    virtio_dev_set_interrupt(dev, fake_interrupt, f);
    assert_int_equal(vdrv_negotiate(dev, features & dev->device_features), 0);
    assert_int_equal(vdrv_setup(&f->drv, dev, 0, f->ram, Q0_BASE, QSIZE, HEAP0, HEAP1), 0);
    if (nq > 1) {
        assert_int_equal(vdrv_setup(&f->drv1, dev, 1, f->ram, Q1_BASE, QSIZE, HEAP1, RAM_SIZE), 0);
    }
    assert_int_equal(vdrv_driver_ok(dev), 0);
    return 0;
}

static uint8_t pattern(uint64_t off)
{
    return (uint8_t)(off * 7 + (off >> 9) * 13 + 1);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->p = *state;
    /* Not /tmp: it may be tmpfs, which has no O_DIRECT. */
    snprintf(f->dir, sizeof(f->dir), "/var/tmp/test-vblk-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-vblk-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
    }
    snprintf(f->path, sizeof(f->path), "%s/disk", f->dir);
    char err[BLOCK_ERR_LEN];
    if (f->p->fmt == BLOCK_FORMAT_QCOW2) {
        /* 4 KiB clusters: requests cross clusters, some contiguous on the host, some not. */
        struct qcow2_create_opts o = {.size = DISK_SIZE, .cluster_bits = 12};
        assert_int_equal(qcow2_create(f->path, &o, err, sizeof(err)), 0);
    } else {
        assert_int_equal(block_create_raw(f->path, DISK_SIZE, err, sizeof(err)), 0);
    }
    /* Known contents, written through the synchronous path. Half the qcow2 image stays
     * unallocated (reads as zeroes), so both engine paths see use. */
    struct block_image *img;
    assert_int_equal(
        block_open(f->path, f->p->fmt, false, BLOCK_CACHE_WRITEBACK, &img, err, sizeof(err)), 0);
    uint8_t *buf = malloc(DISK_SIZE / 2);
    assert_non_null(buf);
    for (uint64_t i = 0; i < DISK_SIZE / 2; i++) {
        buf[i] = pattern(i);
    }
    assert_int_equal(block_pwrite(img, 0, buf, DISK_SIZE / 2), 0);
    free(buf);
    block_close(img);

    f->ram = malloc(RAM_SIZE);
    assert_non_null(f->ram);
    memset(f->ram, 0x55, RAM_SIZE);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    virtio_blk_destroy(f->blk);
    unlink(f->path);
    rmdir(f->dir);
    free(f->ram);
    free(f);
    return 0;
}

#define OPEN(f, ro, nq, feat)                                                                      \
    do {                                                                                           \
        if (open_device((f), (ro), (nq), (feat)) < 0) {                                            \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* ---- building requests ---- */

struct req {
    uint16_t head;
    uint64_t hdr, status;
    uint64_t data[8];
    uint32_t lens[8];
    unsigned n;
};

static uint64_t alloc(struct vdrv *d, uint32_t len, uint32_t align)
{
    d->heap = (d->heap + align - 1) & ~(uint64_t)(align - 1);
    return vdrv_alloc(d, len);
}

/*
 * Header (readable), n data buffers (readable for OUT-like types, writable for IN-like),
 * status byte (writable). align: alignment of the data buffers.
 */
static struct req mkreq(struct vdrv *d, uint32_t type, uint64_t sector, const uint32_t *lens,
                        unsigned n, bool data_writable, uint32_t align)
{
    struct req r = {.n = n};
    r.head = d->next_desc;
    uint16_t i = d->next_desc;
    r.hdr = alloc(d, 16, 16);
    uint8_t *h = d->ram + r.hdr;
    memcpy(h, &type, 4);
    memset(h + 4, 0, 4);
    memcpy(h + 8, &sector, 8);
    uint16_t next = (uint16_t)((i + 1) % d->size);
    vdrv_desc(d, i, r.hdr, 16, VIRTQ_DESC_F_NEXT, next);
    i = next;
    for (unsigned k = 0; k < n; k++) {
        r.lens[k] = lens[k];
        r.data[k] = alloc(d, lens[k], align);
        next = (uint16_t)((i + 1) % d->size);
        vdrv_desc(d, i, r.data[k], lens[k],
                  VIRTQ_DESC_F_NEXT | (data_writable ? VIRTQ_DESC_F_WRITE : 0), next);
        i = next;
    }
    r.status = alloc(d, 1, 1);
    d->ram[r.status] = 0xff;
    vdrv_desc(d, i, r.status, 1, VIRTQ_DESC_F_WRITE, 0);
    d->next_desc = (uint16_t)((i + 1) % d->size);
    return r;
}

static void kick(struct fixture *f, unsigned q)
{
    virtio_dev_queue_notify(virtio_blk_vdev(f->blk), q);
}

/* Waits on the event fd and processes until nothing is in flight (at most 10 s). */
static void run_until_idle(struct fixture *f)
{
    for (int i = 0; i < 1000 && f->blk->inflight > 0; i++) {
        struct pollfd p = {.fd = virtio_blk_event_fd(f->blk), .events = POLLIN};
        (void)poll(&p, 1, 10);
        virtio_blk_process(f->blk);
    }
    assert_int_equal(f->blk->inflight, 0);
}

/* Posts, kicks, completes one request; returns its status byte and checks the used entry. */
static uint8_t do_req(struct fixture *f, struct req *r, uint32_t want_len)
{
    vdrv_post(&f->drv, r->head);
    kick(f, 0);
    run_until_idle(f);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(id, r->head);
    if (want_len != UINT32_MAX) {
        assert_int_equal(len, want_len);
    }
    return f->ram[r->status];
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + i * 31 + (i >> 8));
    }
}

static void disk_read(struct fixture *f, uint64_t off, void *buf, size_t len)
{
    assert_int_equal(block_pread(f->blk->img, off, buf, len), 0);
}

/* ---- tests ---- */

static void test_config_and_features(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, all_features);
    struct virtio_dev *dev = virtio_blk_vdev(f->blk);
    assert_int_equal(virtio_dev_config_read(dev, 0, 8), SECTORS);
    assert_int_equal(virtio_dev_config_read(dev, 12, 4), VIRTIO_BLK_SEG_MAX);
    assert_int_equal(virtio_dev_config_read(dev, 20, 4), 512);
    assert_int_equal(virtio_dev_config_read(dev, 34, 2), 1);
    assert_int_equal(virtio_dev_config_read(dev, 40, 4), VIRTIO_BLK_MAX_DISCARD_SEG);
    assert_int_equal(virtio_dev_config_read(dev, 60, 1), 0); /* past the end */
    assert_true(dev->device_features & VIRTIO_F_BIT(VIRTIO_BLK_F_FLUSH));
    assert_true(dev->device_features & VIRTIO_F_BIT(VIRTIO_BLK_F_DISCARD));
    assert_false(dev->device_features & VIRTIO_F_BIT(VIRTIO_BLK_F_RO));
    assert_false(dev->device_features & VIRTIO_F_BIT(VIRTIO_BLK_F_MQ));
    enum block_aio_backend b = block_aio_backend(f->blk->aio);
    if (f->p->backend == BLOCK_AIO_THREADS) {
        assert_int_equal(b, BLOCK_AIO_THREADS);
    } else if (f->p->backend == BLOCK_AIO_IO_URING) {
        assert_int_equal(b, BLOCK_AIO_IO_URING);
    }
}

/* Writes split across buffers of odd sizes, read back through differently split buffers. */
static void test_write_read_pattern(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, all_features);
    for (unsigned round = 0; round < 2; round++) {
        /* Round 0: a 4 KiB-aligned range in unaligned buffers (O_DIRECT bounces them);
         * round 1: a range that is not 4 KiB aligned (O_DIRECT: the driver's read-modify-write).
         * Both cross qcow2 clusters. */
        uint32_t align = round == 0 ? 16 : 4096;
        uint32_t wl[] = {512, 4096 + 1024, 2560}; /* 8192 bytes */
        uint32_t rl[] = {1024, 512, 6656};
        uint64_t sector = round == 0 ? 8 : 103;
        struct req w = mkreq(&f->drv, VIRTIO_BLK_T_OUT, sector, wl, 3, false, align);
        static uint8_t expect[8192];
        fill(expect, sizeof(expect), (uint8_t)(round + 1));
        size_t o = 0;
        for (unsigned k = 0; k < 3; k++) {
            memcpy(f->ram + w.data[k], expect + o, wl[k]);
            o += wl[k];
        }
        assert_int_equal(do_req(f, &w, 1), VIRTIO_BLK_S_OK);

        struct req r = mkreq(&f->drv, VIRTIO_BLK_T_IN, sector, rl, 3, true, align);
        assert_int_equal(do_req(f, &r, 8192 + 1), VIRTIO_BLK_S_OK);
        o = 0;
        for (unsigned k = 0; k < 3; k++) {
            assert_memory_equal(f->ram + r.data[k], expect + o, rl[k]);
            o += rl[k];
        }
        /* The disk holds it, and the neighbours were not touched. */
        static uint8_t got[8192 + 1024];
        disk_read(f, sector * 512 - 512, got, sizeof(got));
        assert_memory_equal(got + 512, expect, 8192);
        for (unsigned i = 0; i < 512; i++) {
            assert_int_equal(got[i], pattern(sector * 512 - 512 + i));
            assert_int_equal(got[512 + 8192 + i], pattern(sector * 512 + 8192 + i));
        }
    }
    /* Unwritten areas read back what the image holds: the pattern, and zeroes past it. */
    uint32_t rl[] = {8192};
    struct req r = mkreq(&f->drv, VIRTIO_BLK_T_IN, SECTORS / 2 - 8, rl, 1, true, 4096);
    assert_int_equal(do_req(f, &r, 8193), VIRTIO_BLK_S_OK);
    for (unsigned i = 0; i < 4096; i++) {
        assert_int_equal(f->ram[r.data[0] + i], pattern(DISK_SIZE / 2 - 4096 + i));
        assert_int_equal(f->ram[r.data[0] + 4096 + i], 0);
    }
    assert_int_equal(f->blk->reqs_failed, 0);
    const struct block_stats *st = &f->blk->stats;
    assert_int_equal(st->ops[BLOCK_STATS_WRITE], 2);
    assert_int_equal(st->bytes[BLOCK_STATS_WRITE], 2 * 8192);
    assert_int_equal(st->ops[BLOCK_STATS_READ], 3);
    assert_int_equal(st->bytes[BLOCK_STATS_READ], 3 * 8192);
    assert_int_equal(st->failed[BLOCK_STATS_READ] + st->failed[BLOCK_STATS_WRITE], 0);
    /* Which engine path carried it: all of raw goes to io_uring when it is in use (O_DIRECT
     * with unaligned buffers through the bounce); qcow2 allocating writes and unallocated
     * reads go to the pool, overwrites of allocated clusters to io_uring. */
    uint64_t ring, pool;
    block_aio_counts(f->blk->aio, &ring, &pool);
    uint64_t want_ring;
    if (f->p->backend == BLOCK_AIO_THREADS) {
        want_ring = 0;
    } else if (f->p->fmt == BLOCK_FORMAT_RAW) {
        want_ring = f->p->cache == BLOCK_CACHE_NONE ? 3 : 5; /* round 1 unaligned: pool */
    } else {
        /* Both rounds lie in host-contiguous allocated clusters; the last read reaches
         * unallocated clusters. */
        want_ring = 4;
    }
    assert_int_equal(ring, want_ring);
    assert_int_equal(pool, 5 - want_ring);
}

/* Many requests posted before one kick; drained together they cost one interrupt. */
static void test_many_in_flight(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, all_features);
    enum { N = 64 };
    static struct req w[N];
    for (unsigned i = 0; i < N; i++) {
        uint32_t l[] = {4096};
        w[i] = mkreq(&f->drv, VIRTIO_BLK_T_OUT, (uint64_t)i * 16 + (i & 1), l, 1, false, 4096);
        memset(f->ram + w[i].data[0], 0x80 + i, 4096);
        vdrv_post(&f->drv, w[i].head);
    }
    kick(f, 0);
    assert_true(f->blk->inflight > 0);
    unsigned irqs = f->queue_irqs;
    virtio_blk_drain(f->blk);
    assert_int_equal(f->blk->inflight, 0);
    assert_int_equal(f->queue_irqs - irqs, 1);
    bool seen[N] = {false};
    uint32_t id, len;
    for (unsigned i = 0; i < N; i++) {
        assert_true(vdrv_get_used(&f->drv, &id, &len));
        for (unsigned k = 0; k < N; k++) {
            if (w[k].head == id) {
                assert_false(seen[k]);
                seen[k] = true;
                assert_int_equal(f->ram[w[k].status], VIRTIO_BLK_S_OK);
            }
        }
    }
    assert_false(vdrv_get_used(&f->drv, &id, &len));
    for (unsigned i = 0; i < N; i++) {
        assert_true(seen[i]);
        static uint8_t got[4096], want[4096];
        memset(want, 0x80 + i, sizeof(want));
        disk_read(f, ((uint64_t)i * 16 + (i & 1)) * 512, got, sizeof(got));
        assert_memory_equal(got, want, sizeof(want));
    }
}

static void test_flush(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, all_features);
    struct req r = mkreq(&f->drv, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_OK);
}

/* Without FLUSH negotiated the device writes through: writes still succeed. */
static void test_write_without_flush_feature(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, VIRTIO_F_BIT(VIRTIO_F_VERSION_1));
    uint32_t l[] = {512};
    struct req w = mkreq(&f->drv, VIRTIO_BLK_T_OUT, 9, l, 1, false, 512);
    memset(f->ram + w.data[0], 0xa5, 512);
    assert_int_equal(do_req(f, &w, 1), VIRTIO_BLK_S_OK);
    uint8_t got[512];
    disk_read(f, 9 * 512, got, 512);
    for (unsigned i = 0; i < 512; i++) {
        assert_int_equal(got[i], 0xa5);
    }
    /* Discard and write-zeroes were not negotiated: UNSUPP. */
    uint32_t sl[] = {16};
    struct req d = mkreq(&f->drv, VIRTIO_BLK_T_DISCARD, 0, sl, 1, false, 16);
    memset(f->ram + d.data[0], 0, 16);
    assert_int_equal(do_req(f, &d, 1), VIRTIO_BLK_S_UNSUPP);
}

static void put_seg(struct fixture *f, uint64_t gpa, uint64_t sector, uint32_t num, uint32_t flags)
{
    memcpy(f->ram + gpa, &sector, 8);
    memcpy(f->ram + gpa + 8, &num, 4);
    memcpy(f->ram + gpa + 12, &flags, 4);
}

static void test_write_zeroes_and_discard(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, all_features);
    /* Two segments: one partial 4 KiB block, one spanning several. */
    uint32_t l[] = {32};
    struct req z = mkreq(&f->drv, VIRTIO_BLK_T_WRITE_ZEROES, 0, l, 1, false, 16);
    put_seg(f, z.data[0], 1, 3, 0);
    put_seg(f, z.data[0] + 16, 64, 40, VIRTIO_BLK_DISCARD_F_UNMAP);
    assert_int_equal(do_req(f, &z, 1), VIRTIO_BLK_S_OK);
    static uint8_t got[128 * 512];
    disk_read(f, 0, got, sizeof(got));
    for (unsigned i = 0; i < sizeof(got); i++) {
        bool zero = (i >= 512 && i < 4 * 512) || (i >= 64 * 512 && i < 104 * 512);
        if (got[i] != (zero ? 0 : pattern(i))) {
            fail_msg("byte %u: %u", i, got[i]);
        }
    }
    /* Discard of whole 4 KiB blocks: allowed to drop them (they then read as zeroes). */
    struct req d = mkreq(&f->drv, VIRTIO_BLK_T_DISCARD, 0, l, 1, false, 16);
    put_seg(f, d.data[0], 128, 16, 0);
    put_seg(f, d.data[0] + 16, 256, 8, 0);
    assert_int_equal(do_req(f, &d, 1), VIRTIO_BLK_S_OK);
    disk_read(f, 128 * 512, got, 16 * 512);
    for (unsigned i = 0; i < 16 * 512; i++) {
        assert_int_equal(got[i], 0);
    }
    /* Bad segments: each answered alone, the device stays usable. */
    static const struct {
        uint32_t type;
        uint64_t sector;
        uint32_t num, flags;
        uint8_t st;
    } bad[] = {
        {VIRTIO_BLK_T_DISCARD, 0, 8, VIRTIO_BLK_DISCARD_F_UNMAP, VIRTIO_BLK_S_UNSUPP},
        {VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 2, VIRTIO_BLK_S_UNSUPP},
        {VIRTIO_BLK_T_WRITE_ZEROES, SECTORS - 1, 2, 0, VIRTIO_BLK_S_IOERR},
        {VIRTIO_BLK_T_DISCARD, UINT64_MAX - 3, 8, 0, VIRTIO_BLK_S_IOERR},
        {VIRTIO_BLK_T_DISCARD, 0, VIRTIO_BLK_MAX_DISCARD_SECTORS + 1, 0, VIRTIO_BLK_S_IOERR},
    };
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint32_t one[] = {16};
        struct req b = mkreq(&f->drv, bad[i].type, 0, one, 1, false, 16);
        put_seg(f, b.data[0], bad[i].sector, bad[i].num, bad[i].flags);
        assert_int_equal(do_req(f, &b, 1), bad[i].st);
    }
    /* Segment area: not a multiple of 16, empty, too many segments. */
    uint32_t odd[] = {24}, many[] = {16 * (VIRTIO_BLK_MAX_DISCARD_SEG + 1)};
    struct req b = mkreq(&f->drv, VIRTIO_BLK_T_DISCARD, 0, odd, 1, false, 16);
    memset(f->ram + b.data[0], 0, 24);
    assert_int_equal(do_req(f, &b, 1), VIRTIO_BLK_S_IOERR);
    b = mkreq(&f->drv, VIRTIO_BLK_T_DISCARD, 0, NULL, 0, false, 16);
    assert_int_equal(do_req(f, &b, 1), VIRTIO_BLK_S_IOERR);
    b = mkreq(&f->drv, VIRTIO_BLK_T_WRITE_ZEROES, 0, many, 1, false, 16);
    memset(f->ram + b.data[0], 0, many[0]);
    assert_int_equal(do_req(f, &b, 1), VIRTIO_BLK_S_IOERR);
    assert_false(virtio_blk_vdev(f->blk)->status & VIRTIO_STATUS_NEEDS_RESET);
    /* The statistics: 2 done (their bytes counted), 8 refused. */
    const struct block_stats *st = &f->blk->stats;
    assert_int_equal(st->ops[BLOCK_STATS_UNMAP], 10);
    assert_int_equal(st->failed[BLOCK_STATS_UNMAP], 8);
    assert_int_equal(st->bytes[BLOCK_STATS_UNMAP], (3 + 40 + 16 + 8) * 512);
    assert_int_equal(st->ops[BLOCK_STATS_WRITE] + st->ops[BLOCK_STATS_READ], 0);
}

static void test_readonly(void **state)
{
    struct fixture *f = *state;
    OPEN(f, true, 1, all_features | VIRTIO_F_BIT(VIRTIO_BLK_F_RO));
    struct virtio_dev *dev = virtio_blk_vdev(f->blk);
    assert_true(dev->device_features & VIRTIO_F_BIT(VIRTIO_BLK_F_RO));
    assert_false(dev->device_features & VIRTIO_F_BIT(VIRTIO_BLK_F_DISCARD));
    uint32_t l[] = {1024};
    struct req w = mkreq(&f->drv, VIRTIO_BLK_T_OUT, 2, l, 1, false, 16);
    memset(f->ram + w.data[0], 0, 1024);
    assert_int_equal(do_req(f, &w, 1), VIRTIO_BLK_S_IOERR);
    struct req r = mkreq(&f->drv, VIRTIO_BLK_T_IN, 2, l, 1, true, 16);
    assert_int_equal(do_req(f, &r, 1025), VIRTIO_BLK_S_OK);
    for (unsigned i = 0; i < 1024; i++) {
        assert_int_equal(f->ram[r.data[0] + i], pattern(1024 + i)); /* unchanged */
    }
    uint32_t sl[] = {16};
    struct req z = mkreq(&f->drv, VIRTIO_BLK_T_WRITE_ZEROES, 0, sl, 1, false, 16);
    put_seg(f, z.data[0], 0, 8, 0);
    assert_int_equal(do_req(f, &z, 1), VIRTIO_BLK_S_UNSUPP); /* not offered on RO */
    struct req fl = mkreq(&f->drv, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false, 16);
    assert_int_equal(do_req(f, &fl, 1), VIRTIO_BLK_S_OK);
}

static void test_bad_requests(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, all_features);
    uint32_t l512[] = {512}, odd[] = {513}, two[] = {512, 512};
    /* The last sector is fine; one past it, or straddling the end, is not. */
    struct req r = mkreq(&f->drv, VIRTIO_BLK_T_IN, SECTORS - 1, l512, 1, true, 16);
    assert_int_equal(do_req(f, &r, 513), VIRTIO_BLK_S_OK);
    r = mkreq(&f->drv, VIRTIO_BLK_T_IN, SECTORS, l512, 1, true, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_IOERR);
    r = mkreq(&f->drv, VIRTIO_BLK_T_OUT, SECTORS - 1, two, 2, false, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_IOERR);
    r = mkreq(&f->drv, VIRTIO_BLK_T_IN, UINT64_MAX, l512, 1, true, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_IOERR);
    r = mkreq(&f->drv, VIRTIO_BLK_T_OUT, UINT64_MAX / 512 + 1, l512, 1, false, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_IOERR);
    /* Lengths that are not whole sectors. */
    r = mkreq(&f->drv, VIRTIO_BLK_T_IN, 0, odd, 1, true, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_IOERR);
    r = mkreq(&f->drv, VIRTIO_BLK_T_OUT, 0, odd, 1, false, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_IOERR);
    /* A read whose data buffer is readable, a write whose data is writable. */
    r = mkreq(&f->drv, VIRTIO_BLK_T_IN, 0, l512, 1, false, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_IOERR);
    r = mkreq(&f->drv, VIRTIO_BLK_T_OUT, 0, l512, 1, true, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_IOERR);
    /* Unknown types. */
    r = mkreq(&f->drv, 3, 0, NULL, 0, false, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_UNSUPP);
    r = mkreq(&f->drv, 0x80000000u, 0, NULL, 0, false, 16);
    assert_int_equal(do_req(f, &r, 1), VIRTIO_BLK_S_UNSUPP);
    /* GET_ID: the serial, NUL-padded to 20 bytes; a short buffer gets a prefix. */
    uint32_t idl[] = {20}, shortl[] = {4};
    r = mkreq(&f->drv, VIRTIO_BLK_T_GET_ID, 0, idl, 1, true, 16);
    assert_int_equal(do_req(f, &r, 21), VIRTIO_BLK_S_OK);
    assert_memory_equal(f->ram + r.data[0], "deskvm-test-0\0\0\0\0\0\0\0", 20);
    r = mkreq(&f->drv, VIRTIO_BLK_T_GET_ID, 0, shortl, 1, true, 16);
    assert_int_equal(do_req(f, &r, 5), VIRTIO_BLK_S_OK);
    assert_memory_equal(f->ram + r.data[0], "desk", 4);
    assert_int_equal(f->ram[r.data[0] + 4], 0x55);
    /* Nothing above was a device error. */
    assert_false(virtio_blk_vdev(f->blk)->status & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(virtio_blk_vdev(f->blk)->error_count, 0);
    /* The statistics count the refused reads and writes, not GET_ID nor unknown types. */
    const struct block_stats *st = &f->blk->stats;
    assert_int_equal(st->ops[BLOCK_STATS_READ], 5);
    assert_int_equal(st->failed[BLOCK_STATS_READ], 4);
    assert_int_equal(st->bytes[BLOCK_STATS_READ], 512);
    assert_int_equal(st->ops[BLOCK_STATS_WRITE], 4);
    assert_int_equal(st->failed[BLOCK_STATS_WRITE], 4);
    assert_int_equal(st->bytes[BLOCK_STATS_WRITE], 0);
    assert_int_equal(st->ops[BLOCK_STATS_FLUSH] + st->ops[BLOCK_STATS_UNMAP], 0);
}

/* No status byte or no whole header: nothing can be answered, the device needs a reset. */
static void test_unanswerable(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, all_features);
    virtio_blk_vdev(f->blk)->quiet = true;
    for (unsigned c = 0; c < 2; c++) {
        uint32_t lens[] = {16, 512};
        if (c == 1) {
            lens[0] = 15; /* header one byte short, then a status buffer */
        }
        uint64_t a[2];
        uint16_t head = vdrv_chain(&f->drv, lens, c == 0 ? 2 : 1, c == 0 ? 0 : 1, a);
        uint32_t type = VIRTIO_BLK_T_OUT;
        memcpy(f->ram + a[0], &type, 4);
        uint16_t used = vdrv_used_idx(&f->drv);
        vdrv_post(&f->drv, head);
        kick(f, 0);
        run_until_idle(f);
        struct virtio_dev *dev = virtio_blk_vdev(f->blk);
        assert_true(dev->status & VIRTIO_STATUS_NEEDS_RESET);
        assert_int_equal(vdrv_used_idx(&f->drv), used);
        assert_int_equal(dev->error_count, 1);
        /* The driver resets and sets the device up again. */
        assert_int_equal(virtio_dev_set_status(dev, 0), 0);
        assert_int_equal(vdrv_negotiate(dev, all_features & dev->device_features), 0);
        assert_int_equal(vdrv_setup(&f->drv, dev, 0, f->ram, Q0_BASE, QSIZE, HEAP0, HEAP1), 0);
        assert_int_equal(vdrv_driver_ok(dev), 0);
        dev->error_count = 0;
    }
    uint32_t l[] = {512};
    struct req r = mkreq(&f->drv, VIRTIO_BLK_T_IN, 0, l, 1, true, 16);
    assert_int_equal(do_req(f, &r, 513), VIRTIO_BLK_S_OK);
}

/* A reset with requests in flight finishes them without writing into guest memory. */
static void test_reset_in_flight(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, all_features);
    struct req r[16];
    for (unsigned i = 0; i < 16; i++) {
        uint32_t l[] = {8192};
        r[i] = mkreq(&f->drv, VIRTIO_BLK_T_IN, i * 16, l, 1, true, 4096);
        vdrv_post(&f->drv, r[i].head);
    }
    kick(f, 0);
    assert_int_equal(f->blk->inflight, 16);
    uint16_t used_before = vdrv_used_idx(&f->drv);
    assert_int_equal(virtio_dev_set_status(virtio_blk_vdev(f->blk), 0), 0);
    assert_int_equal(f->blk->inflight, 0);
    assert_int_equal(block_aio_inflight(f->blk->aio), 0);
    assert_int_equal(vdrv_used_idx(&f->drv), used_before);
    for (unsigned i = 0; i < 16; i++) {
        assert_int_equal(f->ram[r[i].status], 0xff);
    }
}

static void test_multiqueue(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 2, all_features | VIRTIO_F_BIT(VIRTIO_BLK_F_MQ));
    struct virtio_dev *dev = virtio_blk_vdev(f->blk);
    assert_true(dev->device_features & VIRTIO_F_BIT(VIRTIO_BLK_F_MQ));
    assert_int_equal(virtio_dev_config_read(dev, 34, 2), 2);
    uint32_t l[] = {4096};
    struct req w = mkreq(&f->drv1, VIRTIO_BLK_T_OUT, 40, l, 1, false, 4096);
    memset(f->ram + w.data[0], 0x3c, 4096);
    struct req r = mkreq(&f->drv, VIRTIO_BLK_T_IN, 8, l, 1, true, 4096);
    vdrv_post(&f->drv1, w.head);
    vdrv_post(&f->drv, r.head);
    kick(f, 1);
    kick(f, 0);
    virtio_blk_drain(f->blk);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->drv1, &id, &len));
    assert_int_equal(id, w.head);
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(id, r.head);
    assert_int_equal(len, 4097);
    assert_int_equal(f->ram[w.status], VIRTIO_BLK_S_OK);
    assert_int_equal(f->queue_irqs, 2); /* one per queue */
    uint8_t got[4096];
    disk_read(f, 40 * 512, got, 4096);
    assert_int_equal(got[0], 0x3c);
    assert_int_equal(got[4095], 0x3c);
}

static void test_state(void **state)
{
    struct fixture *f = *state;
    OPEN(f, false, 1, all_features);
    struct device secs[4];
    assert_int_equal(virtio_blk_state_sections(f->blk, secs, 4), 3);
    assert_string_equal(secs[2].name, "virtio-blk.disk");
    uint8_t a[64], b[64];
    long n = vmstate_save(&virtio_blk_vmstate, f->blk, a, sizeof(a));
    assert_true(n > 0);
    assert_int_equal(vmstate_load(&virtio_blk_vmstate, f->blk, a, (size_t)n), 0);
    assert_int_equal(vmstate_save(&virtio_blk_vmstate, f->blk, b, sizeof(b)), n);
    assert_memory_equal(a, b, (size_t)n);
    /* Saved with requests in flight: refused. */
    uint32_t l[] = {512};
    struct req r = mkreq(&f->drv, VIRTIO_BLK_T_IN, 0, l, 1, true, 16);
    vdrv_post(&f->drv, r.head);
    kick(f, 0);
    long m = vmstate_save(&virtio_blk_vmstate, f->blk, b, sizeof(b));
    virtio_blk_drain(f->blk);
    assert_int_equal(vmstate_load(&virtio_blk_vmstate, f->blk, b, (size_t)m), -EINVAL);
    /* A different disk size: refused. */
    f->blk->capacity++;
    assert_int_equal(vmstate_save(&virtio_blk_vmstate, f->blk, b, sizeof(b)), n);
    f->blk->capacity--;
    assert_int_equal(vmstate_load(&virtio_blk_vmstate, f->blk, b, (size_t)n), -EINVAL);
    assert_int_equal(f->blk->capacity, SECTORS);
}

static void test_create_errors(void **state)
{
    struct fixture *f = *state;
    char err[BLOCK_ERR_LEN];
    struct block_image *img;
    assert_int_equal(
        block_open(f->path, f->p->fmt, false, BLOCK_CACHE_WRITEBACK, &img, err, sizeof(err)), 0);
    struct virtio_blk_opts o = {.num_queues = VIRTIO_BLK_MAX_QUEUES + 1};
    assert_null(virtio_blk_create(&f->mem, img, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "queues"));
    o = (struct virtio_blk_opts){.serial = "123456789012345678901"};
    assert_null(virtio_blk_create(&f->mem, img, &o, err, sizeof(err)));
    assert_non_null(strstr(err, "serial"));
    block_close(img); /* not taken over on failure */
}

#define P(fmt, cache, be)                                                                          \
    {                                                                                              \
#fmt "/" #cache "/" #be, fmt, cache, be                                                    \
    }
static const struct params params[] = {
    P(BLOCK_FORMAT_RAW, BLOCK_CACHE_WRITEBACK, BLOCK_AIO_IO_URING),
    P(BLOCK_FORMAT_RAW, BLOCK_CACHE_WRITEBACK, BLOCK_AIO_THREADS),
    P(BLOCK_FORMAT_RAW, BLOCK_CACHE_NONE, BLOCK_AIO_IO_URING),
    P(BLOCK_FORMAT_RAW, BLOCK_CACHE_NONE, BLOCK_AIO_THREADS),
    P(BLOCK_FORMAT_QCOW2, BLOCK_CACHE_WRITEBACK, BLOCK_AIO_IO_URING),
    P(BLOCK_FORMAT_QCOW2, BLOCK_CACHE_WRITEBACK, BLOCK_AIO_THREADS),
};

#define T(fn, p)                                                                                   \
    {                                                                                              \
#fn, fn, setup, teardown, (void *)(p)                                                      \
    }

int main(void)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
        const struct params *p = &params[i];
        const struct CMUnitTest tests[] = {
            T(test_config_and_features, p),
            T(test_write_read_pattern, p),
            T(test_many_in_flight, p),
            T(test_flush, p),
            T(test_write_without_flush_feature, p),
            T(test_write_zeroes_and_discard, p),
            T(test_readonly, p),
            T(test_bad_requests, p),
            T(test_unanswerable, p),
            T(test_reset_in_flight, p),
            T(test_multiqueue, p),
            T(test_state, p),
            T(test_create_errors, p),
        };
        failed +=
            _cmocka_run_group_tests(p->name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
    }
    return failed;
}
