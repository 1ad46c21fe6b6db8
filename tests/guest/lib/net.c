// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The guest kit's network stack (include/net_guest.h): a polling virtio-net driver (virtio
 * 1.x 5.1: 12-byte virtio_net_hdr_v1; on request checksum offload both ways and mergeable
 * buffers, which here always come one per frame as every receive buffer holds a whole frame) under
 * Ethernet, ARP (RFC 826), IPv4 (RFC 791, no fragments), UDP for a DHCP client (RFC 2131) and a
 * small TCP (RFC 793). Runs at CPL3 without interrupts. Frames come from the VMM: every length and
 * offset is checked before use.
 */
#include "net_guest.h"

#include "guest.h"

#define NET_HDR 12 /* struct virtio_net_hdr_v1 */
#define HDR_F_NEEDS_CSUM 1
#define ETH_HDR 14
#define IP_HDR 20
#define TCP_HDR 20
#define FRAME_MAX 1514
#define BUF_SIZE 2048
#define NBUF 64 /* per queue, = VQ_MAX */
#define MSS_MAX (1500 - IP_HDR - TCP_HDR)

#define ETH_ARP 0x0806
#define ETH_IP 0x0800
#define PROTO_TCP 6
#define PROTO_UDP 17

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

struct net_info net;

static struct vpci vdev;
static struct vq rxq, txq;
static struct vq_mem rx_ring, tx_ring;
static uint8_t rx_bufs[NBUF][BUF_SIZE] __attribute__((aligned(64)));
static uint8_t tx_bufs[NBUF][BUF_SIZE] __attribute__((aligned(64)));
static uint16_t tx_free[NBUF];
static unsigned tx_nfree;
static unsigned tx_pending;  /* posted since the last kick */
static unsigned rx_reposted; /* buffers given back since the last kick */
static uint64_t t0, tsc_per_ms;
static struct tcp_conn *conns;

/* DHCP client state, advanced from the receive path. */
static struct {
    uint32_t xid;
    int stage; /* 1 waiting for OFFER, 2 waiting for ACK, 3 done */
    uint32_t offered, server, mask, router, dns;
} dhcp;

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static void put16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Ones' complement sum (RFC 1071), not yet folded. */
static uint32_t csum_add(uint32_t sum, const uint8_t *p, uint32_t n)
{
    for (; n >= 2; p += 2, n -= 2) {
        sum += (uint32_t)(p[0] << 8 | p[1]);
    }
    if (n) {
        sum += (uint32_t)p[0] << 8;
    }
    return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)~sum;
}

uint64_t net_ms(void)
{
    return (rdtsc() - t0) / tsc_per_ms;
}

/* ---- rings -------------------------------------------------------------------------- */

static void ring_add(struct vq *q, uint16_t head, void *buf, uint32_t len, bool writable)
{
    volatile struct virtq_desc *d = &q->mem->desc[head];
    d->addr = (uintptr_t)buf;
    d->len = len;
    d->flags = writable ? VIRTQ_DESC_F_WRITE : 0;
    d->next = 0;
    ((volatile uint16_t *)q->mem->avail.ring)[q->avail_idx % q->size] = head;
    barrier();
    q->avail_idx++;
    *(volatile uint16_t *)&q->mem->avail.idx = q->avail_idx;
}

static bool ring_get(struct vq *q, uint32_t *id, uint32_t *len)
{
    if (*(volatile uint16_t *)&q->mem->used.idx == q->last_used) {
        return false;
    }
    barrier();
    volatile uint32_t *e = &q->mem->used.ring[q->last_used % q->size].id;
    *id = e[0];
    *len = e[1];
    q->last_used++;
    return true;
}

/* Notify unless the device said it does not need it (VIRTQ_USED_F_NO_NOTIFY). */
static bool ring_kick(struct vq *q)
{
    __asm__ volatile("mfence" ::: "memory");
    if (*(volatile uint16_t *)&q->mem->used.flags & 1) {
        return false;
    }
    mmio_write16(q->doorbell, (uint16_t)q->index);
    return true;
}

