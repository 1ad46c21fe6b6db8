// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio network device (virtio 1.x 5.1): transmit chains are a virtio-net header and one
 * Ethernet frame, copied out of guest memory, checksummed when the driver asked for it and
 * the back-end cannot, and sent; received frames fill one receive buffer, or several with
 * VIRTIO_NET_F_MRG_RXBUF (num_buffers says how many). With no buffers posted, a frame is
 * refused with -EAGAIN so the back-end holds it until the driver posts more.
 */
#include "io/virtio_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/device.h"

/* Counters are bumped on the queue's thread and read by QMP (query-netstats) on the event loop:
 * relaxed atomics, so a reader never sees a torn value. */
#define STAT_ADD(net, field, n) __atomic_fetch_add(&(net)->stats.field, (n), __ATOMIC_RELAXED)

struct virtio_net {
    struct virtio_dev vdev;
    struct net_backend *be;
    struct virtio_net_stats stats;

    /* Saved (virtio_net_vmstate). */
    uint8_t mac[6];
    uint16_t link_status; /* VIRTIO_NET_S_LINK_UP or 0 */

    uint8_t *txbuf; /* header + largest frame: a chain is copied out once, then parsed */
    uint8_t *rxbuf; /* a received frame whose checksum we complete in software */
    struct iovec rd_iov[VIRTIO_NET_MAX_IOV];
    struct iovec wr_iov[VIRTIO_NET_MAX_IOV];
    struct iovec first_wr[VIRTIO_NET_MAX_IOV]; /* the receive element holding the header */
    /* Receive elements used for one frame (mergeable buffers), at most one per queue entry. */
    struct virtq_elem rx_elems[VIRTIO_NET_QUEUE_SIZE];
    uint32_t rx_lens[VIRTIO_NET_QUEUE_SIZE];
};

static uint64_t net_features(void)
{
    return VIRTIO_F_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_F_BIT(VIRTIO_NET_F_GUEST_CSUM) |
           VIRTIO_F_BIT(VIRTIO_NET_F_MAC) | VIRTIO_F_BIT(VIRTIO_NET_F_MRG_RXBUF) |
           VIRTIO_F_BIT(VIRTIO_NET_F_STATUS);
}

static bool has(const struct virtio_net *net, unsigned bit)
{
    return virtio_dev_has_feature(&net->vdev, bit);
}

/*
 * Complete a partial checksum the way Linux's skb_checksum_help() does: the field at
 * csum_start + csum_offset holds the pseudo-header sum; sum from csum_start to the end and
 * store the complement (0 goes out as 0xffff, which means the same).
 */
static void csum_complete(uint8_t *frame, size_t len, uint16_t start, uint16_t offset)
{
    uint16_t c = (uint16_t)~net_csum_fold(net_csum_add(0, frame + start, len - start));
    if (c == 0) {
        c = 0xffff;
    }
    c = htons(c);
    memcpy(frame + start + offset, &c, 2);
}

static bool csum_in_range(const struct virtio_net_hdr *h, size_t len)
{
    return (size_t)h->csum_start + h->csum_offset + 2 <= len;
}

