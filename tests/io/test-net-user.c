// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The network back-ends against the real libslirp and the real event loop: a DHCP
 * DISCOVER built here gets slirp's OFFER (10.0.2.15, router .2, DNS .3), ARP for the
 * gateway, frames held while the peer has no room and delivered in order afterwards, a TCP
 * connection to a hostfwd port reaching the guest as a SYN, a port that cannot be bound, and
 * the tap back-end's errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/net.h"
#include "vmm/clock.h"
#include "vmm/evloop.h"

#define MAX_FRAMES 32
#define FRAME_CAP 2048

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct fixture {
    pthread_mutex_t lock;
    struct evloop *loop;
    struct net_backend *be;
    bool refuse; /* the peer has no buffers */
    uint8_t frames[MAX_FRAMES][FRAME_CAP];
    size_t lens[MAX_FRAMES];
    unsigned nframes;
    uint16_t syn_port; /* stop the loop when a SYN to this guest port arrives */
    bool syn_seen;
};

static bool is_syn_to(const uint8_t *p, size_t len, uint16_t port);
static void answer_arp(struct fixture *f, const uint8_t *p, size_t len);

static int peer_receive(void *opaque, const uint8_t *frame, size_t len)
{
    struct fixture *f = opaque;
    if (f->refuse) {
        return -EAGAIN;
    }
    if (f->nframes < MAX_FRAMES) {
        size_t n = len < FRAME_CAP ? len : FRAME_CAP;
        memcpy(f->frames[f->nframes], frame, n);
        f->lens[f->nframes++] = n;
    }
    if (f->syn_port) {
        answer_arp(f, frame, len);
        if (is_syn_to(frame, len, f->syn_port)) {
            f->syn_seen = true;
            evloop_stop(f->loop, 0);
        }
    }
    return 0;
}

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    close(s);
    return ntohs(a.sin_port);
}