int vnet_init(void)
{
    return vnet_init_features(0);
}

int vnet_init_features(uint64_t want)
{
    if (tsc_per_ms == 0) {
        tsc_per_ms = tsc_hz() / 1000;
    }
    t0 = rdtsc();
    if (vpci_find(VIRTIO_ID_NET, 0, &vdev) < 0 || vpci_reset(&vdev) < 0 ||
        vpci_negotiate(&vdev, want | 1ull << VIRTIO_NET_F_MAC) < 0) {
        return -1;
    }
    net.features = vdev.features & (want | 1ull << VIRTIO_NET_F_MAC);
    if (!(vdev.features & (1ull << VIRTIO_NET_F_MAC)) || vdev.device_len < 6) {
        printf("virtio-net: no MAC in the device configuration\n");
        return -2;
    }
    for (unsigned i = 0; i < 6; i++) {
        net.mac[i] = mmio_read8(vdev.device + i);
    }
    if (vq_setup(&vdev, &rxq, 0, &rx_ring, NBUF) < 0 ||
        vq_setup(&vdev, &txq, 1, &tx_ring, NBUF) < 0) {
        return -3;
    }
    vpci_driver_ok(&vdev);
    uint8_t st = vpci_status(&vdev);
    if (!(st & VIRTIO_STATUS_DRIVER_OK) || (st & VIRTIO_STATUS_NEEDS_RESET)) {
        printf("virtio-net: status %#x after DRIVER_OK\n", st);
        return -4;
    }
    for (uint16_t i = 0; i < rxq.size; i++) {
        ring_add(&rxq, i, rx_bufs[i], BUF_SIZE, true);
    }
    ring_kick(&rxq);
    tx_nfree = 0;
    for (uint16_t i = 0; i < txq.size; i++) {
        tx_free[tx_nfree++] = i;
    }
    printf("virtio-net at 00:%02x.%u mac %02x:%02x:%02x:%02x:%02x:%02x, queues %u/%u\n", vdev.dev,
           vdev.fn, net.mac[0], net.mac[1], net.mac[2], net.mac[3], net.mac[4], net.mac[5],
           rxq.size, txq.size);
    return 0;
}

uint8_t vnet_status(void)
{
    return vpci_status(&vdev);
}

/* ---- transmit ----------------------------------------------------------------------- */

static void tx_reclaim(void)
{
    uint32_t id, len;
    while (ring_get(&txq, &id, &len)) {
        if (id < txq.size && tx_nfree < NBUF) { /* device-controlled */
            tx_free[tx_nfree++] = (uint16_t)id;
        } else {
            net.rx_bad++;
        }
    }
}

/* A frame buffer (the Ethernet header starts at the result), or NULL when all are in flight. */
static uint8_t *tx_alloc(uint16_t *slot)
{
    if (tx_nfree == 0) {
        tx_reclaim();
        if (tx_nfree == 0) {
            return NULL;
        }
    }
    *slot = tx_free[--tx_nfree];
    memset(tx_bufs[*slot], 0, NET_HDR);
    return tx_bufs[*slot] + NET_HDR;
}

static void tx_post(uint16_t slot, uint32_t frame_len)
{
    ring_add(&txq, slot, tx_bufs[slot], NET_HDR + frame_len, false);
    tx_pending++;
    net.tx_frames++;
}

static void tx_flush(void)
{
    if (tx_pending) {
        if (ring_kick(&txq)) {
            net.tx_kicks++;
        }
        tx_pending = 0;
    }
}

static void eth_fill(uint8_t *f, const uint8_t *dst, uint16_t type)
{
    memcpy(f, dst, 6);
    memcpy(f + 6, net.mac, 6);
    put16(f + 12, type);
}

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* IPv4 header at p for a payload of len bytes. */
static void ip_fill(uint8_t *p, uint32_t src, uint32_t dst, uint8_t proto, uint32_t len)
{
    static uint16_t ident;
    memset(p, 0, IP_HDR);
    p[0] = 0x45;
    put16(p + 2, (uint16_t)(IP_HDR + len));
    put16(p + 4, ident++);
    p[6] = 0x40; /* DF */
    p[8] = 64;
    p[9] = proto;
    put32(p + 12, src);
    put32(p + 16, dst);
    put16(p + 10, csum_fold(csum_add(0, p, IP_HDR)));
}

