/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block image drivers behind virtio-blk: a raw file or a qcow2 (v2/v3) image, reached through
 * one small synchronous interface (docs/qcow2.md). Offsets and lengths are in bytes.
 *
 * Threading: every function may be called concurrently from several worker threads on the
 * same image (the io_uring engine will do so per request). The raw driver holds no lock
 * (pread/pwrite on one fd are independent). The qcow2 driver holds one mutex per image
 * around metadata lookups and updates, and for the whole of an allocating write; reads and
 * in-place writes of already allocated clusters run outside it. block_close must not race
 * with any other call on the same image.
 */
#ifndef DESKVM_IO_BLOCK_H
#define DESKVM_IO_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Room for one error line, e.g. "disk.qcow2: L1 table offset 0x1234 is not cluster aligned". */
#define BLOCK_ERR_LEN 512

enum block_format {
    BLOCK_FORMAT_AUTO, /* qcow2 if the file starts with the qcow2 magic, raw otherwise */
    BLOCK_FORMAT_RAW,
    BLOCK_FORMAT_QCOW2,
};

enum block_cache {
    BLOCK_CACHE_WRITEBACK,    /* host page cache; block_flush makes writes durable */
    BLOCK_CACHE_WRITETHROUGH, /* O_DSYNC: every completed write is durable */
    BLOCK_CACHE_NONE,         /* O_DIRECT (raw only; qcow2 refuses it with a clear error) */
};

struct block_image;

/*
 * Opens `path`. On failure returns -errno and writes one line naming the file and what is
 * wrong into err (err may be NULL). A qcow2 image's backing chain is opened read-only,
 * relative names resolved against the directory of the image that names them, at most
 * BLOCK_MAX_CHAIN images long (the top image included), and a file seen twice in one chain is
 * refused.
 */
#define BLOCK_MAX_CHAIN 16
__attribute__((warn_unused_result)) int block_open(const char *path, enum block_format fmt,
                                                   bool readonly, enum block_cache cache,
                                                   struct block_image **out, char *err,
                                                   size_t err_len);
void block_close(struct block_image *img);

/* Virtual disk size in bytes. */
uint64_t block_size(const struct block_image *img);
bool block_readonly(const struct block_image *img);
const char *block_format_name(const struct block_image *img);

/*
 * I/O: return 0 or -errno. A request past the end of the disk is -EINVAL, a write to a
 * read-only image -EROFS, image corruption found at run time -EIO (the image then refuses
 * further writes; block_last_error says why).
 */
int block_pread(struct block_image *img, uint64_t off, void *buf, size_t len);
int block_pwrite(struct block_image *img, uint64_t off, const void *buf, size_t len);
/* fdatasync: everything written before this call is durable when it returns 0. */
int block_flush(struct block_image *img);
/* Drops whole clusters (qcow2) or punches a hole (raw); reads of the range then return
 * zeroes. Parts of the range smaller than a cluster are left as they are. */
int block_discard(struct block_image *img, uint64_t off, uint64_t len);
/* The range reads back as zeroes afterwards. */
int block_write_zeroes(struct block_image *img, uint64_t off, uint64_t len);

/*
 * Where guest bytes start at off live in a host file, for an I/O engine (io/block_aio.c) that
 * does the data transfer itself instead of calling block_pread/block_pwrite.
 */
struct block_extent {
    int fd;            /* host file holding the bytes */
    uint64_t host_off; /* where guest byte off is in that file */
    uint64_t len;      /* bytes from off that are contiguous at host_off (<= the asked len) */
    bool direct;       /* fd is O_DIRECT: offsets, lengths and buffers need BLOCK_DIRECT_ALIGN */
    bool identity;     /* the file is the disk (raw): fallocate on it is discard/write-zeroes */
};
#define BLOCK_DIRECT_ALIGN 4096
/*
 * Returns 1 and fills ext when the first ext->len bytes of [off, off + len) are plain data in
 * a host file that may be read (write = false) or overwritten in place (write = true) without
 * the driver's help; 0 when the range must go through the driver (unallocated, compressed,
 * zero or shared clusters, a read-only image, a range past the end). len > 0.
 *
 * For qcow2 the mapping is valid until a concurrent discard or write-zeroes of the same
 * range drops the clusters: the same latitude the driver's own in-place path takes (see
 * docs/qcow2.md, "Locking").
 */
int block_map(struct block_image *img, uint64_t off, uint64_t len, bool write,
              struct block_extent *ext);
/* The host fd whose fdatasync makes this image's writes durable, or -1 (read-only image). */
int block_sync_fd(struct block_image *img);

/* The last run-time error on this image as one line ("" if none). Copies into buf. */
void block_last_error(struct block_image *img, char *buf, size_t len);

/*
 * What this image itself holds (its backing chain not consulted) for the bytes from off: the
 * answer covers the first *pnum bytes (0 < *pnum <= len). BLOCK_ALLOC_DATA: the image has the
 * bytes (raw: always); BLOCK_ALLOC_ZERO: they read as zeroes whatever the backing holds;
 * BLOCK_ALLOC_NONE: reads go to the backing file (or zeroes without one). -errno on a
 * corrupt image or a range past the end.
 */
enum block_alloc {
    BLOCK_ALLOC_NONE,
    BLOCK_ALLOC_DATA,
    BLOCK_ALLOC_ZERO,
};
int block_alloc_status(struct block_image *img, uint64_t off, uint64_t len, uint64_t *pnum);
/* The open backing image (qcow2 with a backing file) or NULL. */
struct block_image *block_backing(struct block_image *img);
/* The path the image was opened by (a backing file's: resolved against its overlay's dir). */
const char *block_path(const struct block_image *img);

/*
 * Stream the backing file into an overlay (io/block_merge.c, docs/snapshots.md "Delete"):
 * writes to out (must not exist; created as qcow2, 64 KiB clusters) an image that reads
 * exactly as top does, holding top's own clusters and, where top has none, those of top's
 * backing file B, and whose backing file is B's backing file (none if B has none). top must
 * have a backing file. out is fsynced; on failure it is removed. The caller renames it over
 * top when it wants the change.
 */
__attribute__((warn_unused_result)) int block_stream_backing(const char *top, const char *out,
                                                             char *err, size_t err_len);

/* Image creation (io/block_create.c). The file must not exist yet (O_EXCL). */
struct qcow2_create_opts {
    uint64_t size;              /* virtual size; 0 with a backing file: the backing's size */
    unsigned cluster_bits;      /* 9..21; 0 means 16 (64 KiB) */
    const char *backing_file;   /* NULL for none; stored as given */
    const char *backing_format; /* "raw" or "qcow2"; NULL: probed now and stored */
};
__attribute__((warn_unused_result)) int
qcow2_create(const char *path, const struct qcow2_create_opts *opts, char *err, size_t err_len);
__attribute__((warn_unused_result)) int block_create_raw(const char *path, uint64_t size, char *err,
                                                         size_t err_len);

#endif /* DESKVM_IO_BLOCK_H */
