// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VNC client pump (display/vnc_pump.c): bytes both ways in order, a large update while
 * the client reads, a client that never reads dropped at the queue limit and when stalled
 * (the server's writes fail instead of blocking), the server's last words flushed after it
 * closed, a client's half close passed on. The "client" is one end of a socketpair, the pump gets
 * the other.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "display/vnc_pump.h"

struct rig {
    int client; /* the VNC client's end */
    int server; /* what libvncserver would get */
    struct vnc_pump *pump;
};

static void rig_start(struct rig *r, size_t limit, unsigned stall_ms)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    r->client = sv[0];
    assert_int_equal(vnc_pump_new(sv[1], limit, stall_ms, &r->pump, &r->server), 0);
}

/* The server closes its end, as libvncserver does before clientGoneHook. */
static void rig_end(struct rig *r)
{
    close(r->server);
    vnc_pump_release(r->pump);
    close(r->client);
}

static void read_all(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        assert_true(n > 0);
        got += (size_t)n;
    }
}

/* Reads until EOF (the pump closed the socket), at most max bytes; returns the count. */
static size_t read_to_eof(int fd, size_t max)
{
    static uint8_t buf[65536];
    size_t total = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        assert_int_equal(poll(&p, 1, 20000), 1); /* a hang is a failure, not a wait */
        ssize_t n = read(fd, buf, sizeof(buf));
        assert_true(n >= 0);
        if (n == 0) {
            return total;
        }
        total += (size_t)n;
        assert_true(total <= max);
    }
}

static void test_both_ways(void **state)
{
    struct rig r;
    rig_start(&r, 1 << 20, 10000);
    uint8_t buf[16];
    assert_int_equal(write(r.server, "RFB 003.008\n", 12), 12);
    read_all(r.client, buf, 12);
    assert_memory_equal(buf, "RFB 003.008\n", 12);
    assert_int_equal(write(r.client, "\x01\x02\x03", 3), 3);
    read_all(r.server, buf, 3);
    assert_memory_equal(buf, "\x01\x02\x03", 3);
    rig_end(&r);
}

/* 8 MiB from the server in one write while the client reads: every byte, in order. */
static void test_large_update(void **state)
{
    struct rig r;
    size_t len = 8u << 20;
    rig_start(&r, len + (1 << 20), 10000);
    uint8_t *out = malloc(len), *in = malloc(len);
    assert_non_null(out);
    assert_non_null(in);
    for (size_t i = 0; i < len; i++) {
        out[i] = (uint8_t)(i * 7 + (i >> 12));
    }
    /* the pump queues it all: the server's write finishes before the client reads a byte */
    size_t sent = 0;
    while (sent < len) {
        ssize_t n = send(r.server, out + sent, len - sent, MSG_NOSIGNAL);
        assert_true(n > 0);
        sent += (size_t)n;
    }
    read_all(r.client, in, len);
    assert_memory_equal(in, out, len);
    free(out);
    free(in);
    rig_end(&r);
}

/* A client that never reads: past the limit the pump drops it and the server's writes fail. */
static void test_queue_limit(void **state)
{
    struct rig r;
    rig_start(&r, 256 << 10, 60000);
    static uint8_t chunk[64 << 10];
    ssize_t n = 0;
    size_t sent = 0;
    while ((n = send(r.server, chunk, sizeof(chunk), MSG_NOSIGNAL)) > 0) {
        sent += (size_t)n;
        assert_true(sent < (64u << 20)); /* it must not swallow everything */
    }
    assert_int_equal(errno, EPIPE);
    /* the client gets at most what the pump held and the socket buffers, then EOF */
    assert_true(read_to_eof(r.client, sent) <= sent);
    rig_end(&r);
}

/* A client that stops reading with bytes queued is dropped after the stall time. */
static void test_stall(void **state)
{
    struct rig r;
    rig_start(&r, 64u << 20, 100);
    static uint8_t chunk[1 << 20];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(send(r.server, chunk, sizeof(chunk), MSG_NOSIGNAL),
                         (ssize_t)sizeof(chunk));
    }
    /* the server reads EOF: libvncserver lets the client go */
    struct pollfd p = {.fd = r.server, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 20000), 1);
    uint8_t b;
    assert_int_equal(read(r.server, &b, 1), 0);
    rig_end(&r);
}

/* The server's last words (a refusal) reach the client after it closed its end. */
static void test_flush_after_close(void **state)
{
    struct rig r;
    rig_start(&r, 1 << 20, 10000);
    assert_int_equal(write(r.server, "\0\0\0\1bye", 7), 7);
    close(r.server);
    vnc_pump_release(r.pump);
    uint8_t buf[7];
    read_all(r.client, buf, 7);
    assert_memory_equal(buf, "\0\0\0\1bye", 7);
    assert_int_equal(read_to_eof(r.client, 0), 0);
    close(r.client);
}

/* A client that shuts its sending side: the server reads EOF, the client still gets the answer. */
static void test_client_half_close(void **state)
{
    struct rig r;
    rig_start(&r, 1 << 20, 10000);
    uint8_t buf[6];
    assert_int_equal(write(r.client, "x", 1), 1);
    assert_int_equal(shutdown(r.client, SHUT_WR), 0);
    read_all(r.server, buf, 1);
    assert_int_equal(buf[0], 'x');
    assert_int_equal(read(r.server, buf, 1), 0);
    assert_int_equal(write(r.server, "answer", 6), 6);
    close(r.server);
    vnc_pump_release(r.pump);
    read_all(r.client, buf, 6);
    assert_memory_equal(buf, "answer", 6);
    assert_int_equal(read_to_eof(r.client, 0), 0);
    close(r.client);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_both_ways),         cmocka_unit_test(test_large_update),
        cmocka_unit_test(test_queue_limit),       cmocka_unit_test(test_stall),
        cmocka_unit_test(test_flush_after_close), cmocka_unit_test(test_client_half_close),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