/* One transmit chain. Returns 0 (sent or dropped) or -EINVAL (a guest fault, reported). */
static int tx_one(struct virtio_net *net, const struct virtq_elem *e)
{
    struct virtio_dev *vdev = &net->vdev;
    if (e->wr_num) { /* guest-controlled */
        virtio_dev_set_error(vdev, "transmit chain %u has device-writable buffers", e->head);
        return -EINVAL;
    }
    if (e->rd_len < VIRTIO_NET_HDR_SIZE) { /* guest-controlled */
        virtio_dev_set_error(vdev, "transmit chain %u: %llu bytes, shorter than the header",
                             e->head, (unsigned long long)e->rd_len);
        return -EINVAL;
    }
    uint64_t flen = e->rd_len - VIRTIO_NET_HDR_SIZE;
    if (flen > NET_FRAME_MAX || flen < NET_ETH_HLEN) { /* guest-controlled */
        /* Not a frame any wire carries: dropped, like a NIC drops a giant or a runt. */
        STAT_ADD(net, tx_dropped, 1);
        return 0;
    }
    virtq_elem_read(e, 0, net->txbuf, e->rd_len);
    struct virtio_net_hdr h;
    memcpy(&h, net->txbuf, sizeof(h));
    uint8_t *frame = net->txbuf + VIRTIO_NET_HDR_SIZE;
    if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) { /* guest-controlled: no GSO was offered */
        virtio_dev_set_error(vdev, "transmit chain %u: GSO type %u, not offered", e->head,
                             h.gso_type);
        return -EINVAL;
    }
    /* Unknown flag bits are ignored (5.1.6.2.2); only NEEDS_CSUM asks anything of us. */
    bool partial = (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && has(net, VIRTIO_NET_F_CSUM);
    if (partial && !csum_in_range(&h, flen)) { /* guest-controlled */
        virtio_dev_set_error(vdev,
                             "transmit chain %u: checksum at %u+%u outside the %llu-byte frame",
                             e->head, h.csum_start, h.csum_offset, (unsigned long long)flen);
        return -EINVAL;
    }
    if (!net->be || !(net->link_status & VIRTIO_NET_S_LINK_UP)) {
        STAT_ADD(net, tx_dropped, 1);
        return 0;
    }
    int r;
    if (net->be->vnet_hdr) {
        /* The back-end completes checksums itself; hand it a clean header. */
        struct virtio_net_hdr out = {0};
        if (partial) {
            out.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
            out.csum_start = h.csum_start;
            out.csum_offset = h.csum_offset;
        }
        memcpy(net->txbuf, &out, sizeof(out));
        r = net_backend_send(net->be, net->txbuf, VIRTIO_NET_HDR_SIZE + flen);
    } else {
        if (partial) {
            csum_complete(frame, flen, h.csum_start, h.csum_offset);
        }
        r = net_backend_send(net->be, frame, flen);
    }
    if (r < 0) {
        STAT_ADD(net, tx_dropped, 1);
    } else {
        STAT_ADD(net, tx_frames, 1);
        STAT_ADD(net, tx_bytes, flen);
    }
    return 0;
}

static void tx_drain(struct virtio_net *net)
{
    struct virtqueue *vq = &net->vdev.vqs[VIRTIO_NET_TXQ];
    struct virtq_elem e = {
        .rd = net->rd_iov,
        .rd_max = VIRTIO_NET_MAX_IOV,
        .wr = net->wr_iov,
        .wr_max = VIRTIO_NET_MAX_IOV,
    };
    bool pushed = false;
    for (;;) {
        int r;
        virtqueue_set_notification(vq, false);
        while ((r = virtqueue_pop(vq, &e)) > 0) {
            if (tx_one(net, &e) < 0) {
                goto out; /* the device waits for a reset; the bad chain is not returned */
            }
            virtqueue_push(vq, &e, 0);
            pushed = true;
        }
        virtqueue_set_notification(vq, true);
        if (r < 0 || virtqueue_empty(vq)) {
            break;
        }
    }
out:
    if (pushed) {
        virtio_dev_notify_queue(&net->vdev, VIRTIO_NET_TXQ);
    }
}

/*
 * The header the driver sees for a frame the back-end described with bh (NULL: nothing
 * known). Returns -EINVAL for a back-end header we cannot honour.
 */
static int rx_header(struct virtio_net *net, const struct virtio_net_hdr *bh, const uint8_t **frame,
                     size_t len, struct virtio_net_hdr *out)
{
    memset(out, 0, sizeof(*out));
    if (!bh) {
        return 0;
    }
    if (bh->gso_type != VIRTIO_NET_HDR_GSO_NONE) {
        return -EINVAL; /* no back-end is given GSO offloads */
    }
    bool guest_csum = has(net, VIRTIO_NET_F_GUEST_CSUM);
    if (bh->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (!csum_in_range(bh, len)) {
            return -EINVAL;
        }
        if (guest_csum) {
            out->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
            out->csum_start = bh->csum_start;
            out->csum_offset = bh->csum_offset;
        } else {
            memcpy(net->rxbuf, *frame, len);
            csum_complete(net->rxbuf, len, bh->csum_start, bh->csum_offset);
            *frame = net->rxbuf;
        }
    } else if ((bh->flags & VIRTIO_NET_HDR_F_DATA_VALID) && guest_csum) {
        out->flags = VIRTIO_NET_HDR_F_DATA_VALID;
    }
    return 0;
}

