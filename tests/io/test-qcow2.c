// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for io/qcow2.c and io/block_create.c: mapping and allocation against an
 * in-memory mirror, copy-on-write over a backing image, zero/discard, large sparse sizes,
 * backing-chain loops and depth, hostile headers and tables, concurrent writers.
 * Interoperability with qemu-img is in test-qcow2-qemu-img.sh.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/block.h"
#include "io/qcow2_internal.h"

struct ctx {
    char dir[64];
    char path[128];
    char err[BLOCK_ERR_LEN];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -1;
    }
    snprintf(c->dir, sizeof(c->dir), "/tmp/test-qcow2-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->path, sizeof(c->path), "%s/a.qcow2", c->dir);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", c->dir);
    assert_int_equal(system(cmd), 0);
    free(c);
    return 0;
}

static void make(struct ctx *c, const char *path, uint64_t size, unsigned cb, const char *backing)
{
    struct qcow2_create_opts o = {.size = size,
                                  .cluster_bits = cb,
                                  .backing_file = backing,
                                  .backing_format = backing && size ? "qcow2" : NULL};
    int r = qcow2_create(path, &o, c->err, sizeof(c->err));
    if (r != 0) {
        fail_msg("create %s: %s", path, c->err);
    }
}

static struct block_image *open_img(struct ctx *c, const char *path, bool ro)
{
    struct block_image *img = NULL;
    int r = block_open(path, BLOCK_FORMAT_QCOW2, ro, BLOCK_CACHE_WRITEBACK, &img, c->err,
                       sizeof(c->err));
    if (r != 0) {
        fail_msg("open %s: %s", path, c->err);
    }
    return img;
}

static void fill(uint8_t *b, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (uint8_t)(seed >> 16);
    }
}

static void assert_reads(struct block_image *img, const uint8_t *mirror, uint64_t size)
{
    uint8_t *b = malloc(size);
    assert_int_equal(block_pread(img, 0, b, size), 0);
    assert_memory_equal(b, mirror, size);
    free(b);
}

static void test_create_open(void **state)
{
    struct ctx *c = *state;
    make(c, c->path, 1000000, 16, NULL);
    struct block_image *img = open_img(c, c->path, false);
    assert_int_equal(block_size(img), 1000000);
    assert_string_equal(block_format_name(img), "qcow2");
    uint8_t b[4096];
    memset(b, 0xaa, sizeof(b));
    assert_int_equal(block_pread(img, 999000, b, 1000), 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(b[i], 0);
    }
    /* Bounds: past the end, and an offset that would wrap. */
    assert_int_equal(block_pread(img, 999999, b, 2), -EINVAL);
    assert_int_equal(block_pwrite(img, UINT64_MAX - 10, b, 20), -EINVAL);
    block_close(img);
    /* O_EXCL: creating over an existing file is refused. */
    struct qcow2_create_opts o = {.size = 4096};
    assert_int_equal(qcow2_create(c->path, &o, c->err, sizeof(c->err)), -EEXIST);
    assert_non_null(strstr(c->err, "a.qcow2"));
}

/* Random writes, zeroes and discards with 512-byte clusters, mirrored in memory, reopened. */
static void test_random_ops_mirror(void **state)
{
    struct ctx *c = *state;
    const uint64_t size = 3 << 20;
    make(c, c->path, size, 9, NULL);
    uint8_t *mirror = calloc(1, size);
    uint8_t *buf = malloc(70000);
    srandom(7);
    for (int round = 0; round < 2; round++) {
        struct block_image *img = open_img(c, c->path, false);
        for (int i = 0; i < 300; i++) {
            uint64_t len = 1 + (uint64_t)random() % 70000;
            uint64_t off = (uint64_t)random() % (size - len);
            int op = (int)(random() % 8);
            if (op == 0) {
                assert_int_equal(block_write_zeroes(img, off, len), 0);
                memset(mirror + off, 0, len);
            } else if (op == 1) {
                uint64_t a = (off + 511) & ~511ull, e = (off + len) & ~511ull;
                assert_int_equal(block_discard(img, off, len), 0);
                if (e > a) {
                    memset(mirror + a, 0, e - a);
                }
            } else {
                fill(buf, len, (uint32_t)random());
                assert_int_equal(block_pwrite(img, off, buf, len), 0);
                memcpy(mirror + off, buf, len);
            }
        }
        assert_int_equal(block_flush(img), 0);
        assert_reads(img, mirror, size);
        block_close(img);
    }
    struct block_image *img = open_img(c, c->path, true);
    assert_reads(img, mirror, size);
    assert_int_equal(block_pwrite(img, 0, buf, 1), -EROFS);
    block_close(img);
    free(mirror);
    free(buf);
}

