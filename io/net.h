/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Network back-ends: where a NIC model's Ethernet frames go. A back-end (user-mode NAT via
 * libslirp, a host tap device) sends frames from the guest out and hands frames from the
 * network to its peer, the NIC, with flow control: the peer may refuse a frame for now
 * (-EAGAIN), and the back-end then holds it and stops reading until the peer calls
 * net_backend_rx_ready(). Back-ends register their fds and timers on the engine's event loop.
 */
#ifndef DESKVM_IO_NET_H
#define DESKVM_IO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evloop;
struct net_backend;

/* The virtio-net header (virtio 1.x 5.1.6, struct virtio_net_hdr_v1), little endian. */
struct virtio_net_hdr {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
};
#define VIRTIO_NET_HDR_SIZE 12
#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE 0

#define NET_ETH_HLEN 14
/* Largest frame either direction carries, header excluded (64 KiB, the spec's GSO bound). */
#define NET_FRAME_MAX 65536

/*
 * The peer's receive function. frame starts with a struct virtio_net_hdr when the back-end
 * has vnet_hdr set. Returns 0 (taken), -EAGAIN (no room now: hold it, wait for
 * net_backend_rx_ready) or another -errno (dropped: the peer is down or the frame unusable).
 */
typedef int (*net_receive_fn)(void *opaque, const uint8_t *frame, size_t len);

struct net_backend_ops {
    const char *kind; /* "user", "tap" */
    /*
     * Send one frame to the network (with a virtio-net header in front when vnet_hdr).
     * Returns 0 or -errno; a back-end that cannot take it now drops it (the guest's TCP
     * retransmits), as a real wire would.
     */
    int (*send)(struct net_backend *be, const uint8_t *frame, size_t len);
    /* The peer has room again: deliver held frames, resume reading. */
    void (*rx_ready)(struct net_backend *be);
    void (*destroy)(struct net_backend *be);
};

/* Embedded first in each back-end's own struct. */
struct net_backend {
    const struct net_backend_ops *ops;
    /* Frames in both directions carry a struct virtio_net_hdr in front (tap with IFF_VNET_HDR). */
    bool vnet_hdr;
    net_receive_fn receive;
    void *peer;
    uint64_t tx_frames, rx_frames, rx_dropped;
};

/* The NIC this back-end delivers to. Until set, frames from the network are dropped. */
void net_backend_set_peer(struct net_backend *be, net_receive_fn receive, void *peer);
int net_backend_send(struct net_backend *be, const uint8_t *frame, size_t len);
void net_backend_rx_ready(struct net_backend *be);
/* Accepts NULL. */
void net_backend_free(struct net_backend *be);
/* For back-ends: hand one frame to the peer (counts it; 0, -EAGAIN or dropped). */
int net_backend_deliver(struct net_backend *be, const uint8_t *frame, size_t len);

/* A host port forwarded to a guest port (user networking), addresses in network byte order. */
struct net_hostfwd {
    bool udp;
    uint32_t host_addr; /* default 127.0.0.1: only this host can reach the guest */
    uint16_t host_port;
    uint32_t guest_addr; /* 0: the first DHCP address, 10.0.2.15 */
    uint16_t guest_port;
};

/*
 * QEMU's syntax: "tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT" (or udp:, or no protocol
 * meaning tcp). Ports 1..65535 (host port 0: any free port is not supported). Returns 0 or
 * -EINVAL.
 */
int net_hostfwd_parse(const char *s, struct net_hostfwd *out);
/* "52:54:00:12:34:56" → 6 bytes; refuses multicast and all-zero addresses (-EINVAL). */
int net_mac_parse(const char *s, uint8_t mac[6]);

/* User-mode networking (libslirp): 10.0.2.0/24, gateway/host .2, DNS .3, DHCP from .15. */
struct net_user_config {
    const struct net_hostfwd *hostfwd;
    unsigned nhostfwd;
};
#define NET_USER_HELD_MAX 256 /* frames held for a peer without buffers; more are dropped */
/* Returns 0 or -errno with one line in err (e.g. a hostfwd port that cannot be bound). */
__attribute__((warn_unused_result)) int net_user_create(struct evloop *loop,
                                                        const struct net_user_config *cfg,
                                                        struct net_backend **out, char *err,
                                                        size_t errlen);

/*
 * A host tap device (/dev/net/tun), created or attached by name (NULL: the kernel picks
 * tapN), with IFF_VNET_HDR when the kernel has it. Returns 0 or -errno with one line in err
 * that says what to do about missing permissions.
 */
__attribute__((warn_unused_result)) int net_tap_create(struct evloop *loop, const char *ifname,
                                                       struct net_backend **out, char *err,
                                                       size_t errlen);
/* As net_tap_create, with another clone device than /dev/net/tun (tests). */
__attribute__((warn_unused_result)) int net_tap_create_dev(struct evloop *loop, const char *dev,
                                                           const char *ifname,
                                                           struct net_backend **out, char *err,
                                                           size_t errlen);

/* The Internet checksum (RFC 1071) over buf, folded but not complemented, added to sum. */
uint32_t net_csum_add(uint32_t sum, const uint8_t *buf, size_t len);
uint16_t net_csum_fold(uint32_t sum);

#endif