static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, uint32_t len)
{
    return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto + len;
}

static void arp_send(uint16_t op, const uint8_t *tha, uint32_t tpa)
{
    uint16_t slot;
    uint8_t *f = tx_alloc(&slot);
    if (!f) {
        return;
    }
    eth_fill(f, op == 1 ? bcast : tha, ETH_ARP);
    uint8_t *a = f + ETH_HDR;
    put16(a, 1);
    put16(a + 2, ETH_IP);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, op);
    memcpy(a + 8, net.mac, 6);
    put32(a + 14, net.ip);
    memcpy(a + 18, op == 1 ? (const uint8_t *)"\0\0\0\0\0\0" : tha, 6);
    put32(a + 24, tpa);
    tx_post(slot, 60); /* padded to the Ethernet minimum */
    tx_flush();
}

/* ---- receive ------------------------------------------------------------------------ */

static void arp_input(const uint8_t *a, uint32_t len)
{
    if (len < 28 || get16(a) != 1 || get16(a + 2) != ETH_IP || a[4] != 6 || a[5] != 4) {
        net.rx_bad++;
        return;
    }
    uint16_t op = get16(a + 6);
    uint32_t spa = get32(a + 14), tpa = get32(a + 24);
    if (net.router && spa == net.router) {
        memcpy(net.gw_mac, a + 8, 6);
        net.gw_known = true;
    }
    if (op == 1 && net.ip && tpa == net.ip) {
        arp_send(2, a + 8, spa);
    }
}

static void dhcp_input(const uint8_t *b, uint32_t len);
static void tcp_input(uint32_t src, uint32_t dst, const uint8_t *t, uint32_t len);

static void ip_input(const uint8_t *p, uint32_t len)
{
    if (len < IP_HDR || (p[0] >> 4) != 4) {
        net.rx_bad++;
        return;
    }
    uint32_t ihl = (p[0] & 0xfu) * 4u, tot = get16(p + 2);
    if (ihl < IP_HDR || tot < ihl || tot > len || csum_fold(csum_add(0, p, ihl)) != 0) {
        net.rx_bad++;
        return;
    }
    if ((get16(p + 6) & 0x3fff) != 0) { /* a fragment: not reassembled */
        net.rx_bad++;
        return;
    }
    uint32_t src = get32(p + 12), dst = get32(p + 16);
    const uint8_t *l4 = p + ihl;
    uint32_t l4len = tot - ihl;
    if (p[9] == PROTO_UDP && l4len >= 8) {
        uint32_t ulen = get16(l4 + 4);
        if (ulen < 8 || ulen > l4len) {
            net.rx_bad++;
            return;
        }
        if (get16(l4 + 6) != 0 &&
            csum_fold(csum_add(pseudo_sum(src, dst, PROTO_UDP, ulen), l4, ulen)) != 0) {
            net.rx_bad++;
            return;
        }
        if (get16(l4 + 2) == 68) {
            dhcp_input(l4 + 8, ulen - 8);
        }
    } else if (p[9] == PROTO_TCP && net.ip && dst == net.ip) {
        tcp_input(src, dst, l4, l4len);
    }
}

static void rx_frame(const uint8_t *f, uint32_t len)
{
    net.rx_frames++;
    if (len < ETH_HDR) {
        net.rx_bad++;
        return;
    }
    if (memcmp(f, net.mac, 6) != 0 && memcmp(f, bcast, 6) != 0) {
        return;
    }
    uint16_t type = get16(f + 12);
    if (type == ETH_ARP) {
        arp_input(f + ETH_HDR, len - ETH_HDR);
    } else if (type == ETH_IP) {
        ip_input(f + ETH_HDR, len - ETH_HDR);
    }
}