int virtio_net_receive(struct virtio_net *net, const struct virtio_net_hdr *bh,
                       const uint8_t *frame, size_t len)
{
    struct virtio_dev *vdev = &net->vdev;
    struct virtqueue *vq = &vdev->vqs[VIRTIO_NET_RXQ];
    if (!virtio_dev_live(vdev) || !virtqueue_is_ready(vq) ||
        !(net->link_status & VIRTIO_NET_S_LINK_UP)) {
        return -ENETDOWN;
    }
    struct virtio_net_hdr hdr;
    if (len < NET_ETH_HLEN || len > NET_FRAME_MAX || rx_header(net, bh, &frame, len, &hdr) < 0) {
        STAT_ADD(net, rx_dropped, 1);
        return len > NET_FRAME_MAX ? -EMSGSIZE : -EINVAL;
    }
    bool mergeable = has(net, VIRTIO_NET_F_MRG_RXBUF);
    unsigned n = 0;
    size_t done = 0; /* frame bytes placed */
    while (n == 0 || done < len) {
        if (n == VIRTIO_NET_QUEUE_SIZE) {
            virtqueue_unpop(vq, n); /* more buffers than a queue holds: cannot happen */
            return -EAGAIN;
        }
        struct virtq_elem *e = &net->rx_elems[n];
        *e = (struct virtq_elem){
            .rd = net->rd_iov,
            .rd_max = VIRTIO_NET_MAX_IOV,
            .wr = n == 0 ? net->first_wr : net->wr_iov,
            .wr_max = VIRTIO_NET_MAX_IOV,
        };
        int r = virtqueue_pop(vq, e);
        if (r == 0) {
            /* Too few buffers: give back what we took; the back-end holds the frame. */
            virtqueue_unpop(vq, n);
            return -EAGAIN;
        }
        if (r < 0) {
            return -EIO; /* malformed chain: the core put the device into its error state */
        }
        if (e->rd_num) { /* guest-controlled */
            virtio_dev_set_error(vdev, "receive buffer %u has device-readable parts", e->head);
            return -EIO;
        }
        if (n == 0 && e->wr_len < VIRTIO_NET_HDR_SIZE) { /* guest-controlled */
            virtio_dev_set_error(vdev, "receive buffer %u: %llu bytes, shorter than the header",
                                 e->head, (unsigned long long)e->wr_len);
            return -EIO;
        }
        if (!mergeable && e->wr_len < VIRTIO_NET_HDR_SIZE + len) {
            /*
             * Without mergeable buffers the driver must post buffers that hold any frame
             * (5.1.6.3.1); this one does not, so the frame is dropped and the buffer kept.
             */
            virtqueue_unpop(vq, 1);
            STAT_ADD(net, rx_dropped, 1);
            return -EMSGSIZE;
        }
        size_t at = n == 0 ? VIRTIO_NET_HDR_SIZE : 0;
        size_t room = e->wr_len - at;
        size_t take = len - done < room ? len - done : room;
        virtq_elem_write(e, at, frame + done, take);
        net->rx_lens[n] = (uint32_t)(at + take);
        done += take;
        n++;
    }
    hdr.num_buffers = (uint16_t)n; /* 1 without MRG_RXBUF (5.1.6.4.1) */
    virtq_elem_write(&net->rx_elems[0], 0, &hdr, VIRTIO_NET_HDR_SIZE);
    for (unsigned i = 0; i < n; i++) {
        virtqueue_push(vq, &net->rx_elems[i], net->rx_lens[i]);
    }
    virtio_dev_notify_queue(vdev, VIRTIO_NET_RXQ);
    STAT_ADD(net, rx_frames, 1);
    STAT_ADD(net, rx_bytes, len);
    return 0;
}

static int peer_receive(void *opaque, const uint8_t *frame, size_t len)
{
    struct virtio_net *net = opaque;
    if (net->be && net->be->vnet_hdr) {
        if (len < VIRTIO_NET_HDR_SIZE) {
            return -EINVAL;
        }
        struct virtio_net_hdr h;
        memcpy(&h, frame, sizeof(h));
        return virtio_net_receive(net, &h, frame + VIRTIO_NET_HDR_SIZE, len - VIRTIO_NET_HDR_SIZE);
    }
    return virtio_net_receive(net, NULL, frame, len);
}

static void net_queue_notify(void *opaque, unsigned q)
{
    struct virtio_net *net = opaque;
    if (q == VIRTIO_NET_TXQ) {
        tx_drain(net);
    } else if (q == VIRTIO_NET_RXQ) {
        net_backend_rx_ready(net->be); /* fresh buffers: held frames can come in */
    }
}