/* Partial writes over a backing image copy the rest of the cluster from it; zeroes hide it. */
static void test_backing_cow(void **state)
{
    struct ctx *c = *state;
    const uint64_t size = 1 << 20;
    char base[128], mid[128];
    snprintf(base, sizeof(base), "%s/base.qcow2", c->dir);
    snprintf(mid, sizeof(mid), "%s/mid.qcow2", c->dir);
    make(c, base, size, 12, NULL);
    uint8_t *mirror = malloc(size);
    fill(mirror, size, 1);
    struct block_image *b = open_img(c, base, false);
    assert_int_equal(block_pwrite(b, 0, mirror, size), 0);
    block_close(b);
    /* Relative names, resolved against the overlay's directory. */
    make(c, mid, 0, 16, "base.qcow2");
    make(c, c->path, 0, 9, "mid.qcow2");
    struct block_image *img = open_img(c, c->path, false);
    assert_int_equal(block_size(img), size);
    assert_reads(img, mirror, size);
    uint8_t w[100];
    fill(w, sizeof(w), 2);
    assert_int_equal(block_pwrite(img, 5000, w, sizeof(w)), 0); /* inside one 512 cluster */
    memcpy(mirror + 5000, w, sizeof(w));
    assert_int_equal(block_pwrite(img, 8190, w, 4), 0); /* across a cluster boundary */
    memcpy(mirror + 8190, w, 4);
    assert_int_equal(block_write_zeroes(img, 65536, 4096), 0);
    memset(mirror + 65536, 0, 4096);
    assert_int_equal(block_discard(img, 131072, 8192), 0);
    memset(mirror + 131072, 0, 8192);
    assert_reads(img, mirror, size);
    block_close(img);
    img = open_img(c, c->path, true);
    assert_reads(img, mirror, size);
    block_close(img);
    /* The base is untouched. */
    b = open_img(c, base, true);
    uint8_t r[100];
    assert_int_equal(block_pread(b, 5000, r, sizeof(r)), 0);
    assert_memory_not_equal(r, w, sizeof(r));
    block_close(b);
    free(mirror);
}

static void test_large_sparse(void **state)
{
    struct ctx *c = *state;
    uint64_t size = 6ull << 30;
    make(c, c->path, size, 16, NULL);
    struct block_image *img = open_img(c, c->path, false);
    enum { N = 70000 };
    uint8_t *w = malloc(N), *r = malloc(N);
    fill(w, N, 3);
    uint64_t off = (5ull << 30) + 12345;
    assert_int_equal(block_pwrite(img, off, w, N), 0);
    assert_int_equal(block_pwrite(img, size - 100, w, 100), 0);
    block_close(img);
    img = open_img(c, c->path, true);
    assert_int_equal(block_pread(img, off, r, N), 0);
    assert_memory_equal(r, w, N);
    assert_int_equal(block_pread(img, size - 100, r, 100), 0);
    assert_memory_equal(r, w, 100);
    block_close(img);
    struct stat st;
    assert_int_equal(stat(c->path, &st), 0);
    assert_true(st.st_size < (2 << 20)); /* sparse: a few clusters of data and metadata */
    free(w);
    free(r);
}

