// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What every network back-end shares: the peer link with its flow control, and the parsers
 * for the user-facing syntax (MAC addresses, QEMU-style hostfwd rules).
 */
#include "io/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void net_backend_set_peer(struct net_backend *be, net_receive_fn receive, void *peer)
{
    be->receive = receive;
    be->peer = peer;
}

int net_backend_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    int r = be->ops->send(be, frame, len);
    if (r == 0) {
        be->tx_frames++;
    }
    return r;
}

void net_backend_rx_ready(struct net_backend *be)
{
    if (be && be->ops->rx_ready) {
        be->ops->rx_ready(be);
    }
}

void net_backend_free(struct net_backend *be)
{
    if (be) {
        be->ops->destroy(be);
    }
}

int net_backend_deliver(struct net_backend *be, const uint8_t *frame, size_t len)
{
    int r = be->receive ? be->receive(be->peer, frame, len) : -ENETDOWN;
    if (r == 0) {
        be->rx_frames++;
    } else if (r != -EAGAIN) {
        be->rx_dropped++;
    }
    return r;
}

/* A decimal port 1..65535 spanning exactly [s, end). */
static int parse_port(const char *s, const char *end, uint16_t *out)
{
    if (s == end || end - s > 5) {
        return -EINVAL;
    }
    unsigned v = 0;
    for (const char *p = s; p < end; p++) {
        if (*p < '0' || *p > '9') {
            return -EINVAL;
        }
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v == 0 || v > 65535) {
        return -EINVAL;
    }
    *out = (uint16_t)v;
    return 0;
}

/* An IPv4 dotted quad spanning [s, end), or dflt when empty. */
static int parse_addr(const char *s, const char *end, uint32_t dflt, uint32_t *out)
{
    if (s == end) {
        *out = dflt;
        return 0;
    }
    char buf[INET_ADDRSTRLEN];
    if ((size_t)(end - s) >= sizeof(buf)) {
        return -EINVAL;
    }
    memcpy(buf, s, (size_t)(end - s));
    buf[end - s] = 0;
    struct in_addr a;
    if (inet_pton(AF_INET, buf, &a) != 1) {
        return -EINVAL;
    }
    *out = a.s_addr;
    return 0;
}

/* "[ADDR]:PORT" spanning [s, end). */
static int parse_endpoint(const char *s, const char *end, uint32_t dflt, uint32_t *addr,
                          uint16_t *port)
{
    const char *colon = memchr(s, ':', (size_t)(end - s));
    if (!colon) {
        return -EINVAL;
    }
    if (parse_addr(s, colon, dflt, addr) < 0) {
        return -EINVAL;
    }
    return parse_port(colon + 1, end, port);
}

int net_hostfwd_parse(const char *s, struct net_hostfwd *out)
{
    memset(out, 0, sizeof(*out));
    if (strncmp(s, "tcp:", 4) == 0) {
        s += 4;
    } else if (strncmp(s, "udp:", 4) == 0) {
        out->udp = true;
        s += 4;
    } else if (*s != ':') {
        return -EINVAL; /* QEMU: an empty protocol means tcp, written as ":HOSTADDR:..." */
    } else {
        s++;
    }
    const char *dash = strchr(s, '-');
    if (!dash || strchr(dash + 1, '-')) {
        return -EINVAL;
    }
    if (parse_endpoint(s, dash, htonl(0x7f000001), &out->host_addr, &out->host_port) < 0) {
        return -EINVAL;
    }
    return parse_endpoint(dash + 1, dash + 1 + strlen(dash + 1), 0, &out->guest_addr,
                          &out->guest_port);
}

int net_mac_parse(const char *s, uint8_t mac[6])
{
    uint8_t m[6];
    for (unsigned i = 0; i < 6; i++) {
        unsigned v = 0;
        for (unsigned d = 0; d < 2; d++) {
            char c = *s++;
            unsigned x;
            if (c >= '0' && c <= '9') {
                x = (unsigned)(c - '0');
            } else if (c >= 'a' && c <= 'f') {
                x = (unsigned)(c - 'a' + 10);
            } else if (c >= 'A' && c <= 'F') {
                x = (unsigned)(c - 'A' + 10);
            } else {
                return -EINVAL;
            }
            v = v << 4 | x;
        }
        m[i] = (uint8_t)v;
        if (*s != (i == 5 ? '\0' : ':')) {
            return -EINVAL;
        }
        s++;
    }
    static const uint8_t zero[6];
    if ((m[0] & 1) || memcmp(m, zero, 6) == 0) {
        return -EINVAL; /* a multicast or null station address would break the guest's ARP */
    }
    memcpy(mac, m, 6);
    return 0;
}

uint32_t net_csum_add(uint32_t sum, const uint8_t *buf, size_t len)
{
    uint64_t s = sum;
    size_t i = 0;
    for (; i + 1 < len; i += 2) {
        s += (uint32_t)(buf[i] << 8 | buf[i + 1]);
    }
    if (i < len) {
        s += (uint32_t)buf[i] << 8;
    }
    while (s >> 32) {
        s = (s & 0xffffffffu) + (s >> 32);
    }
    return (uint32_t)s;
}

uint16_t net_csum_fold(uint32_t sum)
{
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return (uint16_t)sum;
}
