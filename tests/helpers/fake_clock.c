// SPDX-License-Identifier: GPL-2.0-or-later
/* Fake clock for device unit tests (see fake_clock.h). */
#include "tests/helpers/fake_clock.h"

#include <stddef.h>
#include <string.h>

static uint64_t fc_now(struct vclock *c)
{
    return ((struct fake_clock *)c)->now;
}

static int64_t fc_real(struct vclock *c)
{
    struct fake_clock *fc = (struct fake_clock *)c;
    return fc->realtime_base + (int64_t)fc->now;
}

static struct vtimer *fc_timer_new(struct vclock *c, vtimer_fn fn, void *opaque)
{
    struct fake_clock *fc = (struct fake_clock *)c;
    for (int i = 0; i < FAKE_CLOCK_MAX_TIMERS; i++) {
        struct fake_timer *t = &fc->timers[i];
        if (!t->used) {
            memset(t, 0, sizeof(*t));
            t->used = true;
            t->base.clock = c;
            t->fn = fn;
            t->opaque = opaque;
            return &t->base;
        }
    }
    return NULL;
}

static void fc_timer_mod(struct vtimer *vt, uint64_t deadline)
{
    struct fake_timer *t = (struct fake_timer *)vt;
    t->deadline = deadline;
    t->armed = true;
}

static void fc_timer_del(struct vtimer *vt)
{
    ((struct fake_timer *)vt)->armed = false;
}

static void fc_timer_free(struct vtimer *vt)
{
    struct fake_timer *t = (struct fake_timer *)vt;
    t->armed = false;
    t->used = false;
}

static const struct vclock_ops fake_ops = {
    .now_ns = fc_now,
    .realtime_ns = fc_real,
    .timer_new = fc_timer_new,
    .timer_mod = fc_timer_mod,
    .timer_del = fc_timer_del,
    .timer_free = fc_timer_free,
};

void fake_clock_init(struct fake_clock *fc, int64_t realtime_ns)
{
    memset(fc, 0, sizeof(*fc));
    fc->clock.ops = &fake_ops;
    fc->now = 1000000000ull; /* not zero, so "deadline 0" bugs show */
    fc->realtime_base = realtime_ns - (int64_t)fc->now;
}

void fake_clock_advance(struct fake_clock *fc, uint64_t ns)
{
    uint64_t end = fc->now + ns;
    for (;;) {
        struct fake_timer *next = NULL;
        for (int i = 0; i < FAKE_CLOCK_MAX_TIMERS; i++) {
            struct fake_timer *t = &fc->timers[i];
            if (t->used && t->armed && t->deadline <= end &&
                (!next || t->deadline < next->deadline)) {
                next = t;
            }
        }
        if (!next) {
            break;
        }
        if (next->deadline > fc->now) {
            fc->now = next->deadline;
        }
        next->armed = false;
        next->fn(next->opaque);
    }
    fc->now = end;
}
