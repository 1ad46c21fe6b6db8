// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The raw block driver: the disk is the file, byte for byte. With cache=none the file is open
 * O_DIRECT and requests that are not aligned to the direct-I/O block go through an aligned
 * bounce buffer (read-modify-write for writes, serialized by a lock so two unaligned writes
 * sharing a block cannot lose each other's bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/block_internal.h"

#define RAW_DIRECT_ALIGN BLOCK_DIRECT_ALIGN

struct block_raw {
    struct block_image base;
    int fd;
    bool direct;
    pthread_mutex_t rmw_lock;
};

static struct block_raw *to_raw(struct block_image *img)
{
    return (struct block_raw *)img;
}

static bool aligned(uint64_t off, const void *buf, size_t len)
{
    return off % RAW_DIRECT_ALIGN == 0 && len % RAW_DIRECT_ALIGN == 0 &&
           (uintptr_t)buf % RAW_DIRECT_ALIGN == 0;
}

/* One bounced transfer of [off, off + len) through an aligned buffer. */
static int raw_bounce(struct block_raw *r, uint64_t off, void *rbuf, const void *wbuf, size_t len)
{
    uint64_t start = off & ~(uint64_t)(RAW_DIRECT_ALIGN - 1);
    uint64_t end = (off + len + RAW_DIRECT_ALIGN - 1) & ~(uint64_t)(RAW_DIRECT_ALIGN - 1);
    size_t blen = (size_t)(end - start);
    void *b = NULL;
    if (posix_memalign(&b, RAW_DIRECT_ALIGN, blen) != 0) {
        return -ENOMEM;
    }
    pthread_mutex_lock(&r->rmw_lock);
    int ret = block_file_pread(r->fd, start, b, blen);
    if (ret == 0) {
        if (rbuf != NULL) {
            memcpy(rbuf, (uint8_t *)b + (off - start), len);
        } else {
            memcpy((uint8_t *)b + (off - start), wbuf, len);
            /* Never extend the file past the disk size with the bounce's padding. */
            uint64_t wend = end > r->base.size ? r->base.size : end;
            ret = block_file_pwrite(r->fd, start, b, (size_t)(wend - start));
        }
    }
    pthread_mutex_unlock(&r->rmw_lock);
    free(b);
    return ret;
}

static int raw_pread(struct block_image *img, uint64_t off, void *buf, size_t len)
{
    struct block_raw *r = to_raw(img);
    if (r->direct && !aligned(off, buf, len)) {
        return raw_bounce(r, off, buf, NULL, len);
    }
    return block_file_pread(r->fd, off, buf, len);
}

static int raw_pwrite(struct block_image *img, uint64_t off, const void *buf, size_t len)
{
    struct block_raw *r = to_raw(img);
    if (r->direct && !aligned(off, buf, len)) {
        return raw_bounce(r, off, NULL, buf, len);
    }
    return block_file_pwrite(r->fd, off, buf, len);
}

static int raw_flush(struct block_image *img)
{
    return fdatasync(to_raw(img)->fd) < 0 ? -errno : 0;
}

static int raw_write_zeroes(struct block_image *img, uint64_t off, uint64_t len)
{
    struct block_raw *r = to_raw(img);
    /* Cheapest first: let the file system zero the range; fall back to writing zeroes. */
    if (fallocate(r->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0) {
        return 0;
    }
    if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0) {
        return 0;
    }
    size_t chunk = 1 << 20;
    void *z = NULL;
    if (posix_memalign(&z, RAW_DIRECT_ALIGN, chunk) != 0) {
        return -ENOMEM;
    }
    memset(z, 0, chunk);
    int ret = 0;
    while (len > 0 && ret == 0) {
        size_t n = len < chunk ? (size_t)len : chunk;
        ret = raw_pwrite(img, off, z, n);
        off += n;
        len -= n;
    }
    free(z);
    return ret;
}

static int raw_discard(struct block_image *img, uint64_t off, uint64_t len)
{
    /* Discarded ranges read back as zeroes (see block.h), so discard is write-zeroes that
     * prefers releasing the space. */
    struct block_raw *r = to_raw(img);
    if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0) {
        return 0;
    }
    return raw_write_zeroes(img, off, len);
}

static int raw_map(struct block_image *img, uint64_t off, uint64_t len, bool write,
                   struct block_extent *ext)
{
    struct block_raw *r = to_raw(img);
    *ext = (struct block_extent){
        .fd = r->fd, .host_off = off, .len = len, .direct = r->direct, .identity = true};
    return 1;
}

static int raw_sync_fd(struct block_image *img)
{
    return to_raw(img)->fd;
}

static void raw_close(struct block_image *img)
{
    struct block_raw *r = to_raw(img);
    close(r->fd);
    pthread_mutex_destroy(&r->rmw_lock);
    block_image_fini(img);
    free(r);
}

static const struct block_driver raw_driver = {
    .name = "raw",
    .pread = raw_pread,
    .pwrite = raw_pwrite,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .close = raw_close,
    .map = raw_map,
    .sync_fd = raw_sync_fd,
};

int block_open_raw(const char *path, bool readonly, enum block_cache cache,
                   struct block_chain *chain, struct block_image **out, char *err, size_t err_len)
{
    int fd;
    int ret = block_open_file(path, readonly, cache, chain, &fd, err, err_len);
    if (ret < 0) {
        return ret;
    }
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
        int e = errno;
        close(fd);
        block_err(err, err_len, "%s: cannot find the size: %s", path, strerror(e));
        return -e;
    }
    struct block_raw *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        close(fd);
        block_err(err, err_len, "%s: out of memory", path);
        return -ENOMEM;
    }
    block_image_init(&r->base, &raw_driver, path, (uint64_t)end, readonly);
    r->fd = fd;
    r->direct = cache == BLOCK_CACHE_NONE;
    pthread_mutex_init(&r->rmw_lock, NULL);
    *out = &r->base;
    return 0;
}

int block_create_raw(const char *path, uint64_t size, char *err, size_t err_len)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        block_err(err, err_len, "%s: cannot create: %s", path, strerror(e));
        return -e;
    }
    int ret = 0;
    if (ftruncate(fd, (off_t)size) < 0) {
        ret = -errno;
        block_err(err, err_len, "%s: cannot set the size: %s", path, strerror(-ret));
    }
    close(fd);
    return ret;
}
