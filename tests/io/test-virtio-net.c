// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-net through a fake guest RAM and a fake back-end: transmit (header stripped,
 * checksums completed in software or passed to a vnet-header back-end), receive into one
 * buffer and across mergeable buffers, backpressure when the driver posted too little,
 * malformed chains and headers (NEEDS_RESET), link status, config space, saved state.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/virtio_net.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define RAM_SIZE (1u << 20)
#define RX_RING 0x1000u
#define TX_RING 0x8000u
#define RX_HEAP 0x20000u
#define TX_HEAP 0x80000u
#define QSIZE 16
#define HDR VIRTIO_NET_HDR_SIZE

#define ALL_FEATURES                                                                               \
    (VIRTIO_F_BIT(VIRTIO_F_VERSION_1) | VIRTIO_F_BIT(VIRTIO_NET_F_MRG_RXBUF) |                     \
     VIRTIO_F_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_F_BIT(VIRTIO_NET_F_GUEST_CSUM) |                     \
     VIRTIO_F_BIT(VIRTIO_NET_F_MAC) | VIRTIO_F_BIT(VIRTIO_NET_F_STATUS))

/* A back-end that records what the device sent. */
struct fake_be {
    struct net_backend be;
    uint8_t last[HDR + NET_FRAME_MAX];
    size_t last_len;
    unsigned sent, rx_ready;
};

static int fake_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct fake_be *f = (struct fake_be *)be;
    memcpy(f->last, frame, len);
    f->last_len = len;
    f->sent++;
    return 0;
}

static void fake_rx_ready(struct net_backend *be)
{
    ((struct fake_be *)be)->rx_ready++;
}

static void fake_destroy(struct net_backend *be)
{
}

static const struct net_backend_ops fake_ops = {
    .kind = "fake",
    .send = fake_send,
    .rx_ready = fake_rx_ready,
    .destroy = fake_destroy,
};

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct fake_be be;
    struct virtio_net *net;
    struct virtio_dev *vdev;
    struct vdrv rx, tx;
    unsigned queue_irqs, config_irqs;
};

static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

static void fake_interrupt(void *transport, unsigned kind, unsigned q)
{
    struct fixture *f = transport;
    if (kind == VIRTIO_IRQ_QUEUE) {
        f->queue_irqs++;
    } else {
        f->config_irqs++;
    }
}

/* Reset and bring the device up with features, both queues laid out afresh. */
static void start(struct fixture *f, uint64_t features)
{
    virtio_dev_set_status(f->vdev, 0);
    memset(f->ram, 0x55, RAM_SIZE);
    assert_int_equal(vdrv_negotiate(f->vdev, features), 0);
    assert_int_equal(
        vdrv_setup(&f->rx, f->vdev, VIRTIO_NET_RXQ, f->ram, RX_RING, QSIZE, RX_HEAP, TX_HEAP), 0);
    assert_int_equal(
        vdrv_setup(&f->tx, f->vdev, VIRTIO_NET_TXQ, f->ram, TX_RING, QSIZE, TX_HEAP, RAM_SIZE), 0);
    assert_int_equal(vdrv_driver_ok(f->vdev), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ram = malloc(RAM_SIZE);
    assert_non_null(f->ram);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    f->be.be.ops = &fake_ops;
    f->net = virtio_net_create(&f->mem, mac, &f->be.be);
    assert_non_null(f->net);
    f->vdev = virtio_net_vdev(f->net);
    f->vdev->quiet = true;
    virtio_dev_set_interrupt(f->vdev, fake_interrupt, f);
    start(f, ALL_FEATURES);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    virtio_net_destroy(f->net);
    free(f->ram);
    free(f);
    return 0;
}

static void pattern(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + i * 7);
    }
}

