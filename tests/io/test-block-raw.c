// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for io/block_raw.c and the common layer in io/block.c: reads and writes, bounds,
 * read-only images, discard and write-zeroes reading back zero, format probing, and
 * cache=none with unaligned requests through the bounce buffer.
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
    /* Not /tmp: it may be tmpfs, which has no O_DIRECT. */
    snprintf(c->dir, sizeof(c->dir), "/var/tmp/test-raw-XXXXXX");
    if (mkdtemp(c->dir) == NULL) {
        snprintf(c->dir, sizeof(c->dir), "/tmp/test-raw-XXXXXX");
        assert_non_null(mkdtemp(c->dir));
    }
    snprintf(c->path, sizeof(c->path), "%s/disk.raw", c->dir);
    assert_int_equal(block_create_raw(c->path, 1 << 20, c->err, sizeof(c->err)), 0);
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    struct ctx *c = *state;
    unlink(c->path);
    rmdir(c->dir);
    free(c);
    return 0;
}

static struct block_image *open_raw(struct ctx *c, bool ro, enum block_cache cache)
{
    struct block_image *img = NULL;
    int r = block_open(c->path, BLOCK_FORMAT_AUTO, ro, cache, &img, c->err, sizeof(c->err));
    if (r != 0) {
        fail_msg("open: %s", c->err);
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

static void test_rw_and_bounds(void **state)
{
    struct ctx *c = *state;
    struct block_image *img = open_raw(c, false, BLOCK_CACHE_WRITEBACK);
    assert_string_equal(block_format_name(img), "raw");
    assert_int_equal(block_size(img), 1 << 20);
    static uint8_t w[10000], r[10000];
    fill(w, sizeof(w), 1);
    assert_int_equal(block_pwrite(img, 12345, w, sizeof(w)), 0);
    assert_int_equal(block_flush(img), 0);
    assert_int_equal(block_pread(img, 12345, r, sizeof(r)), 0);
    assert_memory_equal(r, w, sizeof(r));
    assert_int_equal(block_pread(img, (1 << 20) - 1, r, 2), -EINVAL);
    assert_int_equal(block_pwrite(img, UINT64_MAX, w, 2), -EINVAL);
    assert_int_equal(block_pread(img, 1 << 20, r, 0), 0);
    /* Writes never grow the disk. */
    assert_int_equal(block_pwrite(img, (1 << 20) - 10, w, 11), -EINVAL);
    block_close(img);

    img = open_raw(c, true, BLOCK_CACHE_WRITEBACK);
    assert_true(block_readonly(img));
    assert_int_equal(block_pwrite(img, 0, w, 1), -EROFS);
    assert_int_equal(block_discard(img, 0, 4096), -EROFS);
    assert_int_equal(block_write_zeroes(img, 0, 4096), -EROFS);
    assert_int_equal(block_pread(img, 12345, r, sizeof(r)), 0);
    assert_memory_equal(r, w, sizeof(r));
    block_close(img);
}

static void test_zero_and_discard(void **state)
{
    struct ctx *c = *state;
    struct block_image *img = open_raw(c, false, BLOCK_CACHE_WRITEBACK);
    uint8_t *w = malloc(1 << 20), *r = malloc(1 << 20);
    fill(w, 1 << 20, 2);
    assert_int_equal(block_pwrite(img, 0, w, 1 << 20), 0);
    assert_int_equal(block_write_zeroes(img, 1000, 5000), 0);
    memset(w + 1000, 0, 5000);
    assert_int_equal(block_discard(img, 65536, 131072), 0);
    memset(w + 65536, 0, 131072);
    assert_int_equal(block_pread(img, 0, r, 1 << 20), 0);
    assert_memory_equal(r, w, 1 << 20);
    block_close(img);
    free(w);
    free(r);
}

static void test_open_errors(void **state)
{
    struct ctx *c = *state;
    struct block_image *img;
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/nope.raw", c->dir);
    assert_int_equal(block_open(missing, BLOCK_FORMAT_AUTO, true, BLOCK_CACHE_WRITEBACK, &img,
                                c->err, sizeof(c->err)),
                     -ENOENT);
    assert_non_null(strstr(c->err, "nope.raw"));
    assert_null(strchr(c->err, '\n'));
    assert_int_equal(block_open(c->dir, BLOCK_FORMAT_RAW, true, BLOCK_CACHE_WRITEBACK, &img, c->err,
                                sizeof(c->err)),
                     -EINVAL);
    /* err may be NULL. */
    assert_int_equal(
        block_open(missing, BLOCK_FORMAT_RAW, true, BLOCK_CACHE_WRITEBACK, &img, NULL, 0), -ENOENT);
    assert_int_equal(block_create_raw(c->path, 4096, c->err, sizeof(c->err)), -EEXIST);
}

/* cache=none: O_DIRECT, unaligned requests bounce through an aligned buffer. */
static void test_cache_none_unaligned(void **state)
{
    struct ctx *c = *state;
    struct block_image *img = NULL;
    int r = block_open(c->path, BLOCK_FORMAT_RAW, false, BLOCK_CACHE_NONE, &img, c->err,
                       sizeof(c->err));
    if (r == -EINVAL) {
        skip(); /* file system without O_DIRECT */
    }
    assert_int_equal(r, 0);
    static uint8_t w[9000], rd[9000];
    fill(w, sizeof(w), 3);
    assert_int_equal(block_pwrite(img, 4097, w, sizeof(w)), 0);
    assert_int_equal(block_pread(img, 4097, rd, sizeof(rd)), 0);
    assert_memory_equal(rd, w, sizeof(rd));
    /* Neighbours of the bounced range are intact. */
    assert_int_equal(block_pread(img, 4096, rd, 1), 0);
    assert_int_equal(rd[0], 0);
    assert_int_equal(block_pwrite(img, (1 << 20) - 3, w, 3), 0);
    assert_int_equal(block_flush(img), 0);
    block_close(img);
    img = open_raw(c, true, BLOCK_CACHE_WRITEBACK);
    assert_int_equal(block_size(img), 1 << 20); /* the bounce did not grow the file */
    assert_int_equal(block_pread(img, 4097, rd, sizeof(rd)), 0);
    assert_memory_equal(rd, w, sizeof(rd));
    block_close(img);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rw_and_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_and_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_none_unaligned, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
