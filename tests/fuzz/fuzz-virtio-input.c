// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for virtio-input: the input picks keyboard or tablet and the negotiated
 * features, then becomes a sequence of driver and host actions: select/subsel writes of any
 * size and offset with every config byte read back, event buffers of any length, status
 * events (LED changes, short and unknown ones), raw descriptors with any address, length and
 * flags, and host key, pointer and raw event batches. RAM is an exact-size heap buffer, so
 * AddressSanitizer catches any access outside it; a device in NEEDS_RESET is reset and brought
 * up again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/virtio_input.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x20000u
#define QSIZE 16

static bool bring_up(struct virtio_dev *vdev, uint64_t features, uint8_t *ram, struct vdrv *evq,
                     struct vdrv *stq)
{
    virtio_dev_set_status(vdev, 0);
    return vdrv_negotiate(vdev, features) == 0 &&
           vdrv_setup(evq, vdev, VIRTIO_INPUT_EVENTQ, ram, 0x1000, QSIZE, 0x4000, 0x10000) == 0 &&
           vdrv_setup(stq, vdev, VIRTIO_INPUT_STATUSQ, ram, 0x2000, QSIZE, 0x10000, RAM_SIZE) ==
               0 &&
           vdrv_driver_ok(vdev) == 0;
}

/* A chain of nr readable then nw writable buffers in RAM (lengths and contents from the input). */
static void post_chain(struct vdrv *d, struct input *in, unsigned nr, unsigned nw)
{
    uint32_t lens[4];
    uint64_t a[4];
    for (unsigned i = 0; i < nr + nw; i++) {
        uint8_t k = take8(in);
        lens[i] = (k & 0x80) ? 1 + take16(in) % 512u : k % 24u; /* mostly near 8 bytes */
        lens[i] = lens[i] ? lens[i] : 1;
    }
    uint16_t head = vdrv_chain(d, lens, nr, nw, a);
    for (unsigned i = 0; i < nr + nw; i++) {
        if (a[i] + lens[i] > d->heap_end) {
            return; /* heap spent: not posted */
        }
    }
    for (unsigned i = 0; i < nr; i++) {
        for (uint32_t j = 0; j < lens[i]; j++) {
            d->ram[a[i] + j] = take8(in);
        }
    }
    vdrv_post(d, head);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    struct input in = {data, size};
    uint8_t *ram = calloc(1, RAM_SIZE);
    struct virtio_input *dev = calloc(1, sizeof(*dev));
    struct guest_mem mem;
    if (!ram || !dev) {
        abort();
    }
    guest_mem_init_host(&mem, ram, RAM_SIZE);
    uint8_t cfg = take8(&in);
    if (virtio_input_init(dev, &mem, (cfg & 1) ? VIRTIO_INPUT_TABLET : VIRTIO_INPUT_KEYBOARD) < 0) {
        abort();
    }
    struct virtio_dev *vdev = &dev->vdev;
    vdev->quiet = true;
    uint64_t features = VIRTIO_F_BIT(VIRTIO_F_VERSION_1);
    features |= (cfg & 2) ? VIRTIO_F_BIT(VIRTIO_F_EVENT_IDX) : 0;
    features |= (cfg & 4) ? VIRTIO_F_BIT(VIRTIO_F_INDIRECT_DESC) : 0;
    struct vdrv evq, stq;
    bool up = bring_up(vdev, features, ram, &evq, &stq);
    volatile uint64_t sink = 0;

    for (unsigned round = 0; up && in.left && round < 128; round++) {
        uint8_t op = take8(&in);
        switch (op % 8) {
        case 0: { /* config window: a write of any size anywhere, then read all of it */
            static const unsigned sizes[] = {1, 2, 4, 8};
            unsigned sz = sizes[(op >> 3) & 3];
            uint32_t off = (op & 0x20) ? take8(&in) : take8(&in) % 2u;
            virtio_dev_config_write(vdev, off, take32(&in), sz);
            for (uint32_t o = 0; o < VIRTIO_INPUT_CONFIG_SIZE + 8; o++) {
                sink += virtio_dev_config_read(vdev, o, 1);
            }
            sink += virtio_dev_config_read(vdev, take8(&in), sizes[(op >> 6) & 3]);
            break;
        }
        case 1: /* event buffers */
            for (unsigned i = 0; i <= (op >> 3) % 4; i++) {
                post_chain(&evq, &in, (op & 0x80) ? 1 : 0, 1 + (op >> 5) % 2);
            }
            virtio_dev_queue_notify(vdev, VIRTIO_INPUT_EVENTQ);
            break;
        case 2: /* status events from the driver */
            post_chain(&stq, &in, 1 + (op >> 3) % 2, (op >> 5) & 1);
            virtio_dev_queue_notify(vdev, VIRTIO_INPUT_STATUSQ);
            break;
        case 3: { /* a raw descriptor on either queue: any address, length and flags */
            struct vdrv *d = (op & 8) ? &stq : &evq;
            uint16_t i = take16(&in) % QSIZE;
            uint64_t addr = (uint64_t)take16(&in) << 4;
            uint32_t len = take16(&in);
            uint16_t flags = take8(&in) & 7, next = take8(&in) % QSIZE;
            vdrv_desc(d, i, addr, len, flags, next);
            vdrv_post(d, i);
            virtio_dev_queue_notify(vdev, d == &stq ? VIRTIO_INPUT_STATUSQ : VIRTIO_INPUT_EVENTQ);
            break;
        }
        case 4: /* host input */
            if (op & 8) {
                virtio_input_key(dev, take16(&in), op & 16);
            } else {
                virtio_input_pointer(dev, take16(&in), take16(&in), take16(&in), take16(&in),
                                     take8(&in), (int8_t)take8(&in));
            }
            break;
        case 5: { /* a raw host batch, up to twice the pending queue */
            static struct virtio_input_event ev[2 * VIRTIO_INPUT_PENDING];
            unsigned n = take16(&in) % (2 * VIRTIO_INPUT_PENDING + 1);
            for (unsigned i = 0; i < n; i++) {
                ev[i] = (struct virtio_input_event){take8(&in), take8(&in), take8(&in)};
            }
            virtio_input_send(dev, ev, n);
            break;
        }
        case 6: /* read the driver's side back */
            for (uint32_t id, len;
                 vdrv_get_used(&evq, &id, &len) || vdrv_get_used(&stq, &id, &len);) {
                sink += id + len;
            }
            sink += virtio_input_ready(dev);
            break;
        default:
            if ((vdev->status & VIRTIO_STATUS_NEEDS_RESET) || (op & 8)) {
                up = bring_up(vdev, features, ram, &evq, &stq);
            }
            break;
        }
    }
    (void)sink;
    free(dev);
    free(ram);
    return 0;
}
