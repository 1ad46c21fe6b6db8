// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The qcow2 block driver (QEMU docs/interop/qcow2.txt, versions 2 and 3): header and
 * extension parsing with hostile-input checks, two-level cluster mapping, zero clusters,
 * compressed clusters (deflate, zstd), refcounted allocation, copy-on-write from a backing
 * image, discard and write-zeroes. Write ordering for crash safety is in docs/qcow2.md.
 */
#include <endian.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "io/block_internal.h"
#include "io/qcow2_internal.h"

#define QCOW2_L2_CACHE 16
#define QCOW2_RB_CACHE 8
#define QCOW2_MAX_EOF_SCAN (1u << 20)
/* Deferred frees held before a write-back is forced (each entry may cover many clusters). */
#define QCOW2_MAX_PENDING_FREES 4096

struct qcow2_cache_entry {
    uint64_t off; /* host offset of the cached cluster; 0 = empty slot */
    uint64_t used;
    uint8_t *data;
    /* L2 tables only (docs/qcow2.md, "Write ordering"): entries changed in memory and not
     * yet written, bytes [dlo, dhi); fresh: the whole table is new and no L1 entry on disk
     * points to it yet. */
    bool dirty;
    bool fresh;
    uint32_t dlo, dhi;
};

/* Host bytes whose references were dropped in memory; freed after the drop is durable. */
struct qcow2_pending_free {
    uint64_t off, len;
};

struct qcow2 {
    struct block_image base;
    int fd;
    /* Guards everything below except the constants set at open. */
    pthread_mutex_t lock;

    /* Constants after open. */
    unsigned version;
    unsigned cluster_bits;
    uint64_t cluster_size;
    unsigned l2_bits; /* log2 of entries per L2 table */
    unsigned rb_bits; /* log2 of entries per refcount block */
    unsigned refcount_order;
    uint8_t compression;
    uint32_t header_length;
    uint64_t incompat;
    struct block_image *backing;

    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t *l1; /* host byte order */
    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t rt_size; /* entries */
    uint64_t *rt;     /* host byte order */

    bool writethrough; /* cache=writethrough: every request's metadata is written back */
    /* Deferred metadata (see qcow2_writeback): dirty L1 entries [l1_dlo, l1_dhi), dirty L2
     * tables in l2c, and host ranges waiting to be freed. */
    uint32_t l1_dlo, l1_dhi;
    unsigned l2_dirty;
    struct qcow2_pending_free *pfree;
    size_t npfree, cap_pfree;
    /* Anything of the above pending; read without the lock by qcow2_sync_fd, which must not
     * wait for a write-back's fdatasyncs on the event loop's thread. */
    atomic_bool deferred;

    uint64_t file_size; /* bytes; grows as clusters are allocated */
    uint64_t free_hint; /* cluster index where the search for a free cluster starts */
    bool corrupt;
    uint64_t tick;
    struct qcow2_cache_entry l2c[QCOW2_L2_CACHE];
    struct qcow2_cache_entry rbc[QCOW2_RB_CACHE];
};

static struct qcow2 *to_q(struct block_image *img)
{
    return (struct qcow2 *)img;
}

static uint64_t ld64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

static uint32_t ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}

