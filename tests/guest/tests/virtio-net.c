// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-net: the modern virtio-pci NIC (1af4:1041) on user-mode networking (slirp), driven by
 * the kit's polling stack (lib/net.c) at CPL3. DHCP must lease 10.0.2.15 with router 10.0.2.2
 * and DNS 10.0.2.3; ARP resolves the router. With net_static=A.B.C.D/LEN net_gw=A.B.C.D (a
 * host tap, where nobody answers DHCP) the address is set instead and ARP resolves the gateway,
 * which is the host's end of the tap. Then, as the command line asks (the runner's
 * tests/guest/net-peer.py is the host side):
 *   net_port=P    TCP to the router's port P (slirp: the host's 127.0.0.1:P; tap: the host's
 *                 address on the tap), send "hello from the guest now=<now>\n", the host
 *                 echoes it, the echo must match;
 *   net_listen=G  accept a connection on port G (a hostfwd or, on a tap, straight from the
 *                 host), receive exactly
 *                 "ping from the host now=<now>\n" and echo it back;
 *   net_offload=1 ask for CSUM, GUEST_CSUM and MRG_RXBUF, send TCP with partial checksums
 *                 when CSUM is granted and complete the NEEDS_CSUM frames that arrive;
 *                 MRG_RXBUF must be granted (QEMU offers the checksum features only with a
 *                 back-end that takes vnet headers, so not on slirp);
 *   net_expect_partial=1 (with net_offload, on a tap) all three must be granted and at least
 *                 one frame must arrive with NEEDS_CSUM: the host kernel's own partial
 *                 checksums, through the vnet header;
 *   net_bench_mib=N (with net_port) stream N MiB of the pattern (offset % 251) to the host,
 *                 which answers "got <bytes>\n"; prints the guest-side time (TSC).
 */
#include "guest.h"
#include "net_guest.h"

static struct tcp_conn out_conn, in_conn;

static void wait_for(bool (*cond)(struct tcp_conn *), struct tcp_conn *c, unsigned ms,
                     const char *what)
{
    uint64_t start = net_ms();
    while (!cond(c)) {
        net_poll();
        CHECK(c->state != TCP_RESET, "%s: connection reset by the peer", what);
        CHECK(net_ms() - start < ms, "%s: nothing after %u ms (state %d, retransmits %u)", what, ms,
              c->state, c->retransmits);
    }
}

static bool established(struct tcp_conn *c)
{
    return c->state == TCP_ESTABLISHED;
}

/* A newline in the receive buffer, or the buffer full, or the peer done. */
static bool has_line(struct tcp_conn *c)
{
    for (uint32_t i = 0; i < c->rlen; i++) {
        if (c->rbuf[i] == '\n') {
            return true;
        }
    }
    return c->rlen == TCP_RBUF || c->peer_fin;
}

static bool acked(struct tcp_conn *c)
{
    return tcp_all_acked(c);
}

static bool peer_done(struct tcp_conn *c)
{
    return c->peer_fin;
}

/* Reads one line (with its newline) into buf; the connection must deliver one. */
static uint32_t read_line(struct tcp_conn *c, char *buf, uint32_t n, const char *what)
{
    wait_for(has_line, c, 10000, what);
    uint32_t len = 0;
    while (len < c->rlen && c->rbuf[len] != '\n') {
        len++;
    }
    CHECK(len < c->rlen, "%s: no newline in %u bytes", what, c->rlen);
    len++;
    CHECK(len < n, "%s: line of %u bytes", what, len);
    tcp_read(c, buf, len);
    buf[len] = '\0';
    return len;
}

static void pattern(void *ctx, uint64_t off, uint8_t *dst, uint32_t n)
{
    (void)ctx;
    unsigned v = (unsigned)(off % 251);
    for (uint32_t i = 0; i < n; i++) {
        dst[i] = (uint8_t)v;
        if (++v == 251) {
            v = 0;
        }
    }
}

