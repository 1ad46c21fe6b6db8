// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The block I/O engine on its own, with io_uring and with the thread pool: completion only
 * through block_aio_complete after the eventfd fires, results and errors, plugged batches,
 * discard falling back, requests refused at submit, destroy draining what is in flight.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/block_aio.h"

#define SIZE (256u << 10)

struct fixture {
    enum block_aio_backend backend;
    char path[64];
    struct block_image *img;
    struct block_aio *aio;
    unsigned done;
    int last;
};

struct tracked {
    struct block_aio_req req;
    struct fixture *f;
    bool done;
    int result;
};

static void on_done(struct block_aio_req *req, int result)
{
    struct tracked *t = (struct tracked *)req;
    t->done = true;
    t->result = result;
    t->f->done++;
}

static int setup(void **state, enum block_aio_backend backend)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->backend = backend;
    snprintf(f->path, sizeof(f->path), "/var/tmp/test-aio-XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, SIZE), 0);
    close(fd);
    char err[BLOCK_ERR_LEN];
    assert_int_equal(block_open(f->path, BLOCK_FORMAT_RAW, false, BLOCK_CACHE_WRITEBACK, &f->img,
                                err, sizeof(err)),
                     0);
    int r = block_aio_create(f->img, backend, 8, &f->aio, err, sizeof(err));
    if (r < 0 && backend == BLOCK_AIO_IO_URING) {
        block_close(f->img);
        unlink(f->path);
        free(f);
        *state = NULL;
        return 0; /* test bodies skip */
    }
    assert_int_equal(r, 0);
    assert_int_equal(block_aio_backend(f->aio), backend);
    *state = f;
    return 0;
}

static int setup_ring(void **state)
{
    return setup(state, BLOCK_AIO_IO_URING);
}

static int setup_pool(void **state)
{
    return setup(state, BLOCK_AIO_THREADS);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f != NULL) {
        block_aio_destroy(f->aio);
        block_close(f->img);
        unlink(f->path);
        free(f);
    }
    return 0;
}

static struct fixture *get(void **state)
{
    if (*state == NULL) {
        skip();
    }
    return *state;
}

static void wait_all(struct fixture *f)
{
    for (int i = 0; i < 500 && block_aio_inflight(f->aio) > 0; i++) {
        struct pollfd p = {.fd = block_aio_event_fd(f->aio), .events = POLLIN};
        (void)poll(&p, 1, 20);
        block_aio_complete(f->aio);
    }
    assert_int_equal(block_aio_inflight(f->aio), 0);
}

static void submit(struct fixture *f, struct tracked *t)
{
    t->f = f;
    t->done = false;
    t->req.done = on_done;
    assert_int_equal(block_aio_submit(f->aio, &t->req), 0);
    assert_false(t->done); /* never from inside submit */
}

static void test_write_read_flush(void **state)
{
    struct fixture *f = get(state);
    static uint8_t a[8192], b[8192];
    for (unsigned i = 0; i < sizeof(a); i++) {
        a[i] = (uint8_t)(i * 13 + 5);
    }
    struct iovec wv[2] = {{a, 4096}, {a + 4096, 4096}};
    struct tracked w = {.req = {.op = BLOCK_AIO_WRITE, .off = 4096, .iov = wv, .iovcnt = 2}};
    submit(f, &w);
    wait_all(f);
    assert_true(w.done);
    assert_int_equal(w.result, 0);

    struct iovec rv[3] = {{b, 100}, {b + 100, 8000}, {b + 8100, 92}};
    struct tracked r = {.req = {.op = BLOCK_AIO_READ, .off = 4096, .iov = rv, .iovcnt = 3}};
    struct tracked fl = {.req = {.op = BLOCK_AIO_FLUSH}};
    submit(f, &r);
    submit(f, &fl);
    wait_all(f);
    assert_int_equal(r.result, 0);
    assert_int_equal(fl.result, 0);
    assert_memory_equal(a, b, sizeof(a));
    uint64_t ring, pool;
    block_aio_counts(f->aio, &ring, &pool);
    assert_int_equal(ring + pool, 3);
    assert_int_equal(ring, f->backend == BLOCK_AIO_IO_URING ? 3 : 0);
}