/* Post a transmit chain: header then the frame split over nbuf buffers. Returns the head. */
static uint16_t post_tx(struct fixture *f, const struct virtio_net_hdr *h, const uint8_t *frame,
                        size_t len, unsigned nbuf)
{
    uint32_t lens[4] = {HDR};
    size_t left = len;
    for (unsigned i = 1; i <= nbuf; i++) {
        lens[i] = (uint32_t)(i == nbuf ? left : len / nbuf);
        left -= lens[i];
    }
    uint64_t a[4];
    uint16_t head = vdrv_chain(&f->tx, lens, 1 + nbuf, 0, a);
    memcpy(f->ram + a[0], h, HDR);
    size_t off = 0;
    for (unsigned i = 1; i <= nbuf; i++) {
        memcpy(f->ram + a[i], frame + off, lens[i]);
        off += lens[i];
    }
    vdrv_post(&f->tx, head);
    return head;
}

static void kick(struct fixture *f, unsigned q)
{
    virtio_dev_queue_notify(f->vdev, q);
}

static bool needs_reset(const struct fixture *f)
{
    return f->vdev->status & VIRTIO_STATUS_NEEDS_RESET;
}

static void test_tx_frame(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[300];
    pattern(frame, sizeof(frame), 1);
    struct virtio_net_hdr h = {.hdr_len = 99, .num_buffers = 7}; /* ignored fields */
    uint16_t head = post_tx(f, &h, frame, sizeof(frame), 2);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.sent, 1);
    assert_int_equal(f->be.last_len, sizeof(frame));
    assert_memory_equal(f->be.last, frame, sizeof(frame));
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->tx, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, 0);
    assert_int_equal(f->queue_irqs, 1);
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.tx_frames, 1);
    assert_int_equal(st.tx_bytes, sizeof(frame));
    assert_false(needs_reset(f));
}

/* An Ethernet + IPv4 + UDP frame with the pseudo-header sum in the UDP checksum field. */
static size_t udp_frame(uint8_t *p, size_t payload)
{
    memset(p, 0, 42);
    memcpy(p, "\xff\xff\xff\xff\xff\xff\x52\x54\x00\x12\x34\x56\x08\x00", 14);
    uint8_t *ip = p + 14, *udp = p + 34;
    uint16_t udp_len = (uint16_t)(8 + payload);
    ip[0] = 0x45;
    ip[8] = 64;
    ip[9] = 17;
    uint16_t tot = htons((uint16_t)(20 + udp_len));
    memcpy(ip + 2, &tot, 2);
    memcpy(ip + 12, "\x0a\x00\x02\x0f\x0a\x00\x02\x02", 8);
    udp[0] = 0x12, udp[1] = 0x34, udp[2] = 0x00, udp[3] = 0x35;
    uint16_t ul = htons(udp_len);
    memcpy(udp + 4, &ul, 2);
    pattern(udp + 8, payload, 9);
    /* Pseudo header: addresses, protocol, length (as Linux leaves it for CHECKSUM_PARTIAL). */
    uint32_t s = net_csum_add(0, ip + 12, 8) + 17 + udp_len;
    uint16_t ps = htons(net_csum_fold(s));
    memcpy(udp + 6, &ps, 2);
    return 34 + udp_len;
}

/* The receiver's check: pseudo header + UDP segment with the stored checksum sums to ~0. */
static bool udp_csum_ok(const uint8_t *p, size_t len)
{
    const uint8_t *ip = p + 14;
    uint16_t udp_len = (uint16_t)(len - 34);
    uint32_t s = net_csum_add(0, ip + 12, 8) + 17 + udp_len;
    s = net_csum_add(s, p + 34, udp_len);
    return net_csum_fold(s) == 0xffff;
}

static void test_tx_checksum_in_software(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[200];
    size_t len = udp_frame(frame, 101); /* odd length: the last byte is padded */
    assert_false(udp_csum_ok(frame, len));
    struct virtio_net_hdr h = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6};
    post_tx(f, &h, frame, len, 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.last_len, len);
    assert_true(udp_csum_ok(f->be.last, len));
    /* Only the checksum field changed. */
    assert_memory_equal(f->be.last, frame, 40);
    assert_memory_equal(f->be.last + 42, frame + 42, len - 42);
}

