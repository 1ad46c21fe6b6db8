// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-blk-bench: the guest of bench/blk.py. Drives queue 0 of the virtio-blk device at CPL3
 * by polling the used ring (no interrupts), every request header + data + status through an
 * indirect table, a doorbell write per batch of new requests unless the device set
 * NO_NOTIFY. Rows, in this order, each timed with the TSC from the first post to the last
 * completion and printed as "blk-bench: ROW ops=N bytes=B cycles=C":
 *   fill       128 KiB sequential writes over the whole disk (allocates qcow2 clusters)
 *   seqwrite   the same again (overwrites), seqread: 128 KiB sequential reads, depth seq_qd=
 *   randread1 / randread32 / randwrite1 / randwrite32: 4 KiB at random 4 KiB-aligned offsets
 *              (xorshift, seed now=), count1= / count32= requests at depth 1 / 32.
 * Every 4 KiB block written starts with its disk offset + 1, every block read is checked for
 * it, every status must be OK: a row cannot finish on wrong data. Buffers live at 64 MiB
 * (identity-mapped RAM), so mem= must be at least 128M.
 *
 * crash=1 (tests/integration/test-blk-crash.py): instead of the rows, writes forever at depth
 * 8: 4..128 KiB writes at random 4 KiB-aligned offsets (mostly allocating on a fresh image,
 * overwrites later), 1 in 16 a flush, a discard, a write-zeroes (64 KiB..1 MiB), printing
 * "blk-crash: ops=N" every 1024 completions until the host kills the VMM.
 * crash=2: reads the whole disk and checks every 4 KiB block is zeroes or carries its own
 * tag, then passes: what a crash left must still be a disk of whole, correctly placed blocks.
 */
#include "guest.h"
#include "virtio_guest.h"

#define SECT 512u
#define T_IN 0
#define T_OUT 1
#define T_FLUSH 4
#define T_DISCARD 11
#define T_WRITE_ZEROES 13
#define F_FLUSH 9
#define F_DISCARD 13
#define F_WRITE_ZEROES 14
#define CRASH_QD 8
#define SLOTS 64
#define BUF_BASE (64ull << 20)
#define BUF_SLOT (128u << 10)

struct blk_hdr {
    uint32_t type, reserved;
    uint64_t sector;
};

static struct vq_mem ring;
static struct vq vq;
static struct vpci d;
static struct blk_hdr hdrs[SLOTS];
static uint8_t stats[SLOTS];
static struct virtq_desc tbls[SLOTS][3] __attribute__((aligned(16)));
static uint64_t slot_off[SLOTS];
static uint64_t disk_bytes, rng_state, seq_next;
/* Discard / write-zeroes segment per slot (virtio 1.2 5.2.6, device-readable). */
static struct blk_seg {
    uint64_t sector;
    uint32_t num, flags;
} segs[SLOTS];

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static uint8_t *slot_buf(unsigned s)
{
    return (uint8_t *)(uintptr_t)(BUF_BASE + (uint64_t)s * BUF_SLOT);
}

struct row {
    const char *name;
    bool write, random;
    uint32_t bs;
    unsigned qd;
    uint64_t ops;
};

static void post(const struct row *r, unsigned s)
{
    uint64_t off;
    if (r->random) {
        off = rng() % (disk_bytes / r->bs) * r->bs;
    } else {
        off = seq_next;
        seq_next = (seq_next + r->bs) % disk_bytes;
    }
    slot_off[s] = off;
    uint8_t *buf = slot_buf(s);
    if (r->write) {
        for (uint32_t b = 0; b < r->bs; b += 4096) {
            uint64_t tag = off + b + 1;
            memcpy(buf + b, &tag, 8);
        }
    }
    hdrs[s] = (struct blk_hdr){.type = r->write ? T_OUT : T_IN, .sector = off / SECT};
    stats[s] = 0xff;
    struct vq_buf chain[3] = {
        {&hdrs[s], sizeof(hdrs[s]), false},
        {buf, r->bs, !r->write},
        {&stats[s], 1, true},
    };
    vq_post_indirect(&vq, (uint16_t)s, tbls[s], chain, 3);
}

static void complete(const struct row *r, uint32_t id, uint32_t len)
{
    CHECK(id < r->qd, "%s: used id %u", r->name, id);
    CHECK(stats[id] == 0, "%s: status %u at offset %#lx", r->name, stats[id], slot_off[id]);
    CHECK(len == (r->write ? 1 : r->bs + 1), "%s: used length %u", r->name, len);
    if (!r->write) {
        const uint8_t *buf = slot_buf(id);
        for (uint32_t b = 0; b < r->bs; b += 4096) {
            uint64_t tag;
            memcpy(&tag, buf + b, 8);
            CHECK(tag == slot_off[id] + b + 1, "%s: block at %#lx reads tag %#lx", r->name,
                  slot_off[id] + b, tag);
        }
    }
}