/* The receive header: num_buffers, and NEEDS_CSUM completed. False: drop the frame. */
static bool rx_header(uint8_t *b, uint32_t flen)
{
    uint8_t *f = b + NET_HDR;
    if ((net.features & 1ull << VIRTIO_NET_F_MRG_RXBUF) && get16le(b + 10) != 1) {
        net.rx_bad++; /* device-controlled: a frame fits one buffer */
        return false;
    }
    if (!(b[0] & HDR_F_NEEDS_CSUM)) {
        return true;
    }
    uint32_t start = get16le(b + 6), off = get16le(b + 8);
    /* device-controlled: NEEDS_CSUM without GUEST_CSUM, or a field outside the frame */
    if (!(net.features & 1ull << VIRTIO_NET_F_GUEST_CSUM) || start + off + 2 > flen) {
        net.rx_bad++;
        return false;
    }
    /* The field holds the pseudo-header sum: sum from csum_start to the end and store. */
    put16(f + start + off, csum_fold(csum_add(0, f + start, flen - start)));
    net.rx_partial++;
    return true;
}

static void tcp_output(struct tcp_conn *c);
static void tcp_timer(struct tcp_conn *c);

void net_poll(void)
{
    uint32_t id, len;
    while (ring_get(&rxq, &id, &len)) {
        if (id >= rxq.size || len < NET_HDR || len > BUF_SIZE) { /* device-controlled */
            net.rx_bad++;
            if (id >= rxq.size) {
                continue;
            }
        } else if (rx_header(rx_bufs[id], len - NET_HDR)) {
            rx_frame(rx_bufs[id] + NET_HDR, len - NET_HDR);
        }
        ring_add(&rxq, (uint16_t)id, rx_bufs[id], BUF_SIZE, true);
        rx_reposted++;
    }
    /*
     * The device reads avail.idx whenever it looks for a buffer: a kick only matters when it
     * ran out, and then at least half the ring has been given back since the last kick.
     */
    if (rx_reposted >= rxq.size / 2u) {
        if (ring_kick(&rxq)) {
            net.rx_kicks++;
        }
        rx_reposted = 0;
    }
    tx_reclaim();
    for (struct tcp_conn *c = conns; c; c = c->next) {
        tcp_timer(c);
        tcp_output(c);
    }
    tx_flush();
}

/* ---- DHCP (RFC 2131, options RFC 2132) ------------------------------------------------ */

static void dhcp_send(uint8_t type)
{
    uint16_t slot;
    uint8_t *f = tx_alloc(&slot);
    if (!f) {
        return;
    }
    eth_fill(f, bcast, ETH_IP);
    uint8_t *u = f + ETH_HDR + IP_HDR, *b = u + 8;
    memset(b, 0, 240);
    b[0] = 1; /* BOOTREQUEST */
    b[1] = 1; /* Ethernet */
    b[2] = 6;
    put32(b + 4, dhcp.xid);
    put16(b + 10, 0x8000); /* broadcast replies: we have no address yet */
    memcpy(b + 28, net.mac, 6);
    put32(b + 236, 0x63825363);
    uint8_t *o = b + 240;
    *o++ = 53;
    *o++ = 1;
    *o++ = type;
    if (type == 3) {
        *o++ = 50;
        *o++ = 4;
        put32(o, dhcp.offered);
        o += 4;
        *o++ = 54;
        *o++ = 4;
        put32(o, dhcp.server);
        o += 4;
    }
    *o++ = 55; /* parameter request list: mask, router, DNS */
    *o++ = 3;
    *o++ = 1;
    *o++ = 3;
    *o++ = 6;
    *o++ = 255;
    uint32_t blen = (uint32_t)(o - b);
    uint32_t ulen = 8 + blen;
    put16(u, 68);
    put16(u + 2, 67);
    put16(u + 4, (uint16_t)ulen);
    put16(u + 6, 0);
    uint16_t cs = csum_fold(csum_add(pseudo_sum(0, 0xffffffffu, PROTO_UDP, ulen), u, ulen));
    put16(u + 6, cs ? cs : 0xffff);
    ip_fill(f + ETH_HDR, 0, 0xffffffffu, PROTO_UDP, ulen);
    tx_post(slot, ETH_HDR + IP_HDR + ulen);
    tx_flush();
}