static void test_backing_loop_and_depth(void **state)
{
    struct ctx *c = *state;
    char x[128], y[128], tmp[128];
    snprintf(x, sizeof(x), "%s/x.qcow2", c->dir);
    snprintf(y, sizeof(y), "%s/y.qcow2", c->dir);
    snprintf(tmp, sizeof(tmp), "%s/tmp.qcow2", c->dir);
    make(c, x, 65536, 16, NULL);
    make(c, y, 0, 16, "x.qcow2");
    make(c, tmp, 0, 16, "y.qcow2");
    assert_int_equal(rename(tmp, x), 0); /* now x -> y -> x */
    struct block_image *img;
    assert_int_equal(
        block_open(y, BLOCK_FORMAT_AUTO, true, BLOCK_CACHE_WRITEBACK, &img, c->err, sizeof(c->err)),
        -ELOOP);
    assert_non_null(strstr(c->err, "loop"));

    /* A chain of 20 images: past the depth limit. */
    char prev[128] = "", cur[128];
    for (int i = 0; i < 20; i++) {
        snprintf(cur, sizeof(cur), "%s/chain%d.qcow2", c->dir, i);
        make(c, cur, 65536, 16, i ? strrchr(prev, '/') + 1 : NULL);
        snprintf(prev, sizeof(prev), "%s", cur);
    }
    assert_int_equal(block_open(cur, BLOCK_FORMAT_AUTO, true, BLOCK_CACHE_WRITEBACK, &img, c->err,
                                sizeof(c->err)),
                     -ELOOP);
    assert_non_null(strstr(c->err, "longer than 16"));
    snprintf(cur, sizeof(cur), "%s/chain%d.qcow2", c->dir, BLOCK_MAX_CHAIN - 1);
    assert_int_equal(block_open(cur, BLOCK_FORMAT_AUTO, true, BLOCK_CACHE_WRITEBACK, &img, c->err,
                                sizeof(c->err)),
                     0);
    block_close(img);
}

