// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Creates empty qcow2 v3 images (QEMU docs/interop/qcow2.txt): header with the backing-format
 * and feature-name extensions, the backing file name, one refcount table, the refcount blocks
 * that cover the metadata, and a zeroed L1 table. 16-bit refcounts, deflate compression type,
 * lazy refcounts off: what `qemu-img create -f qcow2` makes by default.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/block_internal.h"
#include "io/qcow2_internal.h"

static void put32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

static const struct {
    uint8_t type; /* 0 incompatible, 1 compatible, 2 autoclear */
    uint8_t bit;
    const char *name;
} qcow2_feature_names[] = {
    {0, 0, "dirty bit"},        {0, 1, "corrupt bit"},         {0, 2, "external data file"},
    {0, 3, "compression type"}, {0, 4, "extended L2 entries"}, {1, 0, "lazy refcounts"},
    {2, 0, "bitmaps"},          {2, 1, "raw external data"},
};

/*
 * Writes the extensions at hdr + pos; returns the new position or 0 if the cluster is full.
 * The feature name table is optional (it only improves error messages) and is left out when
 * `names` is false.
 */
static size_t put_extensions(uint8_t *hdr, size_t pos, size_t cs, const char *backing_fmt,
                             bool names)
{
    size_t nfeat = names ? sizeof(qcow2_feature_names) / sizeof(qcow2_feature_names[0]) : 0;
    size_t need = (backing_fmt ? 8 + 8 : 0) + 8 + nfeat * 48 + 8;
    if (pos + need > cs) {
        return 0;
    }
    if (backing_fmt != NULL) {
        size_t len = strlen(backing_fmt);
        put32(hdr + pos, QCOW2_EXT_BACKING_FORMAT);
        put32(hdr + pos + 4, (uint32_t)len);
        memcpy(hdr + pos + 8, backing_fmt, len);
        pos += 8 + ((len + 7) & ~(size_t)7);
    }
    if (nfeat > 0) {
        put32(hdr + pos, QCOW2_EXT_FEATURE_TABLE);
        put32(hdr + pos + 4, (uint32_t)(nfeat * 48));
        pos += 8;
    }
    for (size_t i = 0; i < nfeat; i++) {
        hdr[pos] = qcow2_feature_names[i].type;
        hdr[pos + 1] = qcow2_feature_names[i].bit;
        memcpy(hdr + pos + 2, qcow2_feature_names[i].name, strlen(qcow2_feature_names[i].name));
        pos += 48;
    }
    put32(hdr + pos, QCOW2_EXT_END);
    put32(hdr + pos + 4, 0);
    return pos + 8;
}

/* Opens the backing file the way the new image will (relative to its directory). */
static int inspect_backing(const char *path, const char *backing, const char **fmt, uint64_t *size,
                           char *err, size_t err_len)
{
    char full[PATH_MAX];
    if (backing[0] == '/') {
        snprintf(full, sizeof(full), "%s", backing);
    } else {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", path);
        int n = snprintf(full, sizeof(full), "%s/%s", dirname(dir), backing);
        if (n < 0 || (size_t)n >= sizeof(full)) {
            block_err(err, err_len, "%s: backing file path too long", path);
            return -ENAMETOOLONG;
        }
    }
    enum block_format bf = BLOCK_FORMAT_AUTO;
    if (*fmt != NULL) {
        if (strcmp(*fmt, "raw") == 0) {
            bf = BLOCK_FORMAT_RAW;
        } else if (strcmp(*fmt, "qcow2") == 0) {
            bf = BLOCK_FORMAT_QCOW2;
        } else {
            block_err(err, err_len, "%s: backing format '%s' is not supported (raw, qcow2)", path,
                      *fmt);
            return -ENOTSUP;
        }
    }
    struct block_image *b;
    char berr[BLOCK_ERR_LEN];
    int r = block_open(full, bf, true, BLOCK_CACHE_WRITEBACK, &b, berr, sizeof(berr));
    if (r < 0) {
        block_err(err, err_len, "%s: backing file: %s", path, berr);
        return r;
    }
    *fmt = strcmp(block_format_name(b), "qcow2") == 0 ? "qcow2" : "raw";
    *size = block_size(b);
    block_close(b);
    return 0;
}

