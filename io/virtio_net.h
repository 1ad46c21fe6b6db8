/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio network device (virtio 1.x 5.1, device id 1): one receive and one transmit queue,
 * a fixed MAC, link status, mergeable receive buffers and checksum offload in both
 * directions (done in software when the back-end cannot take it). Frames go to and come
 * from a struct net_backend (io/net.h).
 */
#ifndef DESKVM_IO_VIRTIO_NET_H
#define DESKVM_IO_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/net.h"
#include "io/virtio.h"

struct device;
struct guest_mem;

#define VIRTIO_ID_NET 1

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

#define VIRTIO_NET_S_LINK_UP 1

#define VIRTIO_NET_RXQ 0
#define VIRTIO_NET_TXQ 1
#define VIRTIO_NET_QUEUE_SIZE 256
/* mac[6], status, max_virtqueue_pairs (reads 1). */
#define VIRTIO_NET_CONFIG_SIZE 10
#define VIRTIO_NET_MAX_IOV 64

struct virtio_net;

/*
 * A device on mem with MAC mac whose frames go to be (may be NULL: a NIC with no cable; its
 * frames are dropped). The device becomes be's peer. Returns NULL on allocation failure.
 */
struct virtio_net *virtio_net_create(const struct guest_mem *mem, const uint8_t mac[6],
                                     struct net_backend *be);
/* Accepts NULL. Does not free the back-end. */
void virtio_net_destroy(struct virtio_net *net);
/* The transport-facing device (virtio_machine_add(), virtio_dev_set_interrupt(), ...). */
struct virtio_dev *virtio_net_vdev(struct virtio_net *net);

/*
 * A frame from the network: hdr is the back-end's virtio-net header (NULL: none, no
 * offloads). Returns 0 (delivered), -EAGAIN (the driver has posted too few buffers: hold it
 * and retry after net_backend_rx_ready), -ENETDOWN (driver not ready or link down) or
 * -EMSGSIZE / -EINVAL (dropped).
 */
int virtio_net_receive(struct virtio_net *net, const struct virtio_net_hdr *hdr,
                       const uint8_t *frame, size_t len);
/* Cable plugged in or pulled; the driver hears it through the config interrupt. */
void virtio_net_set_link(struct virtio_net *net, bool up);

struct virtio_net_stats {
    uint64_t tx_frames, tx_dropped, rx_frames, rx_dropped;
    uint64_t tx_bytes, rx_bytes; /* frame bytes without the virtio-net header */
};
void virtio_net_get_stats(const struct virtio_net *net, struct virtio_net_stats *out);

/* Snapshot sections: the common virtio ones, then "virtio-net" (MAC, link status). */
unsigned virtio_net_state_sections(struct virtio_net *net, struct device *out, unsigned max);
extern const struct vmstate virtio_net_vmstate;

#endif
