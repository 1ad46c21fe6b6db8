// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio entropy device (virtio 1.x 5.4): every writable buffer the driver posts on the
 * request queue is filled with host randomness, as much as getrandom() gives without
 * blocking, and returned with the number of bytes written.
 */
#include "io/virtio_rng.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#define RNG_QUEUE 0

static ssize_t host_fill(void *opaque, void *buf, size_t len)
{
    ssize_t n = getrandom(buf, len, GRND_NONBLOCK);
    return n < 0 ? -errno : n;
}

/* Fill one iovec; returns bytes written, short when the source has nothing more now. */
static size_t fill_iov(struct virtio_rng *rng, const struct iovec *iov, size_t want)
{
    size_t done = 0;
    while (done < want) {
        ssize_t n = rng->fill(rng->fill_opaque, (uint8_t *)iov->iov_base + done, want - done);
        if (n == -EINTR) {
            continue;
        }
        if (n <= 0) {
            break; /* EAGAIN (pool not ready) or an error: hand back what we have */
        }
        done += (size_t)n;
    }
    return done;
}

static void rng_queue_notify(void *opaque, unsigned q)
{
    struct virtio_rng *rng = opaque;
    struct virtqueue *vq = &rng->vdev.vqs[RNG_QUEUE];
    struct virtq_elem elem = {
        .rd = rng->rd_iov,
        .rd_max = VIRTIO_RNG_MAX_IOV,
        .wr = rng->wr_iov,
        .wr_max = VIRTIO_RNG_MAX_IOV,
    };
    bool pushed = false;
    if (q != RNG_QUEUE) {
        return;
    }
    while (virtqueue_pop(vq, &elem) > 0) {
        /* Readable buffers carry nothing for us; they are ignored. */
        size_t budget = VIRTIO_RNG_MAX_REQUEST;
        size_t written = 0;
        for (unsigned i = 0; i < elem.wr_num && budget; i++) {
            size_t want = elem.wr[i].iov_len < budget ? elem.wr[i].iov_len : budget;
            size_t got = fill_iov(rng, &elem.wr[i], want);
            written += got;
            budget -= got;
            if (got < want) {
                break;
            }
        }
        rng->bytes_served += written;
        virtqueue_push(vq, &elem, (uint32_t)written);
        pushed = true;
    }
    if (pushed) {
        virtio_dev_notify_queue(&rng->vdev, RNG_QUEUE);
    }
}

static const struct virtio_ops rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .config_size = 0,
    .queue_notify = rng_queue_notify,
};

int virtio_rng_init(struct virtio_rng *rng, const struct guest_mem *mem)
{
    memset(rng, 0, sizeof(*rng));
    rng->fill = host_fill;
    return virtio_dev_init(&rng->vdev, &rng_ops, rng, mem, 0, 1, VIRTIO_RNG_QUEUE_SIZE);
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
    (void)rng;
}

unsigned virtio_rng_state_sections(struct virtio_rng *rng, struct device *out, unsigned max)
{
    return virtio_dev_state_sections(&rng->vdev, out, max);
}