static void test_tx_vnet_hdr_backend(void **state)
{
    struct fixture *f = *state;
    f->be.be.vnet_hdr = true;
    uint8_t frame[200];
    size_t len = udp_frame(frame, 50);
    struct virtio_net_hdr h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM | 0x80,
                               .hdr_len = 5,
                               .gso_size = 1400,
                               .csum_start = 34,
                               .csum_offset = 6,
                               .num_buffers = 3};
    post_tx(f, &h, frame, len, 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.last_len, HDR + len);
    struct virtio_net_hdr out;
    memcpy(&out, f->be.last, HDR);
    assert_int_equal(out.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert_int_equal(out.gso_type, 0);
    assert_int_equal(out.hdr_len, 0);
    assert_int_equal(out.gso_size, 0);
    assert_int_equal(out.csum_start, 34);
    assert_int_equal(out.csum_offset, 6);
    assert_int_equal(out.num_buffers, 0);
    /* The back-end completes it: the frame goes out untouched. */
    assert_memory_equal(f->be.last + HDR, frame, len);
}

static void test_tx_guest_faults(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[64];
    pattern(frame, sizeof(frame), 3);

    /* Shorter than the header. */
    uint32_t l = 8;
    vdrv_post(&f->tx, vdrv_chain(&f->tx, &l, 1, 0, NULL));
    kick(f, VIRTIO_NET_TXQ);
    assert_true(needs_reset(f));
    assert_int_equal(vdrv_used_idx(&f->tx), 0);
    assert_int_equal(f->be.sent, 0);
    assert_int_equal(f->config_irqs, 1);

    /* A device-writable buffer in a transmit chain. */
    start(f, ALL_FEATURES);
    uint32_t lens[2] = {HDR + 64, 64};
    vdrv_post(&f->tx, vdrv_chain(&f->tx, lens, 1, 1, NULL));
    kick(f, VIRTIO_NET_TXQ);
    assert_true(needs_reset(f));
    assert_int_equal(f->be.sent, 0);

    /* GSO without any GSO feature. */
    start(f, ALL_FEATURES);
    struct virtio_net_hdr h = {.gso_type = 1};
    post_tx(f, &h, frame, sizeof(frame), 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_true(needs_reset(f));

    /* A checksum field outside the frame. */
    start(f, ALL_FEATURES);
    h = (struct virtio_net_hdr){
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 60, .csum_offset = 3};
    post_tx(f, &h, frame, sizeof(frame), 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_true(needs_reset(f));
    assert_int_equal(f->be.sent, 0);

    /* The same one just inside is fine. */
    start(f, ALL_FEATURES);
    h.csum_offset = 2;
    post_tx(f, &h, frame, sizeof(frame), 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_false(needs_reset(f));
    assert_int_equal(f->be.sent, 1);

    /* A descriptor past the end of RAM: the core refuses the chain. */
    start(f, ALL_FEATURES);
    vdrv_desc(&f->tx, 0, RAM_SIZE - 4, 64, 0, 0);
    vdrv_post(&f->tx, 0);
    kick(f, VIRTIO_NET_TXQ);
    assert_true(needs_reset(f));
    assert_int_equal(f->be.sent, 1);
}

static void test_tx_runts_and_giants_dropped(void **state)
{
    struct fixture *f = *state;
    static uint8_t big[NET_FRAME_MAX + 1];
    struct virtio_net_hdr h = {0};
    post_tx(f, &h, big, sizeof(big), 2);
    uint8_t runt[10] = {0};
    post_tx(f, &h, runt, sizeof(runt), 1);
    uint8_t frame[60];
    pattern(frame, sizeof(frame), 4);
    post_tx(f, &h, frame, sizeof(frame), 1);
    kick(f, VIRTIO_NET_TXQ);
    /* All three chains come back; only the good frame went out; the device is fine. */
    assert_int_equal(vdrv_used_idx(&f->tx), 3);
    assert_int_equal(f->be.sent, 1);
    assert_memory_equal(f->be.last, frame, sizeof(frame));
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.tx_dropped, 2);
    assert_false(needs_reset(f));
}

static uint16_t post_rx(struct fixture *f, uint32_t len, uint64_t *addr)
{
    uint16_t head = vdrv_chain(&f->rx, &len, 0, 1, addr);
    vdrv_post(&f->rx, head);
    return head;
}

static void test_rx_one_buffer(void **state)
{
    struct fixture *f = *state;
    start(f, ALL_FEATURES & ~VIRTIO_F_BIT(VIRTIO_NET_F_MRG_RXBUF));
    uint64_t a;
    uint16_t head = post_rx(f, 1526, &a);
    uint8_t frame[100];
    pattern(frame, sizeof(frame), 5);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), 0);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->rx, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, HDR + sizeof(frame));
    struct virtio_net_hdr h;
    memcpy(&h, f->ram + a, HDR);
    assert_int_equal(h.flags, 0);
    assert_int_equal(h.gso_type, 0);
    assert_int_equal(h.num_buffers, 1);
    assert_memory_equal(f->ram + a + HDR, frame, sizeof(frame));
    assert_int_equal(f->ram[a + HDR + sizeof(frame)], 0x55);
    assert_int_equal(f->queue_irqs, 1);
}

