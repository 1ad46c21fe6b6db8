// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The unix:PATH character back-end on a real event loop and real sockets: history ring
 * wraparound and replay, clients attaching, leaving and coming back, a second client refused
 * while one is attached, output that never waits for a client, input with back-pressure, bad
 * paths; and stdio input ending while it is paused.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/chardev.h"
#include "vmm/evloop.h"

struct fixture {
    pthread_mutex_t lock;
    struct evloop *loop;
    struct vtimer *stop;
    char dir[64];
    char path[96];
    char spec[160];
    struct chardev chr;
    bool open;
    /* The consumer: takes at most `room` bytes per offer (SIZE_MAX: all). */
    uint8_t got[4096];
    size_t ngot;
    size_t room;
};

static void stop_loop(void *opaque)
{
    struct fixture *f = opaque;
    evloop_stop(f->loop, 0);
}

/* Run the loop for about ms milliseconds. */
static void pump(struct fixture *f, unsigned ms)
{
    vtimer_mod(f->stop, vclock_now(evloop_clock(f->loop)) + ms * 1000000ull);
    evloop_run(f->loop);
}

static size_t consume(void *opaque, const uint8_t *buf, size_t len)
{
    struct fixture *f = opaque;
    size_t n = len < f->room ? len : f->room;
    if (n > sizeof(f->got) - f->ngot) {
        n = sizeof(f->got) - f->ngot;
    }
    memcpy(f->got + f->ngot, buf, n);
    f->ngot += n;
    if (f->room != SIZE_MAX) {
        f->room -= n;
    }
    return n;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    pthread_mutex_init(&f->lock, NULL);
    f->loop = evloop_new(&f->lock);
    assert_non_null(f->loop);
    f->stop = vtimer_new(evloop_clock(f->loop), stop_loop, f);
    assert_non_null(f->stop);
    snprintf(f->dir, sizeof(f->dir), "/tmp/deskvm-chardev-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/serial", f->dir);
    snprintf(f->spec, sizeof(f->spec), "unix:%s", f->path);
    f->room = SIZE_MAX;
    char err[256] = "";
    assert_int_equal(chardev_open(&f->chr, f->spec, err, sizeof(err)), 0);
    f->open = true;
    assert_int_equal(chardev_attach(&f->chr, f->loop, consume, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->open) {
        chardev_close(&f->chr);
    }
    vtimer_free(f->stop);
    evloop_free(f->loop);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int client(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Everything the client can read now, after letting the loop run; -1 once it saw EOF. */
static ssize_t drain(struct fixture *f, int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    for (int round = 0; round < 200; round++) {
        pump(f, 2);
        for (;;) {
            ssize_t r = recv(fd, buf + n, cap - n, MSG_DONTWAIT);
            if (r == 0) {
                return -1;
            }
            if (r < 0) {
                break;
            }
            n += (size_t)r;
            round = 190; /* data came: a few more rounds for the rest */
        }
        if (n == cap) {
            break;
        }
    }
    return (ssize_t)n;
}

static uint8_t pattern(uint64_t i)
{
    return (uint8_t)(i * 7 + i / 251);
}

static void test_history_wraps_and_replays(void **state)
{
    struct fixture *f = *state;
    /* 100 KiB in odd-sized writes, no client: the ring wraps; only the last 64 KiB stay. */
    const size_t total = 100 * 1024;
    uint8_t chunk[777];
    for (size_t i = 0; i < total;) {
        size_t n = total - i < sizeof(chunk) ? total - i : sizeof(chunk);
        for (size_t k = 0; k < n; k++) {
            chunk[k] = pattern(i + k);
        }
        assert_int_equal(chardev_write(&f->chr, chunk, n), (ssize_t)n);
        i += n;
    }
    assert_false(chardev_has_client(&f->chr));
    int fd = client(f->path);
    static uint8_t buf[CHARDEV_HISTORY_SIZE + 1];
    assert_int_equal(drain(f, fd, buf, sizeof(buf)), CHARDEV_HISTORY_SIZE);
    for (size_t k = 0; k < CHARDEV_HISTORY_SIZE; k++) {
        assert_int_equal(buf[k], pattern(total - CHARDEV_HISTORY_SIZE + k));
    }
    assert_true(chardev_has_client(&f->chr));
    /* Live output after the replay. */
    assert_int_equal(chardev_write(&f->chr, "live", 4), 4);
    assert_int_equal(drain(f, fd, buf, 4), 4);
    assert_memory_equal(buf, "live", 4);
    close(fd);
}

static void test_attach_detach_reattach(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[256];
    int a = client(f->path);
    assert_int_equal(drain(f, a, buf, sizeof(buf)), 0); /* nothing written yet */
    assert_true(chardev_has_client(&f->chr));
    assert_int_equal(chardev_write(&f->chr, "abc", 3), 3);
    assert_int_equal(drain(f, a, buf, 3), 3);
    assert_memory_equal(buf, "abc", 3);
    assert_int_equal(send(a, "in1", 3, 0), 3);
    close(a);
    for (int i = 0; i < 100 && chardev_has_client(&f->chr); i++) {
        pump(f, 2);
    }
    assert_false(chardev_has_client(&f->chr));
    /* Input the client sent before it left still reached the consumer; no EOF for the guest. */
    assert_int_equal(f->ngot, 3);
    assert_memory_equal(f->got, "in1", 3);
    /* Output while nobody is attached goes to the history. */
    assert_int_equal(chardev_write(&f->chr, "def", 3), 3);
    int b = client(f->path);
    assert_int_equal(drain(f, b, buf, 6), 6);
    assert_memory_equal(buf, "abcdef", 6);
    assert_int_equal(send(b, "in2", 3, 0), 3);
    for (int i = 0; i < 100 && f->ngot < 6; i++) {
        pump(f, 2);
    }
    assert_int_equal(f->ngot, 6);
    assert_memory_equal(f->got, "in1in2", 6);
    close(b);
}

static void test_second_client_refused(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[256];
    assert_int_equal(chardev_write(&f->chr, "hist", 4), 4);
    int a = client(f->path);
    assert_int_equal(drain(f, a, buf, 4), 4);
    /* A second connection while one is attached: closed at once, nothing sent to it. */
    int b = client(f->path);
    assert_int_equal(drain(f, b, buf, sizeof(buf)), -1);
    assert_int_equal(chardev_refused(&f->chr), 1);
    close(b);
    /* The attached client is untouched: output and input flow as before. */
    assert_int_equal(chardev_write(&f->chr, "new", 3), 3);
    assert_int_equal(drain(f, a, buf, 3), 3);
    assert_memory_equal(buf, "new", 3);
    assert_int_equal(send(a, "x", 1, 0), 1);
    for (int i = 0; i < 100 && f->ngot < 1; i++) {
        pump(f, 2);
    }
    assert_int_equal(f->ngot, 1);
    assert_int_equal(f->got[0], 'x');
    /* Once it leaves, the next client gets in, history first. */
    close(a);
    for (int i = 0; i < 100 && chardev_has_client(&f->chr); i++) {
        pump(f, 2);
    }
    int c = client(f->path);
    assert_int_equal(drain(f, c, buf, 7), 7);
    assert_memory_equal(buf, "histnew", 7);
    close(c);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_output_never_blocks(void **state)
{
    struct fixture *f = *state;
    /* 4 MiB byte by byte (as the UART writes) with nobody attached. */
    uint64_t t0 = now_ms();
    for (uint64_t i = 0; i < 4u << 20; i++) {
        uint8_t c = pattern(i);
        assert_int_equal(chardev_write(&f->chr, &c, 1), 1);
    }
    /* A client that never reads: its socket buffer fills, the writes still return at once. */
    int fd = client(f->path);
    pump(f, 20);
    const uint64_t more = 4u << 20;
    for (uint64_t i = 0; i < more; i++) {
        uint8_t c = pattern((4u << 20) + i);
        assert_int_equal(chardev_write(&f->chr, &c, 1), 1);
    }
    assert_true(now_ms() - t0 < 20000);
    /* When it reads at last it gets a stream that ends with the newest output. */
    static uint8_t buf[4 << 20];
    ssize_t n = drain(f, fd, buf, sizeof(buf));
    assert_true(n >= CHARDEV_HISTORY_SIZE);
    assert_true(chardev_dropped(&f->chr) > 0); /* what fell out of the ring while it slept */
    uint64_t end = (8u << 20);
    for (size_t k = 0; k < CHARDEV_HISTORY_SIZE; k++) {
        assert_int_equal(buf[(size_t)n - CHARDEV_HISTORY_SIZE + k],
                         pattern(end - CHARDEV_HISTORY_SIZE + k));
    }
    close(fd);
}

static void test_input_back_pressure(void **state)
{
    struct fixture *f = *state;
    int fd = client(f->path);
    pump(f, 5);
    f->room = 2; /* the consumer is nearly full */
    assert_int_equal(send(fd, "0123456789", 10, 0), 10);
    for (int i = 0; i < 20; i++) {
        pump(f, 2);
    }
    assert_int_equal(f->ngot, 2);
    /* More input while paused is not read, and nothing is lost. */
    assert_int_equal(send(fd, "abc", 3, 0), 3);
    pump(f, 10);
    assert_int_equal(f->ngot, 2);
    f->room = 5;
    chardev_input_resume(&f->chr);
    assert_int_equal(f->ngot, 7);
    f->room = SIZE_MAX;
    chardev_input_resume(&f->chr);
    for (int i = 0; i < 100 && f->ngot < 13; i++) {
        pump(f, 2);
    }
    assert_int_equal(f->ngot, 13);
    assert_memory_equal(f->got, "0123456789abc", 13);
    close(fd);
}

static void test_socket_file(void **state)
{
    struct fixture *f = *state;
    struct stat st;
    assert_int_equal(lstat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);

    /* A second server on the same path while this one lives: refused, first one untouched. */
    struct chardev other;
    char err[256] = "";
    assert_int_equal(chardev_open(&other, f->spec, err, sizeof(err)), -EADDRINUSE);
    assert_non_null(strstr(err, "in use"));
    assert_int_equal(lstat(f->path, &st), 0);

    /* Closed: the file goes. A stale socket file (its server gone) is replaced. */
    chardev_close(&f->chr);
    f->open = false;
    assert_int_equal(lstat(f->path, &st), -1);
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
    assert_int_equal(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(stale);
    assert_int_equal(chardev_open(&f->chr, f->spec, err, sizeof(err)), 0);
    f->open = true;
    assert_int_equal(chardev_attach(&f->chr, f->loop, consume, f), 0);
    int fd = client(f->path);
    pump(f, 5);
    assert_true(chardev_has_client(&f->chr));
    close(fd);

    /* Bad paths: one message naming the problem. */
    char longspec[200] = "unix:/tmp/";
    memset(longspec + 10, 'x', 150);
    assert_int_equal(chardev_open(&other, longspec, err, sizeof(err)), -ENAMETOOLONG);
    assert_non_null(strstr(err, "too long"));
    assert_int_equal(chardev_open(&other, "unix:/nonexistent-dir/s", err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent-dir/s"));
    char plain[160];
    snprintf(plain, sizeof(plain), "%s/plain", f->dir);
    FILE *fp = fopen(plain, "w");
    assert_non_null(fp);
    fclose(fp);
    char spec[200];
    snprintf(spec, sizeof(spec), "unix:%s", plain);
    assert_int_equal(chardev_open(&other, spec, err, sizeof(err)), -EEXIST);
    assert_non_null(strstr(err, "not a socket"));
    assert_int_equal(lstat(plain, &st), 0); /* never removed */
    unlink(plain);
    assert_int_equal(chardev_open(&other, "tcp:1", err, sizeof(err)), -EINVAL);
}

static uint64_t cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* stdio as before: input with back-pressure, then end of file. A pipe whose writer closes
 * while input is paused is read to its end once the consumer has room (no busy loop on the
 * hang-up meanwhile), then it is EOF for good. */
static void test_stdio_eof_while_paused(void **state)
{
    struct fixture *f = *state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    int saved = dup(STDIN_FILENO);
    assert_true(saved >= 0);
    assert_int_equal(dup2(p[0], STDIN_FILENO), STDIN_FILENO);
    close(p[0]);
    struct chardev chr;
    char err[256] = "";
    assert_int_equal(chardev_open(&chr, "stdio", err, sizeof(err)), 0);
    chr.out_fd = -1; /* keep the test's stdout clean */
    assert_int_equal(chardev_attach(&chr, f->loop, consume, f), 0);
    f->room = 2;
    assert_int_equal(write(p[1], "hello", 5), 5);
    close(p[1]);
    pump(f, 10);
    assert_int_equal(f->ngot, 2);
    /* Paused and hung up: the loop sleeps (a busy loop burns about the whole 200 ms). */
    uint64_t cpu0 = cpu_ms();
    pump(f, 200);
    assert_true(cpu_ms() - cpu0 < 20);
    assert_int_equal(f->ngot, 2);
    assert_false(chr.in_eof);
    f->room = SIZE_MAX;
    chardev_input_resume(&chr);
    assert_int_equal(f->ngot, 5);
    assert_memory_equal(f->got, "hello", 5);
    assert_true(chr.in_eof);
    pump(f, 10);
    chardev_close(&chr);
    assert_int_equal(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_history_wraps_and_replays), T(test_attach_detach_reattach),
        T(test_second_client_refused),     T(test_output_never_blocks),
        T(test_input_back_pressure),       T(test_socket_file),
        T(test_stdio_eof_while_paused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
