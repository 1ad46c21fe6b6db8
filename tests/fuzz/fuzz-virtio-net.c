// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for virtio-net: the input picks the negotiated features and whether the
 * back-end carries vnet headers, then becomes a sequence of driver and network actions:
 * transmit chains (header and frame bytes from the input, split over buffers), receive
 * buffers, frames from the network with back-end headers, and raw descriptors with any
 * address, length and flags. RAM is an exact-size heap buffer, so AddressSanitizer catches
 * any access outside it; a device in NEEDS_RESET is reset and brought up again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/virtio_net.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x40000u
#define QSIZE 16

static int sink_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    /* Touch every byte: ASan checks the device handed us only its own buffer. */
    volatile uint8_t x = 0;
    for (size_t i = 0; i < len; i++) {
        x ^= frame[i];
    }
    (void)x;
    return 0;
}

static void sink_rx_ready(struct net_backend *be)
{
}

static void sink_destroy(struct net_backend *be)
{
}

static const struct net_backend_ops sink_ops = {
    .kind = "fuzz",
    .send = sink_send,
    .rx_ready = sink_rx_ready,
    .destroy = sink_destroy,
};

static bool bring_up(struct virtio_dev *vdev, uint64_t features, uint8_t *ram, struct vdrv *rx,
                     struct vdrv *tx)
{
    virtio_dev_set_status(vdev, 0);
    return vdrv_negotiate(vdev, features) == 0 &&
           vdrv_setup(rx, vdev, VIRTIO_NET_RXQ, ram, 0x1000, QSIZE, 0x4000, 0x20000) == 0 &&
           vdrv_setup(tx, vdev, VIRTIO_NET_TXQ, ram, 0x2000, QSIZE, 0x20000, RAM_SIZE) == 0 &&
           vdrv_driver_ok(vdev) == 0;
}

/* A chain whose buffers all lie in RAM, contents from the input. */
static void post_chain(struct vdrv *d, struct input *in, unsigned nr, unsigned nw)
{
    uint32_t lens[4];
    uint64_t a[4];
    for (unsigned i = 0; i < nr + nw; i++) {
        lens[i] = 1 + take16(in) % 2048u;
    }
    uint16_t head = vdrv_chain(d, lens, nr, nw, a);
    for (unsigned i = 0; i < nr + nw; i++) {
        if (a[i] + lens[i] > RAM_SIZE) {
            return; /* heap spent: not posted */
        }
    }
    for (unsigned i = 0; i < nr; i++) {
        take(in, d->ram + a[i], lens[i]);
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
    uint8_t *frame = malloc(NET_FRAME_MAX + 16);
    struct guest_mem mem;
    guest_mem_init_host(&mem, ram, RAM_SIZE);
    struct net_backend be = {.ops = &sink_ops};
    static const uint8_t mac[6] = {0x52, 0x54, 0, 0x12, 0x34, 0x56};
    struct virtio_net *net = virtio_net_create(&mem, mac, &be);
    if (!ram || !frame || !net) {
        abort();
    }
    struct virtio_dev *vdev = virtio_net_vdev(net);
    vdev->quiet = true;

    uint8_t cfg = take8(&in);
    uint64_t features = VIRTIO_F_BIT(VIRTIO_F_VERSION_1) | VIRTIO_F_BIT(VIRTIO_NET_F_MAC);
    features |= (cfg & 1) ? VIRTIO_F_BIT(VIRTIO_NET_F_MRG_RXBUF) : 0;
    features |= (cfg & 2) ? VIRTIO_F_BIT(VIRTIO_NET_F_CSUM) : 0;
    features |= (cfg & 4) ? VIRTIO_F_BIT(VIRTIO_NET_F_GUEST_CSUM) : 0;
    features |= (cfg & 8) ? VIRTIO_F_BIT(VIRTIO_F_EVENT_IDX) : 0;
    features |= (cfg & 16) ? VIRTIO_F_BIT(VIRTIO_F_INDIRECT_DESC) : 0;
    be.vnet_hdr = cfg & 32;
    struct vdrv rx, tx;
    bool up = bring_up(vdev, features, ram, &rx, &tx);

    for (unsigned round = 0; up && in.left && round < 64; round++) {
        uint8_t op = take8(&in);
        switch (op % 6) {
        case 0: /* transmit: header + frame over 1..3 buffers */
            post_chain(&tx, &in, 1 + (op >> 3) % 3, 0);
            virtio_dev_queue_notify(vdev, VIRTIO_NET_TXQ);
            break;
        case 1: /* receive buffers */
            for (unsigned i = 0; i <= (op >> 3) % 4; i++) {
                post_chain(&rx, &in, 0, 1 + (op >> 5) % 2);
            }
            virtio_dev_queue_notify(vdev, VIRTIO_NET_RXQ);
            break;
        case 2: { /* a frame from the network, with or without a back-end header */
            struct virtio_net_hdr h;
            take(&in, (uint8_t *)&h, sizeof(h));
            size_t len = take16(&in) % (NET_FRAME_MAX + 16);
            take(&in, frame, len);
            virtio_net_receive(net, (op & 8) ? &h : NULL, frame, len);
            break;
        }
        case 3: { /* a raw descriptor on either queue: any address, length and flags */
            struct vdrv *d = (op & 8) ? &tx : &rx;
            uint16_t i = take16(&in) % QSIZE;
            uint64_t addr = (uint64_t)take16(&in) << 4;
            uint32_t len = take16(&in);
            uint16_t flags = take8(&in) & 7, next = take8(&in) % QSIZE;
            vdrv_desc(d, i, addr, len, flags, next);
            vdrv_post(d, i);
            virtio_dev_queue_notify(vdev, d == &tx ? VIRTIO_NET_TXQ : VIRTIO_NET_RXQ);
            break;
        }
        case 4: /* read the driver's side back */
            for (uint32_t id, len;
                 vdrv_get_used(&rx, &id, &len) || vdrv_get_used(&tx, &id, &len);) {
            }
            virtio_net_set_link(net, op & 8);
            break;
        default:
            if (vdev->status & VIRTIO_STATUS_NEEDS_RESET) {
                up = bring_up(vdev, features, ram, &rx, &tx);
            }
            break;
        }
    }
    virtio_net_destroy(net);
    free(frame);
    free(ram);
    return 0;
}