static void test_rx_mergeable(void **state)
{
    struct fixture *f = *state;
    uint64_t a[4];
    uint16_t heads[4];
    for (unsigned i = 0; i < 4; i++) {
        heads[i] = post_rx(f, 64, &a[i]);
    }
    uint8_t frame[150]; /* 12 + 150 = 64 + 64 + 34 */
    pattern(frame, sizeof(frame), 6);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), 0);
    uint32_t id, len;
    const uint32_t want[3] = {64, 64, 34};
    for (unsigned i = 0; i < 3; i++) {
        assert_true(vdrv_get_used(&f->rx, &id, &len));
        assert_int_equal(id, heads[i]);
        assert_int_equal(len, want[i]);
    }
    assert_false(vdrv_get_used(&f->rx, &id, &len));
    assert_int_equal(f->queue_irqs, 1); /* one interrupt for the whole frame */
    struct virtio_net_hdr h;
    memcpy(&h, f->ram + a[0], HDR);
    assert_int_equal(h.num_buffers, 3);
    assert_memory_equal(f->ram + a[0] + HDR, frame, 52);
    assert_memory_equal(f->ram + a[1], frame + 52, 64);
    assert_memory_equal(f->ram + a[2], frame + 116, 34);
    assert_int_equal(f->ram[a[2] + 34], 0x55);
    /* The fourth buffer takes the next frame. */
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, 20), 0);
    assert_true(vdrv_get_used(&f->rx, &id, &len));
    assert_int_equal(id, heads[3]);
    assert_int_equal(len, HDR + 20);
}

static void test_rx_backpressure(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[150];
    pattern(frame, sizeof(frame), 7);
    /* Nothing posted: hold it. */
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), -EAGAIN);
    /* Two buffers where three are needed: still held, and nothing is consumed. */
    uint64_t a[3];
    uint16_t h0 = post_rx(f, 64, &a[0]);
    post_rx(f, 64, &a[1]);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), -EAGAIN);
    assert_int_equal(vdrv_used_idx(&f->rx), 0);
    assert_int_equal(f->queue_irqs, 0);
    /* The driver posts more and kicks: the back-end hears it may deliver again. */
    post_rx(f, 64, &a[2]);
    unsigned before = f->be.rx_ready;
    kick(f, VIRTIO_NET_RXQ);
    assert_int_equal(f->be.rx_ready, before + 1);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), 0);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->rx, &id, &len));
    assert_int_equal(id, h0); /* the first buffer is used first, though popped twice */
    assert_int_equal(vdrv_used_idx(&f->rx), 3);
    assert_memory_equal(f->ram + a[2], frame + 116, 34);
}

static void test_rx_small_buffer_without_merge(void **state)
{
    struct fixture *f = *state;
    start(f, ALL_FEATURES & ~VIRTIO_F_BIT(VIRTIO_NET_F_MRG_RXBUF));
    uint64_t a;
    uint16_t head = post_rx(f, 100, &a);
    uint8_t frame[200];
    pattern(frame, sizeof(frame), 8);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), -EMSGSIZE);
    assert_int_equal(vdrv_used_idx(&f->rx), 0);
    /* The buffer is kept for a frame that fits. */
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, 88), 0);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->rx, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, 100);
    struct virtio_net_stats st;
    virtio_net_get_stats(f->net, &st);
    assert_int_equal(st.rx_dropped, 1);
    assert_int_equal(st.rx_frames, 1);
    assert_int_equal(st.rx_bytes, 88); /* the dropped frame is not counted */
}

