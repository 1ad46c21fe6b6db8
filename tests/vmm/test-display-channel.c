// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The display channel: message encoding and every refusal of the decoder, then the engine's
 * server over a socketpair on a real event loop: hello, the surface memfd (mapped and read
 * back), damage paced by acks, resize with a new memfd, input callbacks, a malformed client
 * dropped while the server goes on.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "display/channel_proto.h"
#include "display/surface.h"
#include "vmm/display_channel.h"
#include "vmm/evloop.h"

/* ---- protocol ----------------------------------------------------------------------------- */

static void roundtrip(const struct dc_msg *m, bool from_client)
{
    uint8_t buf[DC_MAX_MSG];
    int n = dc_encode(m, buf, sizeof(buf));
    assert_true(n >= (int)DC_HDR_SIZE);
    struct dc_msg back;
    for (int i = 0; i < n; i++) {
        assert_int_equal(dc_decode(buf, (size_t)i, from_client, &back), 0); /* need more */
    }
    assert_int_equal(dc_decode(buf, (size_t)n, from_client, &back), n);
    assert_int_equal(back.type, m->type);
    assert_int_equal(dc_decode(buf, (size_t)n, !from_client, &back), -EPROTO);
}

static void test_roundtrips(void **state)
{
    struct dc_msg m = {.type = DC_C_KEY, .key = {0xff0d, true}};
    roundtrip(&m, true);
    m = (struct dc_msg){.type = DC_C_POINTER, .pointer = {639, 399, 5}};
    roundtrip(&m, true);
    m = (struct dc_msg){.type = DC_C_ACK, .ack = {7}};
    roundtrip(&m, true);
    m = (struct dc_msg){.type = DC_C_HELLO, .hello = {DC_MAGIC, DC_VERSION}};
    roundtrip(&m, true);
    m = (struct dc_msg){.type = DC_S_SURFACE, .surface = {640, 400, 2560, DC_FORMAT_XRGB8888, 1}};
    roundtrip(&m, false);
    m = (struct dc_msg){.type = DC_S_DAMAGE};
    m.damage.serial = 3;
    m.damage.count = DC_MAX_RECTS;
    for (unsigned i = 0; i < DC_MAX_RECTS; i++) {
        m.damage.rects[i] = (struct dc_rect){i, i * 2, 8, 16};
    }
    roundtrip(&m, false);
    uint8_t buf[DC_MAX_MSG];
    struct dc_msg back;
    int n = dc_encode(&m, buf, sizeof(buf));
    assert_int_equal(dc_decode(buf, (size_t)n, false, &back), n);
    assert_int_equal(back.damage.count, DC_MAX_RECTS);
    assert_int_equal(back.damage.rects[5].y, 10);
}

/* A raw message: header + u32 fields. */
static size_t raw(uint8_t *buf, uint16_t type, uint16_t reserved, const uint32_t *f, unsigned n)
{
    buf[0] = (uint8_t)type;
    buf[1] = (uint8_t)(type >> 8);
    buf[2] = (uint8_t)reserved;
    buf[3] = (uint8_t)(reserved >> 8);
    uint32_t len = n * 4;
    memcpy(buf + 4, &len, 4);
    memcpy(buf + 8, f, len);
    return 8 + len;
}