static void dhcp_input(const uint8_t *b, uint32_t len)
{
    if (len < 240 || b[0] != 2 || get32(b + 4) != dhcp.xid || memcmp(b + 28, net.mac, 6) != 0 ||
        get32(b + 236) != 0x63825363) {
        return;
    }
    uint8_t type = 0;
    uint32_t server = 0, mask = 0, router = 0, dns = 0;
    for (uint32_t i = 240; i < len;) {
        uint8_t code = b[i];
        if (code == 255) {
            break;
        }
        if (code == 0) {
            i++;
            continue;
        }
        if (i + 2 > len || i + 2 + b[i + 1] > len) {
            net.rx_bad++;
            return;
        }
        uint8_t olen = b[i + 1];
        const uint8_t *v = b + i + 2;
        if (code == 53 && olen == 1) {
            type = v[0];
        } else if (code == 54 && olen == 4) {
            server = get32(v);
        } else if (code == 1 && olen == 4) {
            mask = get32(v);
        } else if (code == 3 && olen >= 4) {
            router = get32(v);
        } else if (code == 6 && olen >= 4) {
            dns = get32(v);
        }
        i += 2u + olen;
    }
    if (type == 2 && dhcp.stage == 1) {
        dhcp.offered = get32(b + 16);
        dhcp.server = server;
        printf("dhcp: OFFER %u.%u.%u.%u from %u.%u.%u.%u\n", dhcp.offered >> 24,
               dhcp.offered >> 16 & 0xff, dhcp.offered >> 8 & 0xff, dhcp.offered & 0xff,
               server >> 24, server >> 16 & 0xff, server >> 8 & 0xff, server & 0xff);
        dhcp.stage = 2;
        dhcp_send(3);
    } else if (type == 5 && dhcp.stage == 2 && get32(b + 16) == dhcp.offered) {
        dhcp.mask = mask;
        dhcp.router = router;
        dhcp.dns = dns;
        dhcp.stage = 3;
    }
}

int dhcp_run(unsigned timeout_ms)
{
    dhcp.xid = (uint32_t)rdtsc() ^ 0x5eed1234u;
    dhcp.stage = 1;
    uint64_t start = net_ms(), sent = start;
    dhcp_send(1);
    while (dhcp.stage != 3) {
        net_poll();
        uint64_t now = net_ms();
        if (now - start > timeout_ms) {
            printf("dhcp: no %s after %u ms\n", dhcp.stage == 1 ? "OFFER" : "ACK", timeout_ms);
            return -1;
        }
        if (now - sent > 1000) { /* lost: start over */
            dhcp.stage = 1;
            dhcp_send(1);
            sent = now;
        }
    }
    net.ip = dhcp.offered;
    net.server = dhcp.server;
    net.mask = dhcp.mask;
    net.router = dhcp.router;
    net.dns = dhcp.dns;
    return 0;
}

int arp_resolve_router(unsigned timeout_ms)
{
    uint64_t start = net_ms(), sent = start;
    arp_send(1, NULL, net.router);
    while (!net.gw_known) {
        net_poll();
        uint64_t now = net_ms();
        if (now - start > timeout_ms) {
            return -1;
        }
        if (now - sent > 500) {
            arp_send(1, NULL, net.router);
            sent = now;
        }
    }
    return 0;
}

/* ---- TCP ------------------------------------------------------------------------------ */

#define SEQ_LT(a, b) ((int32_t)((a) - (b)) < 0)
#define SEQ_LE(a, b) ((int32_t)((a) - (b)) <= 0)

static void conn_add(struct tcp_conn *c)
{
    for (struct tcp_conn *p = conns; p; p = p->next) {
        if (p == c) {
            return;
        }
    }
    c->next = conns;
    conns = c;
}