static void patch(const char *path, uint64_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static uint64_t read_be64(const char *path, uint64_t off)
{
    int fd = open(path, O_RDONLY);
    uint64_t v = 0;
    assert_int_equal(pread(fd, &v, 8, (off_t)off), 8);
    close(fd);
    return be64toh(v);
}

static int try_open(struct ctx *c, bool ro)
{
    struct block_image *img = NULL;
    int r = block_open(c->path, BLOCK_FORMAT_QCOW2, ro, BLOCK_CACHE_WRITEBACK, &img, c->err,
                       sizeof(c->err));
    block_close(img);
    return r;
}

/* Each damaged header or table is refused at open, with one line naming the problem. */
static void test_hostile_open(void **state)
{
    struct ctx *c = *state;
    static const struct {
        uint64_t off;
        uint8_t bytes[8];
        size_t n;
        const char *expect;
    } cases[] = {
        {QCOW2_H_MAGIC, {'Q', 'F', 'I', 0}, 4, "magic"},
        {QCOW2_H_VERSION, {0, 0, 0, 4}, 4, "version"},
        {QCOW2_H_CLUSTER_BITS, {0, 0, 0, 8}, 4, "cluster_bits"},
        {QCOW2_H_CLUSTER_BITS, {0, 0, 0, 40}, 4, "cluster_bits"},
        {QCOW2_H_SIZE, {0x7f}, 1, "virtual size"},
        {QCOW2_H_CRYPT, {0, 0, 0, 1}, 4, "encrypt"},
        {QCOW2_H_L1_SIZE, {0, 0, 0, 0}, 4, "L1 table has 0"},
        {QCOW2_H_L1_SIZE, {0x10, 0, 0, 0}, 4, "exceeds"},
        {QCOW2_H_L1_OFFSET + 7, {0x08}, 1, "aligned"},
        {QCOW2_H_L1_OFFSET, {0, 0, 0, 0, 0, 0, 0, 0}, 8, "header"},
        {QCOW2_H_L1_OFFSET, {0, 0, 0, 1, 0, 0, 0, 0}, 8, "past the end"},
        {QCOW2_H_RT_OFFSET, {0, 0, 0, 0, 0, 0, 0, 0}, 8, "header"},
        {QCOW2_H_RT_CLUSTERS, {0, 0, 0, 0}, 4, "refcount table"},
        {QCOW2_H_RT_CLUSTERS, {0, 0, 0x10, 0}, 4, "refcount table"},
        {QCOW2_H_INCOMPAT + 7, {0x20}, 1, "unknown incompatible"},
        {QCOW2_H_INCOMPAT + 7, {0x10}, 1, "extended L2"},
        {QCOW2_H_INCOMPAT + 7, {0x04}, 1, "external data"},
        {QCOW2_H_INCOMPAT + 7, {0x08}, 1, "compression type"},
        {QCOW2_H_REFCOUNT_ORDER, {0, 0, 0, 7}, 4, "refcount_order"},
        {QCOW2_H_HEADER_LENGTH, {0, 0, 0, 50}, 4, "header_length"},
        {QCOW2_H_HEADER_LENGTH, {0, 0, 0, 105}, 4, "header_length"},
        {QCOW2_H_COMPRESSION_TYPE, {9}, 1, "compression type"},
        {QCOW2_H_BACKING_OFFSET, {0, 0, 0, 0, 0, 0, 0x10, 0}, 8, "backing file name"},
        {QCOW2_V3_HEADER_LEN + 4, {0x7f, 0, 0, 0}, 4, "extension"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unlink(c->path);
        make(c, c->path, 1 << 20, 16, NULL);
        if (cases[i].off == QCOW2_H_BACKING_OFFSET) {
            static const uint8_t len[4] = {0, 0, 0, 8};
            patch(c->path, QCOW2_H_BACKING_SIZE, len, 4);
        }
        patch(c->path, cases[i].off, cases[i].bytes, cases[i].n);
        c->err[0] = '\0';
        int r = try_open(c, true);
        if (r >= 0 || strstr(c->err, cases[i].expect) == NULL || strchr(c->err, '\n')) {
            fail_msg("case %zu (offset %llu): r=%d err='%s', expected '%s'", i,
                     (unsigned long long)cases[i].off, r, c->err, cases[i].expect);
        }
    }
    /* L1 and refcount table entries. */
    unlink(c->path);
    make(c, c->path, 1 << 20, 16, NULL);
    uint64_t l1 = read_be64(c->path, QCOW2_H_L1_OFFSET);
    uint64_t rt = read_be64(c->path, QCOW2_H_RT_OFFSET);
    uint8_t e[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    patch(c->path, l1 + 6, (uint8_t[]){0x12, 0x00}, 2); /* unaligned (cluster 64K) */
    assert_true(try_open(c, true) < 0);
    assert_non_null(strstr(c->err, "L1 entry 0"));
    patch(c->path, l1, e, 8);
    patch(c->path, l1, (uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
    patch(c->path, rt + 8, (uint8_t[]){0, 0, 0, 0, 0, 0x10, 0, 0}, 8); /* past EOF */
    assert_true(try_open(c, true) < 0);
    assert_non_null(strstr(c->err, "refcount table entry 1"));
    patch(c->path, rt + 8, e, 8);
    patch(c->path, rt, (uint8_t[]){0, 0, 0, 0, 0, 0, 0, 0}, 8);
    assert_int_equal(try_open(c, true), 0); /* an empty refcount table entry is legal */
    /* Truncation cutting the L1 table. */
    assert_int_equal(truncate(c->path, (off_t)l1 + 4), 0);
    assert_true(try_open(c, true) < 0);
    assert_non_null(strstr(c->err, "past the end"));
}

/* Dirty and corrupt bits: read-only opens work, writable opens are refused. */
static void test_dirty_corrupt_bits(void **state)
{
    struct ctx *c = *state;
    for (int bit = 0; bit < 2; bit++) {
        unlink(c->path);
        make(c, c->path, 1 << 20, 16, NULL);
        uint8_t v = (uint8_t)(1u << bit);
        patch(c->path, QCOW2_H_INCOMPAT + 7, &v, 1);
        assert_int_equal(try_open(c, false), -EROFS);
        assert_non_null(strstr(c->err, bit ? "corrupt" : "dirty"));
        assert_int_equal(try_open(c, true), 0);
    }
    /* Internal snapshots: read-only only. */
    unlink(c->path);
    make(c, c->path, 1 << 20, 16, NULL);
    patch(c->path, QCOW2_H_NB_SNAPSHOTS, (uint8_t[]){0, 0, 0, 1}, 4);
    assert_int_equal(try_open(c, false), -ENOTSUP);
    assert_non_null(strstr(c->err, "snapshot"));
    assert_int_equal(try_open(c, true), 0);
}

/* A bad L2 entry found at run time: EIO for that request, the image then refuses writes. */
static void test_runtime_corruption(void **state)
{
    struct ctx *c = *state;
    make(c, c->path, 1 << 20, 16, NULL);
    struct block_image *img = open_img(c, c->path, false);
    uint8_t b[512];
    memset(b, 1, sizeof(b));
    assert_int_equal(block_pwrite(img, 0, b, sizeof(b)), 0);
    block_close(img);
    uint64_t l1 = read_be64(c->path, QCOW2_H_L1_OFFSET);
    uint64_t l2 = read_be64(c->path, l1) & QCOW2_L1_OFFSET_MASK;
    uint8_t bad[8];
    uint64_t v = htobe64(QCOW2_OFLAG_COPIED | (1ull << 40)); /* far past EOF */
    memcpy(bad, &v, 8);
    patch(c->path, l2, bad, 8);
    img = open_img(c, c->path, false);
    assert_int_equal(block_pread(img, 0, b, sizeof(b)), -EIO);
    char line[BLOCK_ERR_LEN];
    block_last_error(img, line, sizeof(line));
    assert_non_null(strstr(line, "corrupt"));
    assert_int_equal(block_pwrite(img, 200000, b, sizeof(b)), -EIO);
    /* Other clusters still read. */
    assert_int_equal(block_pread(img, 300000, b, sizeof(b)), 0);
    block_close(img);
    /* The corrupt bit reached the header: no more writable opens. */
    assert_int_equal(try_open(c, false), -EROFS);
}

struct writer {
    struct block_image *img;
    uint64_t base;
    uint32_t seed;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    uint8_t b[3000];
    for (int i = 0; i < 200; i++) {
        fill(b, sizeof(b), w->seed + (uint32_t)i);
        if (block_pwrite(w->img, w->base + (uint64_t)i * 3000, b, sizeof(b)) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

/* Concurrent allocating writers on one image (the io_uring engine's use). */
static void test_concurrent_writers(void **state)
{
    struct ctx *c = *state;
    make(c, c->path, 8 << 20, 12, NULL);
    struct block_image *img = open_img(c, c->path, false);
    pthread_t t[4];
    struct writer w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct writer){img, (uint64_t)i * (1 << 20) + 100, (uint32_t)i * 1000};
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    block_close(img);
    img = open_img(c, c->path, true);
    uint8_t b[3000], r[3000];
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 200; k++) {
            fill(b, sizeof(b), w[i].seed + (uint32_t)k);
            assert_int_equal(block_pread(img, w[i].base + (uint64_t)k * 3000, r, sizeof(r)), 0);
            assert_memory_equal(r, b, sizeof(r));
        }
    }
    block_close(img);
}

static void test_cache_none_refused(void **state)
{
    struct ctx *c = *state;
    make(c, c->path, 1 << 20, 16, NULL);
    struct block_image *img;
    assert_int_equal(block_open(c->path, BLOCK_FORMAT_QCOW2, false, BLOCK_CACHE_NONE, &img, c->err,
                                sizeof(c->err)),
                     -ENOTSUP);
    assert_non_null(strstr(c->err, "cache=none"));
    /* Writethrough works. */
    assert_int_equal(block_open(c->path, BLOCK_FORMAT_AUTO, false, BLOCK_CACHE_WRITETHROUGH, &img,
                                c->err, sizeof(c->err)),
                     0);
    assert_string_equal(block_format_name(img), "qcow2");
    uint8_t b[10] = {1, 2, 3};
    assert_int_equal(block_pwrite(img, 77, b, sizeof(b)), 0);
    block_close(img);
}

/* The file as an engine crash would leave it: copied while the image is still open. */
static void snapshot_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(in >= 0 && out >= 0);
    uint8_t *b = malloc(65536);
    ssize_t n;
    while ((n = read(in, b, 65536)) > 0) {
        assert_int_equal(write(out, b, (size_t)n), n);
    }
    assert_int_equal(n, 0);
    free(b);
    close(in);
    close(out);
}

/* [off, off + n) reads as want or, when zero_ok, as zeroes. */
static void assert_range(struct block_image *img, uint64_t off, const uint8_t *want, size_t n,
                         bool zero_ok)
{
    uint8_t *b = malloc(n);
    uint8_t *z = calloc(1, n);
    assert_int_equal(block_pread(img, off, b, n), 0);
    if (!(zero_ok && memcmp(b, z, n) == 0)) {
        assert_memory_equal(b, want, n);
    }
    free(b);
    free(z);
}

/*
 * Metadata is deferred to the flush (docs/qcow2.md, "Write ordering"): between flushes the
 * file is consistent but may lack the latest writes; after a flush it has them; a cluster
 * freed by a discard is not reused while an old reference to it may still be on disk.
 */
static void test_deferred_metadata(void **state)
{
    struct ctx *c = *state;
    enum { N = 65536 };
    static uint8_t a[N], b[N], d[N], z[N];
    fill(a, N, 1);
    fill(b, N, 2);
    fill(d, N, 3);
    char snap[160];
    snprintf(snap, sizeof(snap), "%s/snap.qcow2", c->dir);
    make(c, c->path, 8 << 20, 16, NULL);
    struct block_image *img = open_img(c, c->path, false);
    assert_int_equal(block_pwrite(img, 0, a, N), 0);
    assert_true(block_sync_fd(img) < 0); /* a plain fdatasync would not write the L2 entry */
    assert_int_equal(block_flush(img), 0);
    assert_true(block_sync_fd(img) >= 0);
    assert_int_equal(block_pwrite(img, 1 << 20, b, N), 0);
    assert_int_equal(block_discard(img, 0, N), 0);
    assert_int_equal(block_pwrite(img, 2 << 20, d, N), 0); /* must not reuse a's cluster */
    assert_true(block_sync_fd(img) < 0);
    assert_range(img, 0, z, N, false);
    assert_range(img, 1 << 20, b, N, false);
    assert_range(img, 2 << 20, d, N, false);

    snapshot_file(c->path, snap);
    struct block_image *s = open_img(c, snap, true);
    assert_range(s, 0, a, N, true);
    assert_range(s, 1 << 20, b, N, true);
    assert_range(s, 2 << 20, d, N, true);
    block_close(s);

    assert_int_equal(block_flush(img), 0);
    snapshot_file(c->path, snap);
    s = open_img(c, snap, true);
    assert_range(s, 0, z, N, false);
    assert_range(s, 1 << 20, b, N, false);
    assert_range(s, 2 << 20, d, N, false);
    block_close(s);
    block_close(img);

    /* Writethrough: every completed write is in the file at once. */
    assert_int_equal(block_open(c->path, BLOCK_FORMAT_QCOW2, false, BLOCK_CACHE_WRITETHROUGH, &img,
                                c->err, sizeof(c->err)),
                     0);
    assert_int_equal(block_pwrite(img, 3 << 20, a, N), 0);
    assert_int_equal(block_discard(img, 1 << 20, N), 0);
    snapshot_file(c->path, snap);
    s = open_img(c, snap, true);
    assert_range(s, 3 << 20, a, N, false);
    assert_range(s, 1 << 20, z, N, false);
    block_close(s);
    block_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_ops_mirror, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backing_cow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_sparse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backing_loop_and_depth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirty_corrupt_bits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_runtime_corruption, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_none_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_metadata, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