static void bench(uint16_t port, uint64_t mib)
{
    uint64_t bytes = mib << 20;
    tcp_connect(&out_conn, net.router, port, 40001);
    wait_for(established, &out_conn, 10000, "bench connect");
    printf("net-bench: connected, mss %u, peer window %u\n", out_conn.mss, out_conn.snd_wnd);
    uint64_t kicks0 = net.tx_kicks, frames0 = net.tx_frames;
    uint64_t t_start = rdtsc();
    tcp_stream(&out_conn, bytes, pattern, NULL);
    wait_for(acked, &out_conn, 600000, "bench stream");
    uint64_t t_end = rdtsc();
    char line[64], want[64];
    read_line(&out_conn, line, sizeof(line), "bench result");
    snprintf(want, sizeof(want), "got %lu\n", bytes);
    CHECK(strncmp(line, want, sizeof(want)) == 0, "host says '%s', want '%s'", line, want);
    uint64_t cycles = t_end - t_start, hz = tsc_hz();
    uint64_t kbps = cycles ? bytes * (hz / 1000) / cycles : 0; /* KiB/s ... as bytes/ms */
    printf("net-bench: bytes %lu cycles %lu tsc_hz %lu frames %lu kicks %lu retransmits %u "
           "(%lu.%03lu MB/s)\n",
           bytes, cycles, hz, net.tx_frames - frames0, net.tx_kicks - kicks0, out_conn.retransmits,
           kbps / 1000, kbps % 1000);
    tcp_close(&out_conn);
    wait_for(acked, &out_conn, 10000, "bench close");
}

static void echo_out(uint16_t port, const char *now)
{
    char line[128], got[128];
    tcp_connect(&out_conn, net.router, port, 40000);
    wait_for(established, &out_conn, 15000, "connect to the router");
    printf("tcp: connected to %u.%u.%u.%u:%u (mss %u)\n", net.router >> 24, net.router >> 16 & 0xff,
           net.router >> 8 & 0xff, net.router & 0xff, port, out_conn.mss);
    int n = snprintf(line, sizeof(line), "hello from the guest now=%s\n", now);
    CHECK(tcp_write(&out_conn, line, (uint32_t)n) == (uint32_t)n, "write");
    uint32_t len = read_line(&out_conn, got, sizeof(got), "echo from the host");
    CHECK(len == (uint32_t)n && memcmp(got, line, len) == 0, "echo '%s', want '%s'", got, line);
    printf("tcp: echo from the host: %s", got);
    tcp_close(&out_conn);
    wait_for(acked, &out_conn, 10000, "close (FIN acknowledged)");
}

static void echo_in(const char *now)
{
    char want[128], got[128];
    wait_for(established, &in_conn, 60000, "hostfwd connection");
    printf("tcp: accepted a connection on port %u\n", in_conn.lport);
    int n = snprintf(want, sizeof(want), "ping from the host now=%s\n", now);
    uint32_t len = read_line(&in_conn, got, sizeof(got), "line from the host");
    CHECK(len == (uint32_t)n && memcmp(got, want, len) == 0, "host sent '%s', want '%s'", got,
          want);
    printf("tcp: from the host: %s", got);
    CHECK(tcp_write(&in_conn, got, len) == len, "write");
    wait_for(acked, &in_conn, 10000, "echo acknowledged");
    wait_for(peer_done, &in_conn, 10000, "host close");
    tcp_close(&in_conn);
    wait_for(acked, &in_conn, 10000, "close (FIN acknowledged)");
}

/* "A.B.C.D" (then '/', ' ' or the end) into *ip; the rest of the string, or NULL. */
static const char *parse_ip(const char *s, uint32_t *ip)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < 4; i++) {
        unsigned part = 0, digits = 0;
        while (*s >= '0' && *s <= '9' && digits < 3) {
            part = part * 10 + (unsigned)(*s++ - '0');
            digits++;
        }
        if (!digits || part > 255 || (i < 3 && *s++ != '.')) {
            return NULL;
        }
        v = v << 8 | part;
    }
    *ip = v;
    return s;
}

/* net_static=A.B.C.D/LEN and net_gw=A.B.C.D: a fixed address instead of a DHCP lease. */
static void static_config(const char *spec)
{
    char gw[24];
    uint32_t ip = 0, router = 0;
    const char *rest = parse_ip(spec, &ip);
    CHECK(rest && *rest == '/', "net_static=%s: want A.B.C.D/LEN", spec);
    unsigned len = 0;
    for (rest++; *rest >= '0' && *rest <= '9' && len <= 32; rest++) {
        len = len * 10 + (unsigned)(*rest - '0');
    }
    CHECK(*rest == '\0' && len >= 1 && len <= 30, "net_static=%s: bad prefix length", spec);
    CHECK(cmdline_get("net_gw", gw, sizeof(gw)), "net_static needs net_gw=A.B.C.D");
    rest = parse_ip(gw, &router);
    CHECK(rest && *rest == '\0', "net_gw=%s: want A.B.C.D", gw);
    net.ip = ip;
    net.mask = ~0u << (32 - len);
    net.router = router;
    CHECK((ip & net.mask) == (router & net.mask) && ip != router,
          "net_gw=%s is not another address of net_static=%s", gw, spec);
    printf("static: %u.%u.%u.%u/%u gateway %u.%u.%u.%u\n", ip >> 24, ip >> 16 & 0xff,
           ip >> 8 & 0xff, ip & 0xff, len, router >> 24, router >> 16 & 0xff, router >> 8 & 0xff,
           router & 0xff);
}