static void conn_init(struct tcp_conn *c, uint16_t lport)
{
    memset(c, 0, offsetof(struct tcp_conn, sbuf));
    c->lport = lport;
    c->mss = 536; /* RFC 1122 default until the peer says more */
    c->rto_ms = 300;
    c->iss = (uint32_t)rdtsc() * 2654435761u;
    c->snd_una = c->snd_nxt = c->iss;
    conn_add(c);
}

/* Sends one segment: flags, seq, and n stream bytes from stream offset off. */
static bool tcp_send(struct tcp_conn *c, uint8_t flags, uint32_t seq, uint64_t off, uint32_t n)
{
    uint16_t slot;
    uint8_t *f = tx_alloc(&slot);
    if (!f) {
        return false;
    }
    eth_fill(f, net.gw_known ? net.gw_mac : bcast, ETH_IP);
    uint8_t *t = f + ETH_HDR + IP_HDR;
    uint32_t hlen = (flags & TH_SYN) ? TCP_HDR + 4 : TCP_HDR;
    put16(t, c->lport);
    put16(t + 2, c->rport);
    put32(t + 4, seq);
    put32(t + 8, (flags & TH_ACK) ? c->rcv_nxt : 0);
    t[12] = (uint8_t)(hlen / 4 << 4);
    t[13] = flags;
    put16(t + 14, (uint16_t)(TCP_RBUF - c->rlen));
    put16(t + 16, 0);
    put16(t + 18, 0);
    if (flags & TH_SYN) {
        t[20] = 2; /* MSS */
        t[21] = 4;
        put16(t + 22, MSS_MAX);
    }
    if (n) {
        if (c->fill) {
            c->fill(c->fill_ctx, off, t + hlen, n);
        } else {
            memcpy(t + hlen, c->sbuf + off, n);
        }
    }
    uint32_t len = hlen + n;
    uint32_t flen = ETH_HDR + IP_HDR + len;
    if (net.features & 1ull << VIRTIO_NET_F_CSUM) {
        /* Offloaded: the pseudo-header sum (not inverted) in the field, as Linux leaves it. */
        uint8_t *h = f - NET_HDR;
        h[0] = HDR_F_NEEDS_CSUM;
        put16le(h + 6, ETH_HDR + IP_HDR);
        put16le(h + 8, 16);
        put16(t + 16, (uint16_t)~csum_fold(pseudo_sum(net.ip, c->rip, PROTO_TCP, len)));
        net.tx_partial++;
    } else {
        put16(t + 16, csum_fold(csum_add(pseudo_sum(net.ip, c->rip, PROTO_TCP, len), t, len)));
    }
    ip_fill(f + ETH_HDR, net.ip, c->rip, PROTO_TCP, len);
    if (flen < 60) { /* the padding is summed by whoever completes a partial checksum */
        memset(f + flen, 0, 60 - flen);
    }
    tx_post(slot, flen < 60 ? 60 : flen);
    if (flags & TH_ACK) {
        c->ack_pending = false;
    }
    return true;
}

