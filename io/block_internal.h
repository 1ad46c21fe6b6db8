/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What block drivers share: the driver table every image starts with, the open context that
 * carries chain depth and loop detection through a backing chain, and error helpers.
 */
#ifndef DESKVM_IO_BLOCK_INTERNAL_H
#define DESKVM_IO_BLOCK_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <sys/types.h>

#include "io/block.h"

struct block_driver {
    const char *name;
    int (*pread)(struct block_image *img, uint64_t off, void *buf, size_t len);
    int (*pwrite)(struct block_image *img, uint64_t off, const void *buf, size_t len);
    int (*flush)(struct block_image *img);
    int (*discard)(struct block_image *img, uint64_t off, uint64_t len);
    int (*write_zeroes)(struct block_image *img, uint64_t off, uint64_t len);
    void (*close)(struct block_image *img);
    /* See block_map(); range already checked, write already refused on read-only images. */
    int (*map)(struct block_image *img, uint64_t off, uint64_t len, bool write,
               struct block_extent *ext);
    int (*sync_fd)(struct block_image *img);
    /* See block_alloc_status(); range already checked, len > 0. */
    int (*alloc_status)(struct block_image *img, uint64_t off, uint64_t len, uint64_t *pnum);
    struct block_image *(*backing)(struct block_image *img);
};

/* Every driver's image struct starts with this. */
struct block_image {
    const struct block_driver *drv;
    uint64_t size;
    bool readonly;
    char *path;
    pthread_mutex_t err_lock;
    char last_error[BLOCK_ERR_LEN];
};

/* The files already open in the chain being built, for depth and loop checks. */
struct block_chain {
    unsigned depth;
    dev_t dev[BLOCK_MAX_CHAIN + 1];
    ino_t ino[BLOCK_MAX_CHAIN + 1];
};

int block_open_chain(const char *path, enum block_format fmt, bool readonly, enum block_cache cache,
                     struct block_chain *chain, struct block_image **out, char *err,
                     size_t err_len);
/* Opens the file with the flags for this cache mode and records it in the chain. */
int block_open_file(const char *path, bool readonly, enum block_cache cache,
                    struct block_chain *chain, int *fd_out, char *err, size_t err_len);
void block_image_init(struct block_image *img, const struct block_driver *drv, const char *path,
                      uint64_t size, bool readonly);
void block_image_fini(struct block_image *img);

__attribute__((format(printf, 3, 4))) void block_err(char *err, size_t err_len, const char *fmt,
                                                     ...);
/* Records a run-time error on the image (block_last_error) and logs it once to stderr. */
__attribute__((format(printf, 2, 3))) void block_set_error(struct block_image *img, const char *fmt,
                                                           ...);

int block_open_raw(const char *path, bool readonly, enum block_cache cache,
                   struct block_chain *chain, struct block_image **out, char *err, size_t err_len);
int block_open_qcow2(const char *path, bool readonly, enum block_cache cache,
                     struct block_chain *chain, struct block_image **out, char *err,
                     size_t err_len);

/* Full-length pread/pwrite (retries short transfers and EINTR); a read past EOF fills zeroes. */
int block_file_pread(int fd, uint64_t off, void *buf, size_t len);
int block_file_pwrite(int fd, uint64_t off, const void *buf, size_t len);

#endif /* DESKVM_IO_BLOCK_INTERNAL_H */