static void test_rx_guest_faults(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[60];
    pattern(frame, sizeof(frame), 9);
    /* A readable buffer in a receive chain. */
    uint32_t lens[2] = {16, 64};
    vdrv_post(&f->rx, vdrv_chain(&f->rx, lens, 1, 1, NULL));
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), -EIO);
    assert_true(needs_reset(f));
    assert_int_equal(vdrv_used_idx(&f->rx), 0);
    /* While NEEDS_RESET is set the device takes nothing. */
    post_rx(f, 1000, NULL);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), -ENETDOWN);

    /* A first buffer that cannot hold the header. */
    start(f, ALL_FEATURES);
    post_rx(f, 8, NULL);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), -EIO);
    assert_true(needs_reset(f));

    /* A buffer outside RAM. */
    start(f, ALL_FEATURES);
    vdrv_desc(&f->rx, 0, RAM_SIZE - 16, 4096, VIRTQ_DESC_F_WRITE, 0);
    vdrv_post(&f->rx, 0);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), -EIO);
    assert_true(needs_reset(f));
    assert_int_equal(vdrv_used_idx(&f->rx), 0);

    /* Runts and giants from the network are dropped, the device stays fine. */
    start(f, ALL_FEATURES);
    post_rx(f, 2048, NULL);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, 10), -EINVAL);
    static uint8_t big[NET_FRAME_MAX + 1];
    assert_int_equal(virtio_net_receive(f->net, NULL, big, sizeof(big)), -EMSGSIZE);
    assert_false(needs_reset(f));
    assert_int_equal(vdrv_used_idx(&f->rx), 0);
}

static void test_rx_backend_checksum(void **state)
{
    struct fixture *f = *state;
    uint8_t frame[200];
    size_t len = udp_frame(frame, 77);
    struct virtio_net_hdr bh = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 6};
    /* The driver takes partial checksums: passed through, frame untouched. */
    uint64_t a;
    post_rx(f, 2048, &a);
    assert_int_equal(virtio_net_receive(f->net, &bh, frame, len), 0);
    struct virtio_net_hdr h;
    memcpy(&h, f->ram + a, HDR);
    assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert_int_equal(h.csum_start, 34);
    assert_int_equal(h.csum_offset, 6);
    assert_memory_equal(f->ram + a + HDR, frame, len);

    /* Without GUEST_CSUM we complete it; the driver sees a finished frame. */
    start(f, ALL_FEATURES & ~VIRTIO_F_BIT(VIRTIO_NET_F_GUEST_CSUM));
    post_rx(f, 2048, &a);
    assert_int_equal(virtio_net_receive(f->net, &bh, frame, len), 0);
    memcpy(&h, f->ram + a, HDR);
    assert_int_equal(h.flags, 0);
    assert_true(udp_csum_ok(f->ram + a + HDR, len));

    /* A back-end header with GSO or a checksum outside the frame is dropped. */
    bh.csum_start = (uint16_t)len;
    assert_int_equal(virtio_net_receive(f->net, &bh, frame, len), -EINVAL);
    bh = (struct virtio_net_hdr){.gso_type = 1};
    assert_int_equal(virtio_net_receive(f->net, &bh, frame, len), -EINVAL);
    assert_false(needs_reset(f));
}

static void test_backend_peer(void **state)
{
    struct fixture *f = *state;
    /* Frames delivered by the back-end reach the device; counted on both sides. */
    uint8_t frame[HDR + 64] = {0};
    pattern(frame + HDR, 64, 10);
    assert_int_equal(net_backend_deliver(&f->be.be, frame + HDR, 64), -EAGAIN);
    assert_int_equal(f->be.be.rx_dropped, 0);
    uint64_t a;
    post_rx(f, 2048, &a);
    assert_int_equal(net_backend_deliver(&f->be.be, frame + HDR, 64), 0);
    assert_memory_equal(f->ram + a + HDR, frame + HDR, 64);
    /* A vnet-header back-end puts the header in front. */
    f->be.be.vnet_hdr = true;
    post_rx(f, 2048, &a);
    assert_int_equal(net_backend_deliver(&f->be.be, frame, sizeof(frame)), 0);
    assert_memory_equal(f->ram + a + HDR, frame + HDR, 64);
    assert_int_equal(net_backend_deliver(&f->be.be, frame, 5), -EINVAL);
    assert_int_equal(f->be.be.rx_frames, 2);
    assert_int_equal(f->be.be.rx_dropped, 1);
}

