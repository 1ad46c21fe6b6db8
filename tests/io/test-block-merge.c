// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for io/block_merge.c (block_stream_backing) and block_alloc_status: a chain
 * base <- mid <- top with data, zero and discarded clusters at every level and different
 * cluster sizes is merged into a new image that must read exactly as top did, be backed by
 * base (or by nothing), and hold no cluster that neither top nor mid had.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/block.h"

#define SIZE (4u << 20)

struct ctx {
    char dir[64];
    char base[128], mid[128], top[128], out[128];
    char err[BLOCK_ERR_LEN];
};

static int setup(void **state)
{
    struct ctx *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return -1;
    }
    snprintf(c->dir, sizeof(c->dir), "/tmp/test-block-merge-XXXXXX");
    assert_non_null(mkdtemp(c->dir));
    snprintf(c->base, sizeof(c->base), "%s/base.qcow2", c->dir);
    snprintf(c->mid, sizeof(c->mid), "%s/mid.qcow2", c->dir);
    snprintf(c->top, sizeof(c->top), "%s/top.qcow2", c->dir);
    snprintf(c->out, sizeof(c->out), "%s/top.qcow2.merge", c->dir);
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

static struct block_image *create_open(struct ctx *c, const char *path, unsigned cb,
                                       const char *backing)
{
    struct qcow2_create_opts o = {.size = backing ? 0 : SIZE,
                                  .cluster_bits = cb,
                                  .backing_file = backing,
                                  .backing_format = backing ? "qcow2" : NULL};
    assert_int_equal(qcow2_create(path, &o, c->err, sizeof(c->err)), 0);
    struct block_image *img;
    assert_int_equal(block_open(path, BLOCK_FORMAT_QCOW2, false, BLOCK_CACHE_WRITEBACK, &img,
                                c->err, sizeof(c->err)),
                     0);
    return img;
}

/* Random writes, zeroes and discards of random lengths, each byte value tagged by level. */
static void scribble(struct block_image *img, unsigned seed, unsigned ops, uint8_t tag)
{
    static uint8_t buf[256 << 10];
    srand(seed);
    for (unsigned i = 0; i < ops; i++) {
        uint64_t off = ((uint64_t)rand() % SIZE) & ~511ull;
        uint64_t len = (1 + (uint64_t)rand() % (sizeof(buf) / 512)) * 512;
        if (len > SIZE - off) {
            len = SIZE - off;
        }
        int what = rand() % 8;
        if (what == 0) {
            assert_int_equal(block_write_zeroes(img, off, len), 0);
        } else if (what == 1) {
            assert_int_equal(block_discard(img, off, len), 0);
        } else {
            for (uint64_t k = 0; k < len; k++) {
                buf[k] = (uint8_t)(tag ^ (k * 7) ^ (off >> 9));
            }
            assert_int_equal(block_pwrite(img, off, buf, len), 0);
        }
    }
    assert_int_equal(block_flush(img), 0);
}

static uint8_t *read_all(struct ctx *c, const char *path)
{
    struct block_image *img;
    uint8_t *data = malloc(SIZE);
    assert_non_null(data);
    assert_int_equal(block_open(path, BLOCK_FORMAT_QCOW2, true, BLOCK_CACHE_WRITEBACK, &img, c->err,
                                sizeof(c->err)),
                     0);
    assert_int_equal(block_pread(img, 0, data, SIZE), 0);
    block_close(img);
    return data;
}

/* Bytes in img's own clusters (data or zero), walking block_alloc_status over the disk. */
static uint64_t own_bytes(struct block_image *img, uint64_t *runs)
{
    uint64_t total = 0, n;
    *runs = 0;
    for (uint64_t off = 0; off < SIZE; off += n) {
        int k = block_alloc_status(img, off, SIZE - off, &n);
        assert_true(k >= 0);
        assert_true(n > 0 && n <= SIZE - off);
        if (k != BLOCK_ALLOC_NONE) {
            total += n;
        }
        (*runs)++;
    }
    return total;
}