static void tcp_output(struct tcp_conn *c)
{
    if (c->state == TCP_SYN_SENT || c->state == TCP_SYN_RCVD) {
        if (c->snd_nxt == c->iss) {
            uint8_t fl = c->state == TCP_SYN_SENT ? TH_SYN : TH_SYN | TH_ACK;
            if (tcp_send(c, fl, c->iss, 0, 0)) {
                c->snd_nxt = c->iss + 1;
                c->progress_ms = net_ms();
            }
        }
        return;
    }
    if (c->state != TCP_ESTABLISHED) {
        return;
    }
    for (;;) {
        uint64_t off = c->snd_nxt - c->iss - 1;
        uint32_t inflight = c->snd_nxt - c->snd_una;
        if (off < c->snd_total) {
            uint64_t left = c->snd_total - off;
            uint32_t room = c->snd_wnd > inflight ? c->snd_wnd - inflight : 0;
            uint32_t n = c->mss;
            if (n > left) {
                n = (uint32_t)left;
            }
            if (n > room) {
                n = room;
            }
            if (n == 0) {
                break;
            }
            if (c->snd_una == c->snd_nxt) {
                c->progress_ms = net_ms();
            }
            /* PSH on every segment: slirp then acknowledges each at once (no delayed ACK). */
            if (!tcp_send(c, TH_ACK | TH_PSH, c->snd_nxt, off, n)) {
                break;
            }
            c->snd_nxt += n;
            continue;
        }
        if (c->fin_wanted && !c->fin_sent) {
            if (c->snd_una == c->snd_nxt) {
                c->progress_ms = net_ms();
            }
            if (tcp_send(c, TH_ACK | TH_FIN, c->snd_nxt, 0, 0)) {
                c->fin_sent = true;
                c->snd_nxt++;
            }
        }
        break;
    }
    if (c->ack_pending) {
        tcp_send(c, TH_ACK, c->snd_nxt, 0, 0);
    }
}

/* Go-back-N: nothing acknowledged for rto_ms, so everything from snd_una goes again. */
static void tcp_timer(struct tcp_conn *c)
{
    bool waiting = c->snd_una != c->snd_nxt;
    if (!waiting || net_ms() - c->progress_ms < c->rto_ms) {
        return;
    }
    c->retransmits++;
    if (c->rto_ms < 3000) {
        c->rto_ms *= 2;
    }
    c->snd_nxt = c->snd_una;
    if (c->fin_sent && !c->fin_acked) {
        c->fin_sent = false;
    }
    c->progress_ms = net_ms();
}

static void tcp_input(uint32_t src, uint32_t dst, const uint8_t *t, uint32_t len)
{
    if (len < TCP_HDR) {
        net.rx_bad++;
        return;
    }
    uint32_t hlen = (t[12] >> 4) * 4u;
    if (hlen < TCP_HDR || hlen > len ||
        csum_fold(csum_add(pseudo_sum(src, dst, PROTO_TCP, len), t, len)) != 0) {
        net.rx_bad++;
        return;
    }
    uint16_t sport = get16(t), dport = get16(t + 2);
    uint32_t seq = get32(t + 4), ack = get32(t + 8);
    uint8_t fl = t[13];
    uint32_t wnd = get16(t + 14);
    const uint8_t *data = t + hlen;
    uint32_t dlen = len - hlen;

    struct tcp_conn *c = NULL;
    for (struct tcp_conn *p = conns; p; p = p->next) {
        if (p->lport == dport && p->state != TCP_CLOSED && p->state != TCP_LISTEN &&
            p->rport == sport && p->rip == src) {
            c = p;
            break;
        }
    }
    if (!c) {
        for (struct tcp_conn *p = conns; p; p = p->next) {
            if (p->lport == dport && p->state == TCP_LISTEN && (fl & TH_SYN) &&
                !(fl & (TH_ACK | TH_RST))) {
                c = p;
                c->rip = src;
                c->rport = sport;
                c->rcv_nxt = seq + 1;
                c->snd_wnd = wnd;
                c->state = TCP_SYN_RCVD;
                c->snd_nxt = c->iss; /* tcp_output sends the SYN|ACK */
                return;
            }
        }
        return; /* no such connection: the peer times out */
    }
    if (fl & TH_RST) {
        c->state = TCP_RESET;
        return;
    }
    for (uint32_t i = TCP_HDR; i + 4 <= hlen && (fl & TH_SYN);) { /* options: MSS */
        if (t[i] == 0) {
            break;
        }
        if (t[i] == 1) {
            i++;
            continue;
        }
        if (t[i + 1] < 2) {
            break;
        }
        if (t[i] == 2 && t[i + 1] == 4) {
            uint16_t m = get16(t + i + 2);
            c->mss = m < MSS_MAX ? (m > 64 ? m : 64) : MSS_MAX;
        }
        i += t[i + 1];
    }
    if (c->state == TCP_SYN_SENT) {
        if ((fl & (TH_SYN | TH_ACK)) != (TH_SYN | TH_ACK) || ack != c->iss + 1) {
            return;
        }
        c->rcv_nxt = seq + 1;
        c->snd_una = ack;
        c->snd_wnd = wnd;
        c->state = TCP_ESTABLISHED;
        c->rto_ms = 300;
        c->ack_pending = true;
        return;
    }
    if (c->state == TCP_SYN_RCVD) {
        if ((fl & TH_SYN) && seq + 1 == c->rcv_nxt) {
            c->snd_nxt = c->iss; /* our SYN|ACK was lost: again */
            return;
        }
        if (!(fl & TH_ACK) || ack != c->iss + 1) {
            return;
        }
        c->snd_una = ack;
        c->state = TCP_ESTABLISHED;
        c->rto_ms = 300;
    }
    if (fl & TH_ACK) {
        if (SEQ_LT(c->snd_una, ack) && SEQ_LE(ack, c->snd_nxt)) {
            c->snd_una = ack;
            c->progress_ms = net_ms();
            c->rto_ms = 300;
            if (c->fin_sent && ack == c->snd_nxt) {
                c->fin_acked = true;
            }
        }
        if (SEQ_LE(c->snd_una, ack)) {
            c->snd_wnd = wnd;
        }
    }
    if (dlen || (fl & TH_FIN)) {
        c->ack_pending = true;
    }
    if (dlen && seq == c->rcv_nxt) {
        uint32_t take = TCP_RBUF - c->rlen;
        if (take > dlen) {
            take = dlen;
        }
        memcpy(c->rbuf + c->rlen, data, take);
        c->rlen += take;
        c->rcv_nxt += take;
        if (take < dlen) {
            return; /* the rest (and a FIN) comes again */
        }
    }
    if ((fl & TH_FIN) && seq + dlen == c->rcv_nxt && !c->peer_fin) {
        c->rcv_nxt++;
        c->peer_fin = true;
    }
}