/* slirp: DHCP must lease 10.0.2.15 with router 10.0.2.2 and DNS 10.0.2.3. */
static void dhcp_leased(void)
{
    CHECK(dhcp_run(20000) == 0, "DHCP failed");
    printf("dhcp: ACK %u.%u.%u.%u mask %#x router %u.%u.%u.%u dns %u.%u.%u.%u\n", net.ip >> 24,
           net.ip >> 16 & 0xff, net.ip >> 8 & 0xff, net.ip & 0xff, net.mask, net.router >> 24,
           net.router >> 16 & 0xff, net.router >> 8 & 0xff, net.router & 0xff, net.dns >> 24,
           net.dns >> 16 & 0xff, net.dns >> 8 & 0xff, net.dns & 0xff);
    CHECK(net.ip == IP4(10, 0, 2, 15), "leased address %#x, want 10.0.2.15", net.ip);
    CHECK(net.router == IP4(10, 0, 2, 2), "router %#x, want 10.0.2.2", net.router);
    CHECK(net.dns == IP4(10, 0, 2, 3), "DNS %#x, want 10.0.2.3", net.dns);
    CHECK(net.mask == 0xffffff00u, "mask %#x", net.mask);
}

void test_main(void)
{
    char now[24] = "0";
    cmdline_get("now", now, sizeof(now));
    uint16_t port = (uint16_t)cmdline_u64("net_port", 0);
    uint16_t listen = (uint16_t)cmdline_u64("net_listen", 0);
    uint64_t mib = cmdline_u64("net_bench_mib", 0);
    char spec[32];
    bool fixed = cmdline_get("net_static", spec, sizeof(spec));

    bool offload = cmdline_u64("net_offload", 0) != 0;
    uint64_t want = 1ull << VIRTIO_NET_F_CSUM | 1ull << VIRTIO_NET_F_GUEST_CSUM |
                    1ull << VIRTIO_NET_F_MRG_RXBUF;
    CHECK(vnet_init_features(offload ? want : 0) == 0, "no usable virtio-net device");
    if (offload) {
        printf("offload: features %#lx\n", net.features);
        uint64_t need =
            cmdline_u64("net_expect_partial", 0) ? want : 1ull << VIRTIO_NET_F_MRG_RXBUF;
        CHECK((net.features & need) == need, "features %#lx, want %#lx", net.features, need);
    }
    if (listen) {
        tcp_listen(&in_conn, listen);
    }
    if (fixed) {
        static_config(spec);
    } else {
        dhcp_leased();
    }
    CHECK(arp_resolve_router(5000) == 0, "no ARP reply from the router");
    printf("arp: %u.%u.%u.%u is at %02x:%02x:%02x:%02x:%02x:%02x\n", net.router >> 24,
           net.router >> 16 & 0xff, net.router >> 8 & 0xff, net.router & 0xff, net.gw_mac[0],
           net.gw_mac[1], net.gw_mac[2], net.gw_mac[3], net.gw_mac[4], net.gw_mac[5]);

    if (mib) {
        CHECK(port, "net_bench_mib needs net_port");
        bench(port, mib);
    } else if (port) {
        echo_out(port, now);
    } else {
        printf("NOTE: no net_port: TCP not tried\n");
    }
    if (listen) {
        echo_in(now);
    }
    printf("frames rx %lu tx %lu bad %lu, kicks rx %lu tx %lu\n", net.rx_frames, net.tx_frames,
           net.rx_bad, net.rx_kicks, net.tx_kicks);
    printf("checksums: %lu frames in with NEEDS_CSUM, %lu out\n", net.rx_partial, net.tx_partial);
    CHECK(!(vnet_status() & VIRTIO_STATUS_NEEDS_RESET), "device needs reset");
    CHECK(net.rx_bad == 0, "%lu bad frames", net.rx_bad);
    if (net.features & 1ull << VIRTIO_NET_F_CSUM) {
        CHECK(net.tx_partial > 0, "no segment went out with a partial checksum");
    }
    if (cmdline_u64("net_expect_partial", 0)) {
        CHECK(net.rx_partial > 0, "no frame arrived with NEEDS_CSUM");
    }
}