int qcow2_create(const char *path, const struct qcow2_create_opts *opts, char *err, size_t err_len)
{
    unsigned cb = opts->cluster_bits ? opts->cluster_bits : 16;
    if (cb < QCOW2_MIN_CLUSTER_BITS || cb > QCOW2_MAX_CLUSTER_BITS) {
        block_err(err, err_len, "%s: cluster_bits %u out of range %d..%d", path, cb,
                  QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
        return -EINVAL;
    }
    uint64_t size = opts->size;
    const char *bfmt = opts->backing_format;
    if (opts->backing_file != NULL) {
        if (strlen(opts->backing_file) == 0 ||
            strlen(opts->backing_file) > QCOW2_MAX_BACKING_NAME) {
            block_err(err, err_len, "%s: backing file name empty or longer than %d bytes", path,
                      QCOW2_MAX_BACKING_NAME);
            return -EINVAL;
        }
        /* Like qemu-img, open the backing file only when something must be learnt from it. */
        if (size == 0 || bfmt == NULL) {
            uint64_t bsize;
            int r = inspect_backing(path, opts->backing_file, &bfmt, &bsize, err, err_len);
            if (r < 0) {
                return r;
            }
            if (size == 0) {
                size = bsize;
            }
        } else if (strcmp(bfmt, "raw") != 0 && strcmp(bfmt, "qcow2") != 0) {
            block_err(err, err_len, "%s: backing format '%s' is not supported (raw, qcow2)", path,
                      bfmt);
            return -ENOTSUP;
        }
    }
    if (size > QCOW2_MAX_SIZE) {
        block_err(err, err_len, "%s: size %llu exceeds the limit of 2^56 bytes", path,
                  (unsigned long long)size);
        return -EFBIG;
    }
    uint64_t cs = 1ull << cb;
    uint64_t l1_size = (size + (cs << (cb - 3)) - 1) / (cs << (cb - 3));
    if (l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        block_err(err, err_len,
                  "%s: size %llu needs an L1 table over %u bytes; use larger "
                  "clusters",
                  path, (unsigned long long)size, QCOW2_MAX_L1_BYTES);
        return -EFBIG;
    }
    uint64_t l1_clusters = (l1_size * 8 + cs - 1) / cs;
    if (l1_clusters == 0) {
        l1_clusters = 1;
    }
    uint64_t rb_entries = cs * 8 / 16;
    uint64_t rt_clusters = 1, rb_count = 1;
    for (;;) {
        uint64_t total = 1 + rt_clusters + rb_count + l1_clusters;
        uint64_t rb = (total + rb_entries - 1) / rb_entries;
        uint64_t rt = (rb * 8 + cs - 1) / cs;
        if (rb == rb_count && rt == rt_clusters) {
            break;
        }
        rb_count = rb;
        rt_clusters = rt;
    }
    uint64_t rt_off = cs;
    uint64_t rb_off = rt_off + rt_clusters * cs;
    uint64_t l1_off = rb_off + rb_count * cs;
    uint64_t total = 1 + rt_clusters + rb_count + l1_clusters;

    uint8_t *hdr = calloc(1, cs);
    uint8_t *buf = calloc(1, cs);
    if (hdr == NULL || buf == NULL) {
        free(hdr);
        free(buf);
        block_err(err, err_len, "%s: out of memory", path);
        return -ENOMEM;
    }
    put32(hdr + QCOW2_H_MAGIC, QCOW2_MAGIC);
    put32(hdr + QCOW2_H_VERSION, 3);
    put32(hdr + QCOW2_H_CLUSTER_BITS, cb);
    put64(hdr + QCOW2_H_SIZE, size);
    put32(hdr + QCOW2_H_L1_SIZE, (uint32_t)l1_size);
    put64(hdr + QCOW2_H_L1_OFFSET, l1_off);
    put64(hdr + QCOW2_H_RT_OFFSET, rt_off);
    put32(hdr + QCOW2_H_RT_CLUSTERS, (uint32_t)rt_clusters);
    put32(hdr + QCOW2_H_REFCOUNT_ORDER, 4);
    put32(hdr + QCOW2_H_HEADER_LENGTH, QCOW2_V3_HEADER_LEN);
    size_t blen = opts->backing_file != NULL ? strlen(opts->backing_file) : 0;
    const char *ext_fmt = opts->backing_file != NULL ? bfmt : NULL;
    size_t pos = put_extensions(hdr, QCOW2_V3_HEADER_LEN, cs, ext_fmt, true);
    if (pos == 0 || pos + blen > cs) {
        /* Small clusters: make room for the backing name by dropping the name table. */
        memset(hdr + QCOW2_V3_HEADER_LEN, 0, cs - QCOW2_V3_HEADER_LEN);
        pos = put_extensions(hdr, QCOW2_V3_HEADER_LEN, cs, ext_fmt, false);
    }
    int ret = 0;
    if (pos != 0 && blen > 0) {
        if (pos + blen > cs) {
            pos = 0;
        } else {
            memcpy(hdr + pos, opts->backing_file, blen);
            put64(hdr + QCOW2_H_BACKING_OFFSET, pos);
            put32(hdr + QCOW2_H_BACKING_SIZE, (uint32_t)blen);
        }
    }
    if (pos == 0) {
        block_err(err, err_len,
                  "%s: header and backing file name do not fit in one %llu-byte "
                  "cluster",
                  path, (unsigned long long)cs);
        free(hdr);
        free(buf);
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        ret = -errno;
        block_err(err, err_len, "%s: cannot create: %s", path, strerror(-ret));
        free(hdr);
        free(buf);
        return ret;
    }
    ret = block_file_pwrite(fd, 0, hdr, cs);
    /* Refcount table: entry i points at refcount block i. */
    for (uint64_t c = 0; c < rt_clusters && ret == 0; c++) {
        memset(buf, 0, cs);
        for (uint64_t i = 0; i < cs / 8; i++) {
            uint64_t b = c * (cs / 8) + i;
            if (b < rb_count) {
                put64(buf + 8 * i, rb_off + b * cs);
            }
        }
        ret = block_file_pwrite(fd, rt_off + c * cs, buf, cs);
    }
    /* Refcount blocks: every metadata cluster [0, total) has refcount 1. */
    for (uint64_t b = 0; b < rb_count && ret == 0; b++) {
        memset(buf, 0, cs);
        for (uint64_t i = 0; i < rb_entries; i++) {
            if (b * rb_entries + i < total) {
                buf[2 * i + 1] = 1;
            }
        }
        ret = block_file_pwrite(fd, rb_off + b * cs, buf, cs);
    }
    /* The L1 table is zeroes: extending the file provides them. */
    if (ret == 0 && ftruncate(fd, (off_t)(l1_off + l1_clusters * cs)) < 0) {
        ret = -errno;
    }
    if (ret == 0 && fsync(fd) < 0) {
        ret = -errno;
    }
    if (ret < 0) {
        block_err(err, err_len, "%s: cannot write: %s", path, strerror(-ret));
        unlink(path);
    }
    close(fd);
    free(hdr);
    free(buf);
    return ret;
}