static void test_refusals(void **state)
{
    uint8_t buf[DC_MAX_MSG + 64];
    struct dc_msg m;
    size_t n;
    const uint32_t key[] = {0x61, 1}, key_bad_down[] = {0x61, 2}, key_zero[] = {0, 1};
    n = raw(buf, DC_C_KEY, 0, key, 2);
    assert_int_equal(dc_decode(buf, n, true, &m), (int)n);
    assert_int_equal(m.key.keysym, 0x61);
    assert_true(m.key.down);
    n = raw(buf, DC_C_KEY, 1, key, 2); /* reserved bits */
    assert_int_equal(dc_decode(buf, n, true, &m), -EPROTO);
    n = raw(buf, DC_C_KEY, 0, key, 1); /* short */
    assert_int_equal(dc_decode(buf, n, true, &m), -EPROTO);
    n = raw(buf, DC_C_KEY, 0, key_bad_down, 2);
    assert_int_equal(dc_decode(buf, n, true, &m), -EPROTO);
    n = raw(buf, DC_C_KEY, 0, key_zero, 2);
    assert_int_equal(dc_decode(buf, n, true, &m), -EPROTO);
    n = raw(buf, 0x99, 0, key, 2); /* unknown type */
    assert_int_equal(dc_decode(buf, n, true, &m), -EPROTO);
    const uint32_t ptr_far[] = {4096, 0, 0}, ptr_btn[] = {1, 1, 0x20};
    n = raw(buf, DC_C_POINTER, 0, ptr_far, 3);
    assert_int_equal(dc_decode(buf, n, true, &m), -EPROTO);
    n = raw(buf, DC_C_POINTER, 0, ptr_btn, 3);
    assert_int_equal(dc_decode(buf, n, true, &m), -EPROTO);
    const uint32_t hello_bad[] = {0x12345678, 1}, hello_v0[] = {DC_MAGIC, 0};
    n = raw(buf, DC_C_HELLO, 0, hello_bad, 2);
    assert_int_equal(dc_decode(buf, n, true, &m), -EPROTO);
    n = raw(buf, DC_C_HELLO, 0, hello_v0, 2);
    assert_int_equal(dc_decode(buf, n, true, &m), -EPROTO);
    /* A length beyond the limit is refused from the header alone. */
    uint32_t huge = DC_MAX_PAYLOAD + 1;
    buf[0] = DC_C_ACK;
    buf[1] = buf[2] = buf[3] = 0;
    memcpy(buf + 4, &huge, 4);
    assert_int_equal(dc_decode(buf, 8, true, &m), -EMSGSIZE);
    /* Engine messages the GUI must refuse. */
    const uint32_t s_stride[] = {640, 400, 2556, 1, 1}, s_fmt[] = {640, 400, 2560, 2, 1},
                   s_big[] = {4097, 400, 4097 * 4, 1, 1}, s_zero[] = {0, 400, 2560, 1, 1};
    n = raw(buf, DC_S_SURFACE, 0, s_stride, 5);
    assert_int_equal(dc_decode(buf, n, false, &m), -EPROTO);
    n = raw(buf, DC_S_SURFACE, 0, s_fmt, 5);
    assert_int_equal(dc_decode(buf, n, false, &m), -EPROTO);
    n = raw(buf, DC_S_SURFACE, 0, s_big, 5);
    assert_int_equal(dc_decode(buf, n, false, &m), -EPROTO);
    n = raw(buf, DC_S_SURFACE, 0, s_zero, 5);
    assert_int_equal(dc_decode(buf, n, false, &m), -EPROTO);
    const uint32_t d_ok[] = {1, 1, 0, 0, 8, 8}, d_count[] = {1, 2, 0, 0, 8, 8},
                   d_wrap[] = {1, 1, 0xfffffff0, 0, 0x20, 8}, d_empty[] = {1, 1, 0, 0, 0, 8},
                   d_past[] = {1, 1, 4000, 0, 97, 8}, d_none[] = {1, 0};
    n = raw(buf, DC_S_DAMAGE, 0, d_ok, 6);
    assert_int_equal(dc_decode(buf, n, false, &m), (int)n);
    n = raw(buf, DC_S_DAMAGE, 0, d_count, 6); /* count says 2, one rectangle follows */
    assert_int_equal(dc_decode(buf, n, false, &m), -EPROTO);
    n = raw(buf, DC_S_DAMAGE, 0, d_wrap, 6);
    assert_int_equal(dc_decode(buf, n, false, &m), -EPROTO);
    n = raw(buf, DC_S_DAMAGE, 0, d_empty, 6);
    assert_int_equal(dc_decode(buf, n, false, &m), -EPROTO);
    n = raw(buf, DC_S_DAMAGE, 0, d_past, 6);
    assert_int_equal(dc_decode(buf, n, false, &m), -EPROTO);
    n = raw(buf, DC_S_DAMAGE, 0, d_none, 2);
    assert_int_equal(dc_decode(buf, n, false, &m), -EPROTO);
    /* Encoding refuses what it cannot say. */
    m = (struct dc_msg){.type = DC_S_DAMAGE};
    assert_int_equal(dc_encode(&m, buf, sizeof(buf)), -EINVAL);
    m = (struct dc_msg){.type = 0x42};
    assert_int_equal(dc_encode(&m, buf, sizeof(buf)), -EINVAL);
}

/* ---- server ------------------------------------------------------------------------------- */

struct srv {
    pthread_mutex_t lock;
    struct evloop *loop;
    pthread_t thread;
    struct display d;
    struct display_channel *c;
    int sv[2];
    uint32_t last_key;
    bool last_down;
    int px, py;
    unsigned pbuttons, keys;
};

static void srv_key(void *opaque, uint32_t keysym, bool down)
{
    struct srv *s = opaque;
    s->last_key = keysym;
    s->last_down = down;
    s->keys++;
}

static void srv_pointer(void *opaque, int x, int y, unsigned buttons)
{
    struct srv *s = opaque;
    s->px = x;
    s->py = y;
    s->pbuttons = buttons;
}

