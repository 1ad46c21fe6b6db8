// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for virtio-gpu's command parser: the input becomes a sequence of control
 * commands (every 2D command with ids, formats, sizes, rectangles, offsets and backing entries
 * from the input, small ids more often so resources meet again), raw requests of any length
 * and type, cursor commands, preferred-mode changes and resets. RAM is an exact-size heap
 * buffer and the surface a real one, so AddressSanitizer catches an access outside either; a
 * device in NEEDS_RESET is reset and brought up again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "display/surface.h"
#include "io/virtio_gpu.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x80000u
#define QSIZE 16
#define HEAP 0x10000u
#define HEAP_END 0x20000u

/* A value that is usually small (ids, coordinates) but sometimes anything. */
static uint32_t value(struct input *in)
{
    uint8_t k = take8(in);
    return (k & 0xc0) == 0xc0 ? take32(in) : (k & 0x80) ? take16(in) % 300u : k % 8u;
}

static bool bring_up(struct virtio_dev *vdev, uint8_t *ram, struct vdrv *ctrl, struct vdrv *cur)
{
    virtio_dev_set_status(vdev, 0);
    return vdrv_negotiate(vdev, VIRTIO_F_BIT(VIRTIO_F_VERSION_1) |
                                    VIRTIO_F_BIT(VIRTIO_GPU_F_EDID)) == 0 &&
           vdrv_setup(ctrl, vdev, VIRTIO_GPU_CTRLQ, ram, 0x1000, QSIZE, HEAP, HEAP_END) == 0 &&
           vdrv_setup(cur, vdev, VIRTIO_GPU_CURSORQ, ram, 0x4000, QSIZE, HEAP_END,
                      HEAP_END + 0x1000) == 0 &&
           vdrv_driver_ok(vdev) == 0;
}

/* Post req (len bytes) with a response buffer of resp_len on d and kick queue q. */
static void send(struct virtio_dev *vdev, struct vdrv *d, unsigned q, const void *req, uint32_t len,
                 uint32_t resp_len, uint64_t heap)
{
    uint32_t lens[2] = {len ? len : 1, resp_len};
    uint64_t a[2];
    d->heap = heap;
    uint16_t head = vdrv_chain(d, lens, 1, resp_len ? 1 : 0, a);
    memcpy(d->ram + a[0], req, len);
    vdrv_post(d, head);
    virtio_dev_queue_notify(vdev, q);
    for (uint32_t id, l; vdrv_get_used(d, &id, &l);) {
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t formats[] = {1, 2, 3, 4, 67, 68, 121, 134, 0, 5};
    static const uint32_t types[] = {VIRTIO_GPU_CMD_GET_DISPLAY_INFO,
                                     VIRTIO_GPU_CMD_RESOURCE_CREATE_2D,
                                     VIRTIO_GPU_CMD_RESOURCE_UNREF,
                                     VIRTIO_GPU_CMD_SET_SCANOUT,
                                     VIRTIO_GPU_CMD_RESOURCE_FLUSH,
                                     VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D,
                                     VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING,
                                     VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING,
                                     VIRTIO_GPU_CMD_GET_EDID,
                                     VIRTIO_GPU_CMD_GET_CAPSET_INFO};
    if (size < 2) {
        return 0;
    }
    struct input in = {data, size};
    uint8_t *ram = calloc(1, RAM_SIZE);
    struct guest_mem mem;
    struct display d;
    struct virtio_gpu *gpu = calloc(1, sizeof(*gpu));
    if (!ram || !gpu || display_init(&d, 64, 48) < 0) {
        abort();
    }
    guest_mem_init_host(&mem, ram, RAM_SIZE);
    if (virtio_gpu_init(gpu, &mem, &d, 800, 600) < 0) {
        abort();
    }
    gpu->vdev.quiet = true;
    struct vdrv ctrl, cur;
    bool up = bring_up(&gpu->vdev, ram, &ctrl, &cur);
    uint8_t req[1024];

    for (unsigned round = 0; up && in.left && round < 64; round++) {
        uint8_t op = take8(&in);
        memset(req, 0, sizeof(req));
        uint32_t *w = (uint32_t *)req;
        switch (op % 6) {
        case 0:
        case 1: { /* a well-formed command with fields from the input */
            w[0] = types[take8(&in) % (sizeof(types) / sizeof(types[0]))];
            w[1] = take8(&in) & 1; /* fence */
            uint32_t len = 24 + 32;
            if (w[0] == VIRTIO_GPU_CMD_RESOURCE_CREATE_2D) {
                w[6] = value(&in);
                w[7] = formats[take8(&in) % (sizeof(formats) / sizeof(formats[0]))];
                w[8] = value(&in);
                w[9] = value(&in);
            } else if (w[0] == VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING) {
                uint32_t n = 1 + take8(&in) % 8;
                w[6] = value(&in);
                w[7] = (take8(&in) & 0x80) ? value(&in) : n;
                for (uint32_t i = 0; i < n; i++) {
                    uint64_t addr = (take8(&in) & 0x80) ? (uint64_t)take32(&in) << 8
                                                        : 0x20000u + take16(&in) * 4u;
                    uint32_t l = (take8(&in) & 0x80) ? take32(&in) : take16(&in);
                    memcpy(req + 32 + 16 * i, &addr, 8);
                    memcpy(req + 40 + 16 * i, &l, 4);
                }
                len = 32 + 16 * n;
            } else {
                for (unsigned i = 6; i < 14; i++) {
                    w[i] = value(&in);
                }
            }
            send(&gpu->vdev, &ctrl, VIRTIO_GPU_CTRLQ, req, len, 24 + 8 + 1024, HEAP);
            break;
        }
        case 2: { /* a raw request: any type, length, response size */
            uint32_t len = take16(&in) % sizeof(req);
            for (uint32_t i = 0; i < len && in.left; i++) {
                req[i] = take8(&in);
            }
            send(&gpu->vdev, &ctrl, VIRTIO_GPU_CTRLQ, req, len, take16(&in) % 1200, HEAP);
            break;
        }
        case 3: /* cursor */
            w[0] = (op & 8) ? VIRTIO_GPU_CMD_MOVE_CURSOR : VIRTIO_GPU_CMD_UPDATE_CURSOR;
            for (unsigned i = 6; i < 13; i++) {
                w[i] = value(&in);
            }
            send(&gpu->vdev, &cur, VIRTIO_GPU_CURSORQ, req, (op & 16) ? 56 : take8(&in) % 64, 0,
                 HEAP_END);
            break;
        case 4:
            virtio_gpu_set_preferred_size(gpu, take16(&in), take16(&in));
            virtio_dev_config_write(&gpu->vdev, take8(&in) % 20, take32(&in), 4);
            display_refresh(&d);
            break;
        default:
            if ((gpu->vdev.status & VIRTIO_STATUS_NEEDS_RESET) || (op & 8)) {
                up = bring_up(&gpu->vdev, ram, &ctrl, &cur);
            }
            break;
        }
    }
    virtio_gpu_destroy(gpu);
    display_destroy(&d);
    free(gpu);
    free(ram);
    return 0;
}
