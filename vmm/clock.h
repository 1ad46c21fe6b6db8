/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Time as device models see it: a monotonic clock, the wall clock, and one-shot timers.
 * The engine backs it with the event loop (timerfd); unit tests back it with a fake clock
 * they advance by hand, so timer-driven devices are tested exactly.
 */
#ifndef DESKVM_VMM_CLOCK_H
#define DESKVM_VMM_CLOCK_H

#include <stdint.h>
#include <time.h>

struct vclock;
struct vtimer;

/* The host's CLOCK_MONOTONIC in ns: for host-side timing (statistics, stalls, log rates),
 * never for what the guest sees (that goes through a vclock). */
static inline uint64_t host_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef void (*vtimer_fn)(void *opaque);

struct vclock_ops {
    uint64_t (*now_ns)(struct vclock *clock);     /* monotonic */
    int64_t (*realtime_ns)(struct vclock *clock); /* wall clock, ns since the epoch */
    struct vtimer *(*timer_new)(struct vclock *clock, vtimer_fn fn, void *opaque);
    void (*timer_mod)(struct vtimer *timer, uint64_t deadline_ns); /* absolute, now_ns clock */
    void (*timer_del)(struct vtimer *timer);
    void (*timer_free)(struct vtimer *timer);
};

struct vclock {
    const struct vclock_ops *ops;
};

static inline uint64_t vclock_now(struct vclock *c)
{
    return c->ops->now_ns(c);
}

static inline int64_t vclock_realtime(struct vclock *c)
{
    return c->ops->realtime_ns(c);
}

static inline struct vtimer *vtimer_new(struct vclock *c, vtimer_fn fn, void *opaque)
{
    return c->ops->timer_new(c, fn, opaque);
}

/* A timer remembers its clock so users need only the timer. */
struct vtimer {
    struct vclock *clock;
};

static inline void vtimer_mod(struct vtimer *t, uint64_t deadline_ns)
{
    t->clock->ops->timer_mod(t, deadline_ns);
}

static inline void vtimer_del(struct vtimer *t)
{
    t->clock->ops->timer_del(t);
}

static inline void vtimer_free(struct vtimer *t)
{
    if (t) {
        t->clock->ops->timer_free(t);
    }
}

#endif