static void test_link_and_config(void **state)
{
    struct fixture *f = *state;
    uint64_t offered = f->vdev->device_features;
    assert_true(offered & VIRTIO_F_BIT(VIRTIO_NET_F_MAC));
    assert_true(offered & VIRTIO_F_BIT(VIRTIO_NET_F_MRG_RXBUF));
    assert_true(offered & VIRTIO_F_BIT(VIRTIO_NET_F_STATUS));
    assert_int_equal(f->vdev->ops->device_id, VIRTIO_ID_NET);
    assert_int_equal(f->vdev->num_queues, 2);
    for (unsigned i = 0; i < 6; i++) {
        assert_int_equal(virtio_dev_config_read(f->vdev, i, 1), mac[i]);
    }
    assert_int_equal(virtio_dev_config_read(f->vdev, 6, 2), VIRTIO_NET_S_LINK_UP);
    assert_int_equal(virtio_dev_config_read(f->vdev, 8, 2), 1);
    assert_int_equal(virtio_dev_config_read(f->vdev, 10, 1), 0); /* past the end */
    /* Driver writes change nothing. */
    virtio_dev_config_write(f->vdev, 0, 0xff, 1);
    assert_int_equal(virtio_dev_config_read(f->vdev, 0, 1), mac[0]);

    uint8_t gen = f->vdev->config_generation;
    virtio_net_set_link(f->net, false);
    assert_int_equal(virtio_dev_config_read(f->vdev, 6, 2), 0);
    assert_int_equal(f->config_irqs, 1);
    assert_int_not_equal(f->vdev->config_generation, gen);
    uint8_t frame[64] = {0};
    post_rx(f, 2048, NULL);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), -ENETDOWN);
    struct virtio_net_hdr h = {0};
    post_tx(f, &h, frame, sizeof(frame), 1);
    kick(f, VIRTIO_NET_TXQ);
    assert_int_equal(f->be.sent, 0); /* no cable: dropped, but the buffer comes back */
    assert_int_equal(vdrv_used_idx(&f->tx), 1);
    unsigned ready = f->be.rx_ready;
    virtio_net_set_link(f->net, true);
    assert_int_equal(f->be.rx_ready, ready + 1);
    assert_int_equal(virtio_net_receive(f->net, NULL, frame, sizeof(frame)), 0);
}

static void test_state(void **state)
{
    struct fixture *f = *state;
    struct device secs[8];
    assert_int_equal(virtio_net_state_sections(f->net, secs, 8), 4);
    assert_string_equal(secs[0].name, "virtio-net");
    assert_string_equal(secs[1].name, "virtio-net.q0");
    assert_string_equal(secs[3].name, "virtio-net.nic");
    assert_ptr_equal(secs[3].state, &virtio_net_vmstate);

    virtio_net_set_link(f->net, false);
    uint8_t buf[64];
    long n = vmstate_save(&virtio_net_vmstate, f->net, buf, sizeof(buf));
    assert_true(n > 0);
    /* Into a fresh device with another MAC. */
    const uint8_t mac2[6] = {0x52, 0x54, 0, 0, 0, 1};
    struct virtio_net *g = virtio_net_create(&f->mem, mac2, NULL);
    assert_non_null(g);
    assert_int_equal(vmstate_load(&virtio_net_vmstate, g, buf, (size_t)n), 0);
    struct virtio_dev *gv = virtio_net_vdev(g);
    assert_int_equal(virtio_dev_config_read(gv, 0, 1), mac[0]);
    assert_int_equal(virtio_dev_config_read(gv, 5, 1), mac[5]);
    assert_int_equal(virtio_dev_config_read(gv, 6, 2), 0);
    uint8_t again[64];
    assert_int_equal(vmstate_save(&virtio_net_vmstate, g, again, sizeof(again)), n);
    assert_memory_equal(buf, again, (size_t)n);

    /* Hostile states: a multicast MAC, an unknown status bit. */
    size_t payload = 8; /* u32 version, u32 length */
    uint8_t bad[64];
    memcpy(bad, buf, (size_t)n);
    bad[payload] |= 1;
    assert_int_equal(vmstate_load(&virtio_net_vmstate, g, bad, (size_t)n), -EINVAL);
    memcpy(bad, buf, (size_t)n);
    bad[payload + 6] = 2;
    assert_int_equal(vmstate_load(&virtio_net_vmstate, g, bad, (size_t)n), -EINVAL);
    assert_int_equal(virtio_dev_config_read(gv, 0, 1), mac[0]); /* unchanged */
    virtio_net_destroy(g);
    virtio_net_destroy(NULL);
}