static const struct vnc_input_ops srv_input = {.key = srv_key, .pointer = srv_pointer};

static void *loop_thread(void *opaque)
{
    evloop_run(opaque);
    return NULL;
}

/* Let the loop (its own thread, as in the engine) serve whatever is ready. */
static void spin(struct srv *s)
{
    usleep(30000);
}

/* What the refresh timer does, under the device lock like every loop callback. */
static void refresh(struct srv *s)
{
    pthread_mutex_lock(&s->lock);
    display_refresh(&s->d);
    display_channel_flush(s->c);
    pthread_mutex_unlock(&s->lock);
    spin(s);
}

static void send_client(struct srv *s, const struct dc_msg *m)
{
    uint8_t buf[DC_MAX_MSG];
    int n = dc_encode(m, buf, sizeof(buf));
    assert_true(n > 0);
    assert_int_equal(send(s->sv[0], buf, (size_t)n, MSG_NOSIGNAL), n);
}

/* Read one engine message (and the fd it carries, or -1); -1 type at EOF or nothing ready. */
static int recv_server(struct srv *s, struct dc_msg *m, int *fd)
{
    uint8_t buf[DC_MAX_MSG];
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = buf, .iov_len = DC_HDR_SIZE};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
    *fd = -1;
    ssize_t n = recvmsg(s->sv[0], &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n <= 0) {
        return -1;
    }
    assert_int_equal(n, DC_HDR_SIZE);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    if (cm && cm->cmsg_type == SCM_RIGHTS) {
        memcpy(fd, CMSG_DATA(cm), sizeof(int));
    }
    uint32_t plen;
    memcpy(&plen, buf + 4, 4);
    assert_true(plen <= DC_MAX_PAYLOAD);
    if (plen) {
        assert_int_equal(read(s->sv[0], buf + DC_HDR_SIZE, plen), (ssize_t)plen);
    }
    assert_int_equal(dc_decode(buf, DC_HDR_SIZE + plen, false, m), (int)(DC_HDR_SIZE + plen));
    return m->type;
}

static void ack(struct srv *s, uint32_t serial)
{
    struct dc_msg m = {.type = DC_C_ACK, .ack = {serial}};
    send_client(s, &m);
    spin(s);
}

