// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The block layer's common part: format probing, backing-chain bookkeeping (depth limit and
 * loop detection by device and inode), request bounds checks, and error reporting.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/block_internal.h"

void block_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (err == NULL || err_len == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

void block_set_error(struct block_image *img, const char *fmt, ...)
{
    char line[BLOCK_ERR_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&img->err_lock);
    bool first = img->last_error[0] == '\0';
    if (snprintf(img->last_error, sizeof(img->last_error), "%s: %s", img->path, line) < 0) {
        img->last_error[0] = '\0';
    }
    pthread_mutex_unlock(&img->err_lock);
    /* One line per image: a corrupt image hit by every request must not flood the log. */
    if (first) {
        fprintf(stderr, "deskvm: block: %s: %s\n", img->path, line);
    }
}

void block_last_error(struct block_image *img, char *buf, size_t len)
{
    if (len == 0) {
        return;
    }
    pthread_mutex_lock(&img->err_lock);
    snprintf(buf, len, "%s", img->last_error);
    pthread_mutex_unlock(&img->err_lock);
}

void block_image_init(struct block_image *img, const struct block_driver *drv, const char *path,
                      uint64_t size, bool readonly)
{
    img->drv = drv;
    img->size = size;
    img->readonly = readonly;
    img->path = strdup(path);
    pthread_mutex_init(&img->err_lock, NULL);
    img->last_error[0] = '\0';
}

void block_image_fini(struct block_image *img)
{
    free(img->path);
    img->path = NULL;
    pthread_mutex_destroy(&img->err_lock);
}

int block_file_pread(int fd, uint64_t off, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            /* Past EOF: a sparse image's tail reads as zeroes. */
            memset(p, 0, len);
            return 0;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int block_file_pwrite(int fd, uint64_t off, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (n == 0) {
            return -EIO;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int block_open_file(const char *path, bool readonly, enum block_cache cache,
                    struct block_chain *chain, int *fd_out, char *err, size_t err_len)
{
    int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
    if (cache == BLOCK_CACHE_WRITETHROUGH) {
        flags |= O_DSYNC;
    } else if (cache == BLOCK_CACHE_NONE) {
        flags |= O_DIRECT;
    }
    /* O_NONBLOCK: a hostile image naming a FIFO as its backing file must not hang us in
     * open(); the type check below refuses it, and the flag is dropped for real files. */
    int fd = open(path, flags | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        block_err(err, err_len, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    (void)fcntl(fd, F_SETFL, flags & ~(O_CLOEXEC | O_RDWR | O_RDONLY | O_WRONLY));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        block_err(err, err_len, "%s: cannot stat: %s", path, strerror(e));
        return -e;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        close(fd);
        block_err(err, err_len, "%s: not a regular file or block device", path);
        return -EINVAL;
    }
    for (unsigned i = 0; i < chain->depth; i++) {
        if (chain->dev[i] == st.st_dev && chain->ino[i] == st.st_ino) {
            close(fd);
            block_err(err, err_len, "%s: backing chain loop: this file is already in the chain",
                      path);
            return -ELOOP;
        }
    }
    if (chain->depth >= BLOCK_MAX_CHAIN) {
        close(fd);
        block_err(err, err_len, "%s: backing chain longer than %d images", path, BLOCK_MAX_CHAIN);
        return -ELOOP;
    }
    chain->dev[chain->depth] = st.st_dev;
    chain->ino[chain->depth] = st.st_ino;
    chain->depth++;
    *fd_out = fd;
    return 0;
}

static int probe_format(const char *path, enum block_format *fmt, char *err, size_t err_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        block_err(err, err_len, "%s: cannot open: %s", path, strerror(e));
        return -e;
    }
    uint8_t magic[4] = {0};
    int r = block_file_pread(fd, 0, magic, sizeof(magic));
    close(fd);
    if (r < 0) {
        block_err(err, err_len, "%s: cannot read: %s", path, strerror(-r));
        return r;
    }
    *fmt = memcmp(magic, "QFI\xfb", 4) == 0 ? BLOCK_FORMAT_QCOW2 : BLOCK_FORMAT_RAW;
    return 0;
}

int block_open_chain(const char *path, enum block_format fmt, bool readonly, enum block_cache cache,
                     struct block_chain *chain, struct block_image **out, char *err, size_t err_len)
{
    if (chain->depth >= BLOCK_MAX_CHAIN) {
        block_err(err, err_len, "%s: backing chain longer than %d images", path, BLOCK_MAX_CHAIN);
        return -ELOOP;
    }
    if (fmt == BLOCK_FORMAT_AUTO) {
        int r = probe_format(path, &fmt, err, err_len);
        if (r < 0) {
            return r;
        }
    }
    if (fmt == BLOCK_FORMAT_QCOW2) {
        return block_open_qcow2(path, readonly, cache, chain, out, err, err_len);
    }
    return block_open_raw(path, readonly, cache, chain, out, err, err_len);
}

int block_open(const char *path, enum block_format fmt, bool readonly, enum block_cache cache,
               struct block_image **out, char *err, size_t err_len)
{
    struct block_chain chain = {0};
    block_err(err, err_len, "%s", "");
    return block_open_chain(path, fmt, readonly, cache, &chain, out, err, err_len);
}

void block_close(struct block_image *img)
{
    if (img != NULL) {
        img->drv->close(img);
    }
}

uint64_t block_size(const struct block_image *img)
{
    return img->size;
}

bool block_readonly(const struct block_image *img)
{
    return img->readonly;
}

const char *block_format_name(const struct block_image *img)
{
    return img->drv->name;
}

const char *block_path(const struct block_image *img)
{
    return img->path;
}

struct block_image *block_backing(struct block_image *img)
{
    return img->drv->backing ? img->drv->backing(img) : NULL;
}

int block_alloc_status(struct block_image *img, uint64_t off, uint64_t len, uint64_t *pnum)
{
    if (len == 0 || off >= img->size || len > img->size - off) {
        return -EINVAL;
    }
    if (!img->drv->alloc_status) {
        *pnum = len;
        return BLOCK_ALLOC_DATA;
    }
    return img->drv->alloc_status(img, off, len, pnum);
}

/* guest-controlled: off and len come from a virtio-blk request. */
static bool range_ok(const struct block_image *img, uint64_t off, uint64_t len)
{
    return off <= img->size && len <= img->size - off;
}

int block_pread(struct block_image *img, uint64_t off, void *buf, size_t len)
{
    if (!range_ok(img, off, len)) { /* guest-controlled */
        return -EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    return img->drv->pread(img, off, buf, len);
}

int block_pwrite(struct block_image *img, uint64_t off, const void *buf, size_t len)
{
    if (img->readonly) {
        return -EROFS;
    }
    if (!range_ok(img, off, len)) { /* guest-controlled */
        return -EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    return img->drv->pwrite(img, off, buf, len);
}

int block_flush(struct block_image *img)
{
    if (img->readonly) {
        return 0;
    }
    return img->drv->flush(img);
}

int block_discard(struct block_image *img, uint64_t off, uint64_t len)
{
    if (img->readonly) {
        return -EROFS;
    }
    if (!range_ok(img, off, len)) { /* guest-controlled */
        return -EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    return img->drv->discard(img, off, len);
}

int block_write_zeroes(struct block_image *img, uint64_t off, uint64_t len)
{
    if (img->readonly) {
        return -EROFS;
    }
    if (!range_ok(img, off, len)) { /* guest-controlled */
        return -EINVAL;
    }
    if (len == 0) {
        return 0;
    }
    return img->drv->write_zeroes(img, off, len);
}

int block_map(struct block_image *img, uint64_t off, uint64_t len, bool write,
              struct block_extent *ext)
{
    if (len == 0 || !range_ok(img, off, len)) { /* guest-controlled */
        return 0;
    }
    if (write && img->readonly) {
        return 0;
    }
    return img->drv->map(img, off, len, write, ext);
}

int block_sync_fd(struct block_image *img)
{
    return img->readonly ? -1 : img->drv->sync_fd(img);
}