static uint64_t net_config_read(void *opaque, uint32_t off, unsigned size)
{
    struct virtio_net *net = opaque;
    uint8_t cfg[VIRTIO_NET_CONFIG_SIZE];
    uint16_t pairs = 1;
    memcpy(cfg, net->mac, 6);
    memcpy(cfg + 6, &net->link_status, 2);
    memcpy(cfg + 8, &pairs, 2);
    uint64_t v = 0;
    memcpy(&v, cfg + off, size);
    return v;
}

static void net_set_status(void *opaque, uint8_t old_status, uint8_t new_status)
{
    struct virtio_net *net = opaque;
    if (!(old_status & VIRTIO_STATUS_DRIVER_OK) && (new_status & VIRTIO_STATUS_DRIVER_OK)) {
        net_backend_rx_ready(net->be);
    }
}

/* Config writes: the 1.x driver writes no field (the MAC changes only over a control queue). */
static const struct virtio_ops net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .config_size = VIRTIO_NET_CONFIG_SIZE,
    .config_read = net_config_read,
    .queue_notify = net_queue_notify,
    .set_status = net_set_status,
};

struct virtio_net *virtio_net_create(const struct guest_mem *mem, const uint8_t mac[6],
                                     struct net_backend *be)
{
    struct virtio_net *net = calloc(1, sizeof(*net));
    if (!net) {
        return NULL;
    }
    net->txbuf = malloc(VIRTIO_NET_HDR_SIZE + NET_FRAME_MAX);
    net->rxbuf = malloc(NET_FRAME_MAX);
    if (!net->txbuf || !net->rxbuf ||
        virtio_dev_init(&net->vdev, &net_ops, net, mem, net_features(), 2, VIRTIO_NET_QUEUE_SIZE) <
            0) {
        virtio_net_destroy(net);
        return NULL;
    }
    memcpy(net->mac, mac, 6);
    net->link_status = VIRTIO_NET_S_LINK_UP;
    net->be = be;
    if (be) {
        net_backend_set_peer(be, peer_receive, net);
    }
    return net;
}

void virtio_net_destroy(struct virtio_net *net)
{
    if (!net) {
        return;
    }
    if (net->be && net->be->peer == net) {
        net_backend_set_peer(net->be, NULL, NULL);
    }
    free(net->txbuf);
    free(net->rxbuf);
    free(net);
}

struct virtio_dev *virtio_net_vdev(struct virtio_net *net)
{
    return &net->vdev;
}

void virtio_net_set_link(struct virtio_net *net, bool up)
{
    uint16_t s = up ? VIRTIO_NET_S_LINK_UP : 0;
    if (s == net->link_status) {
        return;
    }
    net->link_status = s;
    virtio_dev_config_changed(&net->vdev);
    if (up) {
        net_backend_rx_ready(net->be);
    }
}

void virtio_net_get_stats(const struct virtio_net *net, struct virtio_net_stats *out)
{
    out->tx_frames = __atomic_load_n(&net->stats.tx_frames, __ATOMIC_RELAXED);
    out->tx_dropped = __atomic_load_n(&net->stats.tx_dropped, __ATOMIC_RELAXED);
    out->tx_bytes = __atomic_load_n(&net->stats.tx_bytes, __ATOMIC_RELAXED);
    out->rx_frames = __atomic_load_n(&net->stats.rx_frames, __ATOMIC_RELAXED);
    out->rx_dropped = __atomic_load_n(&net->stats.rx_dropped, __ATOMIC_RELAXED);
    out->rx_bytes = __atomic_load_n(&net->stats.rx_bytes, __ATOMIC_RELAXED);
}

static int net_post_load(void *opaque)
{
    struct virtio_net *net = opaque;
    /* Saved state is hostile input: only the link bit, and a unicast station address. */
    if ((net->link_status & ~VIRTIO_NET_S_LINK_UP) || (net->mac[0] & 1)) {
        return -EINVAL;
    }
    return 0;
}

static const struct vmstate_field net_fields[] = {
    VMSTATE_ARRAY(struct virtio_net, mac),
    VMSTATE_FIELD(struct virtio_net, link_status),
    VMSTATE_END,
};

const struct vmstate virtio_net_vmstate = {
    .name = "virtio-net",
    .version = 1,
    .fields = net_fields,
    .post_load = net_post_load,
};

unsigned virtio_net_state_sections(struct virtio_net *net, struct device *out, unsigned max)
{
    unsigned n = virtio_dev_state_sections(&net->vdev, out, max);
    if (n < max) {
        out[n] = (struct device){
            .name = "virtio-net.nic",
            .opaque = net,
            .state = &virtio_net_vmstate,
        };
    }
    return n + 1;
}
