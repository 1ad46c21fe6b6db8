/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * net_guest.h: the guest test kit's network stack: a polling virtio-net driver (virtio 1.x
 * 5.1, no offloads, no mergeable buffers) and just enough Ethernet, ARP, IPv4, UDP (a DHCP
 * client, RFC 2131) and TCP (RFC 793: active and passive open, go-back-N retransmission, no
 * options but MSS) to talk to user-mode networking (slirp) at CPL3 on deskvm and QEMU.
 * One interface, addresses in host byte order.
 */
#ifndef DESKVM_GUEST_NET_H
#define DESKVM_GUEST_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "virtio_guest.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_NET_F_CSUM 0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

struct net_info {
    uint8_t mac[6];
    uint32_t ip, mask, router, dns, server; /* from DHCP; 0 before */
    uint8_t gw_mac[6];                      /* the router's, from ARP */
    bool gw_known;
    uint64_t features; /* negotiated */
    /* counters */
    uint64_t rx_frames, tx_frames, rx_bad, tx_kicks, rx_kicks;
    uint64_t rx_partial; /* received with NEEDS_CSUM (GUEST_CSUM), completed here */
    uint64_t tx_partial; /* sent with NEEDS_CSUM (CSUM): the device or the host completes it */
};
extern struct net_info net;

/* Finds and starts the first virtio-net device, posts the receive buffers. 0 or negative. */
int vnet_init(void);
/*
 * vnet_init asking also for want (1ull << VIRTIO_NET_F_CSUM, _GUEST_CSUM, _MRG_RXBUF: what
 * the device grants lands in net.features). CSUM: TCP segments go out with NEEDS_CSUM and
 * only the pseudo-header sum; GUEST_CSUM: NEEDS_CSUM frames are completed before the usual
 * checks; MRG_RXBUF: num_buffers must be 1 (every buffer holds a whole frame).
 */
int vnet_init_features(uint64_t want);
/*
 * Receives everything the device has returned (ARP answered, TCP segments to their
 * connection), reclaims transmit buffers, runs the TCP retransmission timers and sends what
 * the connections may send. Tests call it in their wait loops.
 */
void net_poll(void);
/* The device status register (NEEDS_RESET shows a frame the device refused). */
uint8_t vnet_status(void);
/* Milliseconds since vnet_init (calibrated TSC). */
uint64_t net_ms(void);

/* DISCOVER, OFFER, REQUEST, ACK; fills net.ip/mask/router/dns/server. 0 or negative. */
int dhcp_run(unsigned timeout_ms);
/* ARP request for ip; on a reply the MAC lands in net.gw_mac (ip must be the router). */
int arp_resolve_router(unsigned timeout_ms);

enum tcp_state {
    TCP_CLOSED,
    TCP_LISTEN,
    TCP_SYN_SENT,
    TCP_SYN_RCVD,
    TCP_ESTABLISHED,
    TCP_RESET, /* the peer sent RST */
};

/* Supplies the bytes [off, off + n) of the outgoing stream (for sending and resending). */
typedef void (*tcp_fill_fn)(void *ctx, uint64_t off, uint8_t *dst, uint32_t n);

#define TCP_SBUF 2048
#define TCP_RBUF 4096
struct tcp_conn {
    enum tcp_state state;
    uint16_t lport, rport;
    uint32_t rip;
    uint32_t iss, snd_una, snd_nxt, snd_wnd, rcv_nxt;
    uint16_t mss;
    uint64_t snd_total; /* stream bytes queued so far */
    tcp_fill_fn fill;   /* NULL: the bytes come from sbuf */
    void *fill_ctx;
    bool fin_wanted, fin_sent, fin_acked, peer_fin, ack_pending;
    uint64_t progress_ms; /* last time snd_una moved or a send began */
    unsigned rto_ms, retransmits;
    uint32_t rlen; /* bytes in rbuf */
    uint8_t sbuf[TCP_SBUF];
    uint8_t rbuf[TCP_RBUF];
    struct tcp_conn *next;
};

/* Active open from local port lport to ip:port. */
void tcp_connect(struct tcp_conn *c, uint32_t ip, uint16_t port, uint16_t lport);
/* Passive open on lport: the first SYN to it is accepted. */
void tcp_listen(struct tcp_conn *c, uint16_t lport);
/* Queues n bytes (at most TCP_SBUF over the connection's life); returns the count taken. */
uint32_t tcp_write(struct tcp_conn *c, const void *p, uint32_t n);
/* Queues total stream bytes produced by fill (instead of tcp_write). */
void tcp_stream(struct tcp_conn *c, uint64_t total, tcp_fill_fn fill, void *ctx);
/* Takes up to n received bytes. */
uint32_t tcp_read(struct tcp_conn *c, void *p, uint32_t n);
/* Sends FIN after the queued data. */
void tcp_close(struct tcp_conn *c);
/* Every queued byte (and a FIN, if closed) acknowledged. */
bool tcp_all_acked(const struct tcp_conn *c);

#endif
