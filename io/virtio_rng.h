/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio entropy device (virtio 1.x 5.4, device id 4): one request queue whose writable
 * buffers the device fills from the host's getrandom().
 */
#ifndef DESKVM_IO_VIRTIO_RNG_H
#define DESKVM_IO_VIRTIO_RNG_H

#include <stddef.h>
#include <sys/types.h>

#include "io/virtio.h"

struct device;
struct guest_mem;

#define VIRTIO_RNG_QUEUE_SIZE 256
/* Bytes filled per request at most: a guest cannot make one request drain the pool. */
#define VIRTIO_RNG_MAX_REQUEST 65536
#define VIRTIO_RNG_MAX_IOV 64

struct virtio_rng {
    struct virtio_dev vdev;
    /* Entropy source, getrandom(2) with GRND_NONBLOCK by default; tests replace it. */
    ssize_t (*fill)(void *opaque, void *buf, size_t len);
    void *fill_opaque;
    uint64_t bytes_served;
    struct iovec rd_iov[VIRTIO_RNG_MAX_IOV];
    struct iovec wr_iov[VIRTIO_RNG_MAX_IOV];
};

/* mem: guest RAM the queue lives in. Returns 0 or -errno. */
__attribute__((warn_unused_result)) int virtio_rng_init(struct virtio_rng *rng,
                                                        const struct guest_mem *mem);
void virtio_rng_destroy(struct virtio_rng *rng);
/* Snapshot sections (see virtio_dev_state_sections); the device adds no state of its own. */
unsigned virtio_rng_state_sections(struct virtio_rng *rng, struct device *out, unsigned max);

#endif
