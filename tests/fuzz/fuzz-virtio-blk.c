// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the virtio-blk request parser: the input picks the negotiated
 * features, the queue size, the engine (io_uring or thread pool) and how many avail entries
 * the driver publishes, and the rest is the guest RAM image (descriptor table, avail ring,
 * headers, segments, data). The device runs every request to completion on a 64 KiB raw disk
 * in a memfd. RAM is an exact-size heap buffer, so AddressSanitizer catches any access
 * outside it; a malformed chain must leave the device in NEEDS_RESET, and nothing may stay
 * in flight after a drain.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/virtio_blk.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x10000u
#define DISK_SIZE 0x10000u
#define DESC_GPA 0x0u
#define AVAIL_GPA 0x1000u
#define USED_GPA 0x2000u
#define HDR 4

static uint8_t *ram;
static struct guest_mem mem;
static struct virtio_blk *devs[2];

static struct virtio_blk *make(enum block_aio_backend backend)
{
    int fd = memfd_create("fuzz-virtio-blk", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0) {
        abort();
    }
    char path[64], err[BLOCK_ERR_LEN];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct block_image *img;
    if (block_open(path, BLOCK_FORMAT_RAW, false, BLOCK_CACHE_WRITEBACK, &img, err, sizeof(err)) <
        0) {
        abort();
    }
    close(fd);
    struct virtio_blk_opts o = {.backend = backend, .serial = "fuzz"};
    struct virtio_blk *blk = virtio_blk_create(&mem, img, &o, err, sizeof(err));
    if (blk == NULL) {
        block_close(img); /* io_uring unavailable: the pool device serves both */
        return NULL;
    }
    virtio_blk_vdev(blk)->quiet = true;
    return blk;
}

static void init(void)
{
    ram = malloc(RAM_SIZE);
    if (ram == NULL) {
        abort();
    }
    guest_mem_init_host(&mem, ram, RAM_SIZE);
    devs[0] = make(BLOCK_AIO_THREADS);
    devs[1] = make(BLOCK_AIO_IO_URING);
    if (devs[0] == NULL) {
        abort();
    }
    if (devs[1] == NULL) {
        devs[1] = devs[0];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ram == NULL) {
        init();
    }
    if (size < HDR) {
        return 0;
    }
    uint8_t flags = data[0];
    struct virtio_blk *blk = devs[flags & 1];
    struct virtio_dev *dev = virtio_blk_vdev(blk);
    uint32_t qsize = 1u << (data[1] % 9); /* 1..256 */
    uint16_t publish = (uint16_t)(data[2] | data[3] << 8);

    virtio_dev_reset(dev);
    uint64_t features = VIRTIO_F_BIT(VIRTIO_F_VERSION_1);
    static const unsigned bits[] = {VIRTIO_F_EVENT_IDX, VIRTIO_F_INDIRECT_DESC, VIRTIO_BLK_F_FLUSH,
                                    VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES};
    for (unsigned i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        if (flags & (2u << i)) {
            features |= VIRTIO_F_BIT(bits[i]);
        }
    }
    virtio_dev_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_dev_set_driver_features(dev, features);
    virtio_dev_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                   VIRTIO_STATUS_FEATURES_OK);
    struct virtqueue *vq = virtio_dev_queue(dev, 0);
    virtqueue_set_size(vq, qsize);
    virtqueue_set_addrs(vq, DESC_GPA, AVAIL_GPA, USED_GPA);
    if (virtqueue_enable(vq) != 0) {
        abort(); /* the layout is fixed and valid */
    }
    virtio_dev_set_status(dev, dev->status | VIRTIO_STATUS_DRIVER_OK);

    /* The guest RAM image; then the driver publishes `publish` avail entries. */
    size_t img = size - HDR < RAM_SIZE ? size - HDR : RAM_SIZE;
    memset(ram, 0, RAM_SIZE);
    memcpy(ram, data + HDR, img);
    uint16_t idx = (uint16_t)(publish % (2 * qsize + 1));
    memcpy(ram + AVAIL_GPA + 2, &idx, 2);

    virtio_dev_queue_notify(dev, 0);
    virtio_blk_drain(blk);
    if (blk->inflight != 0 || block_aio_inflight(blk->aio) != 0) {
        abort();
    }
    /* A driver that publishes more than the ring holds is a device error. */
    if (idx > qsize && !(dev->status & VIRTIO_STATUS_NEEDS_RESET)) {
        abort();
    }
    return 0;
}