static void check_merge(struct ctx *c, bool with_base)
{
    struct block_image *b = NULL;
    if (with_base) {
        b = create_open(c, c->base, 16, NULL);
        scribble(b, 1, 60, 0x11);
        block_close(b);
    }
    struct qcow2_create_opts mo = {.size = with_base ? 0 : SIZE,
                                   .cluster_bits = 12,
                                   .backing_file = with_base ? c->base : NULL,
                                   .backing_format = with_base ? "qcow2" : NULL};
    assert_int_equal(qcow2_create(c->mid, &mo, c->err, sizeof(c->err)), 0);
    struct block_image *m;
    assert_int_equal(block_open(c->mid, BLOCK_FORMAT_QCOW2, false, BLOCK_CACHE_WRITEBACK, &m,
                                c->err, sizeof(c->err)),
                     0);
    scribble(m, 2, 60, 0x22);
    block_close(m);
    struct block_image *t = create_open(c, c->top, 16, c->mid);
    scribble(t, 3, 40, 0x33);
    uint64_t runs, top_own = own_bytes(t, &runs);
    assert_true(top_own > 0 && top_own < SIZE && runs > 2);
    block_close(t);
    uint8_t *before = read_all(c, c->top);

    assert_int_equal(block_stream_backing(c->top, c->out, c->err, sizeof(c->err)), 0);
    uint8_t *after = read_all(c, c->out);
    assert_memory_equal(before, after, SIZE);

    struct block_image *o;
    assert_int_equal(block_open(c->out, BLOCK_FORMAT_QCOW2, true, BLOCK_CACHE_WRITEBACK, &o, c->err,
                                sizeof(c->err)),
                     0);
    struct block_image *ob = block_backing(o);
    if (with_base) {
        assert_non_null(ob);
        assert_string_equal(block_path(ob), c->base);
    } else {
        assert_null(ob);
    }
    /* Every own cluster of out covers one top or mid had: nothing past what they held. */
    assert_int_equal(block_open(c->mid, BLOCK_FORMAT_QCOW2, true, BLOCK_CACHE_WRITEBACK, &m, c->err,
                                sizeof(c->err)),
                     0);
    assert_int_equal(block_open(c->top, BLOCK_FORMAT_QCOW2, true, BLOCK_CACHE_WRITEBACK, &t, c->err,
                                sizeof(c->err)),
                     0);
    uint64_t n;
    for (uint64_t off = 0; off < SIZE; off += 65536) { /* out's cluster size */
        if (block_alloc_status(o, off, 65536, &n) == BLOCK_ALLOC_NONE) {
            continue;
        }
        bool had = false;
        for (uint64_t k = off; k < off + 65536; k += 4096) {
            had |= block_alloc_status(t, k, 4096, &n) != BLOCK_ALLOC_NONE ||
                   block_alloc_status(m, k, 4096, &n) != BLOCK_ALLOC_NONE;
        }
        assert_true(had);
    }
    block_close(t);
    block_close(m);
    block_close(o);
    free(before);
    free(after);
}

static void test_merge_with_base(void **state)
{
    check_merge(*state, true);
}

static void test_merge_onto_nothing(void **state)
{
    check_merge(*state, false);
}

static void test_no_backing_refused(void **state)
{
    struct ctx *c = *state;
    struct block_image *t = create_open(c, c->top, 16, NULL);
    block_close(t);
    assert_int_equal(block_stream_backing(c->top, c->out, c->err, sizeof(c->err)), -EINVAL);
    assert_non_null(strstr(c->err, "no backing file"));
    assert_int_equal(access(c->out, F_OK), -1);
}

static void test_alloc_status_bounds(void **state)
{
    struct ctx *c = *state;
    struct block_image *t = create_open(c, c->top, 16, NULL);
    uint64_t n = 0;
    assert_int_equal(block_alloc_status(t, SIZE, 1, &n), -EINVAL);
    assert_int_equal(block_alloc_status(t, 0, SIZE + 1, &n), -EINVAL);
    assert_int_equal(block_alloc_status(t, 0, 0, &n), -EINVAL);
    assert_int_equal(block_alloc_status(t, 0, SIZE, &n), BLOCK_ALLOC_NONE);
    assert_int_equal(n, SIZE);
    uint8_t x = 1;
    assert_int_equal(block_pwrite(t, 70000, &x, 1), 0);
    assert_int_equal(block_alloc_status(t, 0, SIZE, &n), BLOCK_ALLOC_NONE);
    assert_int_equal(n, 65536);
    assert_int_equal(block_alloc_status(t, 65536, SIZE - 65536, &n), BLOCK_ALLOC_DATA);
    assert_int_equal(n, 65536);
    block_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_merge_with_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_onto_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_backing_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alloc_status_bounds, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