void tcp_connect(struct tcp_conn *c, uint32_t ip, uint16_t port, uint16_t lport)
{
    conn_init(c, lport);
    c->rip = ip;
    c->rport = port;
    c->state = TCP_SYN_SENT;
    tcp_output(c);
    tx_flush();
}

void tcp_listen(struct tcp_conn *c, uint16_t lport)
{
    conn_init(c, lport);
    c->state = TCP_LISTEN;
}

uint32_t tcp_write(struct tcp_conn *c, const void *p, uint32_t n)
{
    if (c->fill || c->fin_wanted || c->snd_total >= TCP_SBUF) {
        return 0;
    }
    if (n > TCP_SBUF - c->snd_total) {
        n = (uint32_t)(TCP_SBUF - c->snd_total);
    }
    memcpy(c->sbuf + c->snd_total, p, n);
    c->snd_total += n;
    return n;
}

void tcp_stream(struct tcp_conn *c, uint64_t total, tcp_fill_fn fill, void *ctx)
{
    c->fill = fill;
    c->fill_ctx = ctx;
    c->snd_total = total;
}

uint32_t tcp_read(struct tcp_conn *c, void *p, uint32_t n)
{
    if (n > c->rlen) {
        n = c->rlen;
    }
    bool was_full = c->rlen == TCP_RBUF;
    memcpy(p, c->rbuf, n);
    for (uint32_t i = n; i < c->rlen; i++) { /* overlapping: front to back */
        c->rbuf[i - n] = c->rbuf[i];
    }
    c->rlen -= n;
    if (was_full && n) {
        c->ack_pending = true; /* window update */
    }
    return n;
}

void tcp_close(struct tcp_conn *c)
{
    c->fin_wanted = true;
}

bool tcp_all_acked(const struct tcp_conn *c)
{
    return c->state == TCP_ESTABLISHED && c->snd_una == c->snd_nxt &&
           (uint64_t)(c->snd_nxt - c->iss - 1 - (c->fin_sent ? 1 : 0)) == c->snd_total &&
           (!c->fin_wanted || c->fin_acked);
}
