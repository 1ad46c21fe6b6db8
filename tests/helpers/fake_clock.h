/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A clock that moves only when a test advances it; expired timers fire in deadline order. */
#ifndef DESKVM_TESTS_FAKE_CLOCK_H
#define DESKVM_TESTS_FAKE_CLOCK_H

#include <stdbool.h>

#include "vmm/clock.h"

#define FAKE_CLOCK_MAX_TIMERS 16

struct fake_timer {
    struct vtimer base;
    vtimer_fn fn;
    void *opaque;
    uint64_t deadline;
    bool armed;
    bool used;
};

struct fake_clock {
    struct vclock clock; /* first */
    uint64_t now;
    int64_t realtime_base; /* realtime = realtime_base + now */
    struct fake_timer timers[FAKE_CLOCK_MAX_TIMERS];
};

void fake_clock_init(struct fake_clock *fc, int64_t realtime_ns);
/* Move time forward by ns, firing due timers (each at its own deadline). */
void fake_clock_advance(struct fake_clock *fc, uint64_t ns);

#endif
