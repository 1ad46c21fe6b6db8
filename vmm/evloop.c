// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * epoll event loop, timerfd timers and a cross-thread call queue (eventfd).
 */
#include "vmm/evloop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct watch {
    int fd;
    evloop_fn fn;
    void *opaque;
    bool dead;
    struct watch *next;
};

struct call {
    void (*fn)(void *opaque);
    void *opaque;
    struct call *next;
};

struct loop_timer {
    struct vtimer base; /* first: vtimer pointers are loop_timer pointers */
    struct evloop *loop;
    int fd;
    vtimer_fn fn;
    void *opaque;
};

struct evloop {
    struct vclock clock;
    int epfd;
    int wakefd;
    pthread_mutex_t *lock;
    pthread_mutex_t qlock; /* protects calls, stop */
    struct call *calls, **calls_tail;
    struct watch *watches;
    bool stop;
    int status;
    bool dispatching;
};

static uint64_t mono_now(struct vclock *c)
{
    return host_now_ns();
}

static int64_t real_now(struct vclock *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void timer_ready(void *opaque, uint32_t events)
{
    struct loop_timer *t = opaque;
    uint64_t n;
    if (read(t->fd, &n, sizeof(n)) == (ssize_t)sizeof(n)) {
        t->fn(t->opaque);
    }
}

static struct vtimer *timer_new(struct vclock *c, vtimer_fn fn, void *opaque)
{
    struct evloop *loop = (struct evloop *)c;
    struct loop_timer *t = calloc(1, sizeof(*t));
    if (!t) {
        return NULL;
    }
    t->base.clock = c;
    t->loop = loop;
    t->fn = fn;
    t->opaque = opaque;
    t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (t->fd < 0 || evloop_add_fd(loop, t->fd, EPOLLIN, timer_ready, t) < 0) {
        if (t->fd >= 0) {
            close(t->fd);
        }
        free(t);
        return NULL;
    }
    return &t->base;
}

static void timer_mod(struct vtimer *vt, uint64_t deadline)
{
    struct loop_timer *t = (struct loop_timer *)vt;
    if (deadline == 0) {
        deadline = 1; /* 0 would disarm: fire as soon as possible instead */
    }
    struct itimerspec its = {
        .it_value = {(time_t)(deadline / 1000000000ull), (long)(deadline % 1000000000ull)},
    };
    timerfd_settime(t->fd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void timer_del(struct vtimer *vt)
{
    struct loop_timer *t = (struct loop_timer *)vt;
    struct itimerspec its = {0};
    timerfd_settime(t->fd, 0, &its, NULL);
}

static void timer_free(struct vtimer *vt)
{
    struct loop_timer *t = (struct loop_timer *)vt;
    evloop_del_fd(t->loop, t->fd);
    close(t->fd);
    free(t);
}

static const struct vclock_ops loop_clock_ops = {
    .now_ns = mono_now,
    .realtime_ns = real_now,
    .timer_new = timer_new,
    .timer_mod = timer_mod,
    .timer_del = timer_del,
    .timer_free = timer_free,
};

static void run_calls(void *opaque, uint32_t events)
{
    struct evloop *loop = opaque;
    uint64_t n;
    if (read(loop->wakefd, &n, sizeof(n)) < 0) {
        /* EAGAIN: spurious wake-up, nothing queued */
    }
    pthread_mutex_lock(&loop->qlock);
    struct call *c = loop->calls;
    loop->calls = NULL;
    loop->calls_tail = &loop->calls;
    pthread_mutex_unlock(&loop->qlock);
    while (c) {
        struct call *next = c->next;
        c->fn(c->opaque);
        free(c);
        c = next;
    }
}

struct evloop *evloop_new(pthread_mutex_t *device_lock)
{
    struct evloop *loop = calloc(1, sizeof(*loop));
    if (!loop) {
        return NULL;
    }
    loop->clock.ops = &loop_clock_ops;
    loop->lock = device_lock;
    loop->calls_tail = &loop->calls;
    pthread_mutex_init(&loop->qlock, NULL);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->epfd < 0 || loop->wakefd < 0 ||
        evloop_add_fd(loop, loop->wakefd, EPOLLIN, run_calls, loop) < 0) {
        evloop_free(loop);
        return NULL;
    }
    return loop;
}

void evloop_free(struct evloop *loop)
{
    if (!loop) {
        return;
    }
    struct watch *w = loop->watches;
    while (w) {
        struct watch *next = w->next;
        free(w);
        w = next;
    }
    struct call *c = loop->calls;
    while (c) {
        struct call *next = c->next;
        free(c);
        c = next;
    }
    if (loop->epfd >= 0) {
        close(loop->epfd);
    }
    if (loop->wakefd >= 0) {
        close(loop->wakefd);
    }
    pthread_mutex_destroy(&loop->qlock);
    free(loop);
}

int evloop_add_fd(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
    struct watch *w = calloc(1, sizeof(*w));
    if (!w) {
        return -ENOMEM;
    }
    w->fd = fd;
    w->fn = fn;
    w->opaque = opaque;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = -errno;
        free(w);
        return err;
    }
    w->next = loop->watches;
    loop->watches = w;
    return 0;
}

static struct watch *find_watch(struct evloop *loop, int fd)
{
    for (struct watch *w = loop->watches; w; w = w->next) {
        if (w->fd == fd && !w->dead) {
            return w;
        }
    }
    return NULL;
}

int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events)
{
    struct watch *w = find_watch(loop, fd);
    if (!w) {
        return -ENOENT;
    }
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

/* Watches are freed after the dispatch round, so a callback may delete any fd. */
static void reap(struct evloop *loop)
{
    struct watch **pp = &loop->watches;
    while (*pp) {
        struct watch *w = *pp;
        if (w->dead) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

int evloop_del_fd(struct evloop *loop, int fd)
{
    struct watch *w = find_watch(loop, fd);
    if (!w) {
        return -ENOENT;
    }
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
    w->dead = true;
    if (!loop->dispatching) {
        reap(loop);
    }
    return 0;
}

int evloop_run(struct evloop *loop)
{
    struct epoll_event evs[32];
    for (;;) {
        pthread_mutex_lock(&loop->qlock);
        bool stop = loop->stop;
        loop->stop = false; /* the loop may be run again */
        pthread_mutex_unlock(&loop->qlock);
        if (stop) {
            break;
        }
        int n = epoll_wait(loop->epfd, evs, 32, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        pthread_mutex_lock(loop->lock);
        loop->dispatching = true;
        for (int i = 0; i < n; i++) {
            struct watch *w = evs[i].data.ptr;
            if (!w->dead) {
                w->fn(w->opaque, evs[i].events);
            }
        }
        loop->dispatching = false;
        reap(loop);
        pthread_mutex_unlock(loop->lock);
    }
    return loop->status;
}

static void wake(struct evloop *loop)
{
    uint64_t one = 1;
    if (write(loop->wakefd, &one, sizeof(one)) < 0) {
        /* counter saturated: a wake-up is pending anyway */
    }
}

void evloop_stop(struct evloop *loop, int status)
{
    pthread_mutex_lock(&loop->qlock);
    if (!loop->stop) {
        loop->stop = true;
        loop->status = status;
    }
    pthread_mutex_unlock(&loop->qlock);
    wake(loop);
}

int evloop_call(struct evloop *loop, void (*fn)(void *opaque), void *opaque)
{
    struct call *c = calloc(1, sizeof(*c));
    if (!c) {
        return -ENOMEM;
    }
    c->fn = fn;
    c->opaque = opaque;
    pthread_mutex_lock(&loop->qlock);
    *loop->calls_tail = c;
    loop->calls_tail = &c->next;
    pthread_mutex_unlock(&loop->qlock);
    wake(loop);
    return 0;
}

struct vclock *evloop_clock(struct evloop *loop)
{
    return &loop->clock;
}