static void test_parsers(void **state)
{
    uint8_t m[6];
    assert_int_equal(net_mac_parse("52:54:00:AB:cd:0f", m), 0);
    assert_memory_equal(m, "\x52\x54\x00\xab\xcd\x0f", 6);
    assert_int_equal(net_mac_parse("01:00:5e:00:00:01", m), -EINVAL); /* multicast */
    assert_int_equal(net_mac_parse("00:00:00:00:00:00", m), -EINVAL);
    assert_int_equal(net_mac_parse("52:54:00:12:34", m), -EINVAL);
    assert_int_equal(net_mac_parse("52:54:00:12:34:567", m), -EINVAL);
    assert_int_equal(net_mac_parse("52-54-00-12-34-56", m), -EINVAL);

    struct net_hostfwd h;
    assert_int_equal(net_hostfwd_parse("tcp:127.0.0.1:2222-:22", &h), 0);
    assert_false(h.udp);
    assert_int_equal(h.host_addr, htonl(0x7f000001));
    assert_int_equal(h.host_port, 2222);
    assert_int_equal(h.guest_addr, 0);
    assert_int_equal(h.guest_port, 22);
    assert_int_equal(net_hostfwd_parse("udp::5353-10.0.2.20:53", &h), 0);
    assert_true(h.udp);
    assert_int_equal(h.host_addr, htonl(0x7f000001)); /* default: loopback only */
    assert_int_equal(h.guest_addr, htonl(0x0a000214));
    assert_int_equal(h.guest_port, 53);
    assert_int_equal(net_hostfwd_parse("::8080-:80", &h), 0);
    assert_int_equal(net_hostfwd_parse("tcp:0.0.0.0:8080-:80", &h), 0);
    assert_int_equal(h.host_addr, 0);
    assert_int_equal(net_hostfwd_parse("sctp::1-:2", &h), -EINVAL);
    assert_int_equal(net_hostfwd_parse("tcp::2222", &h), -EINVAL);
    assert_int_equal(net_hostfwd_parse("tcp::0-:22", &h), -EINVAL);
    assert_int_equal(net_hostfwd_parse("tcp::65536-:22", &h), -EINVAL);
    assert_int_equal(net_hostfwd_parse("tcp::22x-:22", &h), -EINVAL);
    assert_int_equal(net_hostfwd_parse("tcp:300.1.1.1:22-:22", &h), -EINVAL);
    assert_int_equal(net_hostfwd_parse("tcp::1-:2-:3", &h), -EINVAL);
    assert_int_equal(net_hostfwd_parse("tcp::1-2", &h), -EINVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_tx_frame),
        T(test_tx_checksum_in_software),
        T(test_tx_vnet_hdr_backend),
        T(test_tx_guest_faults),
        T(test_tx_runts_and_giants_dropped),
        T(test_rx_one_buffer),
        T(test_rx_mergeable),
        T(test_rx_backpressure),
        T(test_rx_small_buffer_without_merge),
        T(test_rx_guest_faults),
        T(test_rx_backend_checksum),
        T(test_backend_peer),
        T(test_link_and_config),
        T(test_state),
        cmocka_unit_test(test_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
