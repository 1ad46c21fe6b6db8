// SPDX-License-Identifier: GPL-2.0-or-later
/* Event loop: fd callbacks under the device lock, timers, cross-thread calls, stop. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/evloop.h"

struct ctx {
    struct evloop *loop;
    pthread_mutex_t lock;
    int pipe[2];
    int reads;
    int timer_fires;
    uint64_t fired_at, armed_for;
    struct vtimer *timer;
    bool lock_held_in_callback;
};

static void on_readable(void *opaque, uint32_t events)
{
    struct ctx *c = opaque;
    char b;
    c->lock_held_in_callback = pthread_mutex_trylock(&c->lock) == EBUSY;
    if (read(c->pipe[0], &b, 1) == 1) {
        c->reads++;
    }
    /* Deleting the fd being dispatched is allowed. */
    assert_int_equal(evloop_del_fd(c->loop, c->pipe[0]), 0);
    vtimer_mod(c->timer, vclock_now(evloop_clock(c->loop)) + 2000000);
    c->armed_for = vclock_now(evloop_clock(c->loop)) + 2000000;
}

static void on_timer(void *opaque)
{
    struct ctx *c = opaque;
    c->timer_fires++;
    c->fired_at = vclock_now(evloop_clock(c->loop));
    evloop_stop(c->loop, 42);
}

static void test_fd_timer_stop(void **state)
{
    struct ctx c = {0};
    pthread_mutex_init(&c.lock, NULL);
    c.loop = evloop_new(&c.lock);
    assert_non_null(c.loop);
    assert_int_equal(pipe(c.pipe), 0);
    c.timer = vtimer_new(evloop_clock(c.loop), on_timer, &c);
    assert_non_null(c.timer);
    assert_int_equal(evloop_add_fd(c.loop, c.pipe[0], EPOLLIN, on_readable, &c), 0);
    assert_int_equal(evloop_del_fd(c.loop, 12345), -ENOENT);
    assert_int_equal(write(c.pipe[1], "xy", 2), 2);
    assert_int_equal(evloop_run(c.loop), 42);
    assert_int_equal(c.reads, 1); /* deleted after the first byte */
    assert_int_equal(c.timer_fires, 1);
    assert_true(c.fired_at >= c.armed_for);
    assert_true(c.lock_held_in_callback);
    vtimer_free(c.timer);
    evloop_free(c.loop);
    close(c.pipe[0]);
    close(c.pipe[1]);
}

static void count_call(void *opaque)
{
    struct ctx *c = opaque;
    if (++c->reads == 100) {
        evloop_stop(c->loop, 7);
    }
}

static void *caller(void *opaque)
{
    struct ctx *c = opaque;
    for (int i = 0; i < 100; i++) {
        evloop_call(c->loop, count_call, c);
    }
    return NULL;
}

static void test_calls_from_another_thread(void **state)
{
    struct ctx c = {0};
    pthread_mutex_init(&c.lock, NULL);
    c.loop = evloop_new(&c.lock);
    pthread_t t;
    pthread_create(&t, NULL, caller, &c);
    assert_int_equal(evloop_run(c.loop), 7);
    pthread_join(t, NULL);
    assert_int_equal(c.reads, 100);
    evloop_free(c.loop);
    evloop_free(NULL);
}

static void test_timer_rearm_and_delete(void **state)
{
    struct ctx c = {0};
    pthread_mutex_init(&c.lock, NULL);
    c.loop = evloop_new(&c.lock);
    struct vclock *clk = evloop_clock(c.loop);
    c.timer = vtimer_new(clk, on_timer, &c);
    struct vtimer *never = vtimer_new(clk, on_timer, &c);
    vtimer_mod(never, vclock_now(clk) + 1000000);
    vtimer_del(never); /* a deleted timer does not fire */
    vtimer_mod(c.timer, vclock_now(clk) + 50000000);
    vtimer_mod(c.timer, vclock_now(clk) + 3000000); /* re-arming replaces the deadline */
    assert_int_equal(evloop_run(c.loop), 42);
    assert_int_equal(c.timer_fires, 1);
    assert_true(vclock_realtime(clk) > 1600000000ll * 1000000000ll);
    vtimer_free(never);
    vtimer_free(c.timer);
    evloop_free(c.loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_timer_stop),
        cmocka_unit_test(test_calls_from_another_thread),
        cmocka_unit_test(test_timer_rearm_and_delete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