static void test_server(void **state)
{
    struct srv s = {0};
    char err[256];
    pthread_mutex_init(&s.lock, NULL);
    s.loop = evloop_new(&s.lock);
    assert_non_null(s.loop);
    assert_int_equal(display_init(&s.d, 64, 32), 0);
    assert_true(s.d.fd >= 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s.sv), 0);
    char spec[32];
    snprintf(spec, sizeof(spec), "fd:%d", s.sv[1]);
    s.c = display_channel_new(spec, &s.d, s.loop, &srv_input, &s, err, sizeof(err));
    assert_non_null(s.c);
    assert_int_equal(pthread_create(&s.thread, NULL, loop_thread, s.loop), 0);

    /* Before hello, nothing comes; then hello and the surface with its memfd. */
    struct dc_msg m;
    int fd;
    display_fill(&s.d, 0, 0, 64, 32, 0x00123456);
    refresh(&s);
    spin(&s);
    assert_int_equal(recv_server(&s, &m, &fd), -1);
    assert_false(display_channel_watched(s.c));
    assert_false(display_channel_watched(NULL));
    struct dc_msg hello = {.type = DC_C_HELLO, .hello = {DC_MAGIC, DC_VERSION}};
    send_client(&s, &hello);
    spin(&s);
    assert_true(display_channel_watched(s.c));
    assert_int_equal(recv_server(&s, &m, &fd), DC_S_HELLO);
    assert_int_equal(m.hello.version, DC_VERSION);
    assert_int_equal(recv_server(&s, &m, &fd), DC_S_SURFACE);
    assert_true(fd >= 0);
    assert_int_equal(m.surface.width, 64);
    assert_int_equal(m.surface.height, 32);
    assert_int_equal(m.surface.stride, 256);
    uint32_t serial = m.surface.serial;
    uint32_t *px = mmap(NULL, 256 * 32, PROT_READ, MAP_SHARED, fd, 0);
    assert_true(px != MAP_FAILED);
    assert_int_equal(px[5 * 64 + 7] & 0xffffff, 0x123456);
    /* The mapping is the surface itself: no copy. */
    pthread_mutex_lock(&s.lock);
    display_fill(&s.d, 2, 3, 4, 5, 0x00abcdef);
    pthread_mutex_unlock(&s.lock);
    assert_int_equal(px[3 * 64 + 2] & 0xffffff, 0xabcdef);

    /* Damage waits for the ack of the surface, then comes as one coalesced message. */
    refresh(&s);
    assert_int_equal(recv_server(&s, &m, &fd), -1);
    ack(&s, serial);
    assert_int_equal(recv_server(&s, &m, &fd), DC_S_DAMAGE);
    assert_int_equal(m.damage.count, 1);
    assert_int_equal(m.damage.rects[0].x, 2);
    assert_int_equal(m.damage.rects[0].y, 3);
    assert_int_equal(m.damage.rects[0].w, 4);
    assert_int_equal(m.damage.rects[0].h, 5);
    serial = m.damage.serial;
    /* Unacked: two refreshes of damage are held back and merged. */
    pthread_mutex_lock(&s.lock);
    display_fill(&s.d, 0, 0, 1, 1, 0);
    pthread_mutex_unlock(&s.lock);
    refresh(&s);
    pthread_mutex_lock(&s.lock);
    display_fill(&s.d, 1, 0, 1, 1, 0);
    pthread_mutex_unlock(&s.lock);
    refresh(&s);
    assert_int_equal(recv_server(&s, &m, &fd), -1);
    ack(&s, serial);
    assert_int_equal(recv_server(&s, &m, &fd), DC_S_DAMAGE);
    assert_int_equal(m.damage.count, 1);
    assert_int_equal(m.damage.rects[0].w, 2);
    serial = m.damage.serial;

    /* Resize: a new surface and memfd, without waiting for an ack. */
    pthread_mutex_lock(&s.lock);
    assert_int_equal(display_resize(&s.d, 80, 40), 0);
    pthread_mutex_unlock(&s.lock);
    refresh(&s);
    assert_int_equal(recv_server(&s, &m, &fd), DC_S_SURFACE);
    assert_true(fd >= 0);
    assert_int_equal(m.surface.width, 80);
    assert_int_equal(lseek(fd, 0, SEEK_END), 80 * 40 * 4);
    close(fd);
    munmap(px, 256 * 32);

    /* Input reaches the machine's callbacks. */
    struct dc_msg key = {.type = DC_C_KEY, .key = {0x61, true}};
    struct dc_msg ptr = {.type = DC_C_POINTER, .pointer = {10, 20, 1}};
    send_client(&s, &key);
    send_client(&s, &ptr);
    spin(&s);
    assert_int_equal(s.last_key, 0x61);
    assert_true(s.last_down);
    assert_int_equal(s.px, 10);
    assert_int_equal(s.py, 20);
    assert_int_equal(s.pbuttons, 1);

    /* An ack from the future is malformed: the client goes, the server stays. */
    struct display_channel_stats st;
    struct dc_msg bad = {.type = DC_C_ACK, .ack = {m.surface.serial + 5}};
    send_client(&s, &bad);
    spin(&s);
    display_channel_stats(s.c, &st);
    assert_int_equal(st.bad_msgs, 1);
    assert_int_equal(st.keys, 1);
    assert_int_equal(st.surfaces, 2);
    assert_int_equal(st.damages, 2);
    char b;
    assert_int_equal(read(s.sv[0], &b, 1), 0);                 /* EOF */
    assert_int_equal(send(s.sv[0], "x", 1, MSG_NOSIGNAL), -1); /* the engine closed its end */
    refresh(&s);
    assert_int_equal(s.keys, 1);

    evloop_stop(s.loop, 0);
    pthread_join(s.thread, NULL);
    display_channel_free(s.c);
    close(s.sv[0]);
    display_destroy(&s.d);
    evloop_free(s.loop);
}

static void test_listen_and_parse(void **state)
{
    char err[256];
    assert_int_equal(display_channel_parse("unix:/tmp/x", err, sizeof(err)), 0);
    assert_int_equal(display_channel_parse("fd:3", err, sizeof(err)), 0);
    assert_int_equal(display_channel_parse("fd:", err, sizeof(err)), -EINVAL);
    assert_int_equal(display_channel_parse("fd:3x", err, sizeof(err)), -EINVAL);
    assert_int_equal(display_channel_parse("unix:", err, sizeof(err)), -EINVAL);
    assert_int_equal(display_channel_parse("tcp:1", err, sizeof(err)), -EINVAL);
    /* fd: must be a stream socket. */
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    struct evloop *loop = evloop_new(&lock);
    struct display d;
    assert_int_equal(display_init(&d, 8, 8), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    char spec[32];
    snprintf(spec, sizeof(spec), "fd:%d", p[0]);
    assert_null(display_channel_new(spec, &d, loop, &srv_input, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not a stream socket"));
    close(p[0]);
    close(p[1]);
    display_destroy(&d);
    evloop_free(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrips),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_server),
        cmocka_unit_test(test_listen_and_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
