// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for split virtqueues: the input becomes the queue layout, the
 * negotiated features, optionally a saved queue state, and the whole guest RAM image (rings,
 * descriptors, indirect tables); a pop / touch every byte / push / notify loop runs over it,
 * with the driver advancing avail idx between rounds. RAM is an exact-size heap buffer, so
 * AddressSanitizer catches any access outside it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/virtio.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x10000u
#define HDR_SIZE 12
#define MAX_IOV 16

static const struct virtio_ops fuzz_ops = {
    .name = "virtio-fuzz",
    .device_id = 0xffff,
};

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR_SIZE) {
        return 0;
    }
    uint8_t *ram = calloc(1, RAM_SIZE);
    if (!ram) {
        return 0;
    }
    struct guest_mem mem;
    guest_mem_init_host(&mem, ram, RAM_SIZE);
    struct virtio_dev *dev = calloc(1, sizeof(*dev));
    if (!dev || virtio_dev_init(dev, &fuzz_ops, NULL, &mem, 0, 1, 256) != 0) {
        abort();
    }
    dev->quiet = true;

    /* Header: size, features/flags, ring offsets, ops for the driver side. */
    uint32_t qsize = 1u << (data[0] % 10); /* 1..512: 512 exceeds the max and is refused */
    uint8_t flags = data[1];
    uint64_t features = VIRTIO_F_BIT(VIRTIO_F_VERSION_1);
    if (flags & 1) {
        features |= VIRTIO_F_BIT(VIRTIO_F_INDIRECT_DESC);
    }
    if (flags & 2) {
        features |= VIRTIO_F_BIT(VIRTIO_F_EVENT_IDX);
    }
    virtio_dev_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    virtio_dev_set_driver_features(dev, features);
    virtio_dev_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
                                   VIRTIO_STATUS_FEATURES_OK);
    struct virtqueue *vq = virtio_dev_queue(dev, 0);
    virtqueue_set_size(vq, qsize);
    /* Offsets may be misaligned or run past RAM's end: enable must refuse those. */
    virtqueue_set_addrs(vq, get16(data + 2), get16(data + 4), get16(data + 6));
    const uint8_t *ops = data + 8;
    size_t pos = HDR_SIZE;

    if (flags & 4) {
        /* A hostile saved queue state instead of the transport's programming. */
        size_t n = vmstate_size(&virtqueue_vmstate);
        uint8_t st[64];
        if (n > sizeof(st) || size - pos < n - 8) {
            goto out;
        }
        uint32_t version = 1, payload = (uint32_t)(n - 8);
        memcpy(st, &version, 4);
        memcpy(st + 4, &payload, 4);
        memcpy(st + 8, data + pos, n - 8);
        pos += n - 8;
        vmstate_load(&virtqueue_vmstate, vq, st, n);
    } else if (virtqueue_enable(vq) != 0) {
        if (!(dev->status & VIRTIO_STATUS_NEEDS_RESET)) {
            abort();
        }
        goto out;
    }
    virtio_dev_set_status(dev, dev->status | VIRTIO_STATUS_DRIVER_OK);

    /* The rest of the input is the guest RAM image. */
    size_t img = size - pos < RAM_SIZE ? size - pos : RAM_SIZE;
    memcpy(ram, data + pos, img);

    struct iovec rd[MAX_IOV], wr[MAX_IOV];
    struct virtq_elem elem = {.rd = rd, .rd_max = MAX_IOV, .wr = wr, .wr_max = MAX_IOV};
    unsigned op = 0;
    for (unsigned round = 0; round < 256; round++) {
        int r = virtqueue_pop(vq, &elem);
        if (r < 0) {
            /* A fault must leave the device in its error state, refusing further pops. */
            if (!(dev->status & VIRTIO_STATUS_NEEDS_RESET) && !vq->broken) {
                abort();
            }
            if (virtqueue_pop(vq, &elem) != -EIO) {
                abort();
            }
            break;
        }
        uint8_t o = ops[op++ % 4];
        if (r == 0) {
            if (op > 64) {
                break;
            }
            /* The driver publishes a few more entries (whatever the ring image holds). */
            if (vq->avail) {
                uint16_t *avail = vq->avail; /* flags, idx, ring... */
                avail[1] = (uint16_t)(avail[1] + (o & 7));
            }
            virtqueue_set_notification(vq, o & 8);
            continue;
        }
        /*
         * Touch the first and last byte of every buffer the device was given: RAM is one
         * allocation, so both inside means the whole range is inside.
         */
        uint64_t rd_total = 0, wr_total = 0;
        uint8_t sum = 0;
        for (unsigned i = 0; i < elem.rd_num; i++) {
            const uint8_t *p = elem.rd[i].iov_base;
            sum ^= p[0] ^ p[elem.rd[i].iov_len - 1];
            rd_total += elem.rd[i].iov_len;
        }
        for (unsigned i = 0; i < elem.wr_num; i++) {
            uint8_t *p = elem.wr[i].iov_base;
            p[0] = sum;
            p[elem.wr[i].iov_len - 1] = sum;
            wr_total += elem.wr[i].iov_len;
        }
        if (rd_total != elem.rd_len || wr_total != elem.wr_len || elem.head >= vq->size) {
            abort();
        }
        virtqueue_push(vq, &elem, (uint32_t)(o * 13));
        virtqueue_notify_needed(vq);
    }
out:
    free(dev);
    free(ram);
    return 0;
}
