// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-blk: drives the modern virtio-pci block device (1af4:1042, virtio 1.x 5.2) at CPL3 by
 * polling. Reads the configuration (capacity must equal disk_size= when given, queues=), writes
 * a pattern derived from each byte's disk offset and the seed now= at sectors across the whole
 * disk (first, last, middle, an odd sector through three unaligned segments, 128 KiB through
 * an indirect table, 16 requests in flight spread over every queue), FLUSHes, reads it all back
 * (other segment splits, buffers pre-filled with 0xa5), checks a never-written range reads as
 * zeros, GET_ID (== disk_id= when given), and that requests past the end get IOERR without
 * hurting the device. Prints "blk-pattern: sector=S count=N" per written range and
 * "blk-seed: X" so run-guest.sh can find the same bytes in the image afterwards.
 */
#include "guest.h"
#include "virtio_guest.h"

#define SECT 512u
#define VIRTIO_BLK_F_SIZE_MAX 1
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_F_MQ 12
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_GET_ID 8
#define S_OK 0
#define S_IOERR 1

#define QMAX 4
#define BATCH 16
#define BIG_SECTORS 256u /* 128 KiB */
#define BIG_SEGS 32u
#define TBL_MAX (BIG_SEGS + 2)

struct blk_hdr {
    uint32_t type, reserved;
    uint64_t sector;
};

static struct vq_mem rings[QMAX];
static struct vq vqs[QMAX];
static struct vpci d;
static unsigned nq = 1;
static bool indirect;
static uint32_t seg_max = 0xffffffffu;
static uint64_t seed;

static struct blk_hdr hdrs[BATCH];
static uint8_t stats[BATCH];
static struct virtq_desc tbls[BATCH][TBL_MAX] __attribute__((aligned(16)));
static uint8_t wbuf[BIG_SECTORS * SECT + 4096] __attribute__((aligned(4096)));
static uint8_t rbuf[BIG_SECTORS * SECT + 4096] __attribute__((aligned(4096)));

/* The pattern: the 8-byte little-endian word at disk byte offset o (run-guest.sh agrees). */
static uint64_t pattern_word(uint64_t o)
{
    return ((o + 1) * 0x9e3779b97f4a7c15ull) ^ seed;
}

static void pattern_fill(uint8_t *buf, uint64_t sector, uint32_t sectors)
{
    for (uint64_t i = 0; i < (uint64_t)sectors * SECT; i += 8) {
        uint64_t w = pattern_word(sector * SECT + i);
        memcpy(buf + i, &w, 8);
    }
}

static void pattern_check(const uint8_t *buf, uint64_t sector, uint32_t sectors, const char *what)
{
    for (uint64_t i = 0; i < (uint64_t)sectors * SECT; i += 8) {
        uint64_t w;
        memcpy(&w, buf + i, 8);
        CHECK(w == pattern_word(sector * SECT + i), "%s: sector %lu byte %lu reads %#lx, want %#lx",
              what, sector + i / SECT, i % SECT, w, pattern_word(sector * SECT + i));
    }
}

/* Queue q, slot s: header, data b[0..n), status; indirect when negotiated and asked for. */
static void post(unsigned q, unsigned s, uint32_t type, uint64_t sector, const struct vq_buf *b,
                 unsigned n, bool use_indirect)
{
    struct vq_buf chain[TBL_MAX];
    hdrs[s] = (struct blk_hdr){.type = type, .sector = sector};
    stats[s] = 0xff;
    chain[0] = (struct vq_buf){&hdrs[s], sizeof(hdrs[s]), false};
    for (unsigned i = 0; i < n; i++) {
        chain[1 + i] = b[i];
    }
    chain[1 + n] = (struct vq_buf){&stats[s], 1, true};
    if (use_indirect && indirect) {
        vq_post_indirect(&vqs[q], (uint16_t)s, tbls[s], chain, n + 2);
    } else {
        /* Direct chains: slot s owns descriptors 3s..3s+2 (or all of them for s = 0 alone). */
        vq_post_chain(&vqs[q], (uint16_t)(3 * s), chain, n + 2);
    }
}

static uint32_t wait_used(unsigned q, uint16_t want_id, const char *what)
{
    uint32_t id, len;
    CHECK(vq_poll(&vqs[q], &id, &len, 10000), "%s: no completion on queue %u (status %#x)", what, q,
          vpci_status(&d));
    CHECK(id == want_id, "%s: used id %u, want %u", what, id, want_id);
    return len;
}