static int make(struct fixture *f, const struct net_hostfwd *fwd, unsigned nfwd, char *err,
                size_t errlen)
{
    struct net_user_config cfg = {.hostfwd = fwd, .nhostfwd = nfwd};
    int r = net_user_create(f->loop, &cfg, &f->be, err, errlen);
    if (r == 0) {
        net_backend_set_peer(f->be, peer_receive, f);
    }
    return r;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    f->loop = evloop_new(&f->lock);
    assert_non_null(f->loop);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    net_backend_free(f->be);
    evloop_free(f->loop);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

static void stop_loop(void *opaque)
{
    evloop_stop(opaque, 1);
}

/* Run the loop until the peer stops it or ms pass; true when the peer stopped it. */
static bool run_for(struct fixture *f, unsigned ms)
{
    struct vclock *c = evloop_clock(f->loop);
    struct vtimer *t = vtimer_new(c, stop_loop, f->loop);
    assert_non_null(t);
    vtimer_mod(t, vclock_now(c) + ms * 1000000ull);
    int r = evloop_run(f->loop);
    vtimer_free(t);
    return r == 0;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static size_t eth(uint8_t *p, const uint8_t *dst, uint16_t type)
{
    memcpy(p, dst, 6);
    memcpy(p + 6, guest_mac, 6);
    put16(p + 12, type);
    return 14;
}

/* An IPv4 header at p for a payload of len bytes. */
static void ipv4(uint8_t *p, uint8_t proto, uint32_t src, uint32_t dst, size_t len)
{
    memset(p, 0, 20);
    p[0] = 0x45;
    put16(p + 2, (uint16_t)(20 + len));
    p[8] = 64;
    p[9] = proto;
    memcpy(p + 12, &src, 4);
    memcpy(p + 16, &dst, 4);
    put16(p + 10, (uint16_t)~net_csum_fold(net_csum_add(0, p, 20)));
}

#define DHCP_XID 0x1d2c3b4au

/* A DHCP DISCOVER from guest_mac, as a client without an address sends it. */
static size_t dhcp_discover(uint8_t *p)
{
    memset(p, 0, 400);
    size_t off = eth(p, bcast, 0x0800);
    uint8_t *udp = p + off + 20, *bootp = udp + 8;
    bootp[0] = 1; /* BOOTREQUEST */
    bootp[1] = 1; /* Ethernet */
    bootp[2] = 6;
    uint32_t xid = htonl(DHCP_XID);
    memcpy(bootp + 4, &xid, 4);
    memcpy(bootp + 28, guest_mac, 6);
    uint8_t *opt = bootp + 236;
    memcpy(opt, "\x63\x82\x53\x63", 4);         /* magic cookie */
    memcpy(opt + 4, "\x35\x01\x01", 3);         /* DHCP message type: DISCOVER */
    memcpy(opt + 7, "\x37\x03\x01\x03\x06", 5); /* parameters: mask, router, DNS */
    opt[12] = 0xff;
    size_t bootp_len = 300; /* the BOOTP minimum */
    put16(udp, 68);
    put16(udp + 2, 67);
    put16(udp + 4, (uint16_t)(8 + bootp_len)); /* checksum 0: none, allowed for UDP/IPv4 */
    ipv4(p + off, 17, 0, 0xffffffffu, 8 + bootp_len);
    return off + 20 + 8 + bootp_len;
}

/* The value of DHCP option code in the reply's options, or NULL. */
static const uint8_t *dhcp_opt(const uint8_t *opts, size_t len, uint8_t code, uint8_t *olen)
{
    size_t i = 4; /* after the cookie */
    while (i < len && opts[i] != 0xff) {
        if (opts[i] == 0) {
            i++;
            continue;
        }
        if (i + 2 > len || i + 2 + opts[i + 1] > len) {
            return NULL;
        }
        if (opts[i] == code) {
            *olen = opts[i + 1];
            return opts + i + 2;
        }
        i += 2 + (size_t)opts[i + 1];
    }
    return NULL;
}

static uint32_t ip(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return a.s_addr;
}

static void check_offer(const uint8_t *p, size_t len)
{
    assert_true(len > 14 + 20 + 8 + 240);
    /* To the client's MAC or broadcast (the client has no address yet): both reach it. */
    assert_true(memcmp(p, guest_mac, 6) == 0 || memcmp(p, bcast, 6) == 0);
    assert_int_equal(get16(p + 12), 0x0800);
    const uint8_t *iph = p + 14;
    assert_int_equal(iph[9], 17);
    size_t ihl = (size_t)(iph[0] & 15) * 4;
    assert_int_equal(net_csum_fold(net_csum_add(0, iph, ihl)), 0xffff); /* valid IP checksum */
    const uint8_t *udp = iph + ihl, *bootp = udp + 8;
    assert_int_equal(get16(udp), 67);
    assert_int_equal(get16(udp + 2), 68);
    assert_int_equal(bootp[0], 2); /* BOOTREPLY */
    uint32_t xid;
    memcpy(&xid, bootp + 4, 4);
    assert_int_equal(ntohl(xid), DHCP_XID);
    uint32_t yiaddr;
    memcpy(&yiaddr, bootp + 16, 4);
    assert_int_equal(yiaddr, ip("10.0.2.15"));
    assert_memory_equal(bootp + 28, guest_mac, 6);
    const uint8_t *opts = bootp + 236;
    size_t olen_total = len - (size_t)(opts - p);
    assert_memory_equal(opts, "\x63\x82\x53\x63", 4);
    uint8_t ol;
    const uint8_t *v = dhcp_opt(opts, olen_total, 53, &ol);
    assert_non_null(v);
    assert_int_equal(v[0], 2); /* OFFER */
    uint32_t a;
    v = dhcp_opt(opts, olen_total, 54, &ol); /* server identifier */
    assert_non_null(v);
    memcpy(&a, v, 4);
    assert_int_equal(a, ip("10.0.2.2"));
    v = dhcp_opt(opts, olen_total, 3, &ol); /* router */
    assert_non_null(v);
    memcpy(&a, v, 4);
    assert_int_equal(a, ip("10.0.2.2"));
    v = dhcp_opt(opts, olen_total, 6, &ol); /* DNS */
    assert_non_null(v);
    memcpy(&a, v, 4);
    assert_int_equal(a, ip("10.0.2.3"));
    v = dhcp_opt(opts, olen_total, 1, &ol); /* netmask */
    assert_non_null(v);
    memcpy(&a, v, 4);
    assert_int_equal(a, ip("255.255.255.0"));
}

/* Send a DISCOVER; the OFFER comes back while slirp handles the frame, or soon after. */
static void dhcp_exchange(struct fixture *f)
{
    uint8_t req[400];
    size_t len = dhcp_discover(req);
    assert_int_equal(net_backend_send(f->be, req, len), 0);
    if (f->nframes == 0) {
        run_for(f, 200);
    }
    assert_int_equal(f->nframes, 1);
    check_offer(f->frames[0], f->lens[0]);
}

static void test_dhcp_offer(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(make(f, NULL, 0, err, sizeof(err)), 0);
    assert_string_equal(f->be->ops->kind, "user");
    assert_false(f->be->vnet_hdr);
    dhcp_exchange(f);
    assert_int_equal(f->be->tx_frames, 1);
    assert_int_equal(f->be->rx_frames, 1);
}

static size_t arp(uint8_t *p, uint16_t oper, const uint8_t *tha, uint32_t spa, uint32_t tpa)
{
    memset(p, 0, 60);
    size_t off = eth(p, oper == 1 ? bcast : tha, 0x0806);
    uint8_t *a = p + off;
    put16(a, 1);
    put16(a + 2, 0x0800);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, oper);
    memcpy(a + 8, guest_mac, 6);
    memcpy(a + 14, &spa, 4);
    memcpy(a + 18, tha, 6);
    memcpy(a + 24, &tpa, 4);
    return 60; /* padded to the Ethernet minimum */
}

static void test_arp_gateway(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(make(f, NULL, 0, err, sizeof(err)), 0);
    uint8_t req[60];
    static const uint8_t zero[6];
    arp(req, 1, zero, ip("10.0.2.15"), ip("10.0.2.2"));
    assert_int_equal(net_backend_send(f->be, req, sizeof(req)), 0);
    if (f->nframes == 0) {
        run_for(f, 200);
    }
    assert_int_equal(f->nframes, 1);
    const uint8_t *p = f->frames[0];
    assert_memory_equal(p, guest_mac, 6);
    assert_int_equal(get16(p + 12), 0x0806);
    assert_int_equal(get16(p + 14 + 6), 2); /* reply */
    uint32_t spa;
    memcpy(&spa, p + 14 + 14, 4);
    assert_int_equal(spa, ip("10.0.2.2"));
    /* The gateway's MAC is slirp's, 52:55 and its address. */
    assert_memory_equal(p + 14 + 8, "\x52\x55\x0a\x00\x02\x02", 6);
}

static void test_held_while_peer_full(void **state)
{
    struct fixture *f = *state;
    char err[256];
    assert_int_equal(make(f, NULL, 0, err, sizeof(err)), 0);
    f->refuse = true;
    uint8_t req[400];
    size_t len = dhcp_discover(req);
    assert_int_equal(net_backend_send(f->be, req, len), 0);
    uint8_t areq[60];
    static const uint8_t zero[6];
    arp(areq, 1, zero, ip("10.0.2.15"), ip("10.0.2.2"));
    assert_int_equal(net_backend_send(f->be, areq, sizeof(areq)), 0);
    assert_int_equal(f->nframes, 0);
    /* Still full: nothing moves. */
    net_backend_rx_ready(f->be);
    assert_int_equal(f->nframes, 0);
    /* Room again: both, in the order slirp sent them. */
    f->refuse = false;
    net_backend_rx_ready(f->be);
    assert_int_equal(f->nframes, 2);
    check_offer(f->frames[0], f->lens[0]);
    assert_int_equal(get16(f->frames[1] + 12), 0x0806);
    assert_int_equal(f->be->rx_dropped, 0);
}

static bool is_syn_to(const uint8_t *p, size_t len, uint16_t port)
{
    if (len < 14 + 20 + 20 || get16(p + 12) != 0x0800 || p[14 + 9] != 6) {
        return false;
    }
    const uint8_t *tcp = p + 14 + (size_t)(p[14] & 15) * 4;
    uint32_t dst;
    memcpy(&dst, p + 14 + 16, 4);
    return dst == ip("10.0.2.15") && get16(tcp + 2) == port && (tcp[13] & 0x12) == 0x02;
}

/* slirp asking who has the guest's address: answer as the guest would. */
static void answer_arp(struct fixture *f, const uint8_t *p, size_t len)
{
    if (len < 42 || get16(p + 12) != 0x0806 || get16(p + 14 + 6) != 1) {
        return;
    }
    uint32_t tpa, spa;
    memcpy(&tpa, p + 14 + 24, 4);
    memcpy(&spa, p + 14 + 14, 4);
    if (tpa != ip("10.0.2.15")) {
        return;
    }
    uint8_t reply[60];
    arp(reply, 2, p + 6, tpa, spa);
    net_backend_send(f->be, reply, sizeof(reply));
}

static void test_hostfwd_syn(void **state)
{
    struct fixture *f = *state;
    char err[256];
    int port = free_port();
    struct net_hostfwd fwd;
    char rule[64];
    snprintf(rule, sizeof(rule), "tcp:127.0.0.1:%d-:22", port);
    assert_int_equal(net_hostfwd_parse(rule, &fwd), 0);
    assert_int_equal(make(f, &fwd, 1, err, sizeof(err)), 0);
    dhcp_exchange(f);

    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(0x7f000001)};
    int r = connect(s, (struct sockaddr *)&a, sizeof(a));
    assert_true(r == 0 || errno == EINPROGRESS);
    f->syn_port = 22;
    assert_true(run_for(f, 3000));
    assert_true(f->syn_seen);
    close(s);
}