static void run(const struct row *r)
{
    uint64_t posted = 0, done = 0;
    uint64_t t0 = rdtsc(), last = t0;
    while (posted < r->qd && posted < r->ops) {
        post(r, (unsigned)posted++);
    }
    vq_kick(&vq);
    while (done < r->ops) {
        uint32_t id, len;
        bool more = false;
        while (vq_used_next(&vq, &id, &len)) {
            complete(r, id, len);
            done++;
            if (posted < r->ops) {
                post(r, id);
                posted++;
                more = true;
            }
        }
        uint64_t now = rdtsc();
        if (more) {
            vq_kick_if_needed(&vq);
            last = now;
        } else if (now - last > 40000000000ull) { /* 10 s at 4 GHz without progress */
            guest_fail("%s: stuck at %lu of %lu requests (status %#x)", r->name, done, r->ops,
                       vpci_status(&d));
        } else {
            cpu_relax();
        }
    }
    uint64_t cycles = rdtsc() - t0;
    printf("blk-bench: %s ops=%lu bytes=%lu cycles=%lu\n", r->name, r->ops, r->ops * r->bs, cycles);
}

/* One random request of the crash=1 mix into slot s. */
static void crash_post(unsigned s)
{
    unsigned pick = (unsigned)(rng() % 16);
    uint8_t *buf = slot_buf(s);
    stats[s] = 0xff;
    bool flush = pick == 0 && (d.features & 1ull << F_FLUSH);
    bool disc = pick == 1 && (d.features & 1ull << F_DISCARD);
    bool zero = pick == 2 && (d.features & 1ull << F_WRITE_ZEROES);
    if (flush) {
        hdrs[s] = (struct blk_hdr){.type = T_FLUSH};
        struct vq_buf chain[2] = {{&hdrs[s], sizeof(hdrs[s]), false}, {&stats[s], 1, true}};
        vq_post_indirect(&vq, (uint16_t)s, tbls[s], chain, 2);
        return;
    }
    if (disc || zero) {
        uint64_t len = (1 + rng() % 16) << 16;
        uint64_t off = rng() % (disk_bytes / 4096) * 4096;
        if (off + len > disk_bytes) {
            len = disk_bytes - off;
        }
        hdrs[s] = (struct blk_hdr){.type = disc ? T_DISCARD : T_WRITE_ZEROES};
        segs[s] = (struct blk_seg){.sector = off / SECT, .num = (uint32_t)(len / SECT)};
        struct vq_buf chain[3] = {
            {&hdrs[s], sizeof(hdrs[s]), false},
            {&segs[s], sizeof(segs[s]), false},
            {&stats[s], 1, true},
        };
        vq_post_indirect(&vq, (uint16_t)s, tbls[s], chain, 3);
        return;
    }
    uint32_t len = (uint32_t)(1 + rng() % 32) * 4096;
    uint64_t off = rng() % (disk_bytes / 4096) * 4096;
    if (off + len > disk_bytes) {
        len = (uint32_t)(disk_bytes - off);
    }
    for (uint32_t b = 0; b < len; b += 4096) {
        uint64_t tag = off + b + 1;
        memcpy(buf + b, &tag, 8);
    }
    hdrs[s] = (struct blk_hdr){.type = T_OUT, .sector = off / SECT};
    slot_off[s] = off;
    struct vq_buf chain[3] = {
        {&hdrs[s], sizeof(hdrs[s]), false},
        {buf, len, false},
        {&stats[s], 1, true},
    };
    vq_post_indirect(&vq, (uint16_t)s, tbls[s], chain, 3);
}

__attribute__((noreturn)) static void crash_loop(void)
{
    for (unsigned s = 0; s < CRASH_QD; s++) {
        crash_post(s);
    }
    vq_kick(&vq);
    uint64_t done = 0, last = rdtsc();
    printf("blk-crash: writing\n");
    for (;;) {
        uint32_t id, len;
        bool more = false;
        while (vq_used_next(&vq, &id, &len)) {
            CHECK(id < CRASH_QD && stats[id] == 0, "crash: used id %u status %u", id,
                  id < CRASH_QD ? stats[id] : 0);
            if (++done % 1024 == 0) {
                printf("blk-crash: ops=%lu\n", done);
            }
            crash_post(id);
            more = true;
        }
        uint64_t now = rdtsc();
        if (more) {
            vq_kick_if_needed(&vq);
            last = now;
        } else if (now - last > 40000000000ull) {
            guest_fail("crash: stuck after %lu requests (status %#x)", done, vpci_status(&d));
        } else {
            cpu_relax();
        }
    }
}