/* One request, synchronously, in slot 0 of queue q; returns the status byte. */
static uint8_t req(unsigned q, uint32_t type, uint64_t sector, const struct vq_buf *b, unsigned n,
                   bool use_indirect, uint32_t *used_len, const char *what)
{
    CHECK(n <= seg_max, "%s: %u segments, the device takes %u", what, n, seg_max);
    post(q, 0, type, sector, b, n, use_indirect);
    vq_kick(&vqs[q]);
    *used_len = wait_used(q, 0, what);
    return stats[0];
}

static void req_ok(unsigned q, uint32_t type, uint64_t sector, const struct vq_buf *b, unsigned n,
                   bool use_indirect, const char *what)
{
    uint32_t len, want = 1;
    for (unsigned i = 0; i < n; i++) {
        want += b[i].writable ? b[i].len : 0;
    }
    uint8_t st = req(q, type, sector, b, n, use_indirect, &len, what);
    CHECK(st == S_OK, "%s: status %u", what, st);
    CHECK(len == want, "%s: used length %u, want %u", what, len, want);
}

static uint64_t read_capacity(void)
{
    uint8_t gen;
    uint64_t cap;
    do {
        gen = vpci_config_generation(&d);
        cap = mmio_read32(d.device) | (uint64_t)mmio_read32(d.device + 4) << 32;
    } while (gen != vpci_config_generation(&d));
    return cap;
}

struct range {
    uint64_t sector;
    uint32_t count;
};