static void st64(void *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static uint64_t file_clusters(const struct qcow2 *q)
{
    return div_round_up(q->file_size, q->cluster_size);
}

/*
 * Runtime corruption: fail this request with EIO and refuse writes from now on. The corrupt
 * bit goes to the header too (v3), as QEMU does, so no other tool writes on without a check.
 */
__attribute__((format(printf, 2, 3))) static int qcow2_corrupt(struct qcow2 *q, const char *fmt,
                                                               ...)
{
    char line[BLOCK_ERR_LEN - 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (!q->corrupt) {
        q->corrupt = true;
        block_set_error(&q->base, "image corrupt, further writes refused: %s", line);
        if (!q->base.readonly && q->version >= 3) {
            uint8_t v[8];
            q->incompat |= QCOW2_INCOMPAT_CORRUPT;
            st64(v, q->incompat);
            if (block_file_pwrite(q->fd, QCOW2_H_INCOMPAT, v, 8) == 0) {
                (void)fdatasync(q->fd);
            }
        }
    }
    return -EIO;
}

static int qcow2_sync(struct qcow2 *q)
{
    return fdatasync(q->fd) < 0 ? -errno : 0;
}

/* ---- metadata cache ---- */

static int qcow2_writeback(struct qcow2 *q);

/*
 * Refcount blocks are write-through (the file always holds what the cache holds). L2 tables
 * may be dirty: a dirty victim forces a write-back of all deferred metadata first.
 */
static int cache_get(struct qcow2 *q, struct qcow2_cache_entry *c, unsigned n, uint64_t off,
                     bool fill_zero, uint8_t **out)
{
    unsigned victim = 0;
    for (unsigned i = 0; i < n; i++) {
        if (c[i].off == off && c[i].data != NULL) {
            c[i].used = ++q->tick;
            if (fill_zero) {
                memset(c[i].data, 0, q->cluster_size);
            }
            *out = c[i].data;
            return 0;
        }
        if (c[i].used < c[victim].used) {
            victim = i;
        }
    }
    struct qcow2_cache_entry *e = &c[victim];
    if (e->dirty) {
        int r = qcow2_writeback(q);
        if (r < 0) {
            return r;
        }
    }
    if (e->data == NULL) {
        e->data = malloc(q->cluster_size);
        if (e->data == NULL) {
            return -ENOMEM;
        }
    }
    e->off = 0;
    if (fill_zero) {
        memset(e->data, 0, q->cluster_size);
    } else {
        int r = block_file_pread(q->fd, off, e->data, q->cluster_size);
        if (r < 0) {
            return r;
        }
    }
    e->off = off;
    e->used = ++q->tick;
    *out = e->data;
    return 0;
}

/* ---- refcounts ---- */

static uint64_t rb_get(const struct qcow2 *q, const uint8_t *blk, uint64_t i)
{
    switch (q->refcount_order) {
    case 0:
    case 1:
    case 2: {
        unsigned bits = 1u << q->refcount_order;
        uint64_t bit = i * bits;
        return (blk[bit / 8] >> (bit % 8)) & ((1u << bits) - 1);
    }
    case 3:
        return blk[i];
    case 4:
        return ((uint64_t)blk[2 * i] << 8) | blk[2 * i + 1];
    case 5:
        return ld32(blk + 4 * i);
    default:
        return ld64(blk + 8 * i);
    }
}

/* Sets entry i; returns the byte offset and length inside the block that changed. */
static void rb_set(const struct qcow2 *q, uint8_t *blk, uint64_t i, uint64_t v, size_t *boff,
                   size_t *blen)
{
    switch (q->refcount_order) {
    case 0:
    case 1:
    case 2: {
        unsigned bits = 1u << q->refcount_order;
        uint64_t bit = i * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << (bit % 8));
        blk[bit / 8] = (uint8_t)((blk[bit / 8] & ~mask) | ((v << (bit % 8)) & mask));
        *boff = bit / 8;
        *blen = 1;
        return;
    }
    case 3:
        blk[i] = (uint8_t)v;
        *boff = i;
        *blen = 1;
        return;
    case 4:
        blk[2 * i] = (uint8_t)(v >> 8);
        blk[2 * i + 1] = (uint8_t)v;
        *boff = 2 * i;
        *blen = 2;
        return;
    case 5: {
        uint32_t be = htobe32((uint32_t)v);
        memcpy(blk + 4 * i, &be, 4);
        *boff = 4 * i;
        *blen = 4;
        return;
    }
    default:
        st64(blk + 8 * i, v);
        *boff = 8 * i;
        *blen = 8;
        return;
    }
}

/* The refcount block covering cluster `idx`, or *blk = NULL when there is none. */
static int refblock_for(struct qcow2 *q, uint64_t idx, uint8_t **blk, uint64_t *blk_off)
{
    uint64_t t = idx >> q->rb_bits;
    *blk = NULL;
    if (t >= q->rt_size || q->rt[t] == 0) {
        return 0;
    }
    uint64_t off = q->rt[t];
    *blk_off = off;
    return cache_get(q, q->rbc, QCOW2_RB_CACHE, off, false, blk);
}

static int refcount_get(struct qcow2 *q, uint64_t idx, uint64_t *val)
{
    uint8_t *blk;
    uint64_t boff;
    int r = refblock_for(q, idx, &blk, &boff);
    if (r < 0) {
        return r;
    }
    *val = blk == NULL ? 0 : rb_get(q, blk, idx & ((1ull << q->rb_bits) - 1));
    return 0;
}

/* The block must exist. Written through to the file, not synced. */
static int refcount_set(struct qcow2 *q, uint64_t idx, uint64_t val)
{
    uint8_t *blk;
    uint64_t boff;
    int r = refblock_for(q, idx, &blk, &boff);
    if (r < 0) {
        return r;
    }
    if (blk == NULL) {
        return qcow2_corrupt(q, "no refcount block for cluster 0x%llx", (unsigned long long)idx);
    }
    size_t off, len;
    rb_set(q, blk, idx & ((1ull << q->rb_bits) - 1), val, &off, &len);
    return block_file_pwrite(q->fd, boff + off, blk + off, len);
}

/* Clusters we must never hand out even if a (hostile) refcount says they are free. */
static bool is_fixed_metadata(const struct qcow2 *q, uint64_t idx)
{
    uint64_t off = idx << q->cluster_bits;
    uint64_t l1_end = q->l1_offset + (uint64_t)q->l1_size * 8;
    uint64_t rt_end = q->rt_offset + ((uint64_t)q->rt_clusters << q->cluster_bits);
    return idx == 0 || (q->l1_size > 0 && off + q->cluster_size > q->l1_offset && off < l1_end) ||
           (off + q->cluster_size > q->rt_offset && off < rt_end);
}

static void note_alloc_end(struct qcow2 *q, uint64_t idx_end)
{
    uint64_t end = idx_end << q->cluster_bits;
    if (end > q->file_size) {
        q->file_size = end;
    }
}

/*
 * The refcount table is full: write a larger one at cluster c (everything from c up is
 * uncovered, hence free), with new refcount blocks right behind it that cover the table and
 * themselves, then switch the header over and free the old table.
 */
static int grow_refcount_table(struct qcow2 *q, uint64_t c)
{
    uint64_t cs = q->cluster_size;
    uint64_t per_cluster = cs / 8;
    uint64_t t_first = c >> q->rb_bits;
    uint64_t n = q->rt_clusters * 2;
    uint64_t m = 1;
    for (int guard = 0;; guard++) {
        if (guard > 64) {
            return -EFBIG;
        }
        uint64_t mm = m;
        for (;;) {
            uint64_t t_last = (c + n + mm - 1) >> q->rb_bits;
            uint64_t need = t_last - t_first + 1;
            if (need == mm) {
                break;
            }
            mm = need;
        }
        m = mm;
        uint64_t t_last = (c + n + m - 1) >> q->rb_bits;
        uint64_t need_n = div_round_up(t_last + 1, per_cluster);
        if (need_n <= n) {
            break;
        }
        n = need_n;
    }
    if (n * cs > QCOW2_MAX_RT_BYTES) {
        block_set_error(&q->base, "refcount table would exceed %u bytes; image is full",
                        QCOW2_MAX_RT_BYTES);
        return -ENOSPC;
    }
    uint64_t new_size = n * per_cluster;
    uint64_t *new_rt = calloc(new_size, sizeof(uint64_t));
    uint8_t *disk = calloc(n, cs);
    uint8_t *blk = calloc(1, cs);
    int ret = -ENOMEM;
    if (new_rt == NULL || disk == NULL || blk == NULL) {
        goto out;
    }
    memcpy(new_rt, q->rt, q->rt_size * sizeof(uint64_t));
    uint64_t rb_entries = 1ull << q->rb_bits;
    for (uint64_t j = 0; j < m; j++) {
        uint64_t t = t_first + j;
        memset(blk, 0, cs);
        for (uint64_t k = c; k < c + n + m; k++) {
            if ((k >> q->rb_bits) == t) {
                size_t o, l;
                rb_set(q, blk, k & (rb_entries - 1), 1, &o, &l);
            }
        }
        uint64_t boff = (c + n + j) << q->cluster_bits;
        ret = block_file_pwrite(q->fd, boff, blk, cs);
        if (ret < 0) {
            goto out;
        }
        new_rt[t] = boff;
    }
    for (uint64_t i = 0; i < new_size; i++) {
        st64(disk + 8 * i, new_rt[i]);
    }
    uint64_t new_off = c << q->cluster_bits;
    ret = block_file_pwrite(q->fd, new_off, disk, n * cs);
    if (ret < 0) {
        goto out;
    }
    /* The new table and its blocks are durable before the header points at them. */
    ret = qcow2_sync(q);
    if (ret < 0) {
        goto out;
    }
    uint8_t hdr[12];
    st64(hdr, new_off);
    uint32_t be = htobe32((uint32_t)n);
    memcpy(hdr + 8, &be, 4);
    ret = block_file_pwrite(q->fd, QCOW2_H_RT_OFFSET, hdr, sizeof(hdr));
    if (ret == 0) {
        ret = qcow2_sync(q);
    }
    if (ret < 0) {
        goto out;
    }
    uint64_t old_off = q->rt_offset;
    uint64_t old_clusters = q->rt_clusters;
    free(q->rt);
    q->rt = new_rt;
    new_rt = NULL;
    q->rt_size = new_size;
    q->rt_offset = new_off;
    q->rt_clusters = (uint32_t)n;
    note_alloc_end(q, c + n + m);
    /* The old table is unreferenced now; a crash before this only leaks it. */
    for (uint64_t i = 0; i < old_clusters; i++) {
        uint64_t idx = (old_off >> q->cluster_bits) + i;
        ret = refcount_set(q, idx, 0);
        if (ret < 0) {
            goto out;
        }
        if (idx < q->free_hint) {
            q->free_hint = idx;
        }
    }
    ret = 0;
out:
    free(new_rt);
    free(disk);
    free(blk);
    return ret;
}

/*
 * Allocates one cluster and sets its refcount to 1 (written, not yet synced: callers sync
 * before anything references the cluster). Reuses free clusters from free_hint upwards; a
 * range without a refcount block gets one placed in its own first free cluster.
 */
static int alloc_cluster(struct qcow2 *q, uint64_t *off_out)
{
    uint64_t cs = q->cluster_size;
    for (;;) {
        uint64_t c = q->free_hint;
        uint64_t val = 1;
        for (; val != 0; c++) {
            if (c > (QCOW2_MAX_SIZE >> q->cluster_bits)) {
                return -ENOSPC;
            }
            /* Past EOF, clusters in use are leaks from an interrupted allocation: a few at
             * most. Refcounts claiming a huge range there are hostile and would make this
             * scan run for hours. */
            if (c > file_clusters(q) + QCOW2_MAX_EOF_SCAN) {
                return qcow2_corrupt(q,
                                     "refcounts claim more than %u clusters past the end "
                                     "of the file",
                                     QCOW2_MAX_EOF_SCAN);
            }
            if (is_fixed_metadata(q, c)) {
                continue;
            }
            int r = refcount_get(q, c, &val);
            if (r < 0) {
                return r;
            }
            if (val == 0) {
                break;
            }
        }
        q->free_hint = c;
        uint64_t t = c >> q->rb_bits;
        if (t >= q->rt_size) {
            int r = grow_refcount_table(q, c);
            if (r < 0) {
                return r;
            }
            continue;
        }
        if (q->rt[t] == 0) {
            /* New refcount block in cluster c; it describes itself. Durable before the table
             * entry points to it, so a crash never leaves the table pointing at garbage. */
            uint8_t *blk;
            uint64_t boff = c << q->cluster_bits;
            int r = cache_get(q, q->rbc, QCOW2_RB_CACHE, boff, true, &blk);
            if (r < 0) {
                return r;
            }
            size_t o, l;
            rb_set(q, blk, c & ((1ull << q->rb_bits) - 1), 1, &o, &l);
            r = block_file_pwrite(q->fd, boff, blk, cs);
            if (r == 0) {
                r = qcow2_sync(q);
            }
            if (r < 0) {
                return r;
            }
            uint8_t e[8];
            st64(e, boff);
            r = block_file_pwrite(q->fd, q->rt_offset + t * 8, e, 8);
            if (r < 0) {
                return r;
            }
            q->rt[t] = boff;
            note_alloc_end(q, c + 1);
            q->free_hint = c + 1;
            continue;
        }
        int r = refcount_set(q, c, 1);
        if (r < 0) {
            return r;
        }
        note_alloc_end(q, c + 1);
        q->free_hint = c + 1;
        *off_out = c << q->cluster_bits;
        return 0;
    }
}

/* Drops one reference from every cluster overlapping [off, off + len). */
static int free_host_range(struct qcow2 *q, uint64_t off, uint64_t len)
{
    uint64_t first = off >> q->cluster_bits;
    uint64_t last = (off + len - 1) >> q->cluster_bits;
    for (uint64_t idx = first; idx <= last; idx++) {
        uint64_t v;
        int r = refcount_get(q, idx, &v);
        if (r < 0) {
            return r;
        }
        if (v == 0) {
            return qcow2_corrupt(q, "freeing cluster 0x%llx whose refcount is already 0",
                                 (unsigned long long)idx);
        }
        r = refcount_set(q, idx, v - 1);
        if (r < 0) {
            return r;
        }
        if (v == 1 && idx < q->free_hint) {
            q->free_hint = idx;
        }
    }
    return 0;
}

/*
 * Writes the deferred metadata in dependency order (docs/qcow2.md, "Write ordering"):
 *   group 1, already in the file: guest data, refcount increments, and now the whole of every
 *            fresh L2 table (nothing on disk points to it yet)
 *   fdatasync
 *   group 2: changed entries of existing L2 tables, changed L1 entries
 *   fdatasync
 *   group 3: refcount decrements of what group 2 stopped referencing (durable at the next
 *            flush; lost, they only leak)
 * The pwrite order alone keeps an engine crash (page cache intact) consistent; the two
 * fdatasyncs extend that to a host crash. With nothing deferred it is one fdatasync, so this
 * is also the guest's flush. Lock held.
 */
static int qcow2_writeback(struct qcow2 *q)
{
    int r;
    if (q->l2_dirty == 0 && q->l1_dlo >= q->l1_dhi) {
        r = qcow2_sync(q);
    } else {
        r = 0;
        for (unsigned i = 0; i < QCOW2_L2_CACHE && r == 0; i++) {
            struct qcow2_cache_entry *e = &q->l2c[i];
            if (e->dirty && e->fresh) {
                r = block_file_pwrite(q->fd, e->off, e->data, q->cluster_size);
            }
        }
        if (r == 0) {
            r = qcow2_sync(q);
        }
        for (unsigned i = 0; i < QCOW2_L2_CACHE && r == 0; i++) {
            struct qcow2_cache_entry *e = &q->l2c[i];
            if (e->dirty && !e->fresh) {
                r = block_file_pwrite(q->fd, e->off + e->dlo, e->data + e->dlo, e->dhi - e->dlo);
            }
        }
        if (r == 0 && q->l1_dlo < q->l1_dhi) {
            uint32_t n = q->l1_dhi - q->l1_dlo;
            uint64_t *be = malloc((size_t)n * 8);
            if (be == NULL) {
                return -ENOMEM;
            }
            for (uint32_t i = 0; i < n; i++) {
                be[i] = htobe64(q->l1[q->l1_dlo + i]);
            }
            r = block_file_pwrite(q->fd, q->l1_offset + (uint64_t)q->l1_dlo * 8, be, (size_t)n * 8);
            free(be);
        }
        if (r == 0) {
            r = qcow2_sync(q);
        }
        if (r < 0) {
            return r; /* everything stays deferred; the next write-back tries again */
        }
        for (unsigned i = 0; i < QCOW2_L2_CACHE; i++) {
            q->l2c[i].dirty = false;
            q->l2c[i].fresh = false;
        }
        q->l2_dirty = 0;
        q->l1_dlo = q->l1_dhi = 0;
        atomic_store(&q->deferred, q->npfree > 0);
    }
    if (r < 0) {
        return r;
    }
    /* Group 3. The references are gone on disk, so the clusters may be reused. */
    size_t i = 0;
    for (; i < q->npfree && r == 0; i++) {
        r = free_host_range(q, q->pfree[i].off, q->pfree[i].len);
    }
    /* A range that failed half-way is dropped, not retried: a leak, never a double free. */
    if (i > 0) { /* pfree may still be NULL when nothing was ever deferred */
        memmove(q->pfree, q->pfree + i, (q->npfree - i) * sizeof(*q->pfree));
        q->npfree -= i;
    }
    atomic_store(&q->deferred, q->npfree > 0);
    return r;
}

/*
 * The references to [off, off + len) were dropped in memory: free the host bytes once that
 * drop is on disk (at the next write-back). Until then nobody may reuse them. Lock held.
 */
static int defer_free(struct qcow2 *q, uint64_t off, uint64_t len)
{
    if (q->npfree > 0) {
        struct qcow2_pending_free *last = &q->pfree[q->npfree - 1];
        if (last->off + last->len == off && (off & (q->cluster_size - 1)) == 0 &&
            (last->len & (q->cluster_size - 1)) == 0) {
            last->len += len; /* whole clusters, adjacent: one range */
            return 0;
        }
    }
    if (q->npfree >= QCOW2_MAX_PENDING_FREES) {
        int r = qcow2_writeback(q);
        if (r < 0) {
            return r;
        }
    }
    if (q->npfree == q->cap_pfree) {
        size_t cap = q->cap_pfree ? q->cap_pfree * 2 : 64;
        struct qcow2_pending_free *n = realloc(q->pfree, cap * sizeof(*n));
        if (n == NULL) {
            return -ENOMEM;
        }
        q->pfree = n;
        q->cap_pfree = cap;
    }
    q->pfree[q->npfree++] = (struct qcow2_pending_free){off, len};
    atomic_store(&q->deferred, true);
    return 0;
}

/* ---- cluster mapping ---- */

enum qcow2_ctype {
    QCOW2_UNALLOC,    /* backing file or zeroes */
    QCOW2_ZERO,       /* reads as zeroes; host may still hold a preallocated cluster */
    QCOW2_NORMAL,     /* host cluster */
    QCOW2_COMPRESSED, /* compressed bytes at host */
};

struct qcow2_map {
    enum qcow2_ctype type;
    uint64_t entry; /* raw L2 entry */
    uint64_t host;  /* NORMAL/ZERO: cluster offset; COMPRESSED: byte offset */
    uint64_t clen;  /* COMPRESSED: bytes to read */
    uint64_t cfree; /* COMPRESSED: bytes accounted in refcounts, from host & ~511 */
    bool copied;
};

/* Classifies and checks one L2 entry. Hostile values mark the image corrupt. */
static int decode_l2(struct qcow2 *q, uint64_t vc, uint64_t e, struct qcow2_map *m)
{
    memset(m, 0, sizeof(*m));
    m->entry = e;
    m->copied = (e & QCOW2_OFLAG_COPIED) != 0;
    if (e & QCOW2_OFLAG_COMPRESSED) {
        unsigned x = 62 - (q->cluster_bits - 8);
        uint64_t coff = e & ((1ull << x) - 1);
        uint64_t nsec = ((e >> x) & ((1ull << (q->cluster_bits - 8)) - 1)) + 1;
        if (coff < q->cluster_size || coff >= q->file_size) {
            return qcow2_corrupt(q,
                                 "compressed cluster of guest offset 0x%llx at 0x%llx lies "
                                 "outside the image",
                                 (unsigned long long)(vc << q->cluster_bits),
                                 (unsigned long long)coff);
        }
        m->type = QCOW2_COMPRESSED;
        m->host = coff;
        m->cfree = nsec * 512;
        m->clen = nsec * 512 - (coff & 511);
        if (m->clen > q->file_size - coff) {
            m->clen = q->file_size - coff; /* the last sector may be cut short at EOF */
        }
        return 0;
    }
    uint64_t host = e & QCOW2_L2_OFFSET_MASK;
    bool zero = q->version >= 3 && (e & QCOW2_OFLAG_ZERO);
    if (host != 0) {
        if ((host & (q->cluster_size - 1)) != 0 || host < q->cluster_size ||
            (host >> q->cluster_bits) >= file_clusters(q)) {
            return qcow2_corrupt(q,
                                 "L2 entry for guest offset 0x%llx points to 0x%llx "
                                 "(unaligned, header or past the end of the file)",
                                 (unsigned long long)(vc << q->cluster_bits),
                                 (unsigned long long)host);
        }
    }
    m->host = host;
    if (zero) {
        m->type = QCOW2_ZERO;
    } else if (host != 0) {
        m->type = QCOW2_NORMAL;
    } else {
        m->type = QCOW2_UNALLOC;
    }
    return 0;
}

/* The L2 table for guest cluster vc, *l2 = NULL when its L1 entry is empty. */
static int get_l2(struct qcow2 *q, uint64_t vc, uint8_t **l2, uint64_t *l2_off)
{
    uint64_t i1 = vc >> q->l2_bits;
    *l2 = NULL;
    if (i1 >= q->l1_size) {
        return qcow2_corrupt(q, "guest cluster 0x%llx is beyond the L1 table",
                             (unsigned long long)vc);
    }
    uint64_t off = q->l1[i1] & QCOW2_L1_OFFSET_MASK;
    if (off == 0) {
        return 0;
    }
    if ((off >> q->cluster_bits) >= file_clusters(q)) {
        return qcow2_corrupt(q, "L2 table at 0x%llx is past the end of the file",
                             (unsigned long long)off);
    }
    *l2_off = off;
    return cache_get(q, q->l2c, QCOW2_L2_CACHE, off, false, l2);
}

static int lookup(struct qcow2 *q, uint64_t vc, struct qcow2_map *m)
{
    uint8_t *l2;
    uint64_t l2_off;
    int r = get_l2(q, vc, &l2, &l2_off);
    if (r < 0) {
        return r;
    }
    uint64_t e = l2 == NULL ? 0 : ld64(l2 + 8 * (vc & ((1ull << q->l2_bits) - 1)));
    return decode_l2(q, vc, e, m);
}

/* ---- data paths ---- */

static int decompress(struct qcow2 *q, const uint8_t *src, size_t slen, uint8_t *dst)
{
    size_t cs = q->cluster_size;
    if (q->compression == QCOW2_COMPRESSION_ZSTD) {
        ZSTD_DCtx *z = ZSTD_createDCtx();
        if (z == NULL) {
            return -ENOMEM;
        }
        ZSTD_inBuffer in = {src, slen, 0};
        ZSTD_outBuffer out = {dst, cs, 0};
        int ret = -EIO;
        while (out.pos < cs) {
            size_t before_in = in.pos, before_out = out.pos;
            size_t r = ZSTD_decompressStream(z, &out, &in);
            if (ZSTD_isError(r) || r == 0 || (in.pos == before_in && out.pos == before_out)) {
                break;
            }
        }
        if (out.pos == cs) {
            ret = 0;
        }
        ZSTD_freeDCtx(z);
        return ret;
    }
    z_stream s;
    memset(&s, 0, sizeof(s));
    /* Raw deflate (no zlib header); 15 accepts any window QEMU may have compressed with. */
    if (inflateInit2(&s, -15) != Z_OK) {
        return -ENOMEM;
    }
    s.next_in = (Bytef *)src;
    s.avail_in = (uInt)slen;
    s.next_out = dst;
    s.avail_out = (uInt)cs;
    int zr = inflate(&s, Z_FINISH);
    bool ok = (zr == Z_STREAM_END || zr == Z_BUF_ERROR || zr == Z_OK) && s.avail_out == 0;
    inflateEnd(&s);
    return ok ? 0 : -EIO;
}

static int read_compressed(struct qcow2 *q, uint64_t vc, const struct qcow2_map *m,
                           uint8_t *cluster)
{
    uint8_t *src = malloc(m->clen ? m->clen : 1);
    if (src == NULL) {
        return -ENOMEM;
    }
    int r = block_file_pread(q->fd, m->host, src, m->clen);
    if (r == 0) {
        r = decompress(q, src, m->clen, cluster);
        if (r == -EIO) {
            block_set_error(&q->base,
                            "compressed cluster at 0x%llx (guest 0x%llx) does not "
                            "decompress to a whole cluster",
                            (unsigned long long)m->host,
                            (unsigned long long)(vc << q->cluster_bits));
        }
    }
    free(src);
    return r;
}

static int read_backing(struct qcow2 *q, uint64_t off, uint8_t *buf, size_t n)
{
    uint64_t bsz = q->backing == NULL ? 0 : block_size(q->backing);
    size_t have = 0;
    if (off < bsz) {
        have = bsz - off < n ? (size_t)(bsz - off) : n;
        int r = block_pread(q->backing, off, buf, have);
        if (r < 0) {
            return r;
        }
    }
    memset(buf + have, 0, n - have);
    return 0;
}

/* Reads guest bytes [off, off + n) inside one cluster whose mapping is m. */
static int read_mapped(struct qcow2 *q, uint64_t off, uint8_t *buf, size_t n,
                       const struct qcow2_map *m)
{
    uint64_t vc = off >> q->cluster_bits;
    uint64_t in = off & (q->cluster_size - 1);
    switch (m->type) {
    case QCOW2_ZERO:
        memset(buf, 0, n);
        return 0;
    case QCOW2_UNALLOC:
        return read_backing(q, off, buf, n);
    case QCOW2_NORMAL:
        return block_file_pread(q->fd, m->host + in, buf, n);
    case QCOW2_COMPRESSED: {
        uint8_t *c = malloc(q->cluster_size);
        if (c == NULL) {
            return -ENOMEM;
        }
        int r = read_compressed(q, vc, m, c);
        if (r == 0) {
            memcpy(buf, c + in, n);
        }
        free(c);
        return r;
    }
    }
    return -EIO;
}

static int qcow2_pread(struct block_image *img, uint64_t off, void *buf, size_t len)
{
    struct qcow2 *q = to_q(img);
    uint8_t *p = buf;
    while (len > 0) {
        uint64_t in = off & (q->cluster_size - 1);
        size_t n = q->cluster_size - in < len ? (size_t)(q->cluster_size - in) : len;
        struct qcow2_map m;
        pthread_mutex_lock(&q->lock);
        int r = lookup(q, off >> q->cluster_bits, &m);
        pthread_mutex_unlock(&q->lock);
        if (r == 0) {
            r = read_mapped(q, off, p, n, &m);
        }
        if (r < 0) {
            return r;
        }
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/*
 * Points guest cluster vc at new_entry, in memory: the L2 entry (and, for a fresh L2 table,
 * the L1 entry) reaches the file at the next write-back, after everything the caller wrote
 * before (data, refcounts) is durable. Caller holds the lock.
 */
static int set_l2_entry(struct qcow2 *q, uint64_t vc, uint64_t new_entry)
{
    uint64_t i1 = vc >> q->l2_bits;
    uint64_t i2 = vc & ((1ull << q->l2_bits) - 1);
    uint8_t *l2;
    uint64_t l2_off;
    int r = get_l2(q, vc, &l2, &l2_off);
    if (r < 0) {
        return r;
    }
    if (l2 != NULL && !(q->l1[i1] & QCOW2_OFLAG_COPIED)) {
        /* An L2 table without COPIED may be shared with an internal snapshot. */
        uint64_t rc;
        r = refcount_get(q, l2_off >> q->cluster_bits, &rc);
        if (r < 0) {
            return r;
        }
        if (rc != 1) {
            block_set_error(&q->base,
                            "L2 table at 0x%llx is shared (refcount %llu); writing "
                            "images with internal snapshots is not supported",
                            (unsigned long long)l2_off, (unsigned long long)rc);
            return -ENOTSUP;
        }
        /* Only a flag on an existing reference: no ordering to keep. */
        uint8_t e[8];
        st64(e, l2_off | QCOW2_OFLAG_COPIED);
        r = block_file_pwrite(q->fd, q->l1_offset + i1 * 8, e, 8);
        if (r < 0) {
            return r;
        }
        q->l1[i1] = l2_off | QCOW2_OFLAG_COPIED;
    }
    bool fresh = l2 == NULL;
    if (fresh) {
        r = alloc_cluster(q, &l2_off);
        if (r < 0) {
            return r;
        }
        r = cache_get(q, q->l2c, QCOW2_L2_CACHE, l2_off, true, &l2);
        if (r < 0) {
            return r;
        }
        q->l1[i1] = l2_off | QCOW2_OFLAG_COPIED;
        if (q->l1_dlo >= q->l1_dhi) {
            q->l1_dlo = (uint32_t)i1;
            q->l1_dhi = (uint32_t)i1 + 1;
        } else {
            q->l1_dlo = q->l1_dlo < i1 ? q->l1_dlo : (uint32_t)i1;
            q->l1_dhi = q->l1_dhi > i1 + 1 ? q->l1_dhi : (uint32_t)i1 + 1;
        }
    }
    struct qcow2_cache_entry *ce = NULL;
    for (unsigned i = 0; i < QCOW2_L2_CACHE; i++) {
        if (q->l2c[i].data == l2) {
            ce = &q->l2c[i];
        }
    }
    if (ce == NULL) {
        return -EIO; /* cannot happen: l2 came from this cache */
    }
    st64(l2 + 8 * i2, new_entry);
    uint32_t lo = (uint32_t)(8 * i2), hi = lo + 8;
    if (!ce->dirty) {
        ce->dirty = true;
        ce->fresh = fresh;
        ce->dlo = lo;
        ce->dhi = hi;
        q->l2_dirty++;
    } else {
        ce->dlo = ce->dlo < lo ? ce->dlo : lo;
        ce->dhi = ce->dhi > hi ? ce->dhi : hi;
    }
    ce->fresh |= fresh;
    atomic_store(&q->deferred, true);
    return 0;
}

/* Drops the host clusters an old mapping held, once its replacement is durable. */
static int release_old(struct qcow2 *q, const struct qcow2_map *old, bool keeps_host)
{
    uint64_t off, len;
    if (old->type == QCOW2_COMPRESSED) {
        off = old->host & ~511ull;
        len = old->cfree;
    } else if ((old->type == QCOW2_NORMAL || old->type == QCOW2_ZERO) && old->host != 0 &&
               !keeps_host) {
        off = old->host;
        len = q->cluster_size;
    } else {
        return 0;
    }
    /* The new L2 entry must be on disk before the old clusters can be reused. */
    return defer_free(q, off, len);
}

/* Writes n bytes at off inside one cluster that needs allocation (or COW). Lock held. */
static int write_alloc(struct qcow2 *q, uint64_t off, const uint8_t *buf, size_t n,
                       const struct qcow2_map *m)
{
    uint64_t cs = q->cluster_size;
    uint64_t vc = off >> q->cluster_bits;
    uint64_t in = off & (cs - 1);
    uint8_t *c = malloc(cs);
    if (c == NULL) {
        return -ENOMEM;
    }
    int r = 0;
    if (n < cs) {
        /* Copy-on-write: the rest of the cluster comes from what the guest saw before. */
        r = read_mapped(q, vc << q->cluster_bits, c, cs, m);
    }
    if (r < 0) {
        goto out;
    }
    memcpy(c + in, buf, n);
    if (m->type == QCOW2_ZERO && m->host != 0 && m->copied) {
        /* Preallocated zero cluster we own: fill it in place, then drop the zero flag. */
        r = block_file_pwrite(q->fd, m->host, c, cs);
        if (r == 0) {
            r = set_l2_entry(q, vc, m->host | QCOW2_OFLAG_COPIED);
        }
        goto out;
    }
    uint64_t host;
    r = alloc_cluster(q, &host);
    if (r < 0) {
        goto out;
    }
    r = block_file_pwrite(q->fd, host, c, cs);
    if (r < 0) {
        goto out;
    }
    r = set_l2_entry(q, vc, host | QCOW2_OFLAG_COPIED);
    if (r < 0) {
        goto out;
    }
    r = release_old(q, m, false);
out:
    free(c);
    return r;
}

static int qcow2_pwrite(struct block_image *img, uint64_t off, const void *buf, size_t len)
{
    struct qcow2 *q = to_q(img);
    const uint8_t *p = buf;
    while (len > 0) {
        uint64_t in = off & (q->cluster_size - 1);
        size_t n = q->cluster_size - in < len ? (size_t)(q->cluster_size - in) : len;
        struct qcow2_map m;
        pthread_mutex_lock(&q->lock);
        int r = q->corrupt ? -EIO : lookup(q, off >> q->cluster_bits, &m);
        if (r == 0 && m.type == QCOW2_NORMAL && m.copied) {
            pthread_mutex_unlock(&q->lock);
            /* Allocated and ours alone: overwrite in place, no metadata involved. */
            r = block_file_pwrite(q->fd, m.host + in, p, n);
        } else {
            if (r == 0) {
                r = write_alloc(q, off, p, n, &m);
            }
            if (r == 0 && q->writethrough) {
                r = qcow2_writeback(q); /* O_DSYNC promises the write is durable now */
            }
            pthread_mutex_unlock(&q->lock);
        }
        if (r < 0) {
            return r;
        }
        p += n;
        off += n;
        len -= n;
    }
    return 0;
}

/* The guest's flush: the deferred metadata goes out in order, ending with an fdatasync. */
static int qcow2_flush(struct block_image *img)
{
    struct qcow2 *q = to_q(img);
    pthread_mutex_lock(&q->lock);
    int r = qcow2_writeback(q);
    pthread_mutex_unlock(&q->lock);
    return r;
}

/* Zeroes (or discards, unmap=true) whole cluster vc. Lock held. */
static int zero_cluster(struct qcow2 *q, uint64_t vc, bool unmap)
{
    struct qcow2_map m;
    int r = lookup(q, vc, &m);
    if (r < 0) {
        return r;
    }
    if (q->version < 3) {
        /* No zero flag in v2: unallocated reads zero only without a backing file. */
        if (q->backing != NULL) {
            uint8_t *z = calloc(1, q->cluster_size);
            if (z == NULL) {
                return -ENOMEM;
            }
            if (m.type == QCOW2_NORMAL && m.copied) {
                r = block_file_pwrite(q->fd, m.host, z, q->cluster_size);
            } else {
                r = write_alloc(q, vc << q->cluster_bits, z, q->cluster_size, &m);
            }
            free(z);
            return r;
        }
        if (m.type == QCOW2_UNALLOC) {
            return 0;
        }
        r = set_l2_entry(q, vc, 0);
        return r < 0 ? r : release_old(q, &m, false);
    }
    if (m.type == QCOW2_UNALLOC && q->backing == NULL) {
        return 0;
    }
    bool keep =
        !unmap && (m.type == QCOW2_NORMAL || m.type == QCOW2_ZERO) && m.host != 0 && m.copied;
    uint64_t e = keep ? (m.host | QCOW2_OFLAG_COPIED | QCOW2_OFLAG_ZERO) : QCOW2_OFLAG_ZERO;
    if (e == m.entry) {
        return 0;
    }
    r = set_l2_entry(q, vc, e);
    return r < 0 ? r : release_old(q, &m, keep);
}

static int zero_range(struct block_image *img, uint64_t off, uint64_t len, bool unmap)
{
    struct qcow2 *q = to_q(img);
    uint64_t cs = q->cluster_size;
    uint64_t end = off + len;
    uint64_t first_full = (off + cs - 1) & ~(cs - 1);
    /* The virtual size need not be cluster aligned: the tail cluster then counts as whole. */
    uint64_t last_full = end == img->size ? (end + cs - 1) & ~(cs - 1) : end & ~(cs - 1);
    uint64_t head_end = end, tail_start = end;
    if (first_full < last_full) {
        head_end = first_full;
        tail_start = last_full < end ? last_full : end;
    } else {
        first_full = last_full = end; /* no whole cluster inside: all of it is "head" */
    }
    int r = 0;
    if (!unmap && (off < head_end || tail_start < end)) {
        /* Partial clusters are written as zeroes; discard leaves them (see block.h). With no
         * whole cluster inside, the head spans up to two partial clusters. */
        uint8_t *z = calloc(2, cs);
        if (z == NULL) {
            return -ENOMEM;
        }
        if (off < head_end) {
            r = qcow2_pwrite(img, off, z, (size_t)(head_end - off));
        }
        if (r == 0 && tail_start < end) {
            r = qcow2_pwrite(img, tail_start, z, (size_t)(end - tail_start));
        }
        free(z);
    }
    for (uint64_t v = first_full; v < last_full && r == 0; v += cs) {
        pthread_mutex_lock(&q->lock);
        r = q->corrupt ? -EIO : zero_cluster(q, v >> q->cluster_bits, unmap);
        if (r == 0 && q->writethrough && v + cs >= last_full) {
            r = qcow2_writeback(q);
        }
        pthread_mutex_unlock(&q->lock);
    }
    return r;
}

static int qcow2_write_zeroes(struct block_image *img, uint64_t off, uint64_t len)
{
    return zero_range(img, off, len, false);
}

static int qcow2_discard(struct block_image *img, uint64_t off, uint64_t len)
{
    return zero_range(img, off, len, true);
}

static void qcow2_close(struct block_image *img)
{
    struct qcow2 *q = to_q(img);
    if (!img->readonly && q->fd >= 0 && !q->corrupt) {
        int r = qcow2_writeback(q);
        if (r < 0) {
            block_set_error(img,
                            "cannot write metadata back at close: %s (the image may have "
                            "leaked clusters)",
                            strerror(-r));
        }
    } else if (!img->readonly && q->fd >= 0) {
        (void)fdatasync(q->fd);
    }
    block_close(q->backing);
    for (unsigned i = 0; i < QCOW2_L2_CACHE; i++) {
        free(q->l2c[i].data);
    }
    for (unsigned i = 0; i < QCOW2_RB_CACHE; i++) {
        free(q->rbc[i].data);
    }
    free(q->l1);
    free(q->rt);
    free(q->pfree);
    if (q->fd >= 0) {
        close(q->fd);
    }
    pthread_mutex_destroy(&q->lock);
    block_image_fini(img);
    free(q);
}

/*
 * Data clusters the I/O engine may reach directly: normal clusters (owned ones for writes),
 * physically contiguous runs of them coalesced into one extent.
 */
static int qcow2_map(struct block_image *img, uint64_t off, uint64_t len, bool write,
                     struct block_extent *ext)
{
    struct qcow2 *q = to_q(img);
    uint64_t done = 0, host0 = 0;
    pthread_mutex_lock(&q->lock);
    while (done < len && !(write && q->corrupt)) {
        uint64_t at = off + done;
        uint64_t in = at & (q->cluster_size - 1);
        uint64_t n = q->cluster_size - in < len - done ? q->cluster_size - in : len - done;
        struct qcow2_map m;
        if (lookup(q, at >> q->cluster_bits, &m) < 0 || m.type != QCOW2_NORMAL ||
            (write && !m.copied)) {
            break;
        }
        if (done == 0) {
            host0 = m.host + in;
        } else if (m.host + in != host0 + done) {
            break;
        }
        done += n;
    }
    pthread_mutex_unlock(&q->lock);
    if (done == 0) {
        return 0;
    }
    *ext = (struct block_extent){.fd = q->fd, .host_off = host0, .len = done};
    return 1;
}

/*
 * A plain fdatasync is the guest's flush only while no metadata is deferred; otherwise -1
 * sends the flush through qcow2_flush. Writes completed before this call set `deferred`
 * before they completed (their completion passed through the pool's mutex since), so a clean
 * answer here covers them.
 */
static int qcow2_sync_fd(struct block_image *img)
{
    struct qcow2 *q = to_q(img);
    return atomic_load(&q->deferred) ? -1 : q->fd;
}

/* Runs of clusters of one kind in this image, as block_alloc_status() reports them. */
static int qcow2_alloc_status(struct block_image *img, uint64_t off, uint64_t len, uint64_t *pnum)
{
    struct qcow2 *q = to_q(img);
    uint64_t done = 0;
    int kind = -1, r = 0;
    pthread_mutex_lock(&q->lock);
    while (done < len) {
        uint64_t at = off + done;
        uint64_t in = at & (q->cluster_size - 1);
        uint64_t n = q->cluster_size - in < len - done ? q->cluster_size - in : len - done;
        struct qcow2_map m;
        if ((r = lookup(q, at >> q->cluster_bits, &m)) < 0) {
            break;
        }
        int k = m.type == QCOW2_UNALLOC ? BLOCK_ALLOC_NONE
                : m.type == QCOW2_ZERO  ? BLOCK_ALLOC_ZERO
                                        : BLOCK_ALLOC_DATA;
        if (kind >= 0 && k != kind) {
            break;
        }
        kind = k;
        done += n;
    }
    pthread_mutex_unlock(&q->lock);
    if (done == 0) {
        return r < 0 ? r : -EIO;
    }
    *pnum = done;
    return kind;
}

static struct block_image *qcow2_backing(struct block_image *img)
{
    return to_q(img)->backing;
}

static const struct block_driver qcow2_driver = {
    .name = "qcow2",
    .pread = qcow2_pread,
    .pwrite = qcow2_pwrite,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .close = qcow2_close,
    .map = qcow2_map,
    .sync_fd = qcow2_sync_fd,
    .alloc_status = qcow2_alloc_status,
    .backing = qcow2_backing,
};

/* ---- open: every number from the file is checked before use ---- */

struct qcow2_open {
    const char *path;
    char *err;
    size_t err_len;
    char backing_fmt[17];
    char backing_name[QCOW2_MAX_BACKING_NAME + 1];
};

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen > 0 && blen > 0 && a < b + blen && b < a + alen;
}

static int parse_extensions(struct qcow2 *q, struct qcow2_open *o, const uint8_t *hdr,
                            uint64_t start, uint64_t end)
{
    uint64_t pos = start;
    while (pos + 8 <= end) {
        uint32_t type = ld32(hdr + pos);
        uint32_t len = ld32(hdr + pos + 4);
        if (type == QCOW2_EXT_END) {
            return 0;
        }
        if (len > end - pos - 8) {
            block_err(o->err, o->err_len,
                      "%s: header extension 0x%08x at offset %llu runs past the header "
                      "cluster (length %u)",
                      o->path, type, (unsigned long long)pos, len);
            return -EINVAL;
        }
        const uint8_t *data = hdr + pos + 8;
        switch (type) {
        case QCOW2_EXT_BACKING_FORMAT:
            if (len >= sizeof(o->backing_fmt)) {
                block_err(o->err, o->err_len, "%s: backing format name too long (%u bytes)",
                          o->path, len);
                return -EINVAL;
            }
            memcpy(o->backing_fmt, data, len);
            o->backing_fmt[len] = '\0';
            break;
        case QCOW2_EXT_CRYPTO:
            block_err(o->err, o->err_len, "%s: encrypted images are not supported", o->path);
            return -ENOTSUP;
        case QCOW2_EXT_DATA_FILE:
            block_err(o->err, o->err_len, "%s: external data files are not supported", o->path);
            return -ENOTSUP;
        default:
            /* Feature name table, bitmaps and unknown extensions: not needed to read or
             * write the active image, skipped. */
            break;
        }
        uint64_t step = 8 + (((uint64_t)len + 7) & ~7ull);
        pos += step;
    }
    (void)q;
    return 0;
}

static int check_table(struct qcow2_open *o, const char *what, uint64_t off, uint64_t bytes,
                       uint64_t cs, uint64_t file_size)
{
    if (off & (cs - 1)) {
        block_err(o->err, o->err_len, "%s: %s offset 0x%llx is not cluster aligned", o->path, what,
                  (unsigned long long)off);
        return -EINVAL;
    }
    if (bytes > 0 && off < cs) {
        block_err(o->err, o->err_len, "%s: %s at 0x%llx overlaps the header", o->path, what,
                  (unsigned long long)off);
        return -EINVAL;
    }
    if (off > file_size || bytes > file_size - off) {
        block_err(o->err, o->err_len,
                  "%s: %s at 0x%llx (%llu bytes) extends past the end of the file (%llu bytes)",
                  o->path, what, (unsigned long long)off, (unsigned long long)bytes,
                  (unsigned long long)file_size);
        return -EINVAL;
    }
    return 0;
}

static int open_backing(struct qcow2 *q, struct qcow2_open *o, enum block_cache cache,
                        struct block_chain *chain)
{
    enum block_format fmt = BLOCK_FORMAT_AUTO;
    if (o->backing_fmt[0] != '\0') {
        if (strcmp(o->backing_fmt, "raw") == 0) {
            fmt = BLOCK_FORMAT_RAW;
        } else if (strcmp(o->backing_fmt, "qcow2") == 0) {
            fmt = BLOCK_FORMAT_QCOW2;
        } else {
            block_err(o->err, o->err_len, "%s: backing file format '%s' is not supported", o->path,
                      o->backing_fmt);
            return -ENOTSUP;
        }
    }
    char full[PATH_MAX];
    if (o->backing_name[0] == '/') {
        snprintf(full, sizeof(full), "%s", o->backing_name);
    } else {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", o->path);
        int n = snprintf(full, sizeof(full), "%s/%s", dirname(dir), o->backing_name);
        if (n < 0 || (size_t)n >= sizeof(full)) {
            block_err(o->err, o->err_len, "%s: backing file path too long", o->path);
            return -ENAMETOOLONG;
        }
    }
    char berr[BLOCK_ERR_LEN];
    berr[0] = '\0';
    if (cache == BLOCK_CACHE_NONE) {
        cache = BLOCK_CACHE_WRITEBACK;
    }
    int r = block_open_chain(full, fmt, true, cache, chain, &q->backing, berr, sizeof(berr));
    if (r < 0) {
        /* The innermost error names the file at fault; only the top image adds its name,
         * so a long chain still gives one short line. */
        if (chain->depth <= 2) {
            block_err(o->err, o->err_len, "%s: backing file: %s", o->path, berr);
        } else {
            block_err(o->err, o->err_len, "%s", berr);
        }
    }
    return r;
}

static int qcow2_load(struct qcow2 *q, struct qcow2_open *o, enum block_cache cache,
                      struct block_chain *chain)
{
    const char *path = o->path;
    struct stat st;
    if (fstat(q->fd, &st) < 0) {
        return -errno;
    }
    uint64_t file_size = (uint64_t)st.st_size;
    q->file_size = file_size;
    uint8_t h[QCOW2_V3_HEADER_LEN] = {0};
    if (file_size < QCOW2_V2_HEADER_LEN) {
        block_err(o->err, o->err_len, "%s: file too short for a qcow2 header (%llu bytes)", path,
                  (unsigned long long)file_size);
        return -EINVAL;
    }
    int r = block_file_pread(q->fd, 0, h, sizeof(h));
    if (r < 0) {
        block_err(o->err, o->err_len, "%s: cannot read header: %s", path, strerror(-r));
        return r;
    }
    if (ld32(h + QCOW2_H_MAGIC) != QCOW2_MAGIC) {
        block_err(o->err, o->err_len, "%s: not a qcow2 image (bad magic)", path);
        return -EINVAL;
    }
    q->version = ld32(h + QCOW2_H_VERSION);
    if (q->version != 2 && q->version != 3) {
        block_err(o->err, o->err_len, "%s: qcow2 version %u is not supported (2 or 3)", path,
                  q->version);
        return -ENOTSUP;
    }
    q->cluster_bits = ld32(h + QCOW2_H_CLUSTER_BITS);
    if (q->cluster_bits < QCOW2_MIN_CLUSTER_BITS || q->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        block_err(o->err, o->err_len, "%s: cluster_bits %u out of range %d..%d", path,
                  q->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
        return -EINVAL;
    }
    uint64_t cs = 1ull << q->cluster_bits;
    q->cluster_size = cs;
    q->l2_bits = q->cluster_bits - 3;
    uint64_t size = ld64(h + QCOW2_H_SIZE);
    if (size > QCOW2_MAX_SIZE) {
        block_err(o->err, o->err_len, "%s: virtual size %llu exceeds the limit of 2^56 bytes", path,
                  (unsigned long long)size);
        return -EFBIG;
    }
    q->base.size = size;
    if (ld32(h + QCOW2_H_CRYPT) != 0) {
        block_err(o->err, o->err_len, "%s: encrypted images are not supported (crypt method %u)",
                  path, ld32(h + QCOW2_H_CRYPT));
        return -ENOTSUP;
    }
    uint32_t nb_snapshots = ld32(h + QCOW2_H_NB_SNAPSHOTS);
    q->refcount_order = 4;
    q->header_length = QCOW2_V2_HEADER_LEN;
    uint64_t compat = 0, autoclear = 0;
    if (q->version >= 3) {
        q->incompat = ld64(h + QCOW2_H_INCOMPAT);
        compat = ld64(h + QCOW2_H_COMPAT);
        autoclear = ld64(h + QCOW2_H_AUTOCLEAR);
        q->refcount_order = ld32(h + QCOW2_H_REFCOUNT_ORDER);
        q->header_length = ld32(h + QCOW2_H_HEADER_LENGTH);
        if (q->header_length < QCOW2_V3_MIN_HEADER_LEN || q->header_length % 8 != 0 ||
            q->header_length > cs || q->header_length > file_size) {
            block_err(o->err, o->err_len, "%s: header_length %u is invalid", path,
                      q->header_length);
            return -EINVAL;
        }
        if (q->refcount_order > 6) {
            block_err(o->err, o->err_len, "%s: refcount_order %u out of range 0..6", path,
                      q->refcount_order);
            return -EINVAL;
        }
        if (q->header_length > QCOW2_H_COMPRESSION_TYPE) {
            q->compression = h[QCOW2_H_COMPRESSION_TYPE];
        }
    }
    (void)compat; /* lazy refcounts: we keep refcounts exact, so the bit changes nothing */
    uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESSION;
    if (q->incompat & QCOW2_INCOMPAT_DATA_FILE) {
        block_err(o->err, o->err_len, "%s: external data files are not supported", path);
        return -ENOTSUP;
    }
    if (q->incompat & QCOW2_INCOMPAT_EXTL2) {
        block_err(o->err, o->err_len, "%s: extended L2 entries (subclusters) are not supported",
                  path);
        return -ENOTSUP;
    }
    if (q->incompat & ~known) {
        block_err(o->err, o->err_len, "%s: unknown incompatible feature bits 0x%llx", path,
                  (unsigned long long)(q->incompat & ~known));
        return -ENOTSUP;
    }
    if (q->compression > QCOW2_COMPRESSION_ZSTD) {
        block_err(o->err, o->err_len, "%s: unknown compression type %u", path, q->compression);
        return -ENOTSUP;
    }
    if ((q->compression != QCOW2_COMPRESSION_DEFLATE) !=
        ((q->incompat & QCOW2_INCOMPAT_COMPRESSION) != 0)) {
        block_err(o->err, o->err_len,
                  "%s: compression type %u disagrees with incompatible feature bit 3", path,
                  q->compression);
        return -EINVAL;
    }
    if (!q->base.readonly) {
        if (q->incompat & QCOW2_INCOMPAT_CORRUPT) {
            block_err(o->err, o->err_len,
                      "%s: image is marked corrupt; open it read-only or repair it with "
                      "'qemu-img check -r all'",
                      path);
            return -EROFS;
        }
        if (q->incompat & QCOW2_INCOMPAT_DIRTY) {
            block_err(o->err, o->err_len,
                      "%s: image is dirty (lazy refcounts, not closed cleanly); open it "
                      "read-only or repair it with 'qemu-img check -r all'",
                      path);
            return -EROFS;
        }
        if (nb_snapshots > 0) {
            block_err(o->err, o->err_len,
                      "%s: image has %u internal snapshots; writing such images is not "
                      "supported, open it read-only",
                      path, nb_snapshots);
            return -ENOTSUP;
        }
    }
    q->rb_bits = q->cluster_bits + 3 - q->refcount_order;

    /* The header cluster: extensions and backing file name live there. */
    uint64_t hlen = cs < file_size ? cs : file_size;
    uint8_t *hc = calloc(1, cs);
    if (hc == NULL) {
        return -ENOMEM;
    }
    r = block_file_pread(q->fd, 0, hc, hlen);
    uint64_t boff = ld64(h + QCOW2_H_BACKING_OFFSET);
    uint32_t bsize = ld32(h + QCOW2_H_BACKING_SIZE);
    uint64_t ext_end = hlen;
    if (r == 0 && boff != 0) {
        if (bsize == 0 || bsize > QCOW2_MAX_BACKING_NAME || boff < q->header_length ||
            boff > hlen || bsize > hlen - boff) {
            block_err(o->err, o->err_len,
                      "%s: backing file name at %llu (%u bytes) is outside the header cluster "
                      "or too long",
                      path, (unsigned long long)boff, bsize);
            r = -EINVAL;
        } else {
            memcpy(o->backing_name, hc + boff, bsize);
            o->backing_name[bsize] = '\0';
            if (strlen(o->backing_name) != bsize) {
                block_err(o->err, o->err_len, "%s: backing file name contains a NUL byte", path);
                r = -EINVAL;
            }
            ext_end = boff;
        }
    }
    if (r == 0) {
        r = parse_extensions(q, o, hc, q->header_length, ext_end);
    }
    free(hc);
    if (r < 0) {
        return r;
    }

    /* L1 table. */
    q->l1_size = ld32(h + QCOW2_H_L1_SIZE);
    q->l1_offset = ld64(h + QCOW2_H_L1_OFFSET);
    uint64_t l2_cover = cs << q->l2_bits; /* bytes one L2 table maps */
    uint64_t l1_need = div_round_up(size, l2_cover);
    if ((uint64_t)q->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        block_err(o->err, o->err_len, "%s: L1 table of %u entries exceeds the limit of %u bytes",
                  path, q->l1_size, QCOW2_MAX_L1_BYTES);
        return -EFBIG;
    }
    if (q->l1_size < l1_need) {
        block_err(o->err, o->err_len, "%s: L1 table has %u entries, the virtual size needs %llu",
                  path, q->l1_size, (unsigned long long)l1_need);
        return -EINVAL;
    }
    r = check_table(o, "L1 table", q->l1_offset, (uint64_t)q->l1_size * 8, cs, file_size);
    if (r < 0) {
        return r;
    }
    /* Refcount table. */
    q->rt_offset = ld64(h + QCOW2_H_RT_OFFSET);
    q->rt_clusters = ld32(h + QCOW2_H_RT_CLUSTERS);
    if (q->rt_clusters == 0 || (uint64_t)q->rt_clusters * cs > QCOW2_MAX_RT_BYTES) {
        block_err(o->err, o->err_len,
                  "%s: refcount table of %u clusters is empty or exceeds the limit of %u bytes",
                  path, q->rt_clusters, QCOW2_MAX_RT_BYTES);
        return -EINVAL;
    }
    uint64_t rt_bytes = (uint64_t)q->rt_clusters * cs;
    r = check_table(o, "refcount table", q->rt_offset, rt_bytes, cs, file_size);
    if (r < 0) {
        return r;
    }
    if (ranges_overlap(q->l1_offset, (uint64_t)q->l1_size * 8, q->rt_offset, rt_bytes)) {
        block_err(o->err, o->err_len, "%s: L1 table and refcount table overlap", path);
        return -EINVAL;
    }
    q->l1 = calloc(q->l1_size ? q->l1_size : 1, sizeof(uint64_t));
    q->rt_size = rt_bytes / 8;
    q->rt = calloc(q->rt_size, sizeof(uint64_t));
    if (q->l1 == NULL || q->rt == NULL) {
        return -ENOMEM;
    }
    r = block_file_pread(q->fd, q->l1_offset, q->l1, (uint64_t)q->l1_size * 8);
    if (r == 0) {
        r = block_file_pread(q->fd, q->rt_offset, q->rt, rt_bytes);
    }
    if (r < 0) {
        block_err(o->err, o->err_len, "%s: cannot read tables: %s", path, strerror(-r));
        return r;
    }
    uint64_t fc = file_clusters(q);
    for (uint32_t i = 0; i < q->l1_size; i++) {
        q->l1[i] = be64toh(q->l1[i]);
        uint64_t off = q->l1[i] & QCOW2_L1_OFFSET_MASK;
        if (q->l1[i] & ~(QCOW2_L1_OFFSET_MASK | QCOW2_OFLAG_COPIED)) {
            block_err(o->err, o->err_len, "%s: L1 entry %u has reserved bits set (0x%llx)", path, i,
                      (unsigned long long)q->l1[i]);
            return -EINVAL;
        }
        if (off != 0 && ((off & (cs - 1)) || off < cs || (off >> q->cluster_bits) >= fc ||
                         ranges_overlap(off, cs, q->rt_offset, rt_bytes) ||
                         ranges_overlap(off, cs, q->l1_offset, (uint64_t)q->l1_size * 8))) {
            block_err(o->err, o->err_len,
                      "%s: L1 entry %u points to 0x%llx: unaligned, past the end of the file, "
                      "or overlapping the header, L1 or refcount table",
                      path, i, (unsigned long long)off);
            return -EINVAL;
        }
    }
    for (uint64_t i = 0; i < q->rt_size; i++) {
        q->rt[i] = be64toh(q->rt[i]);
        uint64_t off = q->rt[i];
        if (off != 0 && ((off & (cs - 1)) || off < cs || (off >> q->cluster_bits) >= fc ||
                         ranges_overlap(off, cs, q->rt_offset, rt_bytes) ||
                         ranges_overlap(off, cs, q->l1_offset, (uint64_t)q->l1_size * 8))) {
            block_err(o->err, o->err_len,
                      "%s: refcount table entry %llu points to 0x%llx: unaligned, past the end "
                      "of the file, or overlapping the header, L1 or refcount table",
                      path, (unsigned long long)i, (unsigned long long)off);
            return -EINVAL;
        }
    }
    q->free_hint = 1;

    if (!q->base.readonly && autoclear != 0) {
        /* Autoclear bits we do not maintain (bitmaps) must be cleared before we write. */
        uint8_t z[8] = {0};
        r = block_file_pwrite(q->fd, QCOW2_H_AUTOCLEAR, z, 8);
        if (r == 0) {
            r = qcow2_sync(q);
        }
        if (r < 0) {
            block_err(o->err, o->err_len, "%s: cannot update header: %s", path, strerror(-r));
            return r;
        }
    }
    if (o->backing_name[0] != '\0') {
        r = open_backing(q, o, cache, chain);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

int block_open_qcow2(const char *path, bool readonly, enum block_cache cache,
                     struct block_chain *chain, struct block_image **out, char *err, size_t err_len)
{
    if (cache == BLOCK_CACHE_NONE) {
        block_err(err, err_len,
                  "%s: cache=none (O_DIRECT) is not supported for qcow2 yet; use "
                  "writeback or writethrough",
                  path);
        return -ENOTSUP;
    }
    struct qcow2 *q = calloc(1, sizeof(*q));
    struct qcow2_open *o = calloc(1, sizeof(*o));
    if (q == NULL || o == NULL) {
        free(q);
        free(o);
        block_err(err, err_len, "%s: out of memory", path);
        return -ENOMEM;
    }
    q->fd = -1;
    q->writethrough = cache == BLOCK_CACHE_WRITETHROUGH;
    pthread_mutex_init(&q->lock, NULL);
    block_image_init(&q->base, &qcow2_driver, path, 0, readonly);
    o->path = path;
    o->err = err;
    o->err_len = err_len;
    int r = block_open_file(path, readonly, cache, chain, &q->fd, err, err_len);
    if (r == 0) {
        r = qcow2_load(q, o, cache, chain);
    }
    free(o);
    if (r < 0) {
        if (err != NULL && err_len > 0 && err[0] == '\0') {
            block_err(err, err_len, "%s: cannot open qcow2 image: %s", path, strerror(-r));
        }
        qcow2_close(&q->base);
        return r;
    }
    *out = &q->base;
    return 0;
}