/* crash=2: every 4 KiB block of the disk is zeroes or starts with its own offset + 1. */
static void crash_verify(void)
{
    uint64_t tagged = 0;
    for (uint64_t off = 0; off < disk_bytes; off += BUF_SLOT) {
        uint8_t *buf = slot_buf(0);
        hdrs[0] = (struct blk_hdr){.type = T_IN, .sector = off / SECT};
        stats[0] = 0xff;
        struct vq_buf chain[3] = {
            {&hdrs[0], sizeof(hdrs[0]), false},
            {buf, BUF_SLOT, true},
            {&stats[0], 1, true},
        };
        vq_post_indirect(&vq, 0, tbls[0], chain, 3);
        vq_kick(&vq);
        uint32_t id, len;
        uint64_t t0 = rdtsc();
        while (!vq_used_next(&vq, &id, &len)) {
            CHECK(rdtsc() - t0 < 40000000000ull, "verify: read at %#lx stuck", off);
            cpu_relax();
        }
        CHECK(id == 0 && stats[0] == 0, "verify: read at %#lx: id %u status %u", off, id, stats[0]);
        for (uint32_t b = 0; b < BUF_SLOT; b += 4096) {
            uint64_t tag;
            memcpy(&tag, buf + b, 8);
            bool zeroes = true;
            for (uint32_t i = 0; i < 4096 && zeroes; i += 8) {
                uint64_t v;
                memcpy(&v, buf + b + i, 8);
                zeroes = v == 0;
            }
            CHECK(zeroes || tag == off + b + 1, "verify: block at %#lx carries tag %#lx", off + b,
                  tag);
            tagged += !zeroes;
        }
    }
    printf("blk-crash: verified %lu MiB, %lu blocks written\n", disk_bytes >> 20, tagged);
}

void test_main(void)
{
    CHECK(cmdline_u64("mem", 0) >= 128ull << 20, "mem= must be at least 128M");
    CHECK(vpci_find(VIRTIO_ID_BLOCK, 0, &d) == 0, "no usable virtio-blk device");
    CHECK(vpci_reset(&d) == 0, "reset failed");
    /* FLUSH as every real driver takes it: without it both VMMs write through. */
    uint64_t crash = cmdline_u64("crash", 0);
    uint64_t want = 1ull << VIRTIO_F_INDIRECT_DESC | 1ull << F_FLUSH;
    if (crash == 1) {
        want |= 1ull << F_DISCARD | 1ull << F_WRITE_ZEROES;
    }
    CHECK(vpci_negotiate(&d, want) == 0, "negotiation failed");
    CHECK(d.features & 1ull << VIRTIO_F_INDIRECT_DESC, "no indirect descriptors");
    CHECK(d.device != 0, "no device config");
    disk_bytes = (mmio_read32(d.device) | (uint64_t)mmio_read32(d.device + 4) << 32) * SECT;
    CHECK(disk_bytes >= 16ull << 20 && disk_bytes % BUF_SLOT == 0,
          "disk of %lu bytes: want a multiple of 128 KiB, 16 MiB at least", disk_bytes);
    CHECK(vq_setup(&d, &vq, 0, &ring, SLOTS) == 0, "queue setup failed");
    CHECK(vq.size >= 32, "queue of %u entries: depth 32 needs 32", vq.size);
    vpci_driver_ok(&d);
    rng_state = cmdline_u64("now", 1) | 1;
    if (crash == 1) {
        crash_loop();
    }
    if (crash == 2) {
        crash_verify();
        mmio_write8(d.common + 0x14, 0);
        return;
    }

    unsigned seq_qd = (unsigned)cmdline_u64("seq_qd", 8);
    CHECK(seq_qd >= 1 && seq_qd <= vq.size, "seq_qd=%u", seq_qd);
    uint64_t seq_ops = disk_bytes / BUF_SLOT;
    uint64_t n1 = cmdline_u64("count1", 2000), n32 = cmdline_u64("count32", 10000);
    const struct row rows[] = {
        {"fill", true, false, BUF_SLOT, seq_qd, seq_ops},
        {"seqwrite", true, false, BUF_SLOT, seq_qd, seq_ops},
        {"seqread", false, false, BUF_SLOT, seq_qd, seq_ops},
        {"randread1", false, true, 4096, 1, n1},
        {"randread32", false, true, 4096, 32, n32},
        {"randwrite1", true, true, 4096, 1, n1},
        {"randwrite32", true, true, 4096, 32, n32},
    };
    printf("blk-bench: disk %lu MiB, queue %u entries\n", disk_bytes >> 20, vq.size);
    for (unsigned i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        seq_next = 0;
        run(&rows[i]);
    }
    mmio_write8(d.common + 0x14, 0);
}