void test_main(void)
{
    seed = cmdline_u64("now", 0);
    CHECK(vpci_find(VIRTIO_ID_BLOCK, 0, &d) == 0, "no usable virtio-blk device");
    printf("virtio-blk at 00:%02x.%u revision %u\n", d.dev, d.fn, pci_cfg_read8(d.dev, d.fn, 8));
    CHECK(d.device != 0 && d.device_len >= 36, "device config missing or short (%u bytes)",
          d.device_len);
    CHECK(vpci_reset(&d) == 0, "reset failed");
    uint64_t want = 1ull << VIRTIO_BLK_F_SEG_MAX | 1ull << VIRTIO_BLK_F_BLK_SIZE |
                    1ull << VIRTIO_BLK_F_FLUSH | 1ull << VIRTIO_BLK_F_MQ |
                    1ull << VIRTIO_BLK_F_SIZE_MAX | 1ull << VIRTIO_F_INDIRECT_DESC;
    CHECK(vpci_negotiate(&d, want) == 0, "feature negotiation failed");
    uint64_t f = d.features & (want | 1ull << VIRTIO_F_VERSION_1);
    printf("features offered %#lx, taken %#lx\n", d.features, f);
    CHECK(f & 1ull << VIRTIO_BLK_F_FLUSH, "FLUSH not offered");
    indirect = f & 1ull << VIRTIO_F_INDIRECT_DESC;

    uint64_t cap = read_capacity();
    if (f & 1ull << VIRTIO_BLK_F_SEG_MAX) {
        seg_max = mmio_read32(d.device + 12);
    }
    uint32_t blk_size = f & 1ull << VIRTIO_BLK_F_BLK_SIZE ? mmio_read32(d.device + 20) : 512;
    if (f & 1ull << VIRTIO_BLK_F_MQ) {
        nq = mmio_read16(d.device + 34);
    }
    printf("capacity %lu sectors (%lu MiB), seg_max %u, blk_size %u, queues %u, indirect %u\n", cap,
           cap >> 11, seg_max, blk_size, nq, (unsigned)indirect);
    uint64_t disk_size = cmdline_u64("disk_size", 0);
    CHECK(disk_size == 0 || cap * SECT == disk_size,
          "capacity %lu sectors, the image has %lu bytes", cap, disk_size);
    CHECK(cap >= 8192, "a disk of %lu sectors is too small for this test (4 MiB at least)", cap);
    CHECK(blk_size == 512 || blk_size == 4096, "blk_size %u", blk_size);
    uint64_t want_q = cmdline_u64("queues", 1);
    CHECK(nq == want_q, "%u queues in the config, want %lu", nq, want_q);
    CHECK(nq <= QMAX, "%u queues: the test drives at most %u", nq, QMAX);
    CHECK(vpci_num_queues(&d) >= nq, "common config has %u queues, device config %u",
          vpci_num_queues(&d), nq);
    for (unsigned q = 0; q < nq; q++) {
        CHECK(vq_setup(&d, &vqs[q], q, &rings[q], VQ_MAX) == 0, "queue %u setup failed", q);
    }
    vpci_driver_ok(&d);
    uint8_t st = vpci_status(&d);
    CHECK((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_NEEDS_RESET), "status %#x", st);

    /* Ranges, none overlapping: first, last, middle, odd (multi-segment), big, and the batch. */
    struct range first = {0, 1}, last = {cap - 1, 1}, mid = {cap / 2, 8};
    struct range odd = {(cap / 3) | 1, 7}, big = {cap - 1001, BIG_SECTORS};
    struct range batch[BATCH];
    for (unsigned i = 0; i < BATCH; i++) {
        batch[i] = (struct range){i * (cap / BATCH) + 64 + 9 * i, 8};
    }
    struct range zero = {cap / 4 + 3, 8}; /* never written: a fresh image reads zeros */

    /* ---- writes ---- */
    struct vq_buf b[BIG_SEGS];
    pattern_fill(wbuf, first.sector, 1);
    b[0] = (struct vq_buf){wbuf, SECT, false};
    req_ok(0, T_OUT, first.sector, b, 1, false, "write first sector");
    pattern_fill(wbuf, last.sector, 1);
    req_ok(nq - 1, T_OUT, last.sector, b, 1, false, "write last sector");
    pattern_fill(wbuf, mid.sector, mid.count);
    b[0].len = mid.count * SECT;
    req_ok(0, T_OUT, mid.sector, b, 1, false, "write middle");
    /* 7 sectors at an odd sector from three pieces at unaligned addresses. */
    pattern_fill(wbuf + 100, odd.sector, odd.count);
    b[0] = (struct vq_buf){wbuf + 100, 512, false};
    b[1] = (struct vq_buf){wbuf + 612, 2048, false};
    b[2] = (struct vq_buf){wbuf + 2660, 1024, false};
    req_ok(0, T_OUT, odd.sector, b, 3, false, "write odd sector, 3 segments");
    /* 128 KiB in 32 segments of 4 KiB, through an indirect table when offered. */
    pattern_fill(wbuf, big.sector, big.count);
    for (unsigned i = 0; i < BIG_SEGS; i++) {
        b[i] = (struct vq_buf){wbuf + i * 4096, 4096, false};
    }
    req_ok(0, T_OUT, big.sector, b, BIG_SEGS, true, "write 128 KiB, 32 segments");

    /* 16 writes in flight at once, alternating queues. */
    for (unsigned i = 0; i < BATCH; i++) {
        pattern_fill(wbuf + i * 4096, batch[i].sector, batch[i].count);
        b[0] = (struct vq_buf){wbuf + i * 4096, batch[i].count * SECT, false};
        post(i % nq, i, T_OUT, batch[i].sector, b, 1, false);
    }
    unsigned per_q[QMAX] = {0};
    for (unsigned q = 0; q < nq; q++) {
        vq_kick(&vqs[q]);
    }
    for (unsigned done = 0; done < BATCH; done++) {
        uint32_t id, len;
        unsigned q = done % nq; /* each queue completes its own requests */
        CHECK(vq_poll(&vqs[q], &id, &len, 10000), "batch write: queue %u has no completion", q);
        CHECK(id % 3 == 0 && id / 3 < BATCH && id / 3 % nq == q, "batch write: queue %u used id %u",
              q, id);
        CHECK(stats[id / 3] == S_OK && len == 1, "batch write %u: status %u len %u", id / 3,
              stats[id / 3], len);
        per_q[q]++;
    }
    for (unsigned q = 0; q < nq; q++) {
        printf("queue %u: %u batch writes completed\n", q, per_q[q]);
    }

    /* ---- flush ---- */
    uint32_t len;
    st = req(0, T_FLUSH, 0, b, 0, false, &len, "flush");
    CHECK(st == S_OK && len == 1, "flush: status %u used length %u", st, len);

    /* ---- read back ---- */
    memset(rbuf, 0xa5, sizeof(rbuf));
    b[0] = (struct vq_buf){rbuf, SECT, true};
    req_ok(nq - 1, T_IN, first.sector, b, 1, false, "read first sector");
    pattern_check(rbuf, first.sector, 1, "first sector");
    memset(rbuf, 0xa5, sizeof(rbuf));
    req_ok(0, T_IN, last.sector, b, 1, false, "read last sector");
    pattern_check(rbuf, last.sector, 1, "last sector");
    memset(rbuf, 0xa5, sizeof(rbuf));
    b[0].len = mid.count * SECT;
    req_ok(0, T_IN, mid.sector, b, 1, false, "read middle");
    pattern_check(rbuf, mid.sector, mid.count, "middle");
    memset(rbuf, 0xa5, sizeof(rbuf));
    b[0] = (struct vq_buf){rbuf + 300, 1024, true};
    b[1] = (struct vq_buf){rbuf + 1324, 512, true};
    b[2] = (struct vq_buf){rbuf + 1836, 2048, true};
    req_ok(0, T_IN, odd.sector, b, 3, false, "read odd sector, 3 segments");
    pattern_check(rbuf + 300, odd.sector, odd.count, "odd sector");
    memset(rbuf, 0xa5, sizeof(rbuf));
    b[0] = (struct vq_buf){rbuf, 64 * 1024, true};
    b[1] = (struct vq_buf){rbuf + 64 * 1024, 64 * 1024, true};
    req_ok(0, T_IN, big.sector, b, 2, true, "read 128 KiB, 2 segments");
    pattern_check(rbuf, big.sector, big.count, "128 KiB");
    memset(rbuf, 0xa5, sizeof(rbuf));
    b[0] = (struct vq_buf){rbuf, zero.count * SECT, true};
    req_ok(0, T_IN, zero.sector, b, 1, false, "read unwritten");
    for (unsigned i = 0; i < zero.count * SECT; i++) {
        CHECK(rbuf[i] == 0, "unwritten sector %lu byte %u reads %#x", zero.sector + i / SECT,
              i % SECT, rbuf[i]);
    }
    memset(rbuf, 0xa5, sizeof(rbuf));
    for (unsigned i = 0; i < BATCH; i++) {
        b[0] = (struct vq_buf){rbuf + i * 4096, batch[i].count * SECT, true};
        post(i % nq, i, T_IN, batch[i].sector, b, 1, true);
    }
    for (unsigned q = 0; q < nq; q++) {
        vq_kick(&vqs[q]);
    }
    for (unsigned done = 0; done < BATCH; done++) {
        uint32_t id;
        unsigned q = done % nq;
        CHECK(vq_poll(&vqs[q], &id, &len, 10000), "batch read: queue %u has no completion", q);
        unsigned s = indirect ? id : id / 3;
        CHECK(s < BATCH && s % nq == q && (indirect || id % 3 == 0),
              "batch read: queue %u used id %u", q, id);
        CHECK(stats[s] == S_OK && len == batch[s].count * SECT + 1,
              "batch read %u: status %u len %u", s, stats[s], len);
    }
    for (unsigned i = 0; i < BATCH; i++) {
        pattern_check(rbuf + i * 4096, batch[i].sector, batch[i].count, "batch");
    }

    /* ---- GET_ID ---- */
    char id[21];
    memset(id, 0, sizeof(id));
    b[0] = (struct vq_buf){id, 20, true};
    st = req(0, T_GET_ID, 0, b, 1, false, &len, "get id");
    CHECK(st == S_OK, "GET_ID: status %u", st);
    printf("GET_ID: '%s'\n", id);
    char want_id[21];
    if (cmdline_get("disk_id", want_id, sizeof(want_id))) {
        CHECK(strlen(id) == strlen(want_id) && memcmp(id, want_id, strlen(id)) == 0,
              "GET_ID '%s', want '%s'", id, want_id);
    }

    /* ---- out of range: IOERR, and the device goes on working ---- */
    b[0] = (struct vq_buf){rbuf, SECT, true};
    st = req(0, T_IN, cap, b, 1, false, &len, "read at capacity");
    CHECK(st == S_IOERR, "read of sector %lu (= capacity): status %u, want IOERR", cap, st);
    b[0].len = 2 * SECT;
    st = req(0, T_IN, cap - 1, b, 1, false, &len, "read across the end");
    CHECK(st == S_IOERR, "read of 2 sectors at %lu: status %u, want IOERR", cap - 1, st);
    b[0] = (struct vq_buf){wbuf, SECT, false};
    st = req(nq - 1, T_OUT, cap, b, 1, false, &len, "write at capacity");
    CHECK(st == S_IOERR, "write of sector %lu: status %u, want IOERR", cap, st);
    st = vpci_status(&d);
    CHECK(!(st & VIRTIO_STATUS_NEEDS_RESET), "NEEDS_RESET after bad requests (status %#x)", st);
    memset(rbuf, 0xa5, SECT);
    b[0] = (struct vq_buf){rbuf, SECT, true};
    req_ok(0, T_IN, first.sector, b, 1, false, "read after the errors");
    pattern_check(rbuf, first.sector, 1, "first sector after the errors");

    /* For the host-side check of the image. */
    printf("blk-seed: %lu\n", seed);
    struct range all[5] = {first, last, mid, odd, big};
    for (unsigned i = 0; i < 5; i++) {
        printf("blk-pattern: sector=%lu count=%u\n", all[i].sector, all[i].count);
    }
    for (unsigned i = 0; i < BATCH; i++) {
        printf("blk-pattern: sector=%lu count=%u\n", batch[i].sector, batch[i].count);
    }
    mmio_write8(d.common + 0x14, 0); /* reset: the device lets go of our rings */
}
