// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Streaming a backing file into its overlay (block.h, block_stream_backing): the snapshot
 * tree's merge when a snapshot is deleted (docs/snapshots.md, "Delete"). The result is a new
 * file, so the old chain stays intact until the caller renames it into place.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/block.h"

#define MERGE_CHUNK (1u << 20)

/* Copy [off, off + n) as src reads it into dst. */
static int copy_range(struct block_image *src, struct block_image *dst, uint64_t off, uint64_t n,
                      uint8_t *buf)
{
    while (n > 0) {
        size_t k = n < MERGE_CHUNK ? (size_t)n : MERGE_CHUNK;
        int r = block_pread(src, off, buf, k);
        if (r == 0) {
            r = block_pwrite(dst, off, buf, k);
        }
        if (r < 0) {
            return r;
        }
        off += k;
        n -= k;
    }
    return 0;
}

/*
 * One run of bytes from off: top's own clusters win; where top has none, the middle image's
 * own clusters; where neither has any, nothing is written (out's backing is middle's).
 */
static int merge_run(struct block_image *top, struct block_image *mid, struct block_image *out,
                     uint64_t off, uint64_t len, uint8_t *buf, uint64_t *done)
{
    uint64_t n;
    int k = block_alloc_status(top, off, len, &n);
    if (k < 0) {
        return k;
    }
    struct block_image *from = top;
    if (k == BLOCK_ALLOC_NONE) {
        from = mid;
        if (off < block_size(mid) && n > block_size(mid) - off) {
            n = block_size(mid) - off; /* a backing file shorter than its overlay */
        }
        k = off < block_size(mid) ? block_alloc_status(mid, off, n, &n) : BLOCK_ALLOC_ZERO;
        if (k < 0) {
            return k;
        }
        if (k == BLOCK_ALLOC_NONE) {
            *done = n;
            return 0;
        }
    }
    *done = n;
    if (k == BLOCK_ALLOC_ZERO) {
        return block_backing(out) ? block_write_zeroes(out, off, n) : 0;
    }
    return copy_range(from, out, off, n, buf);
}

int block_stream_backing(const char *top_path, const char *out_path, char *err, size_t err_len)
{
    struct block_image *top = NULL, *out = NULL;
    uint8_t *buf = NULL;
    char berr[BLOCK_ERR_LEN];
    bool created = false;
    int r = block_open(top_path, BLOCK_FORMAT_QCOW2, true, BLOCK_CACHE_WRITEBACK, &top, berr,
                       sizeof(berr));
    if (r < 0) {
        snprintf(err, err_len, "%s", berr);
        return r;
    }
    struct block_image *mid = block_backing(top);
    if (mid == NULL) {
        snprintf(err, err_len, "%s has no backing file to merge", top_path);
        r = -EINVAL;
        goto out;
    }
    struct block_image *base = block_backing(mid);
    struct qcow2_create_opts o = {
        .size = block_size(top),
        .backing_file = base ? block_path(base) : NULL,
        .backing_format = base ? block_format_name(base) : NULL,
    };
    if ((r = qcow2_create(out_path, &o, berr, sizeof(berr))) < 0) {
        snprintf(err, err_len, "%s", berr);
        goto out;
    }
    created = true;
    r = block_open(out_path, BLOCK_FORMAT_QCOW2, false, BLOCK_CACHE_WRITEBACK, &out, berr,
                   sizeof(berr));
    if (r < 0) {
        snprintf(err, err_len, "%s", berr);
        goto out;
    }
    if ((buf = malloc(MERGE_CHUNK)) == NULL) {
        r = -ENOMEM;
        snprintf(err, err_len, "out of memory");
        goto out;
    }
    uint64_t size = block_size(top);
    for (uint64_t off = 0, n = 0; off < size && r == 0; off += n) {
        r = merge_run(top, mid, out, off, size - off, buf, &n);
    }
    if (r == 0) {
        r = block_flush(out);
    }
    if (r < 0) {
        char last[BLOCK_ERR_LEN] = "";
        if (out) {
            block_last_error(out, last, sizeof(last));
        }
        snprintf(err, err_len, "merging %s into %s: %s%s%s", block_path(mid), top_path,
                 strerror(-r), last[0] ? ": " : "", last);
    }
out:
    free(buf);
    block_close(out);
    block_close(top);
    if (r < 0 && created) {
        unlink(out_path);
    }
    return r;
}