static void test_hostfwd_port_taken(void **state)
{
    struct fixture *f = *state;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    socklen_t al = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s, 1), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    struct net_hostfwd fwd = {
        .host_addr = a.sin_addr.s_addr, .host_port = ntohs(a.sin_port), .guest_port = 22};
    char err[256] = "";
    assert_true(make(f, &fwd, 1, err, sizeof(err)) < 0);
    assert_null(f->be);
    assert_non_null(strstr(err, "hostfwd tcp:127.0.0.1:"));
    close(s);
}

static void test_tap_errors(void **state)
{
    struct fixture *f = *state;
    char err[256] = "";
    struct net_backend *be = NULL;
    assert_int_equal(net_tap_create(f->loop, "a-name-that-is-too-long", &be, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "not an interface name"));
    assert_int_equal(net_tap_create_dev(f->loop, "/nonexistent/tun", "tap0", &be, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/tun"));
    assert_null(be);
    /* The real device: created here when allowed, otherwise a message that says why. */
    int r = net_tap_create(f->loop, NULL, &be, err, sizeof(err));
    if (r == 0) {
        assert_string_equal(be->ops->kind, "tap");
        net_backend_free(be);
    } else if (r == -EPERM || r == -EACCES) {
        assert_non_null(strstr(err, "permission denied"));
    } else {
        assert_true(strlen(err) > 0);
    }
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_dhcp_offer),  T(test_arp_gateway),        T(test_held_while_peer_full),
        T(test_hostfwd_syn), T(test_hostfwd_port_taken), T(test_tap_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