static void test_errors_and_discard(void **state)
{
    struct fixture *f = get(state);
    static uint8_t buf[4096];
    memset(buf, 0xee, sizeof(buf));
    struct iovec v = {buf, sizeof(buf)};
    /* Past the end: the driver's bounds check answers, whichever path. */
    struct tracked r = {.req = {.op = BLOCK_AIO_READ, .off = SIZE, .iov = &v, .iovcnt = 1}};
    submit(f, &r);
    struct tracked w = {.req = {.op = BLOCK_AIO_WRITE, .off = 0, .iov = &v, .iovcnt = 1}};
    submit(f, &w);
    wait_all(f);
    assert_int_equal(r.result, -EINVAL);
    assert_int_equal(w.result, 0);
    struct tracked d = {.req = {.op = BLOCK_AIO_DISCARD, .off = 0, .len = 4096}};
    struct tracked z = {.req = {.op = BLOCK_AIO_WRITE_ZEROES, .off = 8192, .len = 100}};
    submit(f, &d);
    submit(f, &z);
    wait_all(f);
    assert_int_equal(d.result, 0);
    assert_int_equal(z.result, 0);
    static uint8_t got[4096];
    assert_int_equal(block_pread(f->img, 0, got, sizeof(got)), 0);
    for (unsigned i = 0; i < sizeof(got); i++) {
        assert_int_equal(got[i], 0);
    }
    /* Refused at submit. */
    struct tracked bad = {.req = {.op = (enum block_aio_op)99, .done = on_done}};
    assert_int_equal(block_aio_submit(f->aio, &bad.req), -EINVAL);
    struct tracked many = {
        .req = {.op = BLOCK_AIO_READ, .iov = &v, .iovcnt = BLOCK_AIO_IOV_MAX + 1, .done = on_done}};
    assert_int_equal(block_aio_submit(f->aio, &many.req), -EINVAL);
    assert_int_equal(block_aio_inflight(f->aio), 0);
}

/* More requests than the ring holds, plugged: the rest go to the pool; all complete. */
static void test_plugged_burst_and_destroy(void **state)
{
    struct fixture *f = get(state);
    enum { N = 40 };
    static struct tracked t[N];
    static uint8_t bufs[N][512];
    static struct iovec v[N];
    block_aio_plug(f->aio);
    for (unsigned i = 0; i < N; i++) {
        memset(bufs[i], i + 1, 512);
        v[i] = (struct iovec){bufs[i], 512};
        t[i] = (struct tracked){
            .req = {.op = BLOCK_AIO_WRITE, .off = (uint64_t)i * 512, .iov = &v[i], .iovcnt = 1}};
        submit(f, &t[i]);
    }
    block_aio_unplug(f->aio);
    assert_int_equal(block_aio_inflight(f->aio), N);
    /* Destroy waits for all of them and runs their callbacks. */
    block_aio_destroy(f->aio);
    f->aio = NULL;
    assert_int_equal(f->done, N);
    for (unsigned i = 0; i < N; i++) {
        assert_true(t[i].done);
        assert_int_equal(t[i].result, 0);
        uint8_t got[512];
        assert_int_equal(block_pread(f->img, (uint64_t)i * 512, got, 512), 0);
        assert_int_equal(got[0], i + 1);
        assert_int_equal(got[511], i + 1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_read_flush, setup_ring, teardown),
        cmocka_unit_test_setup_teardown(test_write_read_flush, setup_pool, teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_discard, setup_ring, teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_discard, setup_pool, teardown),
        cmocka_unit_test_setup_teardown(test_plugged_burst_and_destroy, setup_ring, teardown),
        cmocka_unit_test_setup_teardown(test_plugged_burst_and_destroy, setup_pool, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
